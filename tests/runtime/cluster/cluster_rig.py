"""Real processes for the cluster tests: ``dsm serve`` nodes, Kamailio in front, sipp as caller.

Everything binds to 127.0.0.1 on ports from bind(0).  The Kamailio
configuration is the shipped template (``examples/cluster/kamailio.cfg``)
filled in by the shipped launcher's functions, so the tests run what a user
runs.  Nodes log to files; waits poll those files with bounded loops.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 30.0
"""Seconds any single wait may take (generous: the machine is shared)."""


def launcher() -> ModuleType:
    """``examples/cluster/cluster.py`` as a module (loaded once)."""
    name = "dsm_cluster_example"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "cluster" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def servers_module() -> ModuleType:
    """``tests/modules/servers.py`` (throwaway Redis) as a module."""
    name = "dsm_servers_module"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "modules" / "servers.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def free_udp_port(even: bool = False) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not even or port % 2 == 0 and port < 65000:
            return port
    raise RuntimeError("no free UDP port")


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or next(
        (p for p in ("/usr/sbin/kamailio", "/usr/local/sbin/kamailio") if Path(p).exists()), None
    )


@dataclass
class Node:
    """One ``dsm serve`` child process and its log file."""

    node_id: str
    sip_port: int
    control_port: int
    token_file: Path
    log_path: Path
    proc: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, limit: float = LIMIT) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m.group(0)
            if self.proc.poll() is not None and not re.search(pattern, self.log()):
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.node_id}: no log line matching {pattern!r}:\n{self.log()[-3000:]}")

    def calls(self) -> int:
        return len(re.findall(rf"event=call node={self.node_id} ", self.log()))

    def dsm(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``dsm`` client command against this node."""
        return subprocess.run(
            [sys.executable, "-m", "dsm.cli", *args, "--control", f"127.0.0.1:{self.control_port}",
             "--control-token-file", str(self.token_file)],
            capture_output=True, text=True, errors="replace", timeout=LIMIT,
        )  # fmt: skip


def start_node(
    node_id: str, workdir: Path, scripts: Path, drain_timeout: float = 20.0, extra: Sequence[str] = ()
) -> Node:
    ex = launcher()
    for _attempt in range(3):
        sip, control = free_udp_port(), free_udp_port()
        token = workdir / f"{node_id}.token"
        log_path = workdir / f"{node_id}.log"
        cmd = ex.node_command(sys.executable, node_id, sip, control, scripts, token, drain_timeout, extra)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        node = Node(node_id, sip, control, token, log_path, proc)
        try:
            node.wait_log(r"event=listening [^\n]*")
            return node
        except AssertionError:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if "cannot listen" not in node.log():
                raise
    raise AssertionError(f"{node_id} did not start")


def stop_process(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(LIMIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return None


def options(port: int, limit: float = 2.0) -> tuple[int, str] | None:
    """Send one OPTIONS to 127.0.0.1:port; ``(status, raw response)`` or ``None`` on no answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(limit)
        me = s.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex[:12]
        msg = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(65535).decode(errors="replace")
        except OSError:
            return None
        return int(data.split(" ", 2)[1]), data


@dataclass
class Kamailio:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_kamailio(binary: str, workdir: Path, nodes: list[Node]) -> Kamailio:
    ex = launcher()
    listing = workdir / "dispatcher.list"
    listing.write_text(ex.dispatcher_list([("127.0.0.1", n.sip_port) for n in nodes]))
    for _attempt in range(3):
        port = free_udp_port()
        config = workdir / "kamailio.cfg"
        config.write_text(ex.render_config(listen_port=port, dispatcher_list=listing, ping_interval=1, fr_timer_ms=1500))
        log_path = workdir / "kamailio.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(ex.kamailio_command(binary, config, workdir), stdout=log, stderr=log)
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline and proc.poll() is None:
            answer = options(port, 0.5)
            if answer is not None and answer[0] == 200:
                return Kamailio(port, proc, log_path)
        stop_process(proc)
        text = log_path.read_text(errors="replace")
        if "Address already in use" not in text:
            raise AssertionError(f"kamailio did not start:\n{text[-3000:]}")
    raise AssertionError("kamailio did not start (ports taken)")


@dataclass
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str


_HEAD = """\
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      Call-ID: [call_id]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
"""

UAC_THROUGH_PROXY = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac through a record-routing proxy">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{_HEAD}      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      CSeq: 1 INVITE
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
{_HEAD}      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 1 ACK
      [routes]
      Content-Length: 0
    ]]>
  </send>
  <pause/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
{_HEAD}      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      CSeq: 2 BYE
      [routes]
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""
"""A caller that follows the Record-Route set (sipp's built-in ``uac`` does not): ACK and BYE
go to the node's Contact through the proxy, as a real UA sends them."""


@dataclass
class Sipp:
    """:data:`UAC_THROUGH_PROXY`: INVITE, ACK, hold ``hold_ms`` (``-d``), BYE."""

    binary: str
    workdir: Path
    proc: subprocess.Popen[str] | None = None
    args: list[str] = field(default_factory=list)
    scenario: Path = Path("none")

    def start(
        self, target: int, calls: int, rate: int, hold_ms: int, service: str = "hold", rtt: bool = False
    ) -> None:
        """Place ``calls`` at ``rate``/s; ``rtt``: keep every call's INVITE-to-200 time (``response_times``)."""
        stats = self.workdir / f"sipp-{uuid.uuid4().hex[:6]}"
        scenario = Path(f"{stats}.xml")
        self.scenario = scenario
        scenario.write_text(UAC_THROUGH_PROXY)
        self.args = [
            self.binary, f"127.0.0.1:{target}", "-sf", str(scenario), "-s", service,
            "-m", str(calls), "-r", str(rate), "-l", str(max(calls, 1)), "-d", str(hold_ms),
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_udp_port()),
            "-mp", str(free_udp_port(even=True)), "-nostdin",
            "-timeout", "120s", "-timeout_error", "-recv_timeout", "20000",
            "-trace_err", "-error_file", f"{stats}-errors.log",
        ]  # fmt: skip
        if rtt:
            self.args += ["-trace_rtt", "-rtt_freq", "1"]
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", cwd=self.workdir
        )

    def wait(self, limit: float = 150.0) -> SippResult:
        assert self.proc is not None
        out, _ = self.proc.communicate(timeout=limit)
        return SippResult(self.proc.returncode, _count(out, "Successful call"), _count(out, "Failed call"), out)

    def response_times(self) -> list[float]:
        """INVITE-to-200 of each call in ms, from sipp's ``-trace_rtt`` file."""
        times: list[float] = []
        for path in self.workdir.glob(f"{self.scenario.stem}_*_rtt.csv"):
            lines = path.read_text().splitlines()
            if not lines:
                continue
            header = lines[0].split(";")
            column = next((i for i, h in enumerate(header) if "response_time" in h), None)
            if column is None:
                continue
            for line in lines[1:]:
                cells = line.split(";")
                if len(cells) > column and cells[column].strip():
                    times.append(float(cells[column]))
        return times


def _count(screen: str, label: str) -> int:
    """The cumulative column of sipp's final statistics screen for ``label``."""
    found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return int(found[-1]) if found else -1
