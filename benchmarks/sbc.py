"""SBC relay capacity (issue 21): relayed calls per second with no failure, CPU per relayed call.

``dsm serve --sip … --sbc sbc.conf`` runs as a subprocess (one asyncio loop,
so one core) on free loopback ports, with one profile whose ``next_hop`` is
a sipp callee (sipp's built-in ``uas`` scenario: 180, 200 with SDP, waits for
the BYE; ``-rtp_echo`` sends every RTP packet back).  A sipp caller places
calls at rising rates (10, 25, 50, 100, 150, 200 calls/s, each for a few
seconds): INVITE with a PCMU offer, 180/200, ACK, 1 s of PCMU audio streamed
to the SBC (``rtp_stream``), BYE.  The B leg gets a fresh Call-ID and the
caller's headers; the BYE crosses to the callee.

Two runs, each with a fresh server:

* ``sbc_…``: media end to end (the SDP passes unchanged; the SBC sees no RTP);
* ``sbc_rtp_relay_…``: ``enable_rtp_relay=yes``: both legs' RTP through the
  SBC's ports (the caller's stream relayed to the callee, its echo back).

For each run: ``max_cps_no_failures`` is the highest rate at which neither
sipp counts a failed call; ``cpu_ms_per_call`` the server's CPU time (user +
system from ``/proc``) over that step divided by its calls.  Every step is
listed.  Every loop is bounded in count and time (the run stays under about
two and a half minutes), all traffic is on 127.0.0.1, and the server and every
sipp are killed on every path.

Run: ``.venv/bin/python benchmarks/sbc.py``.  The last line of output is one
JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile
from sip import (  # the SIP benchmark's helpers (same folder)
    free_port,
    proc_cpu_seconds,
    sipp_counts,
)

RATES: tuple[int, ...] = (10, 25, 50, 100, 150, 200)
STEP_SECONDS = 3
BUDGET = 150.0
"""Seconds for the whole run; steps that would not fit are left out."""

UAC = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sbc-caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:b@127.0.0.1:{callee} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:b@127.0.0.1:{callee}>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec rtp_stream="{audio},-1,0"/></action></nop>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


class SbcServer:
    """``dsm serve --sbc`` as a subprocess; killed on exit whatever happened."""

    def __init__(self, work: Path, callee: int, rtp_relay: bool) -> None:
        folder = work / ("relay" if rtp_relay else "direct")
        folder.mkdir()
        (folder / "bench.sbcprofile.conf").write_text(
            f"next_hop=127.0.0.1:{callee}\n" + ("enable_rtp_relay=yes\n" if rtp_relay else "")
        )
        conf = folder / "sbc.conf"
        conf.write_text("load_profiles=bench\nactive_profile=bench\n")
        scripts = folder / "scripts"
        scripts.mkdir()
        (scripts / "idle.dsm").write_text("initial state S;\n")
        for attempt in range(3):  # a port picked free may be taken before the server binds it
            if self._start(scripts, conf) or attempt == 2:
                break
        if self.proc.poll() is not None:
            raise RuntimeError(f"dsm serve exited {self.proc.returncode}: {self.errors[-500:]}")

    def _start(self, scripts: Path, conf: Path) -> bool:
        self.token = os.urandom(16).hex()
        self.sip_port = free_port()
        self.control_port = free_port(socket.SOCK_STREAM)
        cmd = [
            sys.executable, "-m", "dsm.cli", "serve", "--scripts", str(scripts), "--sbc", str(conf),
            "--sip", f"127.0.0.1:{self.sip_port}", "--control", f"127.0.0.1:{self.control_port}",
            "--rtp-ports", "30000-39999", "--log-level", "error", "--control-token", self.token,
        ]  # fmt: skip
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.errors = ""
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.control_port}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=5.0,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                self.errors = self.stderr.read()
                self.client.close()
                return False
            with contextlib.suppress(httpx.HTTPError, KeyError):
                self.calls()
                return True
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("dsm serve did not start within 30 s")
            time.sleep(0.1)

    def calls(self) -> int:
        """Relayed calls in progress (``sbc.calls`` over the control endpoint)."""
        answer = self.client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "sbc.calls"}).json()
        return len(answer["result"]["calls"])

    def settle(self, deadline: float) -> None:
        limit = min(time.monotonic() + 15, deadline)
        while time.monotonic() < limit:
            with contextlib.suppress(httpx.HTTPError, KeyError):
                if self.calls() == 0:
                    return
            time.sleep(0.2)

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()


def start_callee(sipp: str, work: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-rtp_echo",
            "-mi", "127.0.0.1", "-mp", str(free_port(even=True)), "-max_socket", "4096",
            "-nostdin", "-trace_stat", "-stf", str(work / "callee.csv"), "-fd", "1",
        ],  # fmt: skip
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def measure(sipp: str, work: Path, rtp_relay: bool, deadline: float) -> dict[str, object]:
    callee_port = free_port()
    callee = start_callee(sipp, work, callee_port)
    server = SbcServer(work, callee_port, rtp_relay)
    xml = work / f"uac-{'relay' if rtp_relay else 'direct'}.xml"
    xml.write_text(UAC.replace("{callee}", str(callee_port)).replace("{audio}", str(work / "caller.wav")))
    best, best_cpu = 0, None
    steps: list[dict[str, object]] = []
    label = "rtp relay" if rtp_relay else "direct"
    try:
        for rate in RATES:
            calls = rate * STEP_SECONDS
            budget = STEP_SECONDS + 15.0
            if time.monotonic() + budget > deadline:
                break
            code, counts, cpu_ms = run_step(sipp, work, server, xml, rate, calls, budget, deadline)
            ok = code == 0 and counts.get("FailedCall(C)", 1) == 0 and counts.get("SuccessfulCall(C)") == calls
            steps.append({"rate": rate, "calls": calls, "sipp_exit": code, "cpu_ms_per_call": cpu_ms, **counts})
            print(f"{label} {rate:4d}/s: exit {code} {counts} cpu {cpu_ms} ms/call", flush=True)
            if not ok:
                break
            best, best_cpu = rate, cpu_ms
    finally:
        server.close()
        callee.kill()
        callee.wait(10)
    callee_failed = sipp_counts(work / "callee.csv").get("FailedCall(C)")
    return {"max_cps_no_failures": best, "cpu_ms_per_call": best_cpu, "steps": steps, "callee_failed": callee_failed}


def run_step(
    sipp: str, work: Path, server: SbcServer, xml: Path, rate: int, calls: int, budget: float, deadline: float
) -> tuple[int | None, dict[str, int], float | None]:
    """One step: sipp's exit code, its counts and the server's CPU ms per call.

    A sipp that exits at start-up without placing a call (another process took
    its probed port) is started again on fresh ports, at most three times.
    """
    for _attempt in range(3):
        stats = work / "stats.csv"
        stats.unlink(missing_ok=True)
        before = proc_cpu_seconds(server.proc.pid)
        cmd = [            sipp, f"127.0.0.1:{server.sip_port}", "-sf", str(xml), "-s", "b",
            "-r", str(rate), "-m", str(calls), "-l", str(calls),
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port(even=True)),
            "-timeout", f"{int(budget)}s", "-timeout_error", "-recv_timeout", "10000", "-max_socket", "4096",
            "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code: int | None = proc.wait(budget)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        server.settle(deadline)
        after = proc_cpu_seconds(server.proc.pid)
        counts = sipp_counts(stats)
        if code not in (0, 1, None) and not counts.get("OutgoingCall(C)"):
            continue  # sipp did not start: fresh ports
        cpu_ms = round((after - before) * 1000 / calls, 2) if before is not None and after is not None else None
        return code, counts, cpu_ms
    return code, counts, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-relay", action="store_true", help="only the run without RTP relay")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        print(json.dumps({"error": "sipp not installed (Debian package sip-tester)"}))
        return 1
    deadline = time.monotonic() + BUDGET
    result: dict[str, object] = {"load_average": list(os.getloadavg())}
    with tempfile.TemporaryDirectory(prefix="dsm-sbc-bench-") as tmp:
        work = Path(tmp)
        t = np.arange(8000) / 8000
        tone = (3000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
        soundfile.write(work / "caller.wav", np.tile(tone, 2), 8000, subtype="ULAW")
        runs = (("sbc", False),) if args.skip_relay else (("sbc", False), ("sbc_rtp_relay", True))
        for prefix, relay in runs:
            folder = work / prefix
            folder.mkdir()
            shutil.copy(work / "caller.wav", folder / "caller.wav")
            run = measure(sipp, folder, relay, deadline)
            result[f"{prefix}_max_cps_no_failures"] = run["max_cps_no_failures"]
            result[f"{prefix}_cpu_ms_per_call"] = run["cpu_ms_per_call"]
            result[f"{prefix}_steps"] = run["steps"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
