"""Core logging actions (engine.md 11.2, E-106 … E-109; actions.md A-core-66 … A-core-75)."""

from __future__ import annotations

import logging

import pytest

import dsm.runtime.actions.logging  # noqa: F401  (registers the actions)
from dsm.runtime.actions.core import core
from dsm.runtime.actions.logging import dsm_level, python_level
from dsm.runtime.harness.stub import StubContext
from dsm.vocabulary import CORE_ACTIONS


class FakeContext(StubContext):
    """A dict-backed ActionContext processing a Key event (values through the real R and I)."""

    def __init__(
        self,
        vars: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        selects: dict[str, str] | None = None,
    ) -> None:
        super().__init__(vars, params, selects, event_type="Key")


def run(ctx: FakeContext, name: str, *args: str) -> list[tuple[int, str]]:
    core.actions[name].fn(ctx, *args)
    return ctx.logs


MINE = [
    "log", "logs", "dbg", "info", "warn", "error", "logVars", "logParams", "logSelects", "logAll",
]  # fmt: skip

SELECTS = {
    "local_tag": "lt",
    "user": "alice",
    "domain": "example.com",
    "remote_tag": "rt",
    "callid": "cid",
    "local_uri": "sip:alice@example.com",
    "local_party": "<sip:alice@example.com>",
    "remote_uri": "sip:bob@example.net",
    "remote_party": "Bob <sip:bob@example.net>",
}


@pytest.mark.parametrize("name", MINE)
def test_L82_registered_style_matches_core_vocabulary(name: str) -> None:
    assert core.actions[name].signature.style == CORE_ACTIONS[name].style


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, logging.ERROR),
        (1, logging.WARNING),
        (2, logging.INFO),
        (3, logging.DEBUG),
        (9, logging.DEBUG),
        (-1, logging.ERROR),
    ],
)
def test_E106_levels_map_to_python_logging(level: int, expected: int) -> None:
    assert python_level(level) == expected
    assert dsm_level(level) == max(0, min(3, level))


# -- A-core-66 log --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("2", "$pin"), (2, "FSM: $pin '12'")),
        (("2", "plain"), (2, "FSM:  'plain'")),
        (("", "x"), (0, "FSM:  'x'")),  # empty level text is 0
        (("7", "x"), (3, "FSM:  'x'")),  # above 3 logs as debug
        (("$lvl", "x"), (1, "FSM:  'x'")),
        (("1", "#key"), (1, "FSM: #key '5'")),
        (("1", "a $pin"), (1, "FSM:  'a $pin'")),  # R only: not interpolated
    ],
)
def test_A_core_66_log(args: tuple[str, str], expected: tuple[int, str]) -> None:
    ctx = FakeContext({"pin": "12", "lvl": "1"}, {"key": "5"})
    assert run(ctx, "log", *args) == [expected]


@pytest.mark.parametrize("level", ["x", "-1", "1.5", "99999999999"])
def test_E107_bad_level_is_a_logged_error_only(level: str) -> None:
    ctx = FakeContext({"pin": "12"})
    logs = run(ctx, "log", level, "$pin")
    assert len(logs) == 1
    assert logs[0][0] == 0 and "level" in logs[0][1]
    assert "FSM:" not in logs[0][1]


# -- A-core-67 … A-core-71 ------------------------------------------------------


def test_A_core_67_logs_interpolates() -> None:
    ctx = FakeContext({"caller": "bob"}, {"key": "3"})
    assert run(ctx, "logs", "3", "caller $(caller) pressed #key") == [
        (3, "FSM: 'caller bob pressed 3'")
    ]


def test_A_core_67_logs_bad_level() -> None:
    ctx = FakeContext()
    logs = run(ctx, "logs", "abc", "text")
    assert len(logs) == 1 and logs[0][0] == 0 and "FSM:" not in logs[0][1]


@pytest.mark.parametrize(("name", "level"), [("dbg", 3), ("info", 2), ("warn", 1), ("error", 0)])
def test_A_core_68_to_71_fixed_levels(name: str, level: int) -> None:
    ctx = FakeContext({"n": "7"})
    assert run(ctx, name, "n=$n") == [(level, "FSM: 'n=7'")]


# -- A-core-72 … A-core-75 ------------------------------------------------------


def test_A_core_72_log_vars_in_byte_order() -> None:
    ctx = FakeContext({"b": "2", "a": "1", "B": "3", "é": "4"})
    assert run(ctx, "logVars", "2") == [
        (2, "FSM: variables set ---"),
        (2, "FSM:  $B='3'"),
        (2, "FSM:  $a='1'"),
        (2, "FSM:  $b='2'"),
        (2, "FSM:  $é='4'"),
        (2, "FSM: variables end ---"),
    ]


def test_E109_log_vars_bad_level_prints_nothing_else() -> None:
    ctx = FakeContext({"a": "1"})
    logs = run(ctx, "logVars", "x")
    assert len(logs) == 1 and logs[0][0] == 0


def test_A_core_73_log_params() -> None:
    ctx = FakeContext(params={"key": "5", "duration": "100"})
    assert run(ctx, "logParams", "3") == [
        (3, "FSM: params set ---"),
        (3, "FSM:  #duration='100'"),
        (3, "FSM:  #key='5'"),
        (3, "FSM: params end ---"),
    ]


def test_E109_log_params_absent() -> None:
    ctx = FakeContext()
    assert run(ctx, "logParams", "1") == [(1, "FSM: no event params ---")]


def test_A_core_74_log_selects_fixed_order() -> None:
    ctx = FakeContext(selects=SELECTS)
    logs = run(ctx, "logSelects", "2")
    assert logs[0] == (2, "FSM: selects set ---")
    assert logs[-1] == (2, "FSM: selects end ---")
    assert [m for _, m in logs[1:-1]] == [f"FSM:  @{k}='{v}'" for k, v in SELECTS.items()]


def test_A_core_74_log_selects_system_session_mostly_empty() -> None:
    ctx = FakeContext(selects={"local_tag": "SystemDSM_1"})
    logs = run(ctx, "logSelects", "2")
    assert logs[1] == (2, "FSM:  @local_tag='SystemDSM_1'")
    assert all(m.endswith("=''") for _, m in logs[2:-1])


def test_A_core_75_log_all_order() -> None:
    ctx = FakeContext({"a": "1"}, selects=SELECTS)
    logs = run(ctx, "logAll", "3")
    texts = [m for _, m in logs]
    assert texts[:3] == ["FSM: variables set ---", "FSM:  $a='1'", "FSM: variables end ---"]
    assert texts[3] == "FSM: no event params ---"
    assert texts[4] == "FSM: selects set ---"
    assert len(texts) == 4 + 11
    assert {lvl for lvl, _ in logs} == {3}


def test_A_core_75_log_all_bad_level_reported_three_times() -> None:
    ctx = FakeContext()
    logs = run(ctx, "logAll", "bad")
    assert len(logs) == 3 and all(lvl == 0 for lvl, _ in logs)
