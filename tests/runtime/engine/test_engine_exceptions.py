"""Exceptions (engine.md section 8, E-71 … E-79) and faults of Python code."""

from __future__ import annotations

from engine_rig import Rig


def test_E72_E73_exception_round_with_copy_of_params(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state ERR;
        transition t A - key / throw(boom, a=1); set($never=1) -> B;
        transition e A - exception; test(#type == boom) / set($a=#a); set($key=#key); set(#processed=true) -> ERR;
        """,
    )
    params = rig.send(s, "Key", {"key": "5"})
    assert s.vars["a"] == "1" and s.vars["key"] == ""
    assert "never" not in s.vars and rig.where(s) == "d/ERR"
    assert params == {"key": "5"}  # E-73: writes go to the copy only


def test_E72_exception_in_enter_keeps_new_state(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B enter { throw(x) };
        transition t A - key -> B;
        """,
    )
    rig.key(s, "1")
    assert rig.where(s) == "d/B"


def test_E74_typed_conditions_never_match_in_exception_rounds(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition t A - key / throw(x) -> A;
        transition k A - exception; key -> B;
        transition n A - exception; not key / set($inv=1) -> C;
        """,
    )
    rig.key(s, "1")
    assert rig.where(s) == "d/C" and s.vars["inv"] == "1"


def test_E75_unhandled_exception_is_discarded(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition t A - key / throw(x); set($y=1) -> A;")
    rig.key(s, "1")
    assert "y" not in s.vars and rig.where(s) == "d/A"


def test_E76_repost_keeps_exception_mode(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition t A - key / throw(x) -> A;
        transition e A - exception / repost() -> B;
        transition n B - test(#type == x) / set($normal=1) -> C;
        transition f B - exception; test(#type == x) / set($exc=1) -> C;
        """,
    )
    rig.key(s, "1")
    assert s.vars.get("exc") == "1" and "normal" not in s.vars


def test_E77_exception_in_exception_round_starts_new_round(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B; state C;
        transition t A - key / throw(first) -> A;
        transition e A - exception; test(#type == first) / throw(second) -> B;
        transition f A - exception; test(#type == second) / set($got=second) -> C;
        """,
    )
    rig.key(s, "1")
    assert s.vars["got"] == "second" and rig.where(s) == "d/C"


def test_E58_endless_exception_loop_abandoned(rig: Rig) -> None:
    s = rig.run("d", "initial state A; transition t A - exception / throw(again) -> A; transition k A - key / throw(x) -> A;")
    rig.key(s, "1")
    assert any("abandoned" in e for e in rig.errors())
    assert rig.where(s) == "d/A"


def test_E50_exception_from_condition(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        import(mod_enginetest);
        initial state A; state B; state ERR;
        transition t A - key; t.boomCond() -> B;
        transition e A - exception; test(#type == internal) / set($cause=#cause) -> ERR;
        """,
    )
    rig.key(s, "1")
    assert rig.where(s) == "d/ERR" and "KeyError" in s.vars["cause"]


def test_python_fault_becomes_internal_exception_with_location(rig: Rig) -> None:
    """A Python error in an action is this session's ``{type: internal}`` (E-139 word), logged with file:line."""
    s = rig.run(
        "d",
        """
        import(mod_enginetest);
        initial state A; state ERR;
        transition t A - key / t.boom() -> A;
        transition e A - exception; test(#type == internal) / set($cause=#cause); set($loc=#loc) -> ERR;
        """,
    )
    other = rig.call("d")
    rig.key(s, "1")
    assert rig.where(s) == "d/ERR" and s.vars["cause"] == "ZeroDivisionError: boom"
    assert s.vars["loc"].startswith("d:4:")
    assert any("d:4:" in e and "t.boom" in e for e in rig.errors())
    assert rig.where(other) == "d/A"  # other sessions go on


def test_E79_throw_on_error_params(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state ERR;
        transition t A - key / setTimer(1, soon); throwOnError() -> A;
        transition e A - exception / set($type=#type); set($text=#text) -> ERR;
        """,
    )
    rig.key(s, "1")
    assert s.vars["type"] == "arg" and s.vars["text"] == "timeout value 'soon' not decipherable\n"


def test_E58_self_jump_in_initial_enter_is_bounded(rig: Rig) -> None:
    """A diagram jumping to itself from its initial enter list recurses forever in the reference."""
    s = rig.run("d", "initial state A enter { jumpFSM(d) };")
    other = rig.run("e", "initial state A; transition t A - key / set($x=1) -> A;")
    rig.key(other, "1")
    assert rig.where(s) == "d/A" and other.vars["x"] == "1"
    assert any("nested deeper" in e for e in rig.errors())
