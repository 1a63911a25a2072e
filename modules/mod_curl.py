"""``mod_curl``: HTTP requests from DSM scripts (``modules.md`` section 5).

Why httpx: the reference uses libcurl, and httpx is the Python client whose
defaults and controls match it best — redirects are *not* followed unless
asked (libcurl's default, and the spec's rule), HTTP error statuses are
ordinary responses rather than exceptions, transport failures (DNS, connect,
timeout, TLS) are distinct exception classes that map onto libcurl's error
descriptions, ``multipart/form-data`` bodies are built natively, the raw
body can be streamed to a file, and one thread-safe client with a connection
pool can be shared by all sessions (the process-global libcurl
initialisation of M-api-2).  ``urllib.request`` follows redirects by default
and has no multipart support; ``requests`` is not a dependency of the
project, httpx already is.

Whole-transfer timeout: ``$curl.timeout`` (whole seconds) bounds the
complete transfer like ``CURLOPT_TIMEOUT``.  httpx timeouts are per phase,
so the body is streamed and the remaining time is checked between chunks.
Without ``$curl.timeout`` the dsm.conf keys ``curl_connect_timeout``
(default 5 s) and ``curl_timeout`` (default 10 s without data) bound the
transfer, so a stalled server never holds a call for ever (DIFFERENCE:
libcurl waits without limit; the failure is the usual ``errno = general``
with ``$curl.err`` "Timeout was reached: …").

``$curl.err`` receives libcurl's wording of the failure (e.g. ``Couldn't
connect to server``, ``Timeout was reached``) followed by the detail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

import httpx

from dsm.runtime.context import ActionContext, config_seconds
from dsm.runtime.registry import Module
from dsm.runtime.session import LEVEL_DEBUG, LEVEL_WARN
from dsm.runtime.values import parse_uint, strip_dollar

__all__ = ["module", "client", "form_names"]

module = Module("mod_curl", doc="HTTP requests (modules.md section 5)")

OUT = "curl.out"
ERR = "curl.err"
TIMEOUT = "curl.timeout"
DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds to connect, unless ``curl_connect_timeout`` in dsm.conf says otherwise."""
DEFAULT_READ_TIMEOUT = 10.0
"""Seconds a transfer may stall without data, unless ``curl_timeout`` in dsm.conf says otherwise."""

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """The process-wide HTTP client, created on first use (M-api-2)."""
    global _client
    with _client_lock:
        if _client is None:
            c = httpx.Client(follow_redirects=False)
            # libcurl asks for no content encoding unless told to; bodies arrive as sent.
            del c.headers["Accept-Encoding"]
            _client = c
        return _client


class _TransferFailed(Exception):
    """A transport-level failure, with libcurl's description of it."""


def _timeout_seconds(ctx: ActionContext) -> int:
    """``$curl.timeout`` as whole seconds, 0 for none (reading creates the variable)."""
    text = ctx.vars.setdefault(TIMEOUT, "")
    if not text:
        return 0
    value = parse_uint(text)
    if value is None:
        ctx.log(LEVEL_WARN, f"curl: could not parse $curl.timeout '{text}'; no timeout used")
        return 0
    return value


def _describe(exc: Exception) -> str:
    """libcurl's wording of a transport failure, with the detail."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        head = "Timeout was reached"
    elif isinstance(exc, httpx.UnsupportedProtocol):
        head = "Unsupported protocol"
    elif isinstance(exc, httpx.InvalidURL):
        head = "URL using bad/illegal format or missing URL"
    elif isinstance(exc, httpx.ConnectError):
        lowered = detail.lower()
        if "name or service" in lowered or "nodename" in lowered or "resolution" in lowered:
            head = "Couldn't resolve host name"
        elif "ssl" in lowered or "certificate" in lowered:
            head = "SSL connect error"
        else:
            head = "Couldn't connect to server"
    elif isinstance(exc, httpx.RemoteProtocolError):
        head = "Weird server reply"
    elif isinstance(exc, httpx.ReadError):
        head = "Failure when receiving data from the peer"
    elif isinstance(exc, httpx.WriteError):
        head = "Failed sending data to the peer"
    else:
        head = "Transfer failed"
    return f"{head}: {detail}"


def _chunks(
    ctx: ActionContext, method: str, url: str, files: list[tuple[str, tuple[None, bytes]]] | None
) -> Iterator[bytes]:
    """Stream the raw response body; raise :class:`_TransferFailed` on a transport failure."""
    seconds = _timeout_seconds(ctx)
    if seconds:
        timeout = httpx.Timeout(float(seconds))
        deadline: float | None = time.monotonic() + seconds
    else:
        # DIFFERENCE: the reference waits for ever without $curl.timeout; here a stalled
        # server ends the transfer after the dsm.conf timeouts (errno general, "Timeout was reached").
        read = config_seconds(ctx, "curl_timeout", DEFAULT_READ_TIMEOUT)
        connect = config_seconds(ctx, "curl_connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        timeout = httpx.Timeout(read, connect=connect)
        deadline = None
    try:
        with client().stream(method, url, files=files, timeout=timeout) as response:
            for chunk in response.iter_raw():
                yield chunk
                if deadline is not None and time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"transfer exceeded {seconds} s")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        raise _TransferFailed(_describe(exc)) from exc


def _fetch(
    ctx: ActionContext,
    method: str,
    url: str,
    files: list[tuple[str, tuple[None, bytes]]] | None = None,
) -> bytes | None:
    """The whole body, or ``None`` after setting ``$curl.err`` and ``errno = general``."""
    try:
        return b"".join(_chunks(ctx, method, url, files))
    except _TransferFailed as exc:
        _failed(ctx, url, exc)
        return None


def _failed(ctx: ActionContext, url: str, exc: _TransferFailed) -> None:
    ctx.vars[ERR] = str(exc)
    ctx.log(LEVEL_WARN, f"curl: request to {url} failed: {exc}")
    ctx.set_error("general")


def _text(body: bytes) -> str:
    return body.decode("utf-8", "surrogateescape")


def form_names(varlist: str) -> list[str]:
    """The variable names of a ``$a;b`` list: split at ``;``, empty pieces dropped, one ``$`` stripped."""
    return [strip_dollar(piece) for piece in varlist.split(";") if piece]


def _form_values(ctx: ActionContext, varlist: str) -> list[tuple[str, str]]:
    """(name, raw value) per listed variable; a missing variable is created empty."""
    return [(name, ctx.vars.setdefault(name, "")) for name in form_names(varlist)]


def _get_into_out(ctx: ActionContext, url: str) -> None:
    ctx.vars.pop(OUT, None)
    body = _fetch(ctx, "GET", url)
    if body is None:
        return
    ctx.vars[OUT] = _text(body)
    ctx.clear_error()


def _multipart(fields: list[tuple[str, str]]) -> list[tuple[str, tuple[None, bytes]]]:
    """One text part per field (no file name, no content type), like libcurl's form parts."""
    return [(name, (None, value.encode("utf-8", "surrogateescape"))) for name, value in fields]


# --------------------------------------------------------------------------- actions
@module.action("curl.get", style="S", blocking=True)
def get(ctx: ActionContext, arg: str) -> None:
    """M-curl-1: GET ``R(a)``; the body goes to ``$curl.out`` (removed first, set on success)."""
    _get_into_out(ctx, ctx.resolve(arg))


@module.action("curl.getDiscardResult", style="S", blocking=True)
def get_discard_result(ctx: ActionContext, arg: str) -> None:
    """M-curl-2: GET ``R(a)``; the body only goes to the debug log."""
    url = ctx.resolve(arg)
    body = _fetch(ctx, "GET", url)
    if body is None:
        return
    ctx.log(LEVEL_DEBUG, f"curl: {url} returned: {_text(body)}")
    ctx.clear_error()


@module.action("curl.getFile", style="P,opt", blocking=True)
def get_file(ctx: ActionContext, url_arg: str, path_arg: str) -> None:
    """M-curl-3: GET into a file (binary, truncating); the file exists even if the transfer fails."""
    url = ctx.resolve(url_arg)
    path = ctx.resolve(path_arg)
    try:
        fh: BinaryIO = open(path, "wb")  # noqa: SIM115 - kept open across the streamed transfer
    except OSError as exc:
        ctx.log(LEVEL_WARN, f"curl: cannot open '{path}' for writing: {exc}")
        ctx.set_error("file")
        return
    with fh:
        try:
            for chunk in _chunks(ctx, "GET", url, None):
                fh.write(chunk)
        except _TransferFailed as exc:
            _failed(ctx, url, exc)
            return
        except OSError as exc:
            ctx.log(LEVEL_WARN, f"curl: cannot write '{path}': {exc}")
            ctx.set_error("file")
            return
    ctx.clear_error()


@module.action("curl.getForm", style="P,opt", blocking=True)
def get_form(ctx: ActionContext, url_arg: str, varlist: str) -> None:
    """M-curl-4: GET with ``name=value`` pairs appended to the URL (values not URL-encoded)."""
    url = ctx.resolve(url_arg)
    for name, value in _form_values(ctx, varlist):
        url += ("&" if "?" in url else "?") + f"{name}={value}"
    _get_into_out(ctx, url)


@module.action("curl.post", style="P,opt", blocking=True)
def post(ctx: ActionContext, url_arg: str, varlist: str) -> None:
    """M-curl-5: POST the listed variables as ``multipart/form-data``; the body to ``$curl.out``."""
    url = ctx.resolve(url_arg)
    files = _multipart(_form_values(ctx, varlist))
    ctx.vars.pop(OUT, None)
    body = _fetch(ctx, "POST", url, files)
    if body is None:
        return
    ctx.vars[OUT] = _text(body)
    ctx.clear_error()


@module.action("curl.postDiscardResult", style="P,opt", blocking=True)
def post_discard_result(ctx: ActionContext, url_arg: str, varlist: str) -> None:
    """M-curl-6: as ``curl.post``; the response only goes to the debug log."""
    url = ctx.resolve(url_arg)
    files = _multipart(_form_values(ctx, varlist))
    body = _fetch(ctx, "POST", url, files)
    if body is None:
        return
    ctx.log(LEVEL_DEBUG, f"curl: {url} returned: {_text(body)}")
    ctx.clear_error()
