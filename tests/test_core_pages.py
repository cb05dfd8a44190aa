"""The core's listings for the admin API (aaad.paging over NAS, profiles, logins, the auth log,
job runs, events and dead deliveries): each sees one org only, filters, and pages by cursor;
NAS changes and removal by id; a dead event re-queued within its org."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import authlog, events, jobs, nas, orgs
from aaad.errors import NotFound, ValidationError
from aaad.schema import aaa_changes, auth_log, event_failures
from aaad.view import store
from aaad.view.events import LoginCreated
from aaad.view.write import LoginWriter

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _orgs(c: Any) -> tuple[int, int]:
    return orgs.add(c, "a", "A", T0).id, orgs.add(c, "b", "B", T0).id


def _all_pages(fn: Any, *args: Any, **kw: Any) -> list[Any]:
    out: list[Any] = []
    cursor = None
    while True:
        p = fn(*args, cursor=cursor, limit=2, **kw)
        out += p.items
        if p.next_cursor is None:
            return out
        cursor = p.next_cursor


def test_nas_page_is_one_orgs_filtered_and_sorted(engine: Any, box: Any) -> None:
    """nas.page: only org a's NAS, by name descending across pages; type and q filter."""
    with engine.begin() as c:
        a, b = _orgs(c)
        for i, name in enumerate(("core", "edge", "access", "backhaul")):
            nas.add(c, box, a, name, f"10.0.{i}.1", "s", T0, type="other" if name == "edge" else "mikrotik")
        nas.add(c, box, b, "theirs", "10.1.0.1", "s", T0)
    with engine.connect() as c:
        names = [n.name for n in _all_pages(nas.page, c, box, a, sort="-name")]
        assert names == ["edge", "core", "backhaul", "access"]
        assert [n.name for n in nas.page(c, box, a, type="other").items] == ["edge"]
        assert [n.name for n in nas.page(c, box, a, q="10.0.3").items] == ["backhaul"]
        assert [n.name for n in nas.page(c, box, b).items] == ["theirs"]


def test_nas_update_and_remove_by_id_stay_in_the_org(engine: Any, box: Any) -> None:
    """update_by_id renames (a taken name is refused); another org's id is NotFound; remove_by_id of
    another org's id removes nothing; each change writes the change feed."""
    with engine.begin() as c:
        a, b = _orgs(c)
        r1 = nas.add(c, box, a, "r1", "10.0.0.1", "s", T0)
        nas.add(c, box, a, "r2", "10.0.0.2", "s", T0)
        theirs = nas.add(c, box, b, "r1", "10.0.0.3", "s", T0)
    with engine.begin() as c:
        n = nas.update_by_id(c, box, a, r1.id, T0, name="r1-new", secret="t")
        assert (n.name, n.secret) == ("r1-new", b"t")
    with pytest.raises(ValidationError) as e, engine.begin() as c:
        nas.update_by_id(c, box, a, r1.id, T0, name="r2")
    assert e.value.field == "name"
    with pytest.raises(NotFound), engine.begin() as c:
        nas.update_by_id(c, box, a, theirs.id, T0, coa_port=1)
    with engine.begin() as c:
        before = c.execute(sa.select(sa.func.count()).select_from(aaa_changes)).scalar_one()
        assert not nas.remove_by_id(c, a, theirs.id, T0)
        assert nas.remove_by_id(c, a, r1.id, T0)
        after = c.execute(sa.select(sa.func.count()).select_from(aaa_changes)).scalar_one()
        assert nas.get(c, box, b, theirs.id) is not None and nas.get(c, box, a, r1.id) is None
    assert after == before + 1


def test_profile_and_login_pages(engine: Any, box: Any) -> None:
    """page_profiles and page_logins: one org's, filtered by name, state, profile and owner."""
    w = LoginWriter(box)
    with engine.begin() as c:
        a, b = _orgs(c)
        gold = w.create_profile(c, a, "gold", T0)
        w.create_profile(c, a, "silver", T0)
        w.create_profile(c, b, "gold", T0)
        w.create(c, a, "ann", "pw", T0, profile_id=gold.id)
        w.create(c, a, "bob", "pw", T0, state="disabled")
        w.create(c, a, "carl", "pw", T0)
        w.create(c, b, "ann", "pw", T0)
    with engine.connect() as c:
        assert [p.name for p in store.page_profiles(c, a, sort="-name").items] == ["silver", "gold"]
        assert [p.name for p in store.page_profiles(c, a, q="GOL").items] == ["gold"]
        assert [lg.username for lg in _all_pages(store.page_logins, c, a, sort="-username")] == ["carl", "bob", "ann"]
        assert [lg.username for lg in store.page_logins(c, a, state="disabled").items] == ["bob"]
        assert [lg.username for lg in store.page_logins(c, a, profile_id=gold.id).items] == ["ann"]
        assert [lg.username for lg in store.page_logins(c, a, q="a").items] == ["ann", "carl"]
        assert len(store.page_logins(c, a, owner_type="none").items) == 3
        assert store.page_logins(c, a, owner_type="service").items == []
        assert [lg.org_id for lg in store.page_logins(c, b).items] == [b]


def test_auth_log_page_newest_first_in_one_org(engine: Any) -> None:
    """authlog.page: the org's rows newest first, by user, result and time range."""
    with engine.begin() as c:
        a, b = _orgs(c)
        for org_id, user, result, reason, minutes in ((a, "ann", "accept", None, 0),
                                                      (a, "bob", "reject", "bad password", 1),
                                                      (a, "ann", "reject", None, 2), (b, "ann", "accept", None, 0)):
            c.execute(auth_log.insert().values(org_id=org_id, username=user, result=result, reason=reason,
                                               created_at=T0 + timedelta(minutes=minutes)))
    with engine.connect() as c:
        got = _all_pages(authlog.page, c, a)
        assert [(e.username, e.result) for e in got] == [("ann", "reject"), ("bob", "reject"), ("ann", "accept")]
        assert [e.reason for e in authlog.page(c, a, username="bob").items] == ["bad password"]
        assert len(authlog.page(c, a, result="accept").items) == 1
        assert [e.username for e in authlog.page(c, a, since=T0 + timedelta(minutes=1),
                                                 until=T0 + timedelta(minutes=2)).items] == ["bob"]
        assert len(authlog.page(c, b).items) == 1


def test_job_runs_are_the_orgs_only(engine: Any) -> None:
    """page_runs and get_job_run: an org's runs, not another org's nor the platform's (org 0)."""
    with engine.begin() as c:
        a, b = _orgs(c)
        for org_id in (a, b, 0):
            jobs.claim(c, "billing", org_id, "2026-11", T0)
        jobs.finish(c, "billing", a, "2026-11", T0, error="boom")
        jobs.claim(c, "dunning", a, "2026-11-01", T0)
    with engine.connect() as c:
        mine = jobs.page_runs(c, a).items
        assert [(r.job, r.org_id) for r in mine] == [("dunning", a), ("billing", a)]
        assert [r.error for r in jobs.page_runs(c, a, status="failed").items] == ["boom"]
        assert [r.job for r in jobs.page_runs(c, a, job="dunning").items] == ["dunning"]
        ids = {r.id for r in jobs.page_runs(c, b).items} | {r.id for r in jobs.page_runs(c, 0).items}
        assert all(jobs.get_job_run(c, a, i) is None for i in ids)
        assert jobs.get_job_run(c, a, mine[0].id) == mine[0]


def test_events_and_dead_deliveries_per_org(engine: Any) -> None:
    """events.page/get and page_failures see one org; retry_dead_in_org re-queues only that org's dead
    delivery, NotFound for another org's event, ValidationError once it is not dead."""
    with engine.begin() as c:
        a, b = _orgs(c)
        events.publish(c, a, LoginCreated(1, "ann", "active", None), T0)
        events.publish(c, b, LoginCreated(2, "ann", "active", None), T0)
        ea = events.page(c, a).items[0]
        eb = events.page(c, b).items[0]
        for ev, org_id in ((ea, a), (eb, b)):
            c.execute(event_failures.insert().values(subscriber="enforcement", event_id=ev.id, org_id=org_id,
                                                     state="dead", attempts=8, last_error="router down",
                                                     updated_at=T0))
    with engine.begin() as c:
        assert [e.id for e in events.page(c, a).items] == [ea.id]
        assert events.get(c, a, eb.id) is None and events.get(c, a, ea.id) == ea
        assert events.page(c, a, types=["login.removed"]).items == []
        dead = events.page_failures(c, a).items
        assert [(f.event_id, f.type, f.last_error) for f in dead] == [(ea.id, "login.created", "router down")]
        with pytest.raises(NotFound):
            events.retry_dead_in_org(c, a, eb.id, T0)
        with pytest.raises(ValidationError) as e:
            events.retry_dead_in_org(c, a, ea.id, T0, subscriber="notify")
        assert e.value.field == "subscriber"
        assert events.retry_dead_in_org(c, a, ea.id, T0) == ["enforcement"]
        assert events.page_failures(c, a).items == []
        assert [f.state for f in events.page_failures(c, a, state=None).items] == ["retry"]
        assert [f.state for f in events.page_failures(c, b).items] == ["dead"]
        with pytest.raises(ValidationError) as e:
            events.retry_dead_in_org(c, a, ea.id, T0)
        assert e.value.field == "event_id"
