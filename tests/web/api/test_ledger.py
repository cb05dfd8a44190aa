"""The admin API's view of a customer's money: ledger entries with the running balance, the timeline
and the balance, on the seeded demo customers (paid up, in arrears, in credit)."""
from __future__ import annotations

from typing import Any

from tests.web.api.conftest import ApiClient


def _cid(api: ApiClient, q: str) -> int:
    items = api.get(f"/customers?q={q}").json()["items"]
    assert len(items) == 1, q
    return int(items[0]["id"])


def _walk(api: ApiClient, path: str, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    sep = "&" if "?" in path else "?"
    page = api.get(f"{path}{sep}limit={limit}").json()
    out += page["items"]
    while page["next_cursor"]:
        page = api.get(f"{path}{sep}limit={limit}&cursor={page['next_cursor']}").json()
        out += page["items"]
    return out


def test_ledger_carries_a_running_balance_ending_at_the_balance(api: ApiClient) -> None:
    """yaw (unpaid): entries oldest first, each balance the previous plus its amount, amounts in minor
    units with the currency; the last balance is GET /balance's."""
    cid = _cid(api, "yaw")
    r = api.get(f"/customers/{cid}/ledger?limit=500")
    entries = r.json()["items"]
    assert r.code == 200 and len(entries) >= 2 and entries[0]["kind"] == "invoice"
    owed = 0
    for e in entries:
        assert e["amount"] == e["receivable"] + e["credit"] and e["currency"] == "USD"
        owed += e["amount"]
        assert e["balance"] == owed
    bal = api.get(f"/customers/{cid}/balance").json()
    assert bal["balance"] == owed > 0 and bal["currency"] == "USD"


def test_ledger_pages_give_the_same_entries_and_balances(api: ApiClient) -> None:
    """Walking the ledger two entries at a time gives the one-page listing; sort=-id gives it reversed,
    with the same balances; a kind filter keeps each entry's balance."""
    cid = _cid(api, "ama")
    whole = api.get(f"/customers/{cid}/ledger?limit=500").json()["items"]
    assert len(whole) > 3
    assert _walk(api, f"/customers/{cid}/ledger", 2) == whole
    assert _walk(api, f"/customers/{cid}/ledger?sort=-id", 3) == whole[::-1]
    payments = api.get(f"/customers/{cid}/ledger?kind=payment").json()["items"]
    assert payments and payments == [e for e in whole if e["kind"] == "payment"]


def test_customer_in_credit_has_a_negative_balance(api: ApiClient) -> None:
    """akosua paid ahead: balance negative, credit available, nothing overdue; the ledger's last balance
    agrees."""
    cid = _cid(api, "akosua")
    bal = api.get(f"/customers/{cid}/balance").json()
    assert bal["balance"] < 0 and bal["credit_available"] > 0 and bal["overdue"] == 0
    assert bal["customer_id"] == cid
    last = api.get(f"/customers/{cid}/ledger?sort=-id&limit=1").json()["items"][0]
    assert last["balance"] == bal["balance"]


def test_balance_shows_what_is_overdue(api: ApiClient) -> None:
    """yaw's unpaid invoice is past due: overdue amount and count, the oldest due date, open invoices."""
    bal = api.get(f"/customers/{_cid(api, 'yaw')}/balance").json()
    assert bal["overdue"] > 0 and bal["overdue_invoices"] >= 1 and bal["open_invoices"] >= bal["overdue_invoices"]
    assert bal["receivable"] >= bal["overdue"] and bal["oldest_due"] < "2026-11-30"


def test_timeline_has_money_and_service_changes(api: ApiClient) -> None:
    """yaw's timeline holds the invoice, the service's suspension and running balances ending at what
    is owed; pages of three give the same items."""
    cid = _cid(api, "yaw")
    r = api.get(f"/customers/{cid}/timeline?limit=500")
    items = r.json()["items"]
    kinds = [i["kind"] for i in items]
    assert r.code == 200 and "invoice" in kinds and "service.suspended" in kinds
    assert kinds.index("service.created") < kinds.index("service.suspended")
    money = [i for i in items if i["amount"] is not None]
    assert money[-1]["balance"] == api.get(f"/customers/{cid}/balance").json()["balance"]
    assert all(i["balance"] is None for i in items if i["amount"] is None)
    assert _walk(api, f"/customers/{cid}/timeline", 3) == items


def test_timeline_page_picks_up_new_items_after_its_cursor(api: ApiClient) -> None:
    """A change made after the first page appears on a later page (and only once)."""
    c = api.post("/customers", {"name": "Timeline Tess"}).json()
    home = [p["id"] for p in api.get("/products?q=Home%2010M").json()["items"]][0]
    s = api.post("/services", {"customer_id": c["id"], "product_id": home, "start": "2026-11-30"}).json()
    first = api.get(f"/customers/{c['id']}/timeline?limit=1").json()
    api.post(f"/services/{s['id']}/suspend", {"reason": "test"})
    rest = _walk(api, f"/customers/{c['id']}/timeline?cursor={first['next_cursor']}", 100)
    kinds = [i["kind"] for i in first["items"] + rest]
    assert kinds.count("service.suspended") == 1 and kinds.count("service.created") == 1


def test_unknown_and_other_orgs_customers_are_404(api: ApiClient) -> None:
    """The ledger, timeline and balance of an unknown customer or of the other org's are 404."""
    theirs = api.as_("other").get("/customers?q=yaw").json()["items"][0]["id"]
    assert api.as_("other").get(f"/customers/{theirs}/ledger").code == 200
    for cid in (theirs, 999_999):
        for what in ("ledger", "timeline", "balance"):
            r = api.get(f"/customers/{cid}/{what}")
            assert r.code == 404 and r.json()["error"]["code"] == "not_found", (cid, what)


def test_bad_queries_are_422(api: ApiClient) -> None:
    """An unknown kind, a bad sort, a forged cursor: 422 naming the parameter."""
    cid = _cid(api, "yaw")
    r = api.get(f"/customers/{cid}/ledger?kind=gift&sort=name")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"kind", "sort"}
    for what in ("ledger", "timeline"):
        r = api.get(f"/customers/{cid}/{what}?cursor=bm9wZQ")
        assert r.code == 422 and r.json()["error"]["field"] == "cursor", what
    r = api.get(f"/customers/{cid}/timeline?limit=0")
    assert r.code == 422 and r.json()["error"]["field"] == "limit"


def test_read_only_token_reads_the_money(api: ApiClient) -> None:
    """The read-only token gets the ledger, timeline and balance."""
    cid = _cid(api, "ama")
    ro = api.as_("demo_ro")
    assert [ro.get(f"/customers/{cid}/{w}").code for w in ("ledger", "timeline", "balance")] == [200] * 3
