"""The console's voucher pages in process: packages (add, change, retire, sell again), batches (generate,
the cards as the API's PDF, the codes as its CSV, revoke), vouchers (list, look up by code, revoke); empty
states that say what to do first; a role without vouchers.write gets the 403 page; every POST needs the
CSRF token; an admin of org "other" gets 404 for every demo package, batch and voucher; a bad field gets
its message next to it with what was typed kept."""
from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import pytest

from aaad import orgs
from aaad.view.write import LoginWriter
from billing.vouchers import batches, cards, packages, vouchers
from tests.web.admin.conftest import PW, Admin
from tests.web.api.conftest import NOW, ApiClient, World
from web.admin import accounts


def _token(b: Admin) -> str:
    return b.form_csrf("/admin/")


def _package(world: World, **kw: Any) -> packages.Package:
    values: dict[str, Any] = {"name": f"Test {uuid.uuid4().hex[:8]}", "price": 150} | kw
    with world.db.engine.begin() as c:
        return packages.add(c, LoginWriter(world.box), world.demo, NOW, **values)


def _batch(world: World, count: int = 3) -> batches.Batch:
    p = _package(world)
    with world.db.engine.begin() as c:
        return batches.create(c, LoginWriter(world.box), world.demo, p.id, count, NOW, note="test")


def _vouchers(world: World, batch_id: int) -> list[vouchers.Voucher]:
    with world.db.engine.connect() as c:
        return vouchers.list_for_batch(c, world.demo, batch_id, NOW)


def _get_package(world: World, package_id: int) -> packages.Package:
    with world.db.engine.connect() as c:
        return packages.require(c, world.demo, package_id)


def _error_next_to(page: str, name: str) -> bool:
    return f'id="{name}-error"' in page and re.search(rf'id="{name}"[^>]*aria-describedby="{name}-error', page) \
        is not None


PACKAGE = {"name": "", "price": "2.50", "profile_id": "", "rate_limit": "3M/3M", "time_limit": "90",
           "data_limit": "500", "validity_hours": "24", "expires_at": "", "shared_users": "1", "code_length": "8",
           "prefix": "", "on_portal": "1"}


# -- packages ------------------------------------------------------------------------------------

def test_packages_list_and_csv(console_as: Any) -> None:
    """Every role reads the packages (the demo's three), filtered and as CSV."""
    b = console_as("support")
    page = b.get("/admin/vouchers/packages")
    assert page.code == 200 and "1 hour" in page.text and "Week pass" in page.text
    assert "Add a package" not in page.text and "/retire" not in page.text
    rows = list(csv.reader(io.StringIO(b.get("/admin/vouchers/packages?format=csv").text)))
    assert rows[0][:3] == ["id", "name", "price"] and "1 hour" in [r[1] for r in rows]


def test_add_change_retire_and_sell_again(console_as: Any, people: Any) -> None:
    """A package added from the form (amount, minutes and megabytes in the domain's units, a profile made
    from the rate limit), changed, retired and sold again; each write audited."""
    world = people.world
    name = f"Evening {uuid.uuid4().hex[:6]}"
    b = console_as("admin")
    r = b.post("/admin/vouchers/packages", {**PACKAGE, "name": name, "csrf": _token(b)})
    assert r.code == 303, r.text
    with world.db.engine.connect() as c:
        p = packages.by_name(c, world.demo, name)
    assert p is not None and (p.price, p.time_limit, p.data_limit, p.validity_hours) == (250, 5400, 500 * 10**6, 24)
    assert p.rate_limit == "3M/3M" and p.on_portal and not p.bind_mac
    form = b.get(f"/admin/vouchers/packages/{p.id}").text
    assert 'value="2.50"' in form and 'value="90"' in form and 'value="500"' in form
    r = b.post(f"/admin/vouchers/packages/{p.id}",
               {**PACKAGE, "name": name, "price": "3", "rate_limit": "", "profile_id": str(p.profile_id),
                "csrf": _token(b)})
    assert r.code == 303, r.text
    changed = _get_package(world, p.id)
    assert changed.price == 300 and changed.on_portal
    assert b.post(f"/admin/vouchers/packages/{p.id}/retire", {"csrf": _token(b)}).code == 303
    assert not _get_package(world, p.id).active
    assert "retired" in b.get("/admin/vouchers/packages?active=no").text
    assert b.post(f"/admin/vouchers/packages/{p.id}/reinstate", {"csrf": _token(b)}).code == 303
    assert _get_package(world, p.id).active
    assert f"voucher package {p.id}" in b.get("/admin/audit").text


def test_package_form_errors_keep_what_was_typed(console_as: Any, people: Any) -> None:
    """A bad price, a bound voucher shared by two, a name in use: 400, the message next to the field."""
    b = console_as("owner")
    r = b.post("/admin/vouchers/packages", {**PACKAGE, "name": "Odd", "price": "two", "csrf": _token(b)})
    assert r.code == 400 and _error_next_to(r.text, "price") and 'value="two"' in r.text and 'value="Odd"' in r.text
    r = b.post("/admin/vouchers/packages", {**PACKAGE, "name": "Odd", "shared_users": "2", "bind_mac": "1",
                                            "csrf": _token(b)})
    assert r.code == 400 and 'id="bind_mac-error"' in r.text and 'value="2"' in r.text
    r = b.post("/admin/vouchers/packages", {**PACKAGE, "name": "1 hour", "rate_limit": "", "csrf": _token(b)})
    assert r.code == 400 and _error_next_to(r.text, "name") and "already exists" in r.text
    r = b.post("/admin/vouchers/packages", {**PACKAGE, "name": "Odd", "time_limit": "-3", "csrf": _token(b)})
    assert r.code == 400 and _error_next_to(r.text, "time_limit") and 'value="-3"' in r.text
    with people.world.db.engine.connect() as c:
        assert packages.by_name(c, people.world.demo, "Odd") is None


# -- batches -------------------------------------------------------------------------------------

def test_generate_a_batch_print_it_and_download_its_codes(console_as: Any, people: Any, site: Any) -> None:
    """Generate 4 vouchers with a prefix; the batch page lists them unused; the PDF link answers the API's
    PDF bytes, the CSV the API's file with passwords."""
    world = people.world
    p = _package(world)
    b = console_as("admin")
    assert f'value="{p.id}" selected' in b.get(f"/admin/vouchers/batches/new?package={p.id}").text
    r = b.post("/admin/vouchers/batches", {"csrf": _token(b), "package_id": str(p.id), "count": "4",
                                           "note": "front desk", "code_length": "6", "prefix": "QA"})
    assert r.code == 303, r.text
    bid = int(re.search(r"batches/(\d+)\?done=generated", r.header("Location") or "").group(1))  # type: ignore
    vs = _vouchers(world, bid)
    assert len(vs) == 4 and all(v.code.startswith("QA") and len(v.code) == 8 for v in vs)
    page = b.get(f"/admin/vouchers/batches/{bid}?done=generated")
    assert page.code == 200 and "Print the cards" in page.text and "front desk" in page.text
    assert all(v.code in page.text for v in vs) and page.text.count(">unused<") == 4
    pdf = b.get(f"/admin/vouchers/batches/{bid}.pdf")
    assert pdf.code == 200 and pdf.header("Content-Type") == "application/pdf" and pdf.body.startswith(b"%PDF")
    api = ApiClient(site[0], world)
    assert api.get(f"/voucher-batches/{bid}.pdf").body == pdf.body
    got = b.get(f"/admin/vouchers/batches/{bid}.csv")
    assert got.code == 200 and got.header("Content-Type") == "text/csv; charset=utf-8"
    assert got.body == api.get(f"/voucher-batches/{bid}.csv").body
    rows = list(csv.reader(io.StringIO(got.text)))
    assert rows[0] == cards.CSV_HEADERS and len(rows) == 5 and all(r[1] for r in rows[1:])
    listed = b.get(f"/admin/vouchers/batches?package={p.id}")
    assert f"batches/{bid}\"" in listed.text
    rows = list(csv.reader(io.StringIO(b.get("/admin/vouchers/batches?format=csv").text)))
    assert str(bid) in [r[0] for r in rows]


def test_batch_form_errors(console_as: Any, people: Any) -> None:
    """No package, a count out of range, a retired package: 400 with the message next to the field."""
    world = people.world
    b = console_as("owner")
    r = b.post("/admin/vouchers/batches", {"csrf": _token(b), "package_id": "", "count": "5"})
    assert r.code == 400 and _error_next_to(r.text, "package_id") and 'value="5"' in r.text
    p = _package(world)
    r = b.post("/admin/vouchers/batches", {"csrf": _token(b), "package_id": str(p.id), "count": "0",
                                           "note": "kept"})
    assert r.code == 400 and _error_next_to(r.text, "count") and 'value="kept"' in r.text
    r = b.post("/admin/vouchers/batches", {"csrf": _token(b), "package_id": str(p.id), "count": "2",
                                           "prefix": "no way!"})
    assert r.code == 400 and _error_next_to(r.text, "prefix") and 'value="no way!"' in r.text
    with world.db.engine.begin() as c:
        packages.update(c, world.demo, p.id, NOW, active=False)
    r = b.post("/admin/vouchers/batches", {"csrf": _token(b), "package_id": str(p.id), "count": "2"})
    assert r.code == 400 and "retired" in r.text
    with world.db.engine.connect() as c:
        assert batches.page(c, world.demo, package_id=p.id).items == []


def test_revoke_a_batch_and_a_voucher(console_as: Any, people: Any) -> None:
    """Revoking one voucher, then the whole batch: their states say revoked."""
    world = people.world
    bt = _batch(world)
    first = _vouchers(world, bt.id)[0]
    b = console_as("admin")
    assert b.post(f"/admin/vouchers/{first.id}/revoke", {"csrf": _token(b)}).code == 303
    page = b.get(f"/admin/vouchers/{first.id}?done=revoked").text
    assert "Revoked:" in page and "revoked" in page
    assert [v.state for v in _vouchers(world, bt.id)].count("revoked") == 1
    assert b.post(f"/admin/vouchers/batches/{bt.id}/revoke", {"csrf": _token(b)}).code == 303
    assert {v.state for v in _vouchers(world, bt.id)} == {"revoked"}
    assert "Revoke every voucher" not in b.get(f"/admin/vouchers/batches/{bt.id}").text


def test_a_batch_page_is_paged(console_as: Any, people: Any) -> None:
    """A batch of 60: its page lists 50 codes and links the next page, which lists the other 10."""
    world = people.world
    bt = _batch(world, 60)
    codes = [v.code for v in _vouchers(world, bt.id)]
    b = console_as("cashier")
    first = b.get(f"/admin/vouchers/batches/{bt.id}").text
    assert sum(c in first for c in codes) == 50
    m = re.search(r'href="([^"]+)" rel="next"', first)
    assert m is not None
    second = b.get("/admin/vouchers/batches/" + m.group(1).replace("&amp;", "&").rsplit("/", 1)[1]).text
    assert sum(c in second for c in codes) == 10 and "First page" in second
    assert sum(c in b.get(f"/admin/vouchers/batches/{bt.id}?after=junk").text for c in codes) == 50


# -- vouchers ------------------------------------------------------------------------------------

def test_look_up_a_code_and_list_vouchers(console_as: Any, people: Any) -> None:
    """A code typed in lower case with spaces opens its voucher; an unknown one says so next to the box;
    the list filters by batch and state and exports CSV without passwords."""
    world = people.world
    bt = _batch(world, 2)
    v = _vouchers(world, bt.id)[0]
    b = console_as("cashier")
    typed = " ".join(v.code.lower())
    r = b.get("/admin/vouchers?code=" + typed.replace(" ", "+"))
    assert r.code == 303 and (r.header("Location") or "").endswith(f"admin/vouchers/{v.id}")
    page = b.get(f"/admin/vouchers/{v.id}")
    assert page.code == 200 and v.code in page.text and "created" in page.text and "/revoke" not in page.text
    r = b.get("/admin/vouchers?code=NOSUCHCODE")
    assert r.code == 200 and 'id="lookup-code-error"' in r.text and "No voucher has the code NOSUCHCODE" in r.text
    listed = b.get(f"/admin/vouchers?batch={bt.id}&state=unused").text
    assert v.code in listed
    got = b.get(f"/admin/vouchers?batch={bt.id}&format=csv")
    rows = list(csv.reader(io.StringIO(got.text)))
    assert rows[0][:2] == ["id", "code"] and "password" not in rows[0] and len(rows) == 3


def test_empty_states_say_what_to_do_first(site: Any, people: Any) -> None:
    """An org with no packages: each voucher page says to add a package first, with the link."""
    world = people.world
    with world.db.engine.begin() as c:
        org = orgs.add(c, f"empty{uuid.uuid4().hex[:6]}", "Empty Net", NOW)
        accounts.add(c, org.id, "owner@empty.example", "Owner", "owner", PW, NOW)
    b = Admin(site[0])
    assert b.sign_in("owner@empty.example").code == 303
    for path in ("/admin/vouchers/packages", "/admin/vouchers/batches", "/admin/vouchers"):
        page = b.get(path).text
        assert "No voucher packages yet: add one" in page and "admin/vouchers/packages/new" in page, path
    assert "add a package" in b.get("/admin/vouchers/batches/new").text.lower()
    for path in ("/admin/registrations", "/admin/orders", "/admin/tickets"):
        assert 'class="empty"' in b.get(path).text, path


# -- roles, CSRF, isolation ------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["cashier", "support"])
def test_roles_without_vouchers_write_get_the_403_page(console_as: Any, people: Any, role: str) -> None:
    """A cashier or support reads the voucher pages and prints cards, but may not add, change, generate
    or revoke (vouchers.write): the 403 page, nothing changed."""
    world = people.world
    bt = _batch(world, 1)
    v = _vouchers(world, bt.id)[0]
    b = console_as(role)
    assert b.get(f"/admin/vouchers/batches/{bt.id}").code == 200
    assert b.get(f"/admin/vouchers/batches/{bt.id}.csv").code == 200
    for path in ("/admin/vouchers/packages/new", "/admin/vouchers/batches/new"):
        r = b.get(path)
        assert r.code == 403 and "vouchers.write" in r.text, path
    token = _token(b)
    for path, data in (("/admin/vouchers/packages", {**PACKAGE, "name": "Nope"}),
                       (f"/admin/vouchers/packages/{bt.package_id}", {**PACKAGE, "name": "Nope"}),
                       (f"/admin/vouchers/packages/{bt.package_id}/retire", {}),
                       ("/admin/vouchers/batches", {"package_id": str(bt.package_id), "count": "1"}),
                       (f"/admin/vouchers/batches/{bt.id}/revoke", {}),
                       (f"/admin/vouchers/{v.id}/revoke", {})):
        r = b.post(path, {**data, "csrf": token})
        assert r.code == 403 and "vouchers.write" in r.text, path
    assert _get_package(world, bt.package_id).active
    assert _vouchers(world, bt.id)[0].state == "unused"


def test_every_voucher_post_needs_the_csrf_token(console_as: Any, people: Any) -> None:
    """Each voucher form's POST without the session's token: 403, nothing changes."""
    world = people.world
    bt = _batch(world, 1)
    v = _vouchers(world, bt.id)[0]
    b = console_as("owner")
    for path, data in (("/admin/vouchers/packages", {**PACKAGE, "name": "Forged"}),
                       (f"/admin/vouchers/packages/{bt.package_id}", {**PACKAGE, "name": "Forged"}),
                       (f"/admin/vouchers/packages/{bt.package_id}/retire", {}),
                       (f"/admin/vouchers/packages/{bt.package_id}/reinstate", {}),
                       ("/admin/vouchers/batches", {"package_id": str(bt.package_id), "count": "1"}),
                       (f"/admin/vouchers/batches/{bt.id}/revoke", {}),
                       (f"/admin/vouchers/{v.id}/revoke", {})):
        assert b.post(path, data).code == 403, path
        assert b.post(path, {**data, "csrf": "forged"}).code == 403, path
    assert _get_package(world, bt.package_id).active and _vouchers(world, bt.id)[0].state == "unused"


def test_an_admin_of_another_org_reaches_no_demo_voucher(console_as: Any, people: Any) -> None:
    """The owner of org "other" gets 404 for every demo package, batch and voucher, reading and writing;
    a demo package id is no package for its batch form; a demo code is not found."""
    world = people.world
    bt = _batch(world, 1)
    v = _vouchers(world, bt.id)[0]
    pid = bt.package_id
    b = console_as("other")
    token = _token(b)
    for path in (f"/admin/vouchers/packages/{pid}", f"/admin/vouchers/batches/{bt.id}",
                 f"/admin/vouchers/batches/{bt.id}.pdf", f"/admin/vouchers/batches/{bt.id}.csv",
                 f"/admin/vouchers/{v.id}"):
        assert b.get(path).code == 404, path
    for path, data in ((f"/admin/vouchers/packages/{pid}", {**PACKAGE, "name": "Taken over"}),
                       (f"/admin/vouchers/packages/{pid}/retire", {}),
                       (f"/admin/vouchers/packages/{pid}/reinstate", {}),
                       (f"/admin/vouchers/batches/{bt.id}/revoke", {}),
                       (f"/admin/vouchers/{v.id}/revoke", {})):
        assert b.post(path, {**data, "csrf": token}).code == 404, path
    r = b.post("/admin/vouchers/batches", {"csrf": token, "package_id": str(pid), "count": "1"})
    assert r.code == 400 and "no such voucher package" in r.text
    r = b.get(f"/admin/vouchers?code={v.code}")
    assert r.code == 200 and "No voucher has the code" in r.text
    assert v.code not in b.get("/admin/vouchers?format=csv").text
    assert f"batches/{bt.id}\"" not in b.get("/admin/vouchers/batches").text
    assert _get_package(world, pid).active and _vouchers(world, bt.id)[0].state == "unused"
