"""The admin API's billing settings, products and discount rules, in process on the seeded world."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from aaad.schema import profiles
from tests.web.api.conftest import ApiClient, World, count


def _fields(r: Any) -> set[str]:
    return {e["field"] for e in r.json()["error"]["errors"]}


def _product(api: ApiClient, name: str) -> dict[str, Any]:
    found = [p for p in api.get("/products?limit=500").json()["items"] if p["name"] == name]
    assert found, name
    return found[0]


# -- billing settings -----------------------------------------------------------------------------

def test_billing_settings_show_the_demo_values(api: ApiClient) -> None:
    """GET /billing-settings: the org's settings, with its currency and time zone."""
    r = api.get("/billing-settings")
    s = r.json()
    assert r.code == 200
    assert (s["vat_bp"], s["suspend_mode"], s["payment_terms_days"], s["brand_name"]) == (
        1500, "walled_garden", 7, "Demo ISP")
    assert s["currency"] == "USD" and s["timezone"]


def test_patch_billing_settings_changes_only_what_is_sent(api: ApiClient) -> None:
    """PATCH changes the fields sent (a brand field cleared with null), leaves the rest, and is audited."""
    before = api.get("/billing-settings").json()
    r = api.patch("/billing-settings", {"grace_days": 5, "country": "gh", "brand_tax_id": None,
                                        "prices_include_vat": True})
    after = r.json()
    assert r.code == 200
    assert (after["grace_days"], after["country"], after["brand_tax_id"], after["prices_include_vat"]) == (
        5, "GH", None, True)
    assert after["vat_bp"] == before["vat_bp"] and after["invoice_prefix"] == before["invoice_prefix"]
    assert api.get("/billing-settings").json() == after
    audit = api.get("/audit?target=billing settings").json()["items"][0]
    assert audit["before"]["grace_days"] == before["grace_days"] and audit["after"]["grace_days"] == 5
    api.patch("/billing-settings", {k: before[k] for k in ("grace_days", "country", "brand_tax_id",
                                                          "prices_include_vat")})


def test_patch_billing_settings_names_every_bad_field(api: ApiClient) -> None:
    """Out-of-range, wrong-type and unknown keys: one 422 naming each; nothing changes."""
    before = api.get("/billing-settings").json()
    r = api.patch("/billing-settings", {"vat_bp": 10_001, "billing_day": 29, "suspend_mode": "block",
                                        "auto_resume": "maybe", "grace_days": 5, "currency": "EUR",
                                        "brand_colour": "blue"})
    assert r.code == 422
    assert _fields(r) == {"vat_bp", "billing_day", "suspend_mode", "auto_resume", "currency", "brand_colour"}
    assert api.get("/billing-settings").json() == before


def test_patch_billing_settings_null_leaves_a_required_setting(api: ApiClient) -> None:
    """null for a setting that cannot be empty leaves it (as customers' PATCH does); for a brand field it
    clears it."""
    before = api.get("/billing-settings").json()
    r = api.patch("/billing-settings", {"grace_days": None, "vat_bp": None, "brand_address": None})
    assert r.code == 200
    assert (r.json()["grace_days"], r.json()["vat_bp"], r.json()["brand_address"]) == (
        before["grace_days"], before["vat_bp"], None)
    api.patch("/billing-settings", {"brand_address": before["brand_address"]})


def test_patch_billing_settings_domain_checks_name_the_field(api: ApiClient) -> None:
    """A country the phone library does not know and an unknown locale are the domain's 422s."""
    r = api.patch("/billing-settings", {"country": "ZZ"})
    assert r.code == 422 and r.json()["error"]["field"] == "country"
    r = api.patch("/billing-settings", {"locale": "xx_QQ"})
    assert r.code == 422 and r.json()["error"]["field"] == "locale"


def test_billing_settings_are_per_org_and_read_only_tokens_cannot_change_them(api: ApiClient) -> None:
    """The other org's PATCH does not touch demo's settings; a read-only token reads but gets 403."""
    mine = api.get("/billing-settings").json()
    other = api.as_("other")
    assert other.patch("/billing-settings", {"invoice_prefix": "OTH-"}).json()["invoice_prefix"] == "OTH-"
    assert api.get("/billing-settings").json()["invoice_prefix"] == mine["invoice_prefix"]
    ro = api.as_("demo_ro")
    assert ro.get("/billing-settings").code == 200
    r = ro.patch("/billing-settings", {"grace_days": 9})
    assert r.code == 403 and api.get("/billing-settings").json()["grace_days"] == mine["grace_days"]


# -- products -----------------------------------------------------------------------------------

def test_list_products_with_money_currency_and_profile(api: ApiClient) -> None:
    """GET /products: the demo catalogue, prices in minor units with the currency, an internet product's
    profile fields alongside."""
    r = api.get("/products?limit=500")
    items = r.json()["items"]
    assert r.code == 200 and {"Home 10M", "Static IP", "Router installation"} <= {p["name"] for p in items}
    home = _product(api, "Home 10M")
    assert (home["price"], home["setup_fee"], home["currency"], home["type"]) == (2500, 1000, "USD", "internet")
    assert (home["rate_limit"], home["fup_rate_limit"], home["pool"]) == ("10M/10M", "1M/1M", "pppoe-pool")
    assert home["profile_id"] is not None
    static = _product(api, "Static IP")
    assert static["profile_id"] is None and static["rate_limit"] is None


def test_list_products_filters_and_sorts(api: ApiClient) -> None:
    """type, on_portal and q filter; sort=-price pages in descending price with a cursor."""
    internet = api.get("/products?type=internet&limit=500").json()["items"]
    assert internet and all(p["type"] == "internet" for p in internet)
    hidden = api.get("/products?on_portal=false").json()["items"]
    assert [p["name"] for p in hidden] == ["Router installation"]
    assert [p["name"] for p in api.get("/products?q=hotspot").json()["items"]] == ["Hotspot day"]
    first = api.get("/products?sort=-price&limit=2").json()
    second = api.get(f"/products?sort=-price&limit=2&cursor={first['next_cursor']}").json()
    prices = [p["price"] for p in first["items"] + second["items"]]
    assert len(prices) == 4 and prices == sorted(prices, reverse=True)


def test_list_products_bad_query_is_422(api: ApiClient) -> None:
    """An unknown type and sort: 422 naming both."""
    r = api.get("/products?type=tv&sort=colour")
    assert r.code == 422 and _fields(r) == {"type", "sort"}


def test_get_product_and_unknown_or_other_orgs_product_is_404(api: ApiClient) -> None:
    """GET /products/{id}: demo's product; an unknown id and the other org's product are 404."""
    home = _product(api, "Home 10M")
    assert api.get(f"/products/{home['id']}").json() == home
    theirs = _product(api.as_("other"), "Home 10M")
    assert theirs["id"] != home["id"]
    for pid in (theirs["id"], 999_999):
        r = api.get(f"/products/{pid}")
        assert r.code == 404 and r.json()["error"]["code"] == "not_found"
        assert api.patch(f"/products/{pid}", {"price": 1}).code == 404
        assert api.post(f"/products/{pid}/retire").code == 404
    assert api.as_("other").patch(f"/products/{home['id']}", {"price": 1}).code == 404
    assert api.get(f"/products/{home['id']}").json()["price"] == home["price"]


def test_create_internet_product_creates_its_profile(api: ApiClient, world: World) -> None:
    """POST /products (internet): 201 with the product and a new RADIUS profile of its name."""
    before = count(world, profiles, org_id=world.demo)
    r = api.post("/products", {"name": "Fibre 100M", "type": "internet", "price": 9900, "setup_fee": 5000,
                               "rate_limit": "100M/100M", "data_cap": 10**12, "zones": ["north", "east"]})
    p = r.json()
    assert r.code == 201
    assert (p["name"], p["price"], p["currency"], p["period"], p["rate_limit"], p["zones"], p["active"]) == (
        "Fibre 100M", 9900, "USD", "monthly", "100M/100M", ["east", "north"], True)
    assert count(world, profiles, org_id=world.demo) == before + 1
    with world.db.engine.connect() as c:
        name = c.execute(sa.select(profiles.c.name).where(profiles.c.id == p["profile_id"])).scalar_one()
    assert name == "Fibre 100M"


def test_create_one_time_product_defaults_to_period_once(api: ApiClient) -> None:
    """A one_time product without a period is billed once; a recurring one monthly."""
    assert api.post("/products", {"name": "Site survey", "type": "one_time", "price": 1500}).json()["period"] \
        == "once"
    assert api.post("/products", {"name": "Backup line", "type": "recurring", "price": 700}).json()["period"] \
        == "monthly"


def test_create_product_names_every_bad_field(api: ApiClient) -> None:
    """Missing name, unknown type, negative price, empty zone and an unknown key: one 422 naming each."""
    r = api.post("/products", {"type": "tv", "price": -1, "zones": [""], "colour": "red"})
    assert r.code == 422 and _fields(r) == {"name", "type", "price", "zones.0", "colour"}


def test_create_product_domain_errors_name_their_field(api: ApiClient) -> None:
    """A duplicate name, a profile field on a non-internet product, period_days without period=days and
    a monthly one_time product: 422 naming the field; nothing created."""
    cases = [({"name": "Home 10M", "type": "internet", "price": 1}, "name"),
             ({"name": "Voice A", "type": "voice", "price": 1, "rate_limit": "1M/1M"}, "rate_limit"),
             ({"name": "Voice B", "type": "voice", "price": 1, "period_days": 7}, "period_days"),
             ({"name": "Once C", "type": "one_time", "price": 1, "period": "monthly"}, "period")]
    for body, field in cases:
        r = api.post("/products", body)
        assert r.code == 422 and r.json()["error"]["field"] == field, (body, r.json())
    names = {p["name"] for p in api.get("/products?limit=500").json()["items"]}
    assert not names & {"Voice A", "Voice B", "Once C"}


def test_update_product_changes_price_and_profile(api: ApiClient, world: World) -> None:
    """PATCH /products/{id}: price, a profile field and a cleared profile field change; the rest stays."""
    p = api.post("/products", {"name": "Biz 20M", "type": "internet", "price": 3000, "rate_limit": "20M/20M",
                               "pool": "biz"}).json()
    r = api.patch(f"/products/{p['id']}", {"price": 3500, "rate_limit": "25M/25M", "pool": None,
                                           "name": "Business 25M"})
    q = r.json()
    assert r.code == 200
    assert (q["price"], q["rate_limit"], q["pool"], q["name"], q["setup_fee"]) == (
        3500, "25M/25M", None, "Business 25M", 0)
    with world.db.engine.connect() as c:
        rl = c.execute(sa.select(profiles.c.rate_limit).where(profiles.c.id == p["profile_id"])).scalar_one()
    assert rl == "25M/25M"


def test_update_product_refusals_name_the_field(api: ApiClient) -> None:
    """Changing the type, a negative price and the period of a product with live services: 422 naming
    each; a null price leaves it."""
    home = _product(api, "Home 10M")
    r = api.patch(f"/products/{home['id']}", {"type": "voice"})
    assert r.code == 422 and r.json()["error"]["field"] == "type"
    r = api.patch(f"/products/{home['id']}", {"price": -5})
    assert r.code == 422 and r.json()["error"]["field"] == "price"
    assert api.patch(f"/products/{home['id']}", {"price": None}).json()["price"] == home["price"]
    r = api.patch(f"/products/{home['id']}", {"period": "daily"})
    assert r.code == 422 and r.json()["error"]["field"] == "period"
    assert api.get(f"/products/{home['id']}").json()["period"] == "monthly"


def test_retire_product_stops_selling_it(api: ApiClient) -> None:
    """POST /products/{id}/retire: active false, filtered out of active=true; PATCH active=true sells again."""
    p = api.post("/products", {"name": "Old plan", "type": "recurring", "price": 100}).json()
    r = api.post(f"/products/{p['id']}/retire")
    assert r.code == 200 and r.json()["active"] is False
    assert p["id"] not in {x["id"] for x in api.get("/products?active=true&limit=500").json()["items"]}
    assert p["id"] in {x["id"] for x in api.get("/products?active=false&limit=500").json()["items"]}
    assert api.patch(f"/products/{p['id']}", {"active": True}).json()["active"] is True


def test_read_only_token_cannot_write_products(api: ApiClient) -> None:
    """A read-only token lists products but its create, update and retire are 403."""
    ro = api.as_("demo_ro")
    home = _product(api, "Home 10M")
    assert ro.get("/products").code == 200
    for r in (ro.post("/products", {"name": "RO", "type": "recurring", "price": 1}),
              ro.patch(f"/products/{home['id']}", {"price": 1}),
              ro.post(f"/products/{home['id']}/retire")):
        assert r.code == 403
    assert api.get(f"/products/{home['id']}").json() == home


def test_other_orgs_products_are_never_listed(api: ApiClient) -> None:
    """Lists with demo's token never hold the other org's product ids."""
    mine = {p["id"] for p in api.get("/products?limit=500").json()["items"]}
    theirs = {p["id"] for p in api.as_("other").get("/products?limit=500").json()["items"]}
    assert mine and theirs and not mine & theirs


# -- discounts ----------------------------------------------------------------------------------

def test_discounts_list_add_get_and_remove(api: ApiClient) -> None:
    """The demo's Home 50M discount is listed; a new fixed one is added with its currency, read, removed."""
    big = _product(api, "Home 50M")
    listed = api.get(f"/discounts?product_id={big['id']}").json()["items"]
    assert [(d["kind"], d["value"], d["periods"]) for d in listed] == [("percent", 2000, 3)]
    r = api.post("/discounts", {"product_id": big["id"], "kind": "fixed", "value": 500, "until": "2027-06-01"})
    d = r.json()
    assert r.code == 201 and (d["kind"], d["value"], d["currency"], d["until"]) == ("fixed", 500, "USD",
                                                                                   "2027-06-01")
    assert api.get(f"/discounts/{d['id']}").json() == d
    r = api.delete(f"/discounts/{d['id']}")
    assert r.code == 200 and r.json()["id"] == d["id"]
    assert api.get(f"/discounts/{d['id']}").code == 404
    assert api.delete(f"/discounts/{d['id']}").code == 404


def test_discount_errors(api: ApiClient) -> None:
    """A percentage over 100 %, the other org's product and bad fields: 422 naming the field;
    the other org's discount is 404; the read-only token gets 403."""
    big = _product(api, "Home 50M")
    r = api.post("/discounts", {"product_id": big["id"], "kind": "percent", "value": 10_001})
    assert r.code == 422 and r.json()["error"]["field"] == "value"
    theirs = _product(api.as_("other"), "Home 50M")
    r = api.post("/discounts", {"product_id": theirs["id"], "value": 100})
    assert r.code == 422 and r.json()["error"]["field"] == "product_id"
    r = api.post("/discounts", {"kind": "half", "value": 0, "until": "soon"})
    assert r.code == 422 and _fields(r) == {"product_id", "kind", "value", "until"}
    their_discount = api.as_("other").get("/discounts").json()["items"][0]
    assert api.get(f"/discounts/{their_discount['id']}").code == 404
    assert api.delete(f"/discounts/{their_discount['id']}").code == 404
    assert api.as_("other").get(f"/discounts/{their_discount['id']}").code == 200
    assert api.as_("demo_ro").post("/discounts", {"product_id": big["id"], "value": 100}).code == 403
