"""Compile errors, leniencies and logged errors (language.md section 7 and 8, L-90 … L-92)."""

from __future__ import annotations

import pytest
from lang_helpers import chart, codes, fail, warning_codes

from dsm import CompileError, compile_source
from dsm.diagnostics import render

# L-90: the complete list of compile errors, one input each.
L90_TABLE = [
    ("1-include-empty", '#include ""', "E001"),
    ("1-include-missing", "#include /nonexistent/dir/x.dsm", "E002"),
    ("2-import-empty", "import()", "E004"),
    ("2-import-unknown", "import(mod_does_not_exist)", "E005"),
    ("3-no-context", "oops", "E006"),
    ("4-function-name", "function f { stop };", "E007"),
    ("4-function-token", "function f() stop;", "E008"),
    ("5-if-token", "initial state A enter { if [ hangup ] stop };", "E009"),
    ("6-actions-closed-wrong", "initial state A enter { if hangup / stop } };", "E010"),
    (
        "6-conditions-closed-wrong",
        "state A; transition t A - hangup -> A; function f() { if [ ] } ] };",
        None,
    ),
    ("7-else", "initial state A enter { stop else { stop } };", "E012"),
    ("8-for-header", "initial state A enter { for $x { stop } };", "E013"),
    ("9-unknown-action", "initial state A enter { nope() };", "E014"),
    ("10-unknown-condition", "state A; transition t A - nope -> A;", "E015"),
    ("11-undefined-source", "transition t A - hangup -> A;", "E016"),
]


@pytest.mark.parametrize(("case", "text", "code"), L90_TABLE, ids=[row[0] for row in L90_TABLE])
def test_L90_compile_errors(case: str, text: str, code: str | None) -> None:
    errs = fail(text)
    if code is not None:
        assert code in codes(errs)


def test_L90_several_errors_reported_in_one_run() -> None:
    text = "initial state A enter { nope1() nope2() };\ntransition t B - nope3 -> A;\n"
    assert codes(fail(text)) == ["E014", "E014", "E016", "E015"]


def test_compile_error_carries_warnings_too() -> None:
    with pytest.raises(CompileError) as info:
        compile_source("initial state A enter { set($a) nope() };", consistency_check=False)
    assert sorted(d.code for d in info.value.diagnostics) == ["E014", "W001"]


def test_diagnostic_rendering_with_caret_and_hint() -> None:
    d = fail("initial state A enter {\n    playPromt(x) };")[0]
    text = render(d)
    lines = text.splitlines()
    assert lines[:3] == [
        "t:2:5: error: unknown action `playPromt` [E014]",
        "        playPromt(x) };",
        "        ^~~~~~~~~~~~",
    ]
    assert lines[3].startswith("    hint: did you mean `playPrompt`")


def test_messages_escape_line_breaks() -> None:
    d = fail("state A; bogus(\nx")[0]
    assert "\n" not in d.message


# L-91: silently accepted (no error, no warning of the reference).
L91_TABLE = [
    ("1", "initial state A enter { log(1,a) log(1,b);;; };;"),
    ("2", "initial state A enter log(1,a) };"),
    ("3", "state A; transition t A - { hangup } [ -> A;"),
    ("4", "initial state A enter { stop -> ;"),
    ("5", "initial state A enter { stop } } stray ;"),
    ("6", "state A; transition t A - hangup -> A -- remark\n;"),
    ("7", "state A; state B; transition t A B; transition u A -/ stop -> B;"),
    ("8", "state A; transition t A - not not exception not -> A;"),
    ("9", "initial state A enter { if test($a == 1) test($b == 2) } { stop } };"),
    ("10", "initial state A enter { if hangup { stop } ; else stop; } else { stop } };"),
    ("11", "state A; state B"),
    ("13", "function log() { stop }; initial state A enter { log(1, 2) };"),
    ("14", "initial state A enter { set(n=1) inc(n) append(n, x) clear(n) };"),
    ("15", "initial state A enter { stop(true)xyz };"),
    (
        "16",
        "state A; state A; function f() { stop }; function f() { stop };"
        "transition t A - hangup -> A; transition t A - hangup -> A; initial state I enter { f() };",
    ),
    ("17", "state A; transition t A - hangup -> NOWHERE;"),
    ("18", "state A;"),
    ("19", 'initial state A enter { log(1, "c:\\" x) };'),
    ("21", 'state "" A;'),
    ("22", "state A enter { import(mod_does_not_exist_either) };"),
    ("23", "initial state A\r\nenter { stop };\r\n"),
]


@pytest.mark.parametrize(
    ("item", "text"),
    [r for r in L91_TABLE if r[0] != "22"],
    ids=[r[0] for r in L91_TABLE if r[0] != "22"],
)
def test_L91_silently_accepted(item: str, text: str) -> None:
    c = chart(text)
    assert warning_codes(c) == []


def test_L91_22_import_tokens_anywhere_even_inside_blocks() -> None:
    # accepted syntactically; here the module is missing, which is an error (L-90.2)
    assert codes(fail("initial state A enter { import(mod_does_not_exist_either) };")) == ["E005"]


def test_L91_12_state_semicolon_much_later() -> None:
    c = chart("initial state A enter { stop }\nstate B;\nstate C;\n;")
    assert [s.name for s in c.states] == ["B", "C", "A"]


def test_L91_20_tokens_ignored_by_parsed_for() -> None:
    c = chart("initial state A enter { for ($x in $a) ignored words { stop } };")
    assert len(c.states[0].enter) == 1


# L-92: accepted with a logged error -> warnings.
L92_TABLE = [
    ("1-P-missing-separator", "initial state A enter { set($a) };", "W001"),
    ("1-P-empty-part", "initial state A enter { log(1,) };", "W001"),
    ("2-T-no-operator", "state A; transition t A - test($a = 1) -> A;", "W002"),
    ("3-second-initial", "initial state A; initial state B;", "W003"),
    ("4-for-brace", "initial state A enter { for ($x in $a) } };", "W004"),
    ("5-DI-pieces", "initial state A enter { DI(only) };", "W005"),
]


@pytest.mark.parametrize(("case", "text", "code"), L92_TABLE, ids=[r[0] for r in L92_TABLE])
def test_L92_logged_errors_are_warnings(case: str, text: str, code: str) -> None:
    assert warning_codes(chart(text)) == [code]
