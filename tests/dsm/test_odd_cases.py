"""Odd and ambiguous cases: every row of the L-93 table (language.md section 9)."""

from __future__ import annotations

from lang_helpers import chart, codes, fail, toks

from dsm import Action, For, If


def test_L93_01_extra_closing_brace_ignored_by_state() -> None:
    c = chart("initial state  READY enter { stop } };")
    assert c.states[0].name == "READY" and len(c.states[0].enter) == 1


def test_L93_02_second_brace_becomes_the_target() -> None:
    c = chart("state A; state B; transition t A / { stop } } -> B;")
    assert c.states[0].transitions[0].target == "}"


def test_L93_03_dash_word_becomes_the_target() -> None:
    c = chart("state A; state B; transition t A -key -> B;")
    t = c.states[0].transitions[0]
    assert t.target == "-key" and t.conditions == ()


def test_L93_04_slash_after_target_opens_a_list_until_brace_or_arrow() -> None:
    c = chart("state A; state B; transition t A - key -> B / stop; state C; } ;")
    t = c.states[0].transitions[0]
    assert t.target == "B" and [a.name for a in t.actions] == ["stop"]  # type: ignore[union-attr]
    assert [s.name for s in c.states] == ["A", "B", "C"]


def test_L93_05_state_without_semicolon_then_transition_fails() -> None:
    errs = fail("initial state A enter { stop }\ntransition t A - hangup -> A;")
    assert codes(errs) == ["E016"]


def test_L93_06_state_added_when_a_later_semicolon_arrives() -> None:
    c = chart("state B;\ninitial state A enter { stop }\nstate C;\n;")
    assert [s.name for s in c.states] == ["B", "C", "A"] and c.initial == "A"


def test_L93_07_arrow_continuation_line_is_a_comment() -> None:
    c = chart('state A; state B;\ntransition "y" A\n  --> B;\nstate C;\nZ\n;')
    # the open transition takes Z as its target once C is complete, then ; completes it
    assert c.states[0].transitions[0].target == "Z"


def test_L93_08_apostrophe_swallows_text() -> None:
    vals = toks("initial state A enter { log(2, it's) };\nstate B;\nstate C ' ;")
    assert vals[5].startswith("log(2, it's) };") and vals[5].rstrip().endswith("C ' ;")


def test_L93_09_for_without_braces_dropped_brace_does_not_close_list() -> None:
    c = chart("initial state A enter { for ($x in $a) log(1,$x) } stop };")
    assert [type(e).__name__ for e in c.states[0].enter] == ["Action"]
    assert "W004" in [w.code for w in c.warnings]


def test_L93_10_format_and_forward_are_for_loops() -> None:
    assert codes(fail("initial state A enter { format(x) };")) == ["E013"]
    assert codes(fail("initial state A enter { forward(x) };")) == ["E013"]


def test_L93_11_state_important_is_an_import() -> None:
    assert codes(fail("state important;")) == ["E004"]


def test_L93_12_top_level_block_replaces_function_body() -> None:
    c = chart("function f() { log(1,x) };\n{ repost; };\ninitial state A enter { f() };")
    assert [e.name for e in c.states[0].enter] == ["repost"]  # type: ignore[union-attr]


def test_L93_13_test_without_operator_logged_never_true() -> None:
    c = chart("initial state A enter { if test($a = 1) { stop } };")
    block = c.states[0].enter[0]
    assert isinstance(block, If) and block.conditions[0].args == ("", "", "")
    assert [w.code for w in c.warnings] == ["W002"]


def test_L93_14_not_test_without_operator() -> None:
    block = chart("initial state A enter { if not test($a = 1) { stop } };").states[0].enter[0]
    assert (
        isinstance(block, If)
        and block.conditions[0].invert
        and block.conditions[0].args == ("", "", "")
    )


def test_L93_15_keypress_literal_with_blank() -> None:
    cond = (
        chart("state A; transition t A - keyPress( 1) -> A;").states[0].transitions[0].conditions[0]
    )
    assert cond.args == (" 1",)


def test_L93_16_glued_actions_are_one() -> None:
    enter = chart("initial state A enter { set($x=$y)set($z=1) };").states[0].enter
    assert len(enter) == 1


def test_L93_17_source_list_blanks() -> None:
    c = chart("state A; state B; transition t (A ,B) - key -> A;")
    assert [len(s.transitions) for s in c.states] == [1, 1]


def test_L93_18_source_list_two_blanks_fail() -> None:
    assert codes(fail("state A; state B; transition t (A,  B) - key -> A;")) == ["E016"]


def test_L93_19_crlf_include_name(tmp_path: object) -> None:
    errs = fail('#include "x"\r\nstate A;\r\n')
    assert codes(errs) == ["E002"]
    assert "\\r" in errs[0].message  # the CR stays in the file name, shown escaped
    assert "ends in a CR" in errs[0].hint and "L-" not in errs[0].hint  # no spec rule IDs for users


def test_L93_20_quoted_name_loses_last_char() -> None:
    assert chart('state "abc"def;').states[0].name == 'abc"de'


def test_L93_21_text_after_paren_ignored() -> None:
    cond = (
        chart("state A; transition t A - test(#key == 1)x -> A;")
        .states[0]
        .transitions[0]
        .conditions[0]
    )
    assert cond.args == ("==", "#key", "1")


def test_L93_22_bracketed_if_conditions_valid() -> None:
    block = chart("initial state A enter { if [ test($a == 1) ] { stop } };").states[0].enter[0]
    assert isinstance(block, If) and len(block.conditions) == 1


def test_L93_23_last_else_wins() -> None:
    block = (
        chart("initial state A enter { if test($a == 1) { stop } else { repost } else { break } };")
        .states[0]
        .enter[0]
    )
    assert isinstance(block, If)
    assert [a.name for a in block.orelse] == ["break"]  # type: ignore[union-attr]


def test_L93_24_else_first_in_list() -> None:
    assert codes(fail("initial state A enter { else { stop } };")) == ["E012"]


def test_L93_25_exception_inside_if_conditions() -> None:
    block = (
        chart("initial state A enter { if exception test($a == 1) { stop } };").states[0].enter[0]
    )
    assert isinstance(block, If) and len(block.conditions) == 1


def test_L93_26_empty_transition_name_vanishes() -> None:
    errs = fail('state A; state B; transition "" A - key -> B;')
    # name A, source "-": state "-" is unknown
    assert codes(errs) == ["E016"] and "`-`" in errs[0].message


def test_else_if_chain_type_check() -> None:
    c = chart("initial state A enter { for ($i in range(2)) { if test($i == 1) { break } } };")
    loop = c.states[0].enter[0]
    assert isinstance(loop, For) and isinstance(loop.body[0], If)
    assert isinstance(loop.body[0].then[0], Action)
