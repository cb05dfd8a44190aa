"""Micro-benchmark: MS-CHAPv2 checks per second on one core.

Run: ``.venv/bin/python bench/bench_mschap.py [seconds-per-case]``. Figures,
not a test.
Prints checks/s for a successful check (which also derives the
authenticator response and MPPE keys) and a failed one, each with and
without a precomputed NT hash.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aaad.auth import mschap  # noqa: E402

USERNAME = b"ACME\\alice"
PASSWORD = b"correct horse battery staple"


def _rate(label: str, fn: Callable[[], object], seconds: float) -> float:
    """Run ``fn`` repeatedly for about ``seconds`` and print the rate."""
    count = 0
    batch = 500
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            break
    rate = count / (now - start)
    print(f"{label:<44} {rate:>10,.0f} checks/s  ({1e6 / rate:6.1f} us/check)")
    return rate


def main(argv: list[str]) -> int:
    """Benchmark check_v2 with and without a precomputed nt_hash."""
    seconds = float(argv[1]) if len(argv) > 1 else 1.0
    auth_challenge = os.urandom(16)
    peer_challenge = os.urandom(16)
    nt_response = mschap.generate_nt_response(
        auth_challenge, peer_challenge, USERNAME, PASSWORD
    )
    good = bytes((1, 0)) + peer_challenge + bytes(8) + nt_response
    bad = good[:-1] + bytes((good[-1] ^ 1,))
    nt_hash = mschap.nt_password_hash(PASSWORD)
    assert mschap.check_v2(USERNAME, PASSWORD, auth_challenge, good).ok
    assert mschap.check_v2(USERNAME, PASSWORD, auth_challenge, good, nt_hash).ok
    assert not mschap.check_v2(USERNAME, PASSWORD, auth_challenge, bad, nt_hash).ok

    _rate(
        "check_v2 success, cleartext password",
        lambda: mschap.check_v2(USERNAME, PASSWORD, auth_challenge, good),
        seconds,
    )
    _rate(
        "check_v2 success, precomputed nt_hash",
        lambda: mschap.check_v2(USERNAME, PASSWORD, auth_challenge, good, nt_hash),
        seconds,
    )
    _rate(
        "check_v2 failure, cleartext password",
        lambda: mschap.check_v2(USERNAME, PASSWORD, auth_challenge, bad),
        seconds,
    )
    _rate(
        "check_v2 failure, precomputed nt_hash",
        lambda: mschap.check_v2(USERNAME, PASSWORD, auth_challenge, bad, nt_hash),
        seconds,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
