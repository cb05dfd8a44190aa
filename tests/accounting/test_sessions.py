"""Tests for accounting.sessions: the pure session state machine."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounting.sessions import (
    COUNTER_MAX,
    EPOCH_GUARD,
    STATUS_ACCOUNTING_ON,
    STATUS_INTERIM,
    STATUS_START,
    STATUS_STOP,
    TERMINATE_NAS_REBOOT,
    TERMINATE_STALE,
    WRAP,
    AcctRecord,
    NasEpoch,
    Session,
    apply,
    close_all,
    close_stale,
    epoch_of,
    is_open,
    merge,
    next_epoch,
    read_counters,
    session_key,
    stale,
    unwrap,
)
from accounting.sessions import (
    fold as fold_one,
)

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
NAS = 7
SID = "81a00003"
USER = "alice"


def rec(status: int, at: datetime, **fields: object) -> AcctRecord:
    """Build a record of the test session."""
    return AcctRecord(
        status=status,
        nas_id=NAS,
        session_id=SID,
        username=USER,
        event_time=at,
        **fields,  # type: ignore[arg-type]
    )


def start(at: datetime = T0, **fields: object) -> AcctRecord:
    """Build a Start of the test session."""
    return rec(STATUS_START, at, **fields)


def interim(seconds: int, octets: tuple[int, int], **fields: object) -> AcctRecord:
    """Build an Interim-Update sent ``seconds`` into the session."""
    return rec(
        STATUS_INTERIM,
        T0 + timedelta(seconds=seconds),
        session_time=seconds,
        input_octets=octets[0],
        output_octets=octets[1],
        **fields,
    )


def stop(seconds: int, octets: tuple[int, int], **fields: object) -> AcctRecord:
    """Build a Stop sent ``seconds`` into the session."""
    fields.setdefault("terminate_cause", 1)
    return rec(
        STATUS_STOP,
        T0 + timedelta(seconds=seconds),
        session_time=seconds,
        input_octets=octets[0],
        output_octets=octets[1],
        **fields,
    )


def fold(records: list[AcctRecord], current: Session | None = None) -> Session:
    """Apply records in order, starting from ``current``."""
    result = current
    for r in records:
        result = apply(result, r)
    assert result is not None
    return result


# --- session_key ---------------------------------------------------------


def test_session_key_is_stable_32_hex() -> None:
    """The key is 32 lowercase hex digits and the same on every call."""
    key = session_key(NAS, SID, USER)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert key == session_key(NAS, SID, USER)


def test_session_key_depends_on_each_field() -> None:
    """Changing the NAS, the session id or the username changes the key."""
    key = session_key(NAS, SID, USER)
    assert session_key(NAS + 1, SID, USER) != key
    assert session_key(NAS, SID + "0", USER) != key
    assert session_key(NAS, SID, "bob") != key


def test_session_key_is_length_prefixed() -> None:
    """Moving characters between fields cannot produce the same key."""
    assert session_key(1, "ab", "c") != session_key(1, "a", "bc")
    assert session_key(1, "2", "x") != session_key(12, "", "x")


# --- apply: creation -----------------------------------------------------


def test_start_creates_open_session() -> None:
    """A Start creates an open session starting at its event time, counters zero."""
    s = apply(None, start(framed_ip="10.0.0.2", nas_port=5, interim_interval=300))
    assert s.key == session_key(NAS, SID, USER)
    assert (s.nas_id, s.session_id, s.username) == (NAS, SID, USER)
    assert s.start_time == T0 and s.last_update == T0
    assert is_open(s) and s.terminate_cause is None
    assert (s.input_octets, s.output_octets, s.session_time) == (0, 0, 0)
    assert (s.framed_ip, s.nas_port, s.interim_interval) == ("10.0.0.2", 5, 300)


def test_stop_without_start_creates_closed_session() -> None:
    """A Stop alone creates the session, started at event_time - session_time."""
    s = apply(None, stop(600, (100, 200), terminate_cause=2))
    assert s.start_time == T0
    assert s.stop_time == T0 + timedelta(seconds=600)
    assert s.terminate_cause == 2
    assert (s.input_octets, s.output_octets, s.session_time) == (100, 200, 600)
    assert not is_open(s)


def test_interim_without_start_estimates_start() -> None:
    """An Interim alone creates an open session started at event_time - session_time."""
    s = apply(None, interim(300, (5, 6)))
    assert s.start_time == T0 and is_open(s)
    assert s.last_update == T0 + timedelta(seconds=300)


def test_packet_without_session_time_starts_at_event_time() -> None:
    """A non-Start packet without Acct-Session-Time bounds the start by its event time."""
    at = T0 + timedelta(seconds=42)
    s = apply(None, rec(STATUS_INTERIM, at, input_octets=1))
    assert s.start_time == at and s.session_time == 0


# --- apply: counters -----------------------------------------------------


def test_interim_updates_counters_and_last_update() -> None:
    """An Interim raises the counters and last_update."""
    s = fold([start(), interim(300, (1000, 2000), input_packets=3, output_packets=4)])
    assert (s.input_octets, s.output_octets) == (1000, 2000)
    assert (s.input_packets, s.output_packets, s.session_time) == (3, 4, 300)
    assert s.last_update == T0 + timedelta(seconds=300)
    assert s.start_time == T0


def test_retransmission_is_idempotent() -> None:
    """Applying the same Interim twice gives the same row as once."""
    once = fold([start(), interim(300, (1000, 2000))])
    assert apply(once, interim(300, (1000, 2000))) == once


def test_delayed_duplicate_changes_nothing_but_last_update() -> None:
    """A duplicate with a later event time (stale Acct-Delay-Time) keeps counters and start."""
    first = fold([start(), interim(300, (1000, 2000))])
    late = replace(interim(300, (1000, 2000)), event_time=T0 + timedelta(seconds=310))
    s = apply(first, late)
    assert (s.input_octets, s.output_octets, s.session_time) == (1000, 2000, 300)
    assert s.start_time == T0
    assert s.last_update == T0 + timedelta(seconds=310)


def test_counters_never_go_backwards() -> None:
    """An older Interim arriving after a newer one cannot lower any counter."""
    s = fold([start(), interim(600, (5000, 7000)), interim(300, (1000, 2000))])
    assert (s.input_octets, s.output_octets, s.session_time) == (5000, 7000, 600)
    assert s.last_update == T0 + timedelta(seconds=600)


def test_counters_are_max_per_field() -> None:
    """Each counter keeps its own maximum, even if packets disagree field by field."""
    s = fold([interim(300, (10, 1)), interim(200, (1, 10))])
    assert (s.input_octets, s.output_octets, s.session_time) == (10, 10, 300)


def test_gigaword_counters_are_kept_whole() -> None:
    """Counters beyond 32 bits (combined with gigawords upstream) are stored as is."""
    big = (3 << 32) | 17
    s = fold([start(), interim(300, (big, big + 1))])
    assert (s.input_octets, s.output_octets) == (big, big + 1)


# --- apply: start_time ---------------------------------------------------


def test_start_time_is_earliest_known_start() -> None:
    """When an Interim implies an earlier start than the Start's event time, it wins."""
    late_start = start(at=T0 + timedelta(seconds=5))
    s = fold([late_start, interim(300, (1, 1))])
    assert s.start_time == T0
    assert fold([interim(300, (1, 1)), late_start]).start_time == T0


# --- apply: stop ---------------------------------------------------------


def test_stop_closes_session() -> None:
    """A Stop sets stop_time, terminate_cause and the final counters."""
    s = fold([start(), interim(300, (10, 20)), stop(450, (15, 25), terminate_cause=1)])
    assert s.stop_time == T0 + timedelta(seconds=450)
    assert s.terminate_cause == 1
    assert (s.input_octets, s.output_octets, s.session_time) == (15, 25, 450)


def test_interim_after_stop_does_not_reopen() -> None:
    """An Interim arriving after its Stop keeps the session closed and the counters max."""
    s = fold([start(), stop(450, (15, 25)), interim(300, (10, 20))])
    assert s.stop_time == T0 + timedelta(seconds=450)
    assert (s.input_octets, s.output_octets, s.session_time) == (15, 25, 450)


def test_start_after_stop_does_not_reopen() -> None:
    """A Start arriving after its Stop keeps the session closed and fixes nothing else."""
    s = fold([stop(450, (15, 25)), start()])
    assert not is_open(s)
    assert s.start_time == T0 and s.terminate_cause == 1


def test_earliest_of_two_stops_wins_in_any_order() -> None:
    """Of two Stops the earliest event time wins, with its cause, whatever the order."""
    a = stop(450, (15, 25), terminate_cause=1)
    b = replace(stop(450, (15, 25), terminate_cause=2), event_time=T0 + timedelta(seconds=460))
    for order in ([a, b], [b, a]):
        s = fold([start(), *order])
        assert s.stop_time == T0 + timedelta(seconds=450)
        assert s.terminate_cause == 1


def test_simultaneous_stops_pick_smallest_cause() -> None:
    """Two Stops at the same time pick the smallest cause, a missing cause last."""
    a = stop(450, (1, 1), terminate_cause=5)
    b = stop(450, (1, 1), terminate_cause=2)
    c = stop(450, (1, 1), terminate_cause=None)
    assert fold([a, b, c]).terminate_cause == 2
    assert fold([c, b, a]).terminate_cause == 2
    assert fold([c, a]).terminate_cause == 5


def test_cause_ignored_outside_stop() -> None:
    """An Interim carrying a terminate cause does not set one."""
    s = apply(None, interim(300, (1, 1), terminate_cause=4))
    assert s.terminate_cause is None and is_open(s)


# --- apply: descriptive fields -------------------------------------------


def test_descriptive_none_is_filled() -> None:
    """A field missing from the Start is filled by a later packet, and kept after."""
    s = fold(
        [
            start(nas_port_id="ether2"),
            interim(300, (1, 1), framed_ip="10.0.0.9", calling_station="AA:BB"),
            interim(600, (2, 2)),
        ]
    )
    assert (s.nas_port_id, s.framed_ip, s.calling_station) == ("ether2", "10.0.0.9", "AA:BB")


def test_descriptive_conflict_is_order_independent() -> None:
    """Two different values for a field resolve to the same one in any order."""
    a = start(framed_ip="10.0.0.10", called_station="hs1", nas_port=3, nas_ip="192.0.2.7")
    b = interim(300, (1, 1), framed_ip="10.0.0.9", called_station="hs2", nas_port=1, nas_ip="192.0.2.10")
    ab, ba = fold([a, b]), fold([b, a])
    assert ab == ba
    assert (ab.framed_ip, ab.called_station, ab.nas_port, ab.nas_ip) == ("10.0.0.9", "hs2", 3, "192.0.2.7")


def test_interim_interval_keeps_maximum() -> None:
    """The largest Acct-Interim-Interval reported is kept."""
    s = fold([start(interim_interval=60), interim(300, (1, 1), interim_interval=300)])
    assert s.interim_interval == 300
    assert apply(s, interim(400, (1, 1), interim_interval=30)).interim_interval == 300


# --- apply: errors -------------------------------------------------------


@pytest.mark.parametrize("status", [STATUS_ACCOUNTING_ON, 8, 15, 0])
def test_apply_rejects_non_session_status(status: int) -> None:
    """Accounting-On/Off and unknown statuses are not folded into a session."""
    with pytest.raises(ValueError):
        apply(None, rec(status, T0))


def test_apply_rejects_other_session() -> None:
    """A record of another session cannot be applied to this one."""
    s = apply(None, start())
    with pytest.raises(ValueError):
        apply(s, replace(start(), username="bob"))
    with pytest.raises(ValueError):
        merge(s, apply(None, replace(start(), session_id="x")))


# --- close_all -----------------------------------------------------------


def test_close_all_closes_open_sessions_before_reboot() -> None:
    """Accounting-On closes open sessions started before it and returns only those."""
    boot = T0 + timedelta(hours=1)
    open_old = fold([start(), interim(300, (1, 1))])
    closed = fold([start(), stop(100, (1, 1))])
    after = replace(apply(None, start(at=boot)), key="later")
    changed = close_all([open_old, closed, after], boot, TERMINATE_NAS_REBOOT)
    assert changed == [
        replace(open_old, stop_time=boot, terminate_cause=TERMINATE_NAS_REBOOT)
    ]
    assert changed[0].last_update == open_old.last_update


def test_late_stop_replaces_reboot_close() -> None:
    """A NAS Stop that arrives after close_all and ends earlier replaces our close."""
    boot = T0 + timedelta(hours=1)
    (closed,) = close_all([apply(None, start())], boot, TERMINATE_NAS_REBOOT)
    s = apply(closed, stop(900, (5, 6), terminate_cause=1))
    assert s.stop_time == T0 + timedelta(seconds=900)
    assert s.terminate_cause == 1


# --- stale ---------------------------------------------------------------


def test_stale_uses_session_interval() -> None:
    """Stale means now - last_update > 2 * the session's interval + grace."""
    s = apply(None, start(interim_interval=60))
    assert not stale(s, T0 + timedelta(seconds=130), default_interim=600, grace=10)
    assert stale(s, T0 + timedelta(seconds=131), default_interim=600, grace=10)


def test_stale_falls_back_to_default_interval() -> None:
    """Without a reported interval the default one applies."""
    s = apply(None, start())
    assert not stale(s, T0 + timedelta(seconds=660), default_interim=300, grace=60)
    assert stale(s, T0 + timedelta(seconds=661), default_interim=300, grace=60)


def test_closed_session_is_never_stale() -> None:
    """A stopped session is not stale however old."""
    s = apply(None, stop(10, (1, 1)))
    assert not stale(s, T0 + timedelta(days=30), default_interim=300, grace=60)


def test_close_stale_closes_at_now() -> None:
    """close_stale stops the session at now with the stale cause and keeps last_update."""
    s = fold([start(), interim(300, (1, 1))])
    now = T0 + timedelta(hours=2)
    closed = close_stale(s, now)
    assert closed.stop_time == now
    assert closed.terminate_cause == TERMINATE_STALE
    assert closed.last_update == s.last_update
    assert close_stale(s, now, cause=4).terminate_cause == 4


def test_close_stale_leaves_stopped_session() -> None:
    """close_stale returns a stopped session unchanged."""
    s = apply(None, stop(10, (1, 1)))
    assert close_stale(s, T0 + timedelta(days=1)) == s


# --- properties ----------------------------------------------------------


@st.composite
def clean_sessions(draw: st.DrawFn) -> list[AcctRecord]:
    """A Start, Interims with rising counters, and a Stop, as a NAS sends them."""
    t0 = draw(
        st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        )
    )
    steps = draw(st.integers(min_value=1, max_value=6))
    counters = [0, 0, 0, 0, 0]
    packets = [
        AcctRecord(
            status=STATUS_START,
            nas_id=NAS,
            session_id=SID,
            username=USER,
            event_time=t0,
            nas_port=draw(st.none() | st.integers(0, 10)),
            interim_interval=300,
        )
    ]
    ip = draw(st.sampled_from(["10.0.0.1", "100.64.3.7"]))
    for i in range(steps):
        counters = [
            c + draw(st.integers(min_value=1 if j == 4 else 0, max_value=1 << 34))
            for j, c in enumerate(counters)
        ]
        last = i == steps - 1
        packets.append(
            AcctRecord(
                status=STATUS_STOP if last else STATUS_INTERIM,
                nas_id=NAS,
                session_id=SID,
                username=USER,
                event_time=t0 + timedelta(seconds=counters[4]),
                framed_ip=ip,
                input_octets=counters[0],
                output_octets=counters[1],
                input_packets=counters[2],
                output_packets=counters[3],
                session_time=counters[4],
                terminate_cause=1 if last else None,
            )
        )
    return packets


@st.composite
def delivered(draw: st.DrawFn, clean: list[AcctRecord]) -> list[AcctRecord]:
    """The clean packets with duplicates, some later by a delay, in any order."""
    dups = draw(
        st.lists(
            st.tuples(st.integers(0, len(clean) - 1), st.integers(0, 3600)), max_size=8
        )
    )
    extra = [
        replace(clean[i], event_time=clean[i].event_time + timedelta(seconds=d))
        for i, d in dups
    ]
    return draw(st.permutations(clean + extra))


@settings(max_examples=300)
@given(st.data())
def test_any_delivery_gives_the_clean_totals(data: st.DataObject) -> None:
    """Reordered, duplicated, delayed packets fold to the clean totals, start and stop."""
    clean = data.draw(clean_sessions())
    got = reduce(apply, data.draw(delivered(clean)), None)
    want = reduce(apply, clean, None)
    assert got is not None and want is not None
    for field in (
        "input_octets",
        "output_octets",
        "input_packets",
        "output_packets",
        "session_time",
        "start_time",
        "stop_time",
        "terminate_cause",
        "framed_ip",
        "nas_port",
    ):
        assert getattr(got, field) == getattr(want, field), field
    assert want.start_time == clean[0].event_time
    assert want.stop_time == clean[-1].event_time


optional_text = st.none() | st.sampled_from(["a", "b", "c"])
optional_int = st.none() | st.integers(0, 1 << 40)

arbitrary_records = st.builds(
    AcctRecord,
    status=st.sampled_from([STATUS_START, STATUS_STOP, STATUS_INTERIM]),
    nas_id=st.just(NAS),
    session_id=st.just(SID),
    username=st.just(USER),
    event_time=st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s)),
    nas_port=st.none() | st.integers(0, 3),
    nas_port_id=optional_text,
    framed_ip=optional_text,
    calling_station=optional_text,
    called_station=optional_text,
    nas_ip=st.none() | st.sampled_from(["10.0.0.1", "10.0.0.2"]),
    input_octets=optional_int,
    output_octets=optional_int,
    input_packets=optional_int,
    output_packets=optional_int,
    session_time=st.none() | st.integers(0, 10_000),
    terminate_cause=st.none() | st.integers(1, 4),
    interim_interval=st.none() | st.sampled_from([60, 300]),
)


@settings(max_examples=300)
@given(st.data())
def test_apply_is_order_independent_for_every_field(data: st.DataObject) -> None:
    """Any packets of one session, in any order and repeated, fold to the same row."""
    packets = data.draw(st.lists(arbitrary_records, min_size=1, max_size=8))
    shuffled = data.draw(st.permutations(packets))
    repeated = data.draw(st.lists(st.sampled_from(packets), max_size=4))
    assert reduce(apply, shuffled + repeated, None) == reduce(apply, packets, None)


@given(st.lists(arbitrary_records, min_size=1, max_size=6), st.integers(0, 20_000))
def test_stale_close_then_late_packets(packets: list[AcctRecord], offset: int) -> None:
    """A stale close then late packets equals closing at the end, bar a later Stop."""
    now = T0 + timedelta(seconds=offset)
    folded = reduce(apply, packets, None)
    assert folded is not None
    early = reduce(apply, packets[1:], close_stale(apply(None, packets[0]), now))
    assert early is not None
    if folded.stop_time is None or folded.stop_time < now:
        assert early == close_stale(folded, now)
    else:
        assert early.stop_time is not None and early.stop_time <= folded.stop_time


@given(st.data())
def test_lost_start_changes_no_totals(data: st.DataObject) -> None:
    """Without its Start, a session still folds to the clean counters, start and stop."""
    clean = data.draw(clean_sessions())
    got = reduce(apply, data.draw(delivered(clean[1:])), None)
    want = reduce(apply, clean, None)
    assert got is not None and want is not None
    assert (got.input_octets, got.output_octets, got.session_time) == (
        want.input_octets,
        want.output_octets,
        want.session_time,
    )
    assert (got.start_time, got.stop_time) == (want.start_time, want.stop_time)



# --- identity: Class and NAS epochs -------------------------------------------------


def test_epoch_zero_without_class_keeps_the_old_key() -> None:
    """Rows written before epochs existed keep their keys: epoch 0 and no Class add nothing."""
    assert session_key(NAS, SID, USER) == "085dd66952ff2b0a07d7e5d2e4f22e0c"  # the key stored by earlier versions
    assert session_key(NAS, SID, USER, None, 0) == session_key(NAS, SID, USER)
    assert session_key(NAS, SID, USER, None, 1) != session_key(NAS, SID, USER)


@given(st.text(min_size=1, max_size=40), st.integers(0, 1000), st.integers(0, 1000))
def test_class_decides_identity_whatever_the_epoch(cls: str, e1: int, e2: int) -> None:
    """With a Class the epoch is irrelevant; the Class alone separates reused session ids."""
    assert session_key(NAS, SID, USER, cls, e1) == session_key(NAS, SID, USER, cls, e2)
    assert session_key(NAS, SID, USER, cls, e1) != session_key(NAS, SID, USER, cls + "x", e1)
    assert session_key(NAS, SID, USER, cls, 0) != session_key(NAS, SID, USER, None, 0)


def test_same_session_id_with_another_class_is_another_session() -> None:
    """A reused Acct-Session-Id with a new Class never folds into the old session."""
    old, notes = fold_one(None, stop(60, (5, 5), class_attr="aaad:a"))
    assert notes == ()
    with pytest.raises(ValueError):
        apply(old, start(class_attr="aaad:b"))
    new = apply(None, start(class_attr="aaad:b"))
    assert new.key != old.key and is_open(new) and new.class_attr == "aaad:b"


@settings(max_examples=200)
@given(st.data())
def test_order_independence_holds_with_class_and_epoch(data: st.DataObject) -> None:
    """Packets of one session carrying a Class (or an epoch) still fold order-independently."""
    tags: list[dict[str, Any]] = [{"class_attr": "aaad:x"}, {"epoch": 3}]
    tag = data.draw(st.sampled_from(tags))
    packets = [replace(p, **tag) for p in data.draw(st.lists(arbitrary_records, min_size=1, max_size=6))]
    shuffled = data.draw(st.permutations(packets))
    assert reduce(apply, shuffled + packets[:2], None) == reduce(apply, packets, None)


times = st.integers(0, 100_000).map(lambda s: T0 + timedelta(seconds=s))


@given(st.lists(times, max_size=12))
def test_epochs_only_grow_and_retransmissions_do_not_bump(ons: list[datetime]) -> None:
    """Each On/Off at least EPOCH_GUARD after the epoch's start begins one; others change nothing."""
    cur = NasEpoch()
    for at in ons:
        nxt = next_epoch(cur, at)
        bumped = cur.since is None or at > cur.since + timedelta(seconds=EPOCH_GUARD)
        assert nxt == (NasEpoch(cur.epoch + 1, at) if bumped else cur)
        assert next_epoch(nxt, at) == nxt  # the same On again: a retransmission
        cur = nxt


@given(times, times)
def test_packets_older_than_the_epoch_belong_to_the_previous_one(since: datetime, at: datetime) -> None:
    """A session packet from before the Accounting-On/Off that began the epoch is of the one before."""
    cur = NasEpoch(4, since)
    assert epoch_of(cur, at) == (3 if at < since else 4)
    assert epoch_of(NasEpoch(), at) == 0


# --- 32-bit counters -----------------------------------------------------------------------


def test_wrap_without_gigawords_is_read_as_the_next_turn() -> None:
    """A 32-bit counter dropping from the upper half to the lower half later on is a wrap."""
    s = apply(None, interim(300, (4_000_000_000, 10), in_32bit=True, out_32bit=True))
    rec, notes = read_counters(s, interim(600, (5_000, 20), in_32bit=True, out_32bit=True))
    assert (rec.input_octets, rec.output_octets) == (WRAP + 5_000, 20)
    assert notes == ("counter_wrapped",)
    s = apply(s, interim(600, (5_000, 20), in_32bit=True, out_32bit=True))
    assert s.input_octets == WRAP + 5_000
    s = apply(s, interim(900, (9_000, 30), in_32bit=True, out_32bit=True))  # same turn, stays there
    assert s.input_octets == WRAP + 9_000


def test_older_packet_or_implausible_drop_is_not_a_wrap() -> None:
    """A late packet, or a drop from the lower half, is ignored by the maximum and flagged when newer."""
    s = apply(None, interim(300, (4_000_000_000, 10)))
    assert read_counters(s, interim(200, (5_000, 10), in_32bit=True))[1] == ()
    assert apply(s, interim(200, (5_000, 10), in_32bit=True)).input_octets == 4_000_000_000
    low = apply(None, interim(300, (1_000_000, 10)))
    rec, notes = read_counters(low, interim(600, (5_000, 10), in_32bit=True))
    assert notes == ("counter_backwards",) and apply(low, rec).input_octets == 1_000_000
    assert read_counters(low, interim(600, (5_000, 10)))[1] == ("counter_backwards",)


@given(st.integers(0, COUNTER_MAX), st.integers(0, WRAP - 1), st.floats(-1e6, 1e6))
def test_unwrap_keeps_the_low_bits_and_never_jumps_more_than_a_turn(
        stored: int, reported: int, elapsed: float) -> None:
    """The value read always has the reported low 32 bits and lies within one turn of the stored one."""
    value, note = unwrap(stored, reported, elapsed)
    assert value % WRAP == reported or value == COUNTER_MAX
    assert stored - WRAP < value <= stored + WRAP
    grew = value > stored or value == COUNTER_MAX  # a wrap at the cap stays at the cap
    assert (note == "counter_wrapped") == (grew and reported < stored % WRAP)
    if elapsed <= 0:
        assert note is None


@st.composite
def wrapping_sessions(draw: st.DrawFn) -> tuple[list[AcctRecord], int]:
    """Interims of a session whose NAS sends no Gigawords, growing under 2^31 per 300 s."""
    total, packets = 0, []
    for i in range(1, draw(st.integers(1, 12)) + 1):
        total += draw(st.integers(0, (1 << 31) - 1))
        packets.append(interim(300 * i, (total % WRAP, 0), in_32bit=True))
    return packets, total


@settings(max_examples=200)
@given(wrapping_sessions(), st.data())
def test_in_order_32bit_counters_add_up_whatever_the_retransmissions(
        session: tuple[list[AcctRecord], int], data: st.DataObject) -> None:
    """Packets in order, each possibly repeated later, fold to the true 64-bit total."""
    packets, total = session
    delivered_ = []
    for p in packets:
        delivered_.append(p)
        delivered_.extend(data.draw(st.lists(st.sampled_from(delivered_), max_size=2)))
    folded = reduce(apply, delivered_, None)
    assert folded is not None
    assert folded.input_octets == total
