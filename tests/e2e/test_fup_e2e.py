"""End to end: FUP tiers with the real daemon. radclient accounting pushes a login's usage
over a tier, the daemon's aggregation pass throttles it, and radclient auth gets the tier's
Mikrotik-Rate-Limit; the profile's tiers come from ``aaad profile add --tier``."""
from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.e2e.test_accounting_e2e import acct
from tests.e2e.test_auth_e2e import radclient
from tests.e2e.test_write_path_e2e import pap, until

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


def rate_when(d: Any, want: str) -> str:
    """radclient auth for tina until its Mikrotik-Rate-Limit is ``want`` (or the deadline)."""
    def check() -> str:
        out = radclient(d, pap("tina", "tina-pass")).stdout
        return out if f'Mikrotik-Rate-Limit = "{want}"' in out else ""
    return str(until(check, 20.0))


def test_crossing_tiers_changes_the_rate_radclient_gets(daemon_factory: Any) -> None:
    """Full rate below the first tier; after the pass that sees 5 kB, tier 1's 5M/5M; after
    2 MB, tier 2's 1M/1M; each change is a login.throttled event in the outbox."""
    d = daemon_factory(extra="[accounting]\naggregation_interval = 2\n")  # a pass every 2 s
    d.cli("profile", "add", "tiered", "--rate-limit", "10M/10M", "--tier", "1K:5M/5M", "--tier", "1M:1M/1M")
    listed = json.loads(d.cli("profile", "list", "--json").stdout)
    assert [p["tiers"] for p in listed if p["name"] == "tiered"] == [
        [{"after": 1000, "rate_limit": "5M/5M"}, {"after": 10**6, "rate_limit": "1M/1M"}]]
    d.cli("user", "add", "tina", "--password", "tina-pass", "--profile", "tiered")
    assert rate_when(d, "10M/10M")
    base = 'User-Name = "tina"\nAcct-Session-Id = "fup-1"\nMessage-Authenticator = 0x00\n'
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Start\n").stdout
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Interim-Update\n"
                                                "Acct-Input-Octets = 5000\nAcct-Session-Time = 60\n").stdout
    assert rate_when(d, "5M/5M")
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Interim-Update\n"
                                                "Acct-Output-Octets = 2000000\nAcct-Input-Octets = 5000\n"
                                                "Acct-Session-Time = 120\n").stdout
    assert rate_when(d, "1M/1M")
    assert throttled_events(d) == [(0, 1), (1, 2)]


def throttled_events(d: Any) -> list[tuple[int, int]]:
    """(old, new) of tina's login.throttled events in the outbox."""
    import sqlalchemy as sa

    from aaad import app
    from aaad.db import sync_engine
    from aaad.schema import events
    engine = sync_engine(app.database_url(app.load_config(str(d.config_path))))
    try:
        with engine.connect() as c:
            rows = [json.loads(r.payload) for r in c.execute(
                sa.select(events.c.payload).where(events.c.type == "login.throttled").order_by(events.c.id))]
    finally:
        engine.dispose()
    return [(p["old_level"], p["new_level"]) for p in rows if p["username"] == "tina"]
