"""Signing in and out of the portal: credentials, the session cookie, CSRF, the throttle, expiry."""
from __future__ import annotations

import random
from typing import Any

from twisted.internet import task

from billing import customers
from tests.web.api.conftest import NOW, World
from tests.web.portal.conftest import PASSWORD, Browser
from web.api.app import Deps
from web.portal.app import WRONG

DASH = "../../demo/portal/"


def cookie_header(b: Browser) -> str:
    return b.set_cookies[-1]


def test_login_ok_redirects_to_the_dashboard(browser: Browser) -> None:
    """The right e-mail and password: 303 to the start page, which is now the customer's dashboard."""
    r = browser.login("demo", "ama@example.com")
    assert r.code == 303 and r.header("Location") == DASH
    page = browser.get("/demo/portal/")
    assert "Hello, Ama Mensah" in page.text and "Sign out" in page.text


def test_login_by_phone_in_national_form(browser: Browser) -> None:
    """A phone number typed without its country code is read in the org's country (US) and signs in."""
    assert browser.login("demo", "(202) 555-0101").code == 303
    assert "Hello, Ama Mensah" in browser.get("/demo/portal/").text


def test_email_is_case_insensitive(browser: Browser) -> None:
    """An e-mail address typed in capitals with spaces is the same address."""
    assert browser.login("demo", "  AMA@Example.COM ").code == 303


def test_wrong_password_unknown_and_no_password_look_the_same(browser: Browser) -> None:
    """Wrong password, unknown address and a customer without a password get the same 400 and message,
    keep what was typed (never the password) and point to 'forgot password'."""
    answers = []
    for ident, pw in (("ama@example.com", "not it at all"), ("nobody@example.com", PASSWORD),
                      ("kofi@example.com", PASSWORD)):
        r = browser.login("demo", ident, pw)
        assert r.code == 400 and WRONG in r.text and "forgot password" in r.text
        assert f'value="{ident}"' in r.text and pw not in r.text
        answers.append(r.text.replace(ident, "X"))
    strip = [a.split('name="csrf" value="')[0] for a in answers]
    assert strip[0] == strip[1] == strip[2]


def test_closed_customer_cannot_sign_in(browser: Browser) -> None:
    """A closed customer with the right password gets the wrong-credentials answer and no session."""
    r = browser.login("demo", "kwame@example.com")
    assert r.code == 400 and WRONG in r.text
    assert "Hello" not in browser.get("/demo/portal/").text


def test_empty_fields_get_messages_next_to_them(browser: Browser) -> None:
    """An empty identifier and password: a message under each field, marked invalid."""
    token = browser.csrf("/demo/portal/login")
    r = browser.post("/demo/portal/login", {"csrf": token, "identifier": "", "password": ""})
    assert r.code == 400
    assert 'id="identifier-error"' in r.text and 'id="password-error"' in r.text
    assert 'aria-describedby="identifier-error"' in r.text


def test_session_cookie_flags(browser: Browser) -> None:
    """The cookie is HttpOnly, SameSite=Lax, scoped to the org's portal and not Secure over plain HTTP."""
    browser.login("demo", "ama@example.com")
    c = cookie_header(browser)
    assert "HttpOnly" in c and "SameSite=lax" in c and "Path=/demo/portal/" in c
    assert "Secure" not in c


def test_session_cookie_is_secure_over_tls(root: Any) -> None:
    """Over HTTPS the cookie is also Secure."""
    b = Browser(root, secure=True)
    assert b.login("demo", "ama@example.com").code == 303
    assert "Secure" in cookie_header(b) and "HttpOnly" in cookie_header(b)


def test_login_rotates_the_session(browser: Browser) -> None:
    """The cookie issued before sign-in (for the form's CSRF token) is replaced at sign-in and is then nobody:
    a planted session id is worth nothing."""
    browser.get("/demo/portal/login")
    before = browser.cookies["aaad_portal"]
    browser.login("demo", "ama@example.com")
    after = browser.cookies["aaad_portal"]
    assert before != after
    browser.cookies["aaad_portal"] = before
    assert "Hello" not in browser.get("/demo/portal/").text


def test_logout_ends_the_session(browser: Browser) -> None:
    """Sign-out deletes the session and clears the cookie: replaying the old cookie shows the visitor page."""
    browser.login("demo", "ama@example.com")
    old = browser.cookies["aaad_portal"]
    token = browser.csrf("/demo/portal/")
    r = browser.post("/demo/portal/logout", {"csrf": token})
    assert r.code == 303 and "Max-Age=0" in cookie_header(browser)
    assert "aaad_portal" not in browser.cookies
    browser.cookies["aaad_portal"] = old
    assert "Hello" not in browser.get("/demo/portal/").text


def test_post_without_or_with_a_wrong_csrf_token_is_403(browser: Browser, root: Any) -> None:
    """Sign-in and sign-out without the token, with a wrong one or with another visitor's: 403, nothing done."""
    browser.get("/demo/portal/login")
    form = {"identifier": "ama@example.com", "password": PASSWORD}
    assert browser.post("/demo/portal/login", form).code == 403
    assert browser.post("/demo/portal/login", {**form, "csrf": "x" * 43}).code == 403
    other = Browser(root)
    r = browser.post("/demo/portal/login", {**form, "csrf": other.csrf("/demo/portal/login")})
    assert r.code == 403 and "did not come from this site" in r.text
    assert "Hello" not in browser.get("/demo/portal/").text
    browser.login("demo", "ama@example.com")
    assert browser.post("/demo/portal/logout", {}).code == 403
    assert "Hello, Ama" in browser.get("/demo/portal/").text


def test_next_goes_back_only_inside_the_portal(browser: Browser) -> None:
    """?next= a portal page is where sign-in leads; an outside or absolute URL leads to the dashboard."""
    assert browser.login("demo", "ama@example.com", next_="suspended").header("Location") == DASH + "suspended"
    for bad in ("//evil.example/x", "https://evil.example/", "/other/portal/", "../../other/portal/"):
        assert browser.login("demo", "ama@example.com", next_=bad).header("Location") == DASH, bad


def test_a_page_for_customers_redirects_to_sign_in_and_back(browser: Browser) -> None:
    """A visitor asking for an invoice is sent to the sign-in page with ?next= that page."""
    r = browser.get("/demo/portal/invoices/5.html")
    assert r.code == 303 and r.header("Location") == "../../../demo/portal/login?next=invoices%2F5.html"


def test_cookie_of_one_org_is_nobody_on_another(browser: Browser) -> None:
    """A session of org demo sent to org other's portal is not signed in there (and the cookie's path says
    demo's portal only)."""
    browser.login("demo", "ama@example.com")
    assert "Path=/demo/portal/" in cookie_header(browser)
    page = browser.get("/other/portal/")
    assert page.code == 200 and "Hello" not in page.text and "Ama" not in page.text
    assert browser.get("/other/portal/invoices/1.html").code == 303


def test_idle_and_absolute_expiry(browser: Browser, clock: task.Clock) -> None:
    """A session ends after 60 idle minutes; kept busy, it still ends 24 hours after sign-in."""
    browser.login("demo", "ama@example.com")
    clock.advance(59 * 60)
    assert "Hello" in browser.get("/demo/portal/").text
    clock.advance(61 * 60)
    assert "Hello" not in browser.get("/demo/portal/").text
    browser.login("demo", "ama@example.com")
    for _ in range(47):
        clock.advance(30 * 60)
        assert "Hello" in browser.get("/demo/portal/").text
    clock.advance(31 * 60)
    assert "Hello" not in browser.get("/demo/portal/").text


# -- the throttle -------------------------------------------------------------------------

def fail(browser: Browser, ident: str = "ama@example.com") -> Any:
    return browser.login("demo", ident, "wrong password!")


def test_five_failures_make_the_next_try_wait(browser: Browser, clock: task.Clock) -> None:
    """After 5 failures for one address even the right password waits (429, Retry-After); after the wait it
    works."""
    for _ in range(5):
        assert fail(browser).code == 400
    r = browser.login("demo", "ama@example.com")
    assert r.code == 429 and "Too many tries" in r.text and r.header("Retry-After") == "60"
    clock.advance(60)
    assert browser.login("demo", "ama@example.com").code == 303


def test_the_wait_doubles_and_is_capped(browser: Browser, clock: task.Clock) -> None:
    """A stranger failing on and on makes the wait double (1, 2, 4, 8 minutes) but never exceed 15 minutes:
    after waiting it out the customer signs in."""
    waits = []
    for _ in range(5):
        fail(browser)
    for _ in range(8):
        r = fail(browser)
        assert r.code == 429
        wait = int(r.required_header("Retry-After"))
        waits.append(wait)
        clock.advance(wait)
        assert fail(browser).code == 400     # the try after the wait is checked (and fails)
    assert waits[:4] == [60, 120, 240, 480] and max(waits) == 900 and waits[-1] == 900
    r = browser.login("demo", "ama@example.com")
    assert r.code == 429 and int(r.required_header("Retry-After")) <= 900
    clock.advance(900)
    assert browser.login("demo", "ama@example.com").code == 303


def test_success_clears_the_identifiers_counter(browser: Browser, deps: Deps) -> None:
    """4 failures, a success, then 4 more failures: no wait (the success cleared the identifier's count; the
    address's limit is raised here so it does not interfere)."""
    deps.conf = deps.conf.replace("portal", ip_failures=50)
    for _ in range(4):
        fail(browser, "yaw@example.com")
    assert browser.login("demo", "yaw@example.com").code == 303
    for _ in range(4):
        assert fail(browser, "yaw@example.com").code == 400
    assert browser.login("demo", "yaw@example.com").code == 303


def test_one_address_trying_many_identifiers_waits(browser: Browser) -> None:
    """5 failures from one IP address on 5 different identifiers: the next try from it waits, whoever it is for."""
    for i in range(5):
        assert fail(browser, f"guess{i}@example.com").code == 400
    assert browser.login("demo", "akosua@example.com").code == 429


def test_failures_are_forgotten_after_the_window(browser: Browser, clock: task.Clock) -> None:
    """4 failures, 15 minutes of quiet, 4 more: no wait (failures count within 15 minutes of each other)."""
    for _ in range(4):
        fail(browser)
    clock.advance(15 * 60)
    for _ in range(4):
        assert fail(browser).code == 400
    assert browser.login("demo", "ama@example.com").code == 303


def test_throttle_is_per_org(browser: Browser) -> None:
    """Failures for an address in org demo do not delay the same address in org other."""
    for _ in range(5):
        fail(browser)
    assert browser.login("demo", "ama@example.com").code == 429
    assert browser.login("other", "ama@example.com").code == 303


def test_a_visitors_form_token_lasts_one_idle_period(browser: Browser, clock: task.Clock) -> None:
    """A sign-in form left open past the idle time is refused (403); reloading it gives a working form."""
    token = browser.csrf("/demo/portal/login")
    clock.advance(61 * 60)
    form = {"csrf": token, "identifier": "ama@example.com", "password": PASSWORD}
    assert browser.post("/demo/portal/login", form).code == 403
    assert browser.login("demo", "ama@example.com").code == 303


def test_closing_a_customer_ends_their_sessions(browser: Browser, world: World) -> None:
    """A customer closed while signed in is signed out at their next request."""
    with world.db.engine.begin() as c:
        cust = customers.add(c, world.demo, NOW, name="Soon Gone", email="gone@example.com", rng=random.Random(3))
        customers.set_password(c, world.demo, cust.id, PASSWORD, NOW)
    assert browser.login("demo", "gone@example.com").code == 303
    assert "Hello, Soon Gone" in browser.get("/demo/portal/").text
    with world.db.engine.begin() as c:
        customers.set_status(c, world.demo, cust.id, "closed", NOW)
    assert "Hello" not in browser.get("/demo/portal/").text


def test_behind_a_tls_proxy_the_cookie_follows_the_public_url(browser: Browser, deps: Deps) -> None:
    """With [web] public_url https://isp.example/aaad (a TLS proxy in front, plain HTTP behind it) the cookie
    is Secure and its Path is the portal under the URL's path."""
    deps.conf = deps.conf.replace("web", public_url="https://isp.example/aaad")
    browser.login("demo", "ama@example.com")
    c = cookie_header(browser)
    assert "Secure" in c and "Path=/aaad/demo/portal/" in c
