"""POST /customers with a voucher package and "send credentials", and the sign-up's hotspot mode, in
process (SQLite): the happy paths, each error naming its field, the read-only token refused."""
from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.view.write import LoginWriter
from billing import customers
from billing.notify import settings as ns
from billing.notify.schema import messages as msg_t
from billing.schema import customers as customers_t
from billing.vouchers import packages, vouchers
from tests.web.api.conftest import NOW, ApiClient, World, count


@pytest.fixture(autouse=True)
def _email(world: World, tmp_path: Any) -> None:
    """The demo org's e-mail goes to files (so messages are queued); the voucher stand-in starts empty."""
    with world.db.engine.begin() as c:
        ns.set_channel(c, world.box, world.demo, "email", NOW, provider="file",
                       settings={"directory": str(tmp_path), "from_address": "hello@isp.example"})


def test_create_with_send_credentials_emails_the_login(api: ApiClient, world: World) -> None:
    """send_credentials: the customer is created with a portal password and one customer.credentials
    e-mail to their address holds the username and the portal's sign-in link."""
    r = api.post("/customers", {"name": "Adwoa Sarpong", "email": "adwoa@example.com", "send_credentials": True})
    assert r.code == 201, r.text
    body = r.json()
    assert body["has_password"] is True and body["username"].startswith("adwoa-sarpong-")
    assert body["credentials_sent"] is True and body["voucher_id"] is None
    with world.db.engine.connect() as c:
        (m,) = c.execute(sa.select(msg_t).where(msg_t.c.org_id == world.demo, msg_t.c.customer_id == body["id"],
                                               msg_t.c.kind == "customer.credentials")).all()
        password = json.loads(world.box.decrypt(m.secrets_enc))["password"]
        assert customers.verify_password(c, world.demo, body["id"], password)
    v = json.loads(m.vars)
    assert m.recipient == "adwoa@example.com" and v["login_url"].endswith("/demo/portal/login")


def test_create_with_a_package_assigns_a_voucher(api: ApiClient, world: World) -> None:
    """package_id assigns a voucher of the package to the new customer."""
    with world.db.engine.begin() as c:
        p = packages.add(c, LoginWriter(world.box), world.demo, NOW, name="API day", price=5_00)
    r = api.post("/customers", {"name": "Yaa Asantewaa", "package_id": p.id})
    assert r.code == 201, r.text
    assert r.json()["voucher_id"] is not None and r.json()["charged"] is False
    with world.db.engine.connect() as c:
        assert [v.package_name for v in vouchers.of_customer(c, world.demo, r.json()["id"])] == ["API day"]


def test_create_errors_name_their_field(api: ApiClient, world: World) -> None:
    """send_credentials without an e-mail, an unknown package and a bad type are 422s naming the field;
    nothing is created; the read-only token gets 403."""
    before = count(world, customers_t, org_id=world.demo)
    r = api.post("/customers", {"name": "No Mail", "phone": "0541234567", "send_credentials": True})
    assert r.code == 422 and r.json()["error"]["field"] == "send_credentials"
    r = api.post("/customers", {"name": "No Package", "package_id": 999_999})
    assert r.code == 422 and r.json()["error"]["field"] == "package_id"
    r = api.post("/customers", {"name": "Bad", "send_credentials": "maybe"})
    assert r.code == 422 and "send_credentials" in r.text
    assert count(world, customers_t, org_id=world.demo) == before
    assert api.as_("demo_ro").post("/customers", {"name": "Nope"}).code == 403


def test_signup_settings_mode(api: ApiClient) -> None:
    """The sign-up settings carry mode (isp by default); hotspot is accepted, anything else is a 422."""
    assert api.get("/signup-settings").json()["mode"] in ("isp", "hotspot")
    r = api.patch("/signup-settings", {"mode": "hotspot"})
    assert r.code == 200 and r.json()["mode"] == "hotspot"
    r = api.patch("/signup-settings", {"mode": "cafe"})
    assert r.code == 422 and "mode" in r.text
    assert api.patch("/signup-settings", {"mode": "isp"}).json()["mode"] == "isp"
