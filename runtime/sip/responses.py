"""Building responses to requests (RFC 3261 section 8.2.6) and reason phrases."""

from __future__ import annotations

from collections.abc import Iterable

from dsm.runtime.sip.headers import Headers
from dsm.runtime.sip.message import Request, Response
from dsm.runtime.sip.uri import NameAddress

__all__ = ["REASON_PHRASES", "reason_phrase", "make_response"]

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    """The standard phrase, or the class's generic one for unknown codes."""
    return REASON_PHRASES.get(status) or REASON_PHRASES.get(status // 100 * 100, "Unknown")


def clean_reason(reason: str) -> str:
    """A reason phrase safe for a status line (no control characters)."""
    return "".join(ch if ch >= " " and ch != "\x7f" else " " for ch in reason).strip()


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response copying Via, From, To, Call-ID, CSeq (and Timestamp for 100).

    ``to_tag`` is added to To unless the request's To already has a tag
    (RFC 3261 8.2.6.2); a 100 Trying never gets one.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"status out of range: {status}")
    out = Headers()
    vias = request.headers.get_all("Via")
    for value in vias:
        out.add("Via", value)
    from_value = request.headers.get("From") or ""
    out.add("From", from_value)
    to_value = request.headers.get("To") or ""
    tagged_to: NameAddress | None = None
    if to_tag and status != 100 and request.to_tag is None:
        to_value = f"{to_value};tag={to_tag}"
        tagged_to = request.to  # parsed already by the to_tag test above
        tagged_to.params["tag"] = to_tag
    out.add("To", to_value)
    out.add("Call-ID", request.call_id)
    cseq_value = request.headers.get("CSeq") or ""
    out.add("CSeq", cseq_value)
    if status == 100 and (timestamp := request.headers.get("Timestamp")):
        out.add("Timestamp", timestamp)
    for name, value in headers:
        out.add(name, value)
    if body and content_type:
        out.set("Content-Type", content_type)
    response = Response(
        headers=out,
        body=body,
        status=status,
        reason=clean_reason(reason if reason is not None else reason_phrase(status)),
    )
    # The copied headers' parses are the request's (only read or copied, never changed).
    if vias:
        response.share_parse(request, "Via", vias[0])
    response.share_parse(request, "From", from_value)
    response.share_parse(request, "CSeq", cseq_value)
    if tagged_to is None:
        response.share_parse(request, "To", to_value)
    else:
        response.remember_parse("To", to_value, tagged_to)  # what parsing to_value gives
    return response
