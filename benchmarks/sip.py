"""SIP serving capacity: calls per second and concurrent G.711 calls on one core (issue 9).

``dsm serve --sip`` runs as a subprocess (one asyncio loop, so one core) on
free loopback ports, serving two tiny scripts written to a temporary folder
with a one-second prompt:

* ``aph`` -- answer, play the prompt, wait for the caller's BYE;
* ``loop`` -- answer and play the prompt again and again (continuous G.711).

Two measurements, each with sipp (Debian ``sip-tester``) as the caller:

1. **max_cps_no_failures**: sipp places answer-play-hangup calls (INVITE with
   a PCMU offer, ACK, 1 s pause, BYE) at rising rates (25, 50, 100, 200,
   300 calls/s, each for a few seconds); the highest rate at which sipp
   counts no failed call.
   Each step also reports ``cpu_ms_per_call``: the server process's CPU
   time (user + system, from ``/proc``) over the step divided by its calls.
2. **concurrent_calls_under_1pct_late**: sipp keeps N ``loop`` calls up (long
   pause) for rising N (100, 200, 300 … 800; set up at the sustained call
   rate, at most 200/s).  Lateness is measured **where the packets
   arrive**, not by the server's scheduler: every call's SDP names one UDP
   socket of this benchmark (``rtp_probe.py``), which keeps each packet's
   RTP header and kernel arrival time.  Once all N streams arrive, three
   windows of 2 s are analysed: a packet is late when it arrives more than
   10 ms after the 20 ms grid its RTP timestamp names (anchored at the
   stream's most punctual packet), a lost packet counts as late, and RFC 3550
   interarrival jitter is computed per stream.  The **median** window
   counts; every window is listed.  The highest N below 1 % late is
   reported.

``--two-way`` runs the concurrency ladder with every caller also streaming
PCMU audio to the server (sipp's ``rtp_stream``), as phones do: the server
then receives, decodes and analyses 50 packets a second per call for
in-band DTMF too; the figure is reported as
``concurrent_two_way_calls_under_1pct_late``.

``--b2b`` adds B2B calls (issue 16): every call is connected by the script
with ``B2B.connectCallee`` to a second sipp running its built-in ``uas``
scenario (180, 200 with SDP, waits for the BYE); the caller streams PCMU
audio, answers the re-INVITE that brings it the callee's SDP, waits 1 s and
hangs up, and its BYE reaches the callee.  At rising rates (10, 25 … 200 calls/s, each for a
few seconds) the highest rate with no failed call in either sipp is
``b2b_max_cps_no_failures``, and the server's CPU time of that step divided
by its calls is ``b2b_cpu_ms_per_call``; the same again with media anchored
(``$b2b_rtp_relay=true``: no re-INVITE, the callee's RTP relayed through the
server: the caller's stream is relayed to the callee) gives the
``b2b_anchored_…`` figures.  ``--skip-cps
--skip-concurrency --b2b`` runs only these.

``--target HOST:PORT`` runs the same ladders against any SIP server instead
of starting one (another build of this project, or a reference server): it
must answer the services ``aph`` and ``loop`` as above (``--write-scripts
DIR`` writes this project's scripts and prompt there) and send its RTP to
the SDP's address.  ``--target-pid PID`` names its process for the CPU
figures (without it they are left out).

Each concurrency step also reports ``server_cpu`` (the server's share of one
core over the windows, from ``/proc``) and the machine's load average: on a
shared machine a failed step with a low ``server_cpu`` and a high load
points at other processes, not at the server.  Over the same windows, from
the server's ``/metrics`` and ``/proc``: the share of media ticks that ran
longer than 1, 2, 5, 10, 20 ms (``ticks_ran_over_ms``) and that started
that much after their slot (``ticks_started_late_ms``), the ticks that ran
longer than a tick step (``tick_overruns``), and how often a second the
server was taken off its core while it could run
(``server_preemptions_per_s``): a tick that starts late after a short one
is the machine's, one that starts late after a long one is the server's.  ``--calls 400,500`` and
``--rates 200,300`` replace the ladders (to re-measure one step);
``--cps-seconds 5`` makes each rate step last 5 s (500 calls at 100/s).

Every loop is bounded in count and time (the whole run stays under two
minutes), all traffic is on 127.0.0.1, and the server and every sipp are
killed on every path.  Each measurement gets a fresh server, so that the
transactions of one do not weigh on the other.  ``--profile FILE`` runs the
(first) server under cProfile and writes its statistics to FILE when it stops
(a FILE ending in ``.spy``: under the sampling profiler py-spy, collapsed
stacks, without cProfile's cost per Python call).

Run: ``.venv/bin/python benchmarks/sip.py``.  The last line of output is one
JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import soundfile
from rtp_probe import RtpProbe, analyse

CPS_RATES: tuple[int, ...] = (25, 50, 100, 200, 300)
CPS_SECONDS = 3
CONCURRENT: tuple[int, ...] = (100, 200, 300, 400, 500, 600, 800)
WINDOW = 2.0
"""Seconds of one measuring window of a concurrency step."""
WINDOWS = 3
"""Windows per step; the median counts (all are reported)."""
LATE_LIMIT = 0.01
B2B_RATES: tuple[int, ...] = (10, 25, 50, 100, 150, 200)
B2B_SECONDS = 3
B2B_BUDGET = 70.0
"""Seconds added to the run's budget by ``--b2b``."""

B2B_SCRIPT = """\
-- connect every caller to the callee sipp; end with either side
initial state CALLING enter {{ {relay}B2B.connectCallee("sip:b@127.0.0.1:{port}", "sip:b@127.0.0.1:{port}") setTimer(1, 20) }};
state END;
transition "refused" CALLING - B2B.otherReply(#code > 299) / stop(true) -> END;
transition "hangup" CALLING - hangup / stop(false) -> END;
transition "too long" CALLING - timer(#id == 1) / stop(true) -> END;
"""
TOTAL_BUDGET = 150.0
"""Seconds for the whole run; steps that would not fit are left out."""

APH_SCRIPT = """\
-- answer, play a one-second prompt, wait for the caller's BYE (at most 10 s)
initial state PLAY enter { playPrompt(hello) setTimer(1, 10) };
state DONE;
state END;
transition "played" PLAY - noAudio -> DONE;
transition "hangup" (PLAY, DONE) - hangup / stop(false) -> END;
transition "caller gone" (PLAY, DONE) - timer(#id == 1) / stop(true) -> END;
"""

LOOP_SCRIPT = """\
-- answer and keep playing: continuous G.711 until the caller's BYE (at most 60 s)
initial state START enter { setTimer(1, 60) playPrompt(hello) };
state PLAY enter { playPrompt(hello) };
state END;
transition "first played" START - noAudio -> PLAY;
transition "again" PLAY - noAudio -> PLAY;
transition "hangup" (START, PLAY) - hangup / stop(false) -> END;
transition "caller gone" (START, PLAY) - timer(#id == 1) / stop(true) -> END;
"""

UAC = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer-play-hangup">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
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
      m=audio {rtp_port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
    ]]>
  </send>
  <recv response="100" optional="true"/>
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
  {caller_audio}<pause milliseconds="{pause_ms}"/>
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


def free_port(kind: int = socket.SOCK_DGRAM, even: bool = False) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not even or port % 2 == 0:
            return port
    raise RuntimeError("no free port on 127.0.0.1")


CALLER_AUDIO = """<nop><action><exec rtp_stream="{path},-1,0"/></action></nop>
  """
"""sipp streams this µ-law file (a 300 Hz tone) to the server in a loop (``--two-way``)."""


B2B_REINVITE = """<recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK"/>
  """
"""The caller's part of a B2B call with end-to-end media: the callee's SDP arrives in a re-INVITE."""


def b2b_uac(reinvite: bool, audio: Path) -> str:
    """The UAC scenario for B2B calls: the To tag is kept, since a re-INVITE turns From/To round."""
    xml = UAC.replace(
        '<recv response="200" rrs="true" rtd="true"/>',
        '<recv response="200" rrs="true" rtd="true"><action>'
        '<ereg regexp=";tag=([^;>]*)" search_in="hdr" header="To:" assign_to="x,totag"/>'
        "</action></recv>",
    )
    bye_from_to = (
        "From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        "      To: <sip:[service]@[remote_ip]:[remote_port]>;tag=[$totag]"
    )
    head, _, tail = xml.partition("BYE [next_url]")
    tail = tail.replace("[last_From:]\n      [last_To:]", bye_from_to, 1)
    xml = head + "BYE [next_url]" + tail
    stream = CALLER_AUDIO.replace("{path}", str(audio))
    xml = xml.replace("{caller_audio}", (B2B_REINVITE if reinvite else "") + stream)
    xml = xml.replace("{pause_ms}", "1000").replace("{rtp_port}", "[media_port]")  # the caller's own
    return xml.replace("</scenario>", '  <Reference variables="x,totag"/>\n</scenario>')


def write_scripts(root: Path) -> Path:
    scripts = root / "scripts"
    (scripts / "prompts").mkdir(parents=True)
    (scripts / "aph.dsm").write_text(APH_SCRIPT)
    (scripts / "loop.dsm").write_text(LOOP_SCRIPT)
    t = np.arange(8000) / 8000
    tone = (6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    soundfile.write(scripts / "prompts" / "hello.wav", tone, 8000, subtype="PCM_16")
    caller = (3000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    soundfile.write(root / "caller.wav", np.tile(caller, 2), 8000, subtype="ULAW")
    return scripts


class Target:
    """A SIP server that is already running (``--target``): nothing started, nothing stopped."""

    def __init__(self, address: str, pid: int | None) -> None:
        host, _, port = address.rpartition(":")
        self.sip_host = host.strip("[]") or "127.0.0.1"
        self.sip_port = int(port)
        self.pid = pid

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.pid) if self.pid else None

    def calls(self) -> float | None:
        return None

    def ticks(self) -> dict[str, float]:
        return {}  # another server's media clock is not known

    def close(self) -> None:
        pass


def proc_preemptions(pid: int | None) -> int | None:
    """Times process ``pid`` was taken off its core while it could run (Linux ``/proc``).

    A loop that starts its media ticks late although its share of a core is
    well below one is losing the core to other processes; this says how often.
    """
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("nonvoluntary_ctxt_switches:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``), ``None`` if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Served:
    """``dsm serve --sip`` as a subprocess; killed on exit whatever happened."""

    sip_host = "127.0.0.1"

    def __init__(self, scripts: Path, profile: str | None) -> None:
        self.spy: subprocess.Popen[bytes] | None = None
        # a port picked free may be taken by another process before the server binds
        # it: up to three attempts, each with fresh ports
        for attempt in range(3):
            if self._start(scripts, profile) or attempt == 2:
                break
        if self.proc.poll() is not None:
            raise RuntimeError(f"dsm serve exited {self.proc.returncode}: {self.errors[-500:]}")

    def _start(self, scripts: Path, profile: str | None) -> bool:
        """Start the server; whether it answers (``False``: it exited at start-up)."""
        self.sip_port = free_port()
        self.control_port = free_port(socket.SOCK_STREAM)
        cmd = [sys.executable]
        sampled = bool(profile and profile.endswith(".spy"))
        if profile and not sampled:
            cmd += ["-m", "cProfile", "-o", profile]
        cmd += ["-m", "dsm.cli"]
        cmd += [
            "serve", "--scripts", str(scripts),
            "--sip", f"127.0.0.1:{self.sip_port}", "--control", f"127.0.0.1:{self.control_port}",
            "--rtp-ports", "20000-29999", "--log-level", "error",
        ]  # fmt: skip
        # a file, not a pipe: nothing can block; it lives as long as the server
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.errors = ""
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.control_port}", timeout=5.0)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                self.errors = self.stderr.read()
                self.stderr.close()
                self.client.close()
                return False
            with contextlib.suppress(httpx.HTTPError):
                self.metrics()
                if sampled and profile:
                    self._sample(profile)
                return True
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("dsm serve did not start within 30 s")
            time.sleep(0.1)

    def _sample(self, profile: str) -> None:
        """py-spy samples the running server (collapsed stacks to ``profile``) until ``close``."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        cmd = [spy, "record", "--format", "raw", "--rate", "1000", "--nonblocking"]
        cmd += ["--pid", str(self.proc.pid), "-o", profile]
        self.spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.proc.pid)

    def calls(self) -> float | None:
        """Calls the server holds now."""
        return self.metrics().get("dsm_sip_calls", 0)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.client.get("/metrics").text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.partition(" ")
                out[name] = float(value)
        return out

    def ticks(self) -> dict[str, float]:
        """The media clock's tick histograms (``name_bucket{le=...}`` -> cumulative count), if any."""
        out: dict[str, float] = {}
        with contextlib.suppress(Exception):  # a target without them, or no call up
            for line in self.client.get("/metrics").text.splitlines():
                if line.startswith(("dsm_media_tick_seconds_bucket", "dsm_media_tick_delay_seconds_bucket",
                                    "dsm_media_tick_overruns_total")):  # fmt: skip
                    name, _, value = line.rpartition(" ")
                    out[name] = float(value)
        return out

    def close(self) -> None:
        self.client.close()
        if self.spy is not None and self.spy.poll() is None:
            self.spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.spy.wait(15)
            except subprocess.TimeoutExpired:
                self.spy.kill()
                self.spy.wait(5)
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: a clean stop, so cProfile writes its file
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()


@contextlib.contextmanager
def sipp_run(
    sipp: str,
    work: Path,
    server: Server,
    rtp_port: int,
    service: str,
    rate: float,
    calls: int,
    pause_ms: int,
    timeout: float,
    two_way: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """One sipp run in the background; killed if still running when the block ends.

    With ``two_way`` every call also streams ``caller.wav`` to the server as PCMU.
    """
    xml = work / f"uac-{service}-{pause_ms}{'-2way' if two_way else ''}.xml"
    audio = CALLER_AUDIO.replace("{path}", str(work / "caller.wav")) if two_way else ""
    scenario = UAC.replace("{pause_ms}", str(pause_ms)).replace("{caller_audio}", audio)
    xml.write_text(scenario.replace("{rtp_port}", str(rtp_port)))
    stats = work / "stats.csv"
    stats.unlink(missing_ok=True)
    cmd = [
        sipp, f"{server.sip_host}:{server.sip_port}", "-sf", str(xml), "-s", service,
        "-r", str(rate), "-m", str(calls), "-l", str(calls),
        "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port(even=True)),
        "-timeout", f"{int(timeout)}s", "-timeout_error", "-recv_timeout", "10000", "-max_socket", "4096",
        "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def sipp_counts(work: Path) -> dict[str, int]:
    """Successful and failed calls from sipp's statistics file (last row): ``work/stats.csv``,
    or ``work`` itself when it names a ``.csv`` file."""
    path = work if work.suffix == ".csv" else work / "stats.csv"
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    last = dict(zip(rows[0], rows[-1], strict=False))
    out: dict[str, int] = {}
    for key in ("SuccessfulCall(C)", "FailedCall(C)", "OutgoingCall(C)", "IncomingCall(C)"):
        with contextlib.suppress(KeyError, ValueError):
            out[key] = int(last[key])
    return out


def wait(proc: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return proc.wait(max(seconds, 0.1))
    except subprocess.TimeoutExpired:
        return None


Server = Served | Target


def cpu_ms_per_call(before: float | None, after: float | None, calls: int) -> float | None:
    if before is None or after is None or calls <= 0:
        return None
    return round((after - before) * 1000 / calls, 3)


def measure_cps(
    sipp: str, server: Server, probe: RtpProbe, work: Path, deadline: float
) -> tuple[int, list[dict[str, object]]]:
    best = 0
    steps: list[dict[str, object]] = []
    for rate in CPS_RATES:
        calls = rate * CPS_SECONDS
        budget = CPS_SECONDS + 15.0
        if time.monotonic() + budget > deadline:
            break
        cpu_before, start = server.cpu_seconds(), probe.mark()
        with sipp_run(sipp, work, server, probe.port, "aph", rate, calls, 1000, budget) as proc:
            code = wait(proc, budget)
        settle(server, deadline)
        cpu_after = server.cpu_seconds()
        counts = sipp_counts(work)
        ok = (
            code == 0
            and counts.get("FailedCall(C)", 1) == 0
            and counts.get("SuccessfulCall(C)") == calls
        )
        received = analyse(probe.records(start, probe.mark()))
        step: dict[str, object] = {
            "rate": rate,
            "calls": calls,
            "sipp_exit": code,
            **counts,
            "cpu_ms_per_call": cpu_ms_per_call(cpu_before, cpu_after, calls),
            "received_late_ratio": received.late_ratio,
            "received_jitter_median_ms": received.jitter_median_ms,
            "load_average": round(os.getloadavg()[0], 2),
        }
        steps.append(step)
        print(f"cps {rate:4d}: {step}", flush=True)
        if not ok:
            break
        best = rate
    return best, steps


def settle(server: Server, deadline: float) -> None:
    """Wait (bounded) until the server holds no call, so steps do not overlap."""
    limit = min(time.monotonic() + 15, deadline)
    if server.calls() is None:  # a target without /metrics: its calls end with sipp's BYEs
        time.sleep(max(min(2.0, limit - time.monotonic()), 0))
        return
    while time.monotonic() < limit:
        if server.calls() == 0:
            return
        time.sleep(0.2)


def measure_concurrency(
    sipp: str,
    server: Server,
    probe: RtpProbe,
    work: Path,
    ramp_rate: int,
    deadline: float,
    two_way: bool = False,
) -> tuple[int, list[dict[str, object]]]:
    best = 0
    steps: list[dict[str, object]] = []
    for n in CONCURRENT:
        ramp = n / ramp_rate
        pause = ramp + WINDOW * WINDOWS + 4.0
        budget = ramp + pause + 12.0  # kill limit; the step itself takes about ramp + pause
        if time.monotonic() + ramp + pause + 2.0 > deadline:
            print(f"concurrent {n}: left out (time budget)", flush=True)
            break
        step: dict[str, object] = {"calls": n}
        with sipp_run(
            sipp, work, server, probe.port, "loop", ramp_rate, n, int(pause * 1000), budget, two_way
        ) as proc:
            # up: n streams arrive at the probe (counted over the last half second)
            up_by = time.monotonic() + ramp + 5.0
            up = 0
            while time.monotonic() < up_by and proc.poll() is None:
                since = probe.mark()
                time.sleep(0.5)
                up = probe.streams_since(since)
                if up >= n:
                    break
            step["up"] = up
            if up >= n:
                marks = [probe.mark()]
                ticks_before = server.ticks()
                preempted = proc_preemptions(server.pid)
                cpu = [(time.monotonic(), server.cpu_seconds())]
                for _ in range(WINDOWS):
                    time.sleep(WINDOW)
                    marks.append(probe.mark())
                    cpu.append((time.monotonic(), server.cpu_seconds()))
                windows = [
                    analyse(probe.records(a, b)) for a, b in zip(marks, marks[1:], strict=False)
                ]
                ratios = [w.late_ratio for w in windows]
                step["late_ratios"] = ratios
                step["late_ratio"] = float(np.median(ratios))
                step["jitter_median_ms"] = float(np.median([w.jitter_median_ms for w in windows]))
                step["lateness_p99_ms"] = float(np.median([w.lateness_p99_ms for w in windows]))
                step["windows"] = [w.as_dict() for w in windows]
                first, last = cpu[0], cpu[-1]
                if first[1] is not None and last[1] is not None:
                    # the server's share of one core while the calls ran (what the frames cost)
                    step["server_cpu"] = round((last[1] - first[1]) / (last[0] - first[0]), 3)
                step["load_average"] = round(os.getloadavg()[0], 2)
                step.update(tick_summary(ticks_before, server.ticks()))
                preempted_after = proc_preemptions(server.pid)
                if preempted is not None and preempted_after is not None:
                    step["server_preemptions_per_s"] = round(
                        (preempted_after - preempted) / (last[0] - first[0]), 1
                    )
            code = wait(proc, budget)
        step["sipp_exit"] = code
        step.update(sipp_counts(work))
        steps.append(step)
        print(f"concurrent {n}: {step}", flush=True)
        ratio = step.get("late_ratio")
        if not isinstance(ratio, float) or ratio >= LATE_LIMIT or code != 0:
            break
        best = n
        settle(server, deadline)
    return best, steps


def tick_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, object]:
    """The server's media ticks over the windows: how many ran long, started late, overran.

    From the cumulative histogram buckets of ``/metrics``: ``ticks_ran_over_ms``
    and ``ticks_started_late_ms`` give, per bucket bound in ms, the share of
    ticks beyond it.
    """
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    out: dict[str, object] = {}
    for key, metric in (("ticks_ran_over_ms", "dsm_media_tick_seconds"),
                        ("ticks_started_late_ms", "dsm_media_tick_delay_seconds")):  # fmt: skip
        total = delta(f'{metric}_bucket{{le="+Inf"}}')
        if total <= 0:
            continue
        out["ticks"] = int(total)
        shares: dict[str, float] = {}
        for bound in ("0.001", "0.002", "0.005", "0.01", "0.02"):
            within = delta(f'{metric}_bucket{{le="{bound}"}}')
            shares[f"{float(bound) * 1000:g}"] = round(1 - within / total, 4)
        out[key] = shares
    if "ticks" in out:
        out["tick_overruns"] = int(delta("dsm_media_tick_overruns_total"))
    return out


def measure_b2b(
    sipp: str, scripts: Path, work: Path, service: str, deadline: float
) -> tuple[int, float | None, list[dict[str, object]]]:
    """B2B calls at rising rates: the best rate with no failure and the CPU ms per call there."""
    callee_port = free_port()
    for name, relay in (("b2b", ""), ("b2ba", "set($b2b_rtp_relay=true) ")):
        (scripts / f"{name}.dsm").write_text(B2B_SCRIPT.format(relay=relay, port=callee_port))
    callee = subprocess.Popen(
        [
            sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(callee_port),
            "-mi", "127.0.0.1", "-mp", str(free_port(even=True)), "-max_socket", "4096",
            "-nostdin", "-trace_stat", "-stf", str(work / "callee.csv"), "-fd", "1",
        ],  # fmt: skip
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    served = Served(scripts, None)
    best, best_cpu = 0, None
    steps: list[dict[str, object]] = []
    xml = work / f"uac-{service}.xml"
    xml.write_text(b2b_uac(reinvite=service == "b2b", audio=work / "caller.wav"))
    try:
        for rate in B2B_RATES:
            calls = rate * B2B_SECONDS
            budget = B2B_SECONDS + 15.0
            if time.monotonic() + budget > deadline:
                break
            stats = work / "stats.csv"
            stats.unlink(missing_ok=True)
            cpu_before = served.cpu_seconds()
            cmd = [
                sipp, f"127.0.0.1:{served.sip_port}", "-sf", str(xml), "-s", service,
                "-r", str(rate), "-m", str(calls), "-l", str(calls),
                "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port(even=True)),
                "-timeout", f"{int(budget)}s", "-timeout_error", "-recv_timeout", "10000", "-max_socket", "4096",
                "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
            ]  # fmt: skip
            proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                code = wait(proc, budget)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)
            settle(served, deadline)
            cpu_ms = round((served.cpu_seconds() - cpu_before) * 1000 / calls, 2)
            counts = sipp_counts(work)
            failed = counts.get("FailedCall(C)", 1)
            ok = code == 0 and failed == 0 and counts.get("SuccessfulCall(C)") == calls
            steps.append({"rate": rate, "calls": calls, "sipp_exit": code, "cpu_ms_per_call": cpu_ms, **counts})
            print(f"{service} {rate:4d}/s: exit {code} {counts} cpu {cpu_ms} ms/call", flush=True)
            if not ok:
                break
            best, best_cpu = rate, cpu_ms
    finally:
        served.close()
        callee.kill()
        callee.wait(10)
    return best, best_cpu, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", metavar="FILE", help="run the server under cProfile (FILE.spy: py-spy), statistics to FILE"
    )
    parser.add_argument("--skip-cps", action="store_true", help="only the concurrency measurement")
    parser.add_argument(
        "--skip-concurrency", action="store_true", help="only the calls-per-second measurement"
    )
    parser.add_argument(
        "--calls", metavar="N,N,…", help="concurrency steps to try instead of the default ladder"
    )
    parser.add_argument(
        "--rates", metavar="R,R,…", help="call rates to try instead of the default ladder"
    )
    parser.add_argument(
        "--cps-seconds",
        type=int,
        metavar="S",
        help="seconds of calls per rate step (default 3; 5 at 100/s is 500 calls)",
    )
    parser.add_argument("--b2b", action="store_true", help="also B2B calls per second, direct and anchored media")
    parser.add_argument(
        "--two-way",
        action="store_true",
        help="concurrency with the callers sending PCMU audio too (reported as concurrent_two_way_calls_under_1pct_late)",
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="measure this running SIP server instead of starting one",
    )
    parser.add_argument(
        "--target-pid",
        type=int,
        metavar="PID",
        help="the --target server's process, for CPU figures",
    )
    parser.add_argument(
        "--write-scripts",
        metavar="DIR",
        help="write the benchmark's scripts and prompt to DIR and stop",
    )
    args = parser.parse_args()
    global CONCURRENT, CPS_RATES, CPS_SECONDS
    if args.cps_seconds:
        CPS_SECONDS = max(1, min(args.cps_seconds, 30))
    if args.calls:
        CONCURRENT = tuple(int(n) for n in args.calls.split(","))
    if args.rates:
        CPS_RATES = tuple(int(n) for n in args.rates.split(","))
    if args.write_scripts:
        out = Path(args.write_scripts)
        if out.exists():
            print(json.dumps({"error": f"{out} exists"}))
            return 1
        with tempfile.TemporaryDirectory(prefix="dsm-bench-sip-") as tmp:
            shutil.copytree(write_scripts(Path(tmp)), out)
        print(json.dumps({"scripts": str(out)}))
        return 0
    sipp = shutil.which("sipp")
    if sipp is None:
        print(json.dumps({"error": "sipp not installed (Debian package sip-tester)"}))
        return 1
    started = time.monotonic()
    deadline = started + TOTAL_BUDGET + (B2B_BUDGET if args.b2b else 0.0)
    result: dict[str, object] = {
        "benchmark": "sip",
        "target": args.target or "dsm serve (started here)",
    }

    def server(profile: str | None) -> Server:
        return Target(args.target, args.target_pid) if args.target else Served(scripts, profile)

    probe = RtpProbe()
    try:
        with tempfile.TemporaryDirectory(prefix="dsm-bench-sip-") as tmp:
            work = Path(tmp)
            scripts = write_scripts(work)
            cps = 0
            if not args.skip_cps:
                served = server(args.profile)
                try:
                    cps, cps_steps = measure_cps(sipp, served, probe, work, deadline)
                finally:
                    served.close()
                result["max_cps_no_failures"] = cps
                result["cps_steps"] = cps_steps
                per_call = [s["cpu_ms_per_call"] for s in cps_steps if s.get("rate") == 100]
                result["cpu_ms_per_call_at_100cps"] = per_call[0] if per_call else None
            if not args.skip_concurrency:
                # a fresh server: the transactions of the last rate step would still be timing out
                served = server(None if not args.skip_cps else args.profile)
                try:
                    # calls are set up at the rate the server just sustained (at most 200/s)
                    ramp = max(25, min(cps or 50, 200))
                    calls, calls_steps = measure_concurrency(
                        sipp, served, probe, work, ramp, deadline, args.two_way
                    )
                finally:
                    served.close()
                key = (
                    "concurrent_two_way_calls_under_1pct_late"
                    if args.two_way
                    else "concurrent_calls_under_1pct_late"
                )
                result[key] = calls
                result["concurrency_steps"] = calls_steps
            if args.b2b and not args.target:
                for service, prefix in (("b2b", "b2b"), ("b2ba", "b2b_anchored")):
                    rate, cpu_ms, b2b_steps = measure_b2b(sipp, scripts, work, service, deadline)
                    result[f"{prefix}_max_cps_no_failures"] = rate
                    result[f"{prefix}_cpu_ms_per_call"] = cpu_ms
                    result[f"{prefix}_steps"] = b2b_steps
    finally:
        probe.close()
    result["probe_dropped"] = probe.dropped
    result["late_measured_at"] = "receiver (kernel arrival time), median of windows"
    result["targets"] = {"max_cps_no_failures": 200, "concurrent_calls_under_1pct_late": 500}
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
