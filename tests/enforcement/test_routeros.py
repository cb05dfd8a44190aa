"""RouterOS API calls (status, session removal) and the RouterPool, against the fake router."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from twisted.internet import defer, task
from twisted.python.failure import Failure

from aaad.nas import Nas
from enforcement import routeros
from enforcement.routeros import RouterAccess, RouterError, RouterPool, RouterStatus, Timeouts
from tests.fake_routeros import FakeRouterOS, closed_port

FAST = Timeouts(connect=2.0, read=2.0, call=10.0)


class ThreadReactor:
    """Just enough reactor for a ThreadPool: results posted from threads are run
    when the test asks, on the test's thread (the reactor thread stand-in)."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = queue.Queue()
        self.clock = task.Clock()
        self.clock.advance(1_700_000_000)

    def callFromThread(self, f: Callable[..., Any], *a: Any, **kw: Any) -> None:  # noqa: N802
        self.calls.put((f, a, kw))

    def seconds(self) -> float:
        return self.clock.seconds()

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run posted calls until ``done()`` (bounded: fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for the pool"
            try:
                f, a, kw = self.calls.get(timeout=left)
            except queue.Empty:
                continue
            f(*a, **kw)


def outcome(d: defer.Deferred[Any]) -> Any:
    box: list[Any] = []
    d.addBoth(box.append)
    assert box, "not fired"
    return box[0]


def router_error(d: defer.Deferred[Any]) -> RouterError:
    """The RouterError a fired Deferred failed with."""
    f = outcome(d)
    assert isinstance(f, Failure) and isinstance(f.value, RouterError), f
    return f.value


@pytest.fixture
def fake() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(password="pw", identity="core-1") as f:
        yield f


def access(fake: FakeRouterOS, **kw: Any) -> RouterAccess:
    return RouterAccess("127.0.0.1", fake.port, "admin", kw.pop("password", "pw"), **kw)


# -- the synchronous path (what the CLI runs, and the pool's threads) -----------------------


def test_status_of_a_live_router(fake: FakeRouterOS) -> None:
    """A live router reports version, board and identity."""
    now = datetime(2026, 11, 29, tzinfo=UTC)
    st = routeros.check_status(access(fake), FAST, now)
    assert st == RouterStatus(True, "7.16.2 (stable)", "RB5009UG+S+", "core-1", "1d2h3m4s", checked_at=now)
    assert st.as_dict()["checked_at"] == "2026-11-29T00:00:00+00:00"


def test_status_of_a_slow_router(fake: FakeRouterOS) -> None:
    """Slower than usual but within the read timeout is fine; slower than it is a timeout."""
    fake.delay = 0.2
    assert routeros.check_status(access(fake), FAST).reachable
    fake.delay = 3.0
    st = routeros.check_status(access(fake, timeout=0.3), FAST)
    assert (st.reachable, st.error_kind) == (False, routeros.TIMEOUT)


def test_status_of_a_dead_router(fake: FakeRouterOS) -> None:
    """A router that takes the connection and never answers times out; a closed port is unreachable."""
    fake.mode = "silent"
    st = routeros.check_status(access(fake, timeout=0.3), FAST)
    assert (st.reachable, st.error_kind) == (False, routeros.TIMEOUT)
    st = routeros.check_status(RouterAccess("127.0.0.1", closed_port(), "admin", "pw"), FAST)
    assert (st.reachable, st.error_kind) == (False, routeros.UNREACHABLE)
    assert st.error and "refused" in st.error.lower()


def test_status_with_a_bad_password(fake: FakeRouterOS) -> None:
    """Wrong credentials: the router answered (reachable) but refused the login."""
    st = routeros.check_status(access(fake, password="nope"), FAST)
    assert (st.reachable, st.error_kind, st.version) == (True, routeros.LOGIN, None)
    assert st.error and "invalid user name or password" in st.error
    fake.fatal_on_bad_login = True
    assert routeros.check_status(access(fake, password="nope"), FAST).error_kind == routeros.LOGIN


def test_status_over_tls() -> None:
    """api-ssl: the same status through TLS."""
    with FakeRouterOS(password="pw", tls=True) as f:
        st = routeros.check_status(RouterAccess("127.0.0.1", f.port, "admin", "pw", tls=True), FAST)
        assert st.reachable and st.identity == "MikroTik"
        plain = routeros.check_status(RouterAccess("127.0.0.1", f.port, "admin", "pw", timeout=1.0), FAST)
        assert not plain.reachable


def test_the_call_deadline_bounds_a_dripping_router(fake: FakeRouterOS) -> None:
    """Each answer within the read timeout, but the whole call past its deadline, is a timeout."""
    fake.delay = 0.3
    with pytest.raises(RouterError) as e:
        routeros.call(access(fake), Timeouts(2.0, 2.0, 0.5),
                      lambda api: [list(api.rawCmd("/system/identity/print")) for _ in range(5)])
    assert e.value.kind == routeros.TIMEOUT


def test_remove_active(fake: FakeRouterOS) -> None:
    """Removes the login's PPP and hotspot sessions only, and says how many."""
    fake.seed("/ppp/active", name="alice", address="10.0.0.2")
    fake.seed("/ppp/active", name="bob", address="10.0.0.3")
    fake.seed("/ppp/active", name="alice", address="10.0.0.4")
    fake.seed("/ip/hotspot/active", user="alice", address="10.5.0.2")
    assert routeros.remove_active(access(fake), "alice", FAST) == 3
    assert [r["name"] for r in fake.table("/ppp/active")] == ["bob"]
    assert fake.table("/ip/hotspot/active") == []
    assert routeros.remove_active(access(fake), "alice", FAST) == 0
    assert [s.command for s in fake.writes()] == ["/ppp/active/remove"] * 2 + ["/ip/hotspot/active/remove"]


def test_remove_active_at_an_address_removes_that_session_only(fake: FakeRouterOS) -> None:
    """With the session's address, only the login's entry there goes (PPP or hotspot); its other sessions
    and another login at that address stay."""
    fake.seed("/ppp/active", name="alice", address="10.0.0.2")
    fake.seed("/ppp/active", name="alice", address="10.0.0.4")
    fake.seed("/ppp/active", name="bob", address="10.0.0.9")
    fake.seed("/ip/hotspot/active", user="alice", address="10.5.0.2")
    fake.seed("/ip/hotspot/active", user="carol", address="10.0.0.4")
    assert routeros.remove_active(access(fake), "alice", FAST, address="10.0.0.4") == 1
    assert [(r["name"], r["address"]) for r in fake.table("/ppp/active")] == [
        ("alice", "10.0.0.2"), ("bob", "10.0.0.9")]
    assert routeros.remove_active(access(fake), "alice", FAST, address="10.5.0.2") == 1
    assert [r["user"] for r in fake.table("/ip/hotspot/active")] == ["carol"]
    assert routeros.remove_active(access(fake), "alice", FAST, address="10.0.0.77") == 0   # gone already


def test_remove_active_refused_and_unreachable(fake: FakeRouterOS) -> None:
    """A refused remove and an unreachable router raise RouterError with their kind."""
    fake.seed("/ppp/active", name="alice")
    fake.traps["/ppp/active/remove"] = "not enough permissions (9)"
    with pytest.raises(RouterError) as e:
        routeros.remove_active(access(fake), "alice", FAST)
    assert e.value.kind == routeros.REFUSED and "permissions" in e.value.message
    with pytest.raises(RouterError) as e:
        routeros.remove_active(RouterAccess("127.0.0.1", closed_port()), "alice", FAST)
    assert e.value.kind == routeros.UNREACHABLE


def test_access_from_nas() -> None:
    """A NAS's API settings become RouterAccess (TLS port by default with TLS); none without a user."""
    n = Nas(1, 1, "r1", "10.0.0.1", b"s", "mikrotik", 3799, True, None, None, "api", b"pw", True)
    a = RouterAccess.from_nas(n)
    assert a == RouterAccess("10.0.0.1", 8729, "api", "pw", True)
    assert "pw" not in repr(a)
    assert RouterAccess.from_nas(Nas(1, 1, "r1", "10.0.0.1", b"s", "mikrotik", 3799, True)) is None


# -- the pool -------------------------------------------------------------------------------------


@pytest.fixture
def reactor() -> ThreadReactor:
    return ThreadReactor()


@pytest.fixture
def pool(reactor: ThreadReactor) -> Iterator[RouterPool]:
    p = RouterPool(reactor, threads=2, connect_timeout=2.0, read_timeout=5.0, max_queued=2)
    p.start()
    yield p
    p.stop()


def test_pool_status_runs_on_its_own_threads(fake: FakeRouterOS, reactor: ThreadReactor, pool: RouterPool) -> None:
    """Calls run on the pool's threads, not the caller's; status is stamped with the reactor's time."""
    names: list[str] = []

    def who(api: Any) -> str:
        names.append(threading.current_thread().name)
        return "done"

    d1 = pool.status(access(fake))
    d2 = pool.call(access(fake), who)
    reactor.run_until(lambda: d1.called and d2.called)
    st = outcome(d1)
    assert st.reachable and st.checked_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert outcome(d2) == "done"
    assert names and "routeros" in names[0] and names[0] != threading.current_thread().name


def test_pool_remove_active_and_apply(fake: FakeRouterOS, reactor: ThreadReactor, pool: RouterPool) -> None:
    """remove_active (one login or several on one connection) and profile sync through the pool."""
    from aaad.view.model import Profile
    fake.seed("/ppp/active", name="alice")
    fake.seed("/ip/hotspot/active", user="bob")
    d1 = pool.remove_active(access(fake), "alice")
    d2 = pool.sync_profiles(access(fake), [Profile(1, 1, "gold", rate_limit="1M/1M")])
    d3 = pool.remove_active_many(access(fake), ["bob", "carol"])
    reactor.run_until(lambda: d1.called and d2.called and d3.called)
    assert outcome(d1) == 1
    assert outcome(d3) == {"bob": 1, "carol": 0}
    assert len(fake.connections) == 3
    assert outcome(d2).ok and any(r["name"] == "aaad-gold" for r in fake.table("/ppp/profile"))


def test_pool_router_that_never_answers(fake: FakeRouterOS, reactor: ThreadReactor, pool: RouterPool) -> None:
    """A dead router holds one thread at a time while other routers' calls complete; its call times out,
    the calls queued behind fail at once, and calls beyond the queue bound fail as busy."""
    with FakeRouterOS(password="pw") as dead:
        dead.mode = "silent"
        slow = RouterAccess("127.0.0.1", dead.port, "admin", "pw", timeout=3.0)
        first = pool.status(slow)
        queued_remove, queued_status = pool.remove_active(slow, "alice"), pool.status(slow)
        assert router_error(pool.remove_active(slow, "bob")).kind == routeros.BUSY
        assert pool.queued(slow) == 2
        live = [pool.status(access(fake)) for _ in range(2)] + [pool.remove_active(access(fake), "x")]
        reactor.run_until(lambda: all(d.called for d in live))
        assert not first.called  # the dead router is still being waited for
        assert [outcome(d).reachable for d in live[:2]] == [True] * 2
        assert outcome(live[2]) == 0
        reactor.run_until(lambda: first.called and queued_remove.called and queued_status.called)
        st = outcome(first)
        assert (st.reachable, st.error_kind) == (False, routeros.TIMEOUT)
        failed = router_error(queued_remove)
        assert failed.kind == routeros.TIMEOUT and "not tried" in failed.message
        assert outcome(queued_status).error_kind == routeros.TIMEOUT
        assert len(dead.connections) == 1 and dead.max_overlap() == 1
        assert pool.queued(slow) == 0


def test_pool_serialises_calls_to_one_router(fake: FakeRouterOS, reactor: ThreadReactor, pool: RouterPool) -> None:
    """Calls to the same router never overlap, even with free threads."""
    fake.delay = 0.05
    ds = [pool.status(access(fake)) for _ in range(3)]
    reactor.run_until(lambda: all(d.called for d in ds))
    assert all(outcome(d).reachable for d in ds)
    assert len(fake.connections) == 3 and fake.max_overlap() == 1


def test_pool_stop_cuts_a_dead_call_short(reactor: ThreadReactor) -> None:
    """Stopping the pool closes the sockets of calls in flight instead of waiting out their timeout."""
    p = RouterPool(reactor, threads=1, read_timeout=60.0)
    p.start()
    with FakeRouterOS() as dead:
        dead.mode = "silent"
        d = p.status(RouterAccess("127.0.0.1", dead.port))
        assert dead.wait_received(1)
        started = time.monotonic()
        p.stop()
        assert time.monotonic() - started < 5
        reactor.run_until(lambda: d.called)
        assert not outcome(d).reachable
