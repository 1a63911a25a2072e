"""Prometheus text-format metrics for ``GET /metrics`` on the control port.

In the spirit of the reference's exporter (T-9), but read straight from the
engine instead of scraped over XML-RPC.  Metric names start with ``dsm_``;
counters end in ``_total``.  Format: Prometheus text exposition 0.0.4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsm.runtime.blocking import HISTOGRAM_BUCKETS
from dsm.runtime.redact import redact_text

if TYPE_CHECKING:
    from dsm.runtime.blocking import PoolRunner
    from dsm.runtime.control.http_server import ControlServer
    from dsm.runtime.control.observer import Observer
    from dsm.runtime.engine import Engine
    from dsm.runtime.sip.media_clock import MediaClock
    from dsm.runtime.sip.sipcall import SipCalls
    from dsm.runtime.versions import ChartLibrary

__all__ = ["render_metrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    value = redact_text(value)  # names only reach labels, but the one rule applies here too
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(
    engine: Engine,
    observer: Observer,
    library: ChartLibrary | None,
    uptime: float = 0.0,
    sip: SipCalls | None = None,
    control: ControlServer | None = None,
    blocking: PoolRunner | None = None,
) -> str:
    """The whole exposition text; with ``sip`` (``dsm serve --sip``) also the SIP and RTP figures.

    The RTP frame figures are gauges summed over the calls alive at the time
    of the scrape (a call's counts leave with it): a measurement reads them
    twice while the same calls are up and divides the differences
    (``benchmarks/sip.py``).
    """
    calls: dict[str, int] = {}
    system = 0
    versions: dict[str, int] = {}
    for s in list(engine.sessions.values()):
        if s.ended:
            continue
        versions[s.chartset.digest[:12]] = versions.get(s.chartset.digest[:12], 0) + 1
        if s.kind == "call":
            d = s.diagram.name if s.diagram is not None else ""
            calls[d] = calls.get(d, 0) + 1
        else:
            system += 1
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            v = int(value) if float(value).is_integer() else value
            out.append(f"{name}{labels} {v}")

    metric(
        "dsm_active_calls",
        "gauge",
        "Call sessions running, by current diagram.",
        [(f'{{diagram="{_label(d)}"}}', n) for d, n in sorted(calls.items())] or [("", 0)],
    )
    metric("dsm_system_sessions", "gauge", "System DSMs running.", [("", system)])
    metric(
        "dsm_sessions_by_version",
        "gauge",
        "Sessions running, by the chart version they started with.",
        [(f'{{version="{v}"}}', n) for v, n in sorted(versions.items())] or [("", 0)],
    )
    metric("dsm_calls_started_total", "counter", "Call sessions seen since start.", [("", observer.calls_started)])
    metric("dsm_events_total", "counter", "Events processed.", [("", observer.events)])
    metric("dsm_events_per_second", "gauge", "Events per second over the last 10 s.", [("", observer.events_per_second())])
    metric("dsm_transitions_total", "counter", "Transitions taken.", [("", observer.transitions)])
    metric("dsm_exceptions_total", "counter", "DSM exceptions raised in scripts.", [("", observer.exceptions)])
    if library is not None:
        metric("dsm_reloads_total", "counter", "Reload attempts (successful or not).", [("", library.reloads)])
        metric("dsm_reloads_failed_total", "counter", "Reload attempts refused.", [("", library.failed_reloads)])
    current = engine.main.chartset.digest[:12]
    metric("dsm_chart_version_info", "gauge", "The current main collection version.", [(f'{{version="{current}"}}', 1)])
    metric("dsm_uptime_seconds", "gauge", "Seconds since the server started.", [("", round(uptime, 3))])
    if control is not None:
        metric(
            "dsm_control_refused_total",
            "counter",
            "Control requests refused before any method ran (foreign Host/Origin, no token, not JSON).",
            [(f'{{reason="{r}"}}', n) for r, n in sorted(control.refused.items())],
        )
    if sip is not None:
        live = list(sip.calls.values())
        transport = sip.transport
        metric("dsm_sip_calls", "gauge", "SIP calls held by the server (session not ended).", [("", len(live))])
        metric("dsm_sip_calls_refused_total", "counter", "New INVITEs refused.", [("", sip.refused)])
        if transport is not None:
            metric(
                "dsm_sip_datagrams_received_total", "counter", "SIP datagrams received.", [("", transport.received)]
            )
            metric("dsm_sip_datagrams_sent_total", "counter", "SIP datagrams sent.", [("", transport.sent)])
        counters = sip.counters
        for name, value, help_ in (
            ("dsm_rtp_foreign_dropped_total", counters.rtp_foreign_dropped,
             "RTP packets dropped: not from the source the stream latched to (rtp_strict)."),
            ("dsm_rtcp_foreign_dropped_total", counters.rtcp_foreign_dropped,
             "RTCP packets dropped: not from the RTP peer's host (rtp_strict)."),
            ("dsm_rtp_held_back_total", counters.rtp_held_back,
             "Frames not sent after a 2xx while neither the ACK nor the peer's RTP had arrived."),
            ("dsm_sip_tcp_source_cap_refused_total", counters.tcp_source_cap_refused,
             "TCP connections refused: their source address held the most allowed."),
            ("dsm_sip_tcp_message_timeouts_total", counters.tcp_message_timeouts,
             "TCP connections closed: a begun message was not completed in time."),
            ("dsm_sip_tcp_idle_closed_total", counters.tcp_idle_closed,
             "TCP connections without a call closed after the idle timeout."),
            ("dsm_sip_too_large_dropped_total", counters.sip_too_large_dropped,
             "UDP SIP messages dropped for their size or header count."),
            ("dsm_sip_too_large_rejected_total", counters.sip_too_large_rejected,
             "TCP SIP messages refused with 513 for their size or header count."),
        ):  # fmt: skip
            metric(name, "counter", help_, [("", value)])
        metric(
            "dsm_rtp_frames",
            "gauge",
            "20 ms frame slots due so far, summed over the RTP sessions of live calls.",
            [("", sum(c.rtp.frames for c in live))],
        )
        metric(
            "dsm_rtp_late_frames",
            "gauge",
            "Frame slots served more than 10 ms late (or skipped), summed over live calls.",
            [("", sum(c.rtp.frames_late for c in live))],
        )
        clock = next((c.rtp.clock for c in live), None)
        if clock is not None:
            _tick_metrics(clock, metric, out)
    if blocking is not None:
        _blocking_metrics(blocking, metric, out)
    return "\n".join(out) + "\n"


def _tick_metrics(clock: MediaClock, metric: Any, out: list[str]) -> None:
    """The media clock's ticks: how long each ran and how late it started (histograms)."""
    from dsm.runtime.sip.media_clock import TICK_BOUNDS  # only a SIP server has a media clock

    metric("dsm_media_tick_overruns_total", "counter", "Media ticks that ran longer than a tick step.",
           [("", clock.tick_overruns)])  # fmt: skip
    for name, counts, help_ in (
        ("dsm_media_tick_seconds", clock.tick_durations, "How long each media tick ran (loop time)."),
        ("dsm_media_tick_delay_seconds", clock.tick_delays, "How long after its slot each media tick started."),
    ):
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} histogram")
        total = 0
        for bound, count in zip((*TICK_BOUNDS, "+Inf"), counts):
            total += count
            out.append(f'{name}_bucket{{le="{bound}"}} {total}')
        out.append(f"{name}_count {total}")


def _blocking_metrics(runner: PoolRunner, metric: Any, out: list[str]) -> None:
    """Blocking actions (runtime/blocking.py): in flight on the pool, seconds per action name."""
    metric(
        "dsm_blocking_in_flight",
        "gauge",
        "Blocking actions and conditions running on the worker pool now.",
        [("", runner.in_flight)],
    )
    name = "dsm_blocking_action_seconds"
    out.append(f"# HELP {name} Seconds per blocking action or condition, by name.")
    out.append(f"# TYPE {name} histogram")
    for action, hist in sorted(runner.histograms.items()):
        label = _label(action)
        total = 0
        for bound, count in zip((*HISTOGRAM_BUCKETS, None), hist.counts):
            total += count
            le = "+Inf" if bound is None else repr(bound)
            out.append(f'{name}_bucket{{action="{label}",le="{le}"}} {total}')
        out.append(f'{name}_sum{{action="{label}"}} {round(hist.total, 6)}')
        out.append(f'{name}_count{{action="{label}"}} {total}')
