"""Tests of the survey example: functions, if/else and a for loop."""

from __future__ import annotations

from dsm.runtime.harness import assert_state, assert_terminated


def test_three_answers_are_stored(dsm_harness):
    call = dsm_harness.call("survey")
    call.advance(3)  # intro
    assert_state(call, "QUESTION")
    call.press("4")
    call.press("5")
    call.press("1")
    assert_state(call, "THANKS")
    assert call.vars["answer.1"] == "4"
    assert call.vars["answer.2"] == "5"
    assert call.vars["answer.3"] == "1"
    call.advance(3)
    assert_terminated(call)
    assert [p.name for p in call.played] == ["survey_intro", "question_1", "question_2", "question_3", "thanks"]


def test_invalid_key_repeats_the_question(dsm_harness):
    call = dsm_harness.call("survey")
    call.advance(3)
    call.press("9")
    assert_state(call, "REPEAT")
    call.advance(3)
    assert_state(call, "QUESTION")
    assert call.vars["q"] == "1"


def test_unanswered_questions_are_skipped(dsm_harness):
    call = dsm_harness.call("survey")
    call.advance(3)
    call.advance(10.5)
    assert call.vars["q"] == "2"
    call.advance(21)
    assert call.state in ("THANKS", "END")
    assert "answer.1" not in call.vars
