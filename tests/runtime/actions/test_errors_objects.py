"""Exceptions and the object store (engine.md 11.4, 11.9, E-112, E-113, E-138; actions.md 14, 15)."""

from __future__ import annotations

import pytest

import dsm.runtime.actions.errors  # noqa: F401  (registers the actions)
import dsm.runtime.actions.objects  # noqa: F401
from dsm.runtime.actions.core import core
from dsm.runtime.actions.errors import pair_list
from dsm.runtime.actions.objects import (
    Disposable,
    dispose_owned,
    is_owned,
    owned_objects,
    take_ownership,
)
from dsm.runtime.errors import DSMException
from dsm.runtime.harness.stub import StubContext
from dsm.vocabulary import CORE_ACTIONS


class FakeContext(StubContext):
    """A dict-backed ActionContext processing a Key event (values through the real R and I)."""

    def __init__(
        self,
        vars: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        selects: dict[str, str] | None = None,
    ) -> None:
        super().__init__(vars, params, selects, event_type="Key")


def run(ctx: FakeContext, name: str, *args: str) -> None:
    core.actions[name].fn(ctx, *args)


class Handle:
    """A disposable object that counts its disposals."""

    def __init__(self) -> None:
        self.disposed = 0

    def dispose(self) -> None:
        self.disposed += 1


MINE = ["throw", "throwOnError", "trackObject", "releaseObject", "freeObject"]


@pytest.mark.parametrize("name", MINE)
def test_L82_registered_style_matches_core_vocabulary(name: str) -> None:
    assert core.actions[name].signature.style == CORE_ACTIONS[name].style


# -- A-core-83 throw ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nomoney",), {"type": "nomoney"}),
        (("nomoney", ""), {"type": "nomoney"}),
        (("dbfail", "code=17;why=down"), {"type": "dbfail", "code": "17", "why": "down"}),
        (("db", "code=17;msg=down"), {"type": "db", "code": "17", "msg": "down"}),
        (("x", "a=;b=1=2;c=3"), {"type": "x", "c": "3"}),
        (("x", "a=1=2;b="), {"type": "x"}),
        ((), {"type": ""}),
        (("", ""), {"type": ""}),
        (("x", "a=1;a=2"), {"type": "x", "a": "2"}),  # later pairs win
        (("x", "type=y;k=v"), {"type": "y", "k": "v"}),  # a pair overrides the type
        (("x", " a = b "), {"type": "x", " a ": " b "}),  # no trimming
        (("x", "a==b;;"), {"type": "x", "a": "b"}),  # empty sub-pieces dropped
        (("$t", "$spec"), {"type": "T", "k": "v"}),
        (("x", "k=$v"), {"type": "x", "k": "$v"}),  # only the whole p2 is resolved
    ],
)
def test_A_core_83_throw(args: tuple[str, ...], expected: dict[str, str]) -> None:
    ctx = FakeContext({"t": "T", "spec": "k=v", "v": "V"})
    with pytest.raises(DSMException) as info:
        run(ctx, "throw", *args)
    assert info.value.params == expected


def test_E112_pair_list() -> None:
    assert pair_list("") == {}
    assert pair_list(";;") == {}
    assert pair_list("a=b") == {"a": "b"}


# -- A-core-84 throwOnError -----------------------------------------------------


def test_A_core_84_no_error_creates_errno() -> None:
    ctx = FakeContext()
    run(ctx, "throwOnError")
    assert ctx.vars == {"errno": ""}


def test_A_core_84_empty_errno_does_nothing() -> None:
    ctx = FakeContext({"errno": "", "strerror": "old"})
    run(ctx, "throwOnError")
    assert ctx.vars == {"errno": "", "strerror": "old"}


def test_A_core_84_raises_errno_and_strerror() -> None:
    ctx = FakeContext({"errno": "arg", "strerror": "timeout value 'soon' not decipherable\n"})
    with pytest.raises(DSMException) as info:
        run(ctx, "throwOnError")
    assert info.value.params == {"type": "arg", "text": "timeout value 'soon' not decipherable\n"}


def test_E113_missing_strerror_is_created_empty() -> None:
    ctx = FakeContext({"errno": "config"})
    with pytest.raises(DSMException) as info:
        run(ctx, "throwOnError", "ignored")
    assert info.value.params == {"type": "config", "text": ""}
    assert ctx.vars["strerror"] == ""


# -- A-core-85 … A-core-87 objects ----------------------------------------------


def test_E138_handle_is_disposable_and_strings_are_not() -> None:
    assert isinstance(Handle(), Disposable)
    assert not isinstance("text", Disposable)


@pytest.mark.parametrize("action", ["trackObject", "releaseObject", "freeObject"])
def test_E138_missing_object(action: str) -> None:
    ctx = FakeContext({"errno": ""})
    run(ctx, action, "db.con")
    assert ctx.vars == {"errno": "arg", "strerror": "object 'db.con' not found\n"}


@pytest.mark.parametrize("action", ["trackObject", "releaseObject", "freeObject"])
def test_E138_object_not_disposable(action: str) -> None:
    ctx = FakeContext()
    ctx.objects["doc"] = object()
    run(ctx, action, "doc")
    assert ctx.vars == {"errno": "arg", "strerror": "object 'doc' is not a DSMDisposable\n"}
    assert "doc" in ctx.objects


def test_A_core_85_track_object_resolves_its_argument_and_keeps_errno() -> None:
    ctx = FakeContext({"name": "xml.doc", "errno": "arg"})
    h = Handle()
    ctx.objects["xml.doc"] = h
    run(ctx, "trackObject", "$name")
    run(ctx, "trackObject", "xml.doc")  # owning twice is owning once
    assert owned_objects(ctx) == [h]
    assert ctx.vars["errno"] == "arg"  # not cleared on success
    assert dispose_owned(ctx) == []
    assert h.disposed == 1
    assert owned_objects(ctx) == []


def test_A_core_86_release_object() -> None:
    ctx = FakeContext()
    h = Handle()
    ctx.objects["o"] = h
    run(ctx, "trackObject", "o")
    run(ctx, "releaseObject", "o")
    assert not is_owned(ctx, h)
    dispose_owned(ctx)
    assert h.disposed == 0
    assert ctx.objects["o"] is h


def test_A_core_87_free_object_disposes_once() -> None:
    ctx = FakeContext()
    h = Handle()
    ctx.objects["o"] = h
    run(ctx, "trackObject", "o")
    run(ctx, "freeObject", "o")
    assert h.disposed == 1
    assert "o" not in ctx.objects
    dispose_owned(ctx)  # the reference would dispose again (use-after-free); we must not
    assert h.disposed == 1


def test_M_api_11_take_ownership_and_failing_dispose() -> None:
    class Broken:
        def dispose(self) -> None:
            raise RuntimeError("gone")

    ctx = FakeContext()
    b, h = Broken(), Handle()
    take_ownership(ctx, b)
    take_ownership(ctx, h)
    errors = dispose_owned(ctx)
    assert [str(e) for e in errors] == ["gone"]
    assert h.disposed == 1
