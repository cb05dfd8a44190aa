"""Class attributes: unique per authentication, in every Access-Accept and no reject."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aaad.radius import codec
from aaad.radius.class_attr import VALUE_LENGTH, ClassGenerator, is_ours
from tests.radius.test_server import NAS_ADDR, make, pap_req, reply_of


@given(st.binary(min_size=8, max_size=8), st.integers(0, 2**64 - 2000), st.integers(1, 500))
def test_values_never_repeat_within_a_process(instance: bytes, start: int, n: int) -> None:
    """Consecutive values of one generator are distinct, fixed-length and recognisable."""
    g = ClassGenerator(instance, start)
    values = [g.next_value() for _ in range(n)]
    assert len(set(values)) == n
    assert all(len(v) == VALUE_LENGTH and is_ours(v) and v.isascii() for v in values)


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8), st.integers(0, 1000))
def test_instances_never_share_a_value(a: bytes, b: bytes, start: int) -> None:
    """Two processes (different prefixes) never produce the same value, whatever their counters."""
    if a == b:
        return
    ga, gb = ClassGenerator(a, start), ClassGenerator(b, start)
    assert {ga.next_value() for _ in range(5)}.isdisjoint({gb.next_value() for _ in range(5)})


def test_attribute_is_well_formed() -> None:
    """The encoded attribute is type 25 with the right length, and decodes to the value."""
    g = ClassGenerator(b"\x01" * 8, 41)
    attr = g.next_attr()
    assert attr[0] == codec.CLASS and attr[1] == len(attr) == VALUE_LENGTH + 2
    assert attr[2:] == b"aaad:0101010101010101:0000000000000029"


def test_random_prefix_per_generator() -> None:
    """Generators made without a prefix draw their own (a restart never reuses values)."""
    assert ClassGenerator().instance != ClassGenerator().instance


def test_every_accept_carries_its_own_class() -> None:
    """Accepts (walled garden included) carry one Class each, all different; rejects none."""
    proto, tr, *_ = make()
    seen = []
    for user, pw in (("alice", "alice-pass"), ("alice", "alice-pass"), ("erin", "erin-pass")):
        req = pap_req(user, pw)
        proto.datagramReceived(req, NAS_ADDR)
        p = reply_of(tr, req)
        assert p.code == codec.ACCESS_ACCEPT
        (value,) = p.get_all(codec.CLASS)
        assert is_ours(value)
        seen.append(value)
    assert len(set(seen)) == 3
    req = pap_req("alice", "wrong")
    proto.datagramReceived(req, NAS_ADDR)
    assert reply_of(tr, req).get(codec.CLASS) is None
