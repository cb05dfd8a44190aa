"""The admin API's notification resources, in process on the seeded world: messages (rows queued with
billing.notify.outbox.queue in both orgs), kinds and their channels, templates and previews, reminder
rules, channels, notify settings and opt-outs; every org sees only its own, no secret is ever shown."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, get_args

import pytest

from aaad.errors import ValidationError
from billing import customers
from billing.notify import kinds, outbox, providers
from billing.notify import settings as ns
from billing.notify.channels import CHANNELS, Channel
from tests.web.api.conftest import NOW, ApiClient, World
from web.api.resources import notify as api_notify

SMTP_PASSWORD = "smtp-Pa55word-never-shown"
SMS_KEY = "sms-api-key-never-shown"
CODE = "activation-pw-never-shown"
SMTP = {"host": "smtp.example.com", "from_address": "billing@isp.example", "username": "billing"}
SECRETS = (SMTP_PASSWORD, SMS_KEY, CODE)
_n = itertools.count(1)


def _parse(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    for k in settings:
        if k not in ("url", "sender"):
            raise ValidationError(k, "unknown setting")
    url = settings.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValidationError("url", "required: an https:// address")
    if not secrets.get("api_key"):
        raise ValidationError("api_key", "required")
    return {"url": url, "sender": settings.get("sender", "")}


def _build(reactor: Any, settings: Any, http: Any, timeout: float) -> Channel:
    raise NotImplementedError("the API tests send nothing")


for _ch in ("sms", "whatsapp"):
    providers.register(providers.Spec(_ch, "apitest", ("api_key",), _parse, dict, _build))


@dataclass(frozen=True)
class Rows:
    """Messages queued in one org: welcome (email failed, sms pending) and activation (with a secret)."""
    customer_id: int
    welcome_email: int
    welcome_sms: int
    activated_email: int
    activated_sms: int


def _queue(world: World, org_id: int) -> Rows:
    with world.db.engine.begin() as c:
        ns.set_channel(c, world.box, org_id, "email", NOW, provider="smtp", settings=dict(SMTP),
                       secrets={"password": SMTP_PASSWORD})
        ns.set_channel(c, world.box, org_id, "sms", NOW, provider="apitest",
                       settings={"url": "https://sms.example/send"}, secrets={"api_key": SMS_KEY})
        cu = customers.add(c, org_id, NOW, name="Notify Tester", email=f"notify-{org_id}@example.com",
                           phone="+233241234567")
        service = {"product": "Home 10M", "username": "notify-tester", "start_date": "Nov 30, 2026"}
        outbox.queue(c, world.box, org_id, [
            outbox.Draft("customer.welcome", "api:welcome", cu.id),
            outbox.Draft("service.activated", "api:activated", cu.id, {"service": service},
                         secrets={"password": CODE})], NOW)
        got = {(m.kind, m.channel): m.id for m in outbox.page(c, org_id, customer_id=cu.id, limit=50).items}
        rows = Rows(cu.id, got[("customer.welcome", "email")], got[("customer.welcome", "sms")],
                    got[("service.activated", "email")], got[("service.activated", "sms")])
        outbox.record(c, [outbox.Outcome(rows.welcome_email, False, detail="550 mailbox unavailable"),
                          outbox.Outcome(rows.activated_email, False, detail="550 mailbox unavailable")],
                      NOW, max_attempts=3, backoff=1, backoff_max=1)
    return rows


@pytest.fixture(scope="module")
def rows(world: World) -> dict[str, Rows]:
    return {"demo": _queue(world, world.demo), "other": _queue(world, world.other)}


def _no_secret(r: Any) -> None:
    for s in SECRETS:
        assert s not in r.text


def _field(r: Any) -> str:
    assert r.code == 422, r.text
    return str(r.json()["error"]["field"])


def put(api: ApiClient, path: str, body: Any = None) -> Any:
    return api.request("PUT", path, body)


# -- messages ------------------------------------------------------------------------------------

def test_list_messages_shows_the_orgs_rows_with_their_fields_and_no_secret(api: ApiClient, rows: dict[str, Rows]
                                                                           ) -> None:
    """GET /messages: the org's rows only, newest first, every field; the activation's password is not in it."""
    r = api.get("/messages?limit=500")
    assert r.code == 200
    items = r.json()["items"]
    ids = [m["id"] for m in items]
    mine = rows["demo"]
    assert {mine.welcome_email, mine.welcome_sms, mine.activated_sms} <= set(ids)
    assert rows["other"].welcome_email not in ids and ids == sorted(ids, reverse=True)
    m = next(i for i in items if i["id"] == mine.activated_sms)
    assert m["has_secrets"] is True and m["urgent"] is True and m["state"] == "pending"
    assert m["recipient"] == "+233241234567" and m["vars"]["service"]["product"] == "Home 10M"
    assert "password" not in m["vars"] and m["created_at"].endswith("Z")
    assert set(m) == set(api_notify.MessageOut.model_fields)
    _no_secret(r)


def test_list_messages_filters_and_sorts(api: ApiClient, rows: dict[str, Rows]) -> None:
    """state, channel, kind and customer_id filter; sort=id is oldest first; a bad state is 422 naming it."""
    mine = rows["demo"]
    q = f"customer_id={mine.customer_id}"
    failed = api.get(f"/messages?{q}&state=failed").json()["items"]
    assert {m["id"] for m in failed} >= {mine.activated_email} and all(m["state"] == "failed" for m in failed)
    sms = api.get(f"/messages?{q}&channel=sms&sort=id").json()["items"]
    assert [m["id"] for m in sms] == sorted([mine.welcome_sms, mine.activated_sms])
    welcome = api.get(f"/messages?{q}&kind=customer.welcome").json()["items"]
    assert {m["id"] for m in welcome} == {mine.welcome_email, mine.welcome_sms}
    assert api.get(f"/messages?customer_id={rows['other'].customer_id}").json()["items"] == []
    assert _field(api.get("/messages?state=lost")) == "state"
    assert _field(api.get("/messages?sort=recipient")) == "sort"


def test_get_message_and_not_found_for_unknown_and_other_orgs(api: ApiClient, rows: dict[str, Rows]) -> None:
    """GET /messages/{id}: the org's own; an unknown id and the other org's id are 404 alike."""
    r = api.get(f"/messages/{rows['demo'].welcome_email}")
    assert r.code == 200 and r.json()["error"] == "550 mailbox unavailable" and r.json()["state"] == "failed"
    other = rows["other"].welcome_email
    assert api.get(f"/messages/{other}").code == 404
    assert api.get("/messages/999999999").code == 404
    assert api.as_("other").get(f"/messages/{other}").code == 200
    for action in ("retry", "cancel"):
        assert api.post(f"/messages/{other}/{action}").code == 404
    assert api.as_("other").get(f"/messages/{other}").json()["state"] == "failed"


def test_retry_a_failed_message_and_refusals(api: ApiClient, rows: dict[str, Rows]) -> None:
    """POST retry: a failed message is pending again with no attempts; a pending one is 422 naming state; one
    that carried a secret is 422 naming kind."""
    mine = rows["demo"]
    r = api.post(f"/messages/{mine.welcome_email}/retry")
    assert r.code == 200, r.text
    assert r.json()["state"] == "pending" and r.json()["attempts"] == 0 and r.json()["error"] is None
    assert _field(api.post(f"/messages/{mine.welcome_email}/retry")) == "state"
    assert _field(api.post(f"/messages/{mine.activated_email}/retry")) == "kind"


def test_cancel_a_pending_message(api: ApiClient, rows: dict[str, Rows]) -> None:
    """POST cancel: a pending message is cancelled (done_at set); cancelling it again is 422 naming state."""
    mine = rows["demo"]
    r = api.post(f"/messages/{mine.activated_sms}/cancel")
    assert r.code == 200 and r.json()["state"] == "cancelled" and r.json()["done_at"] is not None
    assert _field(api.post(f"/messages/{mine.activated_sms}/cancel")) == "state"
    _no_secret(r)


def test_read_only_token_cannot_retry_or_cancel(api: ApiClient, rows: dict[str, Rows]) -> None:
    """The read-only token gets 403 on retry and cancel, and the message is unchanged."""
    mine = rows["demo"]
    before = api.get(f"/messages/{mine.welcome_sms}").json()
    for action in ("retry", "cancel"):
        assert api.as_("demo_ro").post(f"/messages/{mine.welcome_sms}/{action}").code == 403
    assert api.get(f"/messages/{mine.welcome_sms}").json() == before


# -- kinds and routes ----------------------------------------------------------------------------

def test_message_kinds_catalogue(api: ApiClient) -> None:
    """GET /message-kinds: every kind, with its variables (described, secrets flagged) and the org's channels."""
    r = api.get("/message-kinds")
    assert r.code == 200 and r.json()["next_cursor"] is None
    got = {k["name"]: k for k in r.json()["items"]}
    assert set(got) == set(kinds.KINDS)
    act = got["service.activated"]
    assert act["audience"] == "customer" and act["urgent"] is True and act["optional"] is False
    assert act["default_channels"] == ["email", "sms"] and act["by_rule"] is False
    variables = {v["name"]: v for v in act["variables"]}
    assert variables["password"]["secret"] is True and variables["service"]["description"]
    assert variables["customer"]["secret"] is False
    assert got["invoice.due_reminder"]["by_rule"] is True and got["invoice.issued"]["attachment"] == "invoice"
    assert got["usage.cap_warning"]["optional"] is True and got["otp.code"]["audience"] == "phone"


def test_set_a_kinds_channels_and_back_to_default(api: ApiClient) -> None:
    """PUT /message-kinds/{kind}/channels: the org's channels for the kind (the other org's stay); null restores
    the default; an unknown kind is 404, an unknown channel 422 naming it; read-only 403."""
    r = put(api, "/message-kinds/payment.received/channels", {"channels": ["whatsapp", "sms"]})
    assert r.code == 200, r.text
    assert r.json()["channels"] == ["sms", "whatsapp"] and r.json()["custom_route"] is True
    listed = {k["name"]: k for k in api.get("/message-kinds").json()["items"]}
    assert listed["payment.received"]["channels"] == ["sms", "whatsapp"]
    theirs = {k["name"]: k for k in api.as_("other").get("/message-kinds").json()["items"]}
    assert theirs["payment.received"]["channels"] == ["email", "sms"]
    none = put(api, "/message-kinds/payment.received/channels", {"channels": []})
    assert none.code == 200 and none.json()["channels"] == []
    back = put(api, "/message-kinds/payment.received/channels", {"channels": None})
    assert back.json()["channels"] == ["email", "sms"] and back.json()["custom_route"] is False
    assert put(api, "/message-kinds/no.such.kind/channels", {"channels": ["sms"]}).code == 404
    assert _field(put(api, "/message-kinds/payment.received/channels", {"channels": ["fax"]})) == "channels.0"
    assert _field(put(api, "/message-kinds/payment.received/channels", {})) == "channels"
    assert put(api.as_("demo_ro"), "/message-kinds/payment.received/channels", {"channels": []}).code == 403


# -- templates -----------------------------------------------------------------------------------

def test_list_and_get_templates(api: ApiClient) -> None:
    """GET /templates: every kind for every channel (defaults not custom), filtered by kind and channel; GET one;
    an unknown kind or channel is 404."""
    items = api.get("/templates").json()["items"]
    assert len(items) == len(kinds.KINDS) * len(CHANNELS)
    welcome = api.get("/templates?kind=customer.welcome").json()["items"]
    assert [t["channel"] for t in welcome] == list(CHANNELS)
    assert all(t["kind"] == "customer.welcome" for t in api.get("/templates?kind=customer.welcome&channel=sms")
               .json()["items"])
    r = api.get("/templates/invoice.issued/email")
    assert r.code == 200 and r.json()["custom"] is False and "invoice.number" in r.json()["subject"]
    assert api.get("/templates/no.such.kind/email").code == 404
    assert api.get("/templates/invoice.issued/fax").code == 404


def test_put_template_refuses_unknown_variable_naming_field_and_line(api: ApiClient) -> None:
    """PUT a template with an unknown variable: 422 naming body and its line; a syntax error names the line;
    e-mail without a subject names subject; an SMS with a subject names subject; expressions nested too deeply
    name body (not a 500); nothing is stored."""
    r = put(api, "/templates/customer.welcome/sms", {"body": "Hello {{ customer.name }}\nYour {{ bogus }}"})
    assert _field(r) == "body"
    assert "line 2" in r.json()["error"]["message"] and "bogus" in r.json()["error"]["message"]
    r = put(api, "/templates/customer.welcome/email", {"subject": "Hi", "body": "ok", "html": "<p>{% if %}</p>"})
    assert _field(r) == "html" and "line 1" in r.json()["error"]["message"]
    assert _field(put(api, "/templates/customer.welcome/email", {"body": "Hello"})) == "subject"
    assert _field(put(api, "/templates/customer.welcome/sms", {"body": "Hi", "subject": "x"})) == "subject"
    assert _field(put(api, "/templates/customer.welcome/sms", {"subject": "x"})) == "body"
    deep = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
    assert _field(put(api, "/templates/customer.welcome/sms", {"body": deep})) == "body"
    assert api.get("/templates/customer.welcome/sms").json()["custom"] is False


def test_put_and_reset_a_template(api: ApiClient) -> None:
    """PUT stores the org's own template (the other org keeps the default); DELETE resets it; read-only 403."""
    body = "Hi {{ customer.first_name }}, welcome to {{ org.name }}!"
    r = put(api, "/templates/customer.welcome/whatsapp", {"body": body})
    assert r.code == 200, r.text
    assert r.json()["custom"] is True and r.json()["body"] == body and r.json()["updated_at"].endswith("Z")
    assert api.get("/templates/customer.welcome/whatsapp").json()["body"] == body
    assert api.as_("other").get("/templates/customer.welcome/whatsapp").json()["custom"] is False
    assert put(api.as_("demo_ro"), "/templates/customer.welcome/whatsapp", {"body": "x"}).code == 403
    assert api.as_("demo_ro").delete("/templates/customer.welcome/whatsapp").code == 403
    r = api.delete("/templates/customer.welcome/whatsapp")
    assert r.code == 200 and r.json()["custom"] is False and r.json()["body"] != body
    assert api.get("/templates/customer.welcome/whatsapp").json()["custom"] is False


def test_preview_stored_email_template_with_branding(api: ApiClient) -> None:
    """POST preview with no body: the stored e-mail rendered with sample data in the org's branded HTML."""
    r = api.post("/templates/invoice.issued/email/preview")
    assert r.code == 200, r.text
    p = r.json()
    assert p["subject"] == "Invoice INV-000123 from Demo ISP" and "Ama" in p["text"] and p["sms"] is None
    brand = api.get("/billing-settings").json()["brand_name"] or "Demo"
    assert p["html"] and "<html" in p["html"].lower() and brand.split()[0] in p["html"]


def test_preview_sms_counts_segments_and_unsaved_text(api: ApiClient) -> None:
    """An SMS preview gives its encoding and segments; unsaved text is checked (422 naming the field and line)
    and previewed without being stored."""
    stored = api.post("/templates/payment.received/sms/preview").json()
    assert stored["sms"]["encoding"] == "UCS-2"                     # the sample amount is in GH₵
    assert stored["sms"]["characters"] == len(stored["text"])
    long = "{{ org.name }} " + "x" * 200
    r = api.post("/templates/payment.received/sms/preview", {"body": long})
    assert r.json()["sms"] == {"encoding": "GSM-7", "characters": 209, "segments": 2, "per_segment": 153}
    bad = api.post("/templates/payment.received/sms/preview", {"body": "ok\n{{ nope }}"})
    assert _field(bad) == "body" and "line 2" in bad.json()["error"]["message"]
    subject = api.post("/templates/payment.received/email/preview", {"subject": "Paid: {{ payment.amount }}"})
    assert subject.json()["subject"] == "Paid: GH₵120.00" and "Ama" in subject.json()["text"]
    assert api.get("/templates/payment.received/sms").json()["custom"] is False
    assert api.post("/templates/no.such.kind/sms/preview").code == 404


# -- reminder rules ------------------------------------------------------------------------------

def test_rules_create_get_list_patch_delete(api: ApiClient) -> None:
    """The rule's life through the API, each answer described in words; read-only 403 on every write."""
    r = api.post("/notify-rules", {"kind": "invoice.due_reminder", "offset_minutes": -3 * 1440})
    assert r.code == 201, r.text
    rule = r.json()
    assert rule["describe"] == "3 days before the due date" and rule["enabled"] is True
    path = f"/notify-rules/{rule['id']}"
    assert api.get(path).json() == rule
    assert rule in api.get("/notify-rules").json()["items"]
    assert rule in api.get("/notify-rules?kind=invoice.due_reminder").json()["items"]
    assert rule not in api.get("/notify-rules?kind=service.expiry_warning").json()["items"]
    ro = api.as_("demo_ro")
    assert ro.post("/notify-rules", {"kind": "service.expiry_warning", "offset_minutes": -60}).code == 403
    assert ro.patch(path, {"enabled": False}).code == 403 and ro.delete(path).code == 403
    off = api.patch(path, {"enabled": False})
    assert off.code == 200 and off.json()["enabled"] is False
    gone = api.delete(path)
    assert gone.code == 200 and gone.json() == {"id": rule["id"], "deleted": True}
    assert api.get(path).code == 404 and api.delete(path).code == 404
    warn = api.post("/notify-rules", {"kind": "service.expiry_warning", "offset_minutes": -120, "enabled": False})
    assert warn.json()["describe"] == "2 hours before expiry" and warn.json()["enabled"] is False


def test_rules_refuse_bad_input_naming_the_field(api: ApiClient) -> None:
    """Not whole days, after expiry, a duplicate, an unknown kind: 422 naming the field."""
    assert _field(api.post("/notify-rules", {"kind": "invoice.due_reminder", "offset_minutes": -90})) \
        == "offset_minutes"
    assert _field(api.post("/notify-rules", {"kind": "service.expiry_warning", "offset_minutes": 60})) \
        == "offset_minutes"
    assert _field(api.post("/notify-rules", {"kind": "invoice.issued", "offset_minutes": 0})) == "kind"
    assert _field(api.post("/notify-rules", {"kind": "invoice.due_reminder"})) == "offset_minutes"
    assert api.post("/notify-rules", {"kind": "invoice.due_reminder", "offset_minutes": 2880}).code == 201
    dup = api.post("/notify-rules", {"kind": "invoice.due_reminder", "offset_minutes": 2880})
    assert _field(dup) == "offset_minutes" and "already" in dup.json()["error"]["message"]
    assert _field(api.patch("/notify-rules/1", {})) == "enabled"


def test_rules_of_the_other_org_are_not_found(api: ApiClient) -> None:
    """The other org's rule: 404 on GET, PATCH and DELETE with this org's token, absent from its list, and
    unchanged."""
    theirs = api.as_("other").post("/notify-rules", {"kind": "invoice.due_reminder", "offset_minutes": 0}).json()
    path = f"/notify-rules/{theirs['id']}"
    assert api.get(path).code == 404 and api.get("/notify-rules/999999999").code == 404
    assert api.patch(path, {"enabled": False}).code == 404 and api.delete(path).code == 404
    assert theirs["id"] not in {r["id"] for r in api.get("/notify-rules").json()["items"]}
    assert api.as_("other").get(path).json() == theirs


def test_rule_kinds_match_the_domain() -> None:
    """The API's closed set of rule kinds and channels are the domain's."""
    assert get_args(api_notify.RuleKind) == kinds.RULE_KINDS
    assert get_args(api_notify.Channel) == CHANNELS


# -- channels ------------------------------------------------------------------------------------

def test_channels_show_public_settings_and_has_secret_only(api: ApiClient, rows: dict[str, Rows]) -> None:
    """GET /notify-channels and /notify-channels/email: provider and settings; secrets only as has_<name>."""
    r = api.get("/notify-channels")
    assert r.code == 200
    got = {c["channel"]: c for c in r.json()["items"]}
    assert got["email"]["provider"] == "smtp" and got["email"]["settings"]["has_password"] is True
    assert got["email"]["settings"]["host"] == "smtp.example.com" and "password" not in got["email"]["settings"]
    assert got["sms"]["settings"] == {"url": "https://sms.example/send", "sender": "", "has_api_key": True}
    one = api.get("/notify-channels/email")
    assert one.code == 200 and one.json() == got["email"]
    _no_secret(r)
    _no_secret(one)
    assert api.get("/notify-channels/fax").code == 404


def test_put_channel_validates_naming_settings_and_secrets_fields(api: ApiClient, rows: dict[str, Rows]) -> None:
    """The provider's checks surface as 422 naming settings.<key> or secrets.<key>; an unknown provider names
    provider; nothing changes on a refusal."""
    before = api.get("/notify-channels/email").json()
    bad = put(api, "/notify-channels/email", {"provider": "smtp", "settings": {"from_address": "a@b.example"}})
    assert _field(bad) == "settings.host"
    assert _field(put(api, "/notify-channels/email", {"provider": "smtp", "settings": {**SMTP, "port": 0}})) \
        == "settings.port"
    assert _field(put(api, "/notify-channels/email", {"provider": "smtp", "settings": {**SMTP, "password": "x"}})) \
        == "settings.password"
    assert _field(put(api, "/notify-channels/email", {"provider": "smtp", "settings": SMTP,
                                                      "secrets": {"password": None}})) == "secrets.password"
    assert _field(put(api, "/notify-channels/email", {"provider": "smtp", "settings": SMTP,
                                                      "secrets": {"token": "x"}})) == "secrets.token"
    assert _field(put(api, "/notify-channels/email", {"provider": "carrier-pigeon"})) == "provider"
    assert _field(put(api, "/notify-channels/email", {"settings": SMTP})) == "provider"
    assert api.get("/notify-channels/email").json() == before


def test_put_channel_refuses_server_paths(api: ApiClient) -> None:
    """An API token cannot point the daemon at files on the server: ca_file, or the file provider."""
    assert _field(put(api, "/notify-channels/email", {"provider": "smtp",
                                                      "settings": {**SMTP, "ca_file": "/etc/shadow"}})) \
        == "settings.ca_file"
    assert _field(put(api, "/notify-channels/sms", {"provider": "file", "settings": {"directory": "/etc"}})) \
        == "settings.directory"


def test_put_channel_keeps_secrets_and_never_shows_them(api: ApiClient, world: World, rows: dict[str, Rows]
                                                        ) -> None:
    """PUT without secrets keeps the stored one (has_password stays true); the response and the audit log never
    hold a secret."""
    r = put(api, "/notify-channels/email", {"provider": "smtp", "settings": {**SMTP, "port": 2525}})
    assert r.code == 200, r.text
    assert r.json()["settings"]["port"] == 2525 and r.json()["settings"]["has_password"] is True
    with world.db.engine.connect() as c:
        cfg = ns.get_channel(c, world.box, world.demo, "email")
    assert cfg is not None and cfg.secrets == {"password": SMTP_PASSWORD}
    new = put(api, "/notify-channels/sms", {"provider": "apitest", "settings": {"url": "https://sms.example/v2"},
                                            "secrets": {"api_key": SMS_KEY + "-2"}})
    assert new.code == 200 and new.json()["settings"]["has_api_key"] is True
    _no_secret(r)
    _no_secret(new)
    audit = api.get("/audit?limit=500")
    assert audit.code == 200 and "channel sms" in audit.text
    _no_secret(audit)
    assert SMS_KEY + "-2" not in audit.text


def test_configure_and_remove_a_channel(api: ApiClient) -> None:
    """PUT a new channel (disabled), GET it, DELETE it: then 404; the other org never sees it; read-only 403."""
    body = {"provider": "apitest", "enabled": False, "settings": {"url": "https://wa.example/send"},
            "secrets": {"api_key": "wa-key"}}
    assert put(api.as_("demo_ro"), "/notify-channels/whatsapp", body).code == 403
    r = put(api, "/notify-channels/whatsapp", body)
    assert r.code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["provider"] == "apitest" and "wa-key" not in r.text
    assert api.get("/notify-channels/whatsapp").json() == r.json()
    assert api.as_("other").get("/notify-channels/whatsapp").code == 404
    assert api.as_("demo_ro").delete("/notify-channels/whatsapp").code == 403
    gone = api.delete("/notify-channels/whatsapp")
    assert gone.code == 200 and gone.json() == {"channel": "whatsapp", "deleted": True}
    assert api.get("/notify-channels/whatsapp").code == 404 and api.delete("/notify-channels/whatsapp").code == 404


# -- settings and opt-outs -----------------------------------------------------------------------

def test_notify_settings_get_and_patch(api: ApiClient) -> None:
    """GET the settings (defaults); PATCH normalises the admin e-mail and sets quiet hours; the other org's stay;
    read-only 403."""
    r = api.get("/notify-settings")
    assert r.code == 200 and r.json()["reminders_at"] == "09:00"
    p = api.patch("/notify-settings", {"admin_email": "Ops@ISP.example", "quiet_start": "21:00",
                                       "quiet_end": "07:00", "sms_balance_threshold": 50})
    assert p.code == 200, p.text
    assert p.json()["admin_email"] == "ops@isp.example" and p.json()["quiet_start"] == "21:00"
    assert api.get("/notify-settings").json() == p.json()
    assert api.as_("other").get("/notify-settings").json()["admin_email"] is None
    cleared = api.patch("/notify-settings", {"quiet_start": None, "quiet_end": None})
    assert cleared.json()["quiet_start"] is None and cleared.json()["admin_email"] == "ops@isp.example"
    assert api.as_("demo_ro").patch("/notify-settings", {"reminders_at": "08:00"}).code == 403


def test_notify_settings_refuse_bad_values_naming_the_field(api: ApiClient) -> None:
    """A bad e-mail, a one-ended quiet period, a bad time, a negative threshold: 422 naming the field."""
    assert _field(api.patch("/notify-settings", {"admin_email": "not-an-address"})) == "admin_email"
    assert _field(api.patch("/notify-settings", {"admin_phone": "12"})) == "admin_phone"
    assert _field(api.patch("/notify-settings", {"quiet_start": "22:00", "quiet_end": None})) == "quiet_end"
    assert _field(api.patch("/notify-settings", {"reminders_at": "25:00"})) == "reminders_at"
    assert _field(api.patch("/notify-settings", {"reminders_at": None})) == "reminders_at"
    assert _field(api.patch("/notify-settings", {"sms_balance_threshold": -1})) == "sms_balance_threshold"


def test_marketing_opt_out(api: ApiClient, world: World, rows: dict[str, Rows]) -> None:
    """PUT opt-out: the customer is opted out (and back in); an unknown customer and the other org's are 404;
    read-only 403."""
    cid = rows["demo"].customer_id
    path = f"/customers/{cid}/marketing-opt-out"
    r = put(api, path, {"opted_out": True})
    assert r.code == 200 and r.json() == {"customer_id": cid, "opted_out": True}
    with world.db.engine.connect() as c:
        assert ns.opted_out(c, world.demo, [cid]) == {cid}
    assert put(api, path, {"opted_out": False}).json()["opted_out"] is False
    with world.db.engine.connect() as c:
        assert ns.opted_out(c, world.demo, [cid]) == set()
    other = rows["other"].customer_id
    assert put(api, f"/customers/{other}/marketing-opt-out", {"opted_out": True}).code == 404
    with world.db.engine.connect() as c:
        assert ns.opted_out(c, world.other, [other]) == set()
    assert put(api, "/customers/999999999/marketing-opt-out", {"opted_out": True}).code == 404
    assert put(api.as_("demo_ro"), path, {"opted_out": True}).code == 403
    assert _field(put(api, path, {})) == "opted_out"
