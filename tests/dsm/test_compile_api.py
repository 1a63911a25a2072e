"""The public API: compile_file, compile_source, check_paths; and the examples."""

from __future__ import annotations

from pathlib import Path

import pytest

import dsm
from dsm import CompileError, check_paths, compile_file, compile_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_L1_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    p = tmp_path / "my_app.dsm"
    p.write_text("initial state A;")
    c = compile_file(p, consistency_check=False)
    assert c.name == "my_app" and c.path == str(p)
    assert compile_file(p, name="other", consistency_check=False).name == "other"


def test_compile_source_defaults() -> None:
    c = compile_source("initial state A;", consistency_check=False)
    assert c.name == "<string>" and c.initial == "A" and c.imports == ()


def test_compile_source_rejects_non_text() -> None:
    with pytest.raises(CompileError):
        compile_source(b"state A;")  # type: ignore[arg-type]


def test_check_paths_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.dsm").write_text("state A;")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.dsm").write_text("nope")
    diags = check_paths([tmp_path, tmp_path / "missing.dsm"])
    errors = [(Path(d.path).name, d.code) for d in diags if d.is_error]
    assert errors == [("b.dsm", "E006"), ("missing.dsm", "E002")]


def test_check_paths_syntax_only(tmp_path: Path) -> None:
    (tmp_path / "a.dsm").write_text("initial state A enter { custom.thing(1) };")
    assert any(d.code == "E014" for d in check_paths([tmp_path]))
    assert not any(d.is_error for d in check_paths([tmp_path], syntax_only=True))


def test_lazy_exports() -> None:
    assert dsm.compile_file is compile_file
    with pytest.raises(AttributeError):
        dsm.no_such_thing  # noqa: B018


@pytest.mark.parametrize(
    "script",
    sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.dsm")),
)
def test_examples_compile_without_warnings(script: str) -> None:
    chart = compile_file(EXAMPLES / script)
    assert chart.warnings == ()
    assert chart.initial is not None


def test_example_set_is_complete() -> None:
    found = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.dsm")}
    assert {
        "pin/pin.dsm",
        "menu/menu.dsm",
        "voicemail/voicemail.dsm",
        "survey/survey.dsm",
        "transfer/main.dsm",
        "transfer/support.dsm",
    } <= found


def test_examples_strictly_well_formed() -> None:
    assert check_paths([EXAMPLES], strict=True) == []


def test_L2_functions_belong_to_one_compilation_unit() -> None:
    compile_source("function greet() { log(1, hi) };", "a", consistency_check=False)
    with pytest.raises(CompileError) as info:
        compile_source("initial state A enter { greet() };", "b", consistency_check=False)
    assert info.value.diagnostics[0].code == "E014"


def test_L2_functions_visible_only_after_their_definition() -> None:
    with pytest.raises(CompileError):
        compile_source(
            "initial state A enter { f() };\nfunction f() { stop };", consistency_check=False
        )


def test_L4_transitions_cannot_use_states_of_another_diagram() -> None:
    compile_source("initial state OTHER;", "one", consistency_check=False)
    with pytest.raises(CompileError) as info:
        compile_source(
            "initial state A;\ntransition t OTHER - hangup -> A;", "two", consistency_check=False
        )
    assert info.value.diagnostics[0].code == "E016"


def test_L96_chart_text_has_no_semantic_effect() -> None:
    from dsm.source import preprocess_text

    text = "-- comment\ninitial state A enter { log(1, x) };\n# another\nstate B;\n"
    raw = preprocess_text(text).text
    a = compile_source(text, "n", consistency_check=False)
    b = compile_source(raw, "n", consistency_check=False)
    assert [(s.name, len(s.enter)) for s in a.states] == [(s.name, len(s.enter)) for s in b.states]
