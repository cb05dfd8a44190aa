"""The console's catalogue in process: products (list, filters, CSV, a product's page with its RADIUS
profile and FUP tiers, add and edit with prices typed as people write them) and RADIUS profiles; the roles
refused, CSRF on every form, org isolation on every route, errors next to their fields."""
from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.view import store
from billing import catalogue
from tests.web.admin.conftest import Admin, Console, seat_people
from tests.web.api.conftest import NOW, World, seed_world
from web.schema import audit as audit_t


@pytest.fixture(scope="module")
def world(tmp_path_factory: Any) -> Iterator[World]:
    """This module's own seeded world (its products and profiles change here)."""
    w = seed_world(f"sqlite:///{tmp_path_factory.mktemp('admin-catalogue') / 'c.db'}")
    yield w
    w.db.engine.dispose()


@pytest.fixture(scope="module")
def people(world: World) -> Console:
    return seat_people(world)


def product_id(world: World, org_id: int, name: str) -> int:
    with world.db.engine.connect() as c:
        p = catalogue.product_by_name(c, org_id, name)
    assert p is not None
    return p.id


def profile_of(world: World, org_id: int, product: str) -> int:
    with world.db.engine.connect() as c:
        p = catalogue.product_by_name(c, org_id, product)
    assert p is not None and p.profile_id is not None
    return p.profile_id


def token(b: Admin) -> str:
    return b.form_csrf("/admin/")


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- products ---------------------------------------------------------------------------------------


def test_products_list_filters_csv_and_menu(console_as: Any, world: World) -> None:
    """The list shows the demo's products with their price; filters by type and name; the CSV has every
    matching product; the menu links Products (and RADIUS profiles for an admin)."""
    b: Admin = console_as("owner")
    r = b.get("/admin/products")
    assert r.code == 200 and "Home 10M" in r.text and "Router installation" in r.text
    assert 'href="../admin/products"' in r.text and 'href="../admin/profiles"' in r.text
    assert "25.00" in r.text and 'href="../admin/products/new"' in r.text
    r = b.get("/admin/products?type=one_time")
    assert "Router installation" in r.text and "Home 10M" not in r.text
    r = b.get("/admin/products?q=home")
    assert "Home 50M" in r.text and "Static IP" not in r.text
    r = b.get("/admin/products?type=internet&format=csv")
    assert r.code == 200 and (r.header("Content-Type") or "").startswith("text/csv")
    rows = csv_rows(r.text)
    assert {x["name"] for x in rows} >= {"Home 10M", "Home 50M"} and all(x["type"] == "internet" for x in rows)
    home = next(x for x in rows if x["name"] == "Home 10M")
    assert home["price"] == "25.00" and home["rate_limit"]


def test_products_empty_state_says_what_to_do(console_as: Any) -> None:
    """No match: an empty state with the way back; the cursor of another list gives the first page."""
    b: Admin = console_as("owner")
    r = b.get("/admin/products?q=no-such-thing")
    assert r.code == 200 and "No product matches" in r.text and "Show every product" in r.text
    assert "Home 10M" in b.get("/admin/products?after=garbage").text


def test_product_page_shows_price_vat_profile_and_tiers(console_as: Any, world: World) -> None:
    """A product's page: price and period, VAT handling, its RADIUS profile and FUP tiers; a cashier sees
    it without the edit link or the tier forms."""
    pid = product_id(world, world.demo, "Home 10M")
    b: Admin = console_as("owner")
    r = b.get(f"/admin/products/{pid}")
    assert r.code == 200 and "Home 10M" in r.text and "RADIUS profile" in r.text and "FUP tiers" in r.text
    assert "VAT" in r.text and f'href="../../admin/products/{pid}/edit"' in r.text
    cashier: Admin = console_as("cashier")
    r = cashier.get(f"/admin/products/{pid}")
    assert r.code == 200 and "/edit" not in r.text and "Add the tier" not in r.text
    assert 'href="../admin/profiles"' not in cashier.get("/admin/products").text


def test_add_an_internet_product_with_a_tier(console_as: Any, world: World) -> None:
    """The form: a price as typed (1,250.50), a data cap as a size; the product and its profile are made,
    the write audited; a FUP tier is added and removed on its page."""
    b: Admin = console_as("owner")
    assert b.get("/admin/products/new").code == 200
    r = b.post("/admin/products", {"csrf": token(b), "name": "Fibre 100", "type": "internet", "price": "1,250.50",
                                   "period": "monthly", "setup_fee": "10", "taxable": "1", "on_portal": "1",
                                   "active": "1", "data_cap": "500G", "rate_limit": "100M/100M",
                                   "fup_rate_limit": "2M/2M", "zones": "North, South"})
    assert r.code == 303, r.text
    pid = product_id(world, world.demo, "Fibre 100")
    assert r.header("Location") == f"../admin/products/{pid}"
    with world.db.engine.connect() as c:
        p = catalogue.get_product(c, world.demo, pid)
        assert p is not None and (p.price, p.setup_fee, p.data_cap, p.zones) == (125050, 1000, 500 * 10**9,
                                                                                  ("North", "South"))
        prof = store.get_profile(c, world.demo, p.profile_id or 0)
        assert prof is not None and prof.rate_limit == "100M/100M"
        entry = c.execute(sa.select(audit_t).where(audit_t.c.target == "product Fibre 100")).first()
        assert entry is not None and entry.token_name == "admin:owner@demo.example"
    r = b.post(f"/admin/products/{pid}/tiers", {"csrf": token(b), "after": "100G", "rate_limit": "5M/5M"})
    assert r.code == 303
    page = b.get(f"/admin/products/{pid}")
    assert "100G" in page.text and "5M/5M" in page.text
    r = b.post(f"/admin/products/{pid}/tiers", {"csrf": token(b), "after": "100G", "rate_limit": "1M/1M"})
    assert r.code == 400 and 'id="tier-after-error"' in r.text and 'value="1M/1M"' in r.text
    r = b.post(f"/admin/products/{pid}/tiers/remove", {"csrf": token(b), "after": str(100 * 10**9)})
    assert r.code == 303
    with world.db.engine.connect() as c:
        prof = store.get_profile(c, world.demo, profile_of(world, world.demo, "Fibre 100"))
        assert prof is not None and prof.fup_tiers == ()


def test_bad_fields_come_back_next_to_the_field_with_what_was_typed(console_as: Any) -> None:
    """A bad price and an empty name: 400, each message next to its field, the typed values kept; the
    domain's own refusal (a name taken) is shown next to the name."""
    b: Admin = console_as("admin")
    r = b.post("/admin/products", {"csrf": token(b), "name": "", "type": "internet", "price": "12.3.4",
                                   "period": "monthly", "data_cap": "lots"})
    assert r.code == 400
    assert 'id="name-error"' in r.text and 'aria-describedby="price-error' in r.text
    assert 'value="12.3.4"' in r.text and 'id="data_cap-error"' in r.text and 'value="lots"' in r.text
    r = b.post("/admin/products", {"csrf": token(b), "name": "Home 10M", "type": "internet", "price": "5",
                                   "period": "monthly"})
    assert r.code == 400 and 'id="name-error"' in r.text and "already exists" in r.text
    r = b.post("/admin/products", {"csrf": token(b), "name": "Install", "type": "one_time", "price": "5",
                                   "period": "monthly"})
    assert r.code == 400 and 'id="period-error"' in r.text
    r = b.post("/admin/products", {"csrf": token(b), "name": "Phone", "type": "voice", "price": "5",
                                   "period": "monthly", "rate_limit": "1M/1M"})
    assert r.code == 400 and 'id="rate_limit-error"' in r.text


def test_edit_a_product_and_retire_it(console_as: Any, world: World) -> None:
    """The edit form is filled in; a new price and "still sold" unticked: the product is retired and listed
    under Retired."""
    pid = product_id(world, world.demo, "Static IP")
    b: Admin = console_as("owner")
    r = b.get(f"/admin/products/{pid}/edit")
    assert r.code == 200 and 'value="5.00"' in r.text and 'value="Static IP"' in r.text
    r = b.post(f"/admin/products/{pid}/edit", {"csrf": token(b), "name": "Static IP", "price": "7.50",
                                                "period": "monthly", "taxable": "1"})
    assert r.code == 303
    with world.db.engine.connect() as c:
        p = catalogue.get_product(c, world.demo, pid)
    assert p is not None and (p.price, p.active, p.on_portal) == (750, False, False)
    assert "Static IP" in b.get("/admin/products?state=retired").text
    assert "Static IP" not in b.get("/admin/products?state=active").text
    r = b.post(f"/admin/products/{pid}/edit", {"csrf": token(b), "name": "", "price": "x", "period": "monthly"})
    assert r.code == 400 and 'id="name-error"' in r.text and 'value="x"' in r.text


# -- profiles ---------------------------------------------------------------------------------------


def test_profiles_list_add_edit_and_tiers(console_as: Any, world: World) -> None:
    """Profiles: the list and CSV, a new profile, a change (an emptied field clears it), tiers added and
    removed, a bad rate limit next to its field."""
    b: Admin = console_as("admin")
    r = b.get("/admin/profiles")
    assert r.code == 200 and "Home 10M" in r.text
    assert "Home 10M" in b.get("/admin/profiles?format=csv").text
    assert b.get("/admin/profiles/new").code == 200
    r = b.post("/admin/profiles", {"csrf": token(b), "name": "Staff", "rate_limit": "50M/50M", "pool": "staff",
                                   "session_timeout": "3600"})
    assert r.code == 303
    with world.db.engine.connect() as c:
        p = store.profile_by_name(c, world.demo, "Staff")
    assert p is not None and (p.rate_limit, p.pool, p.session_timeout) == ("50M/50M", "staff", 3600)
    r = b.post(f"/admin/profiles/{p.id}", {"csrf": token(b), "rate_limit": "60M/60M", "pool": ""})
    assert r.code == 303
    r = b.post(f"/admin/profiles/{p.id}/tiers", {"csrf": token(b), "after": "20G", "rate_limit": "10M/10M"})
    assert r.code == 303
    page = b.get(f"/admin/profiles/{p.id}")
    assert page.code == 200 and "20G" in page.text and 'value="60M/60M"' in page.text
    with world.db.engine.connect() as c:
        p2 = store.get_profile(c, world.demo, p.id)
    assert p2 is not None and (p2.rate_limit, p2.pool, p2.session_timeout) == ("60M/60M", None, None)
    r = b.post(f"/admin/profiles/{p.id}/tiers/remove", {"csrf": token(b), "after": str(20 * 10**9)})
    assert r.code == 303 and "20G" not in b.get(f"/admin/profiles/{p.id}").text
    r = b.post(f"/admin/profiles/{p.id}", {"csrf": token(b), "rate_limit": "10 M", "session_timeout": "-1"})
    assert r.code == 400 and 'id="session_timeout-error"' in r.text and 'value="10 M"' in r.text
    r = b.post(f"/admin/profiles/{p.id}", {"csrf": token(b), "rate_limit": "10 M"})
    assert r.code == 400 and 'id="rate_limit-error"' in r.text
    r = b.post("/admin/profiles", {"csrf": token(b), "name": "Staff"})
    assert r.code == 400 and 'id="name-error"' in r.text
    r = b.post(f"/admin/profiles/{p.id}/tiers", {"csrf": token(b), "after": "", "rate_limit": ""})
    assert r.code == 400 and 'id="tier-after-error"' in r.text and 'id="tier-rate_limit-error"' in r.text


def test_profiles_empty_state(console_as: Any) -> None:
    b: Admin = console_as("owner")
    r = b.get("/admin/profiles?q=nothing-like-this")
    assert r.code == 200 and "No profile matches" in r.text


# -- roles, CSRF, orgs ------------------------------------------------------------------------------


def write_routes(world: World, org_id: int) -> list[tuple[str, dict[str, str]]]:
    pid = product_id(world, org_id, "Home 50M")
    prof = profile_of(world, org_id, "Home 50M")
    return [
        ("/admin/products", {"name": "X", "type": "internet", "price": "1", "period": "monthly"}),
        (f"/admin/products/{pid}/edit", {"name": "Home 50M", "price": "45", "period": "monthly", "active": "1"}),
        (f"/admin/products/{pid}/tiers", {"after": "1G", "rate_limit": "1M/1M"}),
        (f"/admin/products/{pid}/tiers/remove", {"after": "1"}),
        ("/admin/profiles", {"name": "Y"}),
        (f"/admin/profiles/{prof}", {"rate_limit": "1M/1M"}),
        (f"/admin/profiles/{prof}/tiers", {"after": "1G", "rate_limit": "1M/1M"}),
        (f"/admin/profiles/{prof}/tiers/remove", {"after": "1"}),
    ]


def test_a_cashier_and_support_are_refused_every_change(console_as: Any, world: World) -> None:
    """The 403 page naming the permission for the forms and every write; profiles need network.read, which
    a cashier lacks; nothing changed."""
    pid = product_id(world, world.demo, "Home 50M")
    for role in ("cashier", "support"):
        b: Admin = console_as(role)
        for path in ("/admin/products/new", f"/admin/products/{pid}/edit", "/admin/profiles/new"):
            r = b.get(path)
            assert r.code == 403 and ("catalogue.write" in r.text or "network.write" in r.text), (role, path)
        for path, data in write_routes(world, world.demo):
            r = b.post(path, {"csrf": token(b), **data})
            assert r.code == 403, (role, path)
    cashier: Admin = console_as("cashier")
    prof = profile_of(world, world.demo, "Home 50M")
    for path in ("/admin/profiles", f"/admin/profiles/{prof}"):
        r = cashier.get(path)
        assert r.code == 403 and "network.read" in r.text
    with world.db.engine.connect() as c:
        p = catalogue.get_product(c, world.demo, pid)
    assert p is not None and p.price == 4500 and p.active


def test_every_form_needs_the_csrf_token(console_as: Any, world: World) -> None:
    """Every POST without the session's CSRF token: 403."""
    b: Admin = console_as("owner")
    for path, data in write_routes(world, world.demo):
        assert b.post(path, data).code == 403, path
        assert b.post(path, {"csrf": "forged", **data}).code == 403, path


def test_another_orgs_owner_gets_404_for_every_demo_id(console_as: Any, world: World) -> None:
    """The owner of org other: every demo product and profile id, on every route, is not found."""
    b: Admin = console_as("other")
    pid = product_id(world, world.demo, "Home 50M")
    prof = profile_of(world, world.demo, "Home 50M")
    for path in (f"/admin/products/{pid}", f"/admin/products/{pid}/edit", f"/admin/profiles/{prof}"):
        assert b.get(path).code == 404, path
    for path, data in write_routes(world, world.demo)[1:]:
        if path.startswith("/admin/profiles") and path.count("/") == 2:
            continue
        assert b.post(path, {"csrf": token(b), **data}).code == 404, path
    assert "Home 50M" in b.get("/admin/products").text        # its own, same name
    assert f'products/{pid}"' not in b.get("/admin/products").text


def test_the_list_pages_with_a_cursor_keeping_the_filters(console_as: Any, world: World) -> None:
    """More than a page (named to sort last): 50 on the first with a "Next page" link keeping the
    filter; the rest on the second with a way back to the first; the CSV has them all."""
    from aaad.view.write import LoginWriter
    with world.db.engine.begin() as c:
        for i in range(55):
            catalogue.add_product(c, LoginWriter(world.box), world.demo, NOW, name=f"Zz bulk {i:02d}",
                                  type="recurring", price=100)
    b: Admin = console_as("owner")
    r = b.get("/admin/products?q=bulk")
    assert r.text.count('href="../admin/products/') - r.text.count('products/new') == 50
    m = re.search(r'href="([^"]*after=[^"]+)" rel="next"', r.text)
    assert m, r.text
    nxt = html.unescape(m.group(1))
    assert "q=bulk" in nxt
    r2 = b.get("/admin/" + nxt.split("admin/", 1)[1])
    assert r2.code == 200 and "Zz bulk 54" in r2.text and "Zz bulk 00" not in r2.text and "First page" in r2.text
    assert len(csv_rows(b.get("/admin/products?q=bulk&format=csv").text)) == 55
