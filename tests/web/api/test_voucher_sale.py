"""POST /vouchers/sell, in process on the seeded world: a cashier sells a voucher at the counter (201 with
its code and password, once; the audit entry keeps no password), the same reference again answers the
same voucher, an Idempotency-Key replays, support is refused naming vouchers.sell, fields named on 422,
the other org's package or customer refused."""
from __future__ import annotations

from typing import Any

from tests.web.api.billing_helpers import customer
from tests.web.api.conftest import ApiClient


def _fields(r: Any) -> set[str]:
    return {e["field"] for e in r.json()["error"]["errors"]}


def _package(api: ApiClient) -> dict[str, Any]:
    items = api.get("/voucher-packages?active=true").json()["items"]
    return next(p for p in items if p["price"] > 0 and not p["code_only"])


def _sale(api: ApiClient, reference: str, **kw: Any) -> dict[str, Any]:
    body = {"package_id": _package(api)["id"], "customer_id": customer(api, f"Counter {reference}"),
            "method": "cash", "reference": reference}
    return {**body, **kw}


def test_a_cashier_sells_a_voucher_with_its_password_once(api: ApiClient) -> None:
    """201 with the voucher's code and password at the package's price, sold to the customer; GET shows no
    password; the audit entry names the customer and carries no password; the same reference again: the
    same voucher."""
    body = _sale(api, "API-RB-1")
    r = api.as_("demo_cashier").post("/vouchers/sell", body)
    assert r.code == 201, r.text
    v = r.json()
    assert v["customer_id"] == body["customer_id"] and v["package_id"] == body["package_id"]
    assert v["price"] == _package(api)["price"] and v["state"] == "unused" and v["code"] and v["password"]
    assert "password" not in api.get(f"/vouchers/{v['id']}").json()
    audit = api.get(f"/audit?target=customer {body['customer_id']}").json()["items"]
    assert audit and audit[0]["route"] == "/vouchers/sell" and audit[0]["after"]["id"] == v["id"]
    assert v["password"] not in str(audit) and "password" not in audit[0]["after"]
    again = api.as_("demo_cashier").post("/vouchers/sell", body)
    assert again.code == 201 and again.json()["id"] == v["id"]
    assert len(api.get(f"/vouchers?customer_id={body['customer_id']}").json()["items"]) == 1


def test_an_idempotency_key_replays_the_sale(api: ApiClient) -> None:
    """The same POST twice with one Idempotency-Key: one voucher, the same answer."""
    body = _sale(api, "API-RB-2")
    key = {"Idempotency-Key": "sell-retry-1"}
    a, b = (api.post("/vouchers/sell", body, headers=key) for _ in range(2))
    assert a.code == b.code == 201 and a.json() == b.json()
    assert len(api.get(f"/vouchers?customer_id={body['customer_id']}").json()["items"]) == 1


def test_support_and_read_only_are_refused(api: ApiClient) -> None:
    """support: 403 naming vouchers.sell; a read-only token: 403; nothing sold."""
    body = _sale(api, "API-RB-3")
    r = api.as_("demo_support").post("/vouchers/sell", body)
    assert r.code == 403 and "vouchers.sell" in r.json()["error"]["message"]
    assert api.as_("demo_ro").post("/vouchers/sell", body).code == 403
    assert api.get(f"/vouchers?customer_id={body['customer_id']}").json()["items"] == []


def test_errors_name_the_field(api: ApiClient) -> None:
    """Missing fields, a bad method, a reference used by another sale: 422 naming each field."""
    assert _fields(api.post("/vouchers/sell", {})) == {"package_id", "customer_id", "method", "reference"}
    assert _fields(api.post("/vouchers/sell", _sale(api, "API-RB-4", method="cash money"))) == {"method"}
    assert _fields(api.post("/vouchers/sell", {**_sale(api, "API-RB-4b"), "reference": "x" * 129})) == {"reference"}
    assert api.post("/vouchers/sell", _sale(api, "API-RB-5")).code == 201
    r = api.post("/vouchers/sell", _sale(api, "API-RB-5"))
    assert r.code == 422 and _fields(r) == {"reference"}


def test_the_other_orgs_package_or_customer_is_refused(api: ApiClient) -> None:
    """Another org's package or customer id: 422 naming it, nothing sold."""
    theirs_pkg = api.as_("other").get("/voucher-packages").json()["items"][0]["id"]
    theirs_cust = api.as_("other").get("/customers").json()["items"][0]["id"]
    body = _sale(api, "API-RB-6")
    r = api.post("/vouchers/sell", {**body, "package_id": theirs_pkg})
    assert r.code == 422 and _fields(r) == {"package_id"}
    r = api.post("/vouchers/sell", {**body, "customer_id": theirs_cust})
    assert r.code == 422 and _fields(r) == {"customer_id"}
    assert api.get(f"/vouchers?customer_id={body['customer_id']}").json()["items"] == []
