"""Password reset: the same answer for everyone, a single-use expiring link, a new session after it."""
from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from billing.notify import otp
from billing.notify.schema import messages
from tests.web.api.conftest import World
from tests.web.portal.conftest import PASSWORD, Browser, customer_id
from web.portal import accounts

Links = list[tuple[int, str]]


@pytest.fixture
def links(monkeypatch: pytest.MonkeyPatch) -> Links:
    """The (customer id, URL) of every reset link the portal queues."""
    sent: Links = []
    real = otp.send_reset_link

    def spy(conn: Any, box: Any, org_id: int, cid: int, url: str, minutes: int, now: Any) -> list[int]:
        sent.append((cid, url))
        return real(conn, box, org_id, cid, url, minutes, now)
    monkeypatch.setattr(accounts.otp, "send_reset_link", spy)
    return sent


def ask(browser: Browser, ident: str, org: str = "demo") -> Any:
    token = browser.csrf(f"/{org}/portal/forgot")
    return browser.post(f"/{org}/portal/forgot", {"csrf": token, "identifier": ident})


def queued(world: World, cid: int) -> int:
    with world.db.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(messages).where(
            messages.c.kind == "password.reset", messages.c.customer_id == cid)).scalar_one())


def path_of(url: str) -> str:
    m = re.match(r"https?://[^/]+(/.*)", url)
    assert m, url
    return m.group(1)


def test_known_and_unknown_get_the_same_answer(browser: Browser, links: Links, world: World) -> None:
    """A known address queues a reset message with an absolute link; an unknown one queues nothing; both pages
    read the same."""
    cid = customer_id(world, world.demo, "efua@example.com")
    before = queued(world, cid)
    known = ask(browser, "efua@example.com")
    unknown = ask(browser, "stranger@example.com")
    assert known.code == unknown.code == 200
    strip = [re.sub(r'name="csrf" value="[^"]+"', "", r.text) for r in (known, unknown)]
    assert strip[0] == strip[1] and "a link to choose a new password" in strip[0]
    assert [c for c, _ in links] == [cid]
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/demo/portal/reset/[A-Za-z0-9_-]{43}", links[0][1])
    assert queued(world, cid) == before + 1


def test_reset_link_works_once_and_signs_in(browser: Browser, root: Any, links: Links, world: World) -> None:
    """The link's form sets the password, signs the customer in, ends their other sessions, and then is used up;
    the new password works and the old one does not."""
    elsewhere = Browser(root)
    assert elsewhere.login("demo", "akosua@example.com").code == 303
    ask(browser, "akosua@example.com")
    path = path_of(links[-1][1])
    token = browser.csrf(path)
    r = browser.post(path, {"csrf": token, "password": "new secret 9", "confirm": "new secret 9"})
    assert r.code == 303
    assert "Hello, Akosua" in browser.get("/demo/portal/").text
    assert "Hello" not in elsewhere.get("/demo/portal/").text
    again = browser.get(path)
    assert again.code == 410 and "expired or has been used" in again.text
    r = browser.post(path, {"csrf": browser.csrf("/demo/portal/forgot"), "password": "other secret 9",
                            "confirm": "other secret 9"})
    assert r.code == 410
    assert Browser(root).login("demo", "akosua@example.com", "new secret 9").code == 303
    assert Browser(root).login("demo", "akosua@example.com", PASSWORD).code == 400


def test_bad_new_password_gets_a_message_next_to_the_field(browser: Browser, links: Links) -> None:
    """Too short, or not confirmed: 400, the message under the field, the link still works."""
    ask(browser, "efua@example.com")
    path = path_of(links[-1][1])
    token = browser.csrf(path)
    r = browser.post(path, {"csrf": token, "password": "short", "confirm": "short"})
    assert r.code == 400 and 'id="password-error"' in r.text and "8 to 200 characters" in r.text
    r = browser.post(path, {"csrf": token, "password": "long enough 1", "confirm": "long enough 2"})
    assert r.code == 400 and 'id="confirm-error"' in r.text and "long enough" not in r.text
    assert browser.get(path).code == 200


def test_expired_link_fails(browser: Browser, links: Links, clock: task.Clock) -> None:
    """After [portal] reset_minutes (30) the link no longer works."""
    ask(browser, "efua@example.com")
    path = path_of(links[-1][1])
    clock.advance(29 * 60)
    assert browser.get(path).code == 200
    clock.advance(60)
    token = browser.csrf("/demo/portal/forgot")
    assert browser.get(path).code == 410
    assert browser.post(path, {"csrf": token, "password": "long enough 1", "confirm": "long enough 1"}).code == 410


def test_reset_requests_are_limited_per_customer(browser: Browser, links: Links, clock: task.Clock) -> None:
    """At most 3 links an hour per customer (the answer stays the same); an hour later, another."""
    for _ in range(5):
        assert "a link to choose a new password" in ask(browser, "+12025550105").text
    assert len(links) == 3
    clock.advance(3601)
    ask(browser, "efua@example.com")
    assert len(links) == 4


def test_link_of_one_org_does_nothing_on_another(browser: Browser, links: Links) -> None:
    """A reset token of org demo is not a working link on org other's portal."""
    ask(browser, "efua@example.com")
    token_path = path_of(links[-1][1]).replace("/demo/", "/other/")
    assert browser.get(token_path).code == 410


def test_forgot_needs_its_csrf_token(browser: Browser, links: Links) -> None:
    """A reset request without the form's token is refused (403) and sends nothing."""
    browser.get("/demo/portal/forgot")
    assert browser.post("/demo/portal/forgot", {"identifier": "efua@example.com"}).code == 403
    assert links == []
