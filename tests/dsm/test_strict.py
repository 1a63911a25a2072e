"""``--strict``: the grammar's marked leniencies (``-> lenient_…`` in grammar/dsm.lark)."""

from __future__ import annotations

import pytest

from dsm.lexclasses import lex_classes
from dsm.reader import classify
from dsm.source import preprocess_text
from dsm.strict import strict_diagnostics
from dsm.tokenizer import tokenize


def strict(text: str) -> list[str]:
    src = preprocess_text(text)
    return [d.message for d in strict_diagnostics(src, *tokenize(src.text))]


def test_lexical_classes_come_from_the_grammar_file() -> None:
    lc = lex_classes()
    assert set(lc.whitespace) == {" ", "\t", "\r", "\n"}  # L-21
    assert set(lc.punctuation) == set(";{}[]")  # L-22
    assert set(lc.quotes) == {'"', "'"} and lc.span_open == "("


@pytest.mark.parametrize(
    "text",
    [
        "import(mod_x) ; initial state A enter { log(1,x) } exit { stop } ;",
        "function f() { log(1,x) };",
        "state A; transition t A - key(#key == 1) not hangup / { log(1,x) } -> B;",
        "transition t A - [ hangup ] / stop -> B;",
        "transition t A -/ stop -> B;",
        "transition t A B extra words;",
        "state S enter { if test($a == 1) test($b == 2) { a() } ; else { if [ hangup ] { b() } else { c() } } };",
        "state S enter { for ($i in range(3)) { a() } for($x in $y) { b() } };",
    ],
)
def test_well_formed_subset_gives_no_warnings(text: str) -> None:
    assert strict(text) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("state A enter { a() } state B;", "unexpected `state`"),
        ("state A; stray", "unexpected `stray`"),
        ("state A enter { a() }", "ends inside"),
        ("state A enter { for ($x in $y) a() };", "unexpected `a()`"),
        ("transition t A - key -> B C D -> E;", "unexpected `->`"),
    ],
)
def test_leniencies_are_reported(text: str, fragment: str) -> None:
    msgs = strict(text)
    assert msgs and any(fragment in m for m in msgs)


def test_classify() -> None:
    assert classify("import(x)") == "IMPORT" and classify("import") == "WORD"
    assert classify("for($i in $a)") == "FORP" and classify("format(x)") == "FORP"
    assert classify("->") == "ARROW" and classify(";") == "SEMI"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("transition t A B;", None),
        ("transition t A;", "unexpected `;`"),
        ("transition t A -> B - key;", "unexpected `-`"),
        ("state A enter { a() -> ;", None),
        ("state A enter { if hangup { a() -> } };", "unexpected `->`"),
        ("state A enter { if hangup -> { a() } };", "unexpected `->`"),
        ("state A enter { if [ hangup ] { a() } };", None),
        ("state A enter { if hangup [ x ] { a() } };", "unexpected `[`"),
        ("initial junk state A;", "unexpected `junk`"),
        ("state A stray;", "unexpected `stray`"),
        ("state { ;", "unexpected `{`"),
        ("function f();", "unexpected `;`"),
        ("state A; transition t A - import(mod_x) key -> A;", "unexpected `import(mod_x)`"),
        ("state A enter { import(mod_x) };", None),
        ("state A enter { enter };", "unexpected `enter`"),
    ],
)
def test_each_marked_leniency(text: str, fragment: str | None) -> None:
    msgs = strict(text)
    if fragment is None:
        assert msgs == []
    else:
        assert len(msgs) == 1 and fragment in msgs[0]


def test_marked_alternatives_are_in_the_grammar() -> None:
    from dsm.lexclasses import grammar_text

    text = grammar_text()
    assert text.count("-> lenient_") >= 30
    assert "wellformed" not in text


def test_recovery_reports_each_region_once() -> None:
    msgs = strict("state A enter { a() } state B;\nstate C enter { b() } state D;\n")
    assert len(msgs) == 2
