"""Races on both databases, several connections at once as several instances would: the sign-in throttle
counts every parallel try, and a reset link is used by exactly one of two parallel requests."""
from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import orgs
from aaad.crypto import SecretBox
from aaad.db import sync_engine
from billing import customers
from web.portal import accounts, sessions
from web.schema import portal_login_throttle, portal_reset_tokens

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = sessions.Policy(timedelta(hours=1), timedelta(hours=24))


def in_parallel(url: str, n: int, fn: Callable[[Any], Any]) -> list[Any]:
    """``fn(conn)`` in ``n`` threads at once, each in its own transaction on its own engine."""
    engines = [sync_engine(url) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            with engines[i].begin() as conn:
                results[i] = fn(conn)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert not errors, errors
    return results


def setup(engine: Any) -> tuple[int, int]:
    with engine.begin() as c:
        org = orgs.add(c, "race", "Race Net", T0)
        cust = customers.add(c, org.id, T0, name="Ama Race", email="ama@race.example", rng=random.Random(1))
        customers.set_password(c, org.id, cust.id, "right password", T0)
    return org.id, cust.id


def test_parallel_tries_are_all_counted(engine: Any, db_url: str) -> None:
    """12 sign-in tries for one identifier at the same instant: exactly 5 may check a password, the rest wait,
    and the counter says 5 for the identifier."""
    org_id, _ = setup(engine)
    limits = accounts.Limits(ip_failures=100)
    results = in_parallel(db_url, 12, lambda conn: accounts.begin_attempt(
        conn, org_id, "ama@race.example", f"10.0.0.{random.randint(1, 250)}", T0, limits))
    assert sorted(results).count(0) == 5 and all(r == 60 for r in results if r)
    with engine.connect() as c:
        failures = c.execute(sa.select(portal_login_throttle.c.failures).where(
            portal_login_throttle.c.org_id == org_id, portal_login_throttle.c.kind == "id")).scalar_one()
    assert failures == 5


def test_a_reset_link_is_used_once_by_parallel_requests(engine: Any, db_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests with the same reset link at once: one sets the password and signs in, the other gets
    nothing; the token is used."""
    org_id, cid = setup(engine)
    captured: list[str] = []

    def spy(*a: Any) -> list[int]:
        captured.append(a[4])
        return []
    monkeypatch.setattr(accounts.otp, "send_reset_link", spy)
    with engine.begin() as c:
        assert accounts.request_reset(c, SecretBox(b"k" * 32), org_id, "ama@race.example", "http://x/race/portal/",
                                      T0, accounts.Limits())
    token = captured[0].rsplit("/", 1)[1]
    results = in_parallel(db_url, 2, lambda conn: accounts.use_reset(
        conn, org_id, token, f"new password {threading.get_ident()}", None, T0, POLICY))
    assert sum(r is not None for r in results) == 1
    with engine.connect() as c:
        assert c.execute(sa.select(portal_reset_tokens.c.used_at)).scalar_one() is not None
        assert sessions.count(c, org_id, cid) == 1
