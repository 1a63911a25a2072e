"""mod_utils (modules.md section 16): numbers, strings, counting prompts."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from _fake import (
    FakeContext,
    compile_every_name,
    harness_call,
    run_action,
    run_condition,
    write_wav,
)

from dsm.modules.mod_utils import atof, atoi, count_files, format_float, module
from dsm.runtime.call import FileItem, RingtoneItem
from dsm.runtime.errors import DSMException


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def cond(ctx: FakeContext, name: str, *args: str) -> bool:
    return run_condition(module, ctx, name, *args)


def test_declares_22_actions_and_2_conditions() -> None:
    assert len(module.actions) == 22
    assert set(module.conditions) == {"utils.isInList", "utils.startsWith"}


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


# -- F(x) and files(n) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "text"),
    [(3, "3.0"), (2.5, "2.50"), (0.1 + 0.2, "0.30"), (100, "100.0"), (-1.25, "-1.250"),
     (1e20, "1.000000000000000e+20"), (0.125, "0.1250"), (1 / 3, "0.3333333333333333")],
)  # fmt: skip
def test_float_formatting_F(x: float, text: str) -> None:
    assert format_float(x) == text


@pytest.mark.parametrize(
    ("n", "right", "files"),
    [(7, True, ["7"]), (20, True, ["20"]), (45, True, ["40", "x5"]), (300, True, ["300"]),
     (1234, True, ["1000", "200", "30", "x4"]), (12000, True, ["10000", "2000"]),
     (45, False, ["x5", "40"]), (115, True, ["100", "15"]), (0, True, ["0"])],
)  # fmt: skip
def test_counting_files(n: int, right: bool, files: list[str]) -> None:
    assert count_files(n, "", "", right) == files


def test_c_number_prefix_parsers() -> None:
    assert atof("  2.5abc") == 2.5 and atof("x") == 0.0 and atof("-1e2") == -100.0
    assert atof("0x10") == 16.0
    assert atoi(" 42x") == 42 and atoi("junk") == 0 and atoi("4294967297") == 1


# -- M-utils-1 … 8: counting and spelling ------------------------------------------------


def test_M_utils_1_playCountRight_queues_files_and_clears_errno() -> None:
    ctx = FakeContext({"n": "45", "errno": "x"})
    act(ctx, "utils.playCountRight", "$n", "wav/")
    assert ctx.call.played == [FileItem("wav/40.wav"), FileItem("wav/x5.wav")]
    assert ctx.vars["errno"] == ""


def test_M_utils_2_playCountLeft() -> None:
    ctx = FakeContext()
    act(ctx, "utils.playCountLeft", "45", "")
    assert ctx.call.played == [FileItem("x5.wav"), FileItem("40.wav")]


def test_M_utils_1_bad_count_sets_arg_with_strerror() -> None:
    ctx = FakeContext()
    act(ctx, "utils.playCountRight", "4x", "")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("arg", "could not parse count '4x'\n")
    assert ctx.call.played == []


def test_M_utils_1_missing_file_raises_file_and_keeps_earlier_files() -> None:
    ctx = FakeContext()
    ctx.call.missing.add("x5.wav")
    with pytest.raises(DSMException) as err:
        act(ctx, "utils.playCountRight", "45", "")
    assert err.value.params == {"type": "file", "path": "x5.wav"}
    assert ctx.call.played == [FileItem("40.wav")]


def test_M_utils_3_to_6_getCount_variants() -> None:
    ctx = FakeContext({"count_file[5]": "old"})
    act(ctx, "utils.getCountRight", "1234", "d/")
    assert [ctx.vars[f"count_file[{i}]"] for i in range(4)] == [
        "d/1000.wav",
        "d/200.wav",
        "d/30.wav",
        "d/x4.wav",
    ]
    assert ctx.vars["count_file[5]"] == "old" and ctx.vars["errno"] == ""
    act(ctx, "utils.getCountLeft", "21", "")
    assert (ctx.vars["count_file[0]"], ctx.vars["count_file[1]"]) == ("x1.wav", "20.wav")
    act(ctx, "utils.getCountRightNoSuffix", "21", "")
    assert (ctx.vars["count_file[0]"], ctx.vars["count_file[1]"]) == ("20", "x1")
    act(ctx, "utils.getCountLeftNoSuffix", "21", "")
    assert (ctx.vars["count_file[0]"], ctx.vars["count_file[1]"]) == ("x1", "20")
    act(ctx, "utils.getCountLeft", "-1", "")
    assert ctx.vars["errno"] == "arg"


def test_M_utils_7_getNewId() -> None:
    ctx = FakeContext()
    act(ctx, "utils.getNewId", "id")
    act(ctx, "utils.getNewId", "id2")
    assert re.fullmatch(r"[0-9A-F]+(-[0-9A-F]+)+", ctx.vars["id"])
    assert ctx.vars["id"] != ctx.vars["id2"]


def test_M_utils_8_spell_leaves_errno_alone() -> None:
    ctx = FakeContext({"errno": "keep"})
    act(ctx, "utils.spell", "4711", "wav/digits/")
    assert [i.path for i in ctx.call.played] == [f"wav/digits/{c}.wav" for c in "4711"]
    assert ctx.vars["errno"] == "keep"
    ctx.call.missing.add("a.wav")
    with pytest.raises(DSMException) as err:
        act(ctx, "utils.spell", "a", "")
    assert err.value.params["type"] == "file"


# -- M-utils-9 / 10 -------------------------------------------------------------------------


def test_M_utils_9_rand_range_and_resolved_name() -> None:
    ctx = FakeContext({"name": "r"})
    for _ in range(50):
        act(ctx, "utils.rand", "$name", "3")
        assert ctx.vars["r"] in {"0", "1", "2"}
    act(ctx, "utils.rand", "big", "junk")
    assert 0 <= int(ctx.vars["big"]) <= 2147483647


def test_M_utils_10_srand_runs() -> None:
    ctx = FakeContext()
    act(ctx, "utils.srand")
    act(ctx, "utils.rand", "r", "10")
    assert 0 <= int(ctx.vars["r"]) < 10


# -- M-utils-11 … 15: arithmetic and hashing ----------------------------------------------


def test_M_utils_11_add_and_12_sub() -> None:
    ctx = FakeContext({"x": "1", "y": "0.1"})
    act(ctx, "utils.add", "$x", "2")
    assert ctx.vars["x"] == "3.0"
    act(ctx, "utils.add", "$y", "0.2")
    assert ctx.vars["y"] == "0.30"
    act(ctx, "utils.sub", "$x", "4.25")
    assert ctx.vars["x"] == "-1.250"
    act(ctx, "utils.add", "$z", "junk")
    assert ctx.vars["z"] == "0.0"


def test_M_utils_13_mul_wraps_32_bit() -> None:
    ctx = FakeContext({"x": "6", "b": "65536"})
    act(ctx, "utils.mul", "$x", "7")
    assert ctx.vars["x"] == "42"
    act(ctx, "utils.mul", "$b", "65536")
    assert ctx.vars["b"] == "0"


def test_M_utils_14_int_truncates_toward_zero() -> None:
    ctx = FakeContext()
    act(ctx, "utils.int", "$a", "3.9")
    act(ctx, "utils.int", "$b", "-2.5")
    act(ctx, "utils.int", "$c", "abc")
    assert (ctx.vars["a"], ctx.vars["b"], ctx.vars["c"]) == ("3", "-2", "0")


def test_M_utils_15_md5() -> None:
    ctx = FakeContext({"v": "hello"})
    act(ctx, "utils.md5", "$h", "$v")
    assert ctx.vars["h"] == hashlib.md5(b"hello").hexdigest()


# -- M-utils-16 … 21: strings ---------------------------------------------------------------


def test_M_utils_16_replace_literal_pieces_untrimmed() -> None:
    ctx = FakeContext({"s": "a-b-c", "errno": "keep"})
    act(ctx, "utils.replace", "$s", "-=>+")
    assert ctx.vars["s"] == "a+b+c"
    assert ctx.vars["errno"] == "keep"
    ctx.vars["t"] = "a b"
    act(ctx, "utils.replace", "$t", "a => b")
    assert ctx.vars["t"] == " bb"


def test_M_utils_16_replace_with_variables_and_empty_replacement() -> None:
    ctx = FakeContext({"s": "1-2-3", "dash": "-", "none": ""})
    act(ctx, "utils.replace", "$s", "$dash=>$none")
    assert ctx.vars["s"] == "123"


def test_M_utils_16_replace_errors() -> None:
    ctx = FakeContext({"s": "abc"})
    act(ctx, "utils.replace", "$s", "a=>")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == (
        "arg",
        "could not parse search=>replace 'a=>'\n",
    )
    act(ctx, "utils.replace", "$s", "a=>b=>c")
    assert ctx.vars["errno"] == "arg"
    act(ctx, "utils.replace", "$s", "$empty=>x")
    assert ctx.vars["strerror"] == "search var '$empty' value is empty\n"
    assert ctx.vars["s"] == "abc"


def test_M_utils_17_splitStringCR() -> None:
    ctx = FakeContext({"t": "a\r\nb\n\nc\n"})
    act(ctx, "utils.splitStringCR", "$t", "")
    assert [ctx.vars[f"t[{i}]"] for i in range(4)] == ["a\r", "b", "", "c"]
    assert "t[4]" not in ctx.vars
    act(ctx, "utils.splitStringCR", "$t", "$other")
    assert ctx.vars["other[0]"] == "a\r"
    ctx2 = FakeContext()
    act(ctx2, "utils.splitStringCR", "$e", "")
    assert not any(k.startswith("e[") for k in ctx2.vars)


def test_M_utils_18_splitString() -> None:
    ctx = FakeContext({"l": "1;2", "m": "a,b,", "c": "xy", "e": ""})
    act(ctx, "utils.splitString", "$l", ";")
    assert (ctx.vars["l[0]"], ctx.vars["l[1]"]) == ("1", "2")
    act(ctx, "utils.splitString", "$m", ",")
    assert [ctx.vars[f"m[{i}]"] for i in range(3)] == ["a", "b", ""]
    act(ctx, "utils.splitString", "$c", "")
    assert (ctx.vars["c[0]"], ctx.vars["c[1]"]) == ("x", "y")
    act(ctx, "utils.splitString", "$e", ",")
    assert ctx.vars["e[0]"] == ""
    act(ctx, "utils.splitString", "", ",")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("arg", "varname is empty\n")


def test_M_utils_19_decodeJson_example_and_leaves() -> None:
    ctx = FakeContext({"js": '{"a":[1,{"b":"x"}],"f":2.5,"e":1e2,"t":true,"n":null,"o":{},"l":[]}'})
    act(ctx, "utils.decodeJson", "$js", "$j")
    assert ctx.vars["j.a[0]"] == "1"
    assert ctx.vars["j.a[1].b"] == "x"
    assert ctx.vars["j.f"] == "2.50"
    assert ctx.vars["j.e"] == "100.0"
    assert ctx.vars["j.t"] == "true"
    assert ctx.vars["j.n"] == ""
    assert not any(k.startswith(("j.o", "j.l")) for k in ctx.vars)


def test_M_utils_19_decodeJson_errors() -> None:
    ctx = FakeContext({"js": "{bad"})
    act(ctx, "utils.decodeJson", "$js", "j")
    assert (ctx.vars["errno"], ctx.vars["strerror"]) == ("arg", "failed to decode json string\n")
    act(ctx, "utils.decodeJson", "{}", "")
    assert ctx.vars["strerror"] == "struct name is empty\n"
    act(ctx, "utils.decodeJson", "[NaN]", "j")
    assert ctx.vars["strerror"] == "failed to decode json string\n"


def test_M_utils_20_21_escape_and_unescape_CRLF() -> None:
    ctx = FakeContext({"h": "A: b\r\nC: d\r\n"})
    act(ctx, "utils.escapeCRLF", "$h")
    assert ctx.vars["h"] == "A: b\\r\\nC: d\\r\\n"
    act(ctx, "utils.unescapeCRLF", "$h")
    assert ctx.vars["h"] == "A: b\r\nC: d\r\n"


# -- M-utils-22: ring tone --------------------------------------------------------------------


def test_M_utils_22_playRingTone_defaults_and_values() -> None:
    ctx = FakeContext({"f": "425", "errno": "keep"})
    act(ctx, "utils.playRingTone", "0", "")
    act(ctx, "utils.playRingTone", "5000", '1000, "500", $f, bad')
    assert ctx.call.played == [
        RingtoneItem(0, 2000, 4000, 440, 480),
        RingtoneItem(5000, 1000, 500, 425, 480),
    ]
    assert ctx.vars["errno"] == "keep"
    assert any("could not parse" in m for _, m in ctx.logs)


def test_M_utils_22_bad_length_is_a_warning_and_endless() -> None:
    ctx = FakeContext()
    act(ctx, "utils.playRingTone", "soon", ",,,,1,2,3")
    assert ctx.call.played == [RingtoneItem(0, 2000, 4000, 440, 480)]
    assert ctx.logs[0][0] == 1


# -- M-utils-23 / 24: conditions ----------------------------------------------------------------


def test_M_utils_23_isInList() -> None:
    ctx = FakeContext(params={"code": "480"})
    assert cond(ctx, "utils.isInList", "#code", "404, 480")
    assert not cond(ctx, "utils.isInList", "48", "404, 480")
    assert not cond(ctx, "utils.isInList", "", "a,,b")
    assert cond(ctx, "utils.isInList", "b", "a,\tb\t,")


def test_M_utils_24_startsWith() -> None:
    ctx = FakeContext({"s": "sip:alice"})
    assert cond(ctx, "utils.startsWith", "$s", "sip:")
    assert cond(ctx, "utils.startsWith", "$s", "$empty")
    assert not cond(ctx, "utils.startsWith", "$s", "tel:")


def test_M_utils_harness_script(tmp_path: Path) -> None:
    script = """import(mod_utils);
initial state S enter {
  set($x=1);
  utils.add($x, 2);
  set($l="1;2");
  utils.splitString($l, ";");
  utils.getCountRight(45, wav/);
  if utils.isInList(b, "a, b") { set($inlist=yes); }
};
"""
    call = harness_call(tmp_path, script)
    assert call.vars["x"] == "3.0"
    assert call.vars["l[1]"] == "2"
    assert call.vars["count_file[1]"] == "wav/x5.wav"
    assert call.vars["inlist"] == "yes"


UTILS_SCRIPT = r"""import(mod_utils);
initial state S enter {
  utils.playCountRight(45, TMP/);
  set($e_play=$errno);
  utils.playCountLeft(45, TMP/);
  utils.getCountRight(1234, d/);
  set($gcr3=$count_file[3]);
  utils.getCountLeft(21);
  set($gcl0=$count_file[0]);
  utils.getCountRightNoSuffix(21);
  set($gcrn0=$count_file[0]);
  utils.getCountLeftNoSuffix(21);
  utils.getNewId(id);
  utils.spell(47, TMP/);
  utils.srand();
  utils.rand(r, 10);
  set($a=1);
  utils.add($a, 2);
  set($s=5);
  utils.sub($s, 1.5);
  set($m=6);
  utils.mul($m, 7);
  utils.int($i, 3.9);
  utils.md5($h, hello);
  set($rp=a-b-c);
  utils.replace($rp, -=>+);
  set($c=a\r\nb);
  utils.unescapeCRLF($c);
  utils.splitStringCR($c);
  set($c2=$c);
  utils.escapeCRLF($c2);
  set($l="1;2");
  utils.splitString($l, ";");
  set($js='{"a":[1,{"b":"x"}],"f":2.5}');
  utils.decodeJson($js, j);
  utils.playRingTone(1000, "500, 500, 425");
  if utils.isInList(b, "a, b") { set($in=yes); }
  if utils.startsWith(sip:x, sip:) { set($sw=yes); }
};
"""


def test_M_utils_every_action_and_condition_in_a_script(tmp_path: Path) -> None:
    """M-utils-1 … 24 end to end through the harness."""
    for name in ("40", "x5", "4", "7"):
        write_wav(tmp_path / f"{name}.wav")
    call = harness_call(tmp_path, UTILS_SCRIPT.replace("TMP", str(tmp_path)))
    call.advance(5.0)
    v = call.vars
    assert v["e_play"] == ""
    assert (v["gcr3"], v["gcl0"], v["gcrn0"]) == ("d/x4.wav", "x1.wav", "20")
    assert (v["count_file[0]"], v["count_file[1]"]) == ("x1", "20")
    assert re.fullmatch(r"[0-9A-F-]+", v["id"])
    assert 0 <= int(v["r"]) < 10
    assert (v["a"], v["s"], v["m"], v["i"]) == ("3.0", "3.50", "42", "3")
    assert v["h"] == hashlib.md5(b"hello").hexdigest()
    assert v["rp"] == "a+b+c"
    assert (v["c[0]"], v["c[1]"]) == ("a\r", "b")
    assert v["c2"] == "a\\r\\nb"
    assert (v["l[0]"], v["l[1]"]) == ("1", "2")
    assert (v["j.a[0]"], v["j.a[1].b"], v["j.f"]) == ("1", "x", "2.50")
    assert (v["in"], v["sw"]) == ("yes", "yes")
    played = [(p.kind, Path(p.path).name) for p in call.played]
    assert played[:6] == [
        ("file", "40.wav"),
        ("file", "x5.wav"),
        ("file", "x5.wav"),
        ("file", "40.wav"),
        ("file", "4.wav"),
        ("file", "7.wav"),
    ]
    assert played[6][0] == "ringtone"


def test_M_utils_1_and_22_in_a_system_dsm_raise_core_not_implemented() -> None:
    """Sys: core-ex (actions.md 0.3) — the stand-in call of a system DSM has no playlist."""
    from dsm.runtime.call import SystemCall

    ctx = FakeContext(kind="system")
    ctx.call = SystemCall("SystemDSM_1")
    for name, args in (("utils.playCountRight", ("5", "")), ("utils.playRingTone", ("0", ""))):
        with pytest.raises(DSMException) as err:
            act(ctx, name, *args)
        assert err.value.params == {"type": "core", "cause": "not implemented in SystemDSM"}
    act(ctx, "utils.getCountRight", "5", "")  # no playing: works everywhere
    assert ctx.vars["count_file[0]"] == "5.wav"
