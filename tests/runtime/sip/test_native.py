"""The compiled media path: which modules run compiled, and the guard against a stale build.

Not a spec rule: a build property (docs/sip.md, "Compiled media path").  The
guard's decision is tested on a temporary tree (no build needed); the
process-level behaviour (``DSM_NATIVE=0``, a stale record) in a fresh
interpreter, and only where this checkout has the extensions built.  The
dataclasses of the compiled modules write their own ``__init__`` (the one
``@dataclass`` generates is interpreted code): checked against their fields.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import importlib.machinery
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from dsm.runtime import native
from dsm.runtime.native_modules import MAPPED, MODULES

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
NAME = "dsm.runtime.sip.fake"


def _tree(tmp_path: Path, built: bool = True) -> Path:
    (tmp_path / "sip").mkdir()
    (tmp_path / "sip" / "fake.py").write_text("VALUE = 1\n")
    if built:
        (tmp_path / "sip" / f"fake{SUFFIX}").write_bytes(b"")
    return tmp_path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_nothing_built_needs_no_guard(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=False)
    assert native.source_reason({}, None, [NAME], root) is None


def test_matching_record_runs_compiled(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = {NAME: _digest(root / "sip" / "fake.py")}
    assert native.source_reason({}, record, [NAME], root) is None


def test_edited_source_is_stale(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = {NAME: _digest(root / "sip" / "fake.py")}
    (root / "sip" / "fake.py").write_text("VALUE = 2\n")
    reason = native.source_reason({}, record, [NAME], root)
    assert reason is not None and "stale" in reason and "fake.py" in reason


def test_missing_record_is_stale(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert native.stale_sources(None, [NAME], root) == [root / "sip" / "fake.py"]


def test_environment_forces_source(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    record = {NAME: _digest(root / "sip" / "fake.py")}
    assert native.source_reason({"DSM_NATIVE": "0"}, record, [NAME], root) == "DSM_NATIVE=0"


def test_source_finder_loads_the_py_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    finder = native.SourceFinder([NAME], root)
    spec = finder.find_spec(NAME)
    assert spec is not None and spec.origin == str(root / "sip" / "fake.py")
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    assert finder.find_spec("dsm.runtime.sip.other") is None


BUILT = all(native.built_extension(name) is not None for name in MODULES)
needs_build = pytest.mark.skipif(not BUILT, reason="the media path is not compiled in this checkout")

PROBE = """
import sys, types
if {fake_record}:
    record = types.ModuleType("dsm.runtime._native_build")
    record.SOURCES = {{}}
    sys.modules["dsm.runtime._native_build"] = record
from dsm.runtime import native
import dsm.runtime.sip.rtp_session as session
import dsm.runtime.media.call_media as media
print(native.compiled(), session.__file__.endswith(".py"), media.__file__.endswith(".py"))
print(native.describe())
"""


def _probe(fake_record: bool, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(fake_record=fake_record)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_build
def test_built_checkout_runs_compiled() -> None:
    proc = _probe(False, {"DSM_NATIVE": "1"})
    assert proc.stdout.splitlines() == ["True False False", "compiled"], proc.stderr
    assert "stale" not in proc.stderr


@needs_build
def test_native_off_runs_every_module_from_source() -> None:
    proc = _probe(False, {"DSM_NATIVE": "0"})
    assert proc.stdout.splitlines() == ["False True True", "source (DSM_NATIVE=0)"], proc.stderr
    assert "stale" not in proc.stderr


SIP_PROBE = """
from dsm.runtime import native
from dsm.runtime.sip.message import parse_message
from dsm.runtime.sip.responses import make_response
request = parse_message(
    b"OPTIONS sip:a@127.0.0.1 SIP/2.0\\r\\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\\r\\n"
    b"From: <sip:b@127.0.0.1>;tag=1\\r\\nTo: <sip:a@127.0.0.1>\\r\\nCall-ID: c\\r\\n"
    b"CSeq: 1 OPTIONS\\r\\nContent-Length: 0\\r\\n\\r\\n"
)
response = parse_message(bytes(make_response(request, 200)))
print(native.describe(), response.status, response.cseq.method)
"""


def test_sip_messages_parse_and_answer_when_run_from_source() -> None:
    """The source is what runs without a C compiler (or with ``DSM_NATIVE=0``): it must work too."""
    proc = subprocess.run(
        [sys.executable, "-c", SIP_PROBE],
        env={**os.environ, "DSM_NATIVE": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.split() == ["source", "(DSM_NATIVE=0)", "200", "OPTIONS"], proc.stderr


@needs_build
def test_stale_record_runs_from_source_with_one_warning() -> None:
    proc = _probe(True, {"DSM_NATIVE": "1"})
    lines = proc.stdout.splitlines()
    assert lines[0] == "False True True", proc.stderr
    assert lines[1].startswith("source (stale build:")
    warnings = [line for line in proc.stderr.splitlines() if "compiled media path not used" in line]
    assert len(warnings) == 1 and "Rebuild: pip install -e" in warnings[0]


ROOT = Path(__file__).resolve().parents[3]


def _source(module: str) -> Path:
    parts = module.split(".")[1:]  # without "dsm"
    return ROOT / MAPPED.get(parts[0], parts[0]) / Path(*parts[1:]).with_suffix(".py")


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any(
        isinstance(d, ast.Name | ast.Call) and ast.unparse(d).startswith("dataclass") for d in node.decorator_list
    )


def _fields(node: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> list[tuple[str, ast.expr | None, bool]]:
    """(name, default expression or None, whether __init__ takes it), base classes' first."""
    fields: dict[str, tuple[str, ast.expr | None, bool]] = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            fields.update((f[0], f) for f in _fields(classes[base.id], classes))
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if ast.unparse(stmt.annotation).startswith("ClassVar"):
                continue  # not a field
            value, init = stmt.value, True
            if isinstance(value, ast.Call) and ast.unparse(value.func) == "field":
                keywords = {k.arg: k.value for k in value.keywords}
                init = ast.unparse(keywords.get("init", ast.Constant(True))) != "False"
                value = keywords.get("default", ast.Constant(None) if "default_factory" in keywords else None)
            fields[stmt.target.id] = (stmt.target.id, value, init)
    return list(fields.values())


def _dataclasses() -> list[tuple[str, ast.ClassDef, dict[str, ast.ClassDef]]]:
    found = []
    for module in MODULES:
        tree = ast.parse(_source(module).read_text())
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        found += [(module, node, classes) for node in classes.values() if _is_dataclass(node)]
    return found


def test_every_dataclass_of_a_compiled_module_writes_its_own_init_mirroring_its_fields() -> None:
    """Same parameters, order and defaults as the generated one (a factory's default: None)."""
    checked = 0
    for module, node, classes in _dataclasses():
        where = f"{module}.{node.name}"
        init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
        assert init is not None, f"{where}: no __init__ of its own (the generated one is interpreted)"
        fields = _fields(node, classes)
        params = init.args.args[1:]
        defaults = [None] * (len(params) - len(init.args.defaults)) + list(init.args.defaults)
        wanted = [(name, default) for name, default, takes in fields if takes]
        assert [p.arg for p in params] == [name for name, _ in wanted], where
        for (name, default), given in zip(wanted, defaults, strict=True):
            shown = None if default is None else ast.unparse(default)
            assert (None if given is None else ast.unparse(given)) == shown, f"{where}.{name}"
        assigned = {
            ast.unparse(target)
            for stmt in ast.walk(init)
            for target in (stmt.targets if isinstance(stmt, ast.Assign) else [])
        } | {
            stmt.args[1].value
            for stmt in ast.walk(init)
            if isinstance(stmt, ast.Call) and ast.unparse(stmt.func) == "object.__setattr__"
            and isinstance(stmt.args[1], ast.Constant)
        }
        calls = {ast.unparse(c.func) for c in ast.walk(init) if isinstance(c, ast.Call)}
        assert "super" not in calls, f"{where}: super() in a slots dataclass fails when run from source"
        for base in node.bases:  # the base's own __init__ (checked in its turn) sets its fields
            if isinstance(base, ast.Name) and base.id in classes and f"{base.id}.__init__" in calls:
                assigned |= {name for name, _, _ in _fields(classes[base.id], classes)}
        names = {name for name, _, _ in fields}
        assert {a.removeprefix("self.") for a in assigned} >= names, f"{where}: a field left unset"
        checked += 1
    assert checked >= 40


@needs_build
def test_compiled_dataclasses_are_constructed_by_compiled_code() -> None:
    for module, node, _ in _dataclasses():
        cls = getattr(importlib.import_module(module), node.name)
        assert dataclasses.is_dataclass(cls)
        assert not isinstance(cls.__dict__["__init__"], types.FunctionType), f"{module}.{node.name}"
    key = importlib.import_module("dsm.runtime.sip.transaction").TransactionKey  # looked up per datagram
    assert not isinstance(key.__dict__["__hash__"], types.FunctionType)
    assert not isinstance(key.__dict__["__eq__"], types.FunctionType)


_NATIVE_BASES = {"object", "Exception", "ValueError", "RuntimeError", "dict", "Generic", "Protocol", "NamedTuple"}
"""Bases a native (compiled) class may have: builtins mypyc supports, typing's markers."""


def _python_class(node: ast.ClassDef) -> bool:
    return any(
        isinstance(d, ast.Call) and ast.unparse(d.func) == "mypyc_attr"
        and any(k.arg == "native_class" and ast.unparse(k.value) == "False" for k in d.keywords)
        for d in node.decorator_list
    )


def test_a_compiled_class_with_a_python_base_stays_a_python_class() -> None:
    """``@mypyc_attr(native_class=False)`` on every class whose base is not native.

    mypyc (CPython 3.11) compiles a class with an interpreted base into one
    that takes weak references but never clears them when it is freed: the
    next call of such a reference reads freed memory (a ``SipCall`` is
    weakly referenced by its transactions).  Kept a Python class, its methods
    are still compiled.  A subclass of such a class is one too.
    """
    classes = {
        node.name: node
        for module in MODULES
        for node in ast.parse(_source(module).read_text()).body
        if isinstance(node, ast.ClassDef)
    }
    checked = 0
    for name, node in classes.items():
        for base in node.bases:
            base_name = ast.unparse(base.value if isinstance(base, ast.Subscript) else base)
            native_base = base_name in _NATIVE_BASES or (
                base_name in classes and not _python_class(classes[base_name])
            )
            if not native_base:
                assert _python_class(node), f"{name}: base {base_name} is not native"
                checked += 1
    assert checked >= 4  # SipCall, OutgoingSipCall, SipTransport, SipConnection


@needs_build
def test_a_freed_compiled_sip_call_clears_its_weak_references() -> None:
    """A hundred weakly referenced calls freed in a fresh interpreter: every reference is dead, no crash."""
    probe = (
        "import gc, weakref\n"
        "from dsm.runtime.sip.sipcall import SipCall\n"
        "refs = [weakref.ref(SipCall.__new__(SipCall)) for _ in range(100)]\n"
        "gc.collect()\n"
        "print(sum(r() is not None for r in refs))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "0", proc.stderr[-2000:]
