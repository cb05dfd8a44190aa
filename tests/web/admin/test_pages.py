"""The console's pages in process: sign-in with and without a second factor, enrolment, the dashboard,
accounts (owner only), the audit log, the 403 page, and the security rules (CSRF on every form, session
fixation, sign-out, org isolation, the throttle, a code never accepted twice)."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
from twisted.internet import task

from tests.web.admin.conftest import PEOPLE, PW, Admin, Console
from tests.web.api.conftest import NOW, World
from web.admin import accounts
from web.admin.app import WRONG, WRONG_CODE


def test_pages_need_a_sign_in(browser: Admin) -> None:
    """Every console page sends a stranger to the sign-in page."""
    for path in ("/admin/", "/admin/accounts", "/admin/audit", "/admin/2fa", "/admin/login/code"):
        r = browser.get(path)
        assert r.code == 303 and (r.header("Location") or "").endswith("login"), path
    assert browser.get("/admin/login").code == 200


def test_sign_in_without_two_factor(browser: Admin) -> None:
    """The right password: a new session, the dashboard with the org's figures and a nudge to set up 2FA."""
    r = browser.sign_in("OWNER@demo.example")
    assert r.code == 303 and r.header("Location") == "../admin/"
    page = browser.get("/admin/")
    assert page.code == 200 and "Dashboard" in page.text and "set up two-factor login" in page.text
    assert 'id="figure-online_sessions"' in page.text and "Demo" in page.text


def test_wrong_password_and_unknown_look_the_same(browser: Admin) -> None:
    """A wrong password and an unknown address get the same 400, keep the address, never the password."""
    answers = []
    for email, pw in (("owner@demo.example", "not the password"), ("nobody@demo.example", PW)):
        r = browser.sign_in(email, pw)
        assert r.code == 400 and WRONG in r.text and f'value="{email}"' in r.text and pw not in r.text
        answers.append(r.text.replace(email, "X").split('name="csrf"')[0])
    assert answers[0] == answers[1]


def test_empty_fields_get_messages_next_to_them(browser: Admin) -> None:
    """Empty address and password: a message under each field."""
    token = browser.form_csrf("/admin/login")
    r = browser.post("/admin/login", {"csrf": token, "email": "", "password": ""})
    assert r.code == 400 and 'id="email-error"' in r.text and 'aria-describedby="password-error"' in r.text


def test_two_factor_sign_in_and_code_not_reusable(site: Any, people: Console, clock: task.Clock) -> None:
    """An enrolled account: password, then the code step; a wrong code is refused; the right one signs in;
    the same code is refused in another browser within its window; a recovery code works once."""
    b = Admin(site[0])
    r = b.sign_in("totp@demo.example")
    assert r.code == 303 and r.header("Location") == "../admin/login/code"
    assert b.get("/admin/").header("Location") == "../admin/login/code"
    code = people.code(NOW)
    wrong = "000000" if code != "000000" else "111111"
    r = b.send_code(wrong)
    assert r.code == 400 and WRONG_CODE in r.text and 'id="code-error"' in r.text
    half = dict(b.cookies)
    r = b.send_code(code)
    assert r.code == 303 and b.get("/admin/").code == 200
    assert b.cookies != half                     # a new session after the second factor
    clock.advance(10)
    again = Admin(site[0])
    assert again.sign_in("totp@demo.example").code == 303
    assert again.send_code(code).code == 400     # the same code, still in its window: refused
    third = Admin(site[0])
    third.sign_in("totp@demo.example")
    assert third.send_code(people.codes[0]).code == 303
    fourth = Admin(site[0])
    fourth.sign_in("totp@demo.example")
    assert fourth.send_code(people.codes[0]).code == 400


def test_session_fixation(site: Any) -> None:
    """A session cookie planted before sign-in is worth nothing after it: sign-in sets a new one."""
    b = Admin(site[0])
    b.get("/admin/login")
    planted = dict(b.cookies)
    assert b.sign_in("owner@demo.example").code == 303
    assert b.cookies["aaad_admin"] != planted["aaad_admin"]
    attacker = Admin(site[0])
    attacker.cookies = planted
    assert attacker.get("/admin/").code == 303


def test_cookie_flags(as_: Any) -> None:
    """The console's cookie is HttpOnly, SameSite=Strict and scoped to /admin/."""
    b = as_("owner")
    c = b.set_cookies[-1]
    assert "HttpOnly" in c and "SameSite=strict" in c and "Path=/admin/" in c


def test_logout_ends_the_session(as_: Any) -> None:
    """Sign-out (POST with CSRF) deletes the session: the old cookie no longer signs in."""
    b = as_("owner")
    cookie = dict(b.cookies)
    token = b.form_csrf("/admin/")
    r = b.post("/admin/logout", {"csrf": token})
    assert r.code == 303
    b.cookies = cookie
    assert b.get("/admin/").code == 303


def test_every_form_needs_csrf(as_: Any, browser: Admin, people: Console) -> None:
    """Each POST without the session's token gets 403 and changes nothing."""
    assert browser.post("/admin/login", {"email": "owner@demo.example", "password": PW}).code == 403
    b = as_("owner")
    for path, data in (("/admin/logout", {}), ("/admin/2fa", {"code": "123456"}),
                       ("/admin/accounts", {"email": "x@demo.example", "role": "admin", "password": PW}),
                       (f"/admin/accounts/{people.ids['support']}/disable", {}),
                       (f"/admin/accounts/{people.ids['totp']}/reset-2fa", {})):
        assert b.post(path, {**data, "csrf": "forged"}).code == 403, path
    assert b.get("/admin/").code == 200         # still signed in: the logout was refused
    with people.world.db.engine.connect() as c:
        assert accounts.find(c, people.world.demo, "x@demo.example") is None
        assert accounts.get(c, people.world.demo, people.ids["support"]).active  # type: ignore[union-attr]


def test_throttle_stops_brute_force(browser: Admin, clock: task.Clock) -> None:
    """Five wrong passwords for an address: the sixth try waits (429), even with the right password."""
    for _ in range(5):
        assert browser.sign_in("admin@demo.example", "wrong password!").code == 400
    r = browser.sign_in("admin@demo.example")
    assert r.code == 429 and "Too many tries" in r.text and r.header("Retry-After")
    clock.advance(61)
    assert browser.sign_in("admin@demo.example").code == 303


def test_code_step_is_throttled(site: Any, people: Console) -> None:
    """Wrong codes count against the account like wrong passwords: after five, even the right code waits."""
    b = Admin(site[0])
    b.sign_in("totp@demo.example")
    for _ in range(5):
        assert b.send_code("999999" if people.code(NOW) != "999999" else "888888").code == 400
    r = b.send_code(people.code(NOW))
    assert r.code == 429


def test_enrol_two_factor(as_: Any, site: Any, clock: task.Clock, world: World) -> None:
    """An account enrols: a QR code (inline SVG) and the key as text; a wrong code keeps the page with the
    message; the right one shows ten recovery codes once; the next sign-in asks for a code."""
    with world.db.engine.begin() as c:
        a = accounts.add(c, world.demo, "enrol@demo.example", "", "admin", PW, NOW)
    b = Admin(site[0])
    assert b.sign_in("enrol@demo.example").code == 303
    page = b.get("/admin/2fa")
    assert page.code == 200 and "<svg" in page.text and "QR code for your authenticator app" in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert b.get("/admin/2fa").text.count(secret[:4]) >= 1      # the same secret until confirmed
    token = b.form_csrf("/admin/2fa")
    r = b.post("/admin/2fa", {"csrf": token, "code": "12"})
    assert r.code == 400 and 'id="code-error"' in r.text and "<svg" in r.text
    r = b.post("/admin/2fa", {"csrf": token, "code": pyotp.TOTP(secret).at(NOW)})
    assert r.code == 200 and "shown only now" in r.text
    shown = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", r.text)
    assert len(shown) == 10
    import sqlalchemy as sa

    from web.schema import audit
    with world.db.engine.connect() as c:         # the enrolment is audited, its recovery codes are not kept
        row = c.execute(sa.select(audit).where(audit.c.target == f"account {a.id}")).one()
    assert row.token_name == "admin:enrol@demo.example" and '"recovery_codes":10' in row.after
    assert not any(code in row.after for code in shown)
    assert "Two-factor login is on" in b.get("/admin/2fa").text
    clock.advance(30)
    again = Admin(site[0])
    assert again.sign_in("enrol@demo.example").header("Location") == "../admin/login/code"
    assert again.send_code(pyotp.TOTP(secret).at(NOW + timedelta(seconds=30))).code == 303
    with world.db.engine.connect() as c:
        assert accounts.get(c, world.demo, a.id).totp_enabled  # type: ignore[union-attr]


def test_accounts_page_is_for_owners(as_: Any) -> None:
    """Owners see the accounts page; admin, cashier and support get the 403 page naming the permission."""
    assert "support@demo.example" in as_("owner").get("/admin/accounts").text
    for key in ("admin", "cashier", "support"):
        r = as_(key).get("/admin/accounts")
        assert r.code == 403 and "accounts.manage" in r.text and "Not allowed" in r.text, key
        assert 'href="../admin/accounts"' not in r.text       # and the menu does not offer it


def test_owner_adds_disables_resets_and_the_audit_log_says_so(as_: Any, site: Any, people: Console,
                                                              world: World) -> None:
    """Add (a bad field keeps what was typed), disable, reset 2FA: each a row in the audit log naming the
    owner as admin:<email>; the disabled account's session ends."""
    owner = as_("owner")
    token = owner.form_csrf("/admin/accounts")
    r = owner.post("/admin/accounts", {"csrf": token, "email": "new@demo.example", "name": "Nana",
                                       "role": "cashier", "password": "short"})
    assert r.code == 400 and 'id="new-password-error"' in r.text and 'value="new@demo.example"' in r.text
    r = owner.post("/admin/accounts", {"csrf": token, "email": "new@demo.example", "name": "Nana",
                                       "role": "cashier", "password": PW})
    assert r.code == 200 and "new@demo.example added as cashier" in r.text
    with world.db.engine.connect() as c:
        new = accounts.find(c, world.demo, "new@demo.example")
    assert new is not None
    newbie = Admin(site[0])
    assert newbie.sign_in("new@demo.example").code == 303
    r = owner.post(f"/admin/accounts/{new.id}/disable", {"csrf": token})
    assert r.code == 200 and "is disabled" in r.text
    assert newbie.get("/admin/").code == 303
    r = owner.post(f"/admin/accounts/{people.ids['totp']}/reset-2fa", {"csrf": token})
    assert r.code == 200 and "Two-factor login of totp@demo.example is reset" in r.text
    audit = owner.get("/admin/audit?actor=admin:owner@demo.example")
    assert audit.code == 200
    assert audit.text.count("admin:owner@demo.example</td>") >= 3
    assert f"account {new.id}" in audit.text and "account new@demo.example" in audit.text
    # put the TOTP account back for the other tests
    with world.db.engine.begin() as c:
        secret, _ = accounts.begin_totp(c, world.box, world.demo, people.ids["totp"])
        people.secret = secret
        people.codes[:] = accounts.confirm_totp(c, world.box, world.demo, people.ids["totp"],
                                                pyotp.TOTP(secret).at(NOW - timedelta(minutes=10)),
                                                NOW - timedelta(minutes=10))


def test_org_isolation(as_: Any, people: Console) -> None:
    """An owner of org B sees B's accounts only and cannot disable or reset an account of org A (404)."""
    b = as_("other")
    page = b.get("/admin/accounts")
    assert "owner@other.example" in page.text and "demo.example" not in page.text
    token = b.form_csrf("/admin/accounts")
    for action in ("disable", "reset-2fa"):
        assert b.post(f"/admin/accounts/{people.ids['support']}/{action}", {"csrf": token}).code == 404
    assert "Demo" not in b.get("/admin/").text.split("<main>")[0]


def test_audit_log_is_for_owners_and_admins(as_: Any) -> None:
    """audit.read: owner and admin see the log; a cashier gets the 403 page."""
    assert as_("admin").get("/admin/audit").code == 200
    r = as_("cashier").get("/admin/audit")
    assert r.code == 403 and "audit.read" in r.text


def test_platform_admin_chooses_an_org(site: Any, world: World) -> None:
    """A platform admin signs in, is asked for the org, and then sees its dashboard."""
    with world.db.engine.begin() as c:
        if accounts.find(c, None, "root@aaad.example") is None:
            accounts.add(c, None, "root@aaad.example", "", "owner", PW, NOW)
    b = Admin(site[0])
    assert b.sign_in("root@aaad.example").code == 303
    assert b.get("/admin/").header("Location") == "../admin/orgs"
    token = b.form_csrf("/admin/orgs")
    assert b.post("/admin/orgs", {"csrf": token, "org": "other"}).code == 303
    assert b.get("/admin/").code == 200


def test_people_fixture_roles() -> None:
    """Every role has someone to test with."""
    assert {r for _, _, r in PEOPLE.values()} == {"owner", "admin", "cashier", "support"}


def test_idle_session_ends(as_: Any, clock: task.Clock) -> None:
    """Thirty minutes without a request: the next page asks to sign in again."""
    b = as_("admin")
    clock.advance(29 * 60)
    assert b.get("/admin/").code == 200          # activity keeps it alive
    clock.advance(29 * 60)
    assert b.get("/admin/").code == 200
    clock.advance(31 * 60)
    assert b.get("/admin/").header("Location") == "../admin/login"


def test_admin_without_slash_redirects(browser: Admin) -> None:
    """/admin goes to /admin/ (and from there to the sign-in)."""
    r = browser.get("/admin")
    assert r.code in (301, 308) and (r.header("Location") or "").endswith("admin/")


def test_cookie_is_secure_over_tls(site: Any) -> None:
    """Over HTTPS the console's cookie is also Secure."""
    b = Admin(site[0], secure=True)
    b.get("/admin/login")
    assert "Secure" in b.set_cookies[-1]


def test_audit_entries_name_the_account_and_page(as_: Any, people: Console, world: World) -> None:
    """A console write's audit row carries the account's id (token 0); the log pages by 50, newest first."""
    import sqlalchemy as sa

    from web.schema import audit
    owner = as_("owner")
    token = owner.form_csrf("/admin/accounts")
    for i in range(51):
        owner.post("/admin/accounts", {"csrf": token, "email": f"bulk{i}@demo.example", "role": "support",
                                       "password": "short"})      # refused: no audit entry
    assert owner.post("/admin/accounts", {"csrf": token, "email": "bulk@demo.example", "role": "support",
                                          "password": PW}).code == 200
    with world.db.engine.begin() as c:
        row = c.execute(sa.select(audit).where(audit.c.target == "account bulk@demo.example")).one()
        assert row.account_id == people.ids["owner"] and row.token_id == 0 and row.org_id == world.demo
        assert "password" not in row.after and "bulk@demo.example" in row.after
        for i in range(60):
            c.execute(audit.insert().values(org_id=world.demo, token_id=0, token_name="admin:pager@demo.example",
                                            at=NOW, method="POST", route="/admin/x", target=f"thing {i}"))
    first = owner.get("/admin/audit?actor=admin:pager@demo.example")
    assert first.text.count("admin:pager@demo.example</td>") == 50 and "thing 59<" in first.text
    nxt = re.search(r'href="\.\./admin/(audit\?[^"]+)">Older entries', first.text)
    assert nxt
    second = owner.get("/admin/" + nxt.group(1).replace("&amp;", "&"))
    assert second.text.count("admin:pager@demo.example</td>") == 10 and "thing 0<" in second.text
    assert "Older entries" not in second.text


def test_writes_refused_to_roles_without_the_permission(as_: Any, people: Console, world: World) -> None:
    """An admin posting the owner's forms gets the 403 page and nothing changes."""
    b = as_("admin")
    token = b.form_csrf("/admin/")
    r = b.post("/admin/accounts", {"csrf": token, "email": "sneaky@demo.example", "role": "owner", "password": PW})
    assert r.code == 403 and "accounts.manage" in r.text
    assert b.post(f"/admin/accounts/{people.ids['support']}/disable", {"csrf": token}).code == 403
    with world.db.engine.connect() as c:
        assert accounts.find(c, world.demo, "sneaky@demo.example") is None
        assert accounts.get(c, world.demo, people.ids["support"]).active  # type: ignore[union-attr]
