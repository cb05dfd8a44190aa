"""End to end: Paystack on the real daemon against the fake Paystack (tests/fake_paystack.py) on loopback.

The org's Paystack key and the fake's URL are set with ``aaad billing gateway`` as an operator
would; a dunned customer signs in to the portal over HTTP and presses Pay now: the daemon
initialises the payment at the fake and redirects to its checkout; "Pay" there sends the signed
charge.success webhook to ``/gateway/paystack/demo/webhook`` and the browser back to the return
page, which says Successful; the payment is credited once (a replayed webhook: nothing more; a
forged one: 403) and radclient is accepted at the plan's rate.  A second payment left pending
at Paystack (the webhook withheld) is confirmed by ``aaad jobs run billing.gateway_recheck``."""
from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Daemon
from tests.e2e.test_auth_e2e import radclient
from tests.e2e.test_billing_e2e import NO_JOBS, overdue_customer
from tests.e2e.test_gateway_e2e import payments_of
from tests.e2e.test_write_path_e2e import pap, until
from tests.fake_paystack import FakePaystack

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a: Any, **kw: Any) -> None:
        return None


class Browser:
    """urllib with cookies, no automatic redirects."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def go(self, url: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")
        try:
            with self.opener.open(req, timeout=15) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def with_email(d: Daemon, username: str, email: str, password: str) -> None:
    from datetime import UTC, datetime

    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing import customers
    from billing.schema import customers as customers_t
    engine = sync_engine(app.database_url(app.load_config(str(d.config_path))))
    try:
        with engine.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            cust = customers.find(c, org.id, username)
            assert cust is not None
            c.execute(sa.update(customers_t).where(customers_t.c.id == cust.id).values(email=email))
            customers.set_password(c, org.id, cust.id, password, datetime.now(UTC))
    finally:
        engine.dispose()


def test_paystack_on_the_daemon(daemon_factory: Any, tmp_path: Path) -> None:
    d = daemon_factory(extra=NO_JOBS)
    login, customer, owed = overdue_customer(d, "reject")
    d.cli("jobs", "run", "billing.dunning", "--org", "demo")
    assert until(lambda: "Access-Reject" in radclient(d, pap(login, "late-pass")).stdout)
    with_email(d, customer, "late@example.com", "Late-portal-2026")
    with FakePaystack() as fake:
        fake.webhook_url = d.url("/gateway/paystack/demo/webhook")
        keyfile = tmp_path / "paystack.key"
        keyfile.write_text(fake.secret_key + "\n")
        out = d.cli("billing", "gateway", "--org", "demo", "--paystack-secret-key-file", str(keyfile),
                    "--paystack-url", fake.url, "--use", "paystack").stdout
        assert "gateway  paystack" in out and fake.secret_key not in out

        b = Browser()
        code, _, page = b.go(d.url("/demo/portal/login"))
        assert code == 200
        code, headers, _ = b.go(d.url("/demo/portal/login"), {"csrf": csrf(page), "identifier": "late@example.com",
                                                               "password": "Late-portal-2026", "next": ""})
        assert code == 303, headers
        code, _, page = b.go(d.url("/demo/portal/suspended"))
        assert code == 200 and "Pay now" in page
        code, headers, _ = b.go(d.url("/demo/portal/pay/balance"), {"csrf": csrf(page)})
        assert code == 303 and headers["Location"].startswith(f"{fake.url}/checkout/"), headers
        (init,) = [r for r in fake.requests() if r.path == "/transaction/initialize"]
        ref = init.json["reference"]
        assert (init.json["amount"], init.json["email"]) == (owed, "late@example.com")
        assert init.json["callback_url"] == d.url(f"/demo/portal/pay/return/{ref}")
        code, _, checkout = b.go(headers["Location"])
        assert code == 200 and f"{owed // 100}.{owed % 100:02d}" in checkout
        code, headers, _ = b.go(headers["Location"], {"action": "pay"})
        assert code == 302 and headers["Location"].startswith(d.url(f"/demo/portal/pay/return/{ref}?"))
        assert [x.answer for x in fake.delivered] == [200]
        code, _, page = b.go(headers["Location"])
        assert code == 200 and "Payment successful" in page
        out = until(lambda: (lambda o: o if "12M/12M" in o else "")(radclient(d, pap(login, "late-pass")).stdout))
        assert "Access-Accept" in out
        assert payments_of(d, "paystack") == [(ref, owed)]

        # the same webhook again (Paystack retries): acknowledged, nothing more; a forged one: 403
        again = fake.deliver(*fake.webhook(ref))
        assert again == 200 and payments_of(d, "paystack") == [(ref, owed)]
        headers2, body = fake.webhook(ref, key="sk_test_" + "f" * 40)
        assert fake.deliver(headers2, body) == 403
        assert fake.deliver(*fake.webhook(ref), url=d.url("/gateway/paystack/nobody/webhook")) == 403

        # left pending at Paystack (mobile money awaiting approval), the webhook withheld: the job confirms it
        ref2 = open_pending(d, fake, 500)
        fake.complete(ref2, webhook=False)
        assert "billing.gateway_recheck" in d.cli("jobs", "list").stdout
        d.cli("jobs", "run", "billing.gateway_recheck", "--org", "demo")
        assert sorted(payments_of(d, "paystack")) == sorted([(ref, owed), (ref2, 500)])
        log = json.loads(d.cli("billing", "gateway", "--org", "demo", "--log", "--reference", ref2, "--json").stdout)
        assert [e["outcome"] for e in log][-1] == "credited" and log[-1]["source"] == "recheck"


def open_pending(d: Daemon, fake: FakePaystack, amount: int) -> str:
    """A Paystack transaction of ``amount`` for the same customer, initialised at the fake as the
    daemon does (the portal has nothing more to pay for this customer): its reference."""
    from datetime import UTC, datetime

    from aaad import app, orgs
    from aaad.db import sync_engine
    from billing import customers
    from billing.gateways import store
    engine = sync_engine(app.database_url(app.load_config(str(d.config_path))))
    try:
        with engine.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            cust = customers.find(c, org.id, "late@example.com")
            assert cust is not None
            tx = store.create(c, org.id, cust.id, "paystack", amount, org.currency, "balance", datetime.now(UTC))
    finally:
        engine.dispose()
    body = json.dumps({"email": "late@example.com", "amount": amount, "currency": tx.currency,
                       "reference": tx.reference, "callback_url": d.url(f"/demo/portal/pay/return/{tx.reference}")})
    req = urllib.request.Request(f"{fake.url}/transaction/initialize", data=body.encode(), method="POST",
                                 headers={"Authorization": f"Bearer {fake.secret_key}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["status"] is True
    return tx.reference
