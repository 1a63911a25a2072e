"""mod_mysql (modules.md section 9) against a real, private MariaDB server.

Two layers: the actions called directly with a minimal context (what each
rule says about variables, errno and the object store), and small scripts
run through the harness (what a script author writes, including the
argument-splitting quirk).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pymysql
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import FakeContext, MariaDB

from dsm.modules import mod_mysql as my
from dsm.runtime.call import FileItem, SystemCall
from dsm.runtime.errors import DSMException


def _admin(server: MariaDB) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=server.database,
        autocommit=True,
    )


@pytest.fixture(scope="module")
def admin(mariadb_server: MariaDB) -> Iterator[pymysql.connections.Connection]:
    """A plain PyMySQL connection that creates the tables ``people`` and ``blobs`` once.

    DDL is slow on a real disk, so tables are created once per module and
    refilled per test.
    """
    con = _admin(mariadb_server)
    with con.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS people")
        cur.execute("DROP TABLE IF EXISTS blobs")
        cur.execute(
            "CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40),"
            " pin VARCHAR(10), age INT NULL)"
        )
        cur.execute("CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB)")
    yield con
    con.close()


@pytest.fixture
def tables(mariadb_server: MariaDB, admin: pymysql.connections.Connection) -> MariaDB:
    """The same two rows in ``people`` (ids 1 and 2) and no ``blobs`` for every test.

    New rows get ids above 2; the exact id depends on earlier tests (InnoDB
    never lowers its auto-increment counter), so tests compare with
    ``LAST_INSERT_ID()``.
    """
    admin.ping()
    with admin.cursor() as cur:
        cur.execute("DELETE FROM people")
        cur.execute("DELETE FROM blobs")
        cur.execute(
            "INSERT INTO people (id, name, pin, age) VALUES (1, 'bob', '1234', 40), (2, 'al', '9', NULL)"
        )
    return mariadb_server


@pytest.fixture
def ctx(tables: MariaDB) -> Iterator[FakeContext]:
    """A context connected with ``$config.db_url`` (M-mysql-1)."""
    c = FakeContext({"config.db_url": tables.url})
    my.connect(c, "")
    assert c.vars["errno"] == ""
    yield c
    c.dispose_all()


def wav_bytes(samples: int = 160) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(samples, dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


# --------------------------------------------------------------------------- Q substitution
class TestQuerySubstitution:
    def test_Q_example_variables_and_params(self) -> None:
        """Section 9 example: ``$u`` and ``#key`` are put in verbatim."""
        c = FakeContext({"u": "bob"}, params={"key": "3"})
        q = my.substitute_query(c, "SELECT pin FROM t WHERE u='$u' AND k=#key")
        assert q == "SELECT pin FROM t WHERE u='bob' AND k=3"

    def test_Q_missing_variable_and_param_are_created_empty(self) -> None:
        c = FakeContext(params={})
        assert my.substitute_query(c, "a=$nope b=#gone") == "a= b="
        assert c.vars["nope"] == ""
        assert c.params == {"gone": ""}

    def test_Q_params_absent_leaves_hash_text(self) -> None:
        c = FakeContext({"x": "1"})
        assert my.substitute_query(c, "k=#key and $x") == "k=#key and 1"

    def test_Q_quirk_backslash_stays(self) -> None:
        """REFERENCE QUIRK: ``\\$x`` is not substituted and the backslash stays."""
        c = FakeContext({"x": "1"})
        assert my.substitute_query(c, r"a \$x b") == r"a \$x b"

    def test_Q_name_delimiters_and_dots(self) -> None:
        """Names end at space , ( ) $ # tab ; ' " — dots and brackets belong to names."""
        c = FakeContext({"a.b": "D", "l[0]": "L", "n": "N"})
        assert my.substitute_query(c, "$a.b,$l[0];($n)'$n'\"$n\"$n$n") == "D,L;(N)'N'\"N\"NN"

    @settings(max_examples=400, deadline=None)
    @given(
        text=st.text(alphabet="$#\\ab ,'x", max_size=14),
        # markers in values are followed by names that are never set (no endless rescan)
        values=st.dictionaries(st.sampled_from(["a", "b", "ab", "x"]), st.text(alphabet="$#\\ ,", max_size=4)),
        with_params=st.booleans(),
    )
    def test_Q_planned_substitution_equals_the_scan(
        self, text: str, values: dict[str, str], with_params: bool
    ) -> None:
        """The cached plan (fast path) gives exactly what the reference's scan gives, side effects too."""
        fast = FakeContext(dict(values), params=dict(values) if with_params else None)
        scan = FakeContext(dict(values), params=dict(values) if with_params else None)
        assert my.substitute_query(fast, text) == my._substitute_scan(scan, text)
        assert fast.vars == scan.vars and fast.params == scan.params

    def test_Q_quirk_rescans_inside_inserted_value(self) -> None:
        """REFERENCE QUIRK: a ``$`` inside a value (after its first character) is substituted again."""
        c = FakeContext({"v": "x$w", "w": "W"})
        assert my.substitute_query(c, "=$v") == "=xW"

    def test_Q_quirk_value_starting_with_marker_is_not_rescanned_at_first_char(self) -> None:
        c = FakeContext({"v": "$w", "w": "W"})
        assert my.substitute_query(c, "$v") == "$w"

    def test_Q_no_selects_no_sql_escaping(self) -> None:
        c = FakeContext({"n": "o'neil"})
        assert my.substitute_query(c, "name='$n' AND @user") == "name='o'neil' AND @user"


# --------------------------------------------------------------------------- connect / disconnect
class TestConnect:
    def test_M_mysql_1_url_split(self) -> None:
        assert my.parse_db_url("mysql://u:p@h:3307/db") == ("u", "p", "h:3307", "db")
        assert my.parse_db_url("mysql://u:@h/d") == ("u", "", "h", "d")

    def test_M_mysql_1_quirk_slash_in_password_breaks_split(self) -> None:
        user, pwd, host, db = my.parse_db_url("mysql://u:p/w@h/db") or ("", "", "", "")
        assert (user, pwd, host) == ("u", "p/w", "h")
        assert db == "w@h/db"

    @pytest.mark.parametrize("url", ["mysql://a", "http://user:pw@host/db", "mysql:/u:p@h/db"])
    def test_M_mysql_1_bad_url_is_arg_error(self, url: str) -> None:
        c = FakeContext()
        my.connect(c, url)
        assert c.vars["errno"] == "arg"
        assert c.vars["strerror"] == "missing correct db_url config or connect parameter\n"
        assert my.CON not in c.objects

    def test_M_mysql_1_connect_with_argument_stores_db_con(self, tables: MariaDB) -> None:
        c = FakeContext({"url": tables.url, "errno": "arg"})
        my.connect(c, "$url")
        assert c.vars["errno"] == ""
        assert isinstance(c.objects["db.con"], my.MySQLConnection)
        assert c.objects["db.con"] in c.owned
        c.dispose_all()
        assert not c.objects["db.con"].open

    def test_M_mysql_1_wrong_password_sets_driver_error(self, tables: MariaDB) -> None:
        c = FakeContext()
        my.connect(c, f"mysql://{tables.user}:wrong@{tables.host}:{tables.port}/{tables.database}")
        assert c.vars["errno"] == "connection"
        assert c.vars["db.errno"] == "1045"
        assert "Access denied" in c.vars["db.ereason"]
        assert c.vars["strerror"] == c.vars["db.ereason"]

    def test_M_mysql_1_unknown_database_is_connection_error(self, tables: MariaDB) -> None:
        c = FakeContext()
        my.connect(
            c, f"mysql://{tables.user}:{tables.password}@{tables.host}:{tables.port}/nosuchdb"
        )
        assert c.vars["errno"] == "connection"
        assert c.vars["db.errno"] == "1049"

    def test_M_mysql_1_refused_port_is_connection_error(self, tables: MariaDB) -> None:
        from servers import refused_port

        c = FakeContext()
        my.connect(c, f"mysql://u:p@127.0.0.1:{refused_port()}/db")
        assert c.vars["errno"] == "connection"
        assert c.vars["db.errno"] == "2003"

    def test_M_mysql_1_unreadable_ca_cert_is_config_error(
        self, tables: MariaDB, tmp_path: Path
    ) -> None:
        c = FakeContext(
            {"config.db_url": tables.url, "config.mysql_ca_cert": str(tmp_path / "none.pem")}
        )
        my.connect(c, "")
        assert c.vars["errno"] == "config"
        assert c.vars["strerror"] == "cannot access mysql_ca_cert file\n"

    def test_M_mysql_1_readable_ca_cert_enables_tls(self, tables: MariaDB, tmp_path: Path) -> None:
        """K-33: a readable CA file switches TLS on; a broken one fails the connection, not the config."""
        ca = tmp_path / "ca.pem"
        ca.write_text("not a certificate")
        c = FakeContext({"config.db_url": tables.url, "config.mysql_ca_cert": str(ca)})
        my.connect(c, "")
        assert c.vars["errno"] == "connection"
        assert my.CON not in c.objects

    def test_M_mysql_2_disconnect_leaves_empty_entry(self, ctx: FakeContext) -> None:
        con = ctx.objects["db.con"]
        ctx.vars["errno"] = "x"
        my.disconnect(ctx)
        assert ctx.vars["errno"] == ""
        assert ctx.objects["db.con"] is None
        assert isinstance(con, my.MySQLConnection) and not con.open
        my.execute(ctx, "SELECT 1")
        assert ctx.vars["errno"] == "connection"
        assert ctx.vars["strerror"] == "No connection to database (not AmObject)"

    def test_M_mysql_2_without_connection(self) -> None:
        c = FakeContext()
        my.disconnect(c)
        assert (c.vars["errno"], c.vars["strerror"]) == ("connection", "No connection to database")

    def test_M_mysql_reconnects_after_lost_connection(
        self, ctx: FakeContext, tables: MariaDB
    ) -> None:
        """M-mysql-1 automatic reconnect: the statement that finds the connection lost
        fails (it may have run), the next one runs on a new connection."""
        con = ctx.objects["db.con"]
        assert isinstance(con, my.MySQLConnection)
        thread_id = con.con.thread_id()
        killer = pymysql.connect(
            host=tables.host, port=tables.port, user=tables.user, password=tables.password
        )
        with killer.cursor() as cur:
            cur.execute(f"KILL CONNECTION {int(thread_id)}")
        killer.close()
        my.query_get_result(ctx, "SELECT 6 AS seven", "")
        assert ctx.vars["errno"] == "query"
        assert "seven" not in ctx.vars
        my.query_get_result(ctx, "SELECT 7 AS seven", "")
        assert ctx.vars["errno"] == ""
        assert ctx.vars["seven"] == "7"


# --------------------------------------------------------------------------- statements and results
class TestStatements:
    def test_M_mysql_3_execute_insert(self, ctx: FakeContext) -> None:
        ctx.vars["n"] = "carol"
        my.execute(ctx, "INSERT INTO people (name, pin) VALUES ('$n', '77')")
        assert ctx.vars["errno"] == ""
        assert ctx.vars["db.rows"] == "1"
        assert ctx.vars["db.info"] == ""
        inserted = ctx.vars["db.insert_id"]
        assert int(inserted) > 2
        my.query_get_result(
            ctx, "SELECT LAST_INSERT_ID() AS last, name FROM people WHERE id=$db.insert_id", ""
        )
        assert (ctx.vars["last"], ctx.vars["name"]) == (inserted, "carol")

    def test_M_mysql_3_execute_update_counts_affected_rows(self, ctx: FakeContext) -> None:
        my.execute(ctx, "UPDATE people SET pin='0'")
        assert ctx.vars["db.rows"] == "2"

    def test_M_mysql_3_execute_select_discards_rows(self, ctx: FakeContext) -> None:
        my.execute(ctx, "SELECT * FROM people")
        assert (ctx.vars["db.rows"], ctx.vars["db.info"], ctx.vars["db.insert_id"]) == (
            "0",
            "",
            "0",
        )
        assert "name" not in ctx.vars and my.RES not in ctx.objects

    def test_M_mysql_3_sql_error(self, ctx: FakeContext) -> None:
        my.execute(ctx, "SELEC nothing")
        assert ctx.vars["errno"] == "query"
        assert "SQL syntax" in ctx.vars["strerror"]
        assert ctx.vars["db.ereason"] == ctx.vars["strerror"]

    def test_M_mysql_3_needs_connection(self) -> None:
        c = FakeContext()
        my.execute(c, "SELECT 1")
        assert (c.vars["errno"], c.vars["strerror"]) == ("connection", "No connection to database")

    def test_M_mysql_4_query_stores_result(self, ctx: FakeContext) -> None:
        my.query(ctx, "SELECT name, age FROM people ORDER BY id")
        assert ctx.vars["errno"] == ""
        assert ctx.vars["db.rows"] == "2"
        res = ctx.objects["db.res"]
        assert isinstance(res, my.MySQLResult) and res.columns == ("name", "age")

    def test_M_mysql_4_statement_without_rows_is_query_error(self, ctx: FakeContext) -> None:
        my.query(ctx, "UPDATE people SET pin='1' WHERE id=1")
        assert ctx.vars["errno"] == "query"

    def test_M_mysql_5_query_get_result_row(self, ctx: FakeContext) -> None:
        my.query_get_result(ctx, "SELECT name, pin, age FROM people ORDER BY id", "1")
        assert ctx.vars["errno"] == ""
        assert (ctx.vars["name"], ctx.vars["pin"], ctx.vars["age"]) == ("al", "9", "")
        assert ctx.vars["db.rows"] == "2"
        assert my.RES not in ctx.objects

    def test_M_mysql_5_column_labels_name_variables(self, ctx: FakeContext) -> None:
        my.query_get_result(ctx, "SELECT COUNT(*) AS n, MAX(age) AS oldest FROM people", "")
        assert (ctx.vars["n"], ctx.vars["oldest"]) == ("2", "40")

    def test_M_mysql_5_row_out_of_bounds(self, ctx: FakeContext) -> None:
        my.query_get_result(ctx, "SELECT name FROM people", "2")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
            "result",
            "row index out of result rows bounds",
        )

    def test_M_mysql_5_bad_row_index(self, ctx: FakeContext) -> None:
        ctx.vars["r"] = "x1"
        my.query_get_result(ctx, "SELECT name FROM people", "$r")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
            "arg",
            "row index 'x1' not understood\n",
        )

    def test_M_mysql_5_statement_runs_before_row_check(self, ctx: FakeContext) -> None:
        my.query_get_result(ctx, "SELECT @mark := 5 AS m", "bad")
        assert ctx.vars["errno"] == "arg"
        my.query_get_result(ctx, "SELECT @mark AS m", "")
        assert ctx.vars["m"] == "5"

    def test_M_mysql_6_get_result_all_columns_and_one_column(self, ctx: FakeContext) -> None:
        my.query(ctx, "SELECT name, pin FROM people ORDER BY id")
        my.get_result(ctx, "", "")
        assert (ctx.vars["name"], ctx.vars["pin"]) == ("bob", "1234")
        ctx.vars["row"] = "1"
        my.get_result(ctx, "$row", "pin")
        assert (ctx.vars["name"], ctx.vars["pin"]) == ("bob", "9")
        assert ctx.vars["errno"] == ""

    def test_M_mysql_6_errors(self, ctx: FakeContext) -> None:
        my.get_result(ctx, "", "")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("result", "No result available")
        my.query(ctx, "SELECT name FROM people")
        my.get_result(ctx, "-1", "")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("arg", "row index '-1' not understood")
        my.get_result(ctx, "5", "")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
            "result",
            "row index out of result rows bounds",
        )
        my.get_result(ctx, "0", "nope")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("result", "bad field name 'nope'")

    def test_M_mysql_7_quirk_client_version_goes_to_named_variable(self, ctx: FakeContext) -> None:
        my.get_client_version(ctx, "ver")
        assert ctx.vars["ver"] == pymysql.get_client_info()
        assert "db.client_version" not in ctx.vars
        my.get_client_version(ctx, "")
        assert ctx.vars[""] == pymysql.get_client_info()

    def test_M_mysql_8_resolve_query_params_needs_no_connection(self) -> None:
        c = FakeContext({"u": "bob", "errno": "arg"})
        my.resolve_query_params(c, "SELECT * FROM t WHERE u='$u'")
        assert c.vars["db.qstr"] == "SELECT * FROM t WHERE u='bob'"
        assert c.vars["errno"] == "arg"

    def test_M_mysql_9_10_save_and_use_result(self, ctx: FakeContext) -> None:
        my.query(ctx, "SELECT name FROM people ORDER BY id")
        first = ctx.objects["db.res"]
        my.save_result(ctx, "first")
        assert ctx.objects["first"] is first
        my.query(ctx, "SELECT name FROM people ORDER BY id DESC")
        my.use_result(ctx, "first")
        assert ctx.objects["db.res"] is first
        my.get_result(ctx, "0", "")
        assert ctx.vars["name"] == "bob"

    def test_M_mysql_9_save_without_result_stores_empty_entry(self) -> None:
        c = FakeContext()
        my.save_result(c, "x")
        assert "x" in c.objects and c.objects["x"] is None

    def test_M_mysql_10_use_unknown_name_gives_wrong_type(self, ctx: FakeContext) -> None:
        my.use_result(ctx, "never")
        assert ctx.objects["db.res"] is None
        my.get_result(ctx, "", "")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
            "result",
            "Result object has wrong type",
        )


# --------------------------------------------------------------------------- files and audio
class TestFiles:
    def test_M_mysql_14_15_file_round_trip(self, ctx: FakeContext, tmp_path: Path) -> None:
        data = bytes(range(256)) * 4 + b"'\"\\\x00\x1a"
        src = tmp_path / "in.bin"
        src.write_bytes(data)
        ctx.vars["src"] = str(src)
        my.put_file_to_db(ctx, "INSERT INTO blobs VALUES (1, '__FILE__')", "$src")
        assert ctx.vars["errno"] == ""
        assert (ctx.vars["db.rows"], ctx.vars["db.info"]) == ("0", "")
        out = tmp_path / "out.bin"
        my.get_file_from_db(ctx, "SELECT data FROM blobs WHERE id=1", str(out))
        assert ctx.vars["errno"] == ""
        assert out.read_bytes() == data

    def test_M_mysql_15_missing_marker(self, ctx: FakeContext, tmp_path: Path) -> None:
        my.put_file_to_db(ctx, "INSERT INTO blobs VALUES (1, 'x')", str(tmp_path))
        assert ctx.vars["errno"] == "arg"
        assert (
            ctx.vars["strerror"]
            == "missing __FILE__ in query string 'INSERT INTO blobs VALUES (1, 'x')'\n"
        )

    def test_M_mysql_15_missing_or_empty_file(self, ctx: FakeContext, tmp_path: Path) -> None:
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
        for path in (str(empty), str(tmp_path / "missing")):
            my.put_file_to_db(ctx, "INSERT INTO blobs VALUES (1, '__FILE__')", path)
            assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
                "file",
                f"could not read file '{path}'\n",
            )

    def test_M_mysql_15_select_is_query_error(self, ctx: FakeContext, tmp_path: Path) -> None:
        src = tmp_path / "f"
        src.write_bytes(b"abc")
        my.put_file_to_db(ctx, "SELECT '__FILE__'", str(src))
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
            "query",
            "mysql.putFileToDB query was a SELECT",
        )

    def test_M_mysql_14_no_row_and_bad_path(self, ctx: FakeContext, tmp_path: Path) -> None:
        my.get_file_from_db(ctx, "SELECT data FROM blobs WHERE id=99", str(tmp_path / "x"))
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("result", "result does not have row")
        path = str(tmp_path / "no" / "dir" / "f")
        my.get_file_from_db(ctx, "SELECT 'abc'", path)
        assert ctx.vars["errno"] == "file"
        assert ctx.vars["strerror"].startswith(f"fopen() failed for file '{path}': ")

    def test_M_mysql_11_play_db_audio(self, ctx: FakeContext, tmp_path: Path) -> None:
        src = tmp_path / "a.wav"
        src.write_bytes(wav_bytes())
        my.put_file_to_db(ctx, "INSERT INTO blobs VALUES (2, '__FILE__')", str(src))
        ctx.vars["errno"] = "x"
        my.play_db_audio(ctx, "SELECT data FROM blobs WHERE id=2", "prompt.wav")
        assert ctx.vars["errno"] == ""
        my.play_db_audio_front(ctx, "SELECT data FROM blobs WHERE id=2", "prompt.wav")
        my.play_db_audio_looped(ctx, "SELECT data FROM blobs WHERE id=2", "prompt.wav")
        played = ctx.call.played
        assert [(front, item.loop) for item, front in played] == [
            (False, False),
            (True, False),
            (False, True),
        ]
        assert all(isinstance(item, FileItem) for item, _ in played)
        paths = [item.path for item, _ in played]
        assert all(p.endswith(".wav") and os.path.exists(p) for p in paths)
        ctx.dispose_all()
        assert not any(os.path.exists(p) for p in paths)

    def test_M_mysql_11_unrecognised_audio(self, ctx: FakeContext) -> None:
        my.play_db_audio(ctx, "SELECT 'not audio'", "x.wav")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("file", "fpopen failed!")
        assert ctx.call.played == []

    def test_M_mysql_11_no_row(self, ctx: FakeContext) -> None:
        my.play_db_audio(ctx, "SELECT data FROM blobs", "x.wav")
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("result", "result does not have row")

    def test_M_mysql_11_system_session_raises_core(self, tables: MariaDB, tmp_path: Path) -> None:
        """Sessions: Sys core-ex — the system stand-in call refuses playlists."""
        c = FakeContext({"config.db_url": tables.url}, kind="system")
        c.call = SystemCall()
        my.connect(c, "")
        src = tmp_path / "a.wav"
        src.write_bytes(wav_bytes())
        my.put_file_to_db(c, "INSERT INTO blobs VALUES (3, '__FILE__')", str(src))
        with pytest.raises(DSMException) as info:
            my.play_db_audio(c, "SELECT data FROM blobs WHERE id=3", "x.wav")
        assert info.value.params == {"type": "core", "cause": "not implemented in SystemDSM"}
        c.dispose_all()


# --------------------------------------------------------------------------- escape and conditions
class TestEscapeAndConditions:
    def test_M_mysql_16_escape(self, ctx: FakeContext) -> None:
        ctx.vars["raw"] = 'o\'neil \\ "x"'
        ctx.vars["errno"] = "old"
        my.escape(ctx, "$safe", "$raw")
        assert ctx.vars["safe"] == 'o\\\'neil \\\\ \\"x\\"'
        assert ctx.vars["errno"] == "old"
        my.execute(ctx, "INSERT INTO people (name) VALUES ('$safe')")
        my.query_get_result(ctx, "SELECT name FROM people WHERE id=$db.insert_id", "")
        assert ctx.vars["name"] == ctx.vars["raw"]

    def test_M_mysql_16_needs_connection(self) -> None:
        c = FakeContext({"v": "x"})
        my.escape(c, "$dst", "$v")
        assert c.vars["errno"] == "connection" and "dst" not in c.vars

    def test_M_mysql_17_has_result(self, ctx: FakeContext) -> None:
        assert my.has_result(ctx) is False
        assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("result", "No result available")
        my.query(ctx, "SELECT name FROM people WHERE id=99")
        assert my.has_result(ctx) is False
        my.query(ctx, "SELECT name FROM people")
        assert my.has_result(ctx) is True

    def test_M_mysql_18_connected(self, ctx: FakeContext) -> None:
        assert my.connected(ctx) is True
        my.disconnect(ctx)
        assert my.connected(ctx) is False
        assert ctx.vars["errno"] == "connection"
        c = FakeContext()
        assert my.connected(c) is False
        assert (c.vars["errno"], c.vars["strerror"]) == ("connection", "No connection to database")

    def test_M_api_3_vocabulary(self) -> None:
        """Section 2: 16 actions and 2 conditions, names exact."""
        assert len(my.module.actions) == 16
        assert set(my.module.conditions) == {"mysql.hasResult", "mysql.connected"}
        assert my.module.action_signature("mysql.escape").style == "P=mand"  # type: ignore[union-attr]
        assert my.module.action_signature("mysql.queryGetResult").style == "P,opt"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- through the harness
def run_script(harness_class: Any, tmp_path: Path, body: str) -> Any:
    script = tmp_path / "db.dsm"
    script.write_text("import(mod_mysql);\n" + body)
    return harness_class(scripts=str(script)).call("db")


class TestScripts:
    def test_script_query_get_result_with_quoted_commas(
        self, harness_class: Any, tmp_path: Path, tables: MariaDB
    ) -> None:
        """Section 9 QUIRK: SQL with commas is quoted in two-argument actions."""
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  mysql.connect({tables.url});
  mysql.queryGetResult("SELECT name, pin FROM people ORDER BY id", 1);
  set($after=$errno);
}};
""",
        )
        assert call.vars["after"] == ""
        assert (call.vars["name"], call.vars["pin"]) == ("al", "9")

    def test_script_quirk_unquoted_comma_splits_sql(
        self, harness_class: Any, tmp_path: Path, tables: MariaDB
    ) -> None:
        """Section 9 QUIRK — commas: the SQL is cut at its first comma, the rest is the row."""
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  mysql.connect({tables.url});
  mysql.queryGetResult(SELECT 5 AS five, x AS six);
}};
""",
        )
        assert call.vars["errno"] == "arg"
        assert call.vars["strerror"] == "row index 'x AS six' not understood\n"
        assert "five" not in call.vars and "six" not in call.vars

    def test_script_config_url_conditions_and_throw_on_error(
        self, harness_class: Any, tmp_path: Path, tables: MariaDB
    ) -> None:
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  set($config.db_url={tables.url});
  mysql.connect();
  if mysql.connected() {{ set($c=yes); }} else {{ set($c=no); }}
  mysql.execute(INSERT INTO people (name) VALUES ('$caller_name'));
  set($id=$db.insert_id);
  mysql.query(SELECT name FROM people WHERE id=$id);
  if mysql.hasResult() {{ mysql.getResult(0, name); }}
  mysql.execute(broken sql);
  if test($errno == query) {{ set($failed=yes); }}
}};
""",
        )
        assert call.vars["c"] == "yes"
        assert int(call.vars["id"]) > 2
        assert call.vars["name"] == ""
        assert call.vars["failed"] == "yes"

    def test_script_escape_and_resolve_query_params(
        self, harness_class: Any, tmp_path: Path, tables: MariaDB
    ) -> None:
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  mysql.connect({tables.url});
  set($raw="it's");
  mysql.escape($safe=$raw);
  mysql.resolveQueryParams(SELECT 1 FROM people WHERE name='$safe');
}};
""",
        )
        assert call.vars["safe"] == "it\\'s"
        assert call.vars["db.qstr"] == "SELECT 1 FROM people WHERE name='it\\'s'"

    def test_script_event_parameters_in_query(
        self, harness_class: Any, tmp_path: Path, tables: MariaDB
    ) -> None:
        """Q puts ``#name`` event parameters into the SQL while an event is processed."""
        call = run_script(
            harness_class,
            tmp_path,
            f"""
initial state START enter {{
  mysql.connect({tables.url});
}};
transition "lookup" START - event(#who == al) / {{
  mysql.queryGetResult(SELECT pin FROM people WHERE name='#who');
}} -> DONE;
state DONE;
""",
        )
        call.post_event({"who": "al"})
        assert call.state == "DONE"
        assert call.vars["pin"] == "9"
