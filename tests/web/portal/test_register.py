"""The registration pages in process: the form, its messages next to each field with what was typed
kept, CSRF, the honeypot, the per-address rate limit, duplicates refused with one message, the ID
document checks, and the "more information" link back to the prefilled form."""
from __future__ import annotations

import html
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from billing.schema import registrations as reg_t
from billing.schema import signup_attempts
from billing.signup import forms, registrations
from tests.helpers import result_of
from tests.web.api.conftest import NOW, World
from tests.web.conftest import Reply
from tests.web.portal.conftest import Browser
from web.api.app import Deps

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
FORM = "/demo/portal/register"


def tx(world: World, fn: Any, *a: Any, **kw: Any) -> Any:
    with world.db.engine.begin() as c:
        return fn(c, *a, **kw)


@pytest.fixture
def signup(world: World, deps: Deps, tmp_path: Path) -> Path:
    """Sign-up open on demo (approval required, e-mail required, phone optional, document optional, two
    custom fields), closed on other; no attempts remembered; uploads under a fresh data directory."""
    deps.conf = deps.conf.replace("server", data_dir=str(tmp_path))
    with world.db.engine.begin() as c:
        c.execute(signup_attempts.delete())
        for f in forms.list_fields(c, world.demo):
            forms.remove_field(c, world.demo, f.id)
        forms.update_settings(c, world.demo, NOW, enabled=True, approval="required", document_field="optional",
                              document_max_kb=1, max_per_hour=10, phone_field="optional", email_field="required")
        forms.update_settings(c, world.other, NOW, enabled=False)
        forms.add_field(c, world.demo, NOW, key="id_number", label="National ID number", kind="text", required=True)
        forms.add_field(c, world.demo, NOW, key="heard", label="How did you hear of us", kind="choice",
                        choices=["Radio", "A friend"])
    return tmp_path


def unique() -> str:
    return uuid.uuid4().hex[:8]


def good(browser: Browser, **kw: str) -> dict[str, str]:
    email = f"new-{unique()}@example.com"
    return {"csrf": browser.csrf(FORM), "name": "Abena Owusu", "email": email, "phone": "", "address": "5 Oxford St",
            "password": "a long password", "confirm": "a long password", "f_id_number": "GHA-77",
            "f_heard": "Radio", "website": "", **kw}


def multipart(browser: Browser, path: str, fields: dict[str, str],
              files: dict[str, tuple[str, bytes]]) -> Reply:
    """POST a multipart form (as a browser sends a form with a file input) with the browser's cookies."""
    boundary = "----aaadtest" + unique()
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (name, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
               "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}
    d = browser.treq.request("POST", "http://aaad.test" + path, headers=headers, data=body, allow_redirects=False)
    browser.treq.flush()
    resp = result_of(d)
    content = browser.treq.content(resp)
    browser.treq.flush()
    return Reply(resp.code, resp.headers, result_of(content))


def stored(world: World, email: str) -> Any:
    with world.db.engine.connect() as c:
        return c.execute(sa.select(reg_t).where(reg_t.c.email == email)).first()


def error_of(page: str, name: str) -> str:
    m = re.search(rf'<p class="error" id="{name}-error">([^<]*)</p>', page)
    return html.unescape(m.group(1)) if m else ""


# -- the form ----------------------------------------------------------------------------------

def test_closed_sign_up_is_not_found(browser: Browser, signup: Path) -> None:
    """While an org's sign-up is closed its form is a 404."""
    assert browser.get("/other/portal/register").code == 404


def test_form_has_labelled_fields_custom_fields_and_a_hidden_honeypot(browser: Browser, signup: Path) -> None:
    """Every input has its label; the custom fields follow in order; the honeypot is in a hidden block;
    the form carries the CSRF token and takes files."""
    r = browser.get(FORM)
    assert r.code == 200 and 'enctype="multipart/form-data"' in r.text and 'name="csrf"' in r.text
    for name in ("name", "email", "phone", "address", "f_id_number", "f_heard", "document", "password", "confirm",
                 "website"):
        assert f'<label for="{name}">' in r.text and f'id="{name}"' in r.text
    assert r.text.index("National ID number") < r.text.index("How did you hear of us")
    assert '<div class="hp">' in r.text


def test_product_and_zone_are_kept_as_hidden_fields(browser: Browser, world: World, signup: Path) -> None:
    """?product=ID&zone=NAME from the coverage step: the product is named and both go back as hidden fields;
    a product not on the portal is ignored."""
    from billing import catalogue
    with world.db.engine.connect() as c:
        p = next(p for p in catalogue.list_products(c, world.demo) if p.on_portal and p.active)
    r = browser.get(f"{FORM}?product={p.id}&zone=East")
    assert f'name="product" value="{p.id}"' in r.text and 'name="zone" value="East"' in r.text
    assert html.escape(p.name) in r.text
    assert 'name="product"' not in browser.get(f"{FORM}?product=999999").text


def test_without_csrf_is_403(browser: Browser, world: World, signup: Path) -> None:
    """A POST without the session's CSRF token, or with a forged one, is refused and stores nothing."""
    data = good(browser)
    data.pop("csrf")
    assert browser.post(FORM, data).code == 403
    assert browser.post(FORM, {**data, "csrf": "forged"}).code == 403
    assert stored(world, data["email"]) is None


def test_bad_fields_get_messages_and_keep_what_was_typed(browser: Browser, world: World, signup: Path) -> None:
    """Each bad field gets its message next to it (aria-describedby), what was typed is kept, the passwords
    never come back, and nothing is stored."""
    data = good(browser, email="not-an-address", phone="12", f_id_number="", password="short", confirm="short",
                name="Abena <b>Owusu</b>")
    r = browser.post(FORM, data)
    assert r.code == 400
    assert error_of(r.text, "email").startswith("Type an e-mail address")
    assert error_of(r.text, "phone").startswith("Type a phone number")
    assert error_of(r.text, "f_id_number") == "This field is required."
    assert error_of(r.text, "password").startswith("Choose a password")
    assert 'aria-describedby="email-error"' in r.text
    assert 'value="Abena &lt;b&gt;Owusu&lt;/b&gt;"' in r.text and 'value="not-an-address"' in r.text
    assert 'value="12"' in r.text and "5 Oxford St" in r.text and "<option selected>Radio</option>" in r.text
    assert "short" not in r.text.replace("shortly", "")
    assert stored(world, "not-an-address") is None


def test_good_form_is_registered_pending(browser: Browser, world: World, signup: Path) -> None:
    """A good form: the thank-you page, and a pending registration with what was typed (custom values
    under their keys, e-mail normalised, the address it came from)."""
    data = good(browser)
    r = browser.post(FORM, {**data, "email": data["email"].upper()})
    assert r.code == 200 and "We received your registration" in r.text and data["email"] in r.text
    row = stored(world, data["email"])
    assert row.status == "pending" and row.name == "Abena Owusu" and row.ip
    assert '"id_number": "GHA-77"' in row.fields and row.password_hash.startswith("$argon2")


def test_duplicates_get_one_message(browser: Browser, world: World, signup: Path) -> None:
    """A customer's e-mail, a customer's phone (typed in national form) and an open registration's e-mail
    all get the same form-level message and keep what was typed."""
    first = good(browser)
    assert browser.post(FORM, first).code == 200
    answers = []
    for kw in ({"email": "ama@example.com"}, {"phone": "(202) 555-0101"}, {"email": first["email"]}):
        r = browser.post(FORM, good(browser, **kw))
        assert r.code == 400 and html.escape(registrations.DUPLICATE) in r.text.replace("&#34;", '"')
        assert 'value="Abena Owusu"' in r.text
        answers.append(re.sub(r'value="[^"]*"', "", r.text))
    assert answers[0] == answers[1] == answers[2]


def test_honeypot_looks_accepted_and_stores_nothing(browser: Browser, world: World, signup: Path) -> None:
    """A bot that fills in the hidden field gets the thank-you page; nothing is registered."""
    data = good(browser, website="http://spam.example")
    r = browser.post(FORM, data)
    assert r.code == 200 and "We received your registration" in r.text
    assert stored(world, data["email"]) is None


def test_rate_limit_per_address(browser: Browser, world: World, signup: Path) -> None:
    """After max_per_hour forms from one address the next gets 429 with Retry-After and a message;
    what was typed is kept."""
    tx(world, forms.update_settings, world.demo, NOW, max_per_hour=2)
    for _ in range(2):
        assert browser.post(FORM, good(browser, email="bad")).code == 400
    data = good(browser)
    r = browser.post(FORM, data)
    assert r.code == 429 and "Too many registrations" in r.text and int(r.required_header("Retry-After")) > 0
    assert f'value="{data["email"]}"' in r.text and stored(world, data["email"]) is None


# -- the ID document ---------------------------------------------------------------------------

def test_document_is_stored_outside_served_folders(browser: Browser, world: World, signup: Path) -> None:
    """A PDF with its own extension is kept under the data directory (not served), recorded with its
    type, size and name."""
    data = good(browser)
    r = multipart(browser, FORM, data, {"document": ("my id.pdf", PDF)})
    assert r.code == 200, r.text
    row = stored(world, data["email"])
    assert (row.document_type, row.document_size, row.document_name) == ("application/pdf", len(PDF), "my id.pdf")
    assert (signup / row.document_path).read_bytes() == PDF


@pytest.mark.parametrize("name,content,message", [
    ("id.pdf", PNG, "does not match its content"),
    ("id.png", b"#!/bin/sh\nrm -rf /\n", "Send a PDF, JPEG or PNG"),
    ("id.pdf", PDF + b"x" * 2000, "larger than 1 kB"),
])
def test_bad_documents_are_refused(browser: Browser, world: World, signup: Path, name: str, content: bytes,
                                   message: str) -> None:
    """A lying extension, a wrong type or an oversize file: 400, the message next to the document input,
    the rest kept, nothing stored."""
    data = good(browser)
    r = multipart(browser, FORM, data, {"document": (name, content)})
    assert r.code == 400 and message in error_of(r.text, "document")
    assert f'value="{data["email"]}"' in r.text and stored(world, data["email"]) is None
    assert not [p for p in signup.rglob("*") if p.is_file()]


def test_multipart_without_csrf_is_403(browser: Browser, signup: Path) -> None:
    """The multipart form is CSRF-checked too."""
    data = good(browser)
    data.pop("csrf")
    assert multipart(browser, FORM, data, {"document": ("id.pdf", PDF)}).code == 403


# -- more information --------------------------------------------------------------------------

def test_more_information_link_prefills_and_works_once(browser: Browser, world: World, signup: Path) -> None:
    """The admin's question above the form prefilled with the registration; the answer makes it pending
    again; the link then says it does not work; another org's portal does not know the link."""
    data = good(browser)
    assert browser.post(FORM, data).code == 200
    row = stored(world, data["email"])
    tokens: list[str] = []
    tx(world, registrations.request_info, world.demo, row.id, "Which house number? <none>", NOW,
       send=lambda reg, token: tokens.append(token))
    link = f"{FORM}/more/{tokens[0]}"
    tx(world, forms.update_settings, world.other, NOW, enabled=True)
    assert browser.get(f"/other/portal/register/more/{tokens[0]}").code == 410
    r = browser.get(link)
    assert r.code == 200 and "Which house number? &lt;none&gt;" in r.text
    assert f'value="{data["email"]}"' in r.text and 'value="GHA-77"' in r.text and "5 Oxford St" in r.text
    token = browser.csrf(link)
    bad = browser.post(link, {**data, "csrf": token, "address": "", "password": "x", "confirm": "x"})
    assert bad.code == 400 and "Which house number?" in bad.text
    ok = browser.post(link, {**data, "csrf": token, "address": "12 Oxford St"})
    assert ok.code == 200 and "We received your registration" in ok.text
    again = stored(world, data["email"])
    assert (again.status, again.address) == ("pending", "12 Oxford St")
    assert browser.get(link).code == 410


def test_with_a_product_the_customer_is_created_signed_in_and_sent_to_the_contract(
        browser: Browser, world: World, signup: Path) -> None:
    """A form sent with a product: the customer and their order exist at once, the visitor is signed in
    (a new session cookie) and sent on to signup/contract."""
    from billing import catalogue, customers
    from billing.orders import orders
    with world.db.engine.connect() as c:
        p = next(p for p in catalogue.list_products(c, world.demo) if p.on_portal and p.active and not p.zones)
    data = good(browser, product=str(p.id))
    before = dict(browser.cookies)
    r = browser.post(FORM, data)
    assert r.code == 303 and r.required_header("Location").endswith("/demo/portal/signup/contract")
    assert browser.cookies != before
    row = stored(world, data["email"])
    assert row.customer_id and row.order_id and row.status == "pending"
    with world.db.engine.connect() as c:
        cust = customers.get(c, world.demo, row.customer_id)
        assert cust is not None and cust.status == "pending"
        order = orders.get(c, world.demo, row.order_id)
        assert order is not None and order.method == "invoice" and order.items[0].product_id == p.id
    assert "Hello, Abena Owusu" in browser.get("/demo/portal/").text


def test_answer_keeps_the_document_already_sent(browser: Browser, world: World, signup: Path) -> None:
    """With the document required, the answer to a question needs no new file when one was sent; a new file
    replaces the old one (the old file is deleted)."""
    tx(world, forms.update_settings, world.demo, NOW, document_field="required")
    data = good(browser)
    assert multipart(browser, FORM, data, {"document": ("id.png", PNG)}).code == 200
    first = stored(world, data["email"])
    tokens: list[str] = []
    tx(world, registrations.request_info, world.demo, first.id, "Your street?", NOW,
       send=lambda reg, token: tokens.append(token))
    link = f"{FORM}/more/{tokens[0]}"
    page = browser.get(link)
    assert "we have the one you sent" in page.text
    ok = browser.post(link, {**data, "csrf": browser.csrf(link)})
    assert ok.code == 200
    assert stored(world, data["email"]).document_path == first.document_path
    tx(world, registrations.request_info, world.demo, first.id, "A clearer scan?", NOW,
       send=lambda reg, token: tokens.append(token))
    link = f"{FORM}/more/{tokens[1]}"
    assert multipart(browser, link, {**data, "csrf": browser.csrf(link)}, {"document": ("id.pdf", PDF)}).code == 200
    last = stored(world, data["email"])
    assert last.document_type == "application/pdf" and (signup / last.document_path).read_bytes() == PDF
    assert not (signup / first.document_path).exists()
