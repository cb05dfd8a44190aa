"""SQL for accounting: sessions, usage buckets, cycle usage (one place, run on db threads).

Every function takes a connection and returns plain values or dataclasses.
``apply_batch`` is the writer's batch handler for Accounting-Requests (group
commit): it folds the requests of one writer batch per session in memory
with :func:`accounting.sessions.merge`, reads the stored rows of those
sessions in one SELECT, and writes with one multi-row INSERT and one
executemany UPDATE.  Because the fold is a join (order-independent,
idempotent), retransmissions, duplicates and late packets can never double
count.
"""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import compress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import dml as pg_dml
from sqlalchemy.dialects.sqlite import dml as sqlite_dml
from sqlalchemy.engine import Connection

from aaad import fup, paging
from aaad.cycles import cycle_of, zone
from aaad.db import in_list, sqlite_parse_time, sqlite_time
from aaad.events import publish
from aaad.schema import logins as logins_t
from aaad.schema import nas as nas_t
from aaad.schema import orgs as orgs_t
from aaad.view import throttle
from aaad.view.write import LoginWriter
from accounting import sessions as sm
from accounting import usage as um
from accounting.events import QuotaExceeded, QuotaWarning
from accounting.schema import UNAGGREGATED, nas_state, usage_cycles
from accounting.schema import sessions as sessions_t
from accounting.schema import usage as usage_t

#: The fields of :class:`accounting.sessions.Session`, in order; the column of
#: ``key`` is ``session_key``, every other one has the field's name.
SESSION_FIELDS = tuple(sm.Session.__dataclass_fields__)
_SESSION_COLS = [sessions_t.c.session_key if f == "key" else sessions_t.c[f] for f in SESSION_FIELDS]
_MUTABLE = ("nas_port", "nas_port_id", "framed_ip", "calling_station", "called_station",
            "start_time", "last_update", "stop_time", "input_octets", "output_octets",
            "input_packets", "output_packets", "session_time", "terminate_cause",
            "interim_interval", "class_attr", "nas_ip")
_IN_CHUNK = 500  # keys per IN (...) list

NAS_RESET = (sm.STATUS_ACCOUNTING_ON, sm.STATUS_ACCOUNTING_OFF)



@dataclass(frozen=True, slots=True)
class AcctItem:
    """What the server submits to the writer: a decoded request and who it is about."""
    rec: sm.AcctRecord
    org_id: int
    login_id: int | None = None
    limited: bool = False   # the login has a total time or data limit: its usage is added to it


@dataclass(frozen=True, slots=True)
class Outcome:
    """Open-session changes a committed request caused: login ids opened and closed.

    The changes of a session are reported once per batch (on its last
    request there), so summing the outcomes of all requests is exact.
    """
    opened: tuple[int, ...] = ()
    closed: tuple[int, ...] = ()
    anomalies: tuple[str, ...] = ()   # pre-accounting anomalies of this request (metric labels)


NOTHING = Outcome()


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session row as the CLI and the API show it."""
    id: int
    org_id: int
    login_id: int | None
    session: sm.Session
    agg_input_octets: int
    agg_output_octets: int


def _row_session(r: Sequence[Any]) -> sm.Session:
    return sm.Session(*r)


def _values(s: sm.Session) -> dict[str, Any]:
    return {f: getattr(s, f) for f in _MUTABLE}


# -- the group commit's statements on SQLite, straight through the driver -------------------------
#
# SQLAlchemy's per-row parameter and result processing (a type decorator per time column, the
# expanding IN list compiled again for every length) cost the writer more than SQLite's own work
# at thousands of Accounting-Requests a second.  On SQLite (the default) apply_batch's SELECT,
# INSERT and UPDATEs are therefore SQL texts run with the driver's executemany on plain tuples
# (an UPDATE per set of fields that changed, see _update_sql), times converted as UTCDateTime
# stores them (naive UTC text, SQLAlchemy's DATETIME format); PostgreSQL keeps the Core
# statements (its dialect batches INSERTs itself, and it leaves an index alone when the value
# of its columns did not change).

_TIMES = frozenset({"start_time", "last_update", "stop_time"})    # the UTCDateTime fields of Session
_SESSION_SQL_COLS = ", ".join(c.name for c in _SESSION_COLS)
_INSERT_FIELDS = ("session_key", "org_id", "nas_id", "session_id", "username", "login_id") + _MUTABLE
_INSERT_SQL = (f"INSERT INTO {sessions_t.name} ({', '.join(_INSERT_FIELDS)}) "
               f"VALUES ({', '.join('?' * len(_INSERT_FIELDS))})")
_MUTABLE_TIMES = frozenset(i for i, f in enumerate(_MUTABLE) if f in _TIMES)
_MUTABLE_RANGE = range(len(_MUTABLE))
_I_LAST = _MUTABLE.index("last_update")
_get_mutable = operator.attrgetter(*_MUTABLE)      # a Session's _MUTABLE fields, as a tuple


@functools.lru_cache(maxsize=256)
def _update_sql(changed: tuple[int, ...], login: bool) -> str:
    """The UPDATE of a session row that sets only the :data:`_MUTABLE` fields ``changed`` (their
    indexes) and, if ``login``, login_id.  SQLite rewrites every index that holds a column the SET
    names, whether its value changed or not: setting all the fields made each Interim-Update
    rewrite six of the table's seven indexes, where its counters and last_update touch two.
    agg_at: as _update_session_stmt (the SET's expressions read the row as it was)."""
    sets = [f"{_MUTABLE[i]} = ?" for i in changed] + (["login_id = ?"] if login else [])
    return (f"UPDATE {sessions_t.name} SET {', '.join(sets)}, "
            "agg_at = CASE WHEN agg_input_octets >= ? AND agg_output_octets >= ? THEN ? ELSE agg_at END "
            "WHERE id = ?")
_SESSION_TIMES = tuple(i for i, f in enumerate(SESSION_FIELDS) if f in _TIMES)


def _mutable_row(cur: sm.Session) -> list[Any]:
    """The :data:`_MUTABLE` fields of ``cur`` as the driver takes them on SQLite."""
    row = [getattr(cur, f) for f in _MUTABLE]
    for i in _MUTABLE_TIMES:
        row[i] = sqlite_time(row[i])
    return row


def _select_by_keys_sqlite(conn: Connection, keys: list[str]) -> dict[str, tuple[int, int | None, sm.Session]]:
    out: dict[str, tuple[int, int | None, sm.Session]] = {}
    times = _SESSION_TIMES
    for i in range(0, len(keys), _IN_CHUNK):
        part = keys[i:i + _IN_CHUNK]
        sql = (f"SELECT id, login_id, {_SESSION_SQL_COLS} FROM {sessions_t.name} "
               f"WHERE session_key IN ({', '.join('?' * len(part))})")
        for r in conn.exec_driver_sql(sql, tuple(part)):
            v = list(r[2:])
            for k in times:
                v[k] = sqlite_parse_time(v[k])
            out[v[0]] = (r[0], r[1], sm.Session(*v))
    return out


def _select_by_keys(conn: Connection, keys: list[str]) -> dict[str, tuple[int, int | None, sm.Session]]:
    if conn.dialect.name == "sqlite":
        return _select_by_keys_sqlite(conn, keys)
    out: dict[str, tuple[int, int | None, sm.Session]] = {}
    base = sa.select(sessions_t.c.id, sessions_t.c.login_id, *_SESSION_COLS)
    for i in range(0, len(keys), _IN_CHUNK):
        part = keys[i:i + _IN_CHUNK]
        for r in conn.execute(base.where(sessions_t.c.session_key.in_(part))):
            out[r[2]] = (r[0], r[1], _row_session(r[2:]))
    return out


_update_stmt = None


def _update_session_stmt() -> sa.Update:
    global _update_stmt
    if _update_stmt is None:
        c = sessions_t.c
        values: dict[Any, Any] = {c[f]: sa.bindparam("b_" + f) for f in _MUTABLE + ("login_id",)}
        # A report with nothing new since the last aggregation moves ``agg_at`` up to it, so
        # the octets a later report brings span from the last idle report (the free-hours split).
        values[c.agg_at] = sa.case(
            (sa.and_(c.agg_input_octets >= sa.bindparam("b_input_octets"),
                     c.agg_output_octets >= sa.bindparam("b_output_octets")), sa.bindparam("b_last_update")),
            else_=c.agg_at)
        _update_stmt = sessions_t.update().where(c.id == sa.bindparam("b_id")).values(values)
    return _update_stmt


def _delta(before: int | None, after: int | None) -> Outcome:
    if before == after:
        return NOTHING
    return Outcome(opened=(after,) if after is not None else (),
                   closed=(before,) if before is not None else ())


#: Adds a limited login's new usage to it: (conn, org_id, login_id, seconds, octets, now) ->
#: exhausted now (``aaad.view.write.LoginWriter.add_usage``).
UsageSink = Callable[[Connection, int, int, int, int, datetime], bool]


def apply_batch(conn: Connection, items: list[AcctItem], usage: UsageSink | None = None) -> list[Outcome]:
    """Apply Accounting-Requests in one transaction; one :class:`Outcome` per item.

    Items are taken in order.  Accounting-On / Off start a new epoch of
    their NAS (``sessions.next_epoch``) and close every open session of that
    NAS that started before it (after this batch's other writes, so a late
    Interim of a lost session is closed too).  A Start / Interim-Update /
    Stop without a Class is keyed with its NAS's epoch at that point
    (``sessions.epoch_of``); its session is folded from the stored row and
    the batch's records of it, oldest event first (``sessions.fold``).

    A session of a login with total limits (``AcctItem.limited``, a voucher)
    adds the time and octets it used since its stored row to the login
    (``usage``) in the same transaction, which exhausts the login once a
    limit is used up.
    """
    epochs = _load_epochs(conn, items)
    before = dict(epochs)
    groups: dict[str, list[Any]] = {}   # key -> [records with their index, org_id, login_id, last index]
    resets: list[int] = []
    for i, item in enumerate(items):
        rec = item.rec
        if rec.status in NAS_RESET:
            resets.append(i)
            epochs[rec.nas_id] = sm.next_epoch(epochs.get(rec.nas_id, _NO_EPOCH), rec.event_time)
            continue
        if rec.class_attr is None:
            epoch = sm.epoch_of(epochs.get(rec.nas_id, _NO_EPOCH), rec.event_time)
            if epoch != rec.epoch:
                rec = replace(rec, epoch=epoch)
        elif rec.epoch:
            rec = replace(rec, epoch=0)
        key = sm.session_key(rec.nas_id, rec.session_id, rec.username, rec.class_attr, rec.epoch)
        g = groups.get(key)
        if g is None:
            groups[key] = [[(rec, i)], item.org_id, item.login_id, i, item.limited]
        else:
            g[0].append((rec, i))
            if g[2] is None:
                g[2] = item.login_id
            g[3] = i
            g[4] = g[4] or item.limited
    deltas: dict[int, Outcome] = {}
    notes: dict[int, tuple[str, ...]] = {}
    if groups:
        lite = conn.dialect.name == "sqlite"
        existing = _select_by_keys(conn, list(groups))
        inserts: list[Any] = []     # dicts for the Core statements, tuples for the driver on SQLite
        updates: list[Any] = []     # PostgreSQL
        by_sql: dict[str, list[Any]] = {}      # SQLite: the UPDATEs, by the fields they set
        used: list[tuple[int, int, int, int, datetime]] = []
        for key, (recs, org_id, login_id, idx, limited) in groups.items():
            ex = existing.get(key)
            old = ex[2] if ex is not None else None
            cur = old
            if len(recs) > 1:
                recs.sort(key=lambda ri: ri[0].event_time)
            for rec, i in recs:
                cur, seen = sm.fold(cur, rec, key)
                if seen:
                    notes[i] = notes.get(i, ()) + seen
            assert cur is not None
            if limited and usage is not None:
                lid = ex[1] if ex is not None and ex[1] is not None else login_id
                if lid is not None:
                    dt = cur.session_time - (old.session_time if old is not None else 0)
                    do = (cur.input_octets + cur.output_octets
                          - ((old.input_octets + old.output_octets) if old is not None else 0))
                    if dt > 0 or do > 0:
                        used.append((org_id, lid, max(dt, 0), max(do, 0), cur.last_update))
            if ex is None:
                if lite:
                    inserts.append((key, org_id, cur.nas_id, cur.session_id, cur.username, login_id,
                                    *_mutable_row(cur)))
                else:
                    row = _values(cur)
                    row.update(session_key=key, org_id=org_id, nas_id=cur.nas_id,
                               session_id=cur.session_id, username=cur.username, login_id=login_id)
                    inserts.append(row)
                deltas[idx] = _delta(None, login_id if cur.stop_time is None else None)
                continue
            row_id, old_login, _ = ex
            assert old is not None
            new_login = old_login if old_login is not None else login_id
            if cur != old or new_login != old_login:
                if lite:
                    now_v = _get_mutable(cur)
                    changed = tuple(compress(_MUTABLE_RANGE, map(operator.ne, now_v, _get_mutable(old))))
                    login = new_login != old_login
                    last = sqlite_time(cur.last_update)
                    vals = [last if i == _I_LAST else sqlite_time(now_v[i]) if i in _MUTABLE_TIMES else now_v[i]
                            for i in changed]
                    if login:
                        vals.append(new_login)
                    vals += (cur.input_octets, cur.output_octets, last, row_id)
                    by_sql.setdefault(_update_sql(changed, login), []).append(tuple(vals))
                else:
                    u = {"b_" + f: getattr(cur, f) for f in _MUTABLE}
                    u["b_login_id"] = new_login
                    u["b_id"] = row_id
                    updates.append(u)
            deltas[idx] = _delta(old_login if old.stop_time is None else None,
                                 new_login if cur.stop_time is None else None)
        if inserts:
            if lite:
                conn.exec_driver_sql(_INSERT_SQL, inserts)
            else:
                conn.execute(sessions_t.insert(), inserts)
        for sql, rows in by_sql.items():       # SQLite: one statement per set of changed fields
            conn.exec_driver_sql(sql, rows)
        if updates:
            conn.execute(_update_session_stmt(), updates)
        if usage is not None:
            for org_id, lid, dt, do, at in used:
                usage(conn, org_id, lid, dt, do, at)
    _save_epochs(conn, items, before, epochs)
    for i in resets:
        rec = items[i].rec
        closed = close_nas_sessions(conn, rec.nas_id, rec.event_time, sm.TERMINATE_NAS_REBOOT)
        deltas[i] = Outcome(closed=tuple(closed))
    results: list[Outcome] = [NOTHING] * len(items)
    for i in deltas.keys() | notes.keys():
        d = deltas.get(i, NOTHING)
        results[i] = Outcome(d.opened, d.closed, notes[i]) if i in notes else d
    return results


_NO_EPOCH = sm.NasEpoch()


def _load_epochs(conn: Connection, items: list[AcctItem]) -> dict[int, sm.NasEpoch]:
    """The epochs of the NASes whose records need one (no Class, or On/Off)."""
    ids = {it.rec.nas_id for it in items if it.rec.class_attr is None or it.rec.status in NAS_RESET}
    if not ids:
        return {}
    if conn.dialect.name == "sqlite":     # every batch of records without a Class asks: through the driver
        sql = (f"SELECT nas_id, epoch, epoch_at FROM {nas_state.name} "
               f"WHERE nas_id IN ({', '.join('?' * len(ids))})")
        return {r[0]: sm.NasEpoch(r[1], sqlite_parse_time(r[2])) for r in conn.exec_driver_sql(sql, tuple(ids))}
    ns = nas_state.c
    return {r.nas_id: sm.NasEpoch(r.epoch, r.epoch_at)
            for r in conn.execute(sa.select(ns.nas_id, ns.epoch, ns.epoch_at).where(ns.nas_id.in_(ids)))}


def _save_epochs(conn: Connection, items: list[AcctItem], before: dict[int, sm.NasEpoch],
                 after: dict[int, sm.NasEpoch]) -> None:
    """Write the epochs this batch's Accounting-On/Off changed."""
    ns = nas_state.c
    for nas_id, e in after.items():
        old = before.get(nas_id)
        if old == e:
            continue
        if old is None:
            org_id = next(it.org_id for it in items if it.rec.nas_id == nas_id)
            conn.execute(nas_state.insert().values(nas_id=nas_id, org_id=org_id, epoch=e.epoch,
                                                   epoch_at=e.since))
        else:
            conn.execute(nas_state.update().where(ns.nas_id == nas_id)
                         .values(epoch=e.epoch, epoch_at=e.since))


def nas_epoch(conn: Connection, nas_id: int) -> sm.NasEpoch:
    """A NAS's current epoch (epoch 0 before its first Accounting-On/Off)."""
    ns = nas_state.c
    r = conn.execute(sa.select(ns.epoch, ns.epoch_at).where(ns.nas_id == nas_id)).one_or_none()
    return _NO_EPOCH if r is None else sm.NasEpoch(r.epoch, r.epoch_at)


def _close_rows(conn: Connection, rows: list[tuple[int, int | None, sm.Session, sm.Session]]) -> list[int]:
    """Write stop_time / terminate_cause of closed sessions; return their login ids."""
    if not rows:
        return []
    conn.execute(sessions_t.update().where(sessions_t.c.id == sa.bindparam("b_id"))
                 .values(stop_time=sa.bindparam("b_stop"), terminate_cause=sa.bindparam("b_cause")),
                 [{"b_id": rid, "b_stop": new.stop_time, "b_cause": new.terminate_cause}
                  for rid, _lid, _old, new in rows])
    return [lid for rid, lid, _old, _new in rows if lid is not None]


def close_nas_sessions(conn: Connection, nas_id: int, at: datetime, cause: int) -> list[int]:
    """Close every open session of a NAS started before ``at``; return the login ids closed."""
    q = sa.select(sessions_t.c.id, sessions_t.c.login_id, *_SESSION_COLS).where(
        sessions_t.c.nas_id == nas_id, sessions_t.c.stop_time.is_(None))
    rows = [(r[0], r[1], _row_session(r[2:])) for r in conn.execute(q)]
    by_key = {s.key: (rid, lid, s) for rid, lid, s in rows}
    closed = sm.close_all([s for _r, _l, s in rows], at, cause)
    return _close_rows(conn, [(by_key[c.key][0], by_key[c.key][1], by_key[c.key][2], c) for c in closed])


def close_session(conn: Connection, org_id: int, row_id: int, at: datetime, cause: int) -> int | None:
    """Close one open session (the NAS answered a Disconnect with "session context not
    found": it is gone); its login id, or None if it was closed already or unknown."""
    q = sa.select(sessions_t.c.id, sessions_t.c.login_id, *_SESSION_COLS).where(
        sessions_t.c.org_id == org_id, sessions_t.c.id == row_id, sessions_t.c.stop_time.is_(None))
    rows = [(r[0], r[1], _row_session(r[2:])) for r in conn.execute(q)]
    closed = _close_rows(conn, [(rid, lid, s, sm.close_stale(s, at, cause)) for rid, lid, s in rows])
    return closed[0] if closed else None


@dataclass
class StaleChunk:
    last_id: int
    scanned: int
    closed_logins: list[int] = field(default_factory=list)
    closed: int = 0


def close_stale_chunk(conn: Connection, after_id: int, limit: int, now: datetime,
                      default_interim: int, grace: int) -> StaleChunk:
    """Close the stale sessions among the next ``limit`` open ones (by id) not updated for ``grace``."""
    cutoff = now - timedelta(seconds=grace)
    q = (sa.select(sessions_t.c.id, sessions_t.c.login_id, *_SESSION_COLS)
         .where(sessions_t.c.stop_time.is_(None), sessions_t.c.last_update < cutoff,
                sessions_t.c.id > after_id)
         .order_by(sessions_t.c.id).limit(limit))
    rows = [(r[0], r[1], _row_session(r[2:])) for r in conn.execute(q)]
    todo = [(rid, lid, s, sm.close_stale(s, now)) for rid, lid, s in rows
            if sm.stale(s, now, default_interim, grace)]
    logins = _close_rows(conn, todo)
    return StaleChunk(rows[-1][0] if rows else after_id, len(rows), logins, len(todo))


# -- usage aggregation -----------------------------------------------------------------

def org_timezones(conn: Connection) -> dict[int, tzinfo]:
    cache: dict[str, tzinfo] = {}
    return {r.id: zone(r.timezone, cache) for r in conn.execute(sa.select(orgs_t.c.id, orgs_t.c.timezone))}


@dataclass(frozen=True, slots=True)
class CycleUsage:
    login_id: int
    org_id: int
    cycle_start: datetime
    cycle_end: datetime
    octets: int


@dataclass
class AggChunk:
    """What one aggregation chunk committed."""
    last_id: int
    sessions: int
    skipped: int = 0     # rows with impossible counters, left out (``usage.aggregate``)
    slot_rows: list[tuple[int, int, datetime, int, int]] = field(default_factory=list)  # org, login, slot, rx, tx
    cycles: list[CycleUsage] = field(default_factory=list)
    exceeded: list[QuotaExceeded] = field(default_factory=list)
    throttled: list[tuple[int, int]] = field(default_factory=list)  # (login, new FUP level) set


def _upsert(conn: Connection, table: sa.Table, keys: list[str], add: list[str], rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET col = col + excluded.col, for many rows.

    The sum stops at ``COUNTER_MAX`` and is computed so it never overflows
    (``least(col, MAX - excluded) + excluded``), given added values of at
    most ``COUNTER_MAX``: a counter column can never make the write fail.
    """
    if not rows:
        return
    pg = conn.dialect.name == "postgresql"
    least = getattr(sa.func, "least" if pg else "min")  # SQLite's two-argument min() is scalar
    stmt: pg_dml.Insert | sqlite_dml.Insert = pg_dml.insert(table) if pg else sqlite_dml.insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={
        c: least(table.c[c], sm.COUNTER_MAX - stmt.excluded[c]) + stmt.excluded[c] for c in add})
    conn.execute(stmt, rows)


def aggregate_chunk(conn: Connection, after_id: int, limit: int, slot: datetime,
                    now: datetime, writer: LoginWriter | None = None) -> AggChunk:
    """Move the next ``limit`` sessions' new octets (by id after ``after_id``) into buckets.

    In ONE transaction: the sessions' ``agg_*`` columns, the slot / local
    hour / local day buckets of their logins, each login's cycle usage (the
    octets that count: free hours excluded, see :func:`_counted`), a
    ``usage.quota_exceeded`` event for a login whose usage crosses its data
    cap (once per cycle: ``exceeded_at``) and, given the ``writer``, the FUP
    decision of each login whose usage grew (:mod:`aaad.view.throttle`: a
    change of level is set through the write path and publishes
    ``login.throttled``; without a writer, as in the bench, usage only).  A
    session with impossible counters is skipped (``AggChunk.skipped``) and
    sums are bounded, so one bad row never fails the chunk for everyone.
    Run again after a crash, a chunk finds only what was not committed, so
    nothing is lost or counted twice.
    """
    c = sessions_t.c
    rows = conn.execute(
        sa.select(c.id, c.org_id, c.login_id, c.input_octets, c.output_octets,
                  c.agg_input_octets, c.agg_output_octets, c.start_time, c.last_update, c.agg_at)
        .where(sa.text(f"({UNAGGREGATED})"), c.id > after_id).order_by(c.id).limit(limit)).all()
    if not rows:
        return AggChunk(after_id, 0)
    slot = um.slot_start(slot)
    agg = um.aggregate(((r[2] or 0, r[3], r[4], r[5], r[6]) for r in rows), slot)
    conn.execute(sessions_t.update().where(c.id == sa.bindparam("b_id")).values(
        agg_input_octets=sa.bindparam("b_in"), agg_output_octets=sa.bindparam("b_out"),
        agg_at=sa.bindparam("b_at")),
        [{"b_id": r[0], "b_in": a[0], "b_out": a[1], "b_at": r.last_update}
         for r, a in zip(rows, agg.new_agg, strict=True)])
    out = AggChunk(rows[-1][0], len(rows), agg.skipped)
    org_of = {r[2]: r[1] for r in rows if r[2] is not None}
    buckets = {lid: v for (lid, _s), v in agg.buckets.items() if lid}
    if not buckets:
        return out
    tzs = org_timezones(conn)
    bucket_rows: list[dict[str, Any]] = []
    for lid, (o_in, o_out) in buckets.items():
        org = org_of[lid]
        tz = tzs.get(org, UTC)
        for level, start in (("slot", slot), ("hour", um.hour_start(slot, tz)), ("day", um.day_start(slot, tz))):
            bucket_rows.append({"login_id": lid, "level": level, "start": start, "org_id": org,
                                "octets_in": o_in, "octets_out": o_out})
        out.slot_rows.append((org, lid, slot, o_out, o_in))
    _upsert(conn, usage_t, ["login_id", "level", "start"], ["octets_in", "octets_out"], bucket_rows)
    facts = throttle.fup_facts(conn, {lid: org_of[lid] for lid in buckets})
    counted = _counted(rows, agg, buckets, facts, tzs)
    _add_cycle_usage(conn, counted, facts, org_of, tzs, slot, now, out, writer)
    return out


def _counted(rows: Sequence[Any], agg: um.Aggregation, buckets: dict[int, tuple[int, int]],
             facts: dict[int, throttle.FupFacts], tzs: dict[int, tzinfo]) -> dict[int, int]:
    """Per login, the octets of this chunk that count towards its cycle: all of them, but
    for a profile with free hours the part of each session's delta outside the window
    (:func:`aaad.fup.counted_octets` over :func:`accounting.usage.delta_span`)."""
    counted = {lid: min(o_in + o_out, sm.COUNTER_MAX) for lid, (o_in, o_out) in buckets.items()}
    free = {lid for lid, f in facts.items() if f.free_hours is not None}
    if not free:
        return counted
    part: dict[int, int] = {}
    for r, (new_in, new_out) in zip(rows, agg.new_agg, strict=True):
        lid = r.login_id
        if lid not in free or lid not in counted or not um.valid_row(r[3], r[4], r[5], r[6]):
            continue
        start, end = um.delta_span(r.start_time, r.agg_at, r.last_update)
        d = (new_in - r[5]) + (new_out - r[6])
        part[lid] = part.get(lid, 0) + fup.counted_octets(d, start, end, facts[lid].free_hours,
                                                          tzs.get(r.org_id, UTC))
    counted.update({lid: min(v, sm.COUNTER_MAX) for lid, v in part.items()})
    return counted


def _add_cycle_usage(conn: Connection, counted: dict[int, int], facts: dict[int, throttle.FupFacts],
                     org_of: dict[int, int], tzs: dict[int, tzinfo], slot: datetime, now: datetime,
                     out: AggChunk, writer: LoginWriter | None) -> None:
    ids = list(counted)
    bounds: dict[int, tuple[datetime, datetime]] = {}
    for lid in ids:
        if lid in facts:  # a login deleted since: its buckets stay, no cycle
            bounds[lid] = cycle_of(facts[lid].cycle_anchor, tzs.get(org_of[lid], UTC), slot)
    if not bounds:
        return
    before: dict[tuple[int, datetime], tuple[int, datetime | None, datetime | None]] = {}
    uc = usage_cycles.c
    for i in range(0, len(ids), _IN_CHUNK):
        part = [lid for lid in ids[i:i + _IN_CHUNK] if lid in bounds]
        if not part:
            continue
        starts = {bounds[lid][0] for lid in part}
        for row in conn.execute(sa.select(uc.login_id, uc.cycle_start, uc.octets, uc.exceeded_at, uc.warned_at)
                                .where(uc.login_id.in_(part), uc.cycle_start.in_(starts))):
            before[(row.login_id, row.cycle_start)] = (row.octets, row.exceeded_at, row.warned_at)
    _upsert(conn, usage_cycles, ["login_id", "cycle_start"], ["octets"],
            [{"login_id": lid, "cycle_start": b[0], "org_id": org_of[lid], "octets": counted[lid]}
             for lid, b in bounds.items()])
    for lid, (start, end) in bounds.items():
        prev, exceeded_at, warned_at = before.get((lid, start), (0, None, None))
        used = min(prev + counted[lid], sm.COUNTER_MAX)
        out.cycles.append(CycleUsage(lid, org_of[lid], start, end, used))
        cap = facts[lid].data_cap
        if warned_at is None and exceeded_at is None and um.crossed_warning(prev, used, cap):
            assert cap is not None
            publish(conn, org_of[lid], QuotaWarning(lid, used, cap, start.isoformat(),
                                                    um.WARN_PERCENT), now)
            conn.execute(usage_cycles.update().where(uc.login_id == lid, uc.cycle_start == start)
                         .values(warned_at=now))
        if exceeded_at is None and um.crossed(prev, used, cap):
            ev = QuotaExceeded(lid, used, cap, start.isoformat())  # type: ignore[arg-type]
            publish(conn, org_of[lid], ev, now)
            conn.execute(usage_cycles.update().where(uc.login_id == lid, uc.cycle_start == start)
                         .values(exceeded_at=now))
            out.exceeded.append(ev)
        if writer is not None:
            level = throttle.apply_level(conn, writer, facts[lid], start, used,
                                         tzs.get(org_of[lid], UTC), now)
            if level is not None:
                out.throttled.append((lid, level))


def expired_session_ids(conn: Connection, before: datetime, after_id: int, limit: int) -> list[int]:
    """Ids (ascending, after ``after_id``) of up to ``limit`` sessions stopped before
    ``before`` whose octets are all in the buckets: what retention may delete.

    Run on the read pool: the scan may be long, the delete that follows is not.
    """
    c = sessions_t.c
    q = (sa.select(c.id).where(c.id > after_id, c.stop_time < before,
                               c.input_octets <= c.agg_input_octets,
                               c.output_octets <= c.agg_output_octets)
         .order_by(c.id).limit(limit))
    return [r[0] for r in conn.execute(q)]


def delete_sessions(conn: Connection, ids: list[int], before: datetime) -> int:
    """Delete the sessions ``ids`` that are still expired (a late packet may have changed one)."""
    if not ids:
        return 0
    c = sessions_t.c
    n = 0
    for i in range(0, len(ids), _IN_CHUNK):
        n += conn.execute(sessions_t.delete().where(
            c.id.in_(ids[i:i + _IN_CHUNK]), c.stop_time < before,
            c.input_octets <= c.agg_input_octets, c.output_octets <= c.agg_output_octets)).rowcount
    return n


def prune_usage(conn: Connection, level: str, before: datetime) -> int:
    """Delete the buckets of ``level`` starting before ``before``."""
    return conn.execute(usage_t.delete().where(usage_t.c.level == level, usage_t.c.start < before)).rowcount


# -- reads (tracker, CLI, API) -----------------------------------------------------------

def open_counts(conn: Connection) -> dict[int, int]:
    """Open sessions per login, from the database."""
    c = sessions_t.c
    q = (sa.select(c.login_id, sa.func.count()).where(c.stop_time.is_(None), c.login_id.is_not(None))
         .group_by(c.login_id))
    return {r[0]: r[1] for r in conn.execute(q)}


def list_sessions(conn: Connection, *, org_id: int | None = None, username: str | None = None,
                  nas_name: str | None = None, include_closed: bool = False,
                  limit: int | None = None) -> list[StoredSession]:
    """Sessions, newest start first: open ones only unless ``include_closed``."""
    c = sessions_t.c
    q = sa.select(c.id, c.org_id, c.login_id, c.agg_input_octets, c.agg_output_octets, *_SESSION_COLS)
    if not include_closed:
        q = q.where(c.stop_time.is_(None))
    if org_id is not None:
        q = q.where(c.org_id == org_id)
    if username is not None:
        q = q.where(c.username == username)
    if nas_name is not None:
        q = q.where(c.nas_id.in_(sa.select(nas_t.c.id).where(nas_t.c.name == nas_name)))
    q = q.order_by(c.start_time.desc(), c.id.desc())
    if limit:
        q = q.limit(limit)
    return [StoredSession(r[0], r[1], r[2], _row_session(r[5:]), r[3], r[4]) for r in conn.execute(q)]


#: What sessions may be sorted by (NOT NULL columns), for :func:`page_sessions`.
SESSION_SORTS: dict[str, sa.ColumnElement[Any]] = {
    "id": sessions_t.c.id, "start_time": sessions_t.c.start_time, "last_update": sessions_t.c.last_update}

_STORED_COLS = (sessions_t.c.id, sessions_t.c.org_id, sessions_t.c.login_id, sessions_t.c.agg_input_octets,
                sessions_t.c.agg_output_octets, *_SESSION_COLS)
_N_SESSION = len(_SESSION_COLS)


def _stored(r: Sequence[Any]) -> StoredSession:
    return StoredSession(r[0], r[1], r[2], _row_session(r[5:5 + _N_SESSION]), r[3], r[4])


def get_session(conn: Connection, org_id: int, row_id: int) -> StoredSession | None:
    """One session row of the org by its id, or None."""
    c = sessions_t.c
    r = conn.execute(sa.select(*_STORED_COLS).where(c.org_id == org_id, c.id == row_id)).first()
    return _stored(r) if r is not None else None


def page_sessions(conn: Connection, org_id: int, *, is_open: bool | None = None, login_id: int | None = None,
                  username: str | None = None, nas_id: int | None = None, since: datetime | None = None,
                  until: datetime | None = None, sort: str = "-start_time", cursor: str | None = None,
                  limit: int = 50) -> paging.Page[StoredSession]:
    """One page of the org's sessions (see :mod:`aaad.paging`): open or closed ones only when
    ``is_open`` says, of one login (by id or user name) or NAS; ``since`` / ``until`` keep the
    sessions that were running at some moment of [since, until): stopped at or after ``since``
    (or still open), started before ``until``.  ``sort`` is a key of :data:`SESSION_SORTS`."""
    c = sessions_t.c
    # one login's sessions: by the login's index (org_id + 0 keeps SQLite off the org's, which walks every
    # session of the org)
    q = sa.select(*_STORED_COLS).where((c.org_id + 0 if login_id is not None else c.org_id) == org_id)
    if is_open is not None:
        q = q.where(c.stop_time.is_(None) if is_open else c.stop_time.is_not(None))
    if login_id is not None:
        q = q.where(c.login_id == login_id)
    if username is not None:
        q = q.where(c.username == username)
    if nas_id is not None:
        q = q.where(c.nas_id == nas_id)
    if since is not None:
        q = q.where(sa.or_(c.stop_time.is_(None), c.stop_time >= since))
    if until is not None:
        q = q.where(c.start_time < until)
    return paging.page(conn, q, sort=sort, columns=SESSION_SORTS, id_col=c.id, cursor=cursor, limit=limit,
                       row=_stored)


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """A login's octets: (in, out) today (org-local day) and ever, in + out this cycle."""
    login_id: int
    today: tuple[int, int]
    cycle: int
    cycle_start: datetime
    cycle_end: datetime
    total: tuple[int, int]
    unaggregated: tuple[int, int]  # counted by open sessions, not yet in buckets


def login_usage(conn: Connection, org_id: int, login_id: int, now: datetime) -> UsageSummary | None:
    """Today and total from the daily buckets, the cycle from the cycle row; None if the
    login is not in ``org_id``."""
    return logins_usage(conn, org_id, [login_id], now).get(login_id)


# logins_usage's statements, built once (the dashboard runs them on every load): for any number of logins
# (expanding IN lists) and for one login, the dashboard's usual case (equalities: SQLAlchemy re-renders an
# expanding IN's SQL text on every execution, about a third of the statements' cost; and the sums, the
# pending octets and the cycle's row in one statement, one round trip instead of three).
_U = usage_t.c
_S = sessions_t.c
_ORG: sa.BindParameter[Any] = sa.bindparam("org_id")


def _login_is(one: bool) -> Callable[[Any], Any]:
    """A login column's condition: ``= :id`` for one login, ``IN :ids`` (expanding) for several."""
    return (lambda col: col == sa.bindparam("id")) if one else (
        lambda col: in_list(col, "ids"))


def _usage_logins(one: bool) -> sa.Select[Any]:
    """Each login's id, cycle anchor and org timezone."""
    return (sa.select(logins_t.c.id, logins_t.c.cycle_anchor, orgs_t.c.timezone)
            .join(orgs_t, orgs_t.c.id == logins_t.c.org_id)
            .where(logins_t.c.org_id == _ORG, _login_is(one)(logins_t.c.id)))


def _usage_sums(one: bool) -> sa.Select[Any]:
    """The daily buckets' octets today (``:today``) and ever, without a GROUP BY."""
    today = _U.start >= sa.bindparam("today", type_=usage_t.c.start.type)
    return sa.select(sa.func.coalesce(sa.func.sum(sa.case((today, _U.octets_in), else_=0)), 0).label("t_in"),
                     sa.func.coalesce(sa.func.sum(sa.case((today, _U.octets_out), else_=0)), 0).label("t_out"),
                     sa.func.coalesce(sa.func.sum(_U.octets_in), 0).label("a_in"),
                     sa.func.coalesce(sa.func.sum(_U.octets_out), 0).label("a_out")).where(
        _U.org_id == _ORG, _login_is(one)(_U.login_id), _U.level == "day")


def _usage_pending(one: bool) -> sa.Select[Any]:
    """The open sessions' octets not yet in buckets, without a GROUP BY."""
    return sa.select(sa.func.coalesce(sa.func.sum(_S.input_octets - _S.agg_input_octets), 0).label("p_in"),
                     sa.func.coalesce(sa.func.sum(_S.output_octets - _S.agg_output_octets), 0).label("p_out")).where(
        # org_id + 0: SQLite would otherwise walk the org's index (every session of the org) rather than the
        # logins' (ix_acct_sessions_login_start)
        _S.org_id + 0 == _ORG, _login_is(one)(_S.login_id), sa.text(f"({UNAGGREGATED})"))


@dataclass(frozen=True)
class _UsageStatements:
    """:func:`logins_usage`'s four statements for several logins (``:ids``, ``:today``, ``:starts``)."""
    logins: sa.Select[Any]
    sums: sa.Select[Any]
    pending: sa.Select[Any]
    cycles: sa.Select[Any]


_USAGE_MANY = _UsageStatements(
    _usage_logins(False),
    _usage_sums(False).add_columns(_U.login_id).group_by(_U.login_id),
    _usage_pending(False).add_columns(_S.login_id).group_by(_S.login_id),
    sa.select(usage_cycles.c.login_id, usage_cycles.c.cycle_start, usage_cycles.c.octets).where(
        usage_cycles.c.org_id == _ORG, _login_is(False)(usage_cycles.c.login_id),
        in_list(usage_cycles.c.cycle_start, "starts")))


def _one_login_row() -> sa.Select[Any]:
    """For one login (``:id``, ``:today``, ``:start``): the sums, the pending octets and the cycle's octets in
    one row (aggregates without GROUP BY give one row each, whatever is stored)."""
    sums, pending = _usage_sums(True).subquery("sums"), _usage_pending(True).subquery("pending")
    cycle = sa.select(usage_cycles.c.octets).where(
        usage_cycles.c.org_id == _ORG, usage_cycles.c.login_id == sa.bindparam("id"),
        usage_cycles.c.cycle_start == sa.bindparam("start", type_=usage_cycles.c.cycle_start.type))
    return (sa.select(sums, pending, cycle.scalar_subquery().label("cycle"))
            .select_from(sums.join(pending, sa.true())))


_ONE_LOGIN = _usage_logins(True)
_ONE_LOGIN_ROW = _one_login_row()


def logins_usage(conn: Connection, org_id: int, login_ids: Sequence[int],
                 now: datetime, *, known: tuple[dict[int, datetime | None], str] | None = None
                 ) -> dict[int, UsageSummary]:
    """:func:`login_usage` of up to 500 logins of ``org_id`` in four queries whatever their
    number, two for one login (the portal's dashboard); logins not in the org are absent.
    ``known``: each login's cycle anchor and the org's timezone, when the caller has read them
    (logins of the org, read in this transaction): one query for one login instead of two."""
    ids = sorted(set(login_ids))[:_IN_CHUNK]
    if not ids:
        return {}
    if len(ids) == 1:
        if known is not None and ids[0] in known[0]:
            return _usage_of_one(conn, org_id, ids[0], known[0][ids[0]], zone(known[1]), now)
        return _one_login_usage(conn, org_id, ids[0], now)
    q = _USAGE_MANY
    lgs = conn.execute(q.logins, {"org_id": org_id, "ids": ids}).all()
    if not lgs:
        return {}
    ids = [r.id for r in lgs]
    args: dict[str, Any] = {"org_id": org_id, "ids": ids}
    tz = zone(lgs[0].timezone)
    sums = {r.login_id: r for r in conn.execute(q.sums, {**args, "today": um.day_start(now, tz)})}
    pend = {r.login_id: r for r in conn.execute(q.pending, args)}
    cycles = {r.id: cycle_of(r.cycle_anchor, tz, now) for r in lgs}
    starts = sorted({start for start, _ in cycles.values()})
    cyc = {(r.login_id, r.cycle_start): int(r.octets or 0)
           for r in conn.execute(q.cycles, {**args, "starts": starts})}
    out: dict[int, UsageSummary] = {}
    for i in ids:
        sm_, pd = sums.get(i), pend.get(i)
        start, end = cycles[i]
        out[i] = UsageSummary(i, (int(sm_.t_in), int(sm_.t_out)) if sm_ else (0, 0), cyc.get((i, start), 0), start,
                              end, (int(sm_.a_in), int(sm_.a_out)) if sm_ else (0, 0),
                              (int(pd.p_in), int(pd.p_out)) if pd else (0, 0))
    return out


def _one_login_usage(conn: Connection, org_id: int, login_id: int, now: datetime) -> dict[int, UsageSummary]:
    lg = conn.execute(_ONE_LOGIN, {"org_id": org_id, "id": login_id}).first()
    if lg is None:
        return {}
    return _usage_of_one(conn, org_id, login_id, lg.cycle_anchor, zone(lg.timezone), now)


def _usage_of_one(conn: Connection, org_id: int, login_id: int, anchor: datetime | None, tz: Any,
                   now: datetime) -> dict[int, UsageSummary]:
    start, end = cycle_of(anchor, tz, now)
    r = conn.execute(_ONE_LOGIN_ROW, {"org_id": org_id, "id": login_id, "today": um.day_start(now, tz),
                                       "start": start}).one()
    return {login_id: UsageSummary(login_id, (int(r.t_in), int(r.t_out)), int(r.cycle or 0), start, end,
                                   (int(r.a_in), int(r.a_out)), (int(r.p_in), int(r.p_out)))}


def login_ids(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """(org_id, username) of logins by id."""
    ids = list(ids)
    out: dict[int, tuple[int, str]] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        for r in conn.execute(sa.select(logins_t.c.id, logins_t.c.org_id, logins_t.c.username)
                              .where(logins_t.c.id.in_(ids[i:i + _IN_CHUNK]))):
            out[r.id] = (r.org_id, r.username)
    return out


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """The octets of one login in one bucket: from the user (in) and to the user (out)."""
    start: datetime
    octets_in: int
    octets_out: int


def usage_buckets(conn: Connection, org_id: int, login_id: int, level: um.Level, start: datetime,
                  end: datetime) -> list[UsageBucket]:
    """A login's buckets of ``level`` (slot: 5 minutes, hour and day: the org's local ones)
    starting in [start, end), oldest first; buckets without traffic are absent."""
    u = usage_t.c
    q = (sa.select(u.start, u.octets_in, u.octets_out)
         .where(u.org_id == org_id, u.login_id == login_id, u.level == level, u.start >= start, u.start < end)
         .order_by(u.start))
    return [UsageBucket(r.start, int(r.octets_in), int(r.octets_out)) for r in conn.execute(q)]
