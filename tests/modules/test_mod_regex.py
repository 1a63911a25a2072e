"""mod_regex (modules.md section 12): named POSIX extended regular expressions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _fake import FakeContext, compile_every_name, harness_call, run_action, run_condition

from dsm.modules.mod_regex import (
    RegexError,
    compile_posix,
    module,
    preload,
    registry,
)


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    registry.clear()
    yield
    registry.clear()


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def cond(ctx: FakeContext, name: str, *args: str) -> bool:
    return run_condition(module, ctx, name, *args)


def search(pattern: str, subject: str) -> list[str | None] | None:
    return compile_posix(pattern).search(subject)


def test_declares_three_actions_and_one_condition() -> None:
    assert set(module.actions) == {"regex.compile", "regex.match", "regex.clear"}
    assert set(module.conditions) == {"regex.match"}
    assert "preload" in module.hooks


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


# -- M-regex-1 … 4 --------------------------------------------------------------------------


def test_M_regex_1_compile_takes_the_pattern_literally_and_leaves_errno() -> None:
    ctx = FakeContext({"n": "ext", "errno": "keep"})
    act(ctx, "regex.compile", "$n", "^([0-9]{3})#$")
    assert registry.get("ext") is not None
    assert ctx.vars["errno"] == "keep"
    act(ctx, "regex.compile", "lit", "$n")  # not resolved: `$` is the end anchor here
    lit = registry.get("lit")
    assert lit is not None and lit.pattern == "$n" and lit.search("ext") is None


def test_M_regex_1_bad_pattern_sets_arg_without_strerror_and_removes_the_name() -> None:
    ctx = FakeContext()
    act(ctx, "regex.compile", "r", "a")
    act(ctx, "regex.compile", "r", "(a")
    assert ctx.vars["errno"] == "arg"
    assert "strerror" not in ctx.vars
    assert registry.get("r") is None


def test_M_regex_2_match_action_sets_flag_and_groups() -> None:
    ctx = FakeContext({"digits": "123#", "regex.match[2]": "old"})
    act(ctx, "regex.compile", "ext", "^([0-9]{3})#$")
    act(ctx, "regex.match", "ext", "$digits")
    assert ctx.vars["regex.match"] == "1"
    assert ctx.vars["regex.match[1]"] == "123"
    assert ctx.vars["regex.match[2]"] == "old"
    act(ctx, "regex.match", "ext", "12#")
    assert ctx.vars["regex.match"] == "0"
    assert ctx.vars["regex.match[1]"] == "123"


def test_M_regex_2_non_participating_group_keeps_old_value() -> None:
    ctx = FakeContext({"regex.match[2]": "old"})
    act(ctx, "regex.compile", "r", "(a)|(b)")
    act(ctx, "regex.match", "r", "a")
    assert ctx.vars["regex.match[1]"] == "a" and ctx.vars["regex.match[2]"] == "old"


def test_M_regex_2_unknown_name_logs_and_sets_nothing() -> None:
    ctx = FakeContext()
    act(ctx, "regex.match", "nope", "x")
    assert "regex.match" not in ctx.vars
    assert ctx.logs and ctx.logs[0][0] == 0


def test_M_regex_3_clear() -> None:
    ctx = FakeContext()
    act(ctx, "regex.compile", "r", "x")
    act(ctx, "regex.clear", "r")
    assert registry.get("r") is None
    act(ctx, "regex.clear", "never-there")


def test_M_regex_4_condition_sets_groups_but_not_the_flag() -> None:
    ctx = FakeContext()
    act(ctx, "regex.compile", "r", "([a-z]+)-([0-9]+)")
    assert cond(ctx, "regex.match", "r", "id: abc-42!")
    assert (ctx.vars["regex.match[1]"], ctx.vars["regex.match[2]"]) == ("abc", "42")
    assert "regex.match" not in ctx.vars
    assert not cond(ctx, "regex.match", "r", "nothing")
    assert not cond(ctx, "regex.match", "unknown", "abc-1")


def test_M_api_2_registry_is_shared_by_all_sessions() -> None:
    act(FakeContext(local_tag="a"), "regex.compile", "shared", "b+")
    other = FakeContext(local_tag="b")
    act(other, "regex.match", "shared", "abbb")
    assert other.vars["regex.match"] == "1"


# -- POSIX semantics --------------------------------------------------------------------------


def test_posix_leftmost_longest_alternation() -> None:
    assert search("a|ab", "xabc") == ["ab"]
    assert search("(a|ab)(c|bcd)", "abcd") is not None
    assert search("(a|ab)(c|bcd)", "abcd")[0] == "abcd"  # type: ignore[index]
    assert search("(a*)(ab)?b?", "aabb") == ["aabb", "a", "ab"]


def test_posix_bracket_classes_and_literal_backslash() -> None:
    assert search("[[:alpha:]]+", "12abC3") == ["abC"]
    assert search("[[:digit:][:space:]]+", "a1 2b") == ["1 2"]
    assert search("[]a]+", "x]a]y") == ["]a]"]
    assert search("[a-]+", "b-a-") == ["-a-"]
    assert search("[\\d]+", "5\\d") == ["\\d"]  # backslash is literal inside brackets
    assert search("[^a]", "a\n") == ["\n"]
    assert search("[[=e=]]", "xe") == ["e"]


def test_posix_backslash_outside_brackets() -> None:
    assert search("\\d", "5d") == ["d"]
    assert search("\\.", "a.b") == ["."]
    assert search("(ab)\\1", "xabab") == ["abab", "ab"]
    assert search("\\<b", "ab b") == ["b"]


def test_posix_anchors_dot_and_repetition() -> None:
    assert search("b$", "ab\n") is None
    assert search(".", "\n") == ["\n"]
    assert search("a**", "aaa") == ["aaa"]
    assert search("x+?", "xxx") == ["xxx"]  # not a lazy quantifier
    assert search("a{2,}", "aaaa") == ["aaaa"]
    assert search("a)", "a)") == ["a)"]
    assert search("^b", "ab") is None


@pytest.mark.parametrize(
    "bad", ["*a", "a|*", "(a", "[[:nope:]]", "a{3,1}", "a{x", "\\1(a)", "[a", "a\\"]
)
def test_posix_invalid_patterns_are_rejected(bad: str) -> None:
    with pytest.raises(RegexError):
        compile_posix(bad)


# -- preload (M-api-6, K-40) --------------------------------------------------------------------


def test_K_40_preload_compiles_mod_regex_conf(tmp_path: Path) -> None:
    (tmp_path / "mod_regex.conf").write_text(
        '# numbers\nnum=^[0-9]+$\nspaced = "a b#c"  # comment\n'
    )

    class ConfFile:  # what the configuration loader has: the path of dsm.conf
        path = str(tmp_path / "dsm.conf")

    assert preload(ConfFile()) == 0
    assert registry.get("num") is not None
    spaced = registry.get("spaced")
    assert spaced is not None and spaced.search("xa b#c") == ["a b#c"]


def test_K_40_preload_fails_on_invalid_regex_and_tolerates_missing_file(tmp_path: Path) -> None:
    assert preload(str(tmp_path)) == 0
    assert preload({"plugin_config_path": str(tmp_path)}) == 0
    assert preload(None) == 0
    (tmp_path / "mod_regex.conf").write_text("bad=(x\n")
    assert preload(str(tmp_path)) != 0
    (tmp_path / "mod_regex.conf").write_text("novalue\n")
    assert preload(str(tmp_path)) != 0  # CF-2: a key without `=` fails the file
    (tmp_path / "mod_regex.conf").write_text('q="unterminated\n')
    assert preload(str(tmp_path)) != 0


def test_M_regex_harness_script(tmp_path: Path) -> None:
    script = """import(mod_regex);
initial state S enter {
  regex.compile(ext, "^([0-9]{3})#$");
  regex.match(ext, "123#");
  if regex.match(ext, "456#") { set($cond=yes); }
};
"""
    call = harness_call(tmp_path, script)
    assert call.vars["regex.match"] == "1"
    assert call.vars["regex.match[1]"] == "456"
    assert call.vars["cond"] == "yes"


def test_M_regex_every_action_and_condition_in_a_script(tmp_path: Path) -> None:
    """M-regex-1 … 4 end to end through the harness."""
    script = r"""import(mod_regex);
initial state S enter {
  regex.compile(alt, "(a|ab)");
  regex.match(alt, xab);
  set($longest=$regex.match[1]);
  set($m0=$regex.match);
  regex.compile(bad, "(x");
  set($e_bad=$errno);
  regex.compile(num, "^[[:digit:]]+$");
  regex.match(num, 12a);
  set($m1=$regex.match);
  regex.clear(num);
  if not regex.match(num, 123) { set($cleared=yes); }
};
"""
    v = harness_call(tmp_path, script).vars
    assert (v["m0"], v["longest"]) == ("1", "ab")
    assert v["regex.match"] == "0" and v["m1"] == "0"
    assert v["e_bad"] == "arg"
    assert v["cleared"] == "yes"
    assert registry.get("num") is None and registry.get("bad") is None
