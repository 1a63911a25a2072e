"""mod_xml (modules.md section 17): XML documents and XPath in the object store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _fake import FakeContext, compile_every_name, harness_call, run_action

from dsm.modules import mod_xml
from dsm.modules.mod_xml import XmlDocument, XPathResult, module

REGINFO = (
    '<?xml version="1.0"?>'
    '<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="1">'
    '<registration aor="sip:a@b" state="active">'
    '<contact state="active" id="1"><uri>sip:a@10.0.0.1</uri></contact>'
    '<contact state="terminated" id="2"><uri>sip:a@10.0.0.2</uri></contact>'
    "</registration></reginfo>"
)
NS = "r=urn:ietf:params:xml:ns:reginfo"


@pytest.fixture(autouse=True)
def _default_settings() -> Iterator[None]:
    saved = dict(mod_xml._settings)
    yield
    mod_xml._settings.update(saved)


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def parsed(text: str = REGINFO, name: str = "d", **vars: str) -> FakeContext:
    ctx = FakeContext({"body": text, **vars})
    act(ctx, "xml.parse", "$body", name)
    assert isinstance(ctx.objects.get(name), XmlDocument)
    return ctx


def test_declares_the_nine_actions() -> None:
    assert set(module.actions) == {
        "xml.parse", "xml.parseSIPMsgBody", "xml.evalXPath", "xml.XPathResultCount",
        "xml.getXPathResult", "xml.printXPathResult", "xml.updateXPathResult", "xml.docDump",
        "xml.setLoglevel",
    }  # fmt: skip
    assert "preload" in module.hooks


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


# -- M-xml-1 / 2 -------------------------------------------------------------------


def test_M_xml_1_parse_stores_a_document_and_leaves_errno() -> None:
    ctx = parsed(errno="keep")
    assert ctx.vars["errno"] == "keep"


def test_M_xml_1_parse_failure() -> None:
    ctx = FakeContext()
    act(ctx, "xml.parse", "<a><b></a>", "d")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
        "arg",
        "failed parsing XML document from <a><b></a>",
    )
    assert "d" not in ctx.objects


def test_M_xml_1_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("TOP SECRET")
    text = f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>'
    ctx = FakeContext({"t": text})
    act(ctx, "xml.parse", "$t", "d")
    act(ctx, "xml.docDump", "out", "d")
    assert "TOP SECRET" not in ctx.vars.get("out", "")


def test_M_xml_2_parseSIPMsgBody() -> None:
    ctx = FakeContext()

    class Body:
        payload = REGINFO.encode()

    ctx.objects["SipSubscriptionBody"] = Body()
    act(ctx, "xml.parseSIPMsgBody", "SipSubscriptionBody", "d")
    assert isinstance(ctx.objects["d"], XmlDocument)
    assert "errno" not in ctx.vars


def test_M_xml_2_parseSIPMsgBody_errors() -> None:
    ctx = FakeContext()
    act(ctx, "xml.parseSIPMsgBody", "SipSubscriptionBody", "d")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
        "arg",
        "no message body in avar SipSubscriptionBody",
    )
    ctx.objects["b"] = 42
    act(ctx, "xml.parseSIPMsgBody", "b", "d")
    assert ctx.vars["strerror"] == "no AmMimeBody in avar b"
    ctx.objects["b"] = b""
    act(ctx, "xml.parseSIPMsgBody", "b", "d")
    assert ctx.vars["strerror"] == "no AmMimeBody in avar b"
    ctx.objects["b"] = "<broken"
    act(ctx, "xml.parseSIPMsgBody", "b", "d")
    assert ctx.vars["strerror"] == "failed parsing XML document from b"


# -- M-xml-3 … 6 -------------------------------------------------------------------


def test_M_xml_3_evalXPath_with_namespaces_from_the_ns_variable() -> None:
    ctx = parsed(**{"d.ns": NS})
    act(ctx, "xml.evalXPath", "//r:contact[@state='active']", "d")
    result = ctx.objects["d.xpath"]
    assert isinstance(result, XPathResult) and result.count == 1


def test_M_xml_3_errors() -> None:
    ctx = parsed(**{"d.ns": "r"})
    act(ctx, "xml.evalXPath", "//r:contact", "d")
    assert ctx.vars["strerror"] == "script writer error: namespace entry must be prefix=href\n"
    ctx.vars["d.ns"] = NS
    act(ctx, "xml.evalXPath", "//r:contact[", "d")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
        "arg",
        "unable to evaluate xpath expression",
    )
    act(ctx, "xml.evalXPath", "//x:y", "d")  # unknown prefix
    assert ctx.vars["strerror"] == "unable to evaluate xpath expression"
    act(ctx, "xml.evalXPath", "//a", "missing")
    assert ctx.vars["strerror"] == "object 'missing' not found\n"
    ctx.objects["notdoc"] = object()
    act(ctx, "xml.evalXPath", "//a", "notdoc")
    assert ctx.vars["strerror"] == "object 'notdoc' is not the right type\n"


def xpath(expr: str) -> FakeContext:
    ctx = parsed(**{"d.ns": NS})
    act(ctx, "xml.evalXPath", expr, "d")
    return ctx


def test_M_xml_4_XPathResultCount() -> None:
    ctx = xpath("//r:contact")
    act(ctx, "xml.XPathResultCount", "$n", "d.xpath")
    assert ctx.vars["n"] == "2"
    act(ctx, "xml.evalXPath", "count(//r:contact)", "d")
    act(ctx, "xml.XPathResultCount", "$n", "d.xpath")
    assert ctx.vars["n"] == "0"
    act(ctx, "xml.XPathResultCount", "$m", "nothing")
    assert (ctx.vars["m"], ctx.vars["errno"]) == ("0", "arg")


def test_M_xml_5_getXPathResult_single_and_many() -> None:
    ctx = xpath("//r:contact[@id='1']")
    act(ctx, "xml.getXPathResult", "$c", "d.xpath")
    assert ctx.vars["c"] == "sip:a@10.0.0.1"
    act(ctx, "xml.evalXPath", "//r:uri", "d")
    act(ctx, "xml.getXPathResult", "$u", "d.xpath")
    assert (ctx.vars["u[0]"], ctx.vars["u[1]"]) == ("sip:a@10.0.0.1", "sip:a@10.0.0.2")
    assert "u" not in ctx.vars


def test_M_xml_5_quirk_only_element_content_is_retrievable() -> None:
    ctx = xpath("//r:contact[@id='1']/@state")
    act(ctx, "xml.getXPathResult", "$s", "d.xpath")
    assert ctx.vars["s"] == 'state": type 2'
    act(ctx, "xml.evalXPath", "//r:uri[1]/text()", "d")
    act(ctx, "xml.getXPathResult", "$t", "d.xpath")
    assert ctx.vars["t[0]"] == 'text": type 3'
    act(ctx, "xml.evalXPath", "string(//r:uri)", "d")
    act(ctx, "xml.getXPathResult", "$x", "d.xpath")
    assert ctx.vars["x"] == ""
    act(ctx, "xml.evalXPath", "//r:nothing", "d")
    act(ctx, "xml.getXPathResult", "$none", "d.xpath")
    assert "none" not in ctx.vars
    act(ctx, "xml.getXPathResult", "$gone", "nope")
    assert ctx.vars["gone"] == "0"


def test_M_xml_5_namespace_nodes() -> None:
    ctx = parsed('<a xmlns:p="urn:p"/>')
    act(ctx, "xml.evalXPath", "/a/namespace::p", "d")
    act(ctx, "xml.getXPathResult", "$ns", "d.xpath")
    assert ctx.vars["ns"] == "p=urn:p"


def test_M_xml_6_printXPathResult_appends_lines() -> None:
    ctx = xpath("//r:contact[@id='1'] | //r:contact[@id='1']/@id")
    ctx.vars["out"] = "before\n"
    act(ctx, "xml.printXPathResult", "$out", "d.xpath")
    assert ctx.vars["out"] == (
        'before\nelement node "urn:ietf:params:xml:ns:reginfo:contact" content: "sip:a@10.0.0.1"\n'
        'node "id": type 2\n'
    )


def test_M_xml_6_quirk_no_closing_quote_without_namespace() -> None:
    ctx = parsed("<a><b>x</b></a>")
    act(ctx, "xml.evalXPath", "//b", "d")
    act(ctx, "xml.printXPathResult", "$out", "d.xpath")
    assert ctx.vars["out"] == 'element node "b" content: "x\n'
    act(ctx, "xml.evalXPath", "count(//b)", "d")
    act(ctx, "xml.printXPathResult", "$out", "d.xpath")
    assert ctx.vars["out"] == ""
    act(ctx, "xml.printXPathResult", "$m", "missing")
    assert ctx.vars["m"] == "0"


# -- M-xml-7 / 8 / 9 -----------------------------------------------------------------


def test_M_xml_7_updateXPathResult_all_nodes_then_they_leave_the_result() -> None:
    ctx = xpath("//r:uri")
    act(ctx, "xml.updateXPathResult", "d.xpath", "sip:new@h")
    act(ctx, "xml.XPathResultCount", "$n", "d.xpath")
    assert ctx.vars["n"] == "0"
    act(ctx, "xml.docDump", "$doc", "d")
    assert ctx.vars["doc"].count("sip:new@h") == 2


def test_M_xml_7_updateXPathResult_one_indexed_node_and_attributes() -> None:
    ctx = xpath("//r:contact")
    act(ctx, "xml.updateXPathResult", "d.xpath[1]", "replaced")
    act(ctx, "xml.XPathResultCount", "$n", "d.xpath")
    assert ctx.vars["n"] == "1"
    act(ctx, "xml.updateXPathResult", "d.xpath[5]", "x")  # out of range: error log only
    assert ctx.logs
    act(ctx, "xml.evalXPath", "//r:contact/@state", "d")
    act(ctx, "xml.updateXPathResult", "d.xpath", "gone")
    act(ctx, "xml.docDump", "$doc", "d")
    assert '<contact state="gone" id="2">replaced</contact>' in ctx.vars["doc"]


def test_M_xml_8_docDump_has_declaration_and_indentation() -> None:
    ctx = parsed("<a><b>x</b></a>")
    act(ctx, "xml.docDump", "$out", "d")
    assert ctx.vars["out"] == '<?xml version="1.0"?>\n<a>\n  <b>x</b>\n</a>\n'
    act(ctx, "xml.docDump", "$out", "missing")
    assert (ctx.vars["out"], ctx.vars["strerror"]) == ("", "object 'missing' not found\n")


def test_M_xml_8_declared_encoding_is_kept() -> None:
    ctx = parsed('<?xml version="1.0" encoding="UTF-8"?><a/>')
    act(ctx, "xml.docDump", "$out", "d")
    assert ctx.vars["out"].startswith('<?xml version="1.0" encoding="UTF-8"?>\n<a/>')


def test_M_xml_9_setLoglevel() -> None:
    ctx = FakeContext()
    act(ctx, "xml.setLoglevel", "debug")
    assert mod_xml._settings["log_level"] == 3
    act(ctx, "xml.setLoglevel", "loud")
    assert ctx.logs and mod_xml._settings["log_level"] == 3


def test_M_api_11_objects_are_disposable_and_not_owned() -> None:
    ctx = xpath("//r:contact")
    doc, result = ctx.objects["d"], ctx.objects["d.xpath"]
    assert callable(doc.dispose) and callable(result.dispose)
    assert not getattr(ctx, "owned_objects", None)
    result.dispose()
    assert result.count == 0


def test_M_api_6_preload_drops_blank_text_nodes() -> None:
    assert mod_xml.preload() == 0
    ctx = parsed("<a>\n   <b>x</b>\n</a>")
    act(ctx, "xml.docDump", "$out", "d")
    assert ctx.vars["out"] == '<?xml version="1.0"?>\n<a>\n  <b>x</b>\n</a>\n'


def test_M_xml_harness_script(tmp_path: Path) -> None:
    script = """import(mod_xml);
initial state S enter {
  set($body="<a><b>x</b><b>y</b></a>");
  xml.parse($body, doc);
  xml.evalXPath(//b, doc);
  xml.XPathResultCount($n="doc.xpath");
  xml.getXPathResult($v="doc.xpath");
  trackObject(doc);
};
"""
    call = harness_call(tmp_path, script)
    assert call.vars["n"] == "2"
    assert (call.vars["v[0]"], call.vars["v[1]"]) == ("x", "y")


def test_M_xml_every_action_in_a_script(tmp_path: Path) -> None:
    """M-xml-1 … 9 end to end through the harness (objects released with freeObject)."""
    script = r"""import(mod_xml);
initial state S enter {
  xml.setLoglevel(warn);
  set($body='<r xmlns="urn:r"><c s="on">one</c><c s="off">two</c></r>');
  xml.parse($body, d);
  set($d.ns="x=urn:r");
  xml.evalXPath("//x:c", d);
  xml.XPathResultCount($n="d.xpath");
  xml.getXPathResult($v="d.xpath");
  xml.printXPathResult($p="d.xpath");
  xml.updateXPathResult("d.xpath[0]"=uno);
  xml.docDump($dump=d);
  xml.parseSIPMsgBody(nobody, e);
  set($e_body=$strerror);
  freeObject(d.xpath);
  freeObject(d);
};
"""
    v = harness_call(tmp_path, script).vars
    assert v["n"] == "2"
    assert (v["v[0]"], v["v[1]"]) == ("one", "two")
    assert v["p"].startswith('element node "urn:r:c" content: "one"\n')
    assert '<c s="on">uno</c>' in v["dump"]
    assert v["e_body"] == "no message body in avar nobody"
