"""Session identity, poisoned values, bounded aggregation and retention, on SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from aaad import authlog
from aaad.radius import codec
from aaad.schema import auth_log
from accounting import sessions as sm
from accounting import store
from accounting.schema import sessions as sessions_t
from accounting.server import parse_record
from accounting.store import Outcome
from tests.accounting.test_store import SLOT, T0, World, agg_all, apply, buckets, interim, rec, rows, start, stop  # noqa: F401
from tests.helpers import SyncDB

CLASS_A = "aaad:00000000000000aa:0000000000000001"
CLASS_B = "aaad:00000000000000aa:0000000000000002"


def on(secs: int, status: int = sm.STATUS_ACCOUNTING_ON) -> sm.AcctRecord:
    """An Accounting-On (or Off) of NAS 1, ``secs`` after T0."""
    return rec(status, "", "", T0 + timedelta(seconds=secs))


def by_sid(w: World, sid: str) -> list[store.StoredSession]:
    return sorted((r for r in rows(w) if r.session.session_id == sid), key=lambda r: r.id)


# -- identity ---------------------------------------------------------------------------

def test_reused_session_id_after_reboot_is_a_new_counted_session(w: World) -> None:
    """Start/Stop X, Accounting-On, Start X again: a second open row, counted and aggregated."""
    apply(w, start("X"), stop(60, 1000, 2000, sid="X"))
    assert apply(w, on(100)) == [Outcome()]
    assert w.tx(store.nas_epoch, w.nas1).epoch == 1
    assert apply(w, start("X", at=T0 + timedelta(seconds=200))) == [Outcome(opened=(w.alice,))]
    apply(w, rec(sm.STATUS_INTERIM, "X", "alice", T0 + timedelta(seconds=500), session_time=300,
                 input_octets=10, output_octets=20))
    old, new = by_sid(w, "X")
    assert old.session.stop_time is not None and (old.session.input_octets, old.session.output_octets) == (1000, 2000)
    assert new.session.stop_time is None and (new.session.input_octets, new.session.output_octets) == (10, 20)
    assert w.tx(store.open_counts) == {w.alice: 1}
    assert agg_all(w, SLOT) == 2
    assert buckets(w) == {(w.alice, SLOT): (1010, 2020)}


def test_class_tells_sessions_apart_without_a_reboot(w: World) -> None:
    """The same Acct-Session-Id with another Class is another session; the Class is stored."""
    apply(w, start("Y", class_attr=CLASS_A), stop(60, 5, 5, sid="Y", class_attr=CLASS_A))
    assert apply(w, start("Y", class_attr=CLASS_B)) == [Outcome(opened=(w.alice,))]
    a, b = by_sid(w, "Y")
    assert (a.session.class_attr, b.session.class_attr) == (CLASS_A, CLASS_B)
    assert a.session.stop_time is not None and b.session.stop_time is None
    apply(w, on(100))  # the epoch does not move a session with a Class
    apply(w, interim(300, 7, 7, sid="Y", class_attr=CLASS_B))
    assert [r.session.input_octets for r in by_sid(w, "Y")] == [5, 7]


def test_retransmitted_on_and_off_then_on_start_one_epoch(w: World) -> None:
    """Accounting-On repeated within the guard, or the On right after its Off, starts no new epoch."""
    apply(w, on(100, sm.STATUS_ACCOUNTING_OFF))
    apply(w, on(110), on(115))
    assert w.tx(store.nas_epoch, w.nas1) == sm.NasEpoch(1, T0 + timedelta(seconds=100))
    apply(w, on(100 + sm.EPOCH_GUARD + 1))
    assert w.tx(store.nas_epoch, w.nas1).epoch == 2
    assert w.tx(store.nas_epoch, w.nas2) == sm.NasEpoch()


def test_late_stop_from_before_the_reboot_closes_the_old_row(w: World) -> None:
    """A Stop whose event time is older than the Accounting-On folds into the old session."""
    apply(w, start("Z"), interim(30, 100, 100, sid="Z"))
    apply(w, on(100))
    apply(w, stop(60, 300, 300, sid="Z"))  # sent before the reboot, arriving after the On
    (z,) = by_sid(w, "Z")
    assert z.session.input_octets == 300 and z.session.terminate_cause == 1


def test_on_and_start_in_one_batch_are_taken_in_order(w: World) -> None:
    """In one writer batch, a Start after an Accounting-On belongs to the new epoch."""
    apply(w, start("Q"), stop(60, 1, 1, sid="Q"))
    out = apply(w, on(100), start("Q", at=T0 + timedelta(seconds=200)))
    assert out[1] == Outcome(opened=(w.alice,))
    assert [r.session.stop_time is None for r in by_sid(w, "Q")] == [False, True]


def test_wrap_across_batches_is_read_and_reported(w: World) -> None:
    """A 32-bit counter wrapping between two Interims is stored as 64-bit and reported."""
    apply(w, start("W"), interim(300, 4_000_000_000, 0, sid="W", in_32bit=True))
    out = apply(w, interim(600, 1000, 0, sid="W", in_32bit=True))
    assert out == [Outcome(anomalies=("counter_wrapped",))]
    (s,) = by_sid(w, "W")
    assert s.session.input_octets == (1 << 32) + 1000


# -- values the database cannot store ------------------------------------------------------

def _packet(status: int, *attrs: bytes) -> codec.Packet:
    body = codec.encode_int(codec.ACCT_STATUS_TYPE, status) + b"".join(attrs)
    return codec.decode(codec.encode_request(codec.ACCOUNTING_REQUEST, 1, body, b"s"))


def test_poisoned_values_are_stored_clamped(w: World) -> None:
    """Each value a NAS may send but a column cannot hold is recorded, cleaned or clamped."""
    p = _packet(sm.STATUS_STOP,
                codec.encode_attr(codec.ACCT_SESSION_ID, b"p\x00q"),
                codec.encode_attr(codec.USER_NAME, b"alice\x00"),
                codec.encode_attr(codec.NAS_PORT_ID, b"ether\x001"),
                codec.encode_attr(codec.CALLING_STATION_ID, b"\x00" * 3),
                codec.encode_attr(codec.CLASS, b"\x00\x01binary"),
                codec.encode_int(codec.NAS_PORT, 0xFFFFFFFF),
                codec.encode_int(codec.ACCT_DELAY_TIME, 0xFFFFFFF0),
                codec.encode_int(codec.ACCT_INPUT_OCTETS, 0xFFFFFFFF),
                codec.encode_int(codec.ACCT_INPUT_GIGAWORDS, 0xFFFFFFFF),
                codec.encode_int(codec.ACCT_OUTPUT_OCTETS, 1),
                codec.encode_int(codec.ACCT_OUTPUT_GIGAWORDS, 0x80000000),
                codec.encode_int(codec.ACCT_INPUT_PACKETS, 0xFFFFFFFF),
                codec.encode_int(codec.ACCT_SESSION_TIME, 0xFFFFFFFF),
                codec.encode_int(codec.ACCT_TERMINATE_CAUSE, 0xFFFFFFFF),
                codec.encode_int(codec.ACCT_INTERIM_INTERVAL, 0xFFFFFFFF))
    notes: list[str] = []
    r = parse_record(p, w.nas1, T0.timestamp(), notes=notes)
    assert set(notes) == {"nul_replaced", "delay_clamped", "counter_clamped", "session_time_clamped",
                          "integer_clamped"}
    assert apply(w, r) == [Outcome()]
    (s,) = rows(w)
    x = s.session
    assert (x.session_id, x.username, x.nas_port_id) == ("p\ufffdq", "alice\ufffd", "ether\ufffd1")
    assert x.class_attr == "0x" + b"\x00\x01binary".hex() and x.nas_port == 0xFFFFFFFF
    assert x.input_octets == x.output_octets == sm.COUNTER_MAX
    assert x.terminate_cause == x.interim_interval == (1 << 31) - 1
    assert x.session_time == 366 * 86400 and x.start_time.year >= 2024


def test_nul_in_a_user_name_does_not_lose_the_auth_log_batch(w: World) -> None:
    """A NUL User-Name and an overlong Calling-Station-Id are stored with the rest of the batch."""
    ts = T0.timestamp()
    entries = [(ts, w.org, w.nas1, "bad\x00user", "pap", "reject", "unknown user", "x" * 300, 5),
               (ts, w.org, w.nas1, "alice", "pap", "accept", None, "aa:bb", 7)]
    assert w.tx(authlog._insert, entries) == (2, 1)
    with w.engine.connect() as conn:
        got = conn.execute(sa.select(auth_log.c.username, auth_log.c.calling_station)
                           .order_by(auth_log.c.id)).all()
    assert got == [("bad\ufffduser", "x" * 64), ("alice", "aa:bb")]


# -- aggregation isolated and bounded --------------------------------------------------------

def _raw_session(w: World, sid: str, login: int | None, i: int, o: int) -> None:
    """A session row as an older version could have written it (no clamping)."""
    w.tx(lambda c: c.execute(sessions_t.insert().values(
        session_key=sm.session_key(w.nas1, sid, "x"), org_id=w.org, nas_id=w.nas1, session_id=sid,
        login_id=login, username="x", start_time=T0, last_update=T0, input_octets=i, output_octets=o)))


def test_huge_counters_do_not_stop_everyone_elses_aggregation(w: World) -> None:
    """A session with impossible counters is skipped and counted; other logins are aggregated."""
    _raw_session(w, "huge", w.alice, (1 << 63) - 1, (1 << 63) - 1)
    apply(w, start("b", "bob"), interim(300, 7, 3, sid="b", user="bob"))
    chunk = w.tx(store.aggregate_chunk, 0, 100, SLOT, SLOT)
    assert chunk.sessions == 2 and chunk.skipped == 1
    assert buckets(w) == {(w.bob, SLOT): (7, 3)}
    assert agg_all(w, SLOT) == 0  # the bad row is not read again


def test_bucket_sums_stop_at_the_maximum(w: World) -> None:
    """Sessions at the counter maximum fill a bucket to the maximum, and further adds keep it there."""
    for i in range(3):
        apply(w, rec(sm.STATUS_INTERIM, f"m{i}", "alice", T0, input_octets=sm.COUNTER_MAX,
                     output_octets=1))
        assert agg_all(w, SLOT) == 1
    assert buckets(w) == {(w.alice, SLOT): (sm.COUNTER_MAX, 3)}
    assert buckets(w, "day")[(w.alice, SLOT.replace(hour=0))] == (sm.COUNTER_MAX, 3)


# -- retention ------------------------------------------------------------------------

def test_closed_aggregated_old_sessions_are_pruned_in_chunks(w: World) -> None:
    """Only sessions closed before the cut-off and fully aggregated go, a chunk at a time."""
    apply(w, *[start(f"old{i}") for i in range(5)], start("open"), start("unagg"), start("recent"))
    apply(w, *[stop(60, 10, 10, sid=f"old{i}") for i in range(5)])
    agg_all(w, SLOT)
    apply(w, stop(60, 20, 20, sid="unagg"), replace(stop(60, 1, 1, sid="recent"),
                                                    event_time=T0 + timedelta(days=30)))
    cutoff = T0 + timedelta(days=1)
    ids = w.tx(store.expired_session_ids, cutoff, 0, 2)
    assert len(ids) == 2
    assert w.tx(store.delete_sessions, ids, cutoff) == 2
    rest = w.tx(store.expired_session_ids, cutoff, ids[-1], 100)
    assert w.tx(store.delete_sessions, rest, cutoff) == 3
    assert sorted(r.session.session_id for r in rows(w)) == ["open", "recent", "unagg"]


def test_auth_log_pruned_by_age_in_chunks(w: World) -> None:
    """Auth-log rows older than the cut-off are deleted a chunk at a time; newer ones stay."""
    day = 86400
    entries = [(T0.timestamp() - d * day, w.org, w.nas1, f"u{d}", "pap", "accept", None, None, 1)
               for d in (40, 35, 31, 1, 0)]
    w.tx(authlog._insert, entries)
    cutoff = T0 - timedelta(days=30)
    assert w.tx(authlog.prune_chunk, cutoff, 2) == 2
    assert authlog.prune(SyncDB(w.engine), cutoff, limit=2).result == 1
    assert w.tx(authlog.prune_chunk, cutoff, 2) == 0
    with w.engine.connect() as conn:
        assert sorted(conn.execute(sa.select(auth_log.c.username)).scalars()) == ["u0", "u1"]
