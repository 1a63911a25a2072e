"""A small stand-in session for calling module actions directly.

It implements :class:`dsm.runtime.context.ActionContext` with plain
resolution ``R`` (``engine.md`` E-22) and a recording log, so module
functions can be exercised without the engine.  Scripts run through the
harness test the same behaviour end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dsm.runtime.call import AudioOpenError
from dsm.runtime.harness.stub import StubContext
from dsm.runtime.registry import Module

__all__ = ["FakeCall", "FakeContext", "FakeEngine", "run_action", "run_condition", "harness_call"]


class FakeCall:
    """Records playlist items; paths in ``missing`` cannot be opened."""

    def __init__(self) -> None:
        self.played: list[Any] = []
        self.missing: set[str] = set()

    def play(self, item: Any, front: bool = False) -> None:
        path = getattr(item, "path", None)
        if path is not None and path in self.missing:
            raise AudioOpenError(path)
        self.played.append(item)


class FakeEngine:
    """Records ``post_event`` calls; sessions listed in ``dead`` refuse events."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, dict[str, str]]] = []
        self.dead: set[str] = set()

    def post_event(self, session_id: str, params: dict[str, str]) -> bool:
        if session_id in self.dead:
            return False
        self.posted.append((session_id, dict(params)))
        return True


class FakeContext(StubContext):
    """The session as an action sees it (runtime/context.py), in memory, with fake call and engine."""

    def __init__(
        self,
        vars: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        *,
        local_tag: str = "tag-1",
        selects: dict[str, str] | None = None,
        event_type: str = "Start",
        kind: str = "call",
        engine: Any = None,
    ) -> None:
        super().__init__(
            dict(vars or {}),
            params,
            {"local_tag": local_tag, **(selects or {})},
            event_type=event_type,
            kind=kind,
            call=FakeCall(),
            engine=engine if engine is not None else FakeEngine(),
        )


def run_action(module: Module, ctx: FakeContext, name: str, *args: str) -> None:
    """Run action ``name`` of ``module`` with already split argument parts."""
    module.actions[name].fn(ctx, *args)


def run_condition(module: Module, ctx: FakeContext, name: str, *args: str) -> bool:
    fn = module.conditions[name].fn
    assert fn is not None
    return bool(fn(ctx, *args))


def harness_call(tmp_path: Path, script: str, name: str = "t", **call_args: Any) -> Any:
    """Run ``script`` (the text of ``<name>.dsm``) in the test harness; returns the call."""
    from dsm.runtime.harness import Harness

    path = tmp_path / f"{name}.dsm"
    path.write_text(script)
    h = Harness(scripts=str(path))
    return h.call(name, **call_args)


def harness(tmp_path: Path, scripts: dict[str, str]) -> Any:
    """A harness over a directory holding ``<name>.dsm`` for every entry of ``scripts``."""
    from dsm.runtime.harness import Harness

    for name, text in scripts.items():
        (tmp_path / f"{name}.dsm").write_text(text)
    return Harness(scripts=str(tmp_path))


def compile_every_name(module: Module) -> Any:
    """Compile a script that uses every action and condition of ``module`` (what ``dsm check`` does).

    Raises :class:`dsm.diagnostics.CompileError` if any name is unknown.
    """
    from dsm.compiler import compile_source

    lines = [f"import({module.name});", "initial state S enter {"]
    lines += [f"  {name}(True);" for name in module.actions]
    lines.append("};")
    for i, name in enumerate(module.conditions):
        lines.append(f'transition "c{i}" S - {name}(True) / stop(false) -> S;')
    lines.append('transition "bye" S - hangup / stop(false) -> S;')
    return compile_source("\n".join(lines) + "\n", "every_name.dsm")


def write_wav(path: Path, ms: int = 100) -> Path:
    """A short silent 8 kHz mono 16-bit WAV file."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * (8 * ms))
    return path
