"""The console's account pages beyond adding: changing a role (the last owner keeps theirs), enabling a
disabled account again, and the signed-in account changing its own password (every role)."""
from __future__ import annotations

from typing import Any

from tests.web.admin.conftest import PW, Admin, Console
from tests.web.api.conftest import NOW, World
from web.admin import accounts
from web.schema import audit as audit_t


def _fresh(world: World, email: str, role: str) -> accounts.Account:
    with world.db.engine.begin() as c:
        found = accounts.find(c, world.demo, email)
        return found or accounts.add(c, world.demo, email, "", role, PW, NOW)


def _audited(world: World, target: str) -> list[Any]:
    with world.db.engine.connect() as c:
        return list(c.execute(audit_t.select().where(audit_t.c.target == target).order_by(audit_t.c.id)))


def test_owner_changes_a_role_and_the_audit_log_says_so(as_: Any, world: World) -> None:
    """The owner makes a support account a cashier: the page says so, the role is stored, the entry names
    the owner; an unknown role gets its message next to that row's select (400)."""
    acc = _fresh(world, "promote@demo.example", "support")
    owner = as_("owner")
    token = owner.form_csrf("/admin/accounts")
    assert f'id="role-{acc.id}"' in owner.get("/admin/accounts").text
    r = owner.post(f"/admin/accounts/{acc.id}/role", {"csrf": token, "role": "boss"})
    assert r.code == 400 and f'aria-describedby="role-{acc.id}-error"' in r.text and "Choose one of" in r.text
    r = owner.post(f"/admin/accounts/{acc.id}/role", {"csrf": token, "role": "cashier"})
    assert r.code == 200 and "promote@demo.example is now cashier" in r.text
    with world.db.engine.connect() as c:
        assert accounts.get(c, world.demo, acc.id).role == "cashier"  # type: ignore[union-attr]
    entries = _audited(world, f"account {acc.id}")
    assert entries and entries[-1].token_name == "admin:owner@demo.example"


def test_last_owner_cannot_demote_themself(as_: Any, people: Console, world: World) -> None:
    """Org other's only owner asking to be an admin gets 400 and the reason next to the select; still owner."""
    b = as_("other")
    token = b.form_csrf("/admin/accounts")
    me = people.ids["other"]
    r = b.post(f"/admin/accounts/{me}/role", {"csrf": token, "role": "admin"})
    assert r.code == 400 and f'id="role-{me}-error"' in r.text and "last active owner" in r.text
    with world.db.engine.connect() as c:
        assert accounts.get(c, world.other, me).role == "owner"  # type: ignore[union-attr]


def test_owner_enables_a_disabled_account(as_: Any, site: Any, world: World) -> None:
    """Disabled, the account cannot sign in and shows an Enable button; enabled, it signs in again."""
    acc = _fresh(world, "comeback@demo.example", "support")
    owner = as_("owner")
    token = owner.form_csrf("/admin/accounts")
    assert owner.post(f"/admin/accounts/{acc.id}/disable", {"csrf": token}).code == 200
    assert Admin(site[0]).sign_in("comeback@demo.example").code == 400
    page = owner.get("/admin/accounts")
    assert f'action="../admin/accounts/{acc.id}/enable"' in page.text
    r = owner.post(f"/admin/accounts/{acc.id}/enable", {"csrf": token})
    assert r.code == 200 and "comeback@demo.example is enabled again" in r.text
    assert Admin(site[0]).sign_in("comeback@demo.example").code == 303


def test_role_and_enable_refused_to_other_roles(as_: Any, people: Console, world: World) -> None:
    """An admin, a cashier and support get the 403 page naming accounts.manage; nothing changes."""
    for key in ("admin", "cashier", "support"):
        b = as_(key)
        token = b.form_csrf("/admin/password")
        r = b.post(f"/admin/accounts/{people.ids['support']}/role", {"csrf": token, "role": "owner"})
        assert r.code == 403 and "accounts.manage" in r.text, key
        assert b.post(f"/admin/accounts/{people.ids['support']}/enable", {"csrf": token}).code == 403, key
    with world.db.engine.connect() as c:
        assert accounts.get(c, world.demo, people.ids["support"]).role == "support"  # type: ignore[union-attr]


def test_role_enable_and_password_need_csrf(as_: Any, people: Console, world: World) -> None:
    """Without the form's token each POST is refused with 403 and nothing changes."""
    owner = as_("owner")
    owner.get("/admin/accounts")
    for path, data in ((f"/admin/accounts/{people.ids['support']}/role", {"role": "owner"}),
                       (f"/admin/accounts/{people.ids['support']}/enable", {}),
                       ("/admin/password", {"current": PW, "password": "x" * 12, "again": "x" * 12})):
        assert owner.post(path, data).code == 403, path
    with world.db.engine.connect() as c:
        assert accounts.get(c, world.demo, people.ids["support"]).role == "support"  # type: ignore[union-attr]
    assert owner.get("/admin/accounts").code == 200


def test_org_isolation_for_role_and_enable(as_: Any, people: Console, world: World) -> None:
    """An owner of org B gets 404 for A's account on role and enable; A's account is unchanged."""
    b = as_("other")
    token = b.form_csrf("/admin/accounts")
    assert b.post(f"/admin/accounts/{people.ids['support']}/role", {"csrf": token, "role": "owner"}).code == 404
    assert b.post(f"/admin/accounts/{people.ids['support']}/enable", {"csrf": token}).code == 404
    with world.db.engine.connect() as c:
        assert accounts.get(c, world.demo, people.ids["support"]).role == "support"  # type: ignore[union-attr]


def test_every_role_changes_its_own_password(as_: Any, site: Any, world: World) -> None:
    """A cashier: errors next to the fields (wrong current, differing new ones); then the change: this
    browser stays signed in, another browser of the account is signed out, the new password signs in, the
    audit entry names the account and holds no password."""
    acc = _fresh(world, "ownpw@demo.example", "cashier")
    here, there = Admin(site[0]), Admin(site[0])
    assert here.sign_in("ownpw@demo.example").code == 303 and there.sign_in("ownpw@demo.example").code == 303
    page = here.get("/admin/password")
    assert page.code == 200 and 'autocomplete="current-password"' in page.text
    token = here.form_csrf("/admin/password")
    r = here.post("/admin/password", {"csrf": token, "current": "not it at all", "password": "brand new pw",
                                      "again": "brand new pw"})
    assert r.code == 400 and 'aria-describedby="current-error"' in r.text and "not your current" in r.text
    r = here.post("/admin/password", {"csrf": token, "current": PW, "password": "brand new pw",
                                      "again": "brand new px"})
    assert r.code == 400 and 'id="again-error"' in r.text and "brand new" not in r.text
    r = here.post("/admin/password", {"csrf": token, "current": PW, "password": "brand new pw",
                                      "again": "brand new pw"})
    assert r.code == 200 and "Your password is changed" in r.text
    assert here.get("/admin/").code == 200
    assert there.get("/admin/").code == 303
    assert Admin(site[0]).sign_in("ownpw@demo.example", "brand new pw").code == 303
    entries = _audited(world, f"account {acc.id}")
    assert entries[-1].token_name == "admin:ownpw@demo.example" and "brand new" not in str(tuple(entries[-1]))


def test_password_page_needs_a_sign_in(browser: Admin) -> None:
    """A stranger is sent to the sign-in page."""
    r = browser.get("/admin/password")
    assert r.code == 303 and (r.header("Location") or "").endswith("login")
