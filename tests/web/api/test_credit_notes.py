"""/credit-notes: list with filters, one with its lines, issuing by amount or by lines (against an
invoice or as credit), the PDF and HTML; errors, other orgs' ids and the read-only token."""
from __future__ import annotations

from billing.schema import credit_notes
from tests.web.api.billing_helpers import all_items, customer, one_off
from tests.web.api.conftest import ApiClient, World, count


def test_list_is_the_orgs_credit_notes_with_filters(api: ApiClient, world: World) -> None:
    """The demo's credit notes (upgrade, cancellation) are listed newest first, filtered by kind, customer
    and invoice; none of the other org's."""
    mine = all_items(api, "/credit-notes?limit=1")
    assert len(mine) == count(world, credit_notes, org_id=world.demo) and {"upgrade", "cancellation"} <= {
        c["kind"] for c in mine}
    assert [c["id"] for c in mine] == sorted((c["id"] for c in mine), reverse=True)
    up = all_items(api, "/credit-notes?kind=upgrade")
    assert len(up) == 1 and up[0]["kind"] == "upgrade"
    assert [c["id"] for c in all_items(api, f"/credit-notes?invoice_id={up[0]['invoice_id']}")] == [up[0]["id"]]
    assert {c["customer_id"] for c in all_items(api, f"/credit-notes?customer_id={up[0]['customer_id']}")} == {
        up[0]["customer_id"]}
    assert all_items(api, "/credit-notes?issued_since=2026-11-19&kind=upgrade") == []
    assert all_items(api, f"/credit-notes?number={up[0]['number']}") == up
    theirs = {c["id"] for c in all_items(api.as_("other"), "/credit-notes")}
    assert theirs and not theirs & {c["id"] for c in mine}


def test_bad_list_parameters_are_422(api: ApiClient) -> None:
    """An unknown kind and a zero invoice id: 422 naming both."""
    r = api.get("/credit-notes?kind=gift&invoice_id=0")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"kind", "invoice_id"}


def test_get_has_lines_adding_up(api: ApiClient) -> None:
    """A credit note's lines add up to its subtotal, VAT and total."""
    cn_id = api.get("/credit-notes?kind=upgrade").json()["items"][0]["id"]
    cn = api.get(f"/credit-notes/{cn_id}").json()
    assert cn["lines"] and cn["currency"] == "USD"
    assert sum(ln["net"] for ln in cn["lines"]) == cn["subtotal"]
    assert sum(ln["vat"] for ln in cn["lines"]) == cn["vat"] and cn["subtotal"] + cn["vat"] == cn["total"]


def test_amount_against_an_invoice_settles_it(api: ApiClient) -> None:
    """A credit note of 20.00 + VAT against a 100.00 + VAT invoice: the invoice's amount due drops by 23.00;
    the note is listed against the invoice."""
    cid = customer(api, "Credit Against")
    inv = one_off(api, cid, price=10_000)
    r = api.post("/credit-notes", {"customer_id": cid, "amount": 2_000, "reason": "outage week",
                                   "invoice_id": inv["id"]})
    assert r.code == 201, r.text
    cn = r.json()
    assert (cn["kind"], cn["subtotal"], cn["vat"], cn["total"]) == ("manual", 2_000, 300, 2_300)
    assert cn["number"].startswith("CN-") and cn["reason"] == "outage week" and len(cn["lines"]) == 1
    after = api.get(f"/invoices/{inv['id']}").json()
    assert after["amount_due"] == inv["total"] - 2_300 and [c["id"] for c in after["credit_notes"]] == [cn["id"]]


def test_lines_untaxed_and_as_credit(api: ApiClient) -> None:
    """Lines (one taxable, one exempt) without an invoice: the total is customer credit, seen in the next
    payment's balance; taxable=false with amount credits no VAT."""
    cid = customer(api, "Credit Lines")
    r = api.post("/credit-notes", {"customer_id": cid, "reason": "goodwill", "lines": [
        {"description": "Outage", "unit_price": 1_000}, {"description": "Late install", "unit_price": 500,
                                                          "taxable": False}]})
    assert r.code == 201, r.text
    assert (r.json()["vat"], r.json()["total"]) == (150, 1_650) and len(r.json()["lines"]) == 2
    r = api.post("/credit-notes", {"customer_id": cid, "reason": "exempt", "amount": 100, "taxable": False})
    assert r.code == 201 and (r.json()["vat"], r.json()["total"]) == (0, 100)
    paid = api.post("/payments", {"customer_id": cid, "amount": 1, "method": "cash", "reference": "CL-1"}).json()
    assert paid["credit_available"] == 1_751


def test_create_validation(api: ApiClient, world: World) -> None:
    """Both amount and lines, or neither: 422; no reason: 422 reason; an invoice of another customer:
    422 invoice_id; another org's customer: 422 customer_id; nothing issued."""
    before = count(world, credit_notes, org_id=world.demo)
    cid = customer(api, "Credit Invalid")
    r = api.post("/credit-notes", {"customer_id": cid, "reason": "x", "amount": 1,
                                   "lines": [{"description": "y", "unit_price": 1}]})
    assert r.code == 422 and "amount or lines" in r.json()["error"]["message"]
    assert api.post("/credit-notes", {"customer_id": cid, "reason": "x"}).code == 422
    r = api.post("/credit-notes", {"customer_id": cid, "reason": "", "amount": 0})
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} >= {"reason", "amount"}
    someone_elses = api.get("/invoices?limit=1").json()["items"][0]["id"]
    r = api.post("/credit-notes", {"customer_id": cid, "reason": "x", "amount": 1, "invoice_id": someone_elses})
    assert r.code == 422 and r.json()["error"]["field"] == "invoice_id"
    theirs = api.as_("other").get("/customers?limit=1").json()["items"][0]["id"]
    r = api.post("/credit-notes", {"customer_id": theirs, "reason": "x", "amount": 1})
    assert r.code == 422 and r.json()["error"]["field"] == "customer_id"
    assert count(world, credit_notes, org_id=world.demo) == before


def test_pdf_and_html(api: ApiClient) -> None:
    """.pdf is a PDF named after the number; .html shows the number and the reason."""
    cn = api.get("/credit-notes?kind=upgrade").json()["items"][0]
    pdf = api.get(f"/credit-notes/{cn['id']}.pdf")
    assert pdf.code == 200 and pdf.body.startswith(b"%PDF") and pdf.header("Content-Type") == "application/pdf"
    assert f'{cn["number"]}.pdf' in pdf.required_header("Content-Disposition")
    html = api.get(f"/credit-notes/{cn['id']}.html")
    assert html.code == 200 and cn["number"] in html.text and "Home 50M" in html.text


def test_unknown_and_other_orgs_credit_note_are_404(api: ApiClient) -> None:
    """The other org's credit note and an unknown id: 404 on get, .pdf and .html."""
    theirs = api.as_("other").get("/credit-notes?limit=1").json()["items"][0]["id"]
    for cn_id in (theirs, 99999999):
        for suffix in ("", ".pdf", ".html"):
            r = api.get(f"/credit-notes/{cn_id}{suffix}")
            assert r.code == 404 and r.json()["error"]["code"] == "not_found", (cn_id, suffix)


def test_read_only_token_cannot_issue(api: ApiClient, world: World) -> None:
    """The read-only token reads credit notes; POST is 403 and issues nothing."""
    ro = api.as_("demo_ro")
    assert ro.get("/credit-notes").code == 200
    before = count(world, credit_notes, org_id=world.demo)
    cid = api.get("/customers?limit=1").json()["items"][0]["id"]
    r = ro.post("/credit-notes", {"customer_id": cid, "reason": "no", "amount": 1})
    assert r.code == 403 and count(world, credit_notes, org_id=world.demo) == before
