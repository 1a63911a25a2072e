"""Executing action lists: if/else, for loops, break, interruption (engine.md section 7, E-59 … E-70)."""

from __future__ import annotations

from engine_rig import Rig


def test_E63_if_else_sees_the_event_being_processed(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { if key(#key == 1) { set($r=key1) } else { set($r=other) } };
        transition t A - key -> A;
        """,
    )
    assert s.vars["r"] == "other"  # the start event is not a key event
    rig.key(s, "1")
    assert s.vars["r"] == "key1"


def test_E62_break_in_transition_cancels_state_change(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A exit { set($exit=1) };
        state B enter { set($enter=1) };
        transition t A - key / set($before=1); break(); set($after=1) -> B;
        """,
    )
    rig.key(s, "1")
    assert s.vars["exit"] == "1" and s.vars["before"] == "1"
    assert "after" not in s.vars and "enter" not in s.vars and rig.where(s) == "d/A"


def test_E62_break_in_exit_list_skips_transition_actions(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A exit { break() };
        state B;
        transition t A - key / set($act=1) -> B;
        """,
    )
    rig.key(s, "1")
    assert "act" not in s.vars and rig.where(s) == "d/A"


def test_E60_break_inside_if_interrupts_enclosing_list(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { if test(1 == 1) { set($a=1); break(); set($b=1) }; set($c=1) };
        """,
    )
    assert s.vars["a"] == "1" and "b" not in s.vars and "c" not in s.vars


def test_E67_range_loops(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter {
          for ($i in range(3)) { append($up, $i) };
          for ($i in range(5, 2)) { append($down, $i) };
          for ($i in range(-2, 1)) { append($neg, $i) };
          set($n=x);
          for ($i in range($n)) { append($none, $i) };
        };
        """,
    )
    assert s.vars["up"] == "012" and s.vars["down"] == "543" and s.vars["neg"] == "-2-10"
    assert "none" not in s.vars


def test_E65_counter_restored_after_loop_and_deleted_if_new(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter {
          set($i=keep);
          for ($i in range(2)) { append($seen, $i) };
          for ($j in range(2)) { append($seen, $j) };
        };
        """,
    )
    assert s.vars["i"] == "keep" and "j" not in s.vars and s.vars["seen"] == "0101"


def test_E65_no_restore_after_exception(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { for ($i in range(5)) { if test($i == 2) { throw(x) } } };
        """,
    )
    assert s.vars["i"] == "2"


def test_E68_array_loop_items_collected_first(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter {
          set($a[0]=x); set($a[1]=y);
          for ($v in a) { append($seen, $v); set($a[2]=z) };
        };
        """,
    )
    assert s.vars["seen"] == "xy"


def test_E69_struct_loop_keys_and_values(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter {
          set($rec.a=1); set($rec.b=2);
          for ($k,$v in rec) { append($seen, $k); append($seen, =); append($seen, $v) };
        };
        """,
    )
    assert s.vars["seen"] == "a=1b=2" and "k" not in s.vars and "v" not in s.vars


def test_E69_struct_loop_skips_exact_name(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter { set($rec=top); set($rec.a=1); for ($k, $v in rec) { append($seen, $k) } };
        """,
    )
    assert s.vars["seen"] == "a"


def test_E70_break_in_loop_body_ends_loop_only(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A enter {
          for ($i in range(10)) { if test($i == 3) { break() }; append($seen, $i) };
          set($after=1);
        };
        """,
    )
    assert s.vars["seen"] == "012" and s.vars["after"] == "1"


def test_E70_jump_in_loop_body_continues_loop_and_enclosing_list(rig: Rig) -> None:
    rig.load(
        other="initial state O enter { append($o, J) };",
        d="""
        initial state A enter {
          for ($i in range(2)) { append($o, $i); jumpFSM(other); append($o, never) };
          append($o, after);
        };
        """,
    )
    s = rig.call("d")
    assert s.vars["o"] == "0J1Jafter"
    assert rig.where(s) == "other/O"


def test_E70_flow_change_in_loop_in_transition_state_object_from_old_diagram(rig: Rig) -> None:
    """The target looked up in the old diagram becomes current while the diagram is the new one."""
    rig.load(
        other="""
        initial state O; state B;
        transition ob B - key(#key == 2) / set($r=other_B) -> O;
        """,
        d="""
        initial state A; state B;
        transition t A - key(#key == 1) / for ($i in range(1)) { jumpFSM(other) } -> B;
        transition b B - key(#key == 2) / set($r=d_B) -> A;
        """,
    )
    s = rig.call("d")
    rig.key(s, "1")
    assert s.state is not None and s.state.diagram.name == "d" and s.state.name == "B"
    assert s.diagram is not None and s.diagram.name == "other"
    rig.key(s, "2")  # B's transitions are d's; the target 'A' is looked up in 'other'
    assert s.vars["r"] == "d_B"
    assert any("'A' not found" in e for e in rig.errors())


def test_E70_repost_in_loop_body_sets_round_flag(rig: Rig) -> None:
    s = rig.run(
        "d",
        """
        initial state A; state B;
        transition t A - key / for ($i in range(1)) { repost() } -> B;
        transition u B - key / set($reposted=1) -> B;
        """,
    )
    rig.key(s, "1")
    assert s.vars["reposted"] == "1"


def test_E64_loop_with_empty_collection_name_skipped(rig: Rig) -> None:
    s = rig.run("d", "initial state A enter { for ($v in $) { set($x=1) }; set($y=1) };")
    assert "x" not in s.vars and s.vars["y"] == "1"


def test_L60_E64_blank_before_value_name_is_part_of_the_name(rig: Rig) -> None:
    """``for ($k, $v in s)`` has the value variable `` $v`` (not stripped, L-60)."""
    s = rig.run("d", "initial state A enter { set($rec.a=1); for ($k, $v in rec) { set($seen=$k) } };")
    assert s.vars["seen"] == "a" and "v" not in s.vars and " $v" not in s.vars
