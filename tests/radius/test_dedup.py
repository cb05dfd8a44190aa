"""The duplicate cache (RFC 5080 section 2.2.2) on its own: the window, the bound, and expiry work
spread over requests (never a pause of one request that pays for a whole quiet period)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task

from aaad.radius.dedup import EVICT_PER_INSERT, PENDING, DedupCache


def key(i: int) -> tuple[str, int, int, bytes]:
    return ("192.0.2.1", 1024 + i // 256, i % 256, i.to_bytes(16, "big"))


def test_new_pending_then_cached_reply() -> None:
    c = DedupCache(task.Clock(), window=5)
    assert c.lookup(key(1)) is None
    assert c.lookup(key(1)) == PENDING
    c.answered(key(1), b"reply")
    assert c.lookup(key(1)) == b"reply"


def test_forget_drops_only_a_pending_entry() -> None:
    c = DedupCache(task.Clock(), window=5)
    c.lookup(key(1))
    c.forget(key(1))
    assert c.lookup(key(1)) is None          # handled anew
    c.answered(key(1), b"reply")
    c.forget(key(1))                          # answered: kept
    assert c.lookup(key(1)) == b"reply"


def test_an_expired_entry_is_new_even_before_it_is_evicted() -> None:
    """After a quiet period nothing is evicted yet, but a late retransmission is not answered from
    a cache entry older than the window: it is a new request."""
    clock = task.Clock()
    c = DedupCache(clock, window=5)
    c.lookup(key(1))
    c.answered(key(1), b"old")
    clock.advance(5)
    assert c.lookup(key(1)) is None
    c.answered(key(1), b"new")
    assert c.lookup(key(1)) == b"new"


def test_the_stale_order_entry_of_a_renewed_key_does_not_evict_it() -> None:
    clock = task.Clock()
    c = DedupCache(clock, window=5)
    c.lookup(key(1))
    clock.advance(5)
    c.lookup(key(1))                          # renewed: a second order entry for the same key
    c.answered(key(1), b"r")
    for i in range(2, 2 + 4 * EVICT_PER_INSERT):  # evicts the first order entry
        c.lookup(key(i))
    assert c.lookup(key(1)) == b"r"


def test_a_quiet_period_is_evicted_a_few_entries_per_request() -> None:
    """The first request after the window has passed over N entries evicts a bounded number of
    them (it used to evict all N: 75 ms for 200,000 entries); the rest go with later requests,
    and the cache gets back to its steady size."""
    clock = task.Clock()
    c = DedupCache(clock, window=5)
    n = 10_000
    for i in range(n):
        c.lookup(key(i))
    clock.advance(6)
    c.lookup(key(n))
    assert len(c) >= n + 1 - EVICT_PER_INSERT
    for i in range(n + 1, 2 * n):
        c.lookup(key(i))
    assert len(c) == n                        # the old n gone, the new n kept


def test_the_bound_holds_on_entries_within_the_window() -> None:
    c = DedupCache(task.Clock(), window=5, max_entries=100)
    for i in range(1000):
        c.lookup(key(i))
        assert len(c) <= 100
    assert c.lookup(key(999)) == PENDING      # the newest kept, the oldest gone
    assert c.lookup(key(0)) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["lookup", "answer", "forget"]),
                          st.floats(0, 3)), max_size=60))
def test_matches_a_model_with_exact_expiry(ops: list[tuple[int, str, float]]) -> None:
    """Whatever the order of requests, answers and time, the cache says what a model that expires
    each entry exactly at its deadline says, while it stays under its bound."""
    clock = task.Clock()
    c = DedupCache(clock, window=5, max_entries=1000)
    model: dict[int, tuple[float, bytes]] = {}
    for k, op, dt in ops:
        clock.advance(dt)
        now = clock.seconds()
        live = model.get(k)
        if live is not None and live[0] <= now:
            live = None
            del model[k]
        if op == "lookup":
            got = c.lookup(key(k))
            if live is None:
                assert got is None
                model[k] = (now + 5, PENDING)
            else:
                assert got == live[1]
        elif op == "answer":
            c.answered(key(k), b"r%d" % k)
            if live is not None:
                model[k] = (live[0], b"r%d" % k)
        else:
            c.forget(key(k))
            if live is not None and live[1] == PENDING:
                del model[k]


def test_request_key_is_the_same_tuple_in_both_implementations() -> None:
    from aaad.radius.codec import _PY_FUNCTIONS
    from aaad.radius.codec import _speedups as c
    args = ("192.0.2.1", 1812, 7, bytes(range(16)))
    assert _PY_FUNCTIONS["request_key"](*args) == args
    if c is not None:
        assert c.request_key(*args) == args
        assert hash(c.request_key(*args)) == hash(args)


def test_with_the_c_codec_nothing_kept_per_request_is_tracked_by_the_collector() -> None:
    """The cache's per-request objects never reach the cycle collector (see the module's note):
    with the C codec's keys, every key, reply and deadline it holds is untracked."""
    import gc

    from aaad.radius import codec
    if codec._speedups is None:
        return
    c = DedupCache(task.Clock(), window=5)
    for i in range(100):
        k = codec._speedups.request_key("192.0.2.1", 1024 + i, i % 256, i.to_bytes(16, "big"))
        c.lookup(k)
        c.answered(k, b"reply %d" % i)
    kept = [*c._entries, *c._entries.values(), *c._deadlines.values(), *c._times, *c._keys]
    assert len(kept) == 500
    assert not any(gc.is_tracked(o) for o in kept)
    assert not gc.is_tracked(codec._speedups.request_key("h", 1, 2, b"a")) and \
        gc.is_tracked(codec._speedups.request_key("h", 1, 2, [b"a"]))  # type: ignore[arg-type]  # a container stays tracked
