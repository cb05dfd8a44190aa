"""The console's settings pages in process: billing, notification channels and templates (with the preview),
the portal's sign-up form and its fields, coverage zones, contract versions and the payment gateway — each
read back through the domain after a save; refused roles (console and API), CSRF, org isolation, and
secrets never in a page."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from billing import settings as billing_settings
from billing.gateways import store as gateway_store
from billing.gateways.schema import gateway_settings
from billing.notify import settings as notify_settings
from billing.notify import templates
from billing.notify.schema import channels as channels_t
from billing.notify.schema import settings as notify_settings_t
from billing.notify.schema import templates as templates_t
from billing.schema import billing_settings as billing_settings_t
from billing.schema import coverage_zones, signup_fields, signup_settings
from billing.signup import contracts, coverage
from billing.signup import forms as signup
from tests.web.admin.conftest import Admin, Console
from tests.web.api.conftest import NOW, ApiClient, World
from web.schema import audit as audit_t

PAGES = ("settings", "settings/billing", "settings/notifications", "settings/notifications/channels/email",
         "settings/notifications/channels/sms", "settings/notifications/channels/whatsapp",
         "settings/notifications/templates/invoice.issued/email",
         "settings/notifications/templates/invoice.issued/sms", "settings/portal", "settings/zones",
         "settings/contracts", "settings/gateways")
RESTORED = (billing_settings_t, signup_settings, signup_fields, coverage_zones, channels_t, notify_settings_t,
            templates_t, gateway_settings)


@pytest.fixture(autouse=True)
def restore(world: World) -> Iterator[None]:
    """The settings tables as they were before each test (the package's other tests share the world)."""
    with world.db.engine.connect() as c:
        saved = {t.name: [dict(r._mapping) for r in c.execute(sa.select(t))] for t in RESTORED}
    yield
    with world.db.engine.begin() as c:
        for t in RESTORED:
            c.execute(t.delete())
            if saved[t.name]:
                c.execute(t.insert(), saved[t.name])


def csrf_of(r: Any) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert m, r.text[:300]
    return m.group(1)


def post(b: Admin, path: str, data: dict[str, str], page: str | None = None) -> Any:
    """POST ``data`` to /admin/``path`` with the CSRF token of ``page`` (default: the same page)."""
    token = b.form_csrf("/admin/" + (page or path))
    return b.post("/admin/" + path, {**data, "csrf": token})


def read(world: World, fn: Any, *args: Any) -> Any:
    with world.db.engine.connect() as c:
        return fn(c, *args)


def labelled(path: str, html: str) -> None:
    """Ids unique on the page; every label and aria-describedby names an element that exists."""
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), (path, sorted(i for i in ids if ids.count(i) > 1))
    for target in re.findall(r' (?:for|aria-describedby)="([^"]+)"', html):
        assert all(t in ids for t in target.split()), (path, target)


def billing_form(world: World, org: int, **changes: str) -> dict[str, str]:
    s = read(world, billing_settings.get, org)
    form = {k: "" if getattr(s, k) is None else str(getattr(s, k)) for k in (
        "country", "billing_day", "payment_terms_days", "grace_days", "suspend_mode", "invoice_prefix",
        "credit_note_prefix", "receipt_prefix", "locale", "hotspot_login_url", "brand_name", "brand_colour",
        "brand_address", "brand_tax_id")}
    form["vat_percent"] = str(s.vat_bp / 100)
    if s.prices_include_vat:
        form["prices_include_vat"] = "on"
    if s.auto_resume:
        form["auto_resume"] = "on"
    return {**form, **changes}


# -- every page ----------------------------------------------------------------------------------------

def test_every_settings_page_opens_for_the_owner(as_: Any) -> None:
    """The owner opens every settings page; the menu has Settings; the index links each page."""
    b = as_("owner")
    for path in PAGES:
        r = b.get("/admin/" + path)
        assert r.code == 200, (path, r.text[:500])
        labelled(path, r.text)
    index = b.get("/admin/settings").text
    for path in PAGES[1:3] + ("settings/portal", "settings/zones", "settings/contracts", "settings/gateways"):
        assert f'href="../admin/{path}"' in index or f'{path}"' in index, path
    assert ">Settings</a>" in b.get("/admin/").text


@pytest.mark.parametrize("role", ["cashier", "support"])
def test_cashier_and_support_get_the_403_page_everywhere(as_: Any, role: str, people: Console) -> None:
    """A cashier and a support account get the 403 page (naming the permission) on every settings page and
    every settings form, and no Settings entry in the menu."""
    b = as_(role)
    assert ">Settings</a>" not in b.get("/admin/").text
    for path in PAGES:
        r = b.get("/admin/" + path)
        assert r.code == 403 and "Not allowed" in r.text and "settings.read" in r.text, (role, path)
    token = b.form_csrf("/admin/")
    with people.world.db.engine.connect() as c:
        zone = coverage.list_zones(c, people.world.demo)[0]
        version = contracts.current(c, people.world.demo)
    assert version is not None
    assert b.get(f"/admin/settings/zones/{zone.id}").code == 403
    assert b.get(f"/admin/settings/contracts/{version.id}").code == 403
    assert b.get("/admin/settings/portal/fields/1").code == 403
    for path in ("settings/billing", "settings/notifications", "settings/notifications/channels/email",
                 "settings/notifications/channels/email/remove",
                 "settings/notifications/templates/invoice.issued/sms", "settings/portal",
                 "settings/portal/fields", "settings/portal/fields/1/remove", "settings/portal/fields/1",
                 "settings/notifications/templates/invoice.issued/sms/channels", "settings/zones",
                 f"settings/zones/{zone.id}", f"settings/zones/{zone.id}/remove", "settings/contracts",
                 "settings/gateways"):
        r = b.post("/admin/" + path, {"csrf": token, "grace_days": "9", "action": "save", "body": "x"})
        assert r.code == 403 and "Not allowed" in r.text and "settings." in r.text, (role, path)
    assert read(people.world, billing_settings.get, people.world.demo).grace_days != 9


@pytest.mark.parametrize("token", ["demo_cashier", "demo_support"])
def test_the_api_refuses_cashier_and_support_settings_too(site: Any, people: Console, token: str) -> None:
    """The same refusal over the API: a cashier's or support token gets 403 from every settings write."""
    api = ApiClient(site[0], people.world).as_(token)
    for method, path, body in (("PATCH", "/billing-settings", {"grace_days": 9}),
                               ("PATCH", "/signup-settings", {"enabled": False}),
                               ("PUT", "/notify-channels/email", {"provider": "smtp", "settings": {}}),
                               ("PUT", "/templates/invoice.issued/sms", {"body": "Hi"}),
                               ("POST", "/coverage-zones", {"name": "Nope", "areas": ["X"]}),
                               ("POST", "/contracts", {"title": "T", "body": "B"}),
                               ("PATCH", "/gateway-settings", {"gateway": "none"})):
        r = api.request(method, path, body)
        assert r.code == 403 and r.json()["error"]["code"] == "forbidden", (token, path, r.text)
        assert "settings.write" in r.json()["error"]["message"]
    assert read(people.world, billing_settings.get, people.world.demo).grace_days != 9


def test_every_settings_form_needs_csrf(as_: Any, people: Console) -> None:
    """Each settings POST without the session's token gets 403 and changes nothing."""
    b = as_("owner")
    with people.world.db.engine.connect() as c:
        zone = coverage.list_zones(c, people.world.demo)[0]
    for path in ("settings/billing", "settings/notifications", "settings/notifications/channels/email",
                 "settings/notifications/channels/email/remove",
                 "settings/notifications/templates/invoice.issued/sms", "settings/portal",
                 "settings/portal/fields", "settings/portal/fields/1/remove", "settings/portal/fields/1",
                 "settings/notifications/templates/invoice.issued/sms/channels", "settings/zones",
                 f"settings/zones/{zone.id}", f"settings/zones/{zone.id}/remove", "settings/contracts",
                 "settings/gateways"):
        for data in ({}, {"csrf": "forged"}):
            r = b.post("/admin/" + path, {**data, "grace_days": "9", "action": "preview", "body": "x"})
            assert r.code == 403, path
    assert read(people.world, billing_settings.get, people.world.demo).grace_days != 9
    assert read(people.world, coverage.get_zone, people.world.demo, zone.id) is not None


# -- billing ---------------------------------------------------------------------------------------------

def test_billing_settings_saved_and_read_back(as_: Any, people: Console) -> None:
    """The owner changes VAT (a percentage), grace days, suspension and branding: the domain reads them back,
    the page says what changed, and the audit log names the account."""
    w = people.world
    b = as_("owner")
    r = post(b, "settings/billing", billing_form(w, w.demo, vat_percent="12.5", grace_days="5",
                                                 suspend_mode="reject", brand_name="Fibre Town",
                                                 brand_tax_id="", prices_include_vat="on"))
    assert r.code == 200, r.text
    s = read(w, billing_settings.get, w.demo)
    assert (s.vat_bp, s.grace_days, s.suspend_mode, s.brand_name, s.brand_tax_id, s.prices_include_vat) == \
        (1250, 5, "reject", "Fibre Town", None, True)
    notice = re.search(r'<p class="notice" role="status">(.*?)</p>', r.text, re.S)
    assert notice and "VAT rate 15 % → 12.5 %" in notice.group(1) and "grace days 3 → 5" in notice.group(1)
    assert 'value="12.5"' in r.text
    with w.db.engine.connect() as c:
        entry = c.execute(sa.select(audit_t).where(audit_t.c.target == "billing settings")
                          .order_by(audit_t.c.id.desc())).first()
    assert entry is not None and entry.token_name == "admin:owner@demo.example"
    assert entry.account_id == people.ids["owner"]
    assert '"vat_bp":1500' in entry.before and '"vat_bp":1250' in entry.after


def test_billing_bad_fields_keep_what_was_typed(as_: Any, people: Console) -> None:
    """A bad VAT rate and a bad country: 400, the message next to each field, the text typed kept."""
    w = people.world
    b = as_("owner")
    r = post(b, "settings/billing", billing_form(w, w.demo, vat_percent="fifteen", grace_days="x"))
    assert r.code == 400
    assert 'id="vat_percent-error"' in r.text and 'aria-describedby="vat_percent-help vat_percent-error"' in r.text
    assert 'value="fifteen"' in r.text and 'id="grace_days-error"' in r.text
    r = post(b, "settings/billing", billing_form(w, w.demo, country="ZZ", brand_colour="blue"))
    assert r.code == 400 and 'id="country-error"' in r.text and 'value="ZZ"' in r.text and 'value="blue"' in r.text
    assert read(w, billing_settings.get, w.demo).country == "US"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def test_logo_upload(as_: Any, people: Console) -> None:
    """A PNG uploaded with the billing form becomes the documents' logo (a data: URL); a text file is refused
    next to the logo field; "remove the logo" clears it."""
    from tests.helpers import result_of
    w = people.world
    b = as_("owner")

    def upload(name: str, data: bytes, extra: dict[str, str] | None = None) -> Any:
        token = b.form_csrf("/admin/settings/billing")
        fields = {**billing_form(w, w.demo), **(extra or {}), "csrf": token}
        bound = "----settings-test-boundary"
        parts = [f'--{bound}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        parts.append(f'--{bound}\r\nContent-Disposition: form-data; name="logo"; filename="{name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
        d = b.treq.request("POST", "http://aaad.test/admin/settings/billing",
                           headers={"Cookie": "; ".join(f"{k}={v}" for k, v in b.cookies.items()),
                                    "Content-Type": f"multipart/form-data; boundary={bound}"},
                           data=b"".join(parts) + f"--{bound}--\r\n".encode(), allow_redirects=False)
        b.treq.flush()
        resp = result_of(d)
        body = b.treq.content(resp)
        b.treq.flush()
        return resp.code, result_of(body).decode()
    code, text = upload("notes.txt", b"not a picture")
    assert code == 400 and 'id="logo-error"' in text
    code, text = upload("logo.png", PNG)
    assert code == 200 and "logo (none) → set" in text, text[-2000:]
    assert read(w, billing_settings.get, w.demo).brand_logo.startswith("data:image/png;base64,")
    r = post(b, "settings/billing", billing_form(w, w.demo, remove_logo="on"))
    assert r.code == 200 and read(w, billing_settings.get, w.demo).brand_logo is None


def test_an_admin_changes_settings_as_authz_allows(as_: Any, people: Console) -> None:
    """The admin role (not the owner) has settings.write: it saves billing settings."""
    w = people.world
    r = post(as_("admin"), "settings/billing", billing_form(w, w.demo, grace_days="6"))
    assert r.code == 200 and read(w, billing_settings.get, w.demo).grace_days == 6


def test_org_isolation(as_: Any, people: Console) -> None:
    """The owner of org other sees and changes its own settings only; demo's ids answer 404 on every route."""
    w = people.world
    with w.db.engine.begin() as c:
        billing_settings.update(c, w.other, NOW, brand_name="Other Brand")
        zone = coverage.list_zones(c, w.demo)[0]
        field = signup.add_field(c, w.demo, NOW, key="landmark_demo", label="Landmark", kind="text")
        version = contracts.current(c, w.demo)
    assert version is not None
    b = as_("other")
    page = b.get("/admin/settings/billing").text
    assert 'value="Other Brand"' in page and "Demo ISP" not in page
    r = post(b, "settings/billing", billing_form(w, w.other, grace_days="11"))
    assert r.code == 200
    assert read(w, billing_settings.get, w.other).grace_days == 11
    assert read(w, billing_settings.get, w.demo).grace_days == 3
    assert "landmark_demo" not in b.get("/admin/settings/portal").text
    token = b.form_csrf("/admin/settings")
    assert b.get(f"/admin/settings/zones/{zone.id}").code == 404
    assert b.post(f"/admin/settings/zones/{zone.id}", {"csrf": token, "name": "Stolen", "areas": "X"}).code == 404
    assert b.post(f"/admin/settings/zones/{zone.id}/remove", {"csrf": token}).code == 404
    assert b.post(f"/admin/settings/portal/fields/{field.id}/remove", {"csrf": token}).code == 404
    assert b.get(f"/admin/settings/portal/fields/{field.id}").code == 404
    assert b.post(f"/admin/settings/portal/fields/{field.id}", {"csrf": token, "label": "Mine", "kind": "text",
                                                                "position": "1"}).code == 404
    assert b.get(f"/admin/settings/contracts/{version.id}").code == 404
    assert read(w, coverage.get_zone, w.demo, zone.id).name == zone.name
    assert read(w, signup.get_field, w.demo, field.id) is not None


# -- notifications ---------------------------------------------------------------------------------------

SMTP = {"enabled": "on", "host": "smtp.example.com", "security": "starttls", "port": "", "username": "mailer",
        "password": "smtp-Secret-4711", "from_address": "billing@demo.example", "reply_to": "", "timeout": "",
        "verify_tls": "on", "helo_name": ""}


def test_email_channel_secret_is_write_only(as_: Any, people: Console) -> None:
    """SMTP settings saved; the password is stored, never shown back, and kept when the field is left empty."""
    w = people.world
    b = as_("owner")
    r = post(b, "settings/notifications/channels/email", {**SMTP, "provider": "smtp"})
    assert r.code == 200, r.text
    assert "smtp-Secret-4711" not in r.text and "Set (never shown)" in r.text
    cfg = read(w, notify_settings.get_channel, w.box, w.demo, "email")
    assert cfg.provider == "smtp" and cfg.settings["host"] == "smtp.example.com"
    assert cfg.secrets["password"] == "smtp-Secret-4711"
    r = post(b, "settings/notifications/channels/email", {**SMTP, "provider": "smtp", "password": "",
                                                          "host": "mail.example.com"})
    assert r.code == 200 and "smtp-Secret-4711" not in r.text
    cfg = read(w, notify_settings.get_channel, w.box, w.demo, "email")
    assert cfg.settings["host"] == "mail.example.com" and cfg.secrets["password"] == "smtp-Secret-4711"
    for path in PAGES:
        assert "smtp-Secret-4711" not in b.get("/admin/" + path).text, path
    with w.db.engine.connect() as c:
        entries = c.execute(sa.select(audit_t.c.before, audit_t.c.after).where(audit_t.c.target == "channel email")
                            ).all()
    assert entries and not any("smtp-Secret-4711" in (e.before + e.after) for e in entries)


def test_channel_bad_setting_next_to_its_field(as_: Any, people: Console) -> None:
    """A bad SMTP host and a Twilio account without its token: 400 naming the field, what was typed kept."""
    w = people.world
    b = as_("owner")
    r = post(b, "settings/notifications/channels/email", {**SMTP, "provider": "smtp", "host": "bad host!"})
    assert r.code == 400 and 'id="host-error"' in r.text and 'value="bad host!"' in r.text
    assert "smtp-Secret-4711" not in r.text
    r = post(b, "settings/notifications/channels/sms?provider=twilio",
             {"provider": "twilio", "enabled": "on", "account_sid": "AC" + "0" * 32, "from_number": "+15005550006"},
             page="settings/notifications/channels/sms?provider=twilio")
    assert r.code == 400 and 'id="auth_token-error"' in r.text and 'value="+15005550006"' in r.text
    r = post(b, "settings/notifications/channels/sms", {"provider": "twilio", "enabled": "on",
                                                        "account_sid": "AC" + "0" * 32, "auth_token": "tw-Token-99",
                                                        "from_number": "+15005550006"})
    assert r.code == 200 and "tw-Token-99" not in r.text
    cfg = read(w, notify_settings.get_channel, w.box, w.demo, "sms")
    assert cfg.provider == "twilio" and cfg.secrets["auth_token"] == "tw-Token-99"


def test_generic_sms_gateway(as_: Any, people: Console) -> None:
    """The operator's own SMS gateway: parameters and headers typed one per line, a bearer token kept
    write-only; a line without its separator is refused next to the field."""
    w = people.world
    b = as_("owner")
    form = {"provider": "generic", "enabled": "on", "url": "http://sms.lan/send", "method": "POST", "body": "json",
            "params": "to={to}\nmsg={text}", "headers": "X-Tenant: demo", "sender": "DemoISP", "auth": "bearer",
            "token": "gw-Bearer-777", "success_path": "status", "success_value": "ok"}
    r = post(b, "settings/notifications/channels/sms?provider=generic", form)
    assert r.code == 200, r.text
    assert "gw-Bearer-777" not in r.text
    assert "msg={text}\nto={to}</textarea>" in r.text and "X-Tenant: demo" in r.text
    cfg = read(w, notify_settings.get_channel, w.box, w.demo, "sms")
    assert cfg.provider == "generic" and cfg.settings["params"] == {"to": "{to}", "msg": "{text}"}
    assert cfg.settings["headers"] == {"X-Tenant": "demo"} and cfg.secrets == {"token": "gw-Bearer-777"}
    r = post(b, "settings/notifications/channels/sms?provider=generic", {**form, "params": "to {to}", "token": ""})
    assert r.code == 400 and 'id="params-error"' in r.text and "to {to}" in r.text
    r = post(b, "settings/notifications/channels/sms?provider=generic", {**form, "token": "", "sender": "Demo ISP!"})
    assert r.code == 400 and 'id="sender-error"' in r.text
    assert read(w, notify_settings.get_channel, w.box, w.demo, "sms").secrets == {"token": "gw-Bearer-777"}
    r = post(b, "settings/notifications/channels/sms/remove", {}, page="settings/notifications/channels/sms")
    assert r.code == 200 and read(w, notify_settings.get_channel, w.box, w.demo, "sms") is None


def test_notify_settings_saved(as_: Any, people: Console) -> None:
    """Admin contacts and quiet hours: saved and read back; one end of the quiet hours alone: 400 next to it."""
    w = people.world
    b = as_("owner")
    form = {"admin_email": "noc@demo.example", "admin_phone": "", "quiet_start": "21:00", "quiet_end": "07:00",
            "reminders_at": "08:30", "sms_balance_threshold": ""}
    r = post(b, "settings/notifications", form)
    assert r.code == 200 and "quiet from" in r.text
    s = read(w, notify_settings.get, w.demo)
    assert (s.quiet_start, s.quiet_end, s.reminders_at) == ("21:00", "07:00", "08:30")
    r = post(b, "settings/notifications", {**form, "quiet_end": ""})
    assert r.code == 400 and 'id="quiet_end-error"' in r.text and 'value="21:00"' in r.text


def test_template_preview_save_and_reset(as_: Any, people: Console) -> None:
    """Preview renders the typed text with sample data and stores nothing; a broken template is refused next
    to the field with the text kept; save stores it; reset brings the default back."""
    w = people.world
    b = as_("owner")
    path = "settings/notifications/templates/invoice.issued/sms"
    r = post(b, path, {"action": "preview", "body": "Hi {{ customer.first_name }}, invoice {{ invoice.number }}"})
    assert r.code == 200 and "Hi Ama, invoice INV-000123" in r.text and "As an SMS" in r.text
    assert not read(w, templates.get, w.demo, "invoice.issued", "sms").custom
    r = post(b, path, {"action": "save", "body": "Hi {{ no_such_thing }"})
    assert r.code == 400 and 'id="body-error"' in r.text and "no_such_thing" in r.text
    assert not read(w, templates.get, w.demo, "invoice.issued", "sms").custom
    r = post(b, path, {"action": "save", "body": "Invoice {{ invoice.number }} is out."})
    assert r.code == 200 and "Invoice INV-000123 is out." in r.text
    t = read(w, templates.get, w.demo, "invoice.issued", "sms")
    assert t.custom and t.body == "Invoice {{ invoice.number }} is out."
    r = post(b, path, {"action": "reset", "body": ""})
    assert r.code == 200 and not read(w, templates.get, w.demo, "invoice.issued", "sms").custom
    r = post(b, "settings/notifications/templates/invoice.issued/email",
             {"action": "preview", "subject": "Invoice {{ invoice.number }}", "body": "Dear {{ customer.name }}",
              "html": ""})
    assert r.code == 200 and "Invoice INV-000123" in r.text and "Dear Ama Mensah" in r.text
    assert b.get("/admin/settings/notifications/templates/no.such.kind/sms").code == 404


def test_kind_channels_chosen_and_reset(as_: Any, people: Console) -> None:
    """A kind's channels: the ticked ones saved (the domain's route reads them back), then the default again."""
    w = people.world
    b = as_("owner")
    path = "settings/notifications/templates/invoice.issued/sms"
    r = post(b, path + "/channels", {"action": "save", "channel_sms": "on", "channel_whatsapp": "on"}, page=path)
    assert r.code == 200 and "goes out on SMS, WhatsApp." in r.text
    route = read(w, notify_settings.routes, w.demo)["invoice.issued"]
    assert route.custom and route.channels == ("sms", "whatsapp")
    r = post(b, path + "/channels", {"action": "default"}, page=path)
    assert r.code == 200 and "(the default)" in r.text
    assert not read(w, notify_settings.routes, w.demo)["invoice.issued"].custom
    cashier = as_("cashier")
    r = cashier.post("/admin/" + path + "/channels", {"action": "default", "csrf": cashier.form_csrf("/admin/")})
    assert r.code == 403 and "settings.write" in r.text
    assert b.post("/admin/" + path + "/channels", {"action": "default"}).code == 403


# -- the portal's sign-up form ----------------------------------------------------------------------------

PORTAL = {"enabled": "on", "approval": "automatic", "mode": "isp", "default_product_id": "", "default_zone": "",
          "email_field": "required", "phone_field": "optional", "address_field": "hidden",
          "document_field": "hidden", "document_max_kb": "2048", "max_per_hour": "5"}


def test_portal_settings_saved_and_checked(as_: Any, people: Console) -> None:
    """The sign-up settings saved and read back; e-mail and phone both hidden: 400 next to the e-mail field."""
    w = people.world
    b = as_("owner")
    r = post(b, "settings/portal", PORTAL)
    assert r.code == 200, r.text
    s = read(w, signup.get_settings, w.demo)
    assert (s.approval, s.address_field, s.document_max_kb, s.max_per_hour, s.default_zone) == \
        ("automatic", "hidden", 2048, 5, None)
    assert "approval required → automatic" in r.text
    r = post(b, "settings/portal", {**PORTAL, "email_field": "hidden", "phone_field": "hidden", "max_per_hour": "7"})
    assert r.code == 400 and 'id="email_field-error"' in r.text
    assert read(w, signup.get_settings, w.demo).max_per_hour == 5
    r = post(b, "settings/portal", {**PORTAL, "max_per_hour": "lots"})
    assert r.code == 400 and 'id="max_per_hour-error"' in r.text and 'value="lots"' in r.text


def test_custom_fields_added_and_removed(as_: Any, people: Console) -> None:
    """A choice field with its choices is added (and shows on the portal's form); a choice field without
    choices is refused next to the choices; a field is removed."""
    w = people.world
    b = as_("owner")
    r = post(b, "settings/portal/fields", {"label": "How did you hear of us?", "key": "heard", "kind": "choice",
                                           "choices": "Radio\nA friend\n", "help": "", "required": "on"},
             page="settings/portal")
    assert r.code == 200, r.text
    f = next(x for x in read(w, signup.list_fields, w.demo) if x.key == "heard")
    assert (f.kind, f.choices, f.required) == ("choice", ["Radio", "A friend"], True)
    assert "How did you hear of us?" in b.get("/admin/settings/portal").text
    r = post(b, "settings/portal/fields", {"label": "Colour", "key": "colour", "kind": "choice", "choices": ""},
             page="settings/portal")
    assert r.code == 400 and 'id="new-choices-error"' in r.text and 'value="colour"' in r.text
    for kind in ("text", "number", "checkbox", "date"):
        assert post(b, "settings/portal/fields", {"label": kind.title(), "key": f"k_{kind}", "kind": kind},
                    page="settings/portal").code == 200
    edit = f"settings/portal/fields/{f.id}"
    labelled(edit, b.get("/admin/" + edit).text)
    assert 'value="heard"' not in b.get("/admin/" + edit).text and "<code>heard</code>" in b.get("/admin/" + edit).text
    r = post(b, edit, {"label": "Heard of us from", "kind": "choice", "choices": "Radio\nTV", "help": "",
                       "position": "5", "required": "on"})
    assert r.code == 200 and "choices Radio, A friend → Radio, TV" in r.text
    f2 = read(w, signup.get_field, w.demo, f.id)
    assert (f2.label, f2.choices, f2.position, f2.key) == ("Heard of us from", ["Radio", "TV"], 5, "heard")
    r = post(b, edit, {"label": "Heard of us from", "kind": "choice", "choices": "", "help": "", "position": "x"})
    assert r.code == 400 and 'id="position-error"' in r.text and 'value="x"' in r.text
    r = post(b, edit, {"label": "Heard of us from", "kind": "choice", "choices": "", "help": "", "position": "5"})
    assert r.code == 400 and 'id="choices-error"' in r.text
    r = post(b, f"settings/portal/fields/{f.id}/remove", {}, page="settings/portal")
    assert r.code == 200 and read(w, signup.get_field, w.demo, f.id) is None


# -- zones -----------------------------------------------------------------------------------------------

def test_zones_list_add_edit_remove(as_: Any, people: Console) -> None:
    """Zones: listed, filtered, exported as CSV; a zone added, renamed and removed; bad input kept with the
    message next to its field."""
    w = people.world
    b = as_("owner")
    page = b.get("/admin/settings/zones").text
    assert "Central" in page and "Hillside" in page and "Download CSV" in page
    r = post(b, "settings/zones", {"name": "Lakeside", "areas": "Lake Road\nHarbour", "postcodes": "LK-1*",
                                   "geojson": ""})
    assert r.code == 200 and "Lakeside" in r.text
    z = next(x for x in read(w, coverage.list_zones, w.demo) if x.name == "Lakeside")
    assert z.areas == ("Harbour", "Lake Road") and z.postcodes == ("LK1*",)
    filtered = b.get("/admin/settings/zones?q=lake").text
    assert "Lakeside" in filtered and "Hillside" not in filtered
    csv = b.get("/admin/settings/zones?format=csv&q=lake")
    assert "text/csv" in (csv.header("Content-Type") or "") and "Lakeside" in csv.text and "Central" not in csv.text
    r = post(b, "settings/zones", {"name": "Broken", "areas": "", "postcodes": "", "geojson": "{not json"})
    assert r.code == 400 and 'id="new-geojson-error"' in r.text and 'value="Broken"' in r.text
    r = post(b, "settings/zones", {"name": "Empty", "areas": "", "postcodes": "", "geojson": ""})
    assert r.code == 400 and 'id="new-areas-error"' in r.text
    labelled("zone", b.get(f"/admin/settings/zones/{z.id}").text)
    r = post(b, f"settings/zones/{z.id}", {"name": "Lakeshore", "areas": "Lake Road", "postcodes": "LK-1*",
                                           "geojson": ""})
    assert r.code == 200 and "name changed" in r.text
    assert read(w, coverage.require_zone, w.demo, z.id).name == "Lakeshore"
    r = post(b, f"settings/zones/{z.id}", {"name": "Central", "areas": "Lake Road", "postcodes": "", "geojson": ""})
    assert r.code == 400 and 'id="name-error"' in r.text
    r = post(b, f"settings/zones/{z.id}/remove", {}, page=f"settings/zones/{z.id}")
    assert r.code == 200 and read(w, coverage.get_zone, w.demo, z.id) is None


# -- contracts -------------------------------------------------------------------------------------------

def test_contract_versions(as_: Any, people: Console) -> None:
    """A new version is published and becomes current; a version's page shows its text; an empty title: 400."""
    w = people.world
    b = as_("owner")
    assert "current: customers sign it" in b.get("/admin/settings/contracts").text
    r = post(b, "settings/contracts", {"title": "", "body": "Some text"})
    assert r.code == 400 and 'id="title-error"' in r.text and "Some text" in r.text
    r = post(b, "settings/contracts", {"title": "Service agreement 2027", "body": "First.\n\nSecond paragraph."})
    assert r.code == 200 and "published" in r.text
    cur = read(w, contracts.current, w.demo)
    assert cur.title == "Service agreement 2027"
    page = b.get(f"/admin/settings/contracts/{cur.id}").text
    labelled("contract", page)
    assert "<p>Second paragraph.</p>" in page and "The current version" in page


# -- gateways --------------------------------------------------------------------------------------------

def test_gateway_choice_and_write_only_key(as_: Any, people: Console) -> None:
    """Paystack without a key: 400 next to the key; with one: chosen, the key stored and never shown; left
    empty later, the key stays; none turns online payment off."""
    w = people.world
    b = as_("owner")
    with w.db.engine.begin() as c:                 # a fresh org gateway row without a Paystack key
        c.execute(gateway_settings.delete().where(gateway_settings.c.org_id == w.demo))
    r = post(b, "settings/gateways", {"gateway": "paystack", "paystack_secret_key": ""})
    assert r.code == 400 and 'id="paystack_secret_key-error"' in r.text
    key = "sk_test_" + "a1B2c3D4e5" * 3
    r = post(b, "settings/gateways", {"gateway": "paystack", "paystack_secret_key": key})
    assert r.code == 200 and key not in r.text and "test mode" in r.text
    st = read(w, gateway_store.gateway_settings_of, w.box, w.demo)
    assert st.gateway == "paystack" and st.secrets["paystack_secret_key"] == key
    r = post(b, "settings/gateways", {"gateway": "none", "paystack_secret_key": ""})
    assert r.code == 200 and "gateway paystack → none" in r.text and key not in r.text
    st = read(w, gateway_store.gateway_settings_of, w.box, w.demo)
    assert st.gateway == "none" and st.secrets["paystack_secret_key"] == key
