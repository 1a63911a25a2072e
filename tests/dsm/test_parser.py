"""Reading statements (language.md section 4, L-31 … L-74) and token naming (L-75 … L-81)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lang_helpers import chart, codes, fail

from dsm import Action, For, If
from dsm.parser import name_and_argument
from dsm.reader import Reader
from dsm.source import preprocess_text
from dsm.vocabulary import CORE_CONDITIONS


def names(elements: tuple[object, ...]) -> list[str]:
    out = []
    for e in elements:
        if isinstance(e, Action):
            out.append(e.name)
        elif isinstance(e, If):
            out.append("if")
        elif isinstance(e, For):
            out.append("for")
    return out


# -- 4.2 global keywords ------------------------------------------------------
def test_L32_keywords_recognised_inside_other_constructs() -> None:
    c = chart("state A enter { log(1, x) state B; };")
    # B opens on top of A's unfinished enter list; A completes at the final `;`
    assert [s.name for s in c.states] == ["B", "A"]
    assert names(c.states[1].enter) == ["log"]


def test_L33_import_prefix_quirk_state_named_important() -> None:
    errs = fail("state important;")
    assert errs[0].code in ("E004", "E005") and "starts with `import` is a module import" in errs[0].hint


def test_L33_quoted_token_starting_with_import() -> None:
    assert fail('state A; transition "imported calls" A - hangup -> A;')[0].code in ("E004", "E005")


def test_L33_bare_import_word_at_top_level_is_no_context() -> None:
    assert codes(fail("import")) == ["E006"]


@pytest.mark.parametrize("kw", ["state", "transition", "initial", "function"])
def test_L34_L37_keywords_are_case_sensitive(kw: str) -> None:
    assert codes(fail(kw.upper())) == ["E006"]


# -- 4.3 top level ---------------------------------------------------------------
def test_L38_semicolons_ignored_at_top_level() -> None:
    assert chart(";;; state A ;;;").states[0].name == "A"


def test_L38_other_token_at_top_level_is_an_error() -> None:
    errs = fail("state A; stray")
    assert codes(errs) == ["E006"] and "stray" in errs[0].message


# -- 4.4 STATE -------------------------------------------------------------------
def test_L39_any_token_becomes_the_name() -> None:
    c = chart("state ; ; state enter;")
    assert [s.name for s in c.states] == [";", "enter"]


def test_L40_second_enter_block_overrides_the_first() -> None:
    c = chart("initial state A enter { log(1,a) } exit { log(1,x) } enter { stop };")
    assert names(c.states[0].enter) == ["stop"] and names(c.states[0].exit) == ["log"]


def test_L41_semicolon_completes_and_marks_initial() -> None:
    c = chart("state A; initial state B;")
    assert c.initial == "B"


def test_L42_stray_tokens_in_state_ignored() -> None:
    c = chart("state A enter { stop } } stray words ;")
    assert names(c.states[0].enter) == ["stop"]


def test_L43_duplicate_states_kept_first_wins() -> None:
    c = chart(
        "initial state A enter { log(1,first) }; state A enter { log(1,second) };"
        "transition t A - hangup -> A;"
    )
    assert len(c.states) == 2
    assert c.state("A") is c.states[0]
    assert len(c.states[0].transitions) == 1 and c.states[1].transitions == ()


def test_L43_second_initial_is_a_logged_error_first_kept() -> None:
    c = chart("initial state A; initial state B;")
    assert c.initial == "A"
    assert [w.code for w in c.warnings] == ["W003"]


def test_L43_initial_applies_to_state_after_other_statements() -> None:
    c = chart("state A; initial transition t A - hangup -> A; state X;")
    assert c.initial == "X" and c.states[0].transitions[0].target == "A"


# -- 4.5 TRANSITION ------------------------------------------------------------
def test_L44_order_name_source_arrows_conditions_actions_target() -> None:
    c = chart("state A; state B; transition t A - hangup / stop -> B;")
    t = c.states[0].transitions[0]
    assert (t.name, t.source, t.target) == ("t", "A", "B")
    assert [x.name for x in t.conditions] == ["hangup"] and names(t.actions) == ["stop"]


@pytest.mark.parametrize(
    "text",
    [
        "transition t A B;",
        "transition t A -> B;",
        "transition t A --> B;",
        "transition t A / stop -> B;",
        "transition t A -/ stop -> B;",
    ],
)
def test_L44_missing_dash_or_arrow_accepted(text: str) -> None:
    c = chart("state A; state B;" + text)
    assert c.states[0].transitions[0].target == "B"


def test_L44_later_tokens_after_target_ignored() -> None:
    c = chart("state A; transition t A - hangup -> A extra words;")
    assert c.states[0].transitions[0].target == "A"


def test_L45_source_list_splitting() -> None:
    c = chart(
        "state IDLE; state BUSY; transition 'any key' (IDLE, BUSY) - key / log(3, k) -> IDLE;"
    )
    assert [len(s.transitions) for s in c.states] == [1, 1]
    assert c.states[1].transitions[0].source == "BUSY"


def test_L45_only_one_blank_each_side_removed() -> None:
    errs = fail("state IDLE; state BUSY; transition x (IDLE,  BUSY) - key -> IDLE;")
    assert codes(errs) == ["E016"] and "` BUSY`" in errs[0].message


def test_L45_quotes_are_not_removed_inside_the_list() -> None:
    assert codes(fail('state IDLE; transition y ("my state", IDLE) - key -> IDLE;')) == ["E016"]


def test_L45_source_must_exist_before_the_semicolon() -> None:
    errs = fail("transition t A - hangup -> A; state A;")
    assert codes(errs) == ["E016"] and "declared states" in errs[0].hint


def test_L45_target_not_checked() -> None:
    assert (
        chart("state A; transition t A - hangup -> NOWHERE;").states[0].transitions[0].target
        == "NOWHERE"
    )


def test_L46_order_of_semicolons_is_priority() -> None:
    c = chart("state A; transition one A - key -> A; transition two A - hangup -> A;")
    assert [t.name for t in c.states[0].transitions] == ["one", "two"]


# -- 4.6 CONDITIONS ------------------------------------------------------------
def test_L47_separators_and_brackets_are_decoration() -> None:
    c = chart("state A; transition t A - { key; hangup; } [ ; / stop -> A;")
    assert [x.name for x in c.states[0].transitions[0].conditions] == ["key", "hangup"]


def test_L47_closed_by_bracket() -> None:
    c = chart("state A; transition t A - [ hangup ] -> A;")
    assert c.states[0].transitions[0].conditions[0].name == "hangup"


def test_L48_not_applies_to_next_condition_only() -> None:
    c = chart("state A; transition t A - not key hangup not not test($a == 1) not -> A;")
    conds = c.states[0].transitions[0].conditions
    assert [(x.name, x.invert) for x in conds] == [
        ("key", True),
        ("hangup", False),
        ("test", False),
    ]


def test_L48_exception_anywhere() -> None:
    c = chart(
        "state A; transition t A - key exception / stop -> A; transition u A - exception / stop -> A;"
    )
    t, u = c.states[0].transitions
    assert t.exception and u.exception and u.conditions == ()


def test_L48_empty_condition_list() -> None:
    c = chart("state A; transition t A - / stop -> A; transition u A - -> A;")
    assert [t.conditions for t in c.states[0].transitions] == [(), ()]


def test_L47_7_unknown_condition_is_an_error_with_suggestion() -> None:
    errs = fail("state A; transition t A - hangupp -> A;")
    assert codes(errs) == ["E015"] and "hangup" in errs[0].hint


# -- 4.7 ACTIONS -----------------------------------------------------------------
def test_L49_semicolons_and_extra_braces_ignored() -> None:
    c = chart("initial state A enter { { ;log(1,a);; stop } };")
    assert names(c.states[0].enter) == ["log", "stop"]


def test_L49_7_unknown_action_is_an_error_with_suggestion() -> None:
    errs = fail("initial state A enter { playPromt(x) };")
    assert codes(errs) == ["E014"] and "playPrompt" in errs[0].hint


def test_L50_closing_list_without_owner() -> None:
    assert "E010" in codes(
        fail("function f() { log(1,x) }; state A enter { if test($a == 1) / log(1,x) } };")
    )


def test_L51_opening_brace_optional() -> None:
    c = chart("initial state A enter log(1, hi); } ; state B; transition t A / stop(true) -> B;")
    assert names(c.states[0].enter) == ["log"]
    assert names(c.states[0].transitions[0].actions) == ["stop"]


def test_L51_first_closing_brace_closes() -> None:
    c = chart("initial state A enter { { log(1,a) } log(1,b) } ;")
    assert names(c.states[0].enter) == ["log"]


def test_L51_list_closed_by_arrow() -> None:
    c = chart("state A; state B; transition t A / log(1,a); log(1,b) -> B;")
    assert names(c.states[0].transitions[0].actions) == ["log", "log"]
    assert c.states[0].transitions[0].target == "B"


def test_L51_brace_closed_list_without_arrow() -> None:
    c = chart("state A; state B; transition t A / { stop } B;")
    assert c.states[0].transitions[0].target == "B"


def test_L51_no_brace_no_arrow_makes_the_target_an_action() -> None:
    assert codes(fail("state A; state B; transition t A / stop B;")) == ["E014"]


def test_L51_arrow_closes_an_enter_block() -> None:
    c = chart("initial state A enter log(1,a) -> ;")
    assert names(c.states[0].enter) == ["log"]


# -- 4.8 if / else -----------------------------------------------------------------
def test_L52_if_glued_to_condition_is_an_action_lookup() -> None:
    assert codes(fail("initial state A enter { if(test($a == 1)) { stop } };")) == ["E014"]


def test_L53_separators_optional_brace_ignored() -> None:
    c = chart("initial state A enter { if test($a == 1) } test($b == 2) { stop } };")
    block = c.states[0].enter[0]
    assert isinstance(block, If) and [x.name for x in block.conditions] == ["test", "test"]
    assert names(block.then) == ["stop"]


def test_L54_bracket_form() -> None:
    c = chart("initial state A enter { if [ test($a == 1) ] { stop } };")
    block = c.states[0].enter[0]
    assert isinstance(block, If) and len(block.conditions) == 1 and names(block.then) == ["stop"]


def test_L55_if_without_conditions() -> None:
    block = chart("initial state A enter { if { stop } };").states[0].enter[0]
    assert isinstance(block, If) and block.conditions == ()


def test_L56_if_frame_closed_by_semicolon_after_bracket() -> None:
    block = chart("initial state A enter { if [ hangup ] ; stop };").states[0].enter
    assert names(block) == ["if", "stop"]


def test_L56_other_token_on_if_frame_is_an_error() -> None:
    assert "E009" in codes(fail("initial state A enter { if [ hangup ] stop };"))


def test_L57_if_slash_form_is_unusable() -> None:
    errs = fail("initial state A enter { if test($a == 1) / stop } };")
    assert "E010" in codes(errs)


def test_L58_else_reopens_the_last_if() -> None:
    block = (
        chart("initial state A enter { if test($a == 1) { log(1,a) } ; else { log(1,b) } };")
        .states[0]
        .enter[0]
    )
    assert isinstance(block, If) and names(block.then) == ["log"] and names(block.orelse) == ["log"]


def test_L58_else_without_if_is_an_error() -> None:
    assert codes(fail("initial state A enter { log(1,a) else { stop } };")) == ["E012"]


def test_L59_else_without_brace_and_repeated_else() -> None:
    c = chart(
        "initial state A enter { if test($a == 1) { log(1,a) } else stop; } else { repost } };"
    )
    block = c.states[0].enter[0]
    assert isinstance(block, If) and names(block.orelse) == ["repost"]


def test_L59_else_if_needs_an_extra_brace() -> None:
    text = """initial state A enter {
        if test(#key == 1) { log(3, one) }
        else if test(#key == 2) { log(3, two) }
        else { log(3, other) }
        }
        stop
    };"""
    enter = chart(text).states[0].enter
    assert names(enter) == ["if", "stop"]
    inner = enter[0].orelse[0]  # type: ignore[union-attr]
    assert isinstance(inner, If) and names(inner.orelse) == ["log"]


def test_L59_else_if_without_extra_brace_swallows_following_actions() -> None:
    """REFERENCE QUIRK: the next `}` closes the outer else list."""
    text = """initial state A enter {
        if test(#key == 1) { log(3, one) }
        else if test(#key == 2) { log(3, two) }
        else { log(3, other) }
        stop
    } -> ;"""
    enter = chart(text).states[0].enter
    assert names(enter) == ["if"]
    assert names(enter[0].orelse) == ["if", "stop"]  # type: ignore[union-attr]


# -- 4.9 for ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("($x in $a)", ("array", "$x", "", "$a", "", "")),
        ("($k,$v in $s)", ("struct", "$k", "$v", "$s", "", "")),
        ("($k, $v in $s)", ("struct", "$k", " $v", "$s", "", "")),
        ("( $x in $a )", ("array", " $x", "", "$a ", "", "")),
        ("($i in range(3))", ("range", "$i", "", "", "0", "3")),
        ("($i in range( 1 , 5 ))", ("range", "$i", "", "", "1", "5")),
        ("($i in range(1,2,3))", ("range", "$i", "", "", "0", "1,2,3")),
    ],
)
def test_L60_for_headers(header: str, expected: tuple[str, ...]) -> None:
    loop = chart(f"initial state A enter {{ for {header} {{ log(1,x) }} }};").states[0].enter[0]
    assert isinstance(loop, For)
    assert (
        loop.kind,
        loop.counter,
        loop.value,
        loop.collection,
        loop.lower,
        loop.upper,
    ) == expected
    assert names(loop.body) == ["log"]


@pytest.mark.parametrize("header", ["$x in $a", "()", "($x of $a)", "($x in $a in $b)", "("])
def test_L60_invalid_headers(header: str) -> None:
    assert "E013" in codes(fail(f"initial state A enter {{ for {header} {{ stop }} }};"))


def test_L61_glued_header() -> None:
    loop = chart("initial state A enter { for($i in $list) { stop } };").states[0].enter[0]
    assert isinstance(loop, For) and loop.collection == "$list"


@pytest.mark.parametrize("action", ["format(x)", "forward(x)"])
def test_L61_actions_starting_with_for(action: str) -> None:
    errs = fail(f"initial state A enter {{ {action} }};")
    assert codes(errs) == ["E013"] and "taken for a `for` loop" in errs[0].hint


def test_L62_tokens_ignored_and_brace_drops_the_loop() -> None:
    c = chart("initial state A enter { for ($x in $a) log(1,$x) } stop };")
    assert names(c.states[0].enter) == ["stop"]
    assert [w.code for w in c.warnings] == ["W004"]


def test_L63_break_is_an_ordinary_action() -> None:
    assert names(chart("initial state A enter { break() break };").states[0].enter) == [
        "break",
        "break",
    ]


# -- 4.10 function -----------------------------------------------------------------
def test_L64_function_name_needs_paren() -> None:
    errs = fail("function greet () { log(1,x) };")
    assert codes(errs)[0] == "E007"


def test_L64_4_other_token_is_an_error() -> None:
    assert "E008" in codes(fail("function f() x { log(1,x) };"))


def test_L65_stray_block_replaces_last_function_body() -> None:
    c = chart("function f() { log(1,x) }; { stop }; initial state A enter { f() };")
    assert names(c.states[0].enter) == ["stop"]


def test_L65_stray_token_after_function_is_an_error() -> None:
    errs = fail("function f() { log(1,x) }; stray")
    assert codes(errs) == ["E008"] and "handed to it" in errs[0].hint


def test_L66_function_must_be_registered_before_call() -> None:
    assert codes(fail("initial state A enter { f() }; function f() { stop };")) == ["E014"]
    assert "E014" in codes(fail("function f() { f() };"))


def test_L66_unterminated_definition_never_registered() -> None:
    assert "E014" in codes(fail("function f() { stop } initial state A enter { f() };"))


def test_L67_first_function_of_a_name_wins() -> None:
    c = chart("function f() { log(1,one) }; function f() { stop }; initial state A enter { f() };")
    assert names(c.states[0].enter) == ["log"]


def test_L68_inlining_ignores_arguments_and_shadows_actions() -> None:
    c = chart("function log() { stop }; initial state A enter { log(1, 2) log(x) };")
    assert names(c.states[0].enter) == ["stop", "stop"]


def test_L68_body_as_it_is_at_the_call() -> None:
    c = chart(
        "function f() { log(1,a) }; initial state A enter { f() }; { stop }; state B enter { f() };"
    )
    assert names(c.states[0].enter) == ["log"] and names(c.states[1].enter) == ["stop"]


def test_L68_functions_not_recognised_in_conditions() -> None:
    assert codes(fail("function f() { stop }; state A; transition t A - f() -> A;")) == ["E015"]


def test_L69_function_inside_function_fails() -> None:
    assert fail("function f() { function g() { stop }; log(1,x) }; initial state A enter { f() };")


# -- 4.11 INITIAL and end of input --------------------------------------------------
def test_L70_initial_ignores_other_tokens() -> None:
    assert chart("initial stray words state A;").initial == "A"


def test_L71_unfinished_constructs_are_errors() -> None:
    """L-71 with the section-0 exception: the reference drops them, here they fail."""
    assert codes(fail("state A; state B enter { stop")) == ["E018"]
    assert codes(fail("state A; transition t A - hangup -> A")) == ["E018"]
    assert codes(fail("state A; function f() { stop }")) == ["E018"]
    assert codes(fail("state A; initial")) == ["E018"]


def test_L72_interleaving_unfinished_transition_takes_a_later_word() -> None:
    c = chart("state A; transition t A - hangup -> B\n state C; ;")
    # the stray ";" completes the transition that was left open below C
    assert [t.target for t in c.states[0].transitions] == ["B"]


def test_L72_state_added_only_when_its_semicolon_arrives() -> None:
    errs = fail("state A enter { stop }\n transition t A - hangup -> A;")
    assert codes(errs) == ["E016"] and "not complete" in errs[0].hint


def test_L72_state_x_state_y() -> None:
    errs = fail("state X state Y;")  # Y is added, X stays open and fails at the end
    assert codes(errs) == ["E018"] and errs[0].column == 1
    assert "before the `state` at line 1, column 9" in errs[0].hint
    assert [s.name for s in chart("state X state Y; ;").states] == ["Y", "X"]


# -- 4.12 imports -----------------------------------------------------------------
MODULE_SOURCE = """
from dsm.runtime.registry import Module

module = Module("mod_langtest")
module.action("t.act", "P,mand")(print)
module.action("log", "raw")(print)
module.condition("t.cond", "S")(print)
"""
"""A module file as the compiler reads it: declarations only, never run (L-73)."""


@pytest.fixture
def module_dir(tmp_path: Path) -> str:
    (tmp_path / "mod_langtest.py").write_text(MODULE_SOURCE)
    return str(tmp_path)


def test_L73_import_loads_module_names(module_dir: str) -> None:
    c = chart(
        "import(mod_langtest)\nstate A enter { t.act(a, b) };\ntransition t A - t.cond(x) -> A;",
        module_path=[module_dir],
    )
    assert c.imports == ("mod_langtest",)
    act = c.states[0].enter[0]
    assert isinstance(act, Action) and (act.module, act.args) == ("mod_langtest", ("a", "b"))
    assert c.states[0].transitions[0].conditions[0].module == "mod_langtest"


def test_L73_module_name_not_trimmed(module_dir: str) -> None:
    assert codes(fail("import( mod_langtest )", module_path=[module_dir])) == ["E005"]


def test_L73_empty_or_missing_module() -> None:
    assert codes(fail("import()")) == ["E004"]
    assert codes(fail("import(no_such_module_xyz)")) == ["E005"]


def test_L74_import_applies_to_later_tokens_only(module_dir: str) -> None:
    errs = fail(
        "state A enter { t.act(a,b) import(mod_langtest) t.act(a,b) };", module_path=[module_dir]
    )
    assert codes(errs) == ["E014"]


def test_L80_modules_before_core(module_dir: str) -> None:
    c = chart("import(mod_langtest) initial state A enter { log(1, x) };", module_path=[module_dir])
    act = c.states[0].enter[0]
    assert isinstance(act, Action) and act.module == "mod_langtest" and act.args == ("1, x",)


# -- 6.1 names and argument text ------------------------------------------------------
@pytest.mark.parametrize(
    ("token", "name", "args"),
    [
        ("stop", "stop", ("",)),
        ("stop()", "stop", ("",)),
        ("stop(  )", "stop", ("",)),
        ("stop(true)xyz", "stop", ("true",)),
        ("stop(a(b)c)", "stop", ("a(b)c",)),
    ],
)
def test_L75_L76_name_and_argument_text(token: str, name: str, args: tuple[str, ...]) -> None:
    act = chart(f"initial state A enter {{ {token} }};").states[0].enter[0]
    assert isinstance(act, Action) and (act.name, act.args) == (name, args)


def test_L75_no_closing_paren() -> None:
    assert name_and_argument("stop(open") == ("stop", "open")
    assert name_and_argument("a)b(c") == ("a)b", "c")


def test_L77_blank_before_paren_splits_the_token() -> None:
    errs = fail("initial state A enter { log (1, x) };")
    assert codes(errs) == ["E014"] and "splits the token" in errs[0].hint


def test_L78_names_with_dots() -> None:
    act = chart("initial state A enter { B2B.connectCallee(sip:a@b, sip:a@b) };").states[0].enter[0]
    assert isinstance(act, Action) and act.name == "B2B.connectCallee"


def test_L79_glued_statements_are_one_token() -> None:
    act = chart("initial state A enter { set($a=1)set($b=2) };").states[0].enter[0]
    assert isinstance(act, Action) and act.args == ("$a", "1)set($b=2")


def test_L81_condition_lookup_modules_then_core() -> None:
    cond = (
        chart("state A; transition t A - keyPress(5) -> A;").states[0].transitions[0].conditions[0]
    )
    assert cond.module == "" and cond.args == ("5",)


def test_locations_point_at_tokens() -> None:
    c = chart("\n  initial state A\n    enter { log(1, x) };")
    assert (c.states[0].loc.line, c.states[0].loc.column) == (2, 17)
    loc = c.states[0].enter[0].loc  # type: ignore[union-attr]
    assert (loc.line, loc.column) == (3, 13)


def test_L35_initial_pushes_a_frame_that_waits_for_a_state() -> None:
    c = chart("initial ; ; state A;")
    assert c.initial == "A"


def test_L36_state_pushes_a_new_state_frame() -> None:
    c = chart("state A state B; ;")
    assert [s.name for s in c.states] == ["B", "A"]


def test_L89_there_is_no_setPromptSet() -> None:
    errs = fail("initial state A enter { setPromptSet(x) };")
    assert codes(errs) == ["E014"] and "setPrompts" in errs[0].hint


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(["keyPress", "x", "(", ")", "a", " "]), max_size=8))
def test_L75_condition_tokens_split_like_name_and_argument(pieces: list[str]) -> None:
    """L-75: the compile path's own name/argument split equals :func:`name_and_argument`
    (style K keeps the argument text whole, L-87; unknown names keep it too)."""
    token = "".join(pieces)
    if not token:
        return
    src = preprocess_text(token)
    m = Reader(src, [token], [0], syntax_only=True)
    cond = m.make_condition(token, 0, False)
    name, argument = name_and_argument(token)
    assert cond is not None and cond.name == name
    if name == "keyPress" or name not in CORE_CONDITIONS:
        assert cond.args == (argument,)
