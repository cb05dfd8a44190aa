"""The action sender, synchronously (a driven clock, a fake RFC 5176 client, the real
queue on SQLite and PostgreSQL): each pending action is sent once, its outcome
recorded (ACK, session gone, NAK/timeout with the RouterOS API fallback, a NAK'd CoA
followed by a Disconnect), a NAS never has more than its share in flight, and a
stop leaves unfinished actions pending for the restart."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task

from aaad import nas as nas_store
from aaad.nas import Nas
from aaad.view.write import LoginWriter
from accounting.schema import sessions
from enforcement import actions as q
from enforcement.coa import ClientStopped, Result, Target
from enforcement.sender import ActionSender, session_address
from tests.enforcement.test_actions import deliver, open_session, queued, setup
from tests.helpers import SyncDB

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class FakeClient:
    """Records each request; the test answers it by firing its Deferred."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Target, list[tuple[str, Any]], defer.Deferred[Result]]] = []

    def _req(self, kind: str, target: Target, attrs: list[tuple[str, Any]]) -> defer.Deferred[Result]:
        d: defer.Deferred[Result] = defer.Deferred()
        self.calls.append((kind, target, attrs, d))
        return d

    def disconnect(self, target: Target, attrs: list[tuple[str, Any]]) -> defer.Deferred[Result]:
        return self._req("disconnect", target, attrs)

    def coa(self, target: Target, attrs: list[tuple[str, Any]]) -> defer.Deferred[Result]:
        return self._req("coa", target, attrs)


class FakeRouters:
    """The RouterOS side as the sender sees it: records calls; fails if told to."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.checked: list[str] = []
        self.addresses: list[str | None] = []
        self.fail = fail

    def remove_user_sessions(self, nas: Nas, username: str, address: str | None = None) -> defer.Deferred[int]:
        self.calls.append((nas.name, username))
        self.addresses.append(address)
        return defer.fail(RuntimeError("connection refused")) if self.fail else defer.succeed(2)

    def sync_profiles(self, nas: Nas) -> defer.Deferred[str]:
        self.calls.append((nas.name, "sync"))
        return defer.fail(RuntimeError("timed out")) if self.fail else defer.succeed("3 change(s) sent")

    def check_status(self, nas: Nas) -> None:
        self.checked.append(nas.name)


ACK = Result("ack", None, "", 1, 0.004)
GONE = Result("nak", 503, "Session-Context-Not-Found", 1, 0.002)
NAK = Result("nak", 506, "Resources-Unavailable", 1, 0.003)
TIMEOUT = Result("timeout", None, "", 4, None)


@pytest.fixture
def w(box: Any) -> LoginWriter:
    return LoginWriter(box)


def make(engine: Any, box: Any, *, routers: Any = None, per_nas: int = 64,
         max_rate: float = 0.0) -> tuple[ActionSender, FakeClient, task.Clock, list[int]]:
    clock = task.Clock()
    clock.advance(T0.timestamp())
    client = FakeClient()
    closed: list[int] = []
    s = ActionSender(SyncDB(engine), box, clock, client, poll_interval=1.0, in_flight_per_nas=per_nas,
                     routers=routers, on_sessions_closed=closed.extend, max_rate=max_rate)
    return s, client, clock, closed


def suspend(engine: Any, w: LoginWriter, ids: dict[str, int], user: str = "alice") -> None:
    with engine.begin() as c:
        w.set_state(c, ids["org"], ids[user], "suspended", T0, reason="unpaid")
    deliver(engine)


def test_ack_is_done_with_its_round_trip(engine: Any, box: Any, w: LoginWriter) -> None:
    """A pending Disconnect goes to the NAS's CoA port naming the session; its ACK is recorded."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1", "10.0.0.5")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.start()
    [(kind, target, attrs, d)] = client.calls
    assert (kind, target.host, target.port, target.secret) == ("disconnect", "127.0.0.1", 3799, b"s3cret")
    assert attrs == [("User-Name", "alice"), ("Acct-Session-Id", "s-1"), ("Framed-IP-Address", "10.0.0.5"),
                     ("Event-Timestamp", int(T0.timestamp()))]
    s.pump()
    assert len(client.calls) == 1, "an action in flight is not sent again"
    d.callback(ACK)
    clock.advance(0)
    [a] = queued(engine)
    assert (a.state, a.outcome, a.attempts, a.rtt_ms, a.sent_at) == ("done", "ack", 1, 4, T0)
    assert s.in_flight == set()


def test_session_gone_closes_our_row(engine: Any, box: Any, w: LoginWriter) -> None:
    """NAK 503 counts as done ('gone') and closes the accounting session; the tracker is told."""
    ids = setup(engine, box, w)
    r = open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    s, client, clock, closed = make(engine, box)
    s.start()
    client.calls[0][3].callback(GONE)
    clock.advance(0)
    [a] = queued(engine)
    assert (a.state, a.outcome, a.error_cause) == ("done", "gone", 503)
    assert closed == [ids["alice"]]
    with engine.connect() as c:
        assert c.execute(sa.select(sessions.c.stop_time).where(sessions.c.id == r)).scalar_one() is not None


def test_timeout_falls_back_to_the_router_api(engine: Any, box: Any, w: LoginWriter) -> None:
    """A Disconnect that times out, on a NAS with API credentials, is done through the API."""
    ids = setup(engine, box, w)
    deliver(engine)
    with_api(engine, box)
    open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    fb = FakeRouters()
    s, client, clock, _ = make(engine, box, routers=fb)
    s.start()
    client.calls[0][3].callback(TIMEOUT)
    clock.advance(0)
    [a] = queued(engine)
    assert (a.state, a.outcome, a.fallback, a.attempts) == ("done", "fallback", "api", 4)
    assert "removed 2 session(s)" in a.detail
    assert fb.calls == [("isp-r1", "alice")] and fb.addresses == [None]     # no address known: all alice's
    assert fb.checked == ["isp-r1"], "a router that timed out gets a status check"


def test_the_fallback_removes_only_the_session_at_its_address(engine: Any, box: Any, w: LoginWriter) -> None:
    """A login with two sessions: each session's fallback names its own Framed-IP-Address, so removing one
    through the API leaves the other."""
    ids = setup(engine, box, w)
    deliver(engine)
    with_api(engine, box)
    open_session(engine, ids, "alice", "s-1", ip="10.0.0.2")
    open_session(engine, ids, "alice", "s-2", ip="10.0.0.4")
    suspend(engine, w, ids)
    fb = FakeRouters()
    s, client, clock, _ = make(engine, box, routers=fb)
    s.start()
    for c in client.calls:
        c[3].callback(NAK)
    clock.advance(0)
    assert sorted(a for a in fb.addresses if a) == ["10.0.0.2", "10.0.0.4"] and len(fb.addresses) == 2


def test_failed_fallback_and_no_credentials_fail(engine: Any, box: Any, w: LoginWriter) -> None:
    """A NAK without API credentials fails with the cause; a failing fallback fails and says why."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box, routers=FakeRouters(fail=True))
    s.start()
    client.calls[0][3].callback(NAK)
    clock.advance(0)
    [a] = queued(engine)
    assert (a.state, a.outcome, a.error_cause, a.fallback) == ("failed", "nak", 506, None)
    assert "Resources-Unavailable" in a.detail


def test_nakd_coa_is_followed_by_a_disconnect(engine: Any, box: Any, w: LoginWriter) -> None:
    """A CoA the NAS refuses is recorded and a Disconnect of the same session follows at once."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    with engine.begin() as c:
        w.set_profile(c, ids["org"], ids["alice"], T0, profile_id=ids["p2"])
    deliver(engine)
    s, client, clock, _ = make(engine, box)
    s.start()
    kind, _t, attrs, d = client.calls[0]
    assert kind == "coa" and ("Mikrotik-Rate-Limit", "50M/50M") in attrs
    d.callback(NAK)
    clock.advance(0)
    assert [c[0] for c in client.calls] == ["coa", "disconnect"]
    client.calls[1][3].callback(ACK)
    clock.advance(s.flush_every)   # outcomes written at most every flush_every
    coa, disc = queued(engine)
    assert (coa.kind, coa.state, coa.outcome) == ("coa", "failed", "nak")
    assert (disc.kind, disc.cause, disc.state, disc.outcome) == ("disconnect", "coa.nak", "done", "ack")


def test_a_nas_has_at_most_its_share_in_flight(engine: Any, box: Any, w: LoginWriter) -> None:
    """With a cap of 2, the third action waits for a slot and goes as soon as one frees."""
    ids = setup(engine, box, w)
    for i in range(3):
        open_session(engine, ids, "alice", f"s-{i}")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box, per_nas=2)
    s.start()
    assert len(client.calls) == 2
    client.calls[0][3].callback(ACK)
    assert len(client.calls) == 3
    for c in client.calls[1:]:
        c[3].callback(ACK)
    clock.advance(0)
    assert [a.outcome for a in queued(engine)] == ["ack"] * 3


def test_sending_is_paced_at_max_rate(engine: Any, box: Any, w: LoginWriter) -> None:
    """At max_rate 10/s five queued requests go out one every 100 ms, not at once."""
    ids = setup(engine, box, w)
    for i in range(5):
        open_session(engine, ids, "alice", f"s-{i}")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box, max_rate=10)
    s.start()
    sent = [len(client.calls)]
    for _ in range(4):
        clock.advance(0.1)
        sent.append(len(client.calls))
    assert sent == [1, 2, 3, 4, 5]
    for c in client.calls:
        c[3].callback(ACK)
    clock.advance(0)
    assert [a.outcome for a in queued(engine)] == ["ack"] * 5


def test_another_nas_is_not_held_behind_one_nas_backlog(engine: Any, box: Any, w: LoginWriter) -> None:
    """A router with a backlog (a mass event, a router slow to answer) does not hold back another
    router's action queued after it: every pending row is taken at once, and NASes take turns."""
    a = setup(engine, box, w)
    for i in range(10):
        open_session(engine, a, "alice", f"a-{i}")
    suspend(engine, w, a)
    b = setup(engine, box, w, "isp2")
    open_session(engine, b, "bob", "b-1")
    suspend(engine, w, b, "bob")
    clock = task.Clock()
    clock.advance(T0.timestamp())
    client = FakeClient()
    s = ActionSender(SyncDB(engine), box, clock, client, poll_interval=60.0, batch=2, in_flight_per_nas=1)
    s.start()
    assert sorted(c[1].host for c in client.calls) == ["127.0.0.1", "127.0.0.2"]


def test_a_suspension_goes_before_the_rate_changes_waiting_for_its_router(engine: Any, box: Any,
                                                                         w: LoginWriter) -> None:
    """A Disconnect queued after a mass event's CoAs for the same router is sent at the router's
    next free slot, before the CoAs still waiting; the CoAs then follow in their order."""
    ids = setup(engine, box, w)
    for i in range(3):
        open_session(engine, ids, "alice", f"a-{i}")
    open_session(engine, ids, "bob", "b-1")
    with engine.begin() as c:
        w.set_profile(c, ids["org"], ids["alice"], T0, profile_id=ids["p2"])
    deliver(engine)
    s, client, clock, _ = make(engine, box, per_nas=1)
    s.start()                        # a-0 in flight, a-1 and a-2 waiting for the slot
    suspend(engine, w, ids, "bob")
    s.kick()                         # as after the suspension's commit
    for _ in range(4):
        client.calls[-1][3].callback(ACK)
    clock.advance(s.flush_every)
    assert [(c[0], dict(c[2])["Acct-Session-Id"]) for c in client.calls] == [
        ("coa", "a-0"), ("disconnect", "b-1"), ("coa", "a-1"), ("coa", "a-2")]
    assert [a.outcome for a in queued(engine)] == ["ack"] * 4


def test_outcomes_of_a_stream_of_answers_are_written_together(engine: Any, box: Any, w: LoginWriter) -> None:
    """A lone answer's outcome is written at once; answers that keep coming are written at most
    every ``flush_every`` seconds, many to a transaction."""
    ids = setup(engine, box, w)
    for i in range(20):
        open_session(engine, ids, "alice", f"s-{i}")
    suspend(engine, w, ids)
    clock = task.Clock()
    clock.advance(T0.timestamp())
    client = FakeClient()
    db = SyncDB(engine)
    writes: list[int] = []
    write = db.write

    def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn.__name__ == "_record":
            writes.append(len(args[0]))
        return write(fn, *args, **kwargs)
    db.write = counted  # type: ignore[method-assign]
    s = ActionSender(db, box, clock, client, poll_interval=60.0)
    s.start()
    assert len(client.calls) == 20
    client.calls[0][3].callback(ACK)
    clock.advance(0)
    assert writes == [1], "a lone answer is written at once"
    for c in client.calls[1:]:       # then one answer every 10 ms
        clock.advance(0.01)
        c[3].callback(ACK)
    clock.advance(s.flush_every)
    assert sum(writes) == 20 and len(writes) <= 1 + 19 * 0.01 / s.flush_every + 1, writes
    assert [a.outcome for a in queued(engine)] == ["ack"] * 20


def test_stop_leaves_unfinished_actions_pending(engine: Any, box: Any, w: LoginWriter) -> None:
    """A request cut short by a stop stays pending, and a new sender (the restart) sends it."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.start()
    client.calls[0][3].errback(ClientStopped())
    clock.advance(0)
    [a] = queued(engine)
    assert a.state == "pending"
    s2, client2, clock2, _ = make(engine, box)
    s2.start()
    client2.calls[0][3].callback(ACK)
    clock2.advance(0)
    assert queued(engine)[0].outcome == "ack"


def test_poll_finds_actions_another_process_queued(engine: Any, box: Any, w: LoginWriter) -> None:
    """An action queued by `aaad disconnect` (another process) is sent at the next poll."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "bob", "s-7")
    s, client, clock, _ = make(engine, box)
    s.start()
    assert client.calls == []
    with engine.begin() as c:
        assert q.request_disconnect(c, ids["org"], ids["bob"], "bob", T0) == 1
    clock.advance(1.0)
    assert [(c[0], c[2][0]) for c in client.calls] == [("disconnect", ("User-Name", "bob"))]


def test_not_leader_sends_nothing(engine: Any, box: Any, w: LoginWriter) -> None:
    """A sender on a non-leader instance leaves the queue alone."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.enabled = False
    s.start()
    clock.advance(5)
    assert client.calls == []


def test_network_nas_sends_to_the_router_each_session_came_from(engine: Any, box: Any, w: LoginWriter) -> None:
    """A NAS known only by a network (a fleet of routers sharing one secret): each session's
    Disconnect goes to the address its accounting came from, at the NAS's CoA port."""
    ids = setup(engine, box, w)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE nas SET address='10.9.0.0/24'"))
    open_session(engine, ids, "alice", "s-1", nas_ip="10.9.0.7")
    open_session(engine, ids, "alice", "s-2", nas_ip="10.9.0.12")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.start()
    clock.advance(0)
    assert sorted((c[1].host, c[1].port) for c in client.calls) == [("10.9.0.12", 3799), ("10.9.0.7", 3799)]
    for c in client.calls:
        c[3].callback(ACK)
    clock.advance(0)   # the outcomes' write
    assert [(a.state, a.nas_ip) for a in queued(engine)] == [("done", "10.9.0.7"), ("done", "10.9.0.12")]


@pytest.mark.parametrize("nas_ip, why", [(None, "never said which router"), ("10.8.0.7", "outside it")])
def test_network_nas_without_a_usable_session_address_fails_with_a_reason(
        engine: Any, box: Any, w: LoginWriter, nas_ip: str | None, why: str) -> None:
    """No address recorded (a session from before it was), or one outside the NAS's network:
    nothing is sent anywhere, the action fails and says why."""
    ids = setup(engine, box, w)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE nas SET address='10.9.0.0/24'"))
    open_session(engine, ids, "alice", "s-1", nas_ip=nas_ip)
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.start()
    clock.advance(0)
    [a] = queued(engine)
    assert client.calls == [] and (a.state, a.outcome) == ("failed", "error")
    assert "is a network" in a.detail and why in a.detail


def test_a_single_address_nas_is_sent_to_its_own_address(engine: Any, box: Any, w: LoginWriter) -> None:
    """A NAS with one address gets its requests there, whatever source the accounting showed
    (a router behind NAT sends from another address than the one configured)."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1", nas_ip="192.0.2.99")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.start()
    clock.advance(0)
    with engine.connect() as c:
        address = c.execute(sa.text("SELECT address FROM nas")).scalar()
    assert [c[1].host for c in client.calls] == [address]


@pytest.mark.parametrize("network, ip, want", [
    ("10.9.0.0/24", "10.9.0.7", "10.9.0.7"),
    ("10.9.0.0/24", "10.9.1.7", None),
    ("10.9.0.0/24", "::ffff:10.9.0.7", "10.9.0.7"),
    ("2001:db8::/64", "2001:db8::5", "2001:db8::5"),
    ("2001:db8::/64", "10.9.0.7", None),
    ("10.9.0.0/24", "not an address", None),
    ("10.9.0.0/24", None, None),
])
def test_session_address(network: str, ip: str | None, want: str | None) -> None:
    assert session_address(network, ip) == want


def with_api(engine: Any, box: Any) -> None:
    with engine.begin() as c:
        c.execute(sa.update(sa.table("nas", sa.column("api_username"), sa.column("api_password_enc"))).values(
            api_username="aaad", api_password_enc=box.encrypt(b"pw")))


def test_profile_sync_goes_through_the_router_api(engine: Any, box: Any, w: LoginWriter) -> None:
    """A profile edit on an org whose router has API credentials syncs its profiles; a failure is
    recorded and triggers a status check."""
    ids = setup(engine, box, w)
    deliver(engine)                      # the profiles' creation, before the router had API access
    with_api(engine, box)
    with engine.begin() as c:
        w.update_profile(c, ids["org"], ids["p"], T0, rate_limit="20M/20M")
    deliver(engine)
    ok = FakeRouters()
    s, client, clock, _ = make(engine, box, routers=ok)
    s.start()
    clock.advance(0)
    [a] = queued(engine)
    assert (a.kind, a.state, a.outcome, a.detail, a.session_row) == ("sync_profiles", "done", "ack",
                                                                    "3 change(s) sent", 0)
    assert ok.calls == [("isp-r1", "sync")] and client.calls == []
    with engine.begin() as c:
        w.create_profile(c, ids["org"], "100M", T0, rate_limit="100M/100M")
    deliver(engine)
    bad = FakeRouters(fail=True)
    s2, _c2, clock2, _ = make(engine, box, routers=bad)
    s2.start()
    clock2.advance(0)
    b = queued(engine)[-1]
    assert (b.kind, b.state, b.detail) == ("sync_profiles", "failed", "RouterOS API: timed out")
    assert bad.checked == ["isp-r1"]


def test_get_many_reads_any_org(engine: Any, box: Any, w: LoginWriter) -> None:
    """The sender's NAS lookup finds NAS of every org by id."""
    a = setup(engine, box, w, "isp")
    b = setup(engine, box, w, "other")
    with engine.connect() as c:
        got = nas_store.get_many(c, box, [a["nas"], b["nas"]])
    assert {n.org_id for n in got.values()} == {a["org"], b["org"]}


def test_a_retried_action_is_sent_again_on_a_rescan(engine: Any, box: Any, w: LoginWriter) -> None:
    """A failed Disconnect retried (back to pending, its id older than those taken) is not seen by a plain
    kick but is sent again by ``kick(rescan=True)``, and its new outcome recorded."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.start()
    client.calls[0][3].callback(TIMEOUT)
    clock.advance(0)
    [a] = queued(engine)
    assert a.state == "failed"
    with engine.begin() as c:
        q.retry(c, ids["org"], a.id, T0)
    s.kick()
    assert len(client.calls) == 1
    s.kick(rescan=True)
    assert len(client.calls) == 2 and client.calls[1][0] == "disconnect"
    client.calls[1][3].callback(ACK)
    clock.advance(s.flush_every)   # outcomes written at most every flush_every
    [b] = queued(engine)
    assert (b.id, b.state, b.outcome, b.attempts) == (a.id, "done", "ack", 1)


def test_an_action_retried_elsewhere_is_found_by_the_periodic_rescan(engine: Any, box: Any, w: LoginWriter) -> None:
    """Retried by another process (no kick here), the action is sent again at the sender's periodic look at
    the whole queue (every ``rescan_every``-th look), not before."""
    ids = setup(engine, box, w)
    open_session(engine, ids, "alice", "s-1")
    suspend(engine, w, ids)
    s, client, clock, _ = make(engine, box)
    s.rescan_every = 3
    s.start()                                    # look 1
    client.calls[0][3].callback(TIMEOUT)
    clock.advance(0)
    [a] = queued(engine)
    with engine.begin() as c:
        q.retry(c, ids["org"], a.id, T0)
    clock.advance(1.0)                           # look 2: only newer rows
    assert len(client.calls) == 1
    clock.advance(1.0)                           # look 3: the whole queue
    assert len(client.calls) == 2
