"""mod_dlg message bodies (M-dlg-7, 8, 14 … 17) and the B2B checks of M-dlg-13, one function at a time.

The modifiable ``reply`` object exists only in the SBC's ``B2B.otherReply``
event; here a small stand-in with ``content_type``/``body`` attributes
plays it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dsm.modules.mod_dlg import (
    add_body_part,
    delete_body_part,
    find_body_part,
    module,
    parse_body,
)
from dsm.runtime.call import SystemCall
from dsm.runtime.errors import DSMException
from dsm.runtime.harness.stub import StubContext
from dsm.runtime.incoming import InviteRequest

MULTI = "multipart/mixed;boundary=b1"
BODY = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n"


@dataclass
class Reply:
    """A reply object as the host hands it to scripts; ``modifiable`` only in B2B.otherReply."""

    content_type: str = ""
    body: str = ""
    modifiable: bool = False


def ctx_with(**objects: object) -> StubContext:
    ctx = StubContext({}, kind="call")
    ctx.objects.update(objects)
    return ctx


# -- parsing --------------------------------------------------------------------------------


def test_parse_body_single_and_multipart() -> None:
    assert [p.media_type for p in parse_body("Application/SDP", "v=0") or []] == ["application/sdp"]
    parts = parse_body(MULTI, BODY)
    assert parts is not None
    assert [(p.media_type, p.payload) for p in parts] == [("application/sdp", "v=0"), ("text/plain", "hi")]
    assert parse_body("", "anything") == []


@pytest.mark.parametrize(
    ("ctype", "body"),
    [("multipart/mixed", "no boundary"), ("multipart/mixed;boundary=zz", "no delimiter"), ("nonsense", "x")],
)
def test_M_dlg_12_unparsable_bodies(ctype: str, body: str) -> None:
    assert parse_body(ctype, body) is None


def test_nested_multipart_parts_are_found() -> None:
    inner = "--in\r\nContent-Type: application/ISUP\r\n\r\nisup\r\n--in--\r\n"
    outer = f"--out\r\nContent-Type: multipart/mixed;boundary=in\r\n\r\n{inner}\r\n--out--\r\n"
    assert find_body_part("multipart/related;boundary=out", outer, "application/isup") == "isup"


# -- M-dlg-8, M-dlg-16 ---------------------------------------------------------------------


def test_M_dlg_8_getReplyBody_and_M_dlg_16_condition() -> None:
    ctx = ctx_with(reply=Reply(MULTI, BODY))
    ctx.run(module, "dlg.getReplyBody", "text/plain", "t")
    assert ctx.vars["t"] == "hi"
    assert ctx.test(module, "dlg.replyHasContentType", "application/sdp")
    assert ctx.test(module, "dlg.replyHasContentType", "APPLICATION/SDP")
    assert not ctx.test(module, "dlg.replyHasContentType", " application/sdp")  # raw, not trimmed
    assert not ctx.test(module, "dlg.replyHasContentType", "image/png")


def test_M_dlg_16_condition_is_raw_not_resolved() -> None:
    ctx = ctx_with(reply=Reply("text/plain", "x"))
    ctx.vars["t"] = "text/plain"
    assert not ctx.test(module, "dlg.replyHasContentType", "$t")


def test_M_dlg_8_M_dlg_16_without_reply() -> None:
    ctx = ctx_with()
    with pytest.raises(DSMException) as exc:
        ctx.run(module, "dlg.getReplyBody", "text/plain", "t")
    assert exc.value.params == {"type": "dlg", "cause": "no reply"}
    assert not ctx.test(module, "dlg.replyHasContentType", "text/plain")
    assert ctx.logs and ctx.logs[-1][0] == 0


def test_M_dlg_17_request_condition_needs_a_wrapped_request() -> None:
    bare = InviteRequest("INFO", "sip:a", "sip:b", "sip:a", "c", headers={"Content-Type": "text/plain"}, body="x")
    wrapped = InviteRequest(
        "INFO", "sip:a", "sip:b", "sip:a", "c", headers={"Content-Type": "text/plain"}, body="x", wrapped=True
    )
    assert not ctx_with(request=bare).test(module, "dlg.requestHasContentType", "text/plain")
    assert ctx_with(request=wrapped).test(module, "dlg.requestHasContentType", "text/plain")


def test_M_dlg_7_content_type_from_the_header_block() -> None:
    req = InviteRequest("INFO", "", "", "", "c", hdrs="c: application/json\r\n", body='{"a":1}', wrapped=True)
    ctx = ctx_with(request=req)
    ctx.run(module, "dlg.getRequestBody", "application/json", "j")
    assert ctx.vars["j"] == '{"a":1}'


# -- M-dlg-14, M-dlg-15 -------------------------------------------------------------------------


def test_M_dlg_14_adding_a_part_makes_the_body_multipart() -> None:
    reply = Reply("application/sdp", "v=0", modifiable=True)
    ctx = ctx_with(reply=reply)
    ctx.vars["isup"] = "isup-data"
    ctx.run(module, "dlg.addReplyBodyPart", "application/ISUP", "$isup")
    assert reply.content_type.startswith("multipart/mixed;boundary=")
    parts = parse_body(reply.content_type, reply.body)
    assert parts is not None
    assert [(p.content_type, p.payload) for p in parts] == [
        ("application/sdp", "v=0"),
        ("application/ISUP", "isup-data"),
    ]


def test_M_dlg_14_adding_to_a_multipart_body_keeps_its_boundary() -> None:
    ctype, body = add_body_part(MULTI, BODY, "application/ISUP", "x")
    assert ctype == MULTI
    assert [p.media_type for p in parse_body(ctype, body) or []] == [
        "application/sdp",
        "text/plain",
        "application/isup",
    ]


def test_M_dlg_15_deleting_leaves_a_single_part_body() -> None:
    reply = Reply(MULTI, BODY, modifiable=True)
    ctx = ctx_with(reply=reply)
    ctx.run(module, "dlg.deleteReplyBodyPart", "text/plain")
    assert (reply.content_type, reply.body) == ("application/sdp", "v=0")


def test_M_dlg_15_not_found_is_a_debug_log_only_and_the_argument_is_not_resolved() -> None:
    reply = Reply(MULTI, BODY, modifiable=True)
    ctx = ctx_with(reply=reply)
    ctx.vars["t"] = "text/plain"
    ctx.run(module, "dlg.deleteReplyBodyPart", "$t")
    assert (reply.content_type, reply.body) == (MULTI, BODY)
    assert ctx.logs[-1][0] == 3
    assert delete_body_part("text/plain", "x", "text/plain") == ("", "")


@pytest.mark.parametrize("name", ["dlg.addReplyBodyPart", "dlg.deleteReplyBodyPart"])
def test_M_dlg_14_M_dlg_15_need_a_modifiable_reply(name: str) -> None:
    for ctx in (ctx_with(), ctx_with(reply=Reply("text/plain", "x"))):
        with pytest.raises(DSMException) as exc:
            ctx.run(module, name, "text/plain", "y")
        assert exc.value.params == {"type": "dlg", "cause": "no reply"}


# -- M-dlg-13 -------------------------------------------------------------------------------------


def test_M_dlg_13_relayError_on_a_non_b2b_session() -> None:
    req = InviteRequest("INFO", "", "", "", "c", wrapped=True)
    ctx = StubContext({}, kind="system", call=SystemCall("SystemDSM_1"))
    ctx.objects["request"] = req
    with pytest.raises(DSMException) as exc:
        ctx.run(module, "dlg.relayError", "500", "x")
    assert exc.value.params == {"type": "param", "cause": "dlg.relayError used on non-b2b-session"}


def test_M_dlg_13_bad_code_is_errno_arg() -> None:
    class B2BCall:
        b2b_capable = True

    ctx = StubContext({}, call=B2BCall())
    ctx.objects["request"] = InviteRequest("INFO", "", "", "", "c", wrapped=True)
    ctx.run(module, "dlg.relayError", "x", "y")
    assert ctx.vars["errno"] == "arg"
