"""The pytest plugin: fixture, failure transcripts, coverage — run on the docs/testing.md tutorial."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from dsm.runtime.media.audio import write_wav

pytest_plugins = ["pytester"]

HELLO = """\
initial state WELCOME
  enter { playPrompt(welcome) setTimer(1, 10) };
state BYE
  enter { flushPlaylist playPrompt(goodbye) };
state END
  enter { stop(true) };

transition "pressed 1" WELCOME - key(#key == 1) / removeTimer(1) -> BYE;
transition "silence"   WELCOME - timer(#id == 1) -> BYE;
transition "played"    BYE - noAudio -> END;
transition "hung up"   (WELCOME, BYE) - hangup / removeTimers; stop(false) -> END;
transition "hung up 2" END - hangup / stop(false) -> END;
"""

FIRST_TEST = """\
from dsm.runtime.harness import assert_played, assert_state, assert_terminated


def test_pressing_1_says_goodbye(dsm_harness):
    call = dsm_harness.call("hello")
    assert_state(call, "WELCOME")
    call.press("1")
    assert_state(call, "BYE")
    call.advance(5)
    assert_terminated(call)
    assert_played(call, ["welcome", "goodbye"])
"""


@pytest.fixture
def tutorial(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # as the project's own
    pytester.makefile(".dsm", hello=HELLO)
    prompts = pytester.path / "prompts"
    prompts.mkdir()
    write_wav(prompts / "welcome.wav", (2000 * np.ones(8000)).astype(np.int16))
    write_wav(prompts / "goodbye.wav", (1000 * np.ones(4000)).astype(np.int16))
    return pytester


def test_first_test_of_the_tutorial_passes(tutorial):
    tutorial.makepyfile(test_hello=FIRST_TEST)
    result = tutorial.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_failure_report_carries_the_transcript(tutorial):
    tutorial.makepyfile(
        test_bad=textwrap.dedent(
            """
            from dsm.runtime.harness import assert_state

            def test_wrong(dsm_harness):
                call = dsm_harness.call("hello")
                call.press("2")
                assert_state(call, "BYE")
            """
        )
    )
    result = tutorial.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*expected state BYE, call is in WELCOME after keys 2*", "*DSM transcript of call call-1*", "*key        2*"]
    )


def test_coverage_report_lists_untaken_transitions(tutorial):
    tutorial.makepyfile(test_hello=FIRST_TEST)
    result = tutorial.runpytest("-p", "no:cacheprovider", "--dsm-cov")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*DSM chart coverage*",
            "hello*states 3/3*transitions 2/6*",
            "*hello.dsm:9: transition 'silence' WELCOME -> BYE never taken*",
        ]
    )


def test_coverage_fail_under_and_json(tutorial):
    tutorial.makepyfile(test_hello=FIRST_TEST)
    result = tutorial.runpytest("-p", "no:cacheprovider", "--dsm-cov", "--dsm-cov-fail-under=95", "--dsm-cov-json=cov.json")
    assert result.ret != 0
    import json

    data = json.loads((tutorial.path / "cov.json").read_text())
    assert data["charts"][0]["chart"] == "hello"
    assert data["charts"][0]["transitions_total"] == 6


def test_marker_points_at_other_scripts(tutorial):
    sub = tutorial.path / "scripts"
    sub.mkdir()
    (sub / "other.dsm").write_text("initial state O;\ntransition h O - hangup / stop(false) -> O;\n")
    tutorial.makepyfile(
        test_marker=textwrap.dedent(
            """
            import pytest

            @pytest.mark.dsm(scripts="scripts")
            def test_other(dsm_harness):
                assert dsm_harness.call("other").state == "O"
            """
        )
    )
    tutorial.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
