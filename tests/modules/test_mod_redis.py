"""mod_redis (modules.md section 11) against a real, private redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from servers import FakeContext, RedisServer, refused_port

from dsm.modules import mod_redis as rd


@pytest.fixture
def server(redis_info: RedisServer) -> RedisServer:
    """The session's redis-server, emptied before every test."""
    client = redis.Redis(host=redis_info.host, port=redis_info.port)
    client.flushall()
    client.close()
    return redis_info


@pytest.fixture
def ctx(server: RedisServer) -> Iterator[FakeContext]:
    """A context connected with ``$config.redis_db_url`` (M-redis-1)."""
    c = FakeContext({"config.redis_db_url": server.url})
    rd.connect(c, "")
    assert c.vars["errno"] == ""
    yield c
    c.dispose_all()


PREFIX = "missing correct db_url config or connect parameter - "


# --------------------------------------------------------------------------- connect
class TestConnect:
    def test_M_redis_1_success_clears_errno_and_strerror(self, server: RedisServer) -> None:
        c = FakeContext({"errno": "arg", "strerror": "old", "u": server.url})
        rd.connect(c, "$u")
        assert (c.vars["errno"], c.vars["strerror"]) == ("", "")
        assert isinstance(c.objects["db_redis.con"], rd.RedisConnection)
        assert c.objects["db_redis.con"] in c.owned
        c.dispose_all()

    def test_M_redis_1_unix_socket(self, server: RedisServer) -> None:
        c = FakeContext()
        rd.connect(c, f"redis://unix:{server.socket_path}")
        rd.exec_command(c, "$r", "ping")
        assert c.vars["r"] == "PONG"
        c.dispose_all()

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("redis://tc", "must start with redis://\n"),
            ("http://tcp:localhost", "must start with redis://\n"),
            ("redis://udp:localhost", "must start with unix or tcp protocol\n"),
            ("redis://tcp:;port=1", "host must be non-empty\n"),
        ],
    )
    def test_M_redis_1_url_checks(self, url: str, reason: str) -> None:
        c = FakeContext()
        rd.connect(c, url)
        assert (c.vars["errno"], c.vars["strerror"]) == ("arg", PREFIX + reason)
        assert "db_redis.con" not in c.objects

    @pytest.mark.parametrize(
        "url",
        [
            "redis://tcp:localhost;port=x",
            "redis://tcp:localhost;colour=red",
            "redis://tcp:localhost;a=b=c",
        ],
    )
    def test_M_redis_1_bad_parameters_are_arg_errors(self, url: str) -> None:
        c = FakeContext()
        rd.connect(c, url)
        assert c.vars["errno"] == "arg"
        assert c.vars["strerror"].startswith(PREFIX)

    def test_M_redis_1_quirk_host_colon_port_is_rejected(self, server: RedisServer) -> None:
        """QUIRK: ``tcp:host:6379`` fails; the ``:6379`` is read as a malformed parameter."""
        c = FakeContext()
        rd.connect(c, f"redis://tcp:{server.host}:{server.port}")
        assert c.vars["errno"] == "arg"

    def test_M_redis_1_parameters(self) -> None:
        url = rd.parse_redis_url(
            "redis://tcp:h;port=7000;connect_timeout=250;full_logging=true;use_transactions=true"
        )
        assert isinstance(url, rd.RedisURL)
        assert (url.host, url.port, url.connect_timeout_ms, url.full_logging) == (
            "h",
            7000,
            250,
            True,
        )
        default = rd.parse_redis_url("redis://tcp:h")
        assert isinstance(default, rd.RedisURL)
        assert (default.port, default.connect_timeout_ms) == (6379, 500)

    def test_M_redis_1_refused_connection(self) -> None:
        c = FakeContext()
        rd.connect(c, f"redis://tcp:127.0.0.1;port={refused_port()}")
        assert (c.vars["errno"], c.vars["strerror"]) == (
            "connection",
            "Could not connect to redis DB",
        )
        assert "db_redis.con" not in c.objects

    def test_K_34_config_default_url(self, server: RedisServer) -> None:
        c = FakeContext({"config.redis_db_url": server.url})
        rd.connect(c, "")
        assert c.vars["errno"] == ""
        c.dispose_all()

    def test_M_redis_2_disconnect(self, ctx: FakeContext) -> None:
        ctx.vars["errno"] = "x"
        rd.disconnect(ctx)
        assert ctx.vars["errno"] == ""
        assert "db_redis.con" not in ctx.objects
        rd.disconnect(ctx)
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
            "connection",
            "No connection to redis database",
        )


# --------------------------------------------------------------------------- commands and replies
class TestCommands:
    def test_M_redis_3_string_status_and_nil(self, ctx: FakeContext) -> None:
        rd.exec_command(ctx, "$st", "set greeting hello")
        rd.exec_command(ctx, "v", "get greeting")
        rd.exec_command(ctx, "n", "get missing")
        assert (ctx.vars["st"], ctx.vars["v"], ctx.vars["n"]) == ("OK", "hello", "nil")

    def test_M_redis_3_integer_and_quirk_32_bit_truncation(self, ctx: FakeContext) -> None:
        rd.exec_command(ctx, "a", "incr counter")
        rd.exec_command(ctx, "b", "incrby big 4294967301")
        rd.exec_command(ctx, "c", "incrby neg 2147483648")
        assert (ctx.vars["a"], ctx.vars["b"], ctx.vars["c"]) == ("1", "5", "-2147483648")

    def test_M_redis_3_arrays_recursively(self, ctx: FakeContext) -> None:
        rd.exec_command(ctx, "n", "rpush l x y z")
        rd.exec_command(ctx, "$items", "lrange l 0 -1")
        assert [ctx.vars[f"items[{i}]"] for i in range(3)] == ["x", "y", "z"]
        assert "items" not in ctx.vars
        rd.exec_command(ctx, "tx", "multi")
        rd.exec_command(ctx, "q1", "lrange l 0 0")
        rd.exec_command(ctx, "q2", "incr k")
        rd.exec_command(ctx, "res", "exec")
        assert (ctx.vars["res[0][0]"], ctx.vars["res[1]"]) == ("x", "1")

    def test_M_redis_3_error_reply_stores_nothing(self, ctx: FakeContext) -> None:
        rd.exec_command(ctx, "s", "set k text")
        rd.exec_command(ctx, "e", "incr k")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("write", "REDIS write error")
        assert "e" not in ctx.vars

    def test_M_redis_3_quirk_success_does_not_clear_errno(self, ctx: FakeContext) -> None:
        ctx.vars["errno"] = "write"
        rd.exec_command(ctx, "p", "ping")
        assert ctx.vars["p"] == "PONG"
        assert ctx.vars["errno"] == "write"

    def test_M_redis_3_interpolated_and_quirk_quotes_sent_literally(self, ctx: FakeContext) -> None:
        ctx.vars["user"] = "alice"
        rd.exec_command(ctx, "r", 'set "name:$user" "a b"')
        assert (
            ctx.vars["errno"] == "write"
        )  # four arguments: set "name:alice" "a b" -> syntax error
        rd.exec_command(ctx, "r", 'set "k" 50%')
        assert ctx.vars["r"] == "OK"
        rd.exec_command(ctx, "v", 'get "k"')
        assert ctx.vars["v"] == "50%"

    def test_M_redis_3_blanks_collapse(self, ctx: FakeContext) -> None:
        rd.exec_command(ctx, "r", "  set   k   v  ")
        rd.exec_command(ctx, "v", "get k")
        assert ctx.vars["v"] == "v"

    def test_M_redis_3_4_empty_command_is_refused(self, ctx: FakeContext) -> None:
        """Not in the reference (it would wait for ever): an empty command is ``errno = arg``."""
        rd.exec_command(ctx, "r", "$nothing")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("arg", "empty REDIS command\n")
        rd.append_command(ctx, "  ")
        assert ctx.vars["errno"] == "arg"
        rd.exec_command(ctx, "r", "ping")
        assert ctx.vars["r"] == "PONG"

    def test_M_redis_3_without_connection(self) -> None:
        c = FakeContext()
        rd.exec_command(c, "r", "ping")
        assert (c.vars["errno"], c.vars["strerror"]) == ("connection", "Not connected to REDIS\n")

    def test_M_redis_3_connection_drop_and_automatic_reconnect(
        self, ctx: FakeContext, server: RedisServer
    ) -> None:
        rd.exec_command(ctx, "id", "client id")
        killer = redis.Redis(host=server.host, port=server.port)
        killer.client_kill_filter(_id=ctx.vars["id"])
        killer.close()
        rd.exec_command(ctx, "r", "ping")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("connection", "REDIS connection error")
        assert "r" not in ctx.vars
        rd.exec_command(ctx, "r", "ping")
        assert ctx.vars["r"] == "PONG"

    def test_M_redis_4_5_pipelining(self, ctx: FakeContext) -> None:
        ctx.vars["errno"], ctx.vars["strerror"] = "write", "old"
        rd.append_command(ctx, "set a 1")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("", "")
        rd.append_command(ctx, "incr a")
        rd.append_command(ctx, "get a")
        rd.get_reply(ctx, "$r1")
        rd.get_reply(ctx, "r2")
        rd.get_reply(ctx, "r3")
        assert (ctx.vars["r1"], ctx.vars["r2"], ctx.vars["r3"]) == ("OK", "2", "2")

    def test_M_redis_5_nothing_pending(self, ctx: FakeContext) -> None:
        """The reference blocks here; this runtime reports ``errno = read`` instead."""
        rd.get_reply(ctx, "r")
        assert ctx.vars["errno"] == "read"
        assert "r" not in ctx.vars

    def test_M_redis_3_exec_after_append_reads_oldest_pending_reply(self, ctx: FakeContext) -> None:
        """hiredis order: a command's reply comes after the replies still pending."""
        rd.append_command(ctx, "set a first")
        rd.exec_command(ctx, "r", "get a")
        assert ctx.vars["r"] == "OK"
        rd.get_reply(ctx, "r")
        assert ctx.vars["r"] == "first"

    def test_M_redis_1_full_logging(self, server: RedisServer) -> None:
        c = FakeContext()
        rd.connect(c, server.url + ";full_logging=true")
        rd.exec_command(c, "r", "ping")
        assert any("ping" in message for _, message in c.logged)
        assert any("PONG" in message for _, message in c.logged)
        c.dispose_all()

    def test_M_api_vocabulary(self) -> None:
        """Section 2: 5 actions, no conditions."""
        assert set(rd.module.actions) == {
            "redis.connect",
            "redis.disconnect",
            "redis.execCommand",
            "redis.appendCommand",
            "redis.getReply",
        }
        assert rd.module.conditions == {}


# --------------------------------------------------------------------------- through the harness
def run_script(harness_class: Any, tmp_path: Path, body: str) -> Any:
    script = tmp_path / "kv.dsm"
    script.write_text("import(mod_redis);\n" + body)
    return harness_class(scripts=str(script)).call("kv")


class TestScripts:
    def test_script_counter_example(
        self, harness_class: Any, tmp_path: Path, server: RedisServer
    ) -> None:
        """Section 11 example: ``sets($c="incr calls:@(user)"); redis.execCommand(n=$c)``."""
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  redis.connect({server.url});
  set($who=alice);
  sets($c="incr calls:$(who)");
  redis.execCommand(n=$c);
  redis.execCommand(m=$c);
  redis.execCommand($list=lrange nothing 0 -1);
}};
""",
        )
        assert (call.vars["n"], call.vars["m"]) == ("1", "2")
        assert call.vars["errno"] == ""

    def test_script_pipelining_and_errors(
        self, harness_class: Any, tmp_path: Path, server: RedisServer
    ) -> None:
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  redis.execCommand(x=ping);
  set($before=$errno);
  redis.connect({server.url});
  redis.appendCommand(set k v);
  redis.appendCommand(get k);
  redis.getReply(a);
  redis.getReply(b);
  redis.execCommand(e=incr k);
}};
""",
        )
        assert call.vars["before"] == "connection"
        assert (call.vars["a"], call.vars["b"]) == ("OK", "v")
        assert call.vars["errno"] == "write"
