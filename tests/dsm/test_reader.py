"""The grammar-driven reader (grammar/dsm.lark, dsm/reader.py) as a parser.

The language it reads is tested rule by rule elsewhere (test_parser.py and
friends); these tests hold the grammar itself to its promises: it is LALR,
every `x_` rule has its action, and it accepts every token sequence (only the
end of the input inside an open construct is an error).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import PIECES

from dsm.compiler import compile_unit
from dsm.lexclasses import grammar_text
from dsm.reader import Reader, StrictReader, classify, table

SOUP = [*PIECES, "enter", "exit", "else", "fortune", "f(", "x(", "'q'", "-->", "-/"]


def test_the_table_is_built_from_dsm_lark_and_every_action_exists() -> None:
    t = table()
    assert t.by_state and t.start in range(len(t.by_state))
    rules = set(re.findall(r"^(x_\w+):", grammar_text(), re.MULTILINE))
    methods = {m for m in dir(StrictReader) if m.startswith("x_")}
    assert rules == methods
    # two rules only matter to --strict: the plain reader runs nothing for them
    assert rules - {m for m in dir(Reader) if m.startswith("x_")} == {
        "x_transition_arrow",
        "x_if_bracket",
    }


def test_classify() -> None:
    assert classify("import(x)") == "IMPORT" and classify("import") == "WORD"
    assert classify("importx") == "IMPORT"  # L-33: longer than six characters
    assert classify("for") == "FOR" and classify("fortune") == "FORX"
    assert classify("format(x)") == "FORP" and classify("for($i in $a)") == "FORP"
    assert classify("log(1, x)") == "PWORD" and classify("A") == "WORD"
    assert classify("->") == "ARROW" and classify("-->") == "LARROW"


@settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(st.sampled_from(SOUP), max_size=60),
    st.lists(st.sampled_from([" ", "\n", ""]), max_size=60),
)
def test_every_token_sequence_is_read(pieces: list[str], seps: list[str]) -> None:
    """No token is ever rejected by the grammar (that would be an internal error, E900)."""
    text = "".join(p + (seps[i] if i < len(seps) else " ") for i, p in enumerate(pieces))
    unit = compile_unit(text, "soup", "soup")
    assert "E900" not in {d.code for d in unit.diagnostics}, text


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.text(alphabet="sti;{}[]-/>()'\"\\ \nfoarnxelpdc", max_size=150))
def test_every_character_soup_is_read(text: str) -> None:
    unit = compile_unit(text, "soup", "soup")
    assert "E900" not in {d.code for d in unit.diagnostics}, text


def test_the_table_is_cached_as_json_between_processes(tmp_path: Path) -> None:
    """Building the table needs Lark (~0.2 s); a later process reads the cached JSON instead."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = (
        "import sys\nfrom dsm.reader import table\nt = table()\n"
        "print(len(t.by_state), 'lark' in sys.modules)\n"
    )

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, errors="replace", timeout=120
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    states, built = run()
    (cached,) = list((tmp_path / "dsm").glob("grammar-*.json"))
    assert built == "True" and run() == [states, "False"]
    cached.write_text("{not json")  # a broken cache is rebuilt, never trusted
    assert run() == [states, "True"]
    assert json.loads(cached.read_text())["start"] >= 0
