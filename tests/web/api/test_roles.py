"""Roles (aaad.authz) over the API: every route names a permission aaad knows; a cashier
records payments but is refused plan changes and settings; support answers tickets and
disconnects but records no payment; only an owner manages tokens; a token's role is set at
creation and shown; a read-only token stays read-only whatever its role."""
from __future__ import annotations

import pytest

from aaad import authz
from tests.web.api.billing_helpers import customer
from tests.web.api.conftest import ApiClient
from web.api import permissions
from web.api.resources import all_endpoints


def test_every_route_names_a_known_permission() -> None:
    """No route is unclassified, and the tables name only permissions aaad.authz knows."""
    permissions.check_known()
    for ep in all_endpoints():
        assert ep.permission in authz.PERMISSIONS, ep.operation_id


def test_every_permission_has_an_owner_and_roles_differ() -> None:
    """The owner may do everything; each of the other roles may do less than the one above it."""
    assert all("owner" in roles for roles in authz.PERMISSIONS.values())
    owner, admin, cashier, support = (set(authz.permissions_of(r)) for r in authz.ROLES)
    assert admin < owner and cashier < admin and support < admin
    assert "accounts.manage" not in admin
    assert {"payments.record", "vouchers.sell"} <= cashier and "tickets.write" not in cashier
    assert {"tickets.write", "sessions.disconnect"} <= support and "payments.record" not in support


def _forbidden(r: object, permission: str) -> None:
    assert r.code == 403, r.text  # type: ignore[attr-defined]
    err = r.json()["error"]  # type: ignore[attr-defined]
    assert err["code"] == "forbidden" and permission in err["message"]


def test_cashier_records_a_payment_but_changes_no_plan_or_settings(api: ApiClient) -> None:
    """cashier: reads customers and records a payment; change-plan, settings and products: 403."""
    cash = api.as_("demo_cashier")
    cid = customer(api, "Cash Customer")
    assert cash.get(f"/customers/{cid}").code == 200
    r = cash.post("/payments", {"customer_id": cid, "amount": 500, "method": "cash", "reference": "ROLE-1"})
    assert r.code == 201, r.text
    svc = api.get("/services?state=active&limit=1").json()["items"][0]
    _forbidden(cash.post(f"/services/{svc['id']}/change-plan", {"product_id": svc["product_id"]}),
               "services.write")
    _forbidden(cash.patch("/billing-settings", {"grace_days": 5}), "settings.write")
    _forbidden(cash.get("/billing-settings"), "settings.read")
    _forbidden(cash.post("/customers", {"name": "Not Mine To Add"}), "customers.write")
    _forbidden(cash.post("/tokens", {"name": "mine"}), "accounts.manage")


def test_support_answers_tickets_and_disconnects_but_takes_no_money(api: ApiClient) -> None:
    """support: replies to a ticket; a disconnect passes the role check; a payment: 403."""
    sup = api.as_("demo_support")
    cid = customer(api, "Ticket Customer")
    t = api.post("/tickets", {"customer_id": cid, "subject": "Slow", "body": "It is slow"})
    assert t.code == 201, t.text
    assert sup.post(f"/tickets/{t.json()['id']}/replies", {"body": "Looking"}).code == 200
    r = sup.post("/disconnect", {"login_id": 999_999})
    assert r.code != 403, r.text
    _forbidden(sup.post("/payments", {"customer_id": cid, "amount": 1, "method": "cash", "reference": "R-2"}),
               "payments.record")
    assert sup.get("/nas").code == 200
    _forbidden(sup.get("/reports/debtors"), "reports.read")


def test_admin_does_all_but_tokens(api: ApiClient) -> None:
    """admin: settings yes, tokens no; the owner creates a cashier token that shows its role."""
    adm = api.as_("demo_admin")
    assert adm.get("/billing-settings").code == 200
    _forbidden(adm.get("/tokens"), "accounts.manage")
    r = api.post("/tokens", {"name": "till 2", "role": "cashier"})
    assert r.code == 201 and r.json()["role"] == "cashier"
    assert api.post("/tokens", {"name": "bad", "role": "king"}).json()["error"]["field"] == "role"


@pytest.mark.parametrize("path", ["/payments", "/customers"])
def test_read_only_owner_token_still_writes_nothing(api: ApiClient, path: str) -> None:
    """The read-only flag is checked before the role."""
    r = api.as_("demo_ro").post(path, {"name": "x"})
    assert r.code == 403 and "read-only" in r.json()["error"]["message"]
