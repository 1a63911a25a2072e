"""mod_xml — XML documents and XPath 1.0 (``modules.md`` section 17), on ``lxml``.

Documents and XPath results live in the session's object store under names
the script chooses (:class:`XmlDocument`, :class:`XPathResult`).  As in the
reference they are **not** owned by the session: the script hands them over
with ``trackObject`` or frees them with ``freeObject`` (both objects offer
``dispose()``).  The result of ``xml.evalXPath(expr, d)`` is stored as
``d.xpath``; XPath namespaces come from the variable ``$d.ns``
(space-separated ``prefix=href``).

Parsing never resolves external entities and never touches the network.

Reference quirks reproduced:

* the document name of ``xml.parse`` is resolved (write a literal name);
* ``xml.getXPathResult`` gives the text content of element nodes only;
  other nodes give ``<name>": type <n>`` (attribute ``state`` →
  ``state": type 2``) (M-xml-5);
* ``xml.printXPathResult`` *appends* to ``$var`` and omits the closing quote
  after the content of elements without namespace (M-xml-6);
* nodes changed by ``xml.updateXPathResult`` leave the result set (the
  reference crashes on reuse; here they are simply absent) (M-xml-7).

Difference: for a namespace node the reference names the element that
carries the declaration; ``lxml`` does not tell which element that is, so
``printXPathResult`` names the document's root element.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from dsm.runtime.context import ActionContext
from dsm.runtime.registry import Module
from dsm.runtime.values import parse_int, strip_dollar

__all__ = ["module", "XmlDocument", "XPathResult", "preload"]

module = Module("mod_xml", doc="XML documents and XPath (modules.md section 17)")

_LOG_ERROR = 0
_LEVELS = {"error": 0, "warn": 1, "info": 2, "debug": 3}

_settings: dict[str, Any] = {"keep_blanks": True, "log_level": 0}

_ENCODING_DECL = re.compile(r"""\A\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)["']""")


class XmlDocument:
    """A parsed document in the object store (disposable, not owned by default)."""

    def __init__(self, tree: Any, encoding: str | None) -> None:
        self.tree = tree
        self.encoding = encoding

    def dispose(self) -> None:
        self.tree = None

    def dump(self) -> str:
        """Serialised with declaration and indentation, as ``xmlDocDumpFormatMemory`` would."""
        if self.tree is None:
            return ""
        decl = '<?xml version="1.0"'
        if self.encoding:
            decl += f' encoding="{self.encoding}"'
        body = etree.tostring(self.tree, pretty_print=True, encoding="unicode")
        return f"{decl}?>\n{body}"


class XPathResult:
    """An XPath result: a node list (``nodes``) or a scalar (``nodes is None``)."""

    def __init__(self, nodes: list[Any] | None, scalar: Any, root_name: str) -> None:
        self.nodes = nodes
        self.scalar = scalar
        self.root_name = root_name

    def dispose(self) -> None:
        self.nodes = []

    @property
    def count(self) -> int:
        return 0 if self.nodes is None else len(self.nodes)


def _parser() -> Any:
    return etree.XMLParser(
        remove_blank_text=not _settings["keep_blanks"],
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
    )


def _parse(text: str) -> XmlDocument:
    """Parse text to a document; raises ``etree.XMLSyntaxError`` / ``ValueError`` on bad input."""
    root = etree.fromstring(text.encode("utf-8", "surrogateescape"), _parser())
    m = _ENCODING_DECL.match(text)
    return XmlDocument(root.getroottree(), m.group(1) if m else None)


def _lookup(ctx: ActionContext, name: str, kind: type) -> Any:
    """The object ``name`` of type ``kind``, or ``None`` with the lookup errno set."""
    obj = ctx.objects.get(name)
    if obj is None:
        ctx.set_error("arg", f"object '{name}' not found\n")
        return None
    if not isinstance(obj, kind):
        ctx.set_error("arg", f"object '{name}' is not the right type\n")
        return None
    return obj


# -- node helpers ----------------------------------------------------------------


def _is_namespace(node: Any) -> bool:
    return isinstance(node, tuple)


def _is_element(node: Any) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text_content(node: Any) -> str:
    return "".join(node.itertext())


def _name_and_type(node: Any) -> tuple[str, int]:
    """libxml2's node name and numeric node type for a non-element node."""
    if isinstance(node, etree._Comment):
        return "comment", 8
    if isinstance(node, etree._ProcessingInstruction):
        return str(node.target), 7
    if isinstance(node, etree._Entity):
        return str(node.name), 5
    if isinstance(node, str):
        if getattr(node, "is_attribute", False):
            return _local_name(str(getattr(node, "attrname", ""))), 2
        return "text", 3
    return "node", 1


def _node_value(node: Any) -> str:
    """M-xml-5: element text content, ``prefix=href`` for namespaces, else ``<name>": type <n>``."""
    if _is_namespace(node):
        return f"{node[0] or ''}={node[1]}"
    if _is_element(node):
        return _text_content(node)
    name, kind = _name_and_type(node)
    return f'{name}": type {kind}'


def _node_line(node: Any, root_name: str) -> str:
    """M-xml-6: one line of ``xml.printXPathResult``."""
    if _is_namespace(node):
        return f'namespace "{node[0] or ""}"="{node[1]}" for node {root_name}'
    if _is_element(node):
        qname = etree.QName(node)
        if qname.namespace:
            return f'element node "{qname.namespace}:{qname.localname}" content: "{_text_content(node)}"'
        return f'element node "{qname.localname}" content: "{_text_content(node)}'
    name, kind = _name_and_type(node)
    return f'node "{name}": type {kind}'


def _set_content(node: Any, content: str) -> bool:
    """Replace a node's content by text (``xmlNodeSetContent``); ``False`` if not possible."""
    if _is_element(node) or isinstance(node, etree._Comment | etree._ProcessingInstruction):
        if _is_element(node):
            for child in list(node):
                node.remove(child)
        node.text = content
        return True
    if isinstance(node, str):
        parent = node.getparent() if hasattr(node, "getparent") else None
        if parent is None:
            return False
        if getattr(node, "is_attribute", False):
            parent.set(getattr(node, "attrname", ""), content)
        elif getattr(node, "is_tail", False):
            parent.tail = content
        else:
            parent.text = content
        return True
    return False


# -- actions -----------------------------------------------------------------------


@module.action("xml.parse", "P,mand")
def parse(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-1: parse ``R(p1)`` and store the document under ``R(p2)``."""
    text, name = ctx.resolve(p1), ctx.resolve(p2)
    try:
        doc = _parse(text)
    except (etree.XMLSyntaxError, ValueError) as exc:
        ctx.log(_LOG_ERROR, f"xml.parse: {exc}")
        ctx.set_error("arg", f"failed parsing XML document from {text}")
        return
    ctx.objects[name] = doc


def _body_text(obj: Any) -> str | None:
    """The text of a SIP message body object (bytes, str, or an object with a payload)."""
    for attr in ("payload", "body", "content", "data"):
        value = getattr(obj, attr, None)
        if value is not None and not callable(value):
            obj = value
            break
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).decode("utf-8", "surrogateescape")
    if isinstance(obj, str):
        return obj
    return None


@module.action("xml.parseSIPMsgBody", "P,mand")
def parse_sip_msg_body(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-2: parse the SIP body held in object ``R(p1)`` into document ``R(p2)``."""
    source, name = ctx.resolve(p1), ctx.resolve(p2)
    obj = ctx.objects.get(source)
    if obj is None:
        ctx.set_error("arg", f"no message body in avar {source}")
        return
    text = _body_text(obj)
    if not text:
        ctx.set_error("arg", f"no AmMimeBody in avar {source}")
        return
    try:
        doc = _parse(text)
    except (etree.XMLSyntaxError, ValueError) as exc:
        ctx.log(_LOG_ERROR, f"xml.parseSIPMsgBody: {exc}")
        ctx.set_error("arg", f"failed parsing XML document from {source}")
        return
    ctx.objects[name] = doc


@module.action("xml.evalXPath", "P,mand")
def eval_xpath(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-3: evaluate ``R(p1)`` on document ``R(p2)``; the result goes to object ``<name>.xpath``."""
    expression, name = ctx.resolve(p1), ctx.resolve(p2)
    doc = _lookup(ctx, name, XmlDocument)
    if doc is None or doc.tree is None:
        return
    namespaces: dict[str, str] = {}
    for entry in ctx.vars.get(f"{name}.ns", "").split():
        prefix, eq, href = entry.partition("=")
        if not eq:
            ctx.set_error("arg", "script writer error: namespace entry must be prefix=href\n")
            return
        namespaces[prefix] = href
    try:
        result = doc.tree.xpath(expression, namespaces=namespaces)
    except (etree.XPathError, ValueError, TypeError) as exc:
        ctx.log(_LOG_ERROR, f"xml.evalXPath({expression}): {exc}")
        ctx.set_error("arg", "unable to evaluate xpath expression")
        return
    root_name = _local_name(doc.tree.getroot().tag)
    if isinstance(result, list):
        ctx.objects[f"{name}.xpath"] = XPathResult(list(result), None, root_name)
    else:
        ctx.objects[f"{name}.xpath"] = XPathResult(None, result, root_name)


@module.action("xml.XPathResultCount", "P=mand")
def xpath_result_count(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-4: ``$var`` = number of nodes (``0`` for scalars and for a missing object)."""
    var = strip_dollar(p1)
    result = _lookup(ctx, ctx.resolve(p2), XPathResult)
    ctx.vars[var] = "0" if result is None else str(result.count)


@module.action("xml.getXPathResult", "P=mand")
def get_xpath_result(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-5: one node → ``$var``; several → ``$var[i]``; scalar → ``$var`` empty."""
    var = strip_dollar(p1)
    result = _lookup(ctx, ctx.resolve(p2), XPathResult)
    if result is None:
        ctx.vars[var] = "0"
        return
    if result.nodes is None:
        ctx.vars[var] = ""
        return
    if len(result.nodes) == 1:
        ctx.vars[var] = _node_value(result.nodes[0])
        return
    for i, node in enumerate(result.nodes):
        ctx.vars[f"{var}[{i}]"] = _node_value(node)


@module.action("xml.printXPathResult", "P=mand")
def print_xpath_result(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-6: REFERENCE QUIRK — *appends* one descriptive line per node to ``$var``."""
    var = strip_dollar(p1)
    result = _lookup(ctx, ctx.resolve(p2), XPathResult)
    if result is None:
        ctx.vars[var] = "0"
        return
    if result.nodes is None:
        ctx.vars[var] = ""
        return
    lines = "".join(_node_line(node, result.root_name) + "\n" for node in result.nodes)
    ctx.vars[var] = ctx.vars.get(var, "") + lines


@module.action("xml.updateXPathResult", "P=mand")
def update_xpath_result(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-7: replace the content of the selected nodes (or of node ``[index]``) by text.

    Updated nodes are removed from the result set (the reference crashes
    when the result is used again; here they are just gone).
    """
    name = ctx.resolve(p1)
    index: int | None = None
    if name.endswith("]") and len(name) > 2 and "[" in name:
        bracket = name.rfind("[")
        index = parse_int(name[bracket + 1 : -1])
        if index is None:
            ctx.log(_LOG_ERROR, f"xml.updateXPathResult: index in '{name}' is not a number")
            return
        name = name[:bracket]
    content = ctx.resolve(p2)
    result = _lookup(ctx, name, XPathResult)
    if result is None or result.nodes is None:
        return
    if index is not None:
        if not 0 <= index < len(result.nodes):
            ctx.log(
                _LOG_ERROR,
                f"xml.updateXPathResult: index {index} out of range ({len(result.nodes)})",
            )
            return
        selected = [index]
    else:
        selected = list(range(len(result.nodes)))
    updated = {i for i in selected if _set_content(result.nodes[i], content)}
    result.nodes = [node for i, node in enumerate(result.nodes) if i not in updated]


@module.action("xml.docDump", "P=mand")
def doc_dump(ctx: ActionContext, p1: str = "", p2: str = "", *_: str) -> None:
    """M-xml-8: ``$var`` = the serialised document (declaration, indentation)."""
    var = strip_dollar(p1)
    doc = _lookup(ctx, ctx.resolve(p2), XmlDocument)
    ctx.vars[var] = "" if doc is None else doc.dump()


@module.action("xml.setLoglevel", "S")
def set_loglevel(ctx: ActionContext, a: str = "", *_: str) -> None:
    """M-xml-9: log level of parser messages: ``error``, ``warn``, ``info`` or ``debug``."""
    level = ctx.resolve(a)
    if level not in _LEVELS:
        ctx.log(_LOG_ERROR, f"xml.setLoglevel: unknown level '{level}'")
        return
    _settings["log_level"] = _LEVELS[level]


@module.preload
def preload(config: Any = None, log: Any = None) -> int:
    """M-api-6: parser set-up; as in the reference, blank text nodes are no longer kept."""
    _settings["keep_blanks"] = False
    return 0
