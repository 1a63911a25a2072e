"""The grammar-driven reader (grammar/dsm.lark, dsm/reader.py) as a parser.

The language it reads is tested rule by rule elsewhere (test_parser.py and
friends); these tests hold the grammar itself to its promises: it is LALR,
every `x_` rule has its action, and it accepts every token sequence (only the
end of the input inside an open construct is an error).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import PIECES

from dsm.compiler import compile_unit
from dsm.lexclasses import grammar_text
from dsm.reader import Reader, classify, table

SOUP = [*PIECES, "enter", "exit", "else", "fortune", "f(", "x(", "'q'", "-->", "-/"]


def test_the_table_is_built_from_dsm_lark_and_every_action_exists() -> None:
    t = table()
    assert t.by_state and t.start in range(len(t.by_state))
    rules = set(re.findall(r"^(x_\w+):", grammar_text(), re.MULTILINE))
    methods = {m for m in dir(Reader) if m.startswith("x_")}
    assert rules == methods


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
