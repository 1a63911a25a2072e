"""The simulated call harness: run ``.dsm`` scripts like code under test.

A :class:`Harness` loads scripts (a directory, a file or a ``dsm.conf``) into
an engine that runs on a :class:`~dsm.runtime.clock.VirtualClock`.
:meth:`Harness.call` starts a simulated incoming call and returns a
:class:`TestCall`, through which a test presses keys, lets virtual time pass,
hangs up, and asserts on states, variables, prompts played and replies sent.
Nothing sleeps and nothing reads the wall clock: the same test gives the
same transcript, byte for byte.

Events are processed as soon as they are delivered (the engine's
``on_pending`` hook drains the queues), so after every call of a
:class:`TestCall` method the script has reacted completely.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dsm
from dsm.chart import Chart
from dsm.diagnostics import CompileError
from dsm.runtime import config as conf_mod
from dsm.runtime.blocking import BlockingRunner, DelayedRunner
from dsm.runtime.clock import VirtualClock
from dsm.runtime.compose import build_engine
from dsm.runtime.events import processed
from dsm.runtime.harness.callee import SimCallee
from dsm.runtime.harness.coverage import COVERAGE
from dsm.runtime.harness.media import VirtualMedia, build_prompts
from dsm.runtime.harness.notifier import SimSubscriptions
from dsm.runtime.harness.records import Line, Played, Reply, Request
from dsm.runtime.harness.sbc import SbcTestCall, start_sbc_call
from dsm.runtime.harness.simcall import RequestHandle, SimCall
from dsm.runtime.incoming import InviteRequest, answer_incoming, header_block
from dsm.runtime.media.dtmf import KEY_CODES, dtmf_relay_key
from dsm.runtime.sbc.profile import CallProfile
from dsm.runtime.session import Session

__all__ = ["Harness", "TestCall", "SystemHandle", "KEY_CODES"]



class Harness:
    """Scripts under test, an engine on a virtual clock, and the calls running on it.

    ``scripts`` is a directory (every ``*.dsm`` in it is a diagram named by
    its file stem), a single ``.dsm`` file, or a ``dsm.conf`` (then loaded
    with every rule of ``config.md``).  ``config`` names a ``dsm.conf`` to use
    with a directory or file of scripts (for prompts and ``config.*``
    variables).  ``prompts`` maps prompt names to audio files or to a length
    in seconds (a generated tone of that length); without it, a ``prompts/``
    folder next to the scripts provides one prompt per audio file, named by
    its stem.  ``config_values`` are configuration keys for scripts without a
    ``dsm.conf``: each becomes the variable ``config.<key>`` of every call (E-10).
    """

    def __init__(
        self,
        scripts: str | os.PathLike[str],
        config: str | os.PathLike[str] | None = None,
        *,
        prompts: Mapping[str, str | float] | None = None,
        config_values: Mapping[str, str] | None = None,
        include_paths: Sequence[str] = (),
        module_path: Sequence[str] = (),
        key_duration: float = 0.1,
        key_gap: float = 0.1,
        blocking_delay: float | None = None,
    ) -> None:
        self.scripts = Path(scripts)
        self.config_path = Path(config) if config is not None else None
        self.include_paths = tuple(include_paths)
        self.module_path = tuple(module_path)
        self.key_duration = key_duration
        self.key_gap = key_gap
        self.config_values = dict(config_values or {})
        self.clock = VirtualClock()
        # ``blocking_delay``: blocking actions park their session for that many virtual
        # seconds (as on a server's worker pool); by default they run inline.
        runner: BlockingRunner | None = (
            None if blocking_delay is None else DelayedRunner(self.clock, blocking_delay)
        )
        self.engine = build_engine(self.clock, mod_path=self.module_path, runner=runner)
        self.engine.tracer = self._trace
        self.engine.log_sink = self._log
        self.engine.on_pending = self._pump
        # the host's outgoing-call service that ``dlg.dialout`` (M-dlg-6) asks for
        self.engine.dialout = self._dialout
        # ... and its subscription service (mod_subscription): the test plays the notifier
        self.subscriptions = SimSubscriptions(self.clock.now, self._pump, self.note)
        self.engine.subscriptions = self.subscriptions
        self.lines: dict[str, list[Line]] = {}
        self.calls: list[TestCall] = []
        self.sbc_calls: list[SbcTestCall] = []
        self._holding = False
        self._conf: Any = None
        self.charts: dict[str, Chart] = {}
        self._load(initial=True)
        self.prompts = build_prompts(
            prompts,
            self._script_dir() / "prompts",
            self._conf.main.values if self._conf is not None else None,
        )

    def resolve_audio(self, path: str | os.PathLike[str]) -> str:
        """A caller-audio path: relative ones beside the scripts if the file is there."""
        p = Path(path)
        if not p.is_absolute():
            beside = self._script_dir() / p
            if beside.exists():
                return str(beside)
        return str(p)

    # -- loading -------------------------------------------------------------------------
    def _script_dir(self) -> Path:
        return self.scripts if self.scripts.is_dir() else self.scripts.parent

    def _compile_all(self) -> dict[str, Chart]:
        if self.scripts.is_dir():
            files = sorted(self.scripts.glob("*.dsm"))
            if not files:
                raise FileNotFoundError(f"no *.dsm scripts in {self.scripts}")
        elif self.scripts.suffix == ".dsm":
            files = [self.scripts]
        else:
            raise FileNotFoundError(f"{self.scripts}: not a directory, .dsm file or dsm.conf")
        charts: dict[str, Chart] = {}
        diags: list[dsm.Diagnostic] = []
        for f in files:
            try:
                charts[f.stem] = dsm.compile_file(
                    str(f), include_paths=self.include_paths, module_path=self.module_path
                )
            except CompileError as exc:
                diags.extend(exc.diagnostics)
        if diags:
            raise CompileError(diags)
        return charts

    def _load(self, initial: bool) -> None:
        conf_file = self.config_path
        if conf_file is None and self.scripts.suffix == ".conf":
            conf_file = self.scripts
        if conf_file is not None and (self.scripts.suffix == ".conf"):
            cfg = conf_mod.load_config(str(conf_file))
            conf_mod.install(self.engine, cfg)
            self._conf = cfg
            self.charts = dict(cfg.main.charts)
            for chart in self.charts.values():
                COVERAGE.register(chart)
            return
        charts = self._compile_all()
        values: dict[str, str] = {}
        if conf_file is not None:
            cfg = conf_mod.load_config(str(conf_file))
            self._conf = cfg
            values = dict(cfg.main.values)
        values.update(self.config_values)
        self.engine.load(charts, values=values)
        self.charts = charts
        for chart in charts.values():
            COVERAGE.register(chart)

    def reload(self) -> None:
        """Re-read the scripts (issue 7 rule): all compile, or nothing changes.

        Raises :class:`dsm.CompileError` with the diagnostics of a broken set;
        the running set stays.  Calls already started keep their version.
        """
        self._load(initial=False)

    # -- engine hooks ------------------------------------------------------------------------
    def _pump(self) -> None:
        if not self._holding:
            self.engine.run_pending(limit=100_000)

    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        """Queue events without running them: a new call is wired up before its Start runs,
        so that the transcript has what the initial state's enter actions do."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def _trace(self, session: Session, kind: str, detail: str) -> None:
        self.lines.setdefault(session.id, []).append(Line(self.clock.now(), kind, detail))
        if COVERAGE.enabled and session.state is not None:
            st = session.state
            if kind == "state":
                COVERAGE.state(st.diagram.chart, st.name)
            elif kind == "transition":
                for tr in (*st.normal, *st.exceptional):
                    if tr.name == detail:
                        COVERAGE.transition(st.diagram.chart, tr.src)
                        break

    def _log(self, session: Session | None, level: int, message: str) -> None:
        if session is not None and level <= 1:
            self.lines.setdefault(session.id, []).append(
                Line(self.clock.now(), "error" if level == 0 else "warning", message)
            )

    def note(self, session_id: str, kind: str, detail: str) -> None:
        self.lines.setdefault(session_id, []).append(Line(self.clock.now(), kind, detail))

    # -- calls ---------------------------------------------------------------------------------
    def call(
        self,
        app: str,
        caller: str = "sip:alice@example.org",
        callee: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TestCall:
        """Start an incoming call to application ``app`` and run its start sequence (E-152).

        Start, then the modules' invite hooks and Invite, then the automatic
        200 OK (unless the script replied itself) and SessionStart, after
        which the playlist is connected unless ``$connect_session`` is ``0``.
        """
        if app != "dsm" and app not in self.engine.apps:
            names = ", ".join(sorted(self.engine.apps)) or "none"
            raise LookupError(f"no application named {app!r}; the applications are: {names}")
        callee = callee or f"sip:{app}@example.org"
        headers = dict(headers or {})
        media = VirtualMedia(self.clock, self.prompts)
        holder: list[TestCall] = []

        def note(kind: str, detail: str) -> None:
            if holder:
                self.note(holder[0].id, kind, detail)

        def new_callee(sim: SimCall, to: str, ruri: str) -> SimCallee:
            def deliver(event_type: str, params: dict[str, str]) -> None:
                holder[0].session.deliver(event_type, params)

            return SimCallee(to, ruri, deliver)

        sim = SimCall(
            media, caller, callee, headers, note=note, new_callee=new_callee, number=len(self.calls) + 1
        )
        with self._hold():
            session = self.engine.start_call(app, sim, headers=header_block(headers))
            tc = TestCall(self, session, sim)
            holder.append(tc)
            media.bind(session, note)
            self.calls.append(tc)
            self.note(session.id, "call", f"from {caller} to {callee}")
        self._pump()
        tc._invite()
        return tc

    def _dialout(
        self,
        app: str,
        *,
        r_uri: str,
        from_: str,
        from_uri: str,
        to: str,
        local_tag: str = "",
        headers: str = "",
        auth_user: str = "",
        auth_pwd: str = "",
        variables: Mapping[str, str] | None = None,
    ) -> str:
        """Start an outgoing simulated call running ``app`` (``dlg.dialout``); returns its local tag.

        The new call is a :class:`TestCall` with ``outgoing`` set, appended to
        :attr:`calls`; the test plays the called party with
        :meth:`TestCall.ring`, :meth:`TestCall.answer` or :meth:`TestCall.reject`.
        Raises :class:`LookupError` for an unknown application and
        :class:`ValueError` for a local tag already in use.
        """
        if app != "dsm" and app not in self.engine.apps:
            raise LookupError(f"no application named {app!r}")
        media = VirtualMedia(self.clock, self.prompts)
        holder: list[TestCall] = []

        def note(kind: str, detail: str) -> None:
            if holder:
                self.note(holder[0].id, kind, detail)

        sim = SimCall(media, from_uri, r_uri, note=note, number=len(self.calls) + 1)
        sim.local_tag = local_tag
        with self._hold():
            session = self.engine.start_call(
                app, sim, dict(variables or {}), headers, outgoing=True
            )
            tc = TestCall(self, session, sim, outgoing=True)
            holder.append(tc)
            media.bind(session, note)
            self.calls.append(tc)
            auth = f" (auth as {auth_user})" if auth_user and auth_pwd else ""
            self.note(session.id, "call", f"outgoing from {from_} to {to} ({r_uri}){auth}")
        return session.id

    def sbc_call(
        self,
        start_diag: str,
        app_bundle: str = "main",
        *,
        values: Mapping[str, str] | None = None,
        caller: str = "sip:alice@example.org",
        callee: str = "sip:bob@example.net",
        headers: Mapping[str, str] | None = None,
        profile: CallProfile | None = None,
    ) -> SbcTestCall:
        """Start a simulated SBC call whose legs run ``start_diag`` of ``app_bundle`` (cc_dsm).

        ``values`` are further call-control values (variables of each leg's
        session, M-ccdsm-2); ``profile`` the call profile (its copy per leg is
        what ``sbc.profileSet`` changes).  See :mod:`dsm.runtime.harness.sbc`.
        """
        cc = {"app_bundle": app_bundle, "start_diag": start_diag, **(values or {})}
        return start_sbc_call(
            self, cc, caller=caller, callee=callee, headers=headers, profile=profile
        )

    def load_bundle(self, path: str | os.PathLike[str]) -> str:
        """Load one application bundle file (``<name>.conf``, K-23) next to the scripts; its name.

        A relative ``diag_path`` is taken from the current folder as the server
        does when it exists there, else from the bundle file's folder (or is
        that folder), so a test runs from anywhere.
        Raises :class:`dsm.runtime.config.ConfigError` for a broken bundle.
        """
        p = Path(path)
        conf = conf_mod.read_conf(str(p))
        diag_path = conf.get("diag_path")
        if not os.path.isabs(diag_path) and not (diag_path and os.path.isdir(diag_path)):
            beside = p.parent / diag_path
            conf.values["diag_path"] = str(beside if beside.is_dir() else p.parent)
        bundle = conf_mod.load_bundle(p.stem, conf)
        if any(d.is_error for d in conf.diagnostics):
            raise conf_mod.ConfigError(conf.diagnostics)
        self.engine.load(bundle.charts, bundle.name, values=bundle.values, register_apps=bundle.register_apps)
        for chart in bundle.charts.values():
            COVERAGE.register(chart)
        return bundle.name

    def call_system(self, diagram: str, config: str = "main") -> SystemHandle:
        """Start a system DSM (``engine.md`` section 16) on ``diagram``."""
        session = self.engine.start_system(config, diagram)
        self._pump()
        return SystemHandle(self, session)

    def advance(self, seconds: float) -> None:
        """Let virtual time pass for every call of this harness."""
        self.clock.advance(seconds)
        self._pump()

    @property
    def now(self) -> float:
        return self.clock.now()

    def transcript_of(self, session_id: str) -> str:
        return "\n".join(str(line) for line in self.lines.get(session_id, ()))


class _Handle:
    """What system sessions and calls have in common: state, variables, transcript."""

    def __init__(self, harness: Harness, session: Session) -> None:
        self.harness = harness
        self.session = session

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def state(self) -> str | None:
        """The name of the current state (``None`` before a start or after a failed one)."""
        st = self.session.state
        return None if st is None else st.name

    @property
    def diagram(self) -> str | None:
        d = self.session.diagram
        return None if d is None else d.name

    @property
    def vars(self) -> dict[str, str]:
        """The session's variables, names without ``$``."""
        return self.session.vars

    @property
    def terminated(self) -> bool:
        """The session has ended (stopped and destroyed)."""
        return self.session.ended

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass: timers fire, playlists progress."""
        self.harness.advance(seconds)

    def post_event(self, params: Mapping[str, str] | None = None) -> bool:
        """As ``postEvent`` from elsewhere: a DSMEvent with ``params``."""
        ok = self.harness.engine.post_event(self.session.id, dict(params or {}))
        self.harness._pump()
        return ok

    def transcript(self) -> str:
        """A readable record of the session: events, transitions, actions, replies."""
        return self.harness.transcript_of(self.session.id)


class SystemHandle(_Handle):
    """A running system DSM."""


class TestCall(_Handle):
    """One simulated incoming call, as a test drives it."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, harness: Harness, session: Session, sim: SimCall, *, outgoing: bool = False
    ) -> None:
        super().__init__(harness, session)
        self.sim = sim
        self.outgoing = outgoing
        """Started by the script side (``dlg.dialout``) rather than by a caller."""
        self.keys_pressed: list[str] = []
        self._cseq = 1  # the INVITE's; requests inside the dialog count on from it

    # -- start sequence ---------------------------------------------------------------------
    def _invite(self) -> None:
        sim = self.sim
        req = InviteRequest(
            "INVITE",
            sim.callee_uri,
            sim.caller,
            sim.callee_uri,
            sim.callid,
            header_block(sim.headers),
            headers=dict(sim.headers),
        )
        answer_incoming(self.harness.engine, self.session, sim, req, self.harness._pump)

    # -- what the caller does -----------------------------------------------------------------
    def press(self, keys: str, *, inband: bool = False, duration: float | None = None, gap: float | None = None) -> None:
        """Press DTMF keys, one Key event per key, with virtual time for each.

        Each key takes ``duration`` seconds of tone and ``gap`` seconds of
        pause (defaults from the harness: 0.1 s each); the Key event arrives
        when the tone ends, as from a real detector.  With ``inband`` the
        tones are sent as audio and only reach the script through in-band
        detection (``enableDTMFDetection``).
        """
        dur = self.harness.key_duration if duration is None else duration
        pause = self.harness.key_gap if gap is None else gap
        for k in keys:
            if k in " ,":
                continue
            code = KEY_CODES.get(k.upper())
            if code is None:
                raise ValueError(f"not a DTMF key: {k!r} (use 0-9, *, #, A-D)")
            self.keys_pressed.append(k)
            if inband:
                self.sim.media.say_dtmf(k, dur, pause)
                self.advance(dur + pause)
                continue
            self.advance(dur)
            self.harness.note(self.id, "key", k)
            if self.sim.media.flags["dtmf_detection"]:  # A-core-50: off means no Key events
                self.session.deliver("Key", {"key": str(code), "duration": str(round(dur * 1000))})
                self.harness._pump()
            self.advance(pause)

    # -- the called party of an outgoing call (dlg.dialout) ------------------------------
    def _require_outgoing(self, what: str) -> bool:
        if not self.outgoing:
            raise RuntimeError(f"{what}() plays the called party of an outgoing call")
        return not self.session.ended and self.sim.dialog in ("trying", "proceeding", "early")

    def ring(self, code: int = 180, reason: str = "Ringing") -> None:
        """The called party rings: a provisional reply raises Ringing (E-151)."""
        if not self._require_outgoing("ring"):
            return
        self.sim.dialog = "early"
        self.harness.note(self.id, "reply", f"{code} {reason} (received)")
        self.session.deliver("Ringing", {"code": str(code), "reason": reason, "has_body": "false"})
        self.harness._pump()

    def answer(self) -> None:
        """The called party answers: 200 OK, SessionStart, then media as for incoming calls (E-151)."""
        if not self._require_outgoing("answer"):
            return
        self.sim.dialog = "connected"
        self.harness.note(self.id, "reply", "200 OK (received)")
        self.session.deliver("SessionStart", None)
        self.harness._pump()
        if self.session.ended:
            return
        self.sim.set_media_flag("receiving", True)
        if self.session.vars.get("connect_session") != "0":
            self.sim.media_connect()

    def reject(self, code: int = 486, reason: str = "Busy Here") -> None:
        """The called party refuses: FailedCall, after which the session is stopped (E-151)."""
        if not self._require_outgoing("reject"):
            return
        self.sim.dialog = "disconnected"
        self.harness.note(self.id, "reply", f"{code} {reason} (received)")
        session = self.session
        session.deliver(
            "FailedCall", {"code": str(code), "reason": reason}, on_done=lambda _p: session.stop()
        )
        self.harness._pump()

    def hangup(self) -> None:
        """The caller hangs up: BYE, answered 200 by the host, then the Hangup event (E-151)."""
        if self.session.ended:
            return
        self.sim.dialog = "disconnected"
        self.sim.reply(200, "OK", "BYE")
        self.sim.media_disconnect()
        self.session.deliver("Hangup", {"headers": ""})
        self.harness._pump()

    def send_request(self, method: str, headers: Mapping[str, str] | None = None, body: str = "") -> None:
        """An in-dialog request from the caller (INFO, re-INVITE, …).

        With ``$enable_request_events == true`` the script gets a SipRequest
        event first and may take over with ``#processed=true`` (E-157);
        otherwise the host answers it: ``application/dtmf-relay`` INFO bodies
        become Key events, everything else gets 200 OK.
        """
        headers = dict(headers or {})
        method = method.upper()
        if method == "BYE":
            self.hangup()
            return
        s, sim = self.session, self.sim
        self._cseq += 1
        handle = RequestHandle(method, self._cseq)
        req = InviteRequest(
            method,
            sim.callee_uri,
            sim.caller,
            sim.callee_uri,
            sim.callid,
            header_block(headers),
            body,
            self._cseq,
            headers=headers,
            wrapped=True,
            handle=handle,
        )
        taken = False
        if s.vars.get("enable_request_events") == "true":
            params = {
                "method": method,
                "r_uri": sim.callee_uri,
                "from": sim.caller,
                "to": sim.callee_uri,
                "hdrs": header_block(headers),
                "cseq": str(self._cseq),
            }
            result: list[dict[str, str] | None] = []
            s.deliver("SipRequest", params, objects={"request": req}, on_done=result.append)
            self.harness._pump()
            taken = bool(result) and processed(result[0])
        if taken:
            return
        if handle.final is not None:
            # the script answered (dlg.replyRequest) without #processed: the host's own
            # reply finds the transaction completed and is not sent
            self.harness.note(self.id, "reply", f"host reply to {method} not sent: already answered")
            return
        handle.final = 200
        sim.reply(200, "OK", method)
        ctype = next((v for k, v in headers.items() if k.lower() in ("content-type", "c")), "")
        if method == "INFO" and ctype.lower().startswith("application/dtmf-relay"):
            key = dtmf_relay_key(body)
            if key is not None and self.sim.media.flags["dtmf_detection"]:
                self.session.deliver("Key", {"key": str(key[0]), "duration": key[1]})
                self.harness._pump()

    def say(self, audio: Any, *, wait: bool = True) -> float:
        """Feed caller audio (a file path or an int16 sample array at 8 kHz); its length in seconds.

        It is recorded by ``recordFile`` and scanned for in-band DTMF when
        detection is on.  Virtual time advances by its duration, so that the
        script has heard all of it on return; with ``wait=False`` it is only
        queued and plays out as time passes (``advance``, ``press``).  A
        relative path is looked up beside the scripts first, then in the
        working directory.  A missing or unreadable file raises
        :class:`~dsm.runtime.media.audio.AudioFileError` naming it.
        """
        if isinstance(audio, str | os.PathLike):
            audio = self.harness.resolve_audio(audio)
        seconds = float(self.sim.media.say(audio))
        if wait:
            self.advance(seconds)
        return seconds

    # -- what the test looks at ---------------------------------------------------------------
    @property
    def played(self) -> list[Played]:
        """Files and prompts played, in order, with virtual start and end times."""
        return self.sim.media.played()

    @property
    def sent_replies(self) -> list[Reply]:
        return list(self.sim.replies)

    @property
    def sent_requests(self) -> list[Request]:
        """Requests sent towards the caller (BYE, INFO, REFER, re-INVITE …), in order."""
        return list(self.sim.requests)

    @property
    def callee(self) -> SimCallee | None:
        """The B leg created by ``B2B.connectCallee``, if any."""
        return self.sim.callee

    @property
    def dtmf_sent(self) -> list[tuple[int, int]]:
        return list(self.sim.media.sent_dtmf)

    def heard(self) -> Any:
        """What the caller heard so far: int16 samples at 8 kHz on the virtual timeline."""
        return self.sim.media.heard()

    def write_heard_wav(self, path: str | os.PathLike[str]) -> None:
        from dsm.runtime.media.audio import write_wav

        write_wav(path, self.heard())

    def __repr__(self) -> str:
        return f"<TestCall {self.id} state={self.state} terminated={self.terminated}>"
