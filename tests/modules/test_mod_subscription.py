"""mod_subscription (M-subscription-1 … 3, C-core-25) in the harness: the test plays the notifier.

The harness installs :class:`~dsm.runtime.harness.notifier.SimSubscriptions`
as the host's subscription service; over real SIP the same module is tested
in ``tests/runtime/sip/test_sip_subscription*.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from dsm.modules.mod_subscription import module
from dsm.runtime.harness import Harness, TestCall

SCRIPT = """
import(mod_subscription);
import(mod_xml);
initial state S;
transition "subscribe" S - key; test(#key == 1) / {
  set($r.domain=example.org); set($r.user=alice); set($r.from_user=bob); set($r.event=presence);
  set($r.expires=$want); set($errno=before);
  subscription.create(r);
  set($create_errno=$errno); set($create_str=$strerror);
} -> S;
transition "refresh" S - key; test(#key == 2) / {
  set($errno=before); subscription.refresh($r.handle, 90); set($refresh_errno=$errno)
} -> S;
transition "refresh unknown" S - key; test(#key == 3) / {
  subscription.refresh(nosuch); set($refresh_errno=$errno); set($refresh_str=$strerror)
} -> S;
transition "remove" S - key; test(#key == 4) / {
  set($errno=before); subscription.remove($r.handle); set($remove_errno=$errno)
} -> S;
transition "event" S - subscription / {
  append($log, #status); append($log, ","); set($code=#code); set($reason=#reason);
  set($expires=#expires); set($has_body=#has_body);
  if test(#has_body == "true") { xml.parseSIPMsgBody("SipSubscriptionBody", "doc"); set($parse_errno=$errno) };
} -> S;
transition "bye" S - hangup / stop(false) -> S;
"""


def start(tmp_path: Path, want: str = "60") -> tuple[Harness, TestCall]:
    (tmp_path / "watch.dsm").write_text(textwrap.dedent(SCRIPT))
    h = Harness(scripts=str(tmp_path))
    call = h.call("watch")
    call.vars["want"] = want
    call.press("1")
    return h, call


def test_module_declares_the_three_actions() -> None:
    assert sorted(module.actions) == [
        "subscription.create",
        "subscription.refresh",
        "subscription.remove",
    ]
    assert module.action_signature("subscription.remove") is not None


def test_M_subscription_1_create_reads_the_prefix_and_clears_errno(tmp_path: Path) -> None:
    """``$r.*`` read (missing ones created empty), ``expires`` as UINT, ``$r.handle`` set, errno cleared."""
    h, call = start(tmp_path)
    (sub,) = h.subscriptions.live()
    assert call.vars["r.handle"] == sub.handle and call.vars["create_errno"] == ""
    assert (sub.target.user, sub.target.domain, sub.target.from_user, sub.target.event) == (
        "alice",
        "example.org",
        "bob",
        "presence",
    )
    assert sub.expires == [60]
    assert all(call.vars[f"r.{k}"] == "" for k in ("pwd", "proxy", "accept", "id"))


def test_M_subscription_1_unreadable_expires_counts_as_0(tmp_path: Path) -> None:
    h, _ = start(tmp_path, want="soon")
    assert h.subscriptions.live()[0].expires == [0]


def test_M_subscription_1_failure_sets_errno_arg(tmp_path: Path) -> None:
    """No user/domain: ``$r.handle`` empty, ``errno = arg``, ``could not create subscription``."""
    (tmp_path / "watch.dsm").write_text(
        "import(mod_subscription);\ninitial state S enter { subscription.create(x); "
        "set($e=$errno); set($s=$strerror) };\n"
    )
    call = Harness(scripts=str(tmp_path)).call("watch")
    assert call.vars["x.handle"] == "" and call.vars["e"] == "arg"
    assert call.vars["s"] == "could not create subscription\n"


def test_C_core_25_events_with_body_object(tmp_path: Path) -> None:
    """NOTIFY pending, active with a body (``SipSubscriptionBody`` for mod_xml), terminated."""
    h, call = start(tmp_path)
    handle = call.vars["r.handle"]
    assert h.subscriptions.notify(handle, "pending", expires=60) == 200
    body = b'<?xml version="1.0"?><presence/>'
    h.subscriptions.notify(
        handle, "active", expires=30, body=body, content_type="application/pidf+xml"
    )
    assert call.vars["has_body"] == "true" and call.vars["parse_errno"] == ""
    assert call.vars["expires"] == str(int(h.clock.now()) + 30)
    h.subscriptions.notify(handle, "terminated")
    assert call.vars["log"] == "pending,active,terminated,"
    assert h.subscriptions.notify(handle, "active", expires=5) == 481


def test_C_core_25_failed_and_timeout(tmp_path: Path) -> None:
    h, call = start(tmp_path)
    h.subscriptions.fail(call.vars["r.handle"], 403, "Forbidden")
    assert (call.vars["log"], call.vars["code"], call.vars["reason"]) == (
        "failed,",
        "403",
        "Forbidden",
    )
    call.press("1")
    h.subscriptions.timeout(call.vars["r.handle"])
    assert call.vars["log"] == "failed,timeout,"


def test_M_subscription_2_refresh(tmp_path: Path) -> None:
    """Refresh with expires: errno cleared; unknown handle: ``general`` / ``could not refresh subscription``."""
    h, call = start(tmp_path)
    call.press("2")
    assert call.vars["refresh_errno"] == "" and h.subscriptions.live()[0].expires == [60, 90]
    call.press("3")
    assert call.vars["refresh_errno"] == "general"
    assert call.vars["refresh_str"] == "could not refresh subscription\n"


def test_M_subscription_3_remove_leaves_errno_and_silences_events(tmp_path: Path) -> None:
    h, call = start(tmp_path)
    handle = call.vars["r.handle"]
    call.press("4")
    assert call.vars["remove_errno"] == "before" and h.subscriptions.live() == []
    assert h.subscriptions.notify(handle, "active", expires=60) == 481
    assert "log" not in call.vars
    call.press("2")  # refreshing a removed subscription fails
    assert call.vars["refresh_errno"] == "general"
