"""Rough edges a new script author hits in the harness and ``dsm run`` (issue 17 items 4-7).

Rule IDs: A-core-21 (prompts), A-core-36 (recording caller audio), E-89 (the
start and the initial state's enter actions), E-152 (an incoming call's start).
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dsm.runtime.harness import Harness, assert_var
from dsm.runtime.harness.assertions import DSMAssertionError
from dsm.runtime.harness.interactive import run_session
from dsm.runtime.media.audio import AudioFileError, write_wav

pytest_plugins = ["pytester"]

IVR = """\
initial state WELCOME enter { playPrompt(welcome) set($rounds=1) };
state BYE enter { playPrompt(goodbye) };
transition "1" WELCOME - key(#key == 1) -> BYE;
transition "rec" WELCOME - key(#key == 2) / recordFile($config.rec) -> WELCOME;
transition "bye" (WELCOME, BYE) - hangup / stop(false) -> BYE;
"""


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    folder = tmp_path / "ivr"
    folder.mkdir()
    (folder / "ivr.dsm").write_text(IVR)
    prompts = folder / "prompts"
    prompts.mkdir()
    write_wav(prompts / "welcome.wav", np.full(8000, 1000, dtype=np.int16))  # 1 s
    write_wav(prompts / "goodbye.wav", np.full(800, 1000, dtype=np.int16))  # 0.1 s
    write_wav(folder / "caller.wav", np.full(1600, 500, dtype=np.int16))  # 0.2 s
    return folder


# -- item 4: call.played -------------------------------------------------------------------------
def test_A_core_21_played_lists_the_first_prompt_at_once_with_name_and_file(scripts: Path) -> None:
    call = Harness(scripts).call("ivr")
    (first,) = call.played
    assert (first.kind, first.name, first.start, first.end) == ("prompt", "welcome", 0.0, None)
    assert first.path == str(scripts / "prompts" / "welcome.wav")
    assert first.playing and not first.complete  # still playing: not complete yet


def test_A_core_21_played_times_are_exact_milliseconds(scripts: Path) -> None:
    h = Harness(scripts, prompts={"welcome": 0.1, "goodbye": 0.1})
    call = h.call("ivr")
    call.advance(0.3)
    (first,) = call.played
    assert (first.start, first.end, first.complete) == (0.0, 0.1, True)
    assert "0.09999" not in repr(first)


# -- item 5: clear errors and string comparison ----------------------------------------------------
def test_AS_call_to_an_unknown_application_raises_a_clear_error(scripts: Path) -> None:
    h = Harness(scripts)
    with pytest.raises(LookupError, match=r"no application named 'nosuch'; the applications are: ivr"):
        h.call("nosuch")


def test_assert_var_compares_as_dsm_does(scripts: Path) -> None:
    call = Harness(scripts).call("ivr")
    assert_var(call, "rounds", 1)  # DSM variables are strings: 1 is '1'
    with pytest.raises(DSMAssertionError, match="compared as text"):
        assert_var(call, "rounds", 2)


def test_say_can_queue_without_waiting(scripts: Path) -> None:
    h = Harness(scripts)
    call = h.call("ivr")
    assert call.say("caller.wav", wait=False) == pytest.approx(0.2)
    assert h.now == 0.0
    call.say("caller.wav")
    assert h.now == pytest.approx(0.2)


def test_coverage_options_imply_dsm_cov(pytester: pytest.Pytester, scripts: Path) -> None:
    """``--dsm-cov-json`` alone writes the report (no silent no-op without ``--dsm-cov``)."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # as the project's own
    pytester.makepyfile(
        test_it=textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.dsm(scripts={str(scripts)!r})
            def test_call(dsm_harness):
                dsm_harness.call("ivr")
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--dsm-cov-json=cov.json")
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "cov.json").read_text())
    assert data["charts"][0]["chart"] == "ivr"
    help_text = pytester.runpytest("--markers").stdout.str()
    assert "config_values" in help_text


# -- item 6: the initial state's enter actions are in the transcript ------------------------------
def test_E89_transcript_has_the_initial_states_enter_actions(scripts: Path) -> None:
    call = Harness(scripts).call("ivr")
    kinds = [line.split()[1:3] for line in call.transcript().splitlines()]
    assert ["play", "welcome"] in kinds
    assert kinds.index(["play", "welcome"]) < kinds.index(["event", "Invite"])


def test_E89_dsm_run_shows_the_first_prompt(scripts: Path) -> None:
    out = io.StringIO()
    assert run_session(str(scripts), None, io.StringIO("quit\n"), out) == 0
    assert "play       welcome" in out.getvalue()


# -- item 7: missing audio, relative paths, sub-folders --------------------------------------------
def test_A_core_36_say_resolves_relative_paths_beside_the_scripts(scripts: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # not the scripts' folder
    call = Harness(scripts).call("ivr")
    assert call.say("caller.wav") == pytest.approx(0.2)


def test_say_missing_file_is_a_one_line_error_naming_the_file(scripts: Path) -> None:
    call = Harness(scripts).call("ivr")
    with pytest.raises(AudioFileError) as caught:
        call.say("nofile.wav")
    assert str(caught.value) == "nofile.wav: no such file"


def test_dsm_run_say_missing_file_is_one_line_not_a_traceback(scripts: Path) -> None:
    out = io.StringIO()
    assert run_session(str(scripts), None, io.StringIO("say nofile.wav\nquit\n"), out) == 0
    text = out.getvalue()
    assert "? cannot read audio file 'nofile.wav': no such file" in text
    assert "Traceback" not in text and "System error" not in text


def test_dsm_run_finds_scripts_in_sub_folders(scripts: Path) -> None:
    out = io.StringIO()
    assert run_session(str(scripts.parent), "ivr", io.StringIO("quit\n"), out) == 0
    assert "simulated call to 'ivr'" in out.getvalue()
    out = io.StringIO()
    assert run_session(str(scripts.parent), "nosuch", io.StringIO("quit\n"), out) == 2
    assert "no application 'nosuch'" in out.getvalue() and "ivr" in out.getvalue()
