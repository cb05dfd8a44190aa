"""The accounting session state machine: a pure fold of Accounting-Requests.

A NAS reports one session with a Start, any number of Interim-Updates and a
Stop, but UDP and retransmission mean those packets may arrive late, twice,
out of order, or not at all. ``apply(current, record)`` folds one decoded
Accounting-Request into the stored row of its session. It is a *join*: the
new row depends only on the set of packets seen, never on their order or on
how often each arrived. Every field follows one of these rules:

Identity
    ``key``, ``nas_id``, ``session_id``, ``username`` and ``class_attr``
    come from the first packet; a record of another session (another key)
    is a caller bug (``ValueError``). ``apply`` accepts Start (1), Stop (2)
    and Interim-Update (3); Accounting-On/Off (7, 8) concern the whole NAS
    and go through ``close_all`` and ``next_epoch``; any other status is a
    ``ValueError``. See ``session_key`` for what tells two sessions apart:
    the Class we gave the authentication when the NAS echoes it, else the
    NAS's Accounting-On epoch.

Counters (octets, packets, session_time)
    Cumulative over a session, so the stored value is the **maximum** ever
    reported (``None`` reports nothing). A retransmission, a duplicate with a
    new Acct-Delay-Time, an Interim arriving after its Stop or a counter that
    goes backwards can never lower or double-count anything. Counters are at
    most ``COUNTER_MAX`` (the server clamps what a NAS claims beyond it).

32-bit wraps (``read_counters``, applied by ``apply`` before the fold)
    An octet counter that came without its Gigawords attribute holds only
    the low 32 bits. It is read against the session so far: in the stored
    value's 4 GiB turn when that is not lower; in the next turn (a wrap)
    when it is lower, the packet is newer (its Acct-Session-Time, else its
    event time, is later than the session's), the stored low 32 bits are in
    their upper half, the new value in its lower half, and the growth
    implied is possible at ``WRAP_MAX_RATE``. A packet that is not newer (a
    retransmission, a late packet) is read in the latest turn that keeps it
    at or below the stored value, and a newer packet with an implausible
    drop below it: either way the maximum rule ignores it. Both a wrap and
    a newer packet going backwards are reported as anomalies. The reading
    depends on what was stored first, so unlike the other rules it needs
    the packets of a session in order; a NAS that sends Gigawords (RouterOS
    does) never needs it. Packet counters have no Gigawords and are not
    unwrapped (the maximum rule alone).

start_time
    The earliest known start: a Start's ``event_time``; for any other packet
    ``event_time - session_time`` (just ``event_time`` when the packet has no
    session time). The minimum across packets is kept, so a Stop without a
    Start still yields the right start.

last_update
    The latest ``event_time`` seen: when the NAS last vouched for the session.

stop_time and terminate_cause
    Set by a Stop (or by ``close_all`` / ``close_stale``) and never cleared:
    an Interim or a Start arriving after the Stop does not reopen the
    session. Among several Stops the one with the **earliest** event time
    wins, ties broken by the smallest terminate cause (``None`` last). Why
    earliest: a retransmitted Stop carries the same counters, and its event
    time is either equal (a NAS that raises Acct-Delay-Time as it waits) or
    later (one that does not), never earlier; and a session closed by us
    (stale, NAS reboot) is closed at the time we noticed, so the NAS's own
    Stop, which describes an earlier end, replaces our guess when it arrives
    late. The limit of this rule: a session wrongly judged stale keeps our
    stop time even if the NAS later reports a later Stop (its counters still
    count); keep the stale grace generous.

Descriptive fields (nas_port, nas_port_id, framed_ip, calling_station,
called_station, nas_ip)
    Constant over a session on every NAS we know of, but not always present
    in every packet (a Start may lack Framed-IP-Address). A non-``None``
    value fills a ``None``; between two different values the greater one
    wins. That choice is arbitrary on purpose: it is a total order, so the
    result is the same whatever order the packets came in.

interim_interval
    The maximum reported: the stale check then never fires early.

``close_all`` (Accounting-On/Off: the NAS rebooted, every session it had is
gone), ``next_epoch`` / ``epoch_of`` (the NAS's epochs), ``stale`` /
``close_stale`` (a NAS that stopped sending Interims) and ``is_open``
complete the module. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

STATUS_START = 1
STATUS_STOP = 2
STATUS_INTERIM = 3
STATUS_ACCOUNTING_ON = 7
STATUS_ACCOUNTING_OFF = 8

TERMINATE_LOST_SERVICE = 3
TERMINATE_IDLE_TIMEOUT = 4
TERMINATE_ADMIN_RESET = 6     # closed because the NAS said, to our Disconnect, it no longer had it
TERMINATE_NAS_REBOOT = 11

#: Acct-Terminate-Cause recorded when we close a session the NAS stopped
#: reporting. RADIUS has no "stale session" value; Lost-Service (3, "service
#: can no longer be provided") describes what we know, where Idle-Timeout (4)
#: would wrongly blame the user. Until a later packet arrives, a stale close
#: is also recognisable by its stop_time lying after last_update, which a
#: NAS's Stop never does.
TERMINATE_STALE = TERMINATE_LOST_SERVICE

#: The largest octet counter kept: 2^62 - 1, so that the sum of two still
#: fits a signed 64-bit column (4.6 EB, far beyond any real session).
COUNTER_MAX = (1 << 62) - 1

#: One turn of a 32-bit counter, and the fastest growth (octets per second,
#: 10 Gbit/s) for which a counter going backwards is read as a wrap.
WRAP = 1 << 32
WRAP_MAX_RATE = 1_250_000_000

#: Two Accounting-On/Off closer than this (seconds) are one reboot: the
#: second is a retransmission (or the On after its Off) and starts no epoch.
EPOCH_GUARD = 30

_SESSION_STATUSES = frozenset({STATUS_START, STATUS_STOP, STATUS_INTERIM})

_T = TypeVar("_T", int, str)


@dataclass(frozen=True, slots=True)
class AcctRecord:
    """One decoded Accounting-Request, as the accounting server hands it over."""

    status: int
    nas_id: int
    session_id: str
    username: str
    event_time: datetime
    nas_port: int | None = None
    nas_port_id: str | None = None
    framed_ip: str | None = None
    calling_station: str | None = None
    called_station: str | None = None
    input_octets: int | None = None
    output_octets: int | None = None
    input_packets: int | None = None
    output_packets: int | None = None
    session_time: int | None = None
    terminate_cause: int | None = None
    interim_interval: int | None = None
    class_attr: str | None = None     # the Class echoed by the NAS (text, see server)
    nas_ip: str | None = None         # the address the request came from (where CoA goes for a NAS network)
    epoch: int = 0                    # the NAS's epoch the packet belongs to (store sets it)
    in_32bit: bool = False            # input_octets came without Acct-Input-Gigawords
    out_32bit: bool = False           # output_octets came without Acct-Output-Gigawords


@dataclass(frozen=True, slots=True)
class Session:
    """One row of the sessions table: everything known about one session."""

    key: str
    nas_id: int
    session_id: str
    username: str
    nas_port: int | None
    nas_port_id: str | None
    framed_ip: str | None
    calling_station: str | None
    called_station: str | None
    start_time: datetime
    last_update: datetime
    stop_time: datetime | None
    input_octets: int
    output_octets: int
    input_packets: int
    output_packets: int
    session_time: int
    terminate_cause: int | None
    interim_interval: int | None
    class_attr: str | None = None
    nas_ip: str | None = None   # the address the NAS sent from: Dynamic Authorization goes there


def session_key(nas_id: int, session_id: str, username: str, class_attr: str | None = None,
                epoch: int = 0) -> str:
    """Return the stable unique key of a session: 32 hex digits.

    Acct-Session-Id is only unique per NAS (RFC 2866), and MikroTik's are
    short counters that repeat across routers and after a reboot, hence the
    NAS. The username guards against NASes that reuse one Acct-Session-Id for
    several users (hotspot logins behind one port). NAS-Port and the
    addresses are left out because some NASes omit or change them between
    Start and Stop. The fields are length-prefixed before hashing so that no
    two different triples join to the same bytes; SHA-1 truncated to 128 bits
    is collision-safe for this use and fits a fixed-width indexed column.

    MikroTik reuses Acct-Session-Ids after a reboot, so the triple alone
    would fold a new session into an old closed row. The Class we put in
    every Access-Accept is unique per authentication: when the NAS echoes
    it, it joins the key. Without a Class the NAS's epoch (bumped by each
    Accounting-On/Off) joins it instead; epoch 0 adds nothing, so rows
    written before epochs existed keep their keys.
    """
    n = str(nas_id).encode()
    s = session_id.encode()
    u = username.encode()
    joined = b"%d:%s%d:%s%d:%s" % (len(n), n, len(s), s, len(u), u)
    if class_attr is not None:
        c = class_attr.encode()
        joined += b"5:class%d:%s" % (len(c), c)
    elif epoch:
        e = str(epoch).encode()
        joined += b"5:epoch%d:%s" % (len(e), e)
    return hashlib.sha1(joined).hexdigest()[:32]


def is_open(s: Session) -> bool:
    """Return whether the session has not been stopped."""
    return s.stop_time is None


def apply(current: Session | None, rec: AcctRecord) -> Session:
    """Fold one Start, Interim-Update or Stop into its session's row.

    ``current`` is the stored row, or ``None`` when the session is new (a
    Stop or an Interim without a Start creates it). See the module docstring
    for the rule of every field.
    """
    return fold(current, rec)[0]


def fold(current: Session | None, rec: AcctRecord,
         key: str | None = None) -> tuple[Session, tuple[str, ...]]:
    """``apply``, also returning the anomalies ``read_counters`` noted.

    ``key``, when the caller already computed the record's ``session_key``,
    saves computing it again.
    """
    if rec.status not in _SESSION_STATUSES:
        raise ValueError(
            f"Acct-Status-Type {rec.status} does not belong to one session"
        )
    rec, notes = read_counters(current, rec)
    incoming = _from_record(rec, key)
    if current is None:
        return incoming, notes
    if current.key != incoming.key:
        raise ValueError(
            f"record for session {incoming.key} applied to session {current.key}"
        )
    return merge(current, incoming), notes


def read_counters(current: Session | None, rec: AcctRecord) -> tuple[AcctRecord, tuple[str, ...]]:
    """Read a record's octet counters against the session so far; note anomalies.

    Returns the record with 64-bit counters (32-bit ones unwrapped, see the
    module docstring) and the anomalies seen: ``counter_wrapped``,
    ``counter_backwards`` (a newer packet reporting less than stored).
    """
    if current is None:
        if rec.in_32bit or rec.out_32bit:
            rec = replace(rec, in_32bit=False, out_32bit=False)
        return rec, ()
    if not (rec.in_32bit or rec.out_32bit):  # the usual case: 64-bit counters, not lower
        i, o = rec.input_octets, rec.output_octets
        if ((i is None or i >= current.input_octets) and (o is None or o >= current.output_octets)):
            return rec, ()
    elapsed = _elapsed(current, rec)
    notes: list[str] = []
    values = []
    for reported, is_32bit, stored in ((rec.input_octets, rec.in_32bit, current.input_octets),
                                       (rec.output_octets, rec.out_32bit, current.output_octets)):
        if reported is not None and is_32bit:
            reported, note = unwrap(stored, reported, elapsed)
            if note:
                notes.append(note)
        elif reported is not None and elapsed > 0 and reported < stored:
            notes.append("counter_backwards")
        values.append(reported)
    if rec.in_32bit or rec.out_32bit:
        rec = replace(rec, input_octets=values[0], output_octets=values[1],
                      in_32bit=False, out_32bit=False)
    return rec, tuple(notes)


def unwrap(stored: int, reported: int, elapsed: float) -> tuple[int, str | None]:
    """Read a 32-bit ``reported`` counter against the 64-bit ``stored`` one.

    ``elapsed`` (seconds) is how much newer the packet is than the session
    so far (zero or less: a retransmission or a late packet). Returns the
    64-bit value and ``counter_wrapped`` / ``counter_backwards`` or None.
    """
    high, low = divmod(stored, WRAP)
    same_turn = high * WRAP + reported
    if elapsed <= 0:  # an older packet or a retransmission: from this turn or the one before
        return (same_turn - WRAP if same_turn > stored and high else same_turn), None
    if reported >= low:
        return same_turn, None
    growth = WRAP - low + reported
    if low >= WRAP // 2 and reported < WRAP // 2 and growth <= WRAP_MAX_RATE * elapsed:
        return min(same_turn + WRAP, COUNTER_MAX), "counter_wrapped"
    return same_turn, "counter_backwards"


def _elapsed(current: Session, rec: AcctRecord) -> float:
    """How much newer ``rec`` is than ``current``: by session time when it has one."""
    if rec.session_time is not None and rec.status != STATUS_START:
        return float(rec.session_time - current.session_time)
    return (rec.event_time - current.last_update).total_seconds()


@dataclass(frozen=True, slots=True)
class NasEpoch:
    """A NAS's current epoch and the event time of the Accounting-On/Off that began it."""

    epoch: int = 0
    since: datetime | None = None


def next_epoch(cur: NasEpoch, at: datetime, guard: int = EPOCH_GUARD) -> NasEpoch:
    """The epoch after an Accounting-On/Off at ``at``.

    A new epoch begins unless the current one began less than ``guard``
    seconds before ``at`` (a retransmitted On, or the On right after its
    Off) or after it (a stale retransmission): then it is unchanged.
    """
    if cur.since is not None and at <= cur.since + timedelta(seconds=guard):
        return cur
    return NasEpoch(cur.epoch + 1, at)


def epoch_of(cur: NasEpoch, event_time: datetime) -> int:
    """The epoch a session packet belongs to: the previous one if the packet is
    older than the current epoch's start (a Stop that lost the race with the
    Accounting-Off after it), else the current one."""
    if cur.since is not None and cur.epoch > 0 and event_time < cur.since:
        return cur.epoch - 1
    return cur.epoch


def merge(a: Session, b: Session) -> Session:
    """Join two views of the same session; commutative, associative, idempotent."""
    if a.key != b.key:
        raise ValueError(f"cannot merge session {a.key} with {b.key}")
    stop_time, terminate_cause = _earliest_stop(
        (a.stop_time, a.terminate_cause), (b.stop_time, b.terminate_cause)
    )
    return Session(
        key=a.key,
        nas_id=a.nas_id,
        session_id=a.session_id,
        username=a.username,
        nas_port=_greatest(a.nas_port, b.nas_port),
        nas_port_id=_greatest(a.nas_port_id, b.nas_port_id),
        framed_ip=_greatest(a.framed_ip, b.framed_ip),
        calling_station=_greatest(a.calling_station, b.calling_station),
        called_station=_greatest(a.called_station, b.called_station),
        start_time=min(a.start_time, b.start_time),
        last_update=max(a.last_update, b.last_update),
        stop_time=stop_time,
        input_octets=max(a.input_octets, b.input_octets),
        output_octets=max(a.output_octets, b.output_octets),
        input_packets=max(a.input_packets, b.input_packets),
        output_packets=max(a.output_packets, b.output_packets),
        session_time=max(a.session_time, b.session_time),
        terminate_cause=terminate_cause,
        interim_interval=_greatest(a.interim_interval, b.interim_interval),
        class_attr=_greatest(a.class_attr, b.class_attr),
        nas_ip=_greatest(a.nas_ip, b.nas_ip),
    )


def close_all(sessions: Iterable[Session], at: datetime, cause: int) -> list[Session]:
    """Close the sessions a NAS lost by rebooting (Accounting-On/Off at ``at``).

    Returns only the rows that changed, for the caller to write: every open
    session that started before ``at`` is closed at ``at`` with ``cause``
    (normally 11, NAS-Reboot). Sessions already stopped are left alone, and
    so are sessions starting at or after ``at``: they began after the reboot.
    """
    return [
        _close(s, at, cause) for s in sessions if is_open(s) and s.start_time < at
    ]


def stale(s: Session, now: datetime, default_interim: int, grace: int) -> bool:
    """Return whether an open session missed two Interim-Updates plus ``grace`` seconds.

    The interval is the session's own Acct-Interim-Interval when a packet
    reported one, else ``default_interim`` (seconds); the session is stale
    when ``now - last_update`` is strictly greater than ``2 * interval + grace``.
    """
    if not is_open(s):
        return False
    interval = s.interim_interval if s.interim_interval is not None else default_interim
    return now - s.last_update > timedelta(seconds=2 * interval + grace)


def close_stale(s: Session, now: datetime, cause: int = TERMINATE_STALE) -> Session:
    """Close a stale session at ``now`` (see ``TERMINATE_STALE`` for the cause).

    Closing at ``now`` rather than at ``last_update`` lets the NAS's own Stop,
    if it turns up late, replace our guess (earliest Stop wins). A session
    already stopped is returned unchanged.
    """
    if not is_open(s):
        return s
    return _close(s, now, cause)


def _close(s: Session, at: datetime, cause: int) -> Session:
    """Return ``s`` stopped at ``at`` with ``cause``; ``last_update`` is untouched."""
    return replace(s, stop_time=at, terminate_cause=cause)


def _from_record(rec: AcctRecord, key: str | None = None) -> Session:
    """Build the one-packet view of a session from a Start, Interim or Stop."""
    session_time = rec.session_time or 0
    start_time = rec.event_time if rec.status == STATUS_START else rec.event_time - timedelta(seconds=session_time)
    stopped = rec.status == STATUS_STOP
    return Session(
        key=key or session_key(rec.nas_id, rec.session_id, rec.username, rec.class_attr, rec.epoch),
        nas_id=rec.nas_id,
        session_id=rec.session_id,
        username=rec.username,
        nas_port=rec.nas_port,
        nas_port_id=rec.nas_port_id,
        framed_ip=rec.framed_ip,
        calling_station=rec.calling_station,
        called_station=rec.called_station,
        start_time=start_time,
        last_update=rec.event_time,
        stop_time=rec.event_time if stopped else None,
        input_octets=rec.input_octets or 0,
        output_octets=rec.output_octets or 0,
        input_packets=rec.input_packets or 0,
        output_packets=rec.output_packets or 0,
        session_time=session_time,
        terminate_cause=rec.terminate_cause if stopped else None,
        interim_interval=rec.interim_interval,
        class_attr=rec.class_attr,
        nas_ip=rec.nas_ip,
    )


def _greatest(a: _T | None, b: _T | None) -> _T | None:
    """Return the greater of two values, ``None`` counting as the least."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def _earliest_stop(
    a: tuple[datetime | None, int | None], b: tuple[datetime | None, int | None]
) -> tuple[datetime | None, int | None]:
    """Pick the winning (stop_time, terminate_cause): earliest time, then least cause."""
    if a[0] is None:
        return b
    if b[0] is None:
        return a
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return a[0], _least_cause(a[1], b[1])


def _least_cause(a: int | None, b: int | None) -> int | None:
    """Return the smaller terminate cause, ``None`` counting as the greatest."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
