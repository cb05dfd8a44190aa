"""Pre-accounting: bounds and storable values, pure and through the accounting protocol."""
from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from aaad.dbsafe import INT32_MAX
from aaad.radius import codec
from accounting import preacct
from accounting import sessions as sm
from accounting.sessions import COUNTER_MAX
from tests.accounting.test_server import Harness, acct

U32 = st.integers(0, (1 << 32) - 1)
BOUNDS = preacct.Bounds(max_delay=3600, max_session_time=86400)


@given(U32)
def test_delay_is_bounded_and_noted_when_clamped(n: int) -> None:
    """A delay beyond the bound becomes the bound, noted once; others pass untouched."""
    notes: list[str] = []
    got = preacct.delay(n, BOUNDS, notes)
    assert got == min(n, 3600)
    assert notes == (["delay_clamped"] if n > 3600 else [])


@given(st.none() | U32)
def test_session_time_is_bounded(n: int | None) -> None:
    """Acct-Session-Time beyond the bound becomes the bound, noted."""
    notes: list[str] = []
    got = preacct.session_time(n, BOUNDS, notes)
    assert got == (None if n is None else min(n, 86400))
    assert bool(notes) == (n is not None and n > 86400)


@given(st.none() | U32, st.none() | U32)
def test_counters_fit_a_signed_64_bit_column(low: int | None, giga: int | None) -> None:
    """Gigawords fold in; the total never exceeds COUNTER_MAX, and clamping is noted."""
    notes: list[str] = []
    got = preacct.counter(low, giga, notes)
    if low is None and giga is None:
        assert got is None
        return
    exact = ((giga or 0) << 32) | (low or 0)
    assert got == min(exact, COUNTER_MAX) and got < 1 << 63
    assert notes == (["counter_clamped"] if exact > COUNTER_MAX else [])


@given(st.none() | U32)
def test_integers_fit_a_signed_32_bit_column(n: int | None) -> None:
    """32-bit unsigned values are clamped to 2^31 - 1 for integer columns."""
    notes: list[str] = []
    got = preacct.int32(n, notes)
    assert got == (None if n is None else min(n, INT32_MAX))
    assert bool(notes) == (n is not None and n > INT32_MAX)


@given(st.binary(max_size=253))
def test_text_never_carries_nul(raw: bytes) -> None:
    """Decoded text has no NUL; a NUL in the bytes is noted and replaced, never dropped."""
    notes: list[str] = []
    got = preacct.text(raw, notes)
    assert got is not None and "\x00" not in got
    assert notes == (["nul_replaced"] if b"\x00" in raw else [])
    assert len(got) == len(raw.decode("utf-8", "replace"))


@given(st.binary(min_size=1, max_size=253))
def test_class_text_is_storable_and_distinct(raw: bytes) -> None:
    """Any Class becomes NUL-free text; printable values are kept as they are."""
    got = preacct.class_text(raw)
    assert got is not None and "\x00" not in got
    if all(0x20 <= b < 0x7F for b in raw):
        assert got == raw.decode()
    else:
        assert got == "0x" + raw.hex()


def test_absurd_values_are_clamped_counted_and_submitted() -> None:
    """A delay of 0xFFFFFFF0, Gigawords 0xFFFFFFFF, huge cause and NUL names: recorded, clamped, counted."""
    h = Harness()
    extra = (codec.encode_int(codec.ACCT_INPUT_OCTETS, 5)
             + codec.encode_int(codec.ACCT_INPUT_GIGAWORDS, 0xFFFFFFFF)
             + codec.encode_int(codec.ACCT_OUTPUT_OCTETS, 7)
             + codec.encode_int(codec.ACCT_SESSION_TIME, 0xFFFFFFF0)
             + codec.encode_int(codec.ACCT_TERMINATE_CAUSE, 0xFFFFFFFF)
             + codec.encode_int(codec.ACCT_INTERIM_INTERVAL, 0x80000000)
             + codec.encode_attr(codec.CALLING_STATION_ID, b"aa\x00bb")
             + codec.encode_attr(codec.CLASS, b"aaad:0123456789abcdef:0000000000000001"))
    h.send(acct(sm.STATUS_STOP, extra=extra, delay=0xFFFFFFF0))
    (item, _d), = h.submitted
    r = item.rec
    assert r.event_time == datetime.fromtimestamp(1_800_000_000 - 86400, UTC)
    assert r.input_octets == COUNTER_MAX and r.output_octets == 7
    assert r.session_time == 366 * 86400
    assert r.terminate_cause == INT32_MAX and r.interim_interval == INT32_MAX
    assert r.calling_station == "aa\ufffdbb"
    assert r.class_attr == "aaad:0123456789abcdef:0000000000000001"
    assert (r.in_32bit, r.out_32bit) == (False, True)
    assert dict(h.st.anomalies) == {"delay_clamped": 1, "counter_clamped": 1, "session_time_clamped": 1,
                                    "integer_clamped": 2, "nul_replaced": 1}


def test_anomalies_found_at_commit_are_counted() -> None:
    """Anomalies the store reports in the Outcome (a wrap) reach the counter after commit."""
    from accounting.store import Outcome
    h = Harness()
    h.send(acct(sm.STATUS_INTERIM))
    h.submitted[0][1].callback(Outcome(anomalies=("counter_wrapped",)))
    assert h.st.anomalies["counter_wrapped"] == 1 and len(h.transport.written) == 1
