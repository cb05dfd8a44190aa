"""/payments and /refunds: list with filters, one payment with its allocations, recording one (allocations,
credit, balance, resumed services), idempotent retries, receipts, refunds of credit; errors, other orgs'
ids and the read-only token."""
from __future__ import annotations

from typing import Any

from billing.schema import payments, refunds
from tests.web.api.billing_helpers import all_items, customer, one_off
from tests.web.api.conftest import ApiClient, World, count


def _pay(api: ApiClient, customer_id: int, amount: int, reference: str, **kw: Any) -> dict[str, Any]:
    r = api.post("/payments", {"customer_id": customer_id, "amount": amount, "method": "bank",
                               "reference": reference, **kw})
    assert r.code == 201, r.text
    return dict(r.json())


def test_list_is_the_orgs_payments_and_pages_coverall_items(api: ApiClient, world: World) -> None:
    """Cursor pages (limit 3) visit each of the org's payments once, newest first; none of the other org's."""
    mine = all_items(api, "/payments?limit=3")
    ids = [p["id"] for p in mine]
    assert ids == sorted(ids, reverse=True) and len(ids) == count(world, payments, org_id=world.demo)
    theirs = {p["id"] for p in all_items(api.as_("other"), "/payments?limit=500")}
    assert theirs and not theirs & set(ids)


def test_list_filters_by_customer_method_and_time(api: ApiClient) -> None:
    """customer_id, method and since/until (RFC 3339) narrow the list; sort=amount orders by amount."""
    every = all_items(api, "/payments?limit=500")
    cid = every[0]["customer_id"]
    assert {p["customer_id"] for p in all_items(api, f"/payments?customer_id={cid}")} == {cid}
    assert {p["method"] for p in all_items(api, "/payments?method=mobile_money")} == {"mobile_money"}
    assert all_items(api, "/payments?method=cheque") == []
    assert [p["id"] for p in all_items(api, f"/payments?receipt_number={every[2]['receipt_number']}")] == [
        every[2]["id"]]
    since = all_items(api, "/payments?since=2026-11-20T00:00:00Z")
    until = all_items(api, "/payments?until=2026-11-20T00:00:00Z")
    assert since and until and len(since) + len(until) == len(every)
    assert all(p["received_at"] >= "2026-11-20" for p in since)
    amounts = [p["amount"] for p in all_items(api, "/payments?sort=amount&limit=2")]
    assert amounts == sorted(amounts)


def test_bad_list_parameters_are_422(api: ApiClient) -> None:
    """A time without a zone, a bad method and a bad sort: 422 naming each; until before since: 422 until."""
    r = api.get("/payments?since=2026-11-20T00:00:00&method=Not%20A%20Method&sort=colour")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"since", "method", "sort"}
    r = api.get("/payments?since=2026-11-20T00:00:00Z&until=2026-11-01T00:00:00Z")
    assert r.code == 422 and r.json()["error"]["field"] == "until"


def test_record_settles_open_invoices_and_keeps_the_rest_as_credit(api: ApiClient, world: World) -> None:
    """A payment larger than the open invoice: allocated to it, the rest is credit; the invoice is paid;
    GET shows the same allocations; the receipt number is new."""
    cid = customer(api, "Pays Ahead")
    inv = one_off(api, cid, price=2_000)                      # 23.00 with VAT
    r = _pay(api, cid, 3_000, "BANK-1001", note="by transfer")
    assert r["receipt_number"].startswith("RC-") and r["currency"] == "USD" and r["note"] == "by transfer"
    assert r["allocations"] == [{"invoice_id": inv["id"], "invoice_number": inv["number"], "amount": 2_300}]
    assert (r["credit"], r["credit_available"], r["balance"]) == (700, 700, -700)
    assert r["resumed_service_ids"] == []
    assert api.get(f"/invoices/{inv['id']}").json()["state"] == "paid"
    got = api.get(f"/payments/{r['id']}").json()
    assert got["allocations"] == r["allocations"] and got["credit"] == 700 and got["amount"] == 3_000


def test_paying_arrears_resumes_the_suspended_service(api: ApiClient) -> None:
    """The demo's yaw is suspended for arrears: paying what he owes resumes his service."""
    yaw = api.get("/customers?q=yaw").json()["items"][0]
    owed = sum(i["amount_due"] for i in all_items(api, f"/invoices?customer_id={yaw['id']}&state=open"))
    assert owed > 0
    r = _pay(api, yaw["id"], owed, "YAW-ARREARS")
    assert r["balance"] == 0 and r["resumed_service_ids"]


def test_record_validation_names_every_field(api: ApiClient, world: World) -> None:
    """Zero amount, an upper-case method, no reference and an unknown field: one 422 naming all four."""
    before = count(world, payments, org_id=world.demo)
    r = api.post("/payments", {"customer_id": 1, "amount": 0, "method": "Cash", "colour": "red"})
    assert r.code == 422
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"amount", "method", "reference", "colour"}
    assert api.post("/payments", {"customer_id": 1, "amount": "12.50", "method": "cash",
                                  "reference": "x"}).json()["error"]["field"] == "amount"
    assert count(world, payments, org_id=world.demo) == before


def test_record_domain_errors(api: ApiClient, world: World) -> None:
    """A reference already recorded: 422 reference; another org's customer: 422 customer_id; a future
    received_at: 422 received_at; nothing recorded."""
    cid = customer(api, "Dup Ref")
    _pay(api, cid, 100, "DUP-1")
    before = count(world, payments, org_id=world.demo)
    r = api.post("/payments", {"customer_id": cid, "amount": 100, "method": "bank", "reference": "DUP-1"})
    assert r.code == 422 and r.json()["error"]["field"] == "reference"
    theirs = api.as_("other").get("/customers?limit=1").json()["items"][0]["id"]
    r = api.post("/payments", {"customer_id": theirs, "amount": 100, "method": "bank", "reference": "X-9"})
    assert r.code == 422 and r.json()["error"]["field"] == "customer_id"
    r = api.post("/payments", {"customer_id": cid, "amount": 100, "method": "bank", "reference": "X-10",
                               "received_at": "2027-01-01T00:00:00Z"})
    assert r.code == 422 and r.json()["error"]["field"] == "received_at"
    for bad in ("0001-01-01T00:00:00+05:00", "2026-11-01T00:00:00", "1969-12-31T23:59:59Z"):
        r = api.post("/payments", {"customer_id": cid, "amount": 100, "method": "bank", "reference": "X-11",
                                   "received_at": bad})
        assert r.code == 422 and r.json()["error"]["field"] == "received_at", bad
    r = api.post("/payments", {"customer_id": cid, "amount": 100, "method": "bank", "reference": "X\u0000"})
    assert r.code == 422 and r.json()["error"]["field"] == "reference"
    assert api.get("/payments?since=0001-01-01T00:00:00%2B14:00").code == 422
    assert api.get("/payments?until=0").code == 422
    assert count(world, payments, org_id=world.demo) == before


def test_received_at_in_the_past_is_kept(api: ApiClient) -> None:
    """A payment that came in yesterday is recorded with that time."""
    cid = customer(api, "Paid Yesterday")
    r = _pay(api, cid, 100, "Y-1", received_at="2026-11-29T08:30:00+01:00")
    assert r["received_at"] == "2026-11-29T07:30:00Z" and r["created_at"] == "2026-11-30T12:00:00Z"


def test_idempotent_payment_is_recorded_once(api: ApiClient, world: World) -> None:
    """The same POST /payments twice with one Idempotency-Key: one payment, the same body both times;
    the same key with another body: 409, nothing recorded."""
    cid = customer(api, "Retry Payer")
    before = count(world, payments, org_id=world.demo)
    key = {"Idempotency-Key": "pay-retry-1"}
    body = {"customer_id": cid, "amount": 1_500, "method": "mobile_money", "reference": "MM-777"}
    a = api.post("/payments", body, headers=key)
    b = api.post("/payments", body, headers=key)
    assert a.code == b.code == 201 and a.body == b.body
    assert b.header("Idempotent-Replayed") == "true"
    assert count(world, payments, org_id=world.demo) == before + 1
    assert count(world, payments, customer_id=cid) == 1
    c = api.post("/payments", {**body, "amount": 1_600}, headers=key)
    assert c.code == 409 and c.json()["error"]["code"] == "idempotency_mismatch"
    assert count(world, payments, org_id=world.demo) == before + 1


def test_idempotent_retry_of_a_refused_payment_can_be_fixed(api: ApiClient, world: World) -> None:
    """A payment refused by the domain (duplicate reference) keeps no key: the corrected retry records."""
    cid = customer(api, "Fix Retry")
    _pay(api, cid, 100, "FIX-1")
    key = {"Idempotency-Key": "pay-fix-1"}
    assert api.post("/payments", {"customer_id": cid, "amount": 100, "method": "bank", "reference": "FIX-1"},
                    headers=key).code == 422
    assert api.post("/payments", {"customer_id": cid, "amount": 100, "method": "bank", "reference": "FIX-2"},
                    headers=key).code == 201
    assert count(world, payments, customer_id=cid) == 2


def test_receipt_pdf_and_html(api: ApiClient) -> None:
    """receipt.pdf is a PDF named after the receipt number; receipt.html shows it and the invoice settled."""
    cid = customer(api, "Receipt Holder")
    inv = one_off(api, cid, price=1_000)
    p = _pay(api, cid, 1_150, "RCPT-1")
    pdf = api.get(f"/payments/{p['id']}/receipt.pdf")
    assert pdf.code == 200 and pdf.body.startswith(b"%PDF")
    assert pdf.required_header("Content-Type") == "application/pdf"
    assert f'{p["receipt_number"]}.pdf' in pdf.required_header("Content-Disposition")
    html = api.get(f"/payments/{p['id']}/receipt.html")
    assert html.code == 200 and p["receipt_number"] in html.text and inv["number"] in html.text


def test_unknown_and_other_orgs_payment_are_404(api: ApiClient) -> None:
    """The other org's payment and an unknown id: 404 on get and on both receipts."""
    theirs = api.as_("other").get("/payments?limit=1").json()["items"][0]["id"]
    for pid in (theirs, 99999999):
        for suffix in ("", "/receipt.pdf", "/receipt.html"):
            r = api.get(f"/payments/{pid}{suffix}")
            assert r.code == 404 and r.json()["error"]["code"] == "not_found", (pid, suffix)


def test_read_only_token_cannot_record_or_refund(api: ApiClient, world: World) -> None:
    """The read-only token lists payments and refunds but POSTs are 403 and record nothing."""
    ro = api.as_("demo_ro")
    assert ro.get("/payments").code == 200 and ro.get("/refunds").code == 200
    before = (count(world, payments, org_id=world.demo), count(world, refunds, org_id=world.demo))
    cid = api.get("/customers?limit=1").json()["items"][0]["id"]
    r = ro.post("/payments", {"customer_id": cid, "amount": 100, "method": "cash", "reference": "RO-1"})
    assert r.code == 403 and r.json()["error"]["code"] == "forbidden"
    assert ro.post("/refunds", {"customer_id": cid, "amount": 1, "method": "cash", "reason": "x"}).code == 403
    assert (count(world, payments, org_id=world.demo), count(world, refunds, org_id=world.demo)) == before


# -- refunds -----------------------------------------------------------------------------------

def test_refunds_list_and_get(api: ApiClient) -> None:
    """The demo's refund (kwame's unused days) is listed and readable, with the currency; the other org's
    refunds are not in the list and 404 by id."""
    listed = api.get("/refunds").json()["items"]
    assert listed and listed[0]["currency"] == "USD" and listed[0]["reason"] == "unused days after closing"
    got = api.get(f"/refunds/{listed[0]['id']}").json()
    assert got == listed[0]
    theirs = api.as_("other").get("/refunds").json()["items"]
    assert theirs and not {r["id"] for r in theirs} & {r["id"] for r in listed}
    assert api.get(f"/refunds/{theirs[0]['id']}").code == 404
    assert api.get("/refunds/99999999").code == 404
    assert api.get(f"/refunds?customer_id={listed[0]['customer_id']}&method=mobile_money").json()["items"]
    assert api.get("/refunds?method=cash&since=2026-11-01T00:00:00Z").json()["items"] == [
        r for r in api.get("/refunds?method=cash").json()["items"]]


def test_refund_pays_back_credit_and_no_more(api: ApiClient, world: World) -> None:
    """A customer 10.00 in credit: refunding 4.00 leaves 6.00; refunding 7.00 more is 422 amount."""
    cid = customer(api, "Refund Me")
    _pay(api, cid, 1_000, "REF-CREDIT")
    r = api.post("/refunds", {"customer_id": cid, "amount": 400, "method": "cash", "reason": "asked for it",
                              "reference": "till 3"})
    assert r.code == 201, r.text
    body = r.json()
    assert (body["amount"], body["credit_available"], body["currency"]) == (400, 600, "USD")
    assert api.get(f"/refunds/{body['id']}").json()["reference"] == "till 3"
    more = api.post("/refunds", {"customer_id": cid, "amount": 700, "method": "cash", "reason": "all of it"})
    assert more.code == 422 and more.json()["error"]["field"] == "amount"
    assert count(world, refunds, customer_id=cid) == 1


def test_refund_validation(api: ApiClient) -> None:
    """No reason, a zero amount and a bad method: 422 naming each; another org's customer: 422 customer_id."""
    r = api.post("/refunds", {"customer_id": 1, "amount": 0, "method": "Bank!", "reason": ""})
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"amount", "method", "reason"}
    theirs = api.as_("other").get("/customers?limit=1").json()["items"][0]["id"]
    r = api.post("/refunds", {"customer_id": theirs, "amount": 1, "method": "cash", "reason": "x"})
    assert r.code == 422 and r.json()["error"]["field"] == "customer_id"
