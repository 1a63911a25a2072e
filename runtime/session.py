"""A running session: variables, object store, queue, current state, and the executor.

One :class:`Session` exists per call leg and per system DSM (``engine.md``
E-3).  It implements :class:`dsm.runtime.context.ActionContext`, so actions
receive it directly.  The executor follows ``engine.md`` sections 6 – 10
literally:

* event processing in *rounds* (E-53, E-54) — first matching transition wins,
  exit → transition actions → enter, self transitions re-run enter, a repost
  runs another round with the same (possibly modified) params, and a bounded
  number of rounds per event replaces the reference's endless loop (E-58);
* action lists with ``if``/``for`` and the interruption rules of E-60 …
  E-70 — ``break`` and successful flow changes return a status that bubbles
  up to the list the engine started, while a ``for`` body absorbs both;
* exceptions (section 8): a :class:`DSMException` abandons everything up to
  the round, and an exception round with a *copy* of its params follows;
* ``jumpFSM``/``callFSM``/``returnFSM`` with their quirks (section 9);
  the current state is an :class:`XState` object, not a name (E-70);
* session start with the start-exception quirk (E-89, E-90).

A Python exception escaping an action or condition is a fault of that
action, not of the server: it is logged with the action's file:line and
turned into the DSM exception ``{type: internal, cause: …, action: …,
loc: …}`` of this session only.  ``internal`` is the word ``engine.md``
E-139 reserves for internal errors, so scripts can catch it with
``exception; test(#type == internal)``; other sessions are unaffected.

To keep idle sessions small the object store, owned objects, call stack,
timers and event queue are created on first use.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from dsm.runtime import arrays, resumable, values
from dsm.runtime.context import ErrorVars
from dsm.runtime.errors import DSMException
from dsm.runtime.events import EXCEPTION
from dsm.runtime.executable import (
    MAX_FLOW_DEPTH,
    OP_ACTION,
    OP_BREAK,
    OP_CALL,
    OP_FOR,
    OP_IF,
    OP_JUMP,
    OP_REPOST,
    OP_RETURN,
    RUN_BREAK,
    RUN_FLOW,
    RUN_NORMAL,
    XChart,
    XCondition,
    XElement,
    XFor,
    XState,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dsm.runtime.call import Call
    from dsm.runtime.clock import TimerHandle
    from dsm.runtime.engine import AppConfig, ChartSet, Engine, Tracer
    from dsm.runtime.events import DoneCallback, QueuedEvent

__all__ = ["Session", "LEVEL_ERROR", "LEVEL_WARN", "LEVEL_INFO", "LEVEL_DEBUG", "MAX_FLOW_DEPTH"]

LEVEL_ERROR = 0
LEVEL_WARN = 1
LEVEL_INFO = 2
LEVEL_DEBUG = 3

# list run results (E-60)
_NORMAL = RUN_NORMAL
_BREAK = RUN_BREAK
_FLOW = RUN_FLOW

ONE_YEAR = 365 * 24 * 3600
_resolve = values.resolve


class _Frame:
    """A return frame of ``callFSM`` (E-83): diagram, state, rest of the innermost list."""

    __slots__ = ("diagram", "state", "rest")

    def __init__(self, diagram: XChart, state: XState | None, rest: tuple[XElement, ...]) -> None:
        self.diagram = diagram
        self.state = state
        self.rest = rest


class Session(ErrorVars):
    """One running interpreter instance (E-3); the ``ctx`` of every action."""

    __slots__ = (
        "engine",
        "id",
        "kind",
        "call",
        "config",
        "chartset",
        "vars",
        "params",
        "event_type",
        "diagram",
        "state",
        "stopped",
        "ended",
        "started",
        "di_result",
        "_objects",
        "owned_objects",
        "_stack",
        "_queue",
        "_timers",
        "_repost",
        "_no_repost",
        "_scheduled",
        "_depth",
        "_resumable",
        "_parked",
        "_can_park",
        "__weakref__",
    )

    def __init__(
        self,
        engine: Engine,
        id: str,
        kind: str,
        call: Call,
        chartset: ChartSet,
        config: AppConfig | None = None,
        variables: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.id = id
        self.kind = kind
        self.call = call
        self.config = config
        self.chartset = chartset
        self.vars: dict[str, str] = variables if variables is not None else {}
        self.params: dict[str, str] | None = None
        self.event_type = ""
        self.diagram: XChart | None = None
        self.state: XState | None = None
        self.stopped = False
        self.ended = False
        self.started = False
        self.di_result: Any = None
        self._objects: dict[str, Any] | None = None
        self.owned_objects: list[Any] | None = None  # see actions/objects.py
        self._stack: list[_Frame] | None = None
        self._queue: deque[QueuedEvent] | None = None
        self._timers: dict[int, TimerHandle] | None = None
        self._repost = False
        self._no_repost = False
        self._scheduled = False
        self._depth = 0
        # A session that may meet a blocking action runs the resumable executor when the
        # engine has a runner for such actions (dsm.runtime.resumable); others never pay for it.
        self._resumable = chartset.blocking and engine.runner is not None
        self._parked: resumable.Parked | None = None
        self._can_park = False

    def __repr__(self) -> str:
        where = "-" if self.state is None else f"{self.state.diagram.name}/{self.state.name}"
        return f"<Session {self.id} {self.kind} {where}{' stopped' if self.stopped else ''}>"

    # -- ActionContext ----------------------------------------------------------
    @property
    def objects(self) -> dict[str, Any]:
        """The object store (E-20), created on first use."""
        objs = self._objects
        if objs is None:
            objs = self._objects = {}
        return objs

    @property
    def call_stack_depth(self) -> int:
        return len(self._stack) if self._stack else 0

    def resolve(self, text: str) -> str:
        return _resolve(text, self.vars, self.params, self.select)

    def interpolate(self, text: str) -> str:
        return values.interpolate(text, self.vars, self.params, self.select)

    def select(self, name: str) -> str:
        """A select (section 19): ``local_tag`` is the session's address, others the call's."""
        if name == "local_tag":
            return self.id
        return self.call.select(name)

    def log(self, level: int, message: str) -> None:
        self.engine.log(self, level, message)

    # -- events from the host ---------------------------------------------------
    def deliver(
        self,
        event_type: str,
        params: dict[str, str] | None = None,
        objects: Mapping[str, Any] | None = None,
        on_done: DoneCallback | None = None,
    ) -> bool:
        """Queue an event (E-146); processed by :meth:`Engine.run_pending`.

        Returns ``False`` (and drops the event) when the session has ended.
        """
        if self.ended:
            return False
        q = self._queue
        if q is None:
            q = self._queue = deque()
        q.append((event_type, params, objects, on_done, None))
        if not self._scheduled:
            self._scheduled = True
            engine = self.engine
            engine._ready.append(self)
            if engine.on_pending is not None and not engine._busy:
                engine.on_pending()
        return True

    def process(
        self,
        event_type: str,
        params: dict[str, str] | None = None,
        objects: Mapping[str, Any] | None = None,
    ) -> dict[str, str] | None:
        """Process an event *now*, nested in whatever runs (E-51); returns its params.

        This is for events the host raises synchronously from inside an
        action (a reply that completes SDP negotiation raising EarlySession).
        Events from outside should use :meth:`deliver`.
        """
        if self.ended:
            return params
        saved = (self.event_type, self.params, self._repost, self._no_repost, self._can_park)
        self._can_park = False  # nested processing runs on the plain executor
        try:
            self._with_objects(event_type, params, objects)
        finally:
            self.event_type, self.params, self._repost, self._no_repost, self._can_park = saved
        return params

    def _enqueue(self, item: QueuedEvent) -> None:
        q = self._queue
        if q is None:
            q = self._queue = deque()
        q.append(item)
        if not self._scheduled:
            self._scheduled = True
            self.engine._schedule(self)

    @property
    def pending(self) -> int:
        """Number of queued, unprocessed events."""
        return len(self._queue) if self._queue else 0

    @property
    def can_park(self) -> bool:
        """Whether the running action may return a :class:`~dsm.runtime.resumable.Offload`."""
        return self._can_park

    @property
    def waiting(self) -> bool:
        """Whether an event of this session is parked on a blocking call still running."""
        return self._parked is not None

    def resume(self, outcome: resumable.Outcome, at_once: bool = False) -> None:
        """The engine's runner reports that the parked blocking call ended (on the loop thread).

        ``at_once``: continue the event now if the engine is idle (:func:`resumable.finish`).
        """
        resumable.finish(self, outcome, at_once)

    def _drain(self) -> int:
        """Process every queued event, including ones queued meanwhile (E-147)."""
        if self._resumable:
            return resumable.drain(self)
        self._scheduled = False
        q = self._queue
        n = 0
        while q and not self.ended:
            etype, params, objects, on_done, start = q.popleft()
            n += 1
            if start is not None:
                if not self._start(start, etype) and self.kind == "system":
                    self.stopped = True  # E-162: a system session whose start fails ends
                continue
            if objects:
                self._with_objects(etype, params, objects)
            else:
                self._process(etype, params)
            if on_done is not None:
                try:
                    on_done(params)
                except Exception as exc:  # a host callback fault is not the script's
                    self.log(LEVEL_ERROR, f"event {etype}: host callback failed: {exc!r}")
        self.params = None  # an idle session keeps no event map alive
        return n

    def _with_objects(
        self, event_type: str, params: dict[str, str] | None, objects: Mapping[str, Any] | None
    ) -> None:
        if not objects:
            self._process(event_type, params)
            return
        store = self.objects
        for k, v in objects.items():
            store[k] = v
        try:
            self._process(event_type, params)
        finally:
            for k in objects:
                store.pop(k, None)

    # -- start (section 10) ------------------------------------------------------
    def _start(self, diagram: str, start_type: str) -> bool:
        """E-89/E-90: jump to the start diagram, then process the start event."""
        self.started = True
        self.event_type = start_type
        self.params = None
        try:
            try:
                self._jump(diagram)
            except DSMException:
                raise
            except Exception as fault:
                raise self._fault(fault, "start", diagram) from fault
        except DSMException as exc:
            # E-90 REFERENCE QUIRK: the start event is not processed normally;
            # one processing runs whose first round is an exception round with
            # the *start type* and the exception's params.
            self._trace("exception", exc.detail)
            self._process(start_type, dict(exc.params), exception_first=True)
            return True
        if self.state is None:
            self.log(LEVEL_ERROR, f"start of diagram '{diagram}' failed")
            return False
        self._process(start_type, None)
        return True

    # -- event processing (section 6) -------------------------------------------
    def _process(
        self, event_type: str, params: dict[str, str] | None, exception_first: bool = False
    ) -> None:
        if self.state is None:  # E-52
            return
        # Nested processing (E-51) saves and restores the outer context in process().
        self._no_repost = False
        mode = exception_first
        etype = event_type
        eparams = params
        engine = self.engine
        limit = engine.max_rounds
        rounds = 0
        tracer = engine.tracer
        if tracer is not None:
            tracer(self, "event", event_type)
        while self.state is not None:
            rounds += 1
            if rounds > limit:  # E-58: abandon a runaway event
                self.log(
                    LEVEL_ERROR,
                    f"event {event_type} abandoned after {limit} rounds (endless repost or exception loop)",
                )
                break
            self.event_type = etype
            self.params = eparams
            self._repost = False
            try:
                try:
                    self._round(mode, tracer)
                except DSMException:
                    raise
                except Exception as fault:  # e.g. a fault in a flow action's argument
                    raise self._fault(fault, "round", event_type) from fault
            except DSMException as exc:
                # E-73: exception round with a copy of the exception's params
                if tracer is not None:
                    tracer(self, "exception", exc.detail)
                mode = True
                etype = EXCEPTION
                eparams = dict(exc.params)
                continue
            if not self._repost:
                break

    def _round(self, exception_mode: bool, tracer: Tracer | None = None) -> None:
        """One round (E-54)."""
        st: XState = self.state  # type: ignore[assignment]  # checked by _process
        test = None
        try:
            for tr in st.exceptional if exception_mode else st.normal:
                for test in tr.tests:
                    if not test(self):
                        break
                else:
                    break
            else:
                return  # no transition matched: the event is dropped
        except DSMException:
            raise
        except Exception as exc:  # E-50: a faulty condition is this session's exception
            c = tr.conds[tr.tests.index(test)] if test in tr.tests else tr.conds[0]
            raise self._fault(exc, c.src.name, str(c.src.loc)) from exc
        if tracer is not None:
            tracer(self, "transition", tr.name)
        cur = self.diagram
        if cur is st.diagram:
            target = tr.target_state
        else:  # the current diagram is not the state's own (E-70 quirk)
            target = None if cur is None or tr.target is None else cur.states.get(tr.target)
        if target is None:
            self.log(
                LEVEL_ERROR,
                f"transition '{tr.name}': target state '{tr.target}' not found in diagram "
                f"'{cur.name if cur is not None else ''}'",
            )
        if st.exit and self._run(st.exit):
            return
        if tr.actions and self._run(tr.actions):
            return
        if target is None:
            return
        self.state = target
        if tracer is not None:
            tracer(self, "state", f"{target.diagram.name}/{target.name}")
        monitor = self.engine.monitor
        if monitor is not None:  # E-174, K-17, K-18
            monitor.transition(self.select("local_tag"), tr.name, target.diagram.name, target.name)
        if target.enter:
            self._run(target.enter)

    def _cond(self, c: XCondition) -> bool:
        try:
            return c.test(self)
        except DSMException:
            raise
        except Exception as exc:  # E-50: a faulty condition is this session's exception
            raise self._fault(exc, c.src.name, str(c.src.loc)) from exc

    def _fault(self, exc: Exception, name: str, loc: str) -> DSMException:
        cause = f"{type(exc).__name__}: {exc}"
        self.log(LEVEL_ERROR, f"{loc}: '{name}' failed: {cause}")
        return DSMException("internal", {"cause": cause, "action": name, "loc": loc})

    # -- action lists (section 7) ----------------------------------------------
    def _run(self, elems: tuple[XElement, ...]) -> int:
        """Run a list; returns 0, or why it was interrupted (break / flow change)."""
        for el in elems:
            op = el.op
            if op == OP_ACTION:
                try:
                    el.fn(self, *el.args)  # type: ignore[union-attr]
                except DSMException:
                    raise
                except Exception as exc:
                    src = el.src  # type: ignore[union-attr]
                    raise self._fault(exc, src.name, str(src.loc)) from exc  # type: ignore[union-attr]
            elif op == OP_IF:
                for c in el.conds:  # type: ignore[union-attr]
                    if not self._cond(c):
                        branch = el.orelse  # type: ignore[union-attr]
                        break
                else:
                    branch = el.then  # type: ignore[union-attr]
                if branch:
                    r = self._run(branch)
                    if r:
                        return r
            elif op == OP_FOR:
                self._for(el)  # type: ignore[arg-type]
            elif op == OP_REPOST:
                if not self._no_repost:  # E-61
                    self._repost = True
            elif op == OP_BREAK:
                return _BREAK
            elif op == OP_JUMP:
                if self._jump(self._flow_target(el.args)):  # type: ignore[union-attr]
                    return _FLOW
            elif op == OP_CALL:
                # E-83: push the rest of the innermost list, then jump
                stack = self._stack
                if stack is None:
                    stack = self._stack = []
                assert self.diagram is not None
                stack.append(_Frame(self.diagram, self.state, elems[elems.index(el) + 1 :]))
                if self._jump(self._flow_target(el.args)):  # type: ignore[union-attr]
                    return _FLOW
            elif op == OP_RETURN:
                if self._return():
                    return _FLOW
        return _NORMAL

    def _push_frame(self, rest: tuple[XElement, ...]) -> None:
        """E-83: ``callFSM`` keeps the rest of the innermost list for ``returnFSM``."""
        stack = self._stack
        if stack is None:
            stack = self._stack = []
        assert self.diagram is not None
        stack.append(_Frame(self.diagram, self.state, rest))

    def _flow_target(self, args: tuple[str, ...]) -> str:
        return self.resolve(args[0]) if args else ""

    def _jump(self, name: str) -> bool:
        """E-82; returns whether the invoking list is interrupted."""
        d = self.chartset.get(name)
        if d is None:
            self.log(LEVEL_ERROR, f"jumpFSM: diagram '{name}' not found")
            return False
        self.diagram = d
        init = d.initial
        self.state = init
        tracer = self.engine.tracer
        if init is None:
            self.log(LEVEL_ERROR, f"jumpFSM: diagram '{name}' has no initial state")
            return False
        if tracer is not None:
            tracer(self, "state", f"{d.name}/{init.name}")
        monitor = self.engine.monitor
        if monitor is not None:  # E-174, K-17
            monitor.diagram(self.select("local_tag"), d.name, init.name)
        if init.enter:
            self._nested(init.enter)
        return True

    def _nested(self, elems: tuple[XElement, ...]) -> None:
        """Run an engine-started list inside a flow change: repost has no effect (E-61)."""
        if self._depth >= MAX_FLOW_DEPTH:
            cause = f"flow changes nested deeper than {MAX_FLOW_DEPTH} levels"
            self.log(LEVEL_ERROR, cause)
            raise DSMException("internal", {"cause": cause})
        saved = self._no_repost
        self._no_repost = True
        self._depth += 1
        try:
            self._run(elems)
        finally:
            self._no_repost = saved
            self._depth -= 1

    def _return(self) -> bool:
        """E-85; returns whether the invoking list is interrupted."""
        stack = self._stack
        if not stack:
            self.log(LEVEL_ERROR, "returnFSM: call stack is empty")
            return False
        frame = stack.pop()
        self.diagram = frame.diagram
        self.state = frame.state
        tracer = self.engine.tracer
        if tracer is not None and frame.state is not None:
            tracer(self, "state", f"{frame.state.diagram.name}/{frame.state.name}")
        if frame.rest:
            self._nested(frame.rest)
        monitor = self.engine.monitor
        if monitor is not None and frame.diagram is not None and frame.state is not None:
            # E-174, K-17: recorded after the rest of the calling list, as the reference does
            monitor.diagram(self.select("local_tag"), frame.diagram.name, frame.state.name)
        return True

    # -- for loops (E-64 … E-70) ---------------------------------------------------
    def _for(self, x: XFor) -> None:
        counter = x.counter
        if not counter or (x.kind != "range" and not x.collection):
            self.log(LEVEL_ERROR, f"{x.src.loc}: for loop without counter or collection skipped")
            return
        vs = self.vars
        keep_counter = vs.get(counter)
        keep_value: str | None = None
        struct = x.kind == "struct"
        if struct:
            keep_value = vs.get(x.value)
        body = x.body
        if x.kind == "range":
            lo = values.parse_int(self.resolve(x.lower))
            hi = None if lo is None else values.parse_int(self.resolve(x.upper))
            if lo is None or hi is None:
                self.log(LEVEL_WARN, f"{x.src.loc}: range bounds not numeric, loop skipped")
            else:
                step = 1 if hi > lo else -1
                c = lo
                while c != hi:
                    vs[counter] = str(c)
                    if self._run(body) == _BREAK:
                        break
                    c += step
        elif struct:
            value = x.value
            for key, val in list(arrays.struct_items(vs, x.collection)):
                vs[counter] = key
                if value:
                    vs[value] = val
                if self._run(body) == _BREAK:
                    break
        else:
            for val in list(arrays.array_items(vs, x.collection)):
                vs[counter] = val
                if self._run(body) == _BREAK:
                    break
        # E-65: restore after normal end or break (not after exceptions)
        _restore(vs, counter, keep_counter)
        if struct and x.value:
            _restore(vs, x.value, keep_value)

    # -- timers (section 13) -----------------------------------------------------
    def set_timer(self, timer_id: int, seconds: float) -> None:
        """(Re)start timer ``timer_id`` (E-142); 0 seconds queues the event at once."""
        timers = self._timers
        if timers is None:
            timers = self._timers = {}
        old = timers.pop(timer_id, None)
        if old is not None:
            old.cancel()
        if seconds <= 0:
            self._timer_fired(timer_id)
            return
        if seconds > ONE_YEAR:
            seconds = ONE_YEAR
        clock = self.engine.clock
        timers[timer_id] = clock.call_at(clock.now() + seconds, partial(self._timer_fired, timer_id))

    def remove_timer(self, timer_id: int) -> None:
        if self._timers:
            h = self._timers.pop(timer_id, None)
            if h is not None:
                h.cancel()

    def remove_timers(self) -> None:
        if self._timers:
            for h in self._timers.values():
                h.cancel()
            self._timers.clear()

    @property
    def timers(self) -> tuple[int, ...]:
        """Ids of running timers."""
        return tuple(self._timers) if self._timers else ()

    def _timer_fired(self, timer_id: int) -> None:
        if self._timers:
            self._timers.pop(timer_id, None)
        signed = timer_id - (1 << 32) if timer_id > 0x7FFFFFFF else timer_id  # E-143
        self.deliver("Timer", {"id": str(signed)})

    # -- end ------------------------------------------------------------------
    def stop(self) -> None:
        """Mark the session stopped; it ends after its queued events (E-111, E-147)."""
        if not self.stopped:
            self.stopped = True
            self.engine._schedule_end(self)

    def _trace(self, kind: str, detail: str) -> None:
        tracer = self.engine.tracer
        if tracer is not None:
            tracer(self, kind, detail)


def _restore(vs: dict[str, str], name: str, old: str | None) -> None:
    if old is None:
        vs.pop(name, None)
    else:
        vs[name] = old
