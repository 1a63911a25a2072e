"""mod_sys (modules.md section 14): files, shell commands, time stamps."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _fake import FakeContext, compile_every_name, harness_call, run_action, run_condition

from dsm.modules import mod_sys
from dsm.modules.mod_sys import module
from dsm.runtime.errors import DSMException


def act(ctx: FakeContext, name: str, *args: str) -> None:
    run_action(module, ctx, name, *args)


def cond(ctx: FakeContext, name: str, *args: str) -> bool:
    return run_condition(module, ctx, name, *args)


def test_declares_every_action_and_condition_of_section_14() -> None:
    assert set(module.actions) == {
        "sys.mkdir", "sys.mkdirRecursive", "sys.rename", "sys.unlink", "sys.unlinkArray",
        "sys.tmpnam", "sys.popen", "sys.getTimestamp", "sys.subTimestamp",
    }  # fmt: skip
    assert set(module.conditions) == {"sys.file_exists", "sys.file_not_exists", "sys.system"}
    assert module.action_signature("sys.popen").style == "P=mand"  # type: ignore[union-attr]
    assert module.condition_signature("sys.file_exists").style == "raw"  # type: ignore[union-attr]


def test_M_api_3_dsm_check_knows_every_name() -> None:
    chart = compile_every_name(module)
    assert [a.module for a in chart.states[0].enter] == [module.name] * len(module.actions)


# -- M-sys-1 / M-sys-2 -----------------------------------------------------------


def test_M_sys_1_mkdir_creates_and_clears_errno(tmp_path: Path) -> None:
    ctx = FakeContext({"d": str(tmp_path / "new"), "errno": "arg"})
    act(ctx, "sys.mkdir", "$d")
    assert (tmp_path / "new").is_dir()
    assert ctx.vars["errno"] == ""


def test_M_sys_1_mkdir_existing_or_without_parent_sets_errno_file(tmp_path: Path) -> None:
    ctx = FakeContext()
    act(ctx, "sys.mkdir", str(tmp_path))
    assert ctx.vars["errno"] == "file"
    ctx.clear_error()
    act(ctx, "sys.mkdir", str(tmp_path / "a" / "b"))
    assert ctx.vars["errno"] == "file"


def test_M_sys_2_mkdirRecursive_creates_parents(tmp_path: Path) -> None:
    ctx = FakeContext()
    act(ctx, "sys.mkdirRecursive", str(tmp_path / "a" / "b" / "c"))
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert ctx.vars["errno"] == ""


def test_M_sys_2_mkdirRecursive_existing_path_succeeds(tmp_path: Path) -> None:
    ctx = FakeContext({"errno": "file"})
    act(ctx, "sys.mkdirRecursive", str(tmp_path))
    assert ctx.vars["errno"] == ""


def test_M_sys_2_quirk_relative_name_without_slash_fails(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    ctx = FakeContext()
    act(ctx, "sys.mkdirRecursive", "newdir")
    assert ctx.vars["errno"] == "file"
    assert not (tmp_path / "newdir").exists()
    act(ctx, "sys.mkdirRecursive", "x/y")
    assert ctx.vars["errno"] == ""
    assert (tmp_path / "x" / "y").is_dir()


# -- M-sys-3 / 4 / 5 ---------------------------------------------------------------


def test_M_sys_3_rename(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("x")
    ctx = FakeContext({"from": str(src), "errno": "arg"})
    act(ctx, "sys.rename", "$from", str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").read_text() == "x"
    assert ctx.vars["errno"] == ""
    act(ctx, "sys.rename", str(src), str(tmp_path / "c.txt"))
    assert ctx.vars["errno"] == "file"


def test_M_sys_4_unlink(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    ctx = FakeContext({"errno": "x"})
    act(ctx, "sys.unlink", str(f))
    assert not f.exists() and ctx.vars["errno"] == ""
    act(ctx, "sys.unlink", str(f))
    assert ctx.vars["errno"] == "file"


def test_M_sys_4_unlink_empty_name_does_nothing() -> None:
    ctx = FakeContext({"errno": "keep"})
    act(ctx, "sys.unlink", "$missing")
    assert ctx.vars["errno"] == "keep"


def test_M_sys_5_unlinkArray_removes_every_element_and_continues_after_failure(
    tmp_path: Path,
) -> None:
    for name in ("a", "c"):
        (tmp_path / name).write_text("")
    ctx = FakeContext({"f_size": "3", "f_0": "a", "f_1": "b-missing", "f_2": "c"})
    act(ctx, "sys.unlinkArray", "f", str(tmp_path))
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()
    assert ctx.vars["errno"] == "file"


def test_M_sys_5_unlinkArray_success_clears_errno_and_bad_size_is_arg(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    ctx = FakeContext({"f_size": "1", "f_0": "a", "errno": "x"})
    act(ctx, "sys.unlinkArray", "f", str(tmp_path))
    assert ctx.vars["errno"] == ""
    ctx.vars["f_size"] = "two"
    act(ctx, "sys.unlinkArray", "f", str(tmp_path))
    assert ctx.vars["errno"] == "arg"


def test_M_sys_5_unlinkArray_empty_array_name_does_nothing() -> None:
    ctx = FakeContext({"errno": "keep"})
    act(ctx, "sys.unlinkArray", "", "/tmp")
    assert ctx.vars["errno"] == "keep"


# -- M-sys-6 -------------------------------------------------------------------------


def test_M_sys_6_tmpnam_creates_an_empty_unique_file() -> None:
    ctx = FakeContext()
    act(ctx, "sys.tmpnam", "t")
    act(ctx, "sys.tmpnam", "u")
    try:
        path = ctx.vars["t"]
        assert path.startswith("/tmp/sems_") and len(path) == len("/tmp/sems_XXXXXX")
        assert os.path.getsize(path) == 0
        assert ctx.vars["u"] != path
        assert ctx.vars["errno"] == ""
    finally:
        for var in ("t", "u"):
            os.unlink(ctx.vars[var])


# -- M-sys-7 -------------------------------------------------------------------------


def test_M_sys_7_popen_stores_output_and_wait_status() -> None:
    ctx = FakeContext({"errno": "keep"})
    act(ctx, "sys.popen", "$out", "echo hello; exit 1")
    assert ctx.vars["out"] == "hello\n"
    assert ctx.vars["out.status"] == "256"
    assert ctx.vars["errno"] == "keep"


def test_M_sys_7_quirk_command_is_resolved_not_interpolated() -> None:
    ctx = FakeContext({"x": "NOT-USED"})
    act(ctx, "sys.popen", "o", "echo [$x]")
    assert ctx.vars["o"] == "[]\n"  # the shell saw `$x`
    ctx.vars["cmd"] = "echo built"
    act(ctx, "sys.popen", "o", "$cmd")
    assert ctx.vars["o"] == "built\n" and ctx.vars["o.status"] == "0"


def test_M_sys_7_start_failure_raises_popen(monkeypatch: Any) -> None:
    def broken(*a: Any, **k: Any) -> None:
        raise OSError("no shell")

    monkeypatch.setattr(subprocess, "run", broken)
    with pytest.raises(DSMException) as err:
        act(FakeContext(), "sys.popen", "o", "true")
    assert err.value.params == {"type": "popen", "cause": "no shell"}


# -- M-sys-8 / 9 ---------------------------------------------------------------------


def test_M_sys_8_getTimestamp(monkeypatch: Any) -> None:
    monkeypatch.setattr(mod_sys, "_wall_clock", lambda: 1700000000.25)
    ctx = FakeContext()
    act(ctx, "sys.getTimestamp", "a")
    assert ctx.vars["a.tv_sec"] == "1700000000"
    assert ctx.vars["a.tv_usec"] == "250000"


def test_M_sys_9_subTimestamp_normalises_microseconds() -> None:
    ctx = FakeContext(
        {"b.tv_sec": "10", "b.tv_usec": "100000", "a.tv_sec": "8", "a.tv_usec": "900000"}
    )
    act(ctx, "sys.subTimestamp", "b", "a")
    assert (ctx.vars["b.tv_sec"], ctx.vars["b.tv_usec"], ctx.vars["b.msec"]) == (
        "1",
        "200000",
        "1200",
    )


def test_M_sys_9_quirk_negative_difference_prints_unsigned_and_garbage_is_zero() -> None:
    ctx = FakeContext({"b.tv_sec": "junk", "a.tv_sec": "1"})
    act(ctx, "sys.subTimestamp", "b", "a")
    assert ctx.vars["b.tv_sec"] == "-1"
    assert ctx.vars["b.msec"] == str(2**64 - 1000)


# -- M-sys-10 / 11 / 12 ----------------------------------------------------------------


def test_M_sys_10_file_exists(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    ctx = FakeContext({"p": str(f)})
    assert cond(ctx, "sys.file_exists", "$p")
    assert cond(ctx, "sys.file_exists", str(tmp_path))  # directories count
    assert not cond(ctx, "sys.file_exists", str(tmp_path / "nope"))
    assert not cond(ctx, "sys.file_exists", " " + str(f))  # raw: untrimmed
    assert not cond(ctx, "sys.file_exists", "")


def test_M_sys_11_file_not_exists(tmp_path: Path) -> None:
    ctx = FakeContext()
    assert cond(ctx, "sys.file_not_exists", str(tmp_path / "nope"))
    assert not cond(ctx, "sys.file_not_exists", str(tmp_path))


def test_M_sys_12_system_exit_status() -> None:
    ctx = FakeContext({"c": "exit 0"})
    assert cond(ctx, "sys.system", "$c")
    assert not cond(ctx, "sys.system", "exit 1")
    assert ctx.logs == []
    assert not cond(ctx, "sys.system", "exit 3")
    assert ctx.logs and ctx.logs[-1][0] == 0
    assert not cond(ctx, "sys.system", "$empty")
    assert "empty" in ctx.logs[-1][1]


# -- end to end through the harness ------------------------------------------------


def test_M_sys_harness_script(tmp_path: Path) -> None:
    target = tmp_path / "made"
    script = f"""import(mod_sys);
initial state S enter {{
  sys.mkdir({target});
  sys.popen($out=echo hi);
  sys.getTimestamp(t1);
  if sys.file_exists({target}) {{ set($seen=yes); }}
}};
"""
    call = harness_call(tmp_path, script)
    assert target.is_dir()
    assert call.vars["errno"] == ""
    assert call.vars["out"] == "hi\n"
    assert call.vars["t1.tv_sec"].isdigit()
    assert call.vars["seen"] == "yes"


SYS_SCRIPT = r"""import(mod_sys);
initial state S enter {
  set($d=TMP/a);
  sys.mkdir($d);
  set($e_mkdir=$errno);
  sys.mkdirRecursive(TMP/b/c/d);
  set($e_rec=$errno);
  sys.popen($o=touch TMP/a/f1 TMP/a/f2 && echo ok);
  sys.rename(TMP/a/f1, TMP/a/g1);
  set($e_ren=$errno);
  sys.unlink(TMP/a/g1);
  set($e_unl=$errno);
  set($arr_size=1);
  set($arr_0=f2);
  sys.unlinkArray(arr, TMP/a);
  set($e_arr=$errno);
  sys.tmpnam(tmp);
  set($t2.tv_sec=1);
  set($t2.tv_usec=0);
  set($t1.tv_sec=3);
  set($t1.tv_usec=500000);
  sys.subTimestamp(t1, t2);
  sys.getTimestamp(now);
  sys.unlink(TMP/a/missing);
  if sys.file_exists(TMP/b/c/d) { set($exists=yes); }
  if sys.file_not_exists(TMP/a/g1) { set($gone=yes); }
  if sys.system(exit 0) { set($sys0=yes); }
  if not sys.system(exit 1) { set($sys1=no); }
};
"""


def test_M_sys_every_action_and_condition_in_a_script(tmp_path: Path) -> None:
    """M-sys-1 … 12 end to end through the harness."""
    call = harness_call(tmp_path, SYS_SCRIPT.replace("TMP", str(tmp_path)))
    v = call.vars
    try:
        assert [v[k] for k in ("e_mkdir", "e_rec", "e_ren", "e_unl", "e_arr")] == [""] * 5
        assert v["errno"] == "file"  # the last unlink failed
        assert (tmp_path / "b" / "c" / "d").is_dir()
        assert not any((tmp_path / "a").iterdir())
        assert v["o"] == "ok\n" and v["o.status"] == "0"
        assert v["tmp"].startswith("/tmp/sems_")
        assert (v["t1.tv_sec"], v["t1.tv_usec"], v["t1.msec"]) == ("2", "500000", "2500")
        assert v["now.tv_sec"].isdigit() and v["now.tv_usec"].isdigit()
        assert (v["exists"], v["gone"], v["sys0"], v["sys1"]) == ("yes", "yes", "yes", "no")
    finally:
        if v.get("tmp"):
            os.unlink(v["tmp"])
