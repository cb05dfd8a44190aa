"""/{org}/portal/signup/...: the coverage step, the lead form and the contract, in process (StubTreq over the
real web root with the Portal's sessions and CSRF)."""
from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa

from aaad.view.write import LoginWriter
from billing import catalogue, customers
from billing.orders import orders
from billing.schema import contract_signatures, leads
from billing.schema import customers as customers_t
from billing.signup import contracts, coverage
from tests.web.api.conftest import NOW, World
from tests.web.portal.conftest import PASSWORD, Browser, customer_id

OSU = {"type": "Polygon", "coordinates": [[[-0.19, 5.54], [-0.16, 5.54], [-0.16, 5.57], [-0.19, 5.57],
                                            [-0.19, 5.54]]]}
ABENA = "abena@example.com"


@pytest.fixture(scope="module")
def zones(world: World) -> dict[str, int]:
    """Zone Osu (area, polygon) and Tema (postcodes) in demo, Adum in other; a product sold only in Osu in each
    org.  Product ids by "org/name"."""
    w = LoginWriter(world.box)
    out: dict[str, int] = {}
    with world.db.engine.begin() as c:
        if "Osu" not in {z.name for z in coverage.list_zones(c, world.demo)}:   # the demo's own zones aside
            coverage.add_zone(c, world.demo, NOW, name="Osu", areas=["Osu"], geojson=OSU)
            coverage.add_zone(c, world.demo, NOW, name="Tema", postcodes=["GT*"], areas=["Tema"])
            coverage.add_zone(c, world.other, NOW, name="Adum", areas=["Adum"])
            for org_id in (world.demo, world.other):
                catalogue.add_product(c, w, org_id, NOW, name="Fibre Osu", type="recurring", price=9900,
                                      setup_fee=5000, zones=["Osu"])
        for slug, org_id in (("demo", world.demo), ("other", world.other)):
            for p in catalogue.list_products(c, org_id):
                out[f"{slug}/{p.name}"] = p.id
    return out


def choose_links(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'href="([^"]*register\?product=[^"]*)"', page)]


def test_the_start_page_links_to_the_sign_up(browser: Browser) -> None:
    """A visitor on the portal's start page finds the way to sign up."""
    r = browser.get("/demo/portal/")
    assert r.code == 200 and 'href="../../demo/portal/signup/"' in r.text


def test_the_coverage_step_asks_where(browser: Browser, zones: Any) -> None:
    """Without an answer: the area list, postcode and coordinate fields, no products yet."""
    r = browser.get("/demo/portal/signup/")
    assert r.code == 200
    assert '<option value="Osu"' in r.text and '<option value="Tema"' in r.text and "Adum" not in r.text
    assert 'name="postcode"' in r.text and 'name="coordinates"' in r.text and not choose_links(r.text)


def test_an_area_shows_the_products_sold_there_as_cards(browser: Browser, zones: dict[str, int]) -> None:
    """Osu: the product sold only there plus those sold everywhere, each choosing register?product&zone; none
    of the other org's products."""
    r = browser.get("/demo/portal/signup/?area=osu")
    assert r.code == 200 and "Available in Osu" in r.text and '<option value="Osu" selected>' in r.text
    links = choose_links(r.text)
    assert all(link.startswith("../../../demo/portal/register?") for link in links)
    assert f"register?product={zones['demo/Fibre Osu']}&zone=Osu" in [link.split("/")[-1] for link in links]
    assert f"register?product={zones['demo/Home 10M']}&zone=Osu" in [link.split("/")[-1] for link in links]
    assert not any(f"product={pid}&" in link for k, pid in zones.items() if k.startswith("other/")
                   for link in links)
    assert "Set-up fee" in r.text
    tema = browser.get("/demo/portal/signup/?postcode=gt-044-1234")
    assert "Available in Tema" in tema.text and "Fibre Osu" not in tema.text and choose_links(tema.text)
    point = browser.get("/demo/portal/signup/?coordinates=5.555%2C+-0.175")
    assert "Available in Osu" in point.text and "Fibre Osu" in point.text


def test_outside_every_zone_offers_the_lead_form(browser: Browser, zones: Any) -> None:
    """A place no zone covers (here: the other org's area): "not yet available here" and the lead form with
    the place kept in hidden fields."""
    r = browser.get("/demo/portal/signup/?area=Adum&postcode=X9")
    assert r.code == 200 and "Not yet available here" in r.text and not choose_links(r.text)
    assert 'signup/lead"' in r.text
    assert 'name="postcode" value="X9"' in r.text and 'name="csrf"' in r.text


def test_bad_coordinates_get_a_message_next_to_the_field(browser: Browser, zones: Any) -> None:
    """Unreadable coordinates: 400, the message under the field, what was typed kept."""
    r = browser.get("/demo/portal/signup/?coordinates=north+of+here&postcode=GT1")
    assert r.code == 400
    assert 'id="coordinates-error"' in r.text and 'value="north of here"' in r.text and 'value="GT1"' in r.text


def lead_form(browser: Browser, **fields: str) -> dict[str, str]:
    token = browser.csrf("/demo/portal/signup/?postcode=X9")
    return {"csrf": token, "area": "", "postcode": "X9", "coordinates": "6.69, -1.62", "name": "Kwesi Appiah",
            "email": "kwesi@example.com", "phone": "", "note": "", "website": "", **fields}


def lead_count(world: World, **where: Any) -> int:
    with world.db.engine.connect() as c:
        q = sa.select(sa.func.count()).select_from(leads)
        for k, v in where.items():
            q = q.where(leads.c[k] == v)
        return int(c.execute(q).scalar_one())


def test_a_lead_is_kept_with_the_place(browser: Browser, world: World, zones: Any) -> None:
    """The lead form stores name, contacts and the place in the visitor's org; the thank-you page follows."""
    r = browser.post("/demo/portal/signup/lead", lead_form(browser, email="Kwesi@Example.com"))
    assert r.code == 200 and "Thank you" in r.text
    with world.db.engine.connect() as c:
        row = c.execute(sa.select(leads).where(leads.c.email == "kwesi@example.com")).one()
    assert (row.org_id, row.postcode, row.latitude, row.longitude) == (world.demo, "X9", 6.69, -1.62)


def test_a_bad_lead_keeps_what_was_typed(browser: Browser, world: World, zones: Any) -> None:
    """A bad e-mail: 400, the message next to the e-mail field, the name and e-mail as typed; nothing stored."""
    before = lead_count(world)
    r = browser.post("/demo/portal/signup/lead", lead_form(browser, name="Esi <Quaye>", email="esi-at-home"))
    assert r.code == 400
    assert 'id="lead-email-error"' in r.text and 'value="esi-at-home"' in r.text
    assert 'value="Esi &lt;Quaye&gt;"' in r.text and lead_count(world) == before
    r = browser.post("/demo/portal/signup/lead", lead_form(browser, email="", phone=""))
    assert r.code == 400 and 'id="lead-email-error"' in r.text


def test_the_lead_form_needs_its_csrf_token_and_ignores_bots(browser: Browser, world: World, zones: Any) -> None:
    """Without the CSRF token: 403; with the honeypot filled: thanked, nothing stored."""
    before = lead_count(world)
    form = lead_form(browser, email="bot@example.com")
    assert browser.post("/demo/portal/signup/lead", {**form, "csrf": "forged"}).code == 403
    r = browser.post("/demo/portal/signup/lead", {**form, "website": "http://spam.example"})
    assert r.code == 200 and "Thank you" in r.text and lead_count(world) == before


# -- the contract ----------------------------------------------------------------------------------

def new_contract(world: World, org_id: int, body: str = "We connect you.\n\nYou pay on time.") -> int:
    with world.db.engine.begin() as c:
        return contracts.add_version(c, org_id, NOW, title="Service agreement", body=body).id


def signatures(world: World, org_id: int, cid: int) -> list[Any]:
    with world.db.engine.connect() as c:
        return list(c.execute(sa.select(contract_signatures).where(contract_signatures.c.org_id == org_id,
                                                                    contract_signatures.c.customer_id == cid)))


@pytest.fixture(scope="module")
def abena(world: World) -> str:
    """A customer of demo (and one of other) with the test password, used only here."""
    with world.db.engine.begin() as c:
        for org_id in (world.demo, world.other):
            if c.execute(sa.select(customers_t.c.id).where(customers_t.c.org_id == org_id,
                                                          customers_t.c.email == ABENA)).first() is None:
                cid = customers.add(c, org_id, NOW, name="Abena Owusu", email=ABENA).id
                customers.set_password(c, org_id, cid, PASSWORD, NOW)
    return ABENA


def test_the_contract_step_needs_a_signed_in_customer(browser: Browser) -> None:
    """A visitor is sent to sign in, coming back to the contract."""
    r = browser.get("/demo/portal/signup/contract")
    assert r.code == 303 and r.required_header("Location").endswith("login?next=signup%2Fcontract")


def test_signing_the_contract(browser: Browser, world: World, abena: str) -> None:
    """The current version is shown; signing with name and tick stores version, name, time, IP, user agent and
    the PDF, then goes on to paying; the contract step then has nothing left to sign."""
    contract_id = new_contract(world, world.demo, "Clause <one> & more.\n\nClause two.")
    assert browser.login("demo", abena).code == 303
    page = browser.get("/demo/portal/signup/contract")
    assert page.code == 200 and "Clause &lt;one&gt; &amp; more." in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = browser.post("/demo/portal/signup/contract", {"csrf": token, "contract": str(contract_id),
                                                      "full_name": "Abena  Owusu", "agree": "yes"})
    assert r.code == 303 and r.required_header("Location").endswith("signup/pay")
    cid = customer_id(world, world.demo, abena)
    (row,) = [s for s in signatures(world, world.demo, cid) if s.contract_id == contract_id]
    assert (row.full_name, row.signed_at, row.ip) == ("Abena Owusu", NOW, "127.0.0.1")
    assert bytes(row.pdf).startswith(b"%PDF")
    again = browser.get("/demo/portal/signup/contract")
    assert again.code == 303 and again.required_header("Location").endswith("signup/pay")


def test_a_bad_signature_keeps_what_was_typed(browser: Browser, world: World, abena: str) -> None:
    """Name given but the box not ticked: 400, the message next to the box, the name kept; no tick and no name:
    the name's message; without CSRF: 403; nothing stored."""
    contract_id = new_contract(world, world.demo)
    assert browser.login("demo", abena).code == 303
    token = browser.csrf("/demo/portal/signup/contract")
    cid = customer_id(world, world.demo, abena)
    before = len(signatures(world, world.demo, cid))
    r = browser.post("/demo/portal/signup/contract", {"csrf": token, "contract": str(contract_id),
                                                      "full_name": "Abena Owusu"})
    assert r.code == 400 and 'id="agree-error"' in r.text and 'value="Abena Owusu"' in r.text
    r = browser.post("/demo/portal/signup/contract", {"csrf": token, "contract": str(contract_id), "agree": "yes"})
    assert r.code == 400 and 'id="full_name-error"' in r.text and " checked" in r.text
    assert browser.post("/demo/portal/signup/contract", {"contract": str(contract_id), "full_name": "Abena Owusu",
                                                         "agree": "yes"}).code == 403
    assert len(signatures(world, world.demo, cid)) == before


def test_a_changed_or_foreign_contract_is_not_signed(browser: Browser, world: World, abena: str) -> None:
    """Signing a version that is no longer current, or the other org's contract id: 400 with the new version
    shown, nothing stored; the other org's portal does not know this customer."""
    old = new_contract(world, world.demo)
    foreign = new_contract(world, world.other, "Other Net's terms.")
    assert browser.login("demo", abena).code == 303
    token = browser.csrf("/demo/portal/signup/contract")
    new = new_contract(world, world.demo, "The newest terms.")
    cid = customer_id(world, world.demo, abena)
    before = len(signatures(world, world.demo, cid))
    for contract_id in (old, foreign):
        r = browser.post("/demo/portal/signup/contract", {"csrf": token, "contract": str(contract_id),
                                                          "full_name": "Abena Owusu", "agree": "yes"})
        assert r.code == 400 and 'id="contract-error"' in r.text and "The newest terms." in r.text
        assert "Other Net&#39;s terms." not in r.text
        assert f'name="contract" value="{new}"' in r.text
    assert len(signatures(world, world.demo, cid)) == before
    r = browser.get("/other/portal/signup/contract")
    assert r.code == 303 and "login" in r.required_header("Location")


def test_signup_without_the_slash_finds_the_coverage_step(browser: Browser, zones: Any) -> None:
    """/{org}/portal/signup (as the README gives it) reaches the coverage step."""
    r = browser.get("/demo/portal/signup")
    if r.code in (301, 302, 303, 307, 308):
        assert r.required_header("Location").endswith("signup/"), r.required_header("Location")
        r = browser.get("/demo/portal/signup/")
    assert r.code == 200 and 'name="postcode"' in r.text


# -- the payment method ----------------------------------------------------------------------------

def place_order(world: World, org_id: int, email: str, product: str = "Static IP") -> int:
    """An order (method invoice, as the register form places it) for the customer, their contract signed."""
    with world.db.engine.begin() as c:
        cid = int(c.execute(sa.select(customers_t.c.id).where(customers_t.c.org_id == org_id,
                                                               customers_t.c.email == email)).scalar_one())
        cur = contracts.to_sign(c, org_id, cid)
        if cur is not None:
            contracts.sign(c, org_id, cid, cur.id, NOW, full_name="Abena Owusu", agreed=True, ip="192.0.2.1",
                           user_agent="test", pdf=b"%PDF-1.7 test")
        pid = catalogue.product_by_name(c, org_id, product).id  # type: ignore[union-attr]
        return orders.place(c, LoginWriter(world.box), org_id, cid, [pid], NOW).id


def order_of(world: World, org_id: int, order_id: int) -> orders.Order:
    with world.db.engine.connect() as c:
        return orders.require(c, org_id, order_id)


def test_the_pay_step_waits_for_the_contract(browser: Browser, world: World, abena: str) -> None:
    """With the current contract unsigned, the pay step sends the customer to sign it first."""
    place_order(world, world.demo, abena)
    new_contract(world, world.demo, "Yet another version.")
    assert browser.login("demo", abena).code == 303
    r = browser.get("/demo/portal/signup/pay")
    assert r.code == 303 and r.required_header("Location").endswith("signup/contract")


def test_the_pay_step_offers_paying_now_or_an_invoice(browser: Browser, world: World, abena: str) -> None:
    """The order waiting for payment: its total, a pay-now form to pay/order/ID (with CSRF) and the invoice
    choice; choosing the invoice shows what happens next and leaves the order placed, method invoice."""
    oid = place_order(world, world.demo, abena)
    assert browser.login("demo", abena).code == 303
    r = browser.get("/demo/portal/signup/pay")
    assert r.code == 200 and f"ORD-{oid:06d}" in r.text and "Static IP" in r.text
    assert f'action="../../../demo/portal/pay/order/{oid}"' in r.text
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    done = browser.post("/demo/portal/signup/pay", {"csrf": token, "order": str(oid)})
    assert done.code == 200 and "What happens next" in done.text and "actual start date" in done.text
    o = order_of(world, world.demo, oid)
    assert (o.status, o.method) == ("placed", "invoice")


def test_the_pay_step_reaches_only_the_customers_own_orders(browser: Browser, world: World, abena: str) -> None:
    """Another org's order, another customer's order, no CSRF token: 404, 404, 403; nothing changes."""
    mine = place_order(world, world.demo, abena)
    foreign = place_order(world, world.other, abena)
    with world.db.engine.begin() as c:
        orders.set_method(c, world.other, foreign, "gateway", NOW)
    theirs = place_order(world, world.demo, "ama@example.com")
    with world.db.engine.begin() as c:
        orders.set_method(c, world.demo, theirs, "gateway", NOW)
    assert browser.login("demo", abena).code == 303
    token = browser.csrf("/demo/portal/signup/pay")
    assert browser.post("/demo/portal/signup/pay", {"csrf": token, "order": str(foreign)}).code == 404
    assert browser.post("/demo/portal/signup/pay", {"csrf": token, "order": str(theirs)}).code == 404
    assert browser.post("/demo/portal/signup/pay", {"csrf": token, "order": "x"}).code == 404
    assert browser.post("/demo/portal/signup/pay", {"order": str(mine)}).code == 403
    assert order_of(world, world.other, foreign).method == "gateway"
    assert order_of(world, world.demo, theirs).method == "gateway"
    page = browser.get("/demo/portal/signup/pay").text
    assert f"ORD-{foreign:06d}" not in page and f"ORD-{theirs:06d}" not in page


def test_without_an_order_the_pay_step_says_so(browser: Browser, world: World) -> None:
    """A customer with no order waiting: nothing to pay (and no contract asked for), a link to the account."""
    assert browser.login("demo", "yaw@example.com").code == 303
    r = browser.get("/demo/portal/signup/pay")
    assert r.code == 200 and "no order waiting for payment" in r.text


def test_without_a_gateway_only_the_invoice_is_offered(browser: Browser, world: World, abena: str) -> None:
    """An org that takes no payments online: the pay step offers the invoice only, and says so."""
    from billing.gateways import store as gateways
    oid = place_order(world, world.demo, abena)
    with world.db.engine.begin() as c:
        gateways.set_gateway(c, world.box, world.demo, "none", NOW)
    try:
        assert browser.login("demo", abena).code == 303
        r = browser.get("/demo/portal/signup/pay")
        assert r.code == 200 and "does not take payments online" in r.text
        assert "pay/order/" not in r.text and f'name="order" value="{oid}"' in r.text
    finally:
        with world.db.engine.begin() as c:
            gateways.set_gateway(c, world.box, world.demo, "test", NOW)
