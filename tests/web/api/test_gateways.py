"""/gateway-transactions and /gateway-settings: the org's payments through gateways with their log,
filters, other orgs' ids, the choice of gateway (audited without its secrets), the read-only token."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from aaad.view.write import LoginWriter
from billing.gateways import store
from tests.web.api.billing_helpers import all_items, customer, one_off
from tests.web.api.conftest import NOW, ApiClient, World


def _paid_through_gateway(api: ApiClient, world: World, org_id: int, status: str) -> dict[str, Any]:
    """A customer with an invoice and a test-gateway transaction for it, settled to ``status``."""
    cid = customer(api, f"Gateway Payer {status}")
    one_off(api, cid)
    with world.db.engine.begin() as c:
        store.set_gateway(c, world.box, org_id, "test", NOW)
        tx = store.create_for_balance(c, world.box, org_id, cid, NOW)
        store.started(c, org_id, tx.reference, "tgw_x", NOW)
        if status != "pending":
            store.settle(c, LoginWriter(world.box), org_id, tx.reference, status, tx.amount, tx.currency, "tgw_x",
                         NOW, gateway="test")
    return {"customer_id": cid, "reference": tx.reference}


def test_list_get_and_log(api: ApiClient, world: World) -> None:
    """The org's transactions are listed (filtered by status, customer, reference); one comes with its log;
    the credited one names its payment."""
    ok = _paid_through_gateway(api, world, world.demo, "success")
    waiting = _paid_through_gateway(api, world, world.demo, "pending")
    every = all_items(api, "/gateway-transactions?limit=1")
    refs = {t["reference"]: t for t in every}
    assert ok["reference"] in refs and waiting["reference"] in refs
    credited = refs[ok["reference"]]
    assert credited["status"] == "success" and credited["payment_id"] and credited["gateway"] == "test"
    assert api.get(f"/payments/{credited['payment_id']}").json()["reference"] == ok["reference"]
    assert {t["status"] for t in all_items(api, "/gateway-transactions?status=pending")} == {"pending"}
    assert [t["reference"] for t in all_items(api, f"/gateway-transactions?customer_id={waiting['customer_id']}")] \
        == [waiting["reference"]]
    assert [t["id"] for t in all_items(api, f"/gateway-transactions?reference={ok['reference']}")] == [credited["id"]]
    one = api.get(f"/gateway-transactions/{credited['id']}")
    assert one.code == 200
    assert [(e["source"], e["outcome"]) for e in one.json()["events"]] == [("start", "started"),
                                                                          ("webhook", "credited")]
    assert api.get("/gateway-transactions?status=maybe").code == 422


def test_other_orgs_transactions_do_not_exist(api: ApiClient, world: World) -> None:
    """Org B's transaction is a 404 for org A and absent from A's list."""
    theirs = _paid_through_gateway(api.as_("other"), world, world.other, "failed")
    (t,) = all_items(api.as_("other"), f"/gateway-transactions?reference={theirs['reference']}")
    assert api.get(f"/gateway-transactions/{t['id']}").code == 404
    assert api.as_("other").get(f"/gateway-transactions/{t['id']}").code == 200
    assert theirs["reference"] not in {x["reference"] for x in all_items(api, "/gateway-transactions")}


def _g(name: str) -> dict[str, Any]:
    return {"gateway": name, "paystack_key_set": False, "paystack_mode": None}


def test_choose_the_gateway(api: ApiClient, world: World) -> None:
    """The test gateway until chosen; PATCH chooses none or test (read-only token: 403); the audit log keeps
    the name, never the gateway's key."""
    assert api.get("/gateway-settings").json() == _g("test")
    assert api.as_("demo_ro").patch("/gateway-settings", {"gateway": "none"}).code == 403
    r = api.patch("/gateway-settings", {"gateway": "none"})
    assert r.code == 200 and r.json() == _g("none")
    assert api.get("/gateway-settings").json() == _g("none")
    assert api.as_("other").get("/gateway-settings").json() == _g("test")
    assert api.patch("/gateway-settings", {"gateway": "bitcoin"}).code == 422
    assert api.patch("/gateway-settings", {"gateway": "test"}).json() == _g("test")
    with world.db.engine.connect() as c:
        audit = " ".join(str(v) for row in c.execute(sa.text("SELECT * FROM api_audit")).all() for v in row)
        key = store.gateway_settings_of(c, world.box, world.demo)
    assert key is not None and key.secrets["test_key"] not in audit


def test_paystack_secret_key_is_write_only(api: ApiClient, world: World) -> None:
    """Paystack needs its key (422 naming paystack_secret_key without one, or for a key that is not a
    Paystack secret key); the key is stored but never shown, in no response and not in the audit log;
    only whether it is set and its mode; org B is untouched."""
    r = api.patch("/gateway-settings", {"gateway": "paystack"})
    assert r.code == 422 and "paystack_secret_key" in r.text
    r = api.patch("/gateway-settings", {"paystack_secret_key": "pk_test_notasecret"})
    assert r.code == 422 and "paystack_secret_key" in r.text
    secret = "sk_test_" + "0a1b2c3d" * 5
    r = api.patch("/gateway-settings", {"gateway": "paystack", "paystack_secret_key": secret})
    assert r.code == 200 and r.json() == {"gateway": "paystack", "paystack_key_set": True, "paystack_mode": "test"}
    assert secret not in r.text and secret not in api.get("/gateway-settings").text
    assert api.as_("other").get("/gateway-settings").json() == _g("test")
    assert api.patch("/gateway-settings", {"gateway": "none"}).json()["paystack_key_set"] is True
    with world.db.engine.connect() as c:
        audit = " ".join(str(v) for row in c.execute(sa.text("SELECT * FROM api_audit")).all() for v in row)
        st = store.gateway_settings_of(c, world.box, world.demo)
    assert st is not None and st.secrets["paystack_secret_key"] == secret and secret not in audit
