"""The portal's pure decisions: how long a sign-in waits, where ?next= may lead, bytes for people."""
from __future__ import annotations

from datetime import timedelta

import pytest

from web.portal.accounts import wait_after
from web.portal.app import octets, safe_next

CAP = timedelta(minutes=15)


def test_no_wait_below_the_limit() -> None:
    """Fewer failures than the limit: no wait at all."""
    assert all(wait_after(n, 5, CAP) is None for n in range(5))


@pytest.mark.parametrize("failures", range(5, 200))
def test_wait_doubles_from_a_minute_and_never_exceeds_the_cap(failures: int) -> None:
    """At the limit a minute, then doubling; whatever the count, at most the cap (no permanent lock-out)."""
    wait = wait_after(failures, 5, CAP)
    assert wait is not None and timedelta(minutes=1) <= wait <= CAP
    assert wait == min(timedelta(minutes=2 ** (failures - 5)) if failures < 30 else CAP, CAP)


@pytest.mark.parametrize("given, kept", [
    ("", ""), ("suspended", "suspended"), ("pay/balance", "pay/balance"), ("invoices/5.html", "invoices/5.html"),
    ("/demo/portal/suspended", "suspended"),
    ("/other/portal/", ""), ("//evil.example/", ""), ("https://evil.example/", ""), ("../other/portal/", ""),
    ("pay/../../x", ""), ("/", ""), ("javascript:alert(1)", ""), ("a b", ""), ("x?y=1", ""),
])
def test_next_stays_inside_the_portal(given: str, kept: str) -> None:
    """Only a path inside this org's portal survives as ?next=; anything else is dropped."""
    assert safe_next(given, "demo") == kept


def test_octets_for_people() -> None:
    """Powers of 1000 with one decimal, whole bytes below a kilobyte."""
    assert [octets(n) for n in (0, 999, 1000, 1_500_000_000, 3 * 10**15)] == [
        "0 B", "999 B", "1.0 kB", "1.5 GB", "3000.0 TB"]
