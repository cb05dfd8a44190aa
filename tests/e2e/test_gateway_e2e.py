"""End to end: the built-in test gateway on the real daemon.  A dunned customer's payment is
opened (as the portal's pay-now does), the hosted page is fetched and its Succeed button
pressed over real HTTP: the daemon settles the signed webhook, credits the payment once and
the next radclient request is accepted at the plan's rate; a forged webhook gets 403; a
payment left pending is credited by ``aaad jobs run billing.gateway_recheck``."""
from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Daemon
from tests.e2e.test_auth_e2e import radclient
from tests.e2e.test_billing_e2e import NO_JOBS, overdue_customer
from tests.e2e.test_write_path_e2e import pap, until

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a: Any, **kw: Any) -> None:
        return None


def http(d: Daemon, method: str, path: str, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(d.url(path), data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def open_payment(d: Daemon, username: str, amount: int | None = None) -> str:
    """What the portal's pay-now does before redirecting: a gateway transaction (the balance, or
    ``amount``) opened at the test gateway; its reference."""
    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing import customers
    from billing.gateways import store
    from billing.gateways import test as test_gw
    conf = app.load_config(str(d.config_path))
    engine = sync_engine(app.database_url(conf))
    now = datetime.now(UTC)
    try:
        with engine.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            cust = customers.find(c, org.id, username)
            assert cust is not None
            box = app.secret_box(conf)
            store.set_gateway(c, box, org.id, "test", now)      # none by default
            if amount is None:
                tx = store.create_for_balance(c, box, org.id, cust.id, now)
            else:
                tx = store.create(c, org.id, cust.id, "test", amount, org.currency, "balance", now)
            test_gw.provider_open(c, org.id, tx.reference, tx.amount, tx.currency,
                                  d.url(f"/demo/portal/pay/return/{tx.reference}"), now)
            return tx.reference
    finally:
        engine.dispose()


def payments_of(d: Daemon, method: str = "test") -> list[Any]:
    from aaad import app
    from aaad.db import sync_engine
    from billing.schema import payments
    engine = sync_engine(app.database_url(app.load_config(str(d.config_path))))
    try:
        with engine.connect() as c:
            return list(c.execute(sa.select(payments.c.reference, payments.c.amount)
                                  .where(payments.c.method == method)).all())
    finally:
        engine.dispose()


def press(d: Daemon, ref: str, outcome: str) -> tuple[int, dict[str, str], str]:
    code, _, page = http(d, "GET", f"/gateway/test/demo/{ref}")
    assert code == 200, page
    token = re.search(r'name="token" value="([0-9a-f]+)"', page)
    assert token, page
    form = urllib.parse.urlencode({"token": token.group(1), "outcome": outcome}).encode()
    return http(d, "POST", f"/gateway/test/demo/{ref}", form, {"Content-Type": "application/x-www-form-urlencoded"})


def test_test_gateway_pays_and_resumes_on_the_daemon(daemon_factory: Any) -> None:
    """Dunned -> rejected; the hosted page's Succeed -> one payment, accepted at the plan's rate;
    the webhook endpoint refuses a forged webhook; a pending payment is confirmed by the job."""
    d = daemon_factory(extra=NO_JOBS)
    login, customer, owed = overdue_customer(d, "reject")
    d.cli("jobs", "run", "billing.dunning", "--org", "demo")
    assert until(lambda: "Access-Reject" in radclient(d, pap(login, "late-pass")).stdout)
    ref = open_payment(d, customer)
    code, headers, page = http(d, "GET", f"/gateway/test/demo/{ref}")
    assert code == 200 and f"{owed // 100}.{owed % 100:02d}" in page
    code, headers, _ = press(d, ref, "success")
    assert code == 303 and headers["Location"] == d.url(f"/demo/portal/pay/return/{ref}")
    out = until(lambda: (lambda o: o if "12M/12M" in o else "")(radclient(d, pap(login, "late-pass")).stdout))
    assert "Access-Accept" in out
    assert payments_of(d) == [(ref, owed)]
    forged = http(d, "POST", "/gateway/test/webhook", b'{"org": "demo", "reference": "%s"}' % ref.encode(),
                  {"X-Aaad-Test-Signature": "0" * 64})
    assert forged[0] == 403
    # left pending, completed later at the gateway with its webhook lost: the re-check job credits it
    ref2 = open_payment(d, customer, amount=500)
    assert press(d, ref2, "pending")[0] == 303
    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing.gateways import test as test_gw
    engine = sync_engine(app.database_url(app.load_config(str(d.config_path))))
    with engine.begin() as c:
        org = orgs.get_by_slug(c, "demo")
        assert org is not None
        test_gw.press(c, org.id, ref2, "success", datetime.now(UTC))
    engine.dispose()
    assert "billing.gateway_recheck" in d.cli("jobs", "list").stdout
    d.cli("jobs", "run", "billing.gateway_recheck", "--org", "demo")
    assert sorted(payments_of(d)) == sorted([(ref, owed), (ref2, 500)])
