"""``monitoring_redis`` (E-174, docs/cluster.md): two engines ("nodes") share one Redis store.

A call's monitoring record written by one engine is shown by the other
one's call-info; without the key the in-process store stays in use.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from engine_fake_call import FakeCall

from dsm.modules import mod_monitoring
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.config import load_config
from dsm.runtime.engine import Engine
from dsm.runtime.management import Operations
from dsm.runtime.versions import ChartLibrary, NoSource

MENU = "initial state S;\nstate T;\ntransition go S - keyTest(#key == 1) -> T;\n"


def _servers() -> ModuleType:
    name = "dsm_servers_module"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "modules" / "servers.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def redis_url() -> Iterator[str]:
    servers = _servers()
    before = mod_monitoring.store
    try:
        with servers.redis_server() as server:
            yield f"redis://{server.host}:{server.port}/0"
    except servers.ServerUnavailable as exc:
        pytest.fail(f"redis-server is needed (scripts/test.sh installs it): {exc}")
    finally:
        mod_monitoring.use_store(before)


def node(tmp_path: Path, name: str, conf: str) -> Engine:
    d = tmp_path / name
    d.mkdir()
    (d / "menu.dsm").write_text(MENU)
    (d / "dsm.conf").write_text(f"diag_path={d}\nload_diags=menu\nregister_apps=menu\n{conf}")
    e = build_engine(VirtualClock(), load_config(str(d / "dsm.conf")))
    e.run_pending()
    return e


def info(e: Engine, sid: str) -> dict[str, Any] | None:
    return Operations(e, ChartLibrary(e, NoSource())).call_info(sid)


def test_E174_call_info_on_one_node_shows_a_call_of_another(tmp_path: Path, redis_url: str) -> None:
    conf = f"preload_mods=mod_monitoring\nmonitoring_redis={redis_url}\nmonitoring_full_stategraph=yes\n"
    n1, n2 = node(tmp_path, "n1", conf), node(tmp_path, "n2", conf)
    s = n1.start_call("menu", FakeCall("node1.tag1", {}))
    n1.run_pending()
    s.deliver("Key", {"key": "1", "duration": "100"})
    n1.run_pending()
    mod_monitoring.store.set("node1.tag1", "pin_secret", "1234")
    seen = info(n2, "node1.tag1")
    assert seen is not None
    assert (seen["kind"], seen["diagram"], seen["state"]) == ("elsewhere", "menu", "T")
    assert seen["monitoring"]["dsm_stategraph"] == ["menu/S", "menu/T"]
    assert seen["monitoring"]["pin_secret"] == "***"
    assert info(n2, "node9.nobody") is None
    assert info(n1, s.id)["kind"] == "call"  # type: ignore[index]


def test_monitoring_redis_unreachable_is_a_clear_start_error(tmp_path: Path) -> None:
    before = mod_monitoring.store
    port = _servers().refused_port()
    with pytest.raises(OSError, match="monitoring_redis"):
        node(
            tmp_path,
            "n1",
            f"preload_mods=mod_monitoring\nmonitoring_redis=redis://127.0.0.1:{port}/0\n",
        )
    assert mod_monitoring.store is before  # the in-process store stays
