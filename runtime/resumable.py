"""The session executor in resumable form: it can stop at a blocking action and go on later.

The executor of :mod:`dsm.runtime.session` is recursive (rounds, lists,
``if``/``for`` bodies, flow changes that run enter lists).  A blocking
action may sit at any depth of that recursion, so to wait for it without
holding the event loop the executor must be able to leave and come back to
exactly the same place.  The functions here are that executor written as
generators: each level ``yield from``-s the next, and a blocking action or
condition ``yield``-s itself.  The driver (:func:`drain`) hands what was
yielded to the engine's runner (:mod:`dsm.runtime.blocking`) and parks the
generator on the session; the runner's result is sent back in (an
exception is thrown in at the same point), and the event goes on as if the
call had returned at once.

Only sessions whose chart set has a blocking action or condition run here,
and only when the engine has a runner; everything else keeps the plain
executor (and its cost).  Both executors implement ``engine.md`` sections
6 – 10 line for line and must stay in step:
``tests/runtime/engine/test_engine_blocking.py`` runs the same charts
through both and compares traces.

Why two: the generator form run for every session costs 8 % of the engine's
events/s (the PIN chart of ``benchmarks/engine.py``, plain against
generator executor, medians of seven interleaved runs: 31,800 against
29,100 events/s), over the 5 % a single executor may cost; one executor
would then still need a generator-free driver for sessions without
blocking actions, i.e. the plain executor again.

While a session waits, events delivered to it queue (E-146) and are
processed in order once the parked event has finished — the same order as
if the action had been instant.  Events a host raises synchronously from
inside an action (:meth:`Session.process`) run on the plain executor, where
a blocking action runs inline.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from dsm.runtime import arrays, values
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
    XAction,
    XCondition,
    XElement,
    XFor,
    XState,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dsm.runtime.engine import Tracer
    from dsm.runtime.events import QueuedEvent
    from dsm.runtime.session import Session

__all__ = ["Request", "Outcome", "Parked", "Offload", "WaitReply", "ON_POOL", "drain", "finish", "call"]


class Offload:
    """What an action returns to have part of its work done off the loop (``DI``).

    ``work()`` runs on the runner's thread and must not raise (it returns
    an exception as its value); ``finish(value)`` then runs on the engine's
    thread, still inside the action.  An action may return one only while
    :attr:`Session.can_park` is true; otherwise it does everything itself.
    """

    __slots__ = ("work", "finish", "src")

    def __init__(self, work: Callable[[], Any], finish: Callable[[Any], None]) -> None:
        self.work = work
        self.finish = finish
        self.src: Any = None  # the action's chart element (name, loc), set by the executor


class WaitReply:
    """What a blocking action's *loop form* returns: finish once ``fd`` holds a whole reply.

    A runner with an event loop (:class:`~dsm.runtime.blocking.PoolRunner`)
    calls the loop form (:func:`~dsm.runtime.blocking.loop_form`) on the
    loop; the form sends its request and returns one of these instead of
    letting a worker thread block on the answer.  The runner then watches
    ``fd`` and hands every chunk read from it to ``feed``, which keeps the
    bytes for the client library and answers ``True`` (the reply is whole),
    ``False`` (wait for more) or ``None`` (finish on a worker thread: too
    large, or a form the framing does not know); ``b""`` means the peer
    closed.  ``sock`` is the connection's socket (``fileno()``; -1 once
    closed); the runner may keep it registered between replies.  ``complete()`` then finishes the action (it parses the buffered
    reply, so on the loop it cannot block); ``expire()`` finishes it when no
    whole reply came within ``timeout`` seconds.  Both may raise as the
    action would.  The runner sets ``abandon``: called before the owner
    closes ``fd`` while a reply is awaited (a session ending), it stops the
    watch without finishing anything.  A connection closed by ``complete()``
    (a lost connection) is noticed afterwards; ``complete()`` must not open
    another socket meanwhile.
    """

    __slots__ = ("sock", "feed", "complete", "expire", "timeout", "abandon")

    def __init__(
        self,
        sock: Any,
        feed: Callable[[bytes], bool | None],
        complete: Callable[[], Any],
        expire: Callable[[], Any],
        timeout: float,
    ) -> None:
        self.sock = sock
        self.feed = feed
        self.complete = complete
        self.expire = expire
        self.timeout = timeout
        self.abandon: Callable[[], None] = _nothing


def _nothing() -> None:
    return None


class _OnPool:
    def __repr__(self) -> str:
        return "ON_POOL"


ON_POOL: Any = _OnPool()
"""A loop form's answer "not here: run the whole action on the pool" (e.g. it must connect)."""


Request = XAction | XCondition | Offload
"""What a generator yields: the blocking action or condition, or an action's offloaded work."""

Outcome = tuple[bool, Any]
"""``(True, value)`` or ``(False, exception)``: how a blocking call ended."""

Gen = Generator[Request, Any, Any]

_LEVEL_ERROR = 0
_AT_ONCE_LIMIT = 10_000
_LEVEL_WARN = 1


class Parked:
    """An event stopped at a blocking call: the generator, the call, and its outcome once known."""

    __slots__ = ("gen", "request", "outcome")

    def __init__(self, gen: Gen, request: Request) -> None:
        self.gen = gen
        self.request = request
        self.outcome: Outcome | None = None


# -- the driver -----------------------------------------------------------------------
def drain(s: Session) -> int:
    """:meth:`Session._drain` for a session that can suspend; returns the events processed."""
    s._scheduled = False
    parked = s._parked
    n = 0
    if parked is not None:
        outcome = parked.outcome
        if outcome is None:
            return 0  # still waiting: new events stay queued
        s._parked = None
        if _advance(s, parked.gen, outcome):
            return 0
    q = s._queue
    while q and not s.ended:
        item = q.popleft()
        n += 1
        if _advance(s, _item(s, item), None):
            return n
    s.params = None  # an idle session keeps no event map alive
    return n


def _advance(s: Session, gen: Gen, outcome: Outcome | None) -> bool:
    """Run ``gen`` until it finishes (``False``) or parks on a call still running (``True``)."""
    runner = s.engine.runner
    while True:
        s._can_park = True
        try:
            if outcome is None:
                request = gen.send(None)
            elif outcome[0]:
                request = gen.send(outcome[1])
            else:
                request = gen.throw(outcome[1])
        except StopIteration:
            return False
        finally:
            s._can_park = False
        parked = s._parked = Parked(gen, request)
        assert runner is not None
        runner.submit(s, request)
        if parked.outcome is None or s.ended:
            if s._scheduled:  # an event delivered meanwhile waits behind this one: no drain is due
                ready = s.engine._ready
                if ready and ready[-1] is s:
                    ready.pop()
                    s._scheduled = False
            return True
        # the runner finished at once (an inline runner): go on without a round trip
        s._parked = None
        outcome = parked.outcome


def finish(s: Session, outcome: Outcome, at_once: bool = False) -> None:
    """The runner's report that the parked call ended; the event goes on in ``run_pending``.

    ``at_once``: go on now when the engine is idle (a reply read on the loop:
    no need to wait for another loop iteration); the ready sessions run in
    their usual order, only sooner.
    """
    parked = s._parked
    if parked is None or s.ended:
        return
    parked.outcome = outcome
    if not s._scheduled:
        s._scheduled = True
        engine = s.engine
        if at_once and not engine._busy:
            engine._ready.append(s)
            engine.run_pending(limit=_AT_ONCE_LIMIT)
            if engine._ready and engine.on_pending is not None:
                engine.on_pending()  # sessions posting to each other: the rest on the next turn
        else:
            engine._schedule(s)


def call(s: Session, request: Request) -> Any:
    """Run a parked request (on whatever thread the runner chose)."""
    if isinstance(request, XAction):
        return request.fn(s, *request.args)
    if isinstance(request, Offload):
        return request.work()
    return request.test(s)


# -- the executor as generators ---------------------------------------------------------
def _item(s: Session, item: QueuedEvent) -> Gen:
    etype, params, objects, on_done, start = item
    if start is not None:
        ok = yield from _start(s, start, etype)
        if not ok and s.kind == "system":
            s.stopped = True  # E-162
        return
    if objects:
        yield from _with_objects(s, etype, params, objects)
    else:
        yield from _process(s, etype, params)
    if on_done is not None:
        try:
            on_done(params)
        except Exception as exc:  # a host callback fault is not the script's
            s.log(_LEVEL_ERROR, f"event {etype}: host callback failed: {exc!r}")


def _with_objects(
    s: Session, event_type: str, params: dict[str, str] | None, objects: Mapping[str, Any]
) -> Gen:
    store = s.objects
    for k, v in objects.items():
        store[k] = v
    try:
        yield from _process(s, event_type, params)
    finally:
        for k in objects:
            store.pop(k, None)


def _start(s: Session, diagram: str, start_type: str) -> Gen:
    s.started = True
    s.event_type = start_type
    s.params = None
    try:
        try:
            yield from _jump(s, diagram)
        except DSMException:
            raise
        except Exception as fault:
            raise s._fault(fault, "start", diagram) from fault
    except DSMException as exc:
        s._trace("exception", exc.detail)  # E-90 quirk, as Session._start
        yield from _process(s, start_type, dict(exc.params), exception_first=True)
        return True
    if s.state is None:
        s.log(_LEVEL_ERROR, f"start of diagram '{diagram}' failed")
        return False
    yield from _process(s, start_type, None)
    return True


def _process(
    s: Session, event_type: str, params: dict[str, str] | None, exception_first: bool = False
) -> Gen:
    if s.state is None:  # E-52
        return
    s._no_repost = False
    mode = exception_first
    etype = event_type
    eparams = params
    engine = s.engine
    limit = engine.max_rounds
    rounds = 0
    tracer = engine.tracer
    if tracer is not None:
        tracer(s, "event", event_type)
    while s.state is not None:
        rounds += 1
        if rounds > limit:  # E-58
            s.log(
                _LEVEL_ERROR,
                f"event {event_type} abandoned after {limit} rounds (endless repost or exception loop)",
            )
            break
        s.event_type = etype
        s.params = eparams
        s._repost = False
        try:
            try:
                yield from _round(s, mode, tracer)
            except DSMException:
                raise
            except Exception as fault:
                raise s._fault(fault, "round", event_type) from fault
        except DSMException as exc:  # E-73
            if tracer is not None:
                tracer(s, "exception", exc.detail)
            mode = True
            etype = EXCEPTION
            eparams = dict(exc.params)
            continue
        if not s._repost:
            break


def _round(s: Session, exception_mode: bool, tracer: Tracer | None) -> Gen:
    st: XState = s.state  # type: ignore[assignment]
    c: XCondition | None = None
    try:
        for tr in st.exceptional if exception_mode else st.normal:
            for c in tr.conds:
                ok = (yield c) if c.blocking else c.test(s)
                if not ok:
                    break
            else:
                break
        else:
            return
    except DSMException:
        raise
    except Exception as exc:  # E-50
        assert c is not None
        raise s._fault(exc, c.src.name, str(c.src.loc)) from exc
    if tracer is not None:
        tracer(s, "transition", tr.name)
    cur = s.diagram
    if cur is st.diagram:
        target = tr.target_state
    else:  # E-70 quirk
        target = None if cur is None or tr.target is None else cur.states.get(tr.target)
    if target is None:
        s.log(
            _LEVEL_ERROR,
            f"transition '{tr.name}': target state '{tr.target}' not found in diagram "
            f"'{cur.name if cur is not None else ''}'",
        )
    if st.exit and (yield from _run(s, st.exit)):
        return
    actions = tr.actions
    if len(actions) == 1 and actions[0].op == OP_ACTION and actions[0].blocking:  # type: ignore[union-attr]
        el = actions[0]  # one blocking action (a query): as _run, one generator fewer per event
        try:
            yield el  # type: ignore[misc]
        except DSMException:
            raise
        except Exception as exc:
            src = el.src  # type: ignore[union-attr]
            raise s._fault(exc, src.name, str(src.loc)) from exc  # type: ignore[union-attr]
    elif actions and (yield from _run(s, actions)):
        return
    if target is None:
        return
    s.state = target
    if tracer is not None:
        tracer(s, "state", f"{target.diagram.name}/{target.name}")
    if target.enter:
        yield from _run(s, target.enter)


def _cond(s: Session, c: XCondition) -> Gen:
    try:
        return (yield c) if c.blocking else c.test(s)
    except DSMException:
        raise
    except Exception as exc:  # E-50
        raise s._fault(exc, c.src.name, str(c.src.loc)) from exc


def _run(s: Session, elems: tuple[XElement, ...]) -> Gen:
    for i, el in enumerate(elems):
        op = el.op
        if op == OP_ACTION:
            try:
                if el.blocking:  # type: ignore[union-attr]
                    yield el  # type: ignore[misc]
                else:
                    off = el.fn(s, *el.args)  # type: ignore[union-attr]
                    if off is not None and type(off) is Offload:
                        off.src = el.src  # type: ignore[union-attr]
                        off.finish((yield off))
            except DSMException:
                raise
            except Exception as exc:
                src = el.src  # type: ignore[union-attr]
                raise s._fault(exc, src.name, str(src.loc)) from exc  # type: ignore[union-attr]
        elif op == OP_IF:
            for c in el.conds:  # type: ignore[union-attr]
                if not (yield from _cond(s, c)):
                    branch = el.orelse  # type: ignore[union-attr]
                    break
            else:
                branch = el.then  # type: ignore[union-attr]
            if branch:
                r = yield from _run(s, branch)
                if r:
                    return r
        elif op == OP_FOR:
            yield from _for(s, el)  # type: ignore[arg-type]
        elif op == OP_REPOST:
            if not s._no_repost:  # E-61
                s._repost = True
        elif op == OP_BREAK:
            return RUN_BREAK
        elif op == OP_JUMP:
            if (yield from _jump(s, s._flow_target(el.args))):  # type: ignore[union-attr]
                return RUN_FLOW
        elif op == OP_CALL:
            s._push_frame(elems[i + 1 :])  # E-83
            if (yield from _jump(s, s._flow_target(el.args))):  # type: ignore[union-attr]
                return RUN_FLOW
        elif op == OP_RETURN:
            if (yield from _return(s)):
                return RUN_FLOW
    return RUN_NORMAL


def _jump(s: Session, name: str) -> Gen:
    """E-82, as :meth:`Session._jump`."""
    d = s.chartset.get(name)
    if d is None:
        s.log(_LEVEL_ERROR, f"jumpFSM: diagram '{name}' not found")
        return False
    s.diagram = d
    init = d.initial
    s.state = init
    tracer = s.engine.tracer
    if init is None:
        s.log(_LEVEL_ERROR, f"jumpFSM: diagram '{name}' has no initial state")
        return False
    if tracer is not None:
        tracer(s, "state", f"{d.name}/{init.name}")
    if init.enter:
        yield from _nested(s, init.enter)
    return True


def _nested(s: Session, elems: tuple[XElement, ...]) -> Gen:
    if s._depth >= MAX_FLOW_DEPTH:
        cause = f"flow changes nested deeper than {MAX_FLOW_DEPTH} levels"
        s.log(_LEVEL_ERROR, cause)
        raise DSMException("internal", {"cause": cause})
    saved = s._no_repost
    s._no_repost = True
    s._depth += 1
    try:
        yield from _run(s, elems)
    finally:
        s._no_repost = saved
        s._depth -= 1


def _return(s: Session) -> Gen:
    """E-85, as :meth:`Session._return`."""
    stack = s._stack
    if not stack:
        s.log(_LEVEL_ERROR, "returnFSM: call stack is empty")
        return False
    frame = stack.pop()
    s.diagram = frame.diagram
    s.state = frame.state
    tracer = s.engine.tracer
    if tracer is not None and frame.state is not None:
        tracer(s, "state", f"{frame.state.diagram.name}/{frame.state.name}")
    if frame.rest:
        yield from _nested(s, frame.rest)
    return True


def _for(s: Session, x: XFor) -> Gen:
    """E-64 … E-70, as :meth:`Session._for`."""
    counter = x.counter
    if not counter or (x.kind != "range" and not x.collection):
        s.log(_LEVEL_ERROR, f"{x.src.loc}: for loop without counter or collection skipped")
        return
    vs = s.vars
    keep_counter = vs.get(counter)
    keep_value: str | None = None
    struct = x.kind == "struct"
    if struct:
        keep_value = vs.get(x.value)
    body = x.body
    if x.kind == "range":
        lo = values.parse_int(s.resolve(x.lower))
        hi = None if lo is None else values.parse_int(s.resolve(x.upper))
        if lo is None or hi is None:
            s.log(_LEVEL_WARN, f"{x.src.loc}: range bounds not numeric, loop skipped")
        else:
            step = 1 if hi > lo else -1
            c = lo
            while c != hi:
                vs[counter] = str(c)
                if (yield from _run(s, body)) == RUN_BREAK:
                    break
                c += step
    elif struct:
        value = x.value
        for key, val in list(arrays.struct_items(vs, x.collection)):
            vs[counter] = key
            if value:
                vs[value] = val
            if (yield from _run(s, body)) == RUN_BREAK:
                break
    else:
        for val in list(arrays.array_items(vs, x.collection)):
            vs[counter] = val
            if (yield from _run(s, body)) == RUN_BREAK:
                break
    _restore(vs, counter, keep_counter)
    if struct and x.value:
        _restore(vs, x.value, keep_value)


def _restore(vs: dict[str, str], name: str, old: str | None) -> None:
    if old is None:
        vs.pop(name, None)
    else:
        vs[name] = old
