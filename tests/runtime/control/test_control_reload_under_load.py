"""Reload under load (engine.md E-14, config.md D-2): calls keep their version, new calls get the new one.

200 simulated calls are in flight in one engine while the scripts are reloaded
20 times, alternating version 2, a broken version and version 1.  No call
ends early; every call's trace shows only its own version, also after a
``jumpFSM`` into the other diagram of the collection; the broken version
never serves a call and never replaces the running one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from control_rig import write_broken, write_version

from dsm.runtime.clock import VirtualClock
from dsm.runtime.control.observer import Observer
from dsm.runtime.control.remote_call import RemoteCall, start_remote_call
from dsm.runtime.engine import Engine
from dsm.runtime.versions import ChartLibrary, DirectorySource, ReloadFailed


def _version_number(call: RemoteCall) -> str:
    assert call.session is not None
    return call.session.vars["version"]


def test_E14_D2_reload_under_load_keeps_every_call_on_its_version(tmp_path: Path) -> None:
    write_version(tmp_path, 1)
    engine = Engine(VirtualClock())
    observer = Observer(engine)
    observer.recorder.configure("all")
    library = ChartLibrary(engine, DirectorySource([tmp_path]))
    digest = {"1": library.reload().digest}

    calls: list[tuple[RemoteCall, str]] = []  # (call, version number it must run)
    running = "1"
    cycle = ("2", "broken", "1")
    for i in range(20):
        for _ in range(10):
            call = start_remote_call(engine, "main")
            calls.append((call, running))
        for call, _ in calls[-10:-5]:
            call.press("1")  # half of them move on before the reload
        engine.clock.advance(30)  # type: ignore[attr-defined]
        step = cycle[i % 3]
        if step == "broken":
            write_broken(tmp_path)
            before = engine.main.chartset
            with pytest.raises(ReloadFailed) as err:
                library.reload()
            assert err.value.diagnostics, "a refused reload carries its diagnostics"
            assert engine.main.chartset is before, "the running set stays"
        else:
            write_version(tmp_path, int(step))
            digest[step] = library.reload().digest
            running = step
    assert len(calls) == 200
    assert library.reloads == 21 and library.failed_reloads == 7

    # the same scripts give the same version id (content digest)
    assert {v.digest for v in library.history} == set(digest.values())

    # no call ended early, each runs the version it started with
    for call, v in calls:
        assert call.session is not None and not call.session.ended
        assert _version_number(call) == v
        assert call.session.chartset.digest == digest[v]

    # jumpFSM goes to the sub-diagram of the call's own version
    for call, _ in calls:
        call.press("1")
        call.press("2")
    for call, v in calls:
        assert call.session is not None
        assert call.session.state is not None and call.session.state.name == f"SUB_V{v}"
        assert call.session.vars["sub"] == v

    for call, _ in calls:
        call.hangup()
    assert all(c.session is not None and c.session.ended for c, _ in calls)

    # every trace line of a call names only its own version
    by_call: dict[str, list[dict[str, object]]] = {}
    for line in observer.recorder.read(0, 1_000_000):
        by_call.setdefault(str(line["call"]), []).append(line)
    served = {str(line["version"]) for lines in by_call.values() for line in lines}
    assert served <= {d[:12] for d in digest.values()}, "the broken version never served a call"
    for call, v in calls:
        assert call.session is not None
        lines = by_call[call.session.id]
        assert {line["version"] for line in lines} == {digest[v][:12]}
        states = [str(line["detail"]) for line in lines if line["kind"] == "state"]
        assert states and all(s.endswith(f"_V{v}") for s in states), states


def test_E14_new_calls_after_a_reload_get_the_new_version(tmp_path: Path) -> None:
    write_version(tmp_path, 1)
    engine = Engine(VirtualClock())
    library = ChartLibrary(engine, DirectorySource([tmp_path]))
    library.reload()
    old = start_remote_call(engine, "main")
    write_version(tmp_path, 2)
    library.reload()
    new = start_remote_call(engine, "main")
    assert _version_number(old) == "1" and _version_number(new) == "2"


def test_D2_unchanged_scripts_keep_the_running_version_object(tmp_path: Path) -> None:
    write_version(tmp_path, 1)
    engine = Engine(VirtualClock())
    library = ChartLibrary(engine, DirectorySource([tmp_path]))
    first = library.reload()
    cs = engine.main.chartset
    assert library.reload() is first
    assert engine.main.chartset is cs


def test_E14_reload_under_load_in_a_running_server(tmp_path: Path) -> None:
    """The same over the control endpoint: 200 calls, 20 reloads (v2, broken, v1, …)."""
    from control_rig import ServerThread

    write_version(tmp_path, 1)
    st = ServerThread(scripts=[str(tmp_path)])
    try:
        c = st.client
        c.call("traceSet", {"mode": "all"})
        ids: dict[str, str] = {}  # call id -> version number
        running = "1"
        versions = {"1": c.call("versions")["current"]}
        for i in range(20):
            for _ in range(10):
                ids[c.call("startCall", {"app": "main"})["id"]] = running
            step = ("2", "broken", "1")[i % 3]
            if step == "broken":
                write_broken(tmp_path)
                out = c.call("reload")
                assert not out["ok"] and out["version"] == versions[running] and out["diagnostics"]
            else:
                write_version(tmp_path, int(step))
                out = c.call("reload")
                assert out["ok"]
                versions[step] = out["version"]
                running = step
        rows = {r["id"]: r for r in c.call("listCalls", {"system": False})}
        assert set(rows) == set(ids), "no call ended early"
        for sid, v in ids.items():
            assert rows[sid]["version"] == versions[v]
            assert rows[sid]["state"] == f"START_V{v}"
        for sid in ids:
            c.call("callPress", [sid, "12"])
        for sid, v in ids.items():
            info = c.call("callInfo", [sid])
            assert info["state"] == f"SUB_V{v}" and info["vars"]["sub"] == v
        lines = c.call("traceRead", {"since": 0, "limit": 10_000})["lines"]
        for line in lines:
            assert line["version"] == versions[ids[line["call"]]]
        for sid in ids:
            assert c.call("callHangup", [sid])["ended"]
        assert c.call("calls") == 0
        metrics = c.get("/metrics").splitlines()
        assert "dsm_reloads_total 20" in metrics and "dsm_reloads_failed_total 7" in metrics
    finally:
        st.stop()
