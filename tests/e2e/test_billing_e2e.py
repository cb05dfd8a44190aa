"""End to end: money and access never disagree.  An invoice unpaid past grace is
dunned by the daily job (a CLI process), the running daemon applies the org's
suspension behaviour to radclient within a second; ``aaad payment add`` (another
process) clears the arrears and the very next radclient request within a second is
accepted at the plan's rate.  Both suspension modes, SQLite and PostgreSQL."""
from __future__ import annotations

import json
import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.e2e.test_auth_e2e import radclient
from tests.e2e.test_write_path_e2e import pap, until

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")

# Jobs stay off in the daemon: the test runs the dunning pass itself, as a CLI process.
NO_JOBS = "[jobs]\nenabled = false\n"


def overdue_customer(d: Daemon, mode: str) -> tuple[str, str, int]:
    """A customer on a 10M plan activated 40 days ago whose first invoice (14-day terms,
    no grace) is overdue: (login, password, amount due in minor units)."""
    from aaad import app, orgs
    from aaad.db import sync_engine
    from aaad.view.write import LoginWriter
    from billing import catalogue, customers, ledger, services, settings
    conf = app.load_config(str(d.config_path))
    engine = sync_engine(app.database_url(conf))
    writer = LoginWriter(app.secret_box(conf))
    then = datetime.now(UTC) - timedelta(days=40)
    try:
        with engine.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            settings.update(c, org.id, then, grace_days=0, payment_terms_days=14, suspend_mode=mode)
            prod = catalogue.add_product(c, writer, org.id, then, name=f"E2E 12M {mode}", type="internet",
                                         price=2500, rate_limit="12M/12M")
            cust = customers.add(c, org.id, then, name=f"Late Payer {mode}", rng=random.Random(7))
            svc = services.add(c, writer, org.id, cust.id, prod.id, then, start=then.date(),
                               username=f"late-{mode}", password="late-pass")
            assert svc.state == "active"
            owed = ledger.balance(c, org.id, cust.id)
    finally:
        engine.dispose()
    assert owed > 0
    return f"late-{mode}", cust.username, owed


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


@pytest.mark.parametrize("mode", ["reject", "walled_garden"])
def test_dunning_suspends_and_a_payment_resumes_within_a_second(daemon_factory: Any, mode: str) -> None:
    """Unpaid past grace → suspended by the daily job → radclient sees the org's suspension
    mode; a payment from another process → accepted at the plan's rate within a second."""
    d = daemon_factory(extra=NO_JOBS)
    login, customer, owed = overdue_customer(d, mode)
    assert until(lambda: "12M/12M" in radclient(d, pap(login, "late-pass")).stdout)
    r = d.cli("jobs", "run", "billing.dunning", "--org", "demo")
    assert "done" in r.stdout
    if mode == "reject":
        out = until(lambda: (lambda o: o if "Access-Reject" in o else "")(radclient(d, pap(login, "late-pass")).stdout))
        assert 'Reply-Message = "account suspended"' in out
    else:
        out = until(lambda: (lambda o: o if "suspended" in o else "")(radclient(d, pap(login, "late-pass")).stdout))
        assert "Access-Accept" in out and 'Mikrotik-Address-List = "suspended"' in out
        assert "12M/12M" not in out
    r = d.cli("payment", "add", customer, _money(owed), "--method", "cash", "--reference", f"e2e-{mode}",
              "--json")
    paid_at = time.monotonic()
    assert json.loads(r.stdout)["resumed_service_ids"]
    out = until(lambda: (lambda o: o if "12M/12M" in o else "")(radclient(d, pap(login, "late-pass")).stdout),
                timeout=5)
    assert "Access-Accept" in out and 'Mikrotik-Rate-Limit = "12M/12M"' in out
    assert time.monotonic() - paid_at < 1.5  # one change-feed poll (0.25 s) plus radclient's own start-up
    r = d.cli("billing", "check")
    assert r.returncode == 0


def test_the_same_on_postgresql(daemon_factory: Any, pg_cluster: Any) -> None:
    """On PostgreSQL the payment reaches the daemon through LISTEN/NOTIFY as fast."""
    d = daemon_factory(db_url=pg_cluster.new_database(), extra=NO_JOBS)
    login, customer, owed = overdue_customer(d, "reject")
    d.cli("jobs", "run", "billing.dunning", "--org", "demo")
    assert until(lambda: "Access-Reject" in radclient(d, pap(login, "late-pass")).stdout)
    d.cli("payment", "add", customer, _money(owed), "--method", "bank", "--reference", "pg-1")
    t0 = time.monotonic()
    assert until(lambda: "12M/12M" in radclient(d, pap(login, "late-pass")).stdout, timeout=5)
    assert time.monotonic() - t0 < 1.5
