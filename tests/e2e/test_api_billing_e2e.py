"""End to end: billing's documents and money through the running daemon's admin API over real HTTP:
an invoice's PDF rendered on the daemon's read pool, a payment retried with one Idempotency-Key (one
payment), its receipt, and a report as CSV."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import Daemon, DaemonFactory


class Http:
    """JSON and bytes over real HTTP with a bearer token."""

    def __init__(self, d: Daemon, token: str):
        self.d, self.token = d, token

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.d.url("/api/v1" + path), data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        code, _, raw = self.call(method, path, body, **kw)
        return code, json.loads(raw)


@pytest.fixture(scope="module")
def billing_daemon(tmp_path_factory: Any) -> Any:
    """A daemon on SQLite with the whole demo (billing included) and an org token."""
    f = DaemonFactory(tmp_path_factory.mktemp("apibill"))
    conf, data_dir = f.configure(demo=False)
    r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(conf), "demo"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    d = f.start(conf, data_dir)
    out = d.cli("token", "create", "--org", "demo", "--name", "e2e billing").stdout
    token = next(w for w in out.split() if w.startswith("aaad_"))
    yield Http(d, token)
    f.close()


def test_invoice_pdf_and_html_over_http(billing_daemon: Http) -> None:
    """The newest invoice as PDF (starts with %PDF, named by its number) and as HTML."""
    api = billing_daemon
    code, page = api.json("GET", "/invoices?limit=1")
    assert code == 200 and page["items"]
    inv = page["items"][0]
    code, headers, body = api.call("GET", f"/invoices/{inv['id']}.pdf")
    assert code == 200 and body.startswith(b"%PDF") and headers["Content-Type"] == "application/pdf"
    assert f'{inv["number"]}.pdf' in headers["Content-Disposition"]
    code, headers, body = api.call("GET", f"/invoices/{inv['id']}.html")
    assert code == 200 and inv["number"].encode() in body


def test_retried_payment_is_recorded_once_and_has_a_receipt(billing_daemon: Http) -> None:
    """POST /payments twice with one Idempotency-Key: one payment, the same 201 body; another body with the
    key: 409; the receipt PDF follows.  (Racing retries: tests/e2e/test_api_e2e.py.)"""
    api = billing_daemon
    code, cust = api.json("POST", "/customers", {"name": "Retrying Payer"})
    assert code == 201
    body = {"customer_id": cust["id"], "amount": 2_500, "method": "mobile_money", "reference": "E2E-RETRY-1"}
    answers = [api.call("POST", "/payments", body, headers={"Idempotency-Key": "e2e-retry-1"}) for _ in range(2)]
    assert [a[0] for a in answers] == [201, 201] and answers[0][2] == answers[1][2]
    assert answers[1][1].get("Idempotent-Replayed") == "true"
    code, listed = api.json("GET", f"/payments?customer_id={cust['id']}")
    assert code == 200 and len(listed["items"]) == 1
    pid = listed["items"][0]["id"]
    code, _, pdf = api.call("GET", f"/payments/{pid}/receipt.pdf")
    assert code == 200 and pdf.startswith(b"%PDF")
    code, err = api.json("POST", "/payments", {**body, "amount": 1}, headers={"Idempotency-Key": "e2e-retry-1"})
    assert code == 409 and err["error"]["code"] == "idempotency_mismatch"


def test_revenue_csv_over_http(billing_daemon: Http) -> None:
    """The revenue report as CSV parses, with the header line and the JSON's rows."""
    api = billing_daemon
    code, report = api.json("GET", "/reports/revenue")
    code_csv, headers, raw = api.call("GET", "/reports/revenue.csv")
    assert code == code_csv == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    assert rows and [r["period"] for r in rows] == [r["period"] for r in report["rows"]]
    assert sum(int(r["total"]) for r in rows) == report["totals"]["total"]
