"""Line pre-processing: comments and includes (language.md section 2, L-3 … L-19)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lang_helpers import chart, codes, fail

from dsm import CompileError, compile_file
from dsm.source import preprocess_file, preprocess_text


def test_L3_lines_split_at_lf_cr_kept() -> None:
    src = preprocess_text("state A;\r\nstate B;\r\n")
    assert src.text == "state A;\r\nstate B;\r\n"
    c = chart("initial state A;\r\nstate B;\r\n")
    assert [s.name for s in c.states] == ["A", "B"]


def test_L5_blank_lines_kept_unchanged() -> None:
    assert preprocess_text("a\n \t\nb\n").text == "a\n \t\nb\n"


@pytest.mark.parametrize(
    "line",
    [
        "-- comment",
        "   -- indented",
        "\t--x",
        "--",
        "# hash comment",
        "  #!shebang",
        "#inc",
        "#Include x",
    ],
)
def test_L6_comment_lines_dropped(line: str) -> None:
    assert preprocess_text(f"state A;\n{line}\nstate B;\n").text == "state A;\nstate B;\n"


def test_L6_single_dash_is_not_a_comment() -> None:
    assert preprocess_text("- x\n").text == "- x\n"


def test_L7_trailing_double_dash_is_text() -> None:
    errs = fail("initial state A enter { set($a=1);  -- not a comment\n };")
    assert errs[0].code == "E014" and "`--`" in errs[0].message


def test_L7_trailing_comment_at_top_level_is_no_context() -> None:
    assert fail("state A; -- remark\n")[0].code == "E006"


def test_L7_trailing_comment_between_target_and_semicolon_is_ignored() -> None:
    c = chart("state A; transition t A - hangup -> A -- remark\n;")
    assert c.states[0].transitions[0].target == "A"


def test_L8_continuation_line_starting_with_arrow_is_a_comment() -> None:
    errs = fail('state A; state B;\ntransition "y" A\n  --> B;\n')
    # line 3 is a comment, so the transition stays open: an error at its start (L-71)
    assert codes(errs) == ["E018"] and errs[0].line == 2


def test_L8_continuation_line_starting_with_hash_is_dropped() -> None:
    errs = fail("state A; transition t A - test(\n #key == 1) -> A;")
    # the dropped line leaves "test(\n": the `(` is never closed (L-26, L-71)
    assert codes(errs) == ["E017"] and (errs[0].line, errs[0].column) == (1, 31)


def test_L9_comment_removal_inside_multiline_argument() -> None:
    c = chart("initial state A enter { log(1, a\n-- gone\nb) };")
    assert c.states[0].enter[0].args == ("1", "a\nb")


def test_L10_every_kept_line_ends_with_one_lf() -> None:
    assert preprocess_text("a\nb").text == "a\nb\n"


def _write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_L11_include_replaces_the_line(tmp_path: Path) -> None:
    _write(tmp_path / "lib.dsm", "state B;\n")
    main = _write(tmp_path / "main.dsm", 'initial state A;\n#include "lib.dsm"\nstate C;\n')
    c = compile_file(main, consistency_check=False)
    assert [s.name for s in c.states] == ["A", "B", "C"]
    assert c.states[1].loc.path.endswith("lib.dsm") and c.states[1].loc.line == 1


def test_L11_no_separator_needed_after_include(tmp_path: Path) -> None:
    _write(tmp_path / "lib", "state B;\n")
    main = _write(tmp_path / "main.dsm", "#includelib\n")
    assert [s.name for s in compile_file(main, consistency_check=False).states] == ["B"]


def test_L11_include_like_comment_is_an_include(tmp_path: Path) -> None:
    main = _write(tmp_path / "main.dsm", "#includes are handy\n")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert info.value.diagnostics[0].code == "E002"
    assert "s are handy" in info.value.diagnostics[0].message


def test_L11_quotes_and_spaces_stripped_not_tabs(tmp_path: Path) -> None:
    _write(tmp_path / "lib.dsm", "state B;\n")
    ok = _write(tmp_path / "ok.dsm", "#include  ' \"lib.dsm\" ' \n")
    assert compile_file(ok, consistency_check=False).states[0].name == "B"
    bad = _write(tmp_path / "bad.dsm", "#include\tlib.dsm\n")
    with pytest.raises(CompileError):
        compile_file(bad)


def test_L12_empty_include_name_is_an_error() -> None:
    assert fail('#include ""\n')[0].code == "E001"


def test_L13_trailing_text_is_part_of_the_name(tmp_path: Path) -> None:
    _write(tmp_path / "x.dsm", "state B;\n")
    main = _write(tmp_path / "main.dsm", '#include "x.dsm" -- mine\n')
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert 'x.dsm" -- mine' in info.value.diagnostics[0].message


def test_L13_crlf_include_keeps_the_cr(tmp_path: Path) -> None:
    _write(tmp_path / "x.dsm", "state B;\n")
    main = tmp_path / "main.dsm"
    main.write_bytes(b'#include "x.dsm"\r\n')
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert "CR" in info.value.diagnostics[0].hint


def test_L14_absolute_include_sets_the_load_path(tmp_path: Path) -> None:
    _write(tmp_path / "lib" / "a.dsm", "state A;\n#include b.dsm\n")
    _write(tmp_path / "lib" / "b.dsm", "state B;\n")
    main = _write(tmp_path / "main" / "m.dsm", f"#include {tmp_path}/lib/a.dsm\n")
    assert [s.name for s in compile_file(main, consistency_check=False).states] == ["A", "B"]


def test_L14_relative_include_uses_the_original_load_path(tmp_path: Path) -> None:
    """REFERENCE QUIRK: a relative include inside an included file resolves against LP."""
    _write(tmp_path / "sub" / "a.dsm", "state A;\n#include b.dsm\n")
    _write(tmp_path / "sub" / "b.dsm", "state WRONG;\n")
    _write(tmp_path / "b.dsm", "state B;\n")
    main = _write(tmp_path / "m.dsm", "#include sub/a.dsm\n")
    assert [s.name for s in compile_file(main, consistency_check=False).states] == ["A", "B"]


def test_L14_extra_include_paths_searched_after_lp(tmp_path: Path) -> None:
    _write(tmp_path / "shared" / "common.dsm", "state C;\n")
    main = _write(tmp_path / "app" / "m.dsm", "#include common.dsm\n")
    c = compile_file(main, [str(tmp_path / "shared")], consistency_check=False)
    assert c.states[0].name == "C"


def test_L15_directory_include_sorted_with_three_char_quirk(tmp_path: Path) -> None:
    d = tmp_path / "parts"
    _write(d / "b.dsm", "state B;\n")
    _write(d / "a.dsm", "state A;\n")
    _write(d / "abc", "state THREE;\n")  # REFERENCE QUIRK: 3-character names are read
    _write(d / "abcd", "state NO;\n")
    _write(d / "notes.txt", "state NO2;\n")
    (d / "sub.dsm").mkdir()
    main = _write(tmp_path / "m.dsm", "#include parts\n")
    assert [s.name for s in compile_file(main, consistency_check=False).states] == [
        "A",
        "THREE",
        "B",
    ]  # sorted by name: a.dsm, abc, b.dsm


def test_L16_dsm_suffix_fallback(tmp_path: Path) -> None:
    _write(tmp_path / "lib.dsm", "state B;\n")
    main = _write(tmp_path / "m.dsm", "#include lib\n")
    assert compile_file(main, consistency_check=False).states[0].name == "B"


def test_L16_fallback_not_to_the_including_file_itself(tmp_path: Path) -> None:
    main = _write(tmp_path / "m.dsm", f"#include {tmp_path}/m\n")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert info.value.diagnostics[0].code == "E002"


def test_L17_missing_nested_include_fails_the_top_level(tmp_path: Path) -> None:
    _write(tmp_path / "a.dsm", "#include missing.dsm\n")
    main = _write(tmp_path / "m.dsm", "#include a.dsm\n")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    d = info.value.diagnostics[0]
    assert d.code == "E002" and d.path.endswith("a.dsm") and d.line == 1


def test_L17_unreadable_top_level_file(tmp_path: Path) -> None:
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "nope.dsm")
    assert info.value.diagnostics[0].code == "E002"


def test_L18_same_file_twice_duplicates_text(tmp_path: Path) -> None:
    _write(tmp_path / "x.dsm", "state X;\n")
    main = _write(tmp_path / "m.dsm", "#include x.dsm\n#include x.dsm\n")
    assert [s.name for s in compile_file(main, consistency_check=False).states] == ["X", "X"]


def test_L18_include_cycle_is_a_compile_error(tmp_path: Path) -> None:
    _write(tmp_path / "a.dsm", "#include b.dsm\n")
    _write(tmp_path / "b.dsm", "#include a.dsm\n")
    main = _write(tmp_path / "m.dsm", "#include a.dsm\n")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert info.value.diagnostics[0].code == "E003"
    assert "cycle" in info.value.diagnostics[0].message


def test_L18_self_include_is_a_cycle(tmp_path: Path) -> None:
    main = _write(tmp_path / "m.dsm", "#include m.dsm\n")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert info.value.diagnostics[0].code == "E003"


def test_L19_included_text_shares_functions(tmp_path: Path) -> None:
    _write(tmp_path / "f.dsm", "function f() { log(1, x) };\n")
    main = _write(tmp_path / "m.dsm", "#include f.dsm\ninitial state A enter { f() };\n")
    c = compile_file(main, consistency_check=False)
    assert c.states[0].enter[0].name == "log"


def test_several_include_errors_reported_in_one_run(tmp_path: Path) -> None:
    main = _write(tmp_path / "m.dsm", "#include a\n#include b\n#include\n")
    with pytest.raises(CompileError) as info:
        compile_file(main)
    assert [d.code for d in info.value.diagnostics] == ["E002", "E002", "E001"]


def test_line_map_through_includes(tmp_path: Path) -> None:
    _write(tmp_path / "inc.dsm", "-- c\n\nstate B;\n")
    main = _write(tmp_path / "m.dsm", "state A;\n#include inc.dsm\nstate C;\n")
    src = preprocess_file(str(main))
    b = src.text.index("B")
    path, line, col, text = src.locate(b)
    assert os.path.basename(path) == "inc.dsm" and (line, col) == (3, 7) and text == "state B;"
    path, line, col, _ = src.locate(src.text.index("C"))
    assert os.path.basename(path) == "m.dsm" and line == 3


def test_L18_text_named_by_its_file_including_that_file_is_a_cycle(tmp_path: Path) -> None:
    """L-18: text handed over with the path of an existing file is that file, so an
    ``#include`` of it is a cycle (the file system is asked only at the first include)."""
    main = _write(tmp_path / "m.dsm", "state X;\n")
    src = preprocess_text(f"state A;\n#include {main}\n", str(main))
    assert [d.code for d in src.diagnostics] == ["E003"]
    assert src.text == "state A;\n"


def test_L18_text_under_a_non_file_name_may_include_any_file(tmp_path: Path) -> None:
    inc = _write(tmp_path / "m.dsm", "state X;\n")
    src = preprocess_text(f"state A;\n#include {inc}\n", "<string>")
    assert src.diagnostics == [] and src.text == "state A;\nstate X;\n"
