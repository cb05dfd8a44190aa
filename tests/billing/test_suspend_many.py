"""services.suspend_many (and LoginWriter.set_state_many under it) on SQLite and
PostgreSQL: two identical databases, one suspended service by service through
services.suspend, the other in one suspend_many call; the databases must come out
the same (services, logins, service_log, customers, each entity's events in order,
the change feed) and the writer's local-apply notes must carry each changed login."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.db import CHANGES, begin_tx, sync_engine
from aaad.errors import ValidationError
from aaad.schema import aaa_changes, logins
from aaad.schema import events as events_t
from aaad.view.write import Actor, OwnedLogin
from billing import catalogue, services
from billing.schema import customers, service_log
from billing.schema import services as services_t
from tests.billing.fixtures_c import D0, T0, World, at, make_world
from tests.dbtemplate import migrated

NOW = at(D0.replace(day=20), 2)


@pytest.fixture
def twins(db_url: str, tmp_path: Path, request: Any) -> Iterator[tuple[Any, Any]]:
    """Two migrated, empty databases of the same kind."""
    if db_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'twin.db'}"
    else:
        other = request.getfixturevalue("pg_cluster").new_database()
    engines = (sync_engine(migrated(db_url, request)), sync_engine(migrated(other, request)))
    yield engines
    for e in engines:
        e.dispose()


@dataclass
class Setup:
    world: World
    batch: list[tuple[int, str, int | None]]   # (service id, reason, invoice id), suspend order
    foreign: int                              # an active service whose login another owner took over


def build(engine: Any) -> Setup:
    """The same mixed data in any database: customers with one or two internet services,
    one with a non-internet service too, one with only a non-internet service, a pending
    customer, a login already suspended, and a login owned by another service."""
    w = make_world(engine, suspend_mode="walled_garden")
    net = w.internet_product("Home 10M")
    voice = int(w.tx(catalogue.add_product, w.writer, w.org_id, T0, name="Voice", type="voice", price=0).id)

    def add(cid: int, pid: int, username: str | None = None) -> int:
        kw = {"username": username, "password": "pw"} if username else {}
        return int(w.tx(services.add, w.writer, w.org_id, cid, pid, at(D0), start=D0, **kw).id)

    a, a1 = w.subscriber("ama", net)
    b, b1 = w.subscriber("kofi", net)
    b2 = add(b, net, "kofi-2")
    c, c1 = w.subscriber("esi", net)
    c_voice = add(c, voice)                     # stays active: esi stays active
    d = w.customer("yaw", "Yaw")
    d_voice = add(d, voice)
    e, e1 = w.subscriber("abena", net)
    e2 = add(e, net, "abena-2")                 # not in the batch; e pending -> active
    f, f1 = w.subscriber("kwame", net)          # its login already suspended in the org's mode
    g, g1 = w.subscriber("akua", net)
    with engine.begin() as conn:
        conn.execute(customers.update().where(customers.c.id == e).values(status="pending"))
        lid = conn.execute(sa.select(services_t.c.login_id).where(services_t.c.id == f1)).scalar_one()
        w.writer.set_state(conn, w.org_id, lid, "suspended", at(D0, 10), actor=services.owner(f1),
                           suspend_mode="walled_garden", reason="by hand")
        glid = conn.execute(sa.select(services_t.c.login_id).where(services_t.c.id == g1)).scalar_one()
        conn.execute(logins.update().where(logins.c.id == glid).values(owner_id=a1))
    del c_voice, e2
    batch: list[tuple[int, str, int | None]] = [
        (b2, "kofi owes", 7), (a1, "ama owes", None), (c1, "esi owes", 3), (b1, "kofi owes", 7),
        (d_voice, "yaw owes", 4), (e1, "abena owes", None), (f1, "kwame owes", 5)]
    return Setup(w, batch, g1)


def dump(engine: Any, org_id: int) -> dict[str, Any]:
    """Everything suspending touches, comparable across two databases."""
    with engine.connect() as c:
        def rows(t: Any, *order: Any) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in c.execute(sa.select(t).where(t.c.org_id == org_id).order_by(*order))]
        per_entity: dict[tuple[str, int], list[tuple[str, Any, Any]]] = {}
        for r in c.execute(sa.select(events_t.c.type, events_t.c.payload, events_t.c.created_at)
                           .where(events_t.c.org_id == org_id).order_by(events_t.c.id)):
            p = json.loads(r.payload)
            key = ("login", p["login_id"]) if r.type.startswith("login.") else \
                ("service", p["service_id"]) if r.type.startswith("service.") else ("other", 0)
            per_entity.setdefault(key, []).append((r.type, p, r.created_at))
        return {
            "services": rows(services_t, services_t.c.id),
            "logins": [tuple(r) for r in c.execute(  # secrets encrypted with random nonces
                sa.select(*[col for col in logins.c if col.name != "secret_enc"])
                .where(logins.c.org_id == org_id).order_by(logins.c.id))],
            "service_log": rows(service_log, service_log.c.id),
            "customers": rows(customers, customers.c.id),
            "events": per_entity,
            "changes": [(r.kind, r.op, r.entity_id, r.created_at) for r in c.execute(
                sa.select(aaa_changes).where(aaa_changes.c.org_id == org_id).order_by(aaa_changes.c.id))],
        }


def fields_of(lg: Any) -> tuple[Any, ...]:
    """A Login's data (the class compares by identity; its cache slots are not data)."""
    return tuple(getattr(lg, f.name) for f in dataclasses.fields(lg) if f.repr)


def one_by_one(s: Setup, batch: list[tuple[int, str, int | None]]) -> tuple[list[services.Service], list[Any]]:
    w = s.world
    with w.engine.begin() as conn:
        notes = begin_tx(conn)
        out = [services.suspend(conn, w.writer, w.org_id, sid, NOW, reason=reason, invoice_id=inv)
               for sid, reason, inv in batch]
    return out, notes.get(CHANGES, [])


def set_wise(s: Setup, batch: list[tuple[int, str, int | None]]) -> tuple[list[services.Service], list[Any]]:
    w = s.world
    with w.engine.begin() as conn:
        notes = begin_tx(conn)
        out = services.suspend_many(conn, w.writer, w.org_id, batch, NOW)
    return out, notes.get(CHANGES, [])


def test_suspend_many_equals_suspend_in_turn(twins: tuple[Any, Any]) -> None:
    """A mixed batch: the database after suspend_many equals the one after suspend for
    each service in turn, and the same changed logins are noted for the local view."""
    s1, s2 = build(twins[0]), build(twins[1])
    assert dump(twins[0], s1.world.org_id) == dump(twins[1], s2.world.org_id)
    before = dump(twins[0], s1.world.org_id)
    got1, notes1 = one_by_one(s1, s1.batch)
    got2, notes2 = set_wise(s2, s2.batch)
    after1, after2 = dump(twins[0], s1.world.org_id), dump(twins[1], s2.world.org_id)
    assert after1 == after2
    assert after2 != before
    assert got1 == got2 and [g.id for g in got2] == [sid for sid, _, _ in s2.batch]
    assert all(g.state == "suspended" for g in got2)
    # Customers: kofi (both suspended) suspended; esi (voice still active) active; yaw
    # (only service suspended) suspended; abena pending -> active (another service active).
    with twins[1].connect() as c:
        status = dict(c.execute(sa.select(customers.c.username, customers.c.status)).all())
    assert status == {"ama": "suspended", "kofi": "suspended", "esi": "active", "yaw": "suspended",
                      "abena": "active", "kwame": "suspended", "akua": "active"}
    # The change feed and the local-apply notes: each changed login once (kwame's was
    # already suspended in that mode: no change, no event), with its new state.
    assert [(ch.kind, ch.entity_id, ch.op) for ch, _ in notes1] == [(ch.kind, ch.entity_id, ch.op)
                                                                  for ch, _ in notes2]
    assert [ch.id for ch, _ in notes1] == [ch.id for ch, _ in notes2]
    assert [fields_of(lg) for _, lg in notes1] == [fields_of(lg) for _, lg in notes2]
    internet = [g for g in got2 if g.login_id is not None and g.username != "kwame"]
    assert [ch.entity_id for ch, _ in notes2] == [g.login_id for g in internet]
    assert all(lg.state == "suspended" and lg.suspend_mode == "walled_garden" for _, lg in notes2)
    with twins[1].connect() as c:
        feed = [r.id for r in c.execute(sa.select(aaa_changes.c.id).order_by(aaa_changes.c.id))][-len(notes2):]
    assert [ch.id for ch, _ in notes2] == feed
    ev = after2["events"]
    for g in internet:
        assert [t for t, _, _ in ev[("login", g.login_id)]][-1] == "login.state_changed"
        assert ev[("login", g.login_id)][-1][1]["reason"] == dict((sid, r) for sid, r, _ in s2.batch)[g.id]
    assert ev[("service", s2.batch[0][0])][-1][1]["invoice_id"] == 7


def test_owned_login_refused_like_suspend(twins: tuple[Any, Any]) -> None:
    """A login another owner took over: suspend_many refuses with OwnedLogin as
    suspend does, and (the transaction rolled back) both databases are unchanged."""
    s1, s2 = build(twins[0]), build(twins[1])
    before = dump(twins[1], s2.world.org_id)
    batch = s1.batch[:2] + [(s1.foreign, "akua owes", 9)] + s1.batch[2:]
    with pytest.raises(OwnedLogin) as e1:
        one_by_one(s1, batch)
    with pytest.raises(OwnedLogin) as e2:
        set_wise(s2, batch)
    assert str(e1.value) == str(e2.value) and "service" in str(e2.value)
    assert dump(twins[0], s1.world.org_id) == dump(twins[1], s2.world.org_id) == before


def test_not_active_refused_like_suspend(twins: tuple[Any, Any]) -> None:
    """A service no longer active (or named twice) is refused as suspend refuses it."""
    s = build(twins[0])
    sid = s.batch[1][0]
    s.world.tx(services.suspend, s.world.writer, s.world.org_id, sid, NOW, reason="by hand")
    with pytest.raises(ValidationError, match=f"cannot suspend service {sid}: it is suspended"):
        set_wise(s, s.batch)
    with pytest.raises(ValidationError, match="cannot suspend service"):
        set_wise(s, [s.batch[0], s.batch[0]])
    assert set_wise(s, []) == ([], [])


def test_set_state_many_skips_unchanged_and_checks_owner(twins: tuple[Any, Any]) -> None:
    """set_state_many: a login already in the state and mode is returned unwritten; an
    operator without force is refused on an owned login, with force it may write."""
    s = build(twins[0])
    w = s.world
    with w.engine.connect() as c:
        lids = dict(c.execute(sa.select(services_t.c.id, services_t.c.login_id)).all())
    a1, f1 = s.batch[1][0], s.batch[6][0]
    with pytest.raises(OwnedLogin), w.engine.begin() as conn:
        w.writer.set_state_many(conn, w.org_id, [(lids[a1], Actor.operator())], "disabled", NOW)
    with w.engine.begin() as conn:
        notes = begin_tx(conn)
        got = w.writer.set_state_many(conn, w.org_id, [(lids[f1], services.owner(f1)),
                                                       (lids[a1], Actor.operator(force=True))],
                                      "suspended", NOW, reasons="forced")
    assert [lg.id for lg in got] == [lids[f1], lids[a1]]
    assert [(lg.state, lg.suspend_mode) for lg in got] == [("suspended", "walled_garden"), ("suspended", "reject")]
    assert [ch.entity_id for ch, _ in notes[CHANGES]] == [lids[a1]]


def test_changed_meanwhile_settled_by_row_count(twins: tuple[Any, Any], monkeypatch: Any) -> None:
    """A service or a login changed between suspend_many's read and its UPDATE (another
    writer) makes the grouped conditional UPDATE come short: ValidationError, nothing kept."""
    s = build(twins[0])
    w = s.world
    before = dump(w.engine, w.org_id)
    a1 = s.batch[1][0]
    real_services_in = services._services_in

    def services_read_then_suspended_by_another(conn: Any, org_id: int, ids: list[int]) -> Any:
        out = real_services_in(conn, org_id, ids)
        conn.execute(services_t.update().where(services_t.c.id == a1).values(state="suspended"))
        return out

    monkeypatch.setattr(services, "_services_in", services_read_then_suspended_by_another)
    with pytest.raises(ValidationError, match="changed meanwhile"):
        set_wise(s, s.batch)
    monkeypatch.undo()
    assert dump(w.engine, w.org_id) == before

    from aaad.view import write
    real_check = write._check_owner
    with w.engine.connect() as c:
        lids = dict(c.execute(sa.select(services_t.c.id, services_t.c.login_id)).all())
    with pytest.raises(ValidationError, match="changed meanwhile"), w.engine.begin() as conn:
        def login_read_then_disabled_by_another(row: Any, actor: Actor) -> None:
            real_check(row, actor)
            conn.execute(logins.update().where(logins.c.id == lids[a1]).values(state="disabled"))

        monkeypatch.setattr(write, "_check_owner", login_read_then_disabled_by_another)
        w.writer.set_state_many(conn, w.org_id, [(lids[a1], services.owner(a1))], "suspended", NOW)
    monkeypatch.undo()
    assert dump(w.engine, w.org_id) == before
