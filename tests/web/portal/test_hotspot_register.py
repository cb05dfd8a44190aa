"""The registration page in the sign-up's hotspot mode, in process: the account at once, signed in, on to the
dashboard; a bad field keeps what was typed with its message; a duplicate gets the one message; no CSRF, 403."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from billing.schema import signup_attempts
from billing.signup import forms, registrations
from tests.web.api.conftest import NOW, World
from tests.web.portal.conftest import Browser

FORM = "/demo/portal/register"


@pytest.fixture
def hotspot(world: World) -> Iterator[None]:
    """demo's sign-up open in hotspot mode (e-mail required, no custom fields); back to isp after."""
    with world.db.engine.begin() as c:
        c.execute(signup_attempts.delete())
        for f in forms.list_fields(c, world.demo):
            forms.remove_field(c, world.demo, f.id)
        forms.update_settings(c, world.demo, NOW, enabled=True, mode="hotspot", email_field="required",
                              phone_field="optional", document_field="hidden", max_per_hour=50)
    yield
    with world.db.engine.begin() as c:
        forms.update_settings(c, world.demo, NOW, mode="isp")


def _form(browser: Browser, **kw: str) -> dict[str, str]:
    return {"csrf": browser.csrf(FORM), "name": "Abena Owusu", "email": f"wifi-{uuid.uuid4().hex[:8]}@example.com",
            "phone": "", "address": "", "password": "a long password", "confirm": "a long password",
            "website": "", **kw}


def test_hotspot_registration_signs_in_and_lands_on_the_dashboard(browser: Browser, hotspot: None) -> None:
    """The form says the account is ready at once; sending it signs the visitor in (a new session cookie)
    and sends them to the dashboard, which greets them by name."""
    page = browser.get(FORM)
    assert page.code == 200 and "ready at once" in page.text
    before = dict(browser.cookies)
    r = browser.post(FORM, _form(browser))
    assert r.code == 303 and r.headers.getRawHeaders("location")[0].endswith("/demo/portal/")
    assert browser.cookies != before
    dash = browser.get("/demo/portal/")
    assert dash.code == 200 and "Hello, Abena Owusu" in dash.text


def test_hotspot_registration_errors(browser: Browser, hotspot: None) -> None:
    """A bad e-mail gets its message next to it with the name kept; a taken address gets the one duplicate
    message; a POST without the CSRF token is refused with 403."""
    r = browser.post(FORM, _form(browser, email="not-an-address", name="Kept Name"))
    assert r.code == 400 and "Kept Name" in r.text and 'aria-invalid="true"' in r.text
    taken = _form(browser)
    assert browser.post(FORM, taken).code == 303
    browser.cookies.clear()
    again = {**_form(browser), "email": taken["email"]}
    r = browser.post(FORM, again)
    assert r.code == 400 and registrations.DUPLICATE.split(".")[0] in r.text.replace("&#34;", '"')
    assert browser.post(FORM, {**_form(browser), "csrf": "forged"}).code == 403
