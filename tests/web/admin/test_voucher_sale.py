"""Selling a voucher at the counter from the console's customer page, in process: a cashier sells (the code
and password shown once, the card printable, the audit entry without the password), a double submit sells
one voucher, a bad or reused reference comes back by its field with what was typed kept, support gets the
403 page, CSRF, and the other org reaches nothing."""
from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from billing import customers
from billing.vouchers import packages, vouchers
from billing.vouchers.schema import vouchers as vouchers_t
from tests.web.admin.conftest import Admin
from tests.web.api.conftest import NOW, World
from web.schema import audit


def _customer(world: World, org_id: int | None = None) -> int:
    n = random.Random().randrange(10**6)
    with world.db.engine.begin() as c:
        return int(customers.add(c, org_id or world.demo, NOW, name=f"Counter Person {n}",
                                 rng=random.Random(n)).id)


def _package(world: World, org_id: int | None = None, name: str = "1 day") -> packages.Package:
    with world.db.engine.connect() as c:
        p = packages.by_name(c, org_id or world.demo, name)
    assert p is not None and p.active and not p.code_only
    return p


def _sold(world: World, customer_id: int, org_id: int | None = None) -> list[vouchers.Voucher]:
    with world.db.engine.connect() as c:
        return vouchers.of_customer(c, org_id or world.demo, customer_id, box=world.box)


def _form(b: Admin, page: str, package_id: int, reference: str, method: str = "cash") -> dict[str, str]:
    return {"csrf": b.form_csrf(page), "package_id": str(package_id), "method": method, "reference": reference}


def test_a_cashier_sells_a_voucher_and_sees_its_password_once(world: World, as_: Any) -> None:
    """The form lists the active packages; the answer shows the code and password with a link to the card
    (a PDF); the customer page afterwards shows no password; the audit entry names the customer, never
    the password."""
    cid, p = _customer(world), _package(world)
    b = as_("cashier")
    page = f"/admin/customers/{cid}"
    form_page = b.get(page).text
    assert "Sell a voucher" in form_page and f'<option value="{p.id}"' in form_page
    r = b.post(f"{page}/voucher", _form(b, page, p.id, f"RB-{uuid.uuid4().hex[:8]}"))
    assert r.code == 200, r.text[:500]
    (v,) = _sold(world, cid)
    assert v.password and v.code in r.text and v.password in r.text and f"vouchers/{v.id}.pdf" in r.text
    assert v.price == p.price and v.package_id == p.id
    assert v.password not in b.get(page).text
    card = b.get(f"/admin/vouchers/{v.id}.pdf")
    assert card.code == 200 and card.header("Content-Type") == "application/pdf" and card.body.startswith(b"%PDF")
    with world.db.engine.connect() as c:
        entries = c.execute(sa.select(audit).where(audit.c.org_id == world.demo,
                                                   audit.c.target == f"customer {cid}")).all()
    assert len(entries) == 1 and "cashier@demo.example" in entries[0].token_name
    assert v.password not in str(entries[0]) and json.loads(entries[0].after)["id"] == v.id


def test_a_double_submit_sells_one_voucher(world: World, as_: Any) -> None:
    """The same form sent twice (a double click, the back button): the same voucher shown, one sold."""
    cid, p = _customer(world), _package(world)
    b = as_("cashier")
    page = f"/admin/customers/{cid}"
    form = _form(b, page, p.id, f"MM-{uuid.uuid4().hex[:8]}", "mobile_money")
    first, again = b.post(f"{page}/voucher", form), b.post(f"{page}/voucher", form)
    assert first.code == again.code == 200
    (v,) = _sold(world, cid)
    assert v.code in again.text


@pytest.mark.parametrize("case", ["empty", "too long", "used", "no package"])
def test_a_bad_sale_keeps_what_was_typed(world: World, as_: Any, case: str) -> None:
    """A missing, overlong or already used reference, or no package chosen: 400, the message next to the
    field (aria-describedby), the package, method and reference typed kept, nothing sold."""
    cid, p = _customer(world), _package(world)
    b = as_("admin")
    page = f"/admin/customers/{cid}"
    used = f"USED-{uuid.uuid4().hex[:8]}"
    if case == "used":      # another customer's sale took the reference
        other_cid = _customer(world)
        assert b.post(f"/admin/customers/{other_cid}/voucher",
                      _form(b, f"/admin/customers/{other_cid}", p.id, used, "bank")).code == 200
    reference = {"empty": "", "too long": "x" * 129, "used": used, "no package": "RB-1"}[case]
    form = _form(b, page, p.id, reference, "bank")
    if case == "no package":
        form["package_id"] = ""
    r = b.post(f"{page}/voucher", form)
    assert r.code == 400, r.text[:300]
    field = "package_id" if case == "no package" else "reference"
    assert f'id="voucher-{field}-error"' in r.text and f'aria-describedby="voucher-{field}-error' in r.text
    assert re.search(r'<option value="bank" selected>', r.text)
    if case != "no package":
        assert re.search(rf'<option value="{p.id}" selected>', r.text) and f'value="{reference}"' in r.text
    assert _sold(world, cid) == []


def test_support_gets_the_403_page_and_no_form(world: World, as_: Any) -> None:
    """support may not sell: no form on the page, the POST answers the 403 page naming vouchers.sell."""
    cid, p = _customer(world), _package(world)
    b = as_("support")
    page = f"/admin/customers/{cid}"
    assert "Sell a voucher" not in b.get(page).text
    r = b.post(f"{page}/voucher", _form(b, page, p.id, "RB-SUP"))
    assert r.code == 403 and "vouchers.sell" in r.text and _sold(world, cid) == []


def test_the_form_needs_its_csrf_token(world: World, as_: Any) -> None:
    """Without the form's token, or with another's: 403, nothing sold."""
    cid, p = _customer(world), _package(world)
    b = as_("cashier")
    page = f"/admin/customers/{cid}"
    form = _form(b, page, p.id, "RB-CSRF")
    assert b.post(f"{page}/voucher", {**form, "csrf": ""}).code == 403
    assert b.post(f"{page}/voucher", {**form, "csrf": "not-the-token"}).code == 403
    assert _sold(world, cid) == []


def test_another_org_reaches_nothing(world: World, as_: Any) -> None:
    """The other org's owner: the demo customer's sale and a demo voucher's card are 404; selling its own
    customer the demo's package is refused by the package field."""
    cid, p = _customer(world), _package(world)
    demo = as_("cashier")
    page = f"/admin/customers/{cid}"
    assert demo.post(f"{page}/voucher", _form(demo, page, p.id, f"RB-{uuid.uuid4().hex[:8]}")).code == 200
    (v,) = _sold(world, cid)
    b = as_("other")
    theirs = _customer(world, world.other)
    their_page = f"/admin/customers/{theirs}"
    token = b.form_csrf(their_page)
    assert b.post(f"{page}/voucher", {"csrf": token, "package_id": str(p.id), "method": "cash",
                                      "reference": "X-1"}).code == 404
    assert b.get(f"/admin/vouchers/{v.id}.pdf").code == 404
    r = b.post(f"{their_page}/voucher", {"csrf": token, "package_id": str(p.id), "method": "cash",
                                         "reference": "X-2"})
    assert r.code == 400 and 'id="voucher-package_id-error"' in r.text and _sold(world, theirs, world.other) == []
    with world.db.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(vouchers_t).where(
            vouchers_t.c.sale_reference.in_(["X-1", "X-2"]))).scalar() == 0


# -- /admin/vouchers/sell ------------------------------------------------------------------------------

def _username(world: World, customer_id: int) -> str:
    with world.db.engine.connect() as c:
        found = customers.get(c, world.demo, customer_id)
    assert found is not None
    return str(found.username)


def test_the_vouchers_sell_page_finds_the_customer_by_username(world: World, as_: Any) -> None:
    """A cashier sells from /admin/vouchers/sell to a customer typed by username: the code and password once,
    the card and the customer's page linked; the vouchers list filters by that customer; twice sells one."""
    cid, p = _customer(world), _package(world)
    b = as_("cashier")
    assert "Sell a voucher" in b.get("/admin/vouchers").text
    form = {"csrf": b.form_csrf("/admin/vouchers/sell"), "customer": _username(world, cid),
            "package_id": str(p.id), "method": "cash", "reference": f"RB-{uuid.uuid4().hex[:8]}"}
    r = b.post("/admin/vouchers/sell", form)
    assert r.code == 200, r.text[:500]
    (v,) = _sold(world, cid)
    assert v.code in r.text and str(v.password) in r.text and f"vouchers/{v.id}.pdf" in r.text
    assert f"customers/{cid}" in r.text
    assert b.post("/admin/vouchers/sell", form).code == 200 and len(_sold(world, cid)) == 1
    assert v.code in b.get(f"/admin/vouchers?customer={cid}").text


@pytest.mark.parametrize("case,field", [("nobody", "customer"), ("", "customer"), ("pkg", "package_id"),
                                        ("ref", "reference"), ("method", "method")])
def test_the_vouchers_sell_page_keeps_what_was_typed(world: World, as_: Any, case: str, field: str) -> None:
    """An unknown customer, no package, no reference, a bad method: 400 by the field, the rest kept."""
    cid, p = _customer(world), _package(world)
    b = as_("admin")
    form = {"csrf": b.form_csrf("/admin/vouchers/sell"), "customer": _username(world, cid),
            "package_id": str(p.id), "method": "cash", "reference": "RB-typed"}
    form.update({"nobody": {"customer": "no-such-person"}, "": {"customer": ""}, "pkg": {"package_id": ""},
                 "ref": {"reference": ""}, "method": {"method": "cash money"}}[case])
    r = b.post("/admin/vouchers/sell", form)
    assert r.code == 400 and f'id="{field}-error"' in r.text and f'aria-describedby="{field}-error' in r.text
    if field != "reference":
        assert 'value="RB-typed"' in r.text
    assert _sold(world, cid) == []


def test_the_vouchers_sell_page_refuses_support_csrf_and_the_other_org(world: World, as_: Any) -> None:
    """support: 403 page (GET and POST); no CSRF token: 403; the other org's owner typing a demo customer's
    number: not found by the customer field."""
    cid, p = _customer(world), _package(world)
    sup = as_("support")
    assert sup.get("/admin/vouchers/sell").code == 403 and "Sell a voucher" not in sup.get("/admin/vouchers").text
    form = {"customer": str(cid), "package_id": str(p.id), "method": "cash", "reference": "RB-X"}
    assert sup.post("/admin/vouchers/sell", {**form, "csrf": "x"}).code == 403
    b = as_("cashier")
    assert b.post("/admin/vouchers/sell", form).code == 403
    o = as_("other")
    r = o.post("/admin/vouchers/sell", {**form, "csrf": o.form_csrf("/admin/vouchers/sell")})
    assert r.code == 400 and 'id="customer-error"' in r.text
    assert _sold(world, cid) == []
