"""/invoices: list with filters, sorts and cursors; one invoice with lines and VAT; a one-off invoice;
voiding; the PDF and HTML documents; errors, other orgs' ids and the read-only token."""
from __future__ import annotations

from billing.schema import credit_notes, invoices
from tests.web.api.billing_helpers import all_items, customer, one_off
from tests.web.api.conftest import ApiClient, World, count


def test_list_is_the_orgs_invoices_newest_first_and_pages_coverall_items(api: ApiClient, world: World) -> None:
    """Default sort -id; walking cursors with limit 4 visits each of the org's invoices once; none of
    the other org's."""
    mine = all_items(api, "/invoices?limit=4")
    ids = [i["id"] for i in mine]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert len(ids) == count(world, invoices, org_id=world.demo)
    theirs = {i["id"] for i in all_items(api.as_("other"), "/invoices?limit=500")}
    assert theirs and not theirs & set(ids)


def test_list_filters_by_customer_state_and_issue_dates(api: ApiClient) -> None:
    """customer_id, state and issued_since/until each narrow the list to matching invoices only."""
    every = all_items(api, "/invoices?limit=500")
    cid = every[0]["customer_id"]
    by_customer = all_items(api, f"/invoices?customer_id={cid}")
    assert by_customer and {i["customer_id"] for i in by_customer} == {cid}
    assert len(by_customer) == sum(1 for i in every if i["customer_id"] == cid)
    paid = all_items(api, "/invoices?state=paid")
    assert paid and all(i["state"] == "paid" and i["amount_due"] == 0 for i in paid)
    day = sorted({i["issue_date"] for i in every})[len(every) // 4]
    since = all_items(api, f"/invoices?issued_since={day}")
    until = all_items(api, f"/invoices?issued_until={day}")
    assert all(i["issue_date"] >= day for i in since) and all(i["issue_date"] <= day for i in until)
    assert len(since) + len(until) == len(every) + sum(1 for i in every if i["issue_date"] == day)
    assert [i["id"] for i in all_items(api, f"/invoices?number={every[3]['number']}")] == [every[3]["id"]]


def test_sort_by_due_date_pages_in_order(api: ApiClient) -> None:
    """sort=due_date pages through invoices in ascending due date."""
    got = all_items(api, "/invoices?sort=due_date&limit=3")
    assert [i["due_date"] for i in got] == sorted(i["due_date"] for i in got)


def test_bad_list_parameters_are_422_naming_each(api: ApiClient) -> None:
    """An unknown state, sort and a non-date: one 422 naming all three; until before since: 422 until."""
    r = api.get("/invoices?state=lost&sort=colour&issued_since=yesterday")
    assert r.code == 422
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"state", "sort", "issued_since"}
    r = api.get("/invoices?issued_since=2026-11-10&issued_until=2026-11-01")
    assert r.code == 422 and r.json()["error"]["field"] == "until"


def test_get_has_lines_totals_vat_and_amounts(api: ApiClient) -> None:
    """An invoice's lines add up to its totals; the VAT breakdown per rate adds up to its VAT; amount_due
    is total - paid."""
    inv_id = all_items(api, "/invoices?limit=500")[-1]["id"]
    inv = api.get(f"/invoices/{inv_id}").json()
    assert inv["lines"] and inv["currency"] == "USD"
    assert sum(ln["net"] for ln in inv["lines"]) == inv["subtotal"]
    assert sum(ln["vat"] for ln in inv["lines"]) == inv["vat"] == sum(v["vat"] for v in inv["vat_breakdown"])
    assert inv["subtotal"] + inv["vat"] == inv["total"]
    assert inv["amount_due"] == (0 if inv["state"] in ("paid", "void") else inv["total"] - inv["paid"])
    assert inv["vat_breakdown"][0]["vat_bp"] == 1500


def test_get_lists_the_credit_notes_against_an_invoice(api: ApiClient) -> None:
    """The demo's plan upgrade credited an invoice: that invoice shows the credit note."""
    cn = all_items(api, "/credit-notes?kind=upgrade")[0]
    inv = api.get(f"/invoices/{cn['invoice_id']}").json()
    assert [c["number"] for c in inv["credit_notes"]] == [cn["number"]]


def test_unknown_and_other_orgs_invoice_are_404(api: ApiClient) -> None:
    """An unknown id, a non-id and the other org's invoice: 404 on get, its documents and void."""
    theirs = api.as_("other").get("/invoices?limit=1").json()["items"][0]["id"]
    for path in (f"/invoices/{theirs}", f"/invoices/{theirs}.pdf", f"/invoices/{theirs}.html",
                 "/invoices/99999999", "/invoices/abc", "/invoices/0.pdf"):
        r = api.get(path)
        assert r.code == 404 and r.json()["error"]["code"] == "not_found", path
    r = api.post(f"/invoices/{theirs}/void", {"reason": "not mine"})
    assert r.code == 404
    assert api.as_("other").get(f"/invoices/{theirs}").json()["state"] != "void"


def test_pdf_and_html_documents(api: ApiClient) -> None:
    """.pdf is a PDF named after the invoice number; .html is the page showing the number and total."""
    inv = api.get("/invoices?limit=1").json()["items"][0]
    pdf = api.get(f"/invoices/{inv['id']}.pdf")
    assert pdf.code == 200 and pdf.body.startswith(b"%PDF")
    assert pdf.required_header("Content-Type") == "application/pdf"
    assert f'filename="{inv["number"]}.pdf"' in pdf.required_header("Content-Disposition")
    html = api.get(f"/invoices/{inv['id']}.html")
    assert html.code == 200 and html.required_header("Content-Type").startswith("text/html")
    assert inv["number"] in html.text and "Demo ISP" in html.text


def test_one_off_invoice_is_issued_with_vat_and_a_number(api: ApiClient, world: World) -> None:
    """POST /invoices: lines priced before VAT (15 %), a new number, due after the payment terms; the
    customer's invoices list it."""
    cid = customer(api, "One Off")
    inv = api.post("/invoices", {"customer_id": cid, "lines": [
        {"description": "Router", "unit_price": 3_000, "quantity": 2, "discount": 1_000},
        {"description": "Cable", "unit_price": 500, "taxable": False}]})
    assert inv.code == 201, inv.text
    body = inv.json()
    assert (body["subtotal"], body["vat"], body["total"]) == (5_500, 750, 6_250)
    assert body["state"] == "open" and body["amount_due"] == 6_250 and body["number"].startswith("INV-")
    assert [ln["kind"] for ln in body["lines"]] == ["one_time", "one_time"]
    assert body["issue_date"] == "2026-11-30" and body["due_date"] == "2026-12-07"
    assert [i["id"] for i in api.get(f"/invoices?customer_id={cid}").json()["items"]] == [body["id"]]
    assert api.get(f"/invoices/{body['id']}").json()["total"] == 6_250


def test_one_off_invoice_validation(api: ApiClient, world: World) -> None:
    """No lines, a negative price and an unknown field: 422 naming each; another org's customer: 422
    customer_id; a due date in the past: 422 due_date; nothing issued."""
    before = count(world, invoices, org_id=world.demo)
    r = api.post("/invoices", {"customer_id": 1, "lines": [], "colour": "red"})
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"lines", "colour"}
    r = api.post("/invoices", {"customer_id": 1, "lines": [{"description": "x", "unit_price": -1}]})
    assert r.code == 422 and r.json()["error"]["field"] == "lines.0.unit_price"
    theirs = api.as_("other").get("/customers?limit=1").json()["items"][0]["id"]
    r = api.post("/invoices", {"customer_id": theirs, "lines": [{"description": "x", "unit_price": 1}]})
    assert r.code == 422 and r.json()["error"]["field"] == "customer_id"
    cid = customer(api, "Due Past")
    r = api.post("/invoices", {"customer_id": cid, "due_date": "2026-01-01",
                               "lines": [{"description": "x", "unit_price": 1}]})
    assert r.code == 422 and r.json()["error"]["field"] == "due_date"
    r = api.post("/invoices", {"customer_id": cid, "due_date": "9999-12-31",
                               "lines": [{"description": "x", "unit_price": 1}]})
    assert r.code == 422 and r.json()["error"]["field"] == "due_date"
    r = api.post("/invoices", {"customer_id": cid, "lines": [{"description": "x\u0000", "unit_price": 1}]})
    assert r.code == 422 and r.json()["error"]["field"] == "lines.0.description"
    r = api.post("/invoices", {"customer_id": cid, "lines": [{"description": "x", "unit_price": 10**15,
                                                             "quantity": 2}]})
    assert r.code == 422 and r.json()["error"]["field"] == "lines.0"
    assert count(world, invoices, org_id=world.demo) == before


def test_void_balances_the_invoice_with_a_credit_note(api: ApiClient, world: World) -> None:
    """Void: state void, nothing due, a void credit note of the total against it; the audit log has it;
    voiding again is 422 naming invoice."""
    inv = one_off(api, customer(api, "Void Me"))
    r = api.post(f"/invoices/{inv['id']}/void", {"reason": "issued by mistake"})
    assert r.code == 200, r.text
    body = r.json()
    assert body["invoice"]["state"] == "void" and body["invoice"]["amount_due"] == 0
    assert body["invoice"]["voided_at"] == "2026-11-30T12:00:00Z"
    cn = body["credit_note"]
    assert cn["kind"] == "void" and cn["total"] == inv["total"] and cn["invoice_id"] == inv["id"]
    assert "issued by mistake" in cn["reason"] and cn["lines"]
    assert [c["id"] for c in body["invoice"]["credit_notes"]] == [cn["id"]]
    assert count(world, credit_notes, invoice_id=inv["id"]) == 1
    audit = api.get(f"/audit?target=invoice {inv['id']}").json()["items"]
    assert audit[0]["route"] == "/invoices/{invoice_id}/void" and audit[0]["before"]["state"] == "open"
    again = api.post(f"/invoices/{inv['id']}/void", {"reason": "twice"})
    assert again.code == 422 and again.json()["error"]["field"] == "invoice"


def test_void_needs_a_reason(api: ApiClient) -> None:
    """No body or an empty reason: 422 naming reason (body for none)."""
    inv = api.get("/invoices?state=open&limit=1").json()["items"][0]
    r = api.post(f"/invoices/{inv['id']}/void", {"reason": ""})
    assert r.code == 422 and r.json()["error"]["field"] == "reason"
    r = api.post(f"/invoices/{inv['id']}/void")
    assert r.code == 422 and r.json()["error"]["field"] == "body"
    assert api.get(f"/invoices/{inv['id']}").json()["state"] == "open"


def test_read_only_token_reads_but_cannot_issue_or_void(api: ApiClient, world: World) -> None:
    """The read-only token lists and downloads, but POST /invoices and void are 403 and change nothing."""
    ro = api.as_("demo_ro")
    inv = ro.get("/invoices?state=open&limit=1").json()["items"][0]
    assert ro.get(f"/invoices/{inv['id']}.html").code == 200
    before = count(world, invoices, org_id=world.demo)
    r = ro.post("/invoices", {"customer_id": inv["customer_id"], "lines": [{"description": "x", "unit_price": 1}]})
    assert r.code == 403 and r.json()["error"]["code"] == "forbidden"
    assert ro.post(f"/invoices/{inv['id']}/void", {"reason": "no"}).code == 403
    assert count(world, invoices, org_id=world.demo) == before
    assert api.get(f"/invoices/{inv['id']}").json()["state"] == "open"


def test_document_routes_are_in_the_openapi_document(api: ApiClient) -> None:
    """The PDF and HTML routes are documented with their media types; the list route pairs with the id."""
    paths = api.as_("").get("/openapi.json").json()["paths"]
    assert "application/pdf" in paths["/invoices/{invoice_id}.pdf"]["get"]["responses"]["200"]["content"]
    assert "text/html" in paths["/invoices/{invoice_id}.html"]["get"]["responses"]["200"]["content"]
    assert {"get", "post"} <= set(paths["/invoices"]) and "post" in paths["/invoices/{invoice_id}/void"]
