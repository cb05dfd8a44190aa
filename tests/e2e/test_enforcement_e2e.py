"""End to end: a suspension reaches the router now.  The real daemon, FreeRADIUS as
the NAS receiving CoA/Disconnect on a loopback port, radclient opening the session:
``aaad user suspend`` / ``aaad service suspend`` / billing's dunning, each committed by
another process, put a Disconnect-Request naming User-Name and Acct-Session-Id on the
NAS within one second; a daemon SIGKILLed between the commit and the send sends it
after its restart, exactly once; a NAS saying "session not found" closes our session;
a plan change is a CoA with the new rate."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.e2e.test_accounting_e2e import acct
from tests.nas_freeradius import FreeRadiusNas, freeradius_binary

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None or freeradius_binary() is None,
                                reason="radclient or freeradius missing: run the README's test command")

SECRET = "testing123"          # the demo NAS's (127.0.0.1) secret
FAST = "[enforcement]\ncoa_timeout = 0.2\ncoa_attempts = 2\ncoa_max_time = 1.0\n"
# Billing's jobs are run by the tests (as CLI processes); everything else, events included, runs.
SKIP_BILLING = '[jobs]\nskip = ["billing.run", "billing.dunning"]\n'


@pytest.fixture
def nas(tmp_path: Path) -> Any:
    with FreeRadiusNas(tmp_path / "nas", SECRET) as n:     # started by `with`
        yield n


def point_at(d: Daemon, nas: FreeRadiusNas) -> None:
    """The demo NAS's CoA port is FreeRADIUS's."""
    d.cli("nas", "set", "loopback", "--coa-port", str(nas.port))


def start_session(d: Daemon, user: str, sid: str, ip: str = "10.9.0.7") -> None:
    r = acct(d, f'User-Name = "{user}"\nAcct-Session-Id = "{sid}"\nFramed-IP-Address = {ip}\n'
                'NAS-Port = 7\nAcct-Status-Type = Start\n')
    assert "Accounting-Response" in r.stdout, r.stdout + r.stderr


def settled(d: Daemon, timeout: float = 10) -> None:
    """Wait until the daemon delivered every event so far (a test's own writes wake nobody)."""
    from aaad import wake
    wake.send(wake.address(str(d.data_dir)))
    deadline = time.monotonic() + timeout
    while True:
        subscribers = json.loads(d.cli("events", "--json").stdout)["subscribers"]   # one CLI call: ~1 s
        if subscribers and not any(s["lag"] for s in subscribers):
            return
        assert time.monotonic() < deadline, d.cli("events").stdout
        time.sleep(0.05)


def actions(d: Daemon, *args: str) -> list[dict[str, Any]]:
    return json.loads(d.cli("actions", "--json", *args).stdout)


def wait_actions(d: Daemon, n: int, *args: str, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = [a for a in actions(d, *args) if a["state"] != "pending"]
        if len(got) >= n:
            return got
        assert time.monotonic() < deadline, f"actions not finished: {actions(d, *args)}"
        time.sleep(0.05)


def is_disconnect(r: dict[str, Any]) -> bool:
    return bool(r["code"] == "Disconnect-Request")


def test_cli_suspension_disconnects_within_a_second(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """`aaad user suspend` in another process: the Disconnect names the session and reaches the
    NAS within one second of the commit; the action is recorded as ACK'd."""
    d = daemon_factory(extra=FAST)
    point_at(d, nas)
    start_session(d, "alice", "e2e-a1")
    d.cli("user", "suspend", "alice", "--reason", "e2e")
    committed = time.time()
    [r] = nas.wait_received(1, timeout=1.0)
    assert r["time"] - committed < 1.0
    assert (r["code"], r["User-Name"], r["Acct-Session-Id"], r["Framed-IP-Address"]) == (
        "Disconnect-Request", "alice", "e2e-a1", "10.9.0.7")
    assert r["Message-Authenticator"] and r["answer"] == "ack"
    [a] = wait_actions(d, 1, "--login", "alice")
    assert (a["kind"], a["outcome"], a["state"], a["cause"]) == ("disconnect", "ack", "done", "login.state_changed")
    assert d.metric("aaad_enforcement_actions_total", 'result="disconnect_ack"') == 1


def test_a_nas_known_by_a_network_gets_the_disconnect_where_the_session_came_from(
        daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """A NAS known only by a network (routers sharing one secret): the session's accounting came
    from 127.0.0.1, so its Disconnect goes there (FreeRADIUS, at the NAS's CoA port)."""
    d = daemon_factory(extra=FAST)
    point_at(d, nas)
    d.cli("nas", "set", "loopback", "--address", "127.0.0.0/8")
    start_session(d, "alice", "e2e-net1")
    d.cli("user", "suspend", "alice", "--reason", "e2e")
    [r] = nas.wait_received(1, timeout=2.0)
    assert (r["code"], r["User-Name"], r["Acct-Session-Id"], r["answer"]) == (
        "Disconnect-Request", "alice", "e2e-net1", "ack")
    [a] = wait_actions(d, 1, "--login", "alice")
    assert (a["outcome"], a["state"]) == ("ack", "done")


def test_resumption_and_plan_change(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """Resuming disconnects the walled-garden session; a profile change is a CoA with the new rate."""
    d = daemon_factory(extra=FAST)
    point_at(d, nas)
    start_session(d, "alice", "e2e-b1")
    d.cli("user", "set", "alice", "--profile", "home-50M")
    [r] = nas.wait_received(1, timeout=2.0)
    assert (r["code"], r["User-Name"], r["Mikrotik-Rate-Limit"]) == ("CoA-Request", "alice", "50M/50M")
    d.cli("user", "suspend", "alice", "--mode", "walled_garden")
    nas.wait_received(2, timeout=2.0)
    d.cli("user", "enable", "alice")
    got = nas.wait_received(3, timeout=2.0)
    assert [x["code"] for x in got] == ["CoA-Request", "Disconnect-Request", "Disconnect-Request"]


def test_session_not_found_closes_our_session(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """A NAK with Error-Cause 503 counts as done ('gone') and closes the session row."""
    d = daemon_factory(extra=FAST)
    point_at(d, nas)
    d.cli("user", "add", "nak503-dan", "--password", "pw", "--profile", "home-10M")
    start_session(d, "nak503-dan", "e2e-c1")
    d.cli("user", "disable", "nak503-dan")
    [a] = wait_actions(d, 1, "--login", "nak503-dan")
    assert (a["outcome"], a["state"]) == ("gone", "done")
    assert "Session Context Not Found" in a["detail"]
    open_ = json.loads(d.cli("sessions", "--json", "--user", "nak503-dan").stdout)
    assert open_ == []


def test_no_answer_times_out_within_its_bound(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """A NAS that never answers: the request is retransmitted (same id) and the action fails
    as a timeout within coa_max_time; nothing else is held up."""
    d = daemon_factory(extra=FAST)
    point_at(d, nas)
    d.cli("user", "add", "mute-eve", "--password", "pw", "--profile", "home-10M")
    start_session(d, "mute-eve", "e2e-d1")
    start_session(d, "alice", "e2e-d2", "10.9.0.8")
    d.cli("user", "remove", "mute-eve")
    d.cli("user", "suspend", "alice")
    [a] = wait_actions(d, 1, "--login", "alice")
    assert a["outcome"] == "ack"
    got = wait_actions(d, 2)
    [mute] = [x for x in got if x["login"] == "mute-eve"]
    assert (mute["outcome"], mute["state"], mute["attempts"]) == ("timeout", "failed", 2)
    tries = [r for r in nas.received() if r["User-Name"] == "mute-eve"]
    assert len(tries) == 2 and len({r["id"] for r in tries}) == 1


def test_killed_between_commit_and_send_sends_once_after_restart(daemon_factory: Any, nas: FreeRadiusNas,
                                                                 monkeypatch: Any) -> None:
    """SIGKILL right after the subscriber's commit (the action row is durable, nothing sent):
    the restarted daemon sends the Disconnect, and the NAS sees it exactly once."""
    conf, data_dir = daemon_factory.configure(extra=FAST)
    d = daemon_factory.start(conf, data_dir)
    point_at(d, nas)
    start_session(d, "alice", "e2e-k1")
    d.stop()
    monkeypatch.setenv("AAAD_FAULT", "after_commit_before_send")
    d = daemon_factory.start(conf, data_dir)
    monkeypatch.delenv("AAAD_FAULT")
    d.cli("user", "suspend", "alice")
    assert d.proc.wait(30) == -9
    assert nas.received() == []
    d2 = daemon_factory.start(conf, data_dir)
    [r] = nas.wait_received(1, timeout=5.0)
    assert (r["User-Name"], r["Acct-Session-Id"]) == ("alice", "e2e-k1")
    [a] = wait_actions(d2, 1, "--login", "alice")
    assert a["outcome"] == "ack"
    d2.cli("user", "enable", "alice", check=False)   # another event: the first is not redelivered
    nas.wait_received(2, timeout=5.0)
    assert len([x for x in nas.received() if x["Acct-Session-Id"] == "e2e-k1"]) == 2


def test_service_suspension_and_postgresql(daemon_factory: Any, nas: FreeRadiusNas, pg_cluster: Any) -> None:
    """On PostgreSQL, billing's `aaad service suspend` (its login owned by the service) reaches the NAS
    within one second too."""
    from tests.e2e.test_billing_e2e import overdue_customer
    d = daemon_factory(db_url=pg_cluster.new_database(), extra=FAST + SKIP_BILLING)
    point_at(d, nas)
    login, _customer, _owed = overdue_customer(d, "reject")
    settled(d)
    start_session(d, login, "e2e-s1")
    svc = json.loads(d.cli("service", "list", "--json").stdout)
    [sid] = [s["id"] for s in svc if s["username"] == login]
    d.cli("service", "suspend", str(sid), "--reason", "e2e")
    committed = time.time()
    [r] = nas.wait_received(1, timeout=1.0)
    assert r["time"] - committed < 1.0 and (r["User-Name"], r["Acct-Session-Id"]) == (login, "e2e-s1")


def test_dunning_disconnects(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """Billing's daily dunning pass (a CLI process) suspends an overdue customer: Disconnect sent."""
    from tests.e2e.test_billing_e2e import overdue_customer
    d = daemon_factory(extra=FAST + SKIP_BILLING)
    point_at(d, nas)
    login, _customer, _owed = overdue_customer(d, "walled_garden")
    settled(d)
    start_session(d, login, "e2e-u1")
    d.cli("jobs", "run", "billing.dunning", "--org", "demo")
    committed = time.time()
    [r] = nas.wait_received(1, timeout=1.0, where=is_disconnect)
    assert r["time"] - committed < 1.0 and r["User-Name"] == login


def test_crossing_an_fup_tier_sends_a_coa_with_its_rate(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """Accounting pushes a login over its first tier: the next aggregation pass throttles it and
    the NAS gets a CoA-Request with tier 1's Mikrotik-Rate-Limit for the open session (no
    disconnect); crossing the second tier sends tier 2's."""
    d = daemon_factory(extra=FAST + "[accounting]\naggregation_interval = 2\n")
    point_at(d, nas)
    d.cli("profile", "add", "tiered", "--rate-limit", "10M/10M", "--tier", "1K:5M/5M", "--tier", "1M:1M/1M")
    d.cli("user", "add", "tina", "--password", "tina-pass", "--profile", "tiered")
    settled(d)
    start_session(d, "tina", "fup-1")
    base = 'User-Name = "tina"\nAcct-Session-Id = "fup-1"\nFramed-IP-Address = 10.9.0.7\n'
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Interim-Update\n"
                                                "Acct-Input-Octets = 5000\nAcct-Session-Time = 60\n").stdout
    [r] = nas.wait_received(1, timeout=10.0)
    assert (r["code"], r["User-Name"], r["Acct-Session-Id"], r["Mikrotik-Rate-Limit"]) == (
        "CoA-Request", "tina", "fup-1", "5M/5M")
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Interim-Update\n"
                                                "Acct-Input-Octets = 2000000\nAcct-Session-Time = 120\n").stdout
    got = nas.wait_received(2, timeout=10.0)
    assert [(x["code"], x["Mikrotik-Rate-Limit"]) for x in got] == [("CoA-Request", "5M/5M"),
                                                                     ("CoA-Request", "1M/1M")]
    assert [a["outcome"] for a in wait_actions(d, 2, "--login", "tina")] == ["ack", "ack"]


def test_nak_falls_back_to_the_router_api(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """The NAS NAKs a Disconnect (Error-Cause 506): the daemon removes the user's active session
    through the RouterOS API (the protocol-level fake router) and records that the fallback was used;
    a profile edit syncs the router's aaad-* profiles through the same API."""
    from tests.fake_routeros import FakeRouterOS
    with FakeRouterOS(username="aaad", password="api-pw") as router:
        pppoe = router.seed("/ppp/active", name="nak506-fay", address="10.9.0.9", caller_id="AA:BB")
        router.seed("/ppp/active", name="someone-else", address="10.9.0.10")
        d = daemon_factory(extra=FAST)
        point_at(d, nas)
        d.cli("nas", "set", "loopback", "--api-host", "127.0.0.1", "--api-port", str(router.port),
              "--api-username", "aaad", "--api-password", "api-pw")
        d.cli("user", "add", "nak506-fay", "--password", "pw", "--profile", "home-10M")
        start_session(d, "nak506-fay", "e2e-f1", "10.9.0.9")
        d.cli("user", "suspend", "nak506-fay")
        [a] = wait_actions(d, 1, "--login", "nak506-fay")
        assert (a["outcome"], a["state"], a["fallback"]) == ("fallback", "done", "api")
        assert "Resources Unavailable" in a["detail"] and "removed 1 session(s)" in a["detail"]
        assert [r[".id"] for r in router.table("/ppp/active")] != [pppoe]
        assert [r["name"] for r in router.table("/ppp/active")] == ["someone-else"]
        d.cli("profile", "set", "home-10M", "--rate-limit", "12M/12M")
        deadline = time.monotonic() + 10
        while not [p for p in router.table("/ppp/profile") if p.get("rate-limit") == "12M/12M"]:
            assert time.monotonic() < deadline, router.table("/ppp/profile")
            time.sleep(0.05)
        names = sorted(p["name"] for p in router.table("/ppp/profile"))
        assert {"aaad-home-10M", "aaad-home-50M"} <= set(names)
        sync = [x for x in actions(d) if x["kind"] == "sync_profiles"]
        assert sync and sync[0]["outcome"] == "ack"


def test_disconnect_on_demand(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """`aaad disconnect LOGIN` queues a Disconnect per open session and prints the NAS's answer."""
    d = daemon_factory(extra=FAST)
    point_at(d, nas)
    start_session(d, "bob", "e2e-g1", "10.10.0.20")
    r = d.cli("disconnect", "bob", "--reason", "support call")
    assert "ack" in r.stdout, r.stdout
    [x] = nas.wait_received(1, timeout=2.0)
    assert (x["code"], x["User-Name"], x["Acct-Session-Id"]) == ("Disconnect-Request", "bob", "e2e-g1")
    r = d.cli("disconnect", "carol")
    assert "no open session" in r.stdout


def test_a_router_that_never_answers_does_not_stall_radius(daemon_factory: Any, nas: FreeRadiusNas) -> None:
    """The RouterOS API of the NAS accepts connections and never answers: while the fallback waits
    out its timeout on its own thread, RADIUS keeps answering at once; the action then fails saying
    why and the router's status is recorded unreachable."""
    from tests.e2e.test_auth_e2e import radclient
    from tests.e2e.test_write_path_e2e import pap
    from tests.fake_routeros import FakeRouterOS
    with FakeRouterOS(username="aaad", password="pw") as router:
        router.mode = "silent"
        d = daemon_factory(extra=FAST + "api_timeout = 3.0\n")
        point_at(d, nas)
        d.cli("nas", "set", "loopback", "--api-host", "127.0.0.1", "--api-port", str(router.port),
              "--api-username", "aaad", "--api-password", "pw")
        d.cli("user", "add", "nak506-gus", "--password", "pw", "--profile", "home-10M")
        start_session(d, "nak506-gus", "e2e-h1")
        d.cli("user", "suspend", "nak506-gus")
        nas.wait_received(1, timeout=2.0)
        slowest = 0.0
        for _ in range(5):          # while the API call hangs
            t0 = time.monotonic()
            out = radclient(d, pap("alice", "alice-pass")).stdout
            slowest = max(slowest, time.monotonic() - t0)
            assert "Access-Accept" in out
        assert slowest < 1.0
        [a] = wait_actions(d, 1, "--login", "nak506-gus", timeout=20)
        assert (a["state"], a["fallback"]) == ("failed", "api-failed")
        assert "RouterOS API fallback failed" in a["detail"]
        deadline = time.monotonic() + 20
        while (st := recorded_status(d)) is None:     # checked after the failure, recorded
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert st.reachable is False and st.error


def recorded_status(d: Daemon) -> Any:
    """The loopback NAS's last recorded router status (enforcement's router_status), if any."""
    from aaad import app
    from aaad.db import sync_engine
    from enforcement import status_store
    engine = sync_engine(app.database_url(app.load_config(str(d.config_path))))
    try:
        with engine.connect() as c:
            return status_store.last(c, 1, 1)
    finally:
        engine.dispose()
