"""Module entries of ``modules.md`` each shown by a script run in the harness.

One test per rule: what a script author writes, and what the session holds
afterwards.  ``mod_monitoring`` (section 8), ``mod_mysql`` (section 9, against
the private MariaDB of ``conftest.py``) and ``mod_utils`` (section 16).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pymysql
import pytest
import soundfile
from _fake import harness_call, write_wav
from servers import MariaDB

from dsm.modules.mod_monitoring import store

# --------------------------------------------------------------------------- mod_monitoring


def test_M_monitoring_7_dec_decrements_the_named_counter(tmp_path: Path) -> None:
    """M-monitoring-7: ``monitoring.dec(type[, name])`` decrements counter (R(type), R(name))."""
    script = """import(mod_monitoring);
initial state S enter {
  set($kind=rules7);
  monitoring.inc($kind, active);
  monitoring.inc($kind, active);
  monitoring.inc($kind, active);
  monitoring.dec($kind, active);
  monitoring.dec(rules7_unnamed);
  set($errno=untouched);
  monitoring.dec(rules7, active);
};
"""
    before = store.counter("rules7", "active"), store.counter("rules7_unnamed", "")
    call = harness_call(tmp_path, script)
    assert store.counter("rules7", "active") == before[0] + 1
    assert store.counter("rules7_unnamed", "") == before[1] - 1
    assert call.vars["errno"] == "untouched"  # section 8: no action touches errno


# --------------------------------------------------------------------------- mod_mysql


def _wav_bytes(samples: int) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(samples, dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture
def audio_table(mariadb_server: MariaDB) -> Iterator[MariaDB]:
    """A table ``rules_audio`` with one 100 ms WAV (id 1), private to these tests."""
    con = pymysql.connect(
        host=mariadb_server.host,
        port=mariadb_server.port,
        user=mariadb_server.user,
        password=mariadb_server.password,
        database=mariadb_server.database,
        autocommit=True,
    )
    try:
        with con.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS rules_audio (id INT PRIMARY KEY, data LONGBLOB)"
            )
            cur.execute("DELETE FROM rules_audio")
            cur.execute("INSERT INTO rules_audio VALUES (1, %s)", (_wav_bytes(800),))
        yield mariadb_server
    finally:
        con.close()


def _db_call(tmp_path: Path, server: MariaDB, body: str) -> Any:
    write_wav(tmp_path / "first.wav", ms=100)
    script = f"""import(mod_mysql);
initial state S enter {{
  mysql.connect({server.url});
  playFile({tmp_path}/first.wav);
{body}
}};
"""
    return harness_call(tmp_path, script, name="db")


def test_M_mysql_12_playDBAudioFront_goes_before_the_queued_file(
    tmp_path: Path, audio_table: MariaDB
) -> None:
    """M-mysql-12: as M-mysql-11 (errno cleared, format from the literal name), at the front."""
    call = _db_call(
        tmp_path,
        audio_table,
        """  set($errno=stale);
  mysql.playDBAudioFront(SELECT data FROM rules_audio WHERE id=1, prompt.wav);
  set($after=$errno);""",
    )
    call.advance(0.5)
    assert call.vars["after"] == ""
    names = [Path(p.path).name for p in call.played]
    assert len(names) == 2
    assert names[1] == "first.wav"
    assert names[0] != "first.wav" and names[0].endswith(".wav")


def test_M_mysql_13_playDBAudioLooped_never_ends(tmp_path: Path, audio_table: MariaDB) -> None:
    """M-mysql-13: as M-mysql-11, looped: the 100 ms database audio is still playing after 1 s.

    A looped item never finishes, so a file queued behind it never plays (A-core-23).
    """
    call = _db_call(
        tmp_path,
        audio_table,
        f"""  mysql.playDBAudioLooped(SELECT data FROM rules_audio WHERE id=1, prompt.wav);
  set($after=$errno);
  playFile({tmp_path}/first.wav);""",
    )
    call.advance(1.0)
    assert call.vars["after"] == ""
    played = call.played
    assert [Path(p.path).name for p in played][0] == "first.wav"
    assert len(played) == 2
    assert Path(played[1].path).name != "first.wav" and played[1].end is None


def test_M_mysql_12_13_errors_as_M_mysql_11(tmp_path: Path, audio_table: MariaDB) -> None:
    """M-mysql-12/13 share M-mysql-11's errors: no row → ``result``, nothing queued."""
    call = _db_call(
        tmp_path,
        audio_table,
        """  mysql.playDBAudioFront(SELECT data FROM rules_audio WHERE id=2, x.wav);
  set($front=$errno);
  mysql.playDBAudioLooped(SELECT data FROM rules_audio WHERE id=2, x.wav);
  set($looped=$errno);""",
    )
    call.advance(0.5)
    assert (call.vars["front"], call.vars["looped"]) == ("result", "result")
    assert call.vars["strerror"] == "result does not have row"
    assert [Path(p.path).name for p in call.played] == ["first.wav"]


# --------------------------------------------------------------------------- mod_utils


def test_M_utils_4_getCountLeft_units_before_tens(tmp_path: Path) -> None:
    """M-utils-4: ``utils.getCountLeft`` — files(n, base, ".wav", left) into ``$count_file[i]``."""
    script = """import(mod_utils);
initial state S enter {
  set($errno=stale);
  utils.getCountLeft(45, digits/);
  set($e45=$errno);
  set($a0=$count_file[0]);
  set($a1=$count_file[1]);
  utils.getCountLeft(1234);
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["a0"], v["a1"], v["e45"]) == ("digits/x5.wav", "digits/40.wav", "")
    assert [v[f"count_file[{i}]"] for i in range(4)] == ["1000.wav", "200.wav", "x4.wav", "30.wav"]


def test_M_utils_5_getCountRightNoSuffix(tmp_path: Path) -> None:
    """M-utils-5: as M-utils-3 (right order) without the ``.wav`` suffix; errno cleared."""
    script = """import(mod_utils);
initial state S enter {
  set($errno=stale);
  utils.getCountRightNoSuffix(1234, d/);
};
"""
    v = harness_call(tmp_path, script).vars
    assert [v[f"count_file[{i}]"] for i in range(4)] == ["d/1000", "d/200", "d/30", "d/x4"]
    assert v["errno"] == ""


def test_M_utils_6_getCountLeftNoSuffix(tmp_path: Path) -> None:
    """M-utils-6: as M-utils-4 (left order) without the suffix; a bad count is ``errno = arg``."""
    script = """import(mod_utils);
initial state S enter {
  utils.getCountLeftNoSuffix(45, d/);
  set($a0=$count_file[0]);
  set($a1=$count_file[1]);
  utils.getCountLeftNoSuffix(many);
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["a0"], v["a1"]) == ("d/x5", "d/40")
    assert (v["errno"], v["strerror"]) == ("arg", "could not parse count 'many'\n")


def test_M_utils_12_sub_float_difference_formatted_F(tmp_path: Path) -> None:
    """M-utils-12: ``utils.sub(var, value)`` = F(atof(R(var)) - atof(R(value)))."""
    script = """import(mod_utils);
initial state S enter {
  set($x=5);
  utils.sub($x, 1.5);
  set($y=0.3);
  utils.sub($y, 0.1);
  set($z=7abc);
  utils.sub($z, junk);
  set($d=2);
  utils.sub($n, $d);
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["x"], v["y"], v["z"], v["n"]) == ("3.50", "0.20", "7.0", "-2.0")


def test_M_utils_21_unescapeCRLF_turns_backslash_r_n_into_CRLF(tmp_path: Path) -> None:
    """M-utils-21: the reverse of M-utils-20 — the four characters ``\\r\\n`` become CR LF."""
    script = r"""import(mod_utils);
initial state S enter {
  set($h=a\r\nb\r\nc);
  utils.unescapeCRLF($h);
  set($round=$h);
  utils.escapeCRLF($round);
  set($lone=x\ny);
  utils.unescapeCRLF($lone);
};
"""
    v = harness_call(tmp_path, script).vars
    assert v["h"] == "a\r\nb\r\nc"
    assert v["round"] == "a\\r\\nb\\r\\nc"
    assert v["lone"] == "x\\ny"  # only the pair \r\n is unescaped
