"""/admin/settings/...: the org's settings in the console — billing, notification channels and templates (with
a preview), the portal's sign-up form, coverage zones, contract versions and the payment gateway.

    settings                                       the index of the settings pages
    settings/billing                               billing settings (VAT as a percentage, days, numbering, branding)
    settings/notifications                         channels, admin contacts and quiet hours, the message kinds
    settings/notifications/channels/<channel>      configure email (SMTP), SMS (generic, Twilio), WhatsApp (Twilio)
    settings/notifications/channels/<channel>/remove
    settings/notifications/templates/<kind>/<channel>   a template: preview, save, reset to the default
    settings/portal                                the sign-up form's settings and its custom fields
    settings/portal/fields, .../fields/<id>/remove add and remove custom fields
    settings/zones, settings/zones/<id>, .../remove coverage zones (list, CSV, add, edit, remove)
    settings/contracts, settings/contracts/<id>    contract versions (the newest is current), add a version
    settings/gateways                              the portal's payment gateway and the Paystack key

Reading needs ``settings.read``, every write ``settings.write`` (as the API's routes for the same jobs); every
page reads and writes through the same billing functions the API uses.  Secrets (SMTP password, Twilio token,
SMS gateway keys, the Paystack key) are write-only: a page says whether one is set, never shows it, and a secret
field left empty keeps the stored value.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from klein import Klein
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import orgs
from aaad.errors import NotFound, ValidationError
from aaad.urls import portal_url, public_url
from billing import catalogue
from billing import settings as billing_settings
from billing.gateways import store as gateway_store
from billing.notify import kinds, segments, sender, templates
from billing.notify import settings as notify_settings
from billing.notify.channels import CHANNELS, EMAIL
from billing.schema import SIGNUP_FIELD_KINDS
from billing.signup import contracts, coverage
from billing.signup import forms as signup
from web import forms
from web.admin import lists
from web.admin.section import Nav, Section

READ, WRITE = "settings.read", "settings.write"
PAGE = 50

# -- reading a form ---------------------------------------------------------------------------------


def _texts(request: IRequest, names: tuple[str, ...], limit: int = 500) -> dict[str, str]:
    return {n: forms.arg(request, n, limit) for n in names}


def _checked(request: IRequest, name: str) -> bool:
    return forms.arg(request, name, 10).strip().lower() in signup.TRUE


def _int(form: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    text = form.get(name, "").strip()
    try:
        return int(text)
    except ValueError:
        errors[name] = "Type a whole number."
        return None


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace("\r\n", "\n").split("\n") if x.strip()]


def _changes(before: Any, after: Any, labels: Mapping[str, str],
             show: Callable[[str, Any], str] | None = None) -> str:
    """'Saved: VAT rate 0 % → 15 %, grace days 3 → 5.' (or that nothing changed)."""
    def fmt(k: str, v: Any) -> str:
        if show is not None:
            return show(k, v)
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, (list, tuple)):
            return ", ".join(map(str, v)) or "(none)"
        return "(none)" if v in (None, "") else str(v)
    said = [f"{label} {fmt(k, getattr(before, k))} → {fmt(k, getattr(after, k))}"
            for k, label in labels.items() if getattr(before, k) != getattr(after, k)]
    return ("Saved: " + "; ".join(said) + ".") if said else "Saved: nothing changed."


# -- billing --------------------------------------------------------------------------------------

BILLING_LABELS = {
    "country": "country", "vat_bp": "VAT rate", "prices_include_vat": "prices include VAT",
    "billing_day": "billing day", "payment_terms_days": "payment terms (days)", "grace_days": "grace days",
    "suspend_mode": "suspension", "auto_resume": "resume on payment", "invoice_prefix": "invoice prefix",
    "credit_note_prefix": "credit note prefix", "receipt_prefix": "receipt prefix", "locale": "locale",
    "hotspot_login_url": "hotspot login page", "brand_name": "display name", "brand_colour": "colour",
    "brand_address": "address", "brand_tax_id": "tax id", "brand_logo": "logo"}
BILLING_TEXTS = ("country", "vat_percent", "billing_day", "payment_terms_days", "grace_days", "suspend_mode",
                 "invoice_prefix", "credit_note_prefix", "receipt_prefix", "locale", "hotspot_login_url",
                 "brand_name", "brand_colour", "brand_address", "brand_tax_id")
SUSPEND_MODES = (("reject", "Reject the login with the reason"),
                 ("walled_garden", "Let it into the walled garden (a low rate, the payment page)"))
LOGO_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
LOGO_MAX = 256 * 1024


def percent(bp: int) -> str:
    """Basis points as the percentage a person types: 1500 -> '15', 1250 -> '12.5'."""
    return format((Decimal(bp) / 100).normalize(), "f")


def _billing_form(s: billing_settings.Settings) -> dict[str, str]:
    form = {k: "" if getattr(s, k, None) is None else str(getattr(s, k)) for k in BILLING_TEXTS
            if k != "vat_percent"}
    form["vat_percent"] = percent(s.vat_bp)
    return form


def _billing_values(request: IRequest, form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for k in ("country", "suspend_mode", "invoice_prefix", "credit_note_prefix", "receipt_prefix", "locale",
              "hotspot_login_url"):
        values[k] = form[k].strip()
    for k in ("brand_name", "brand_colour", "brand_address", "brand_tax_id"):
        values[k] = form[k].strip() or None
    try:
        vat = Decimal(form["vat_percent"].strip().rstrip("%").strip().replace(",", "."))
        if not vat.is_finite() or not 0 <= vat <= 100 or vat * 100 != (vat * 100).to_integral_value():
            raise InvalidOperation
        values["vat_bp"] = int(vat * 100)
    except InvalidOperation:
        errors["vat_percent"] = "Type a percentage from 0 to 100, e.g. 15 or 12.5 (at most two decimals)."
    for k in ("billing_day", "payment_terms_days", "grace_days"):
        n = _int(form, k, errors)
        if n is not None:
            values[k] = n
    values["prices_include_vat"] = _checked(request, "prices_include_vat")
    values["auto_resume"] = _checked(request, "auto_resume")
    if _checked(request, "remove_logo"):
        values["brand_logo"] = None
    else:
        upload = cast(Any, request).args.get(b"logo", [b""])[0]
        if upload:
            kind = next((t for magic, t in LOGO_TYPES if upload.startswith(magic)), None)
            if kind is None:
                errors["logo"] = "A PNG or JPEG picture."
            elif len(upload) > LOGO_MAX:
                errors["logo"] = f"At most {LOGO_MAX // 1024} kB."
            else:
                values["brand_logo"] = f"data:{kind};base64," + base64.b64encode(upload).decode("ascii")
    return values


def _show_billing(k: str, v: Any) -> str:
    if k == "vat_bp":
        return f"{percent(v)} %"
    if k == "brand_logo":
        return "set" if v else "(none)"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "(none)" if v in (None, "") else str(v)


# -- notifications --------------------------------------------------------------------------------

#: channel -> the providers the console configures (the file provider writes on the server: the CLI's).
PROVIDERS: dict[str, tuple[tuple[str, str], ...]] = {
    "email": (("smtp", "SMTP server"),),
    "sms": (("generic", "Your own HTTP SMS gateway"), ("twilio", "Twilio")),
    "whatsapp": (("twilio", "Twilio"),),
}
CHANNEL_TITLES = {"email": "E-mail", "sms": "SMS", "whatsapp": "WhatsApp"}


class Input:
    """One input of a provider's form."""

    def __init__(self, name: str, label: str, kind: str = "text", hint: str = "",
                 options: tuple[tuple[str, str], ...] = ()):
        self.name, self.label, self.kind, self.hint, self.options = name, label, kind, hint, options


#: provider -> its inputs: kind text|number|select|check|lines|secret ("lines": a textarea of name=value).
INPUTS: dict[str, tuple[Input, ...]] = {
    "smtp": (
        Input("host", "SMTP server", hint="Its host name or address, e.g. smtp.example.com"),
        Input("security", "Security", "select", options=(("starttls", "STARTTLS (port 587)"),
                                                          ("tls", "TLS from the start (port 465)"),
                                                          ("none", "None (port 25, no password)"))),
        Input("port", "Port", "number", hint="Empty: the security's usual port."),
        Input("username", "User name", hint="Empty: no sign-in."),
        Input("password", "Password", "secret"),
        Input("from_address", "From address", hint="The address messages are sent from."),
        Input("reply_to", "Reply-to address"),
        Input("timeout", "Timeout (seconds)", "number", hint="Empty: 30."),
        Input("verify_tls", "Check the server's certificate", "check"),
        Input("helo_name", "HELO name", hint="Empty: the machine's name."),
    ),
    "twilio": (
        Input("account_sid", "Account SID", hint="AC followed by 32 hexadecimal digits."),
        Input("auth_token", "Auth token", "secret"),
        Input("from_number", "From number or sender ID", hint="E.164 like +233540000000, or a sender ID."),
        Input("messaging_service_sid", "Messaging service SID", hint="MG..., used when no from number is set."),
        Input("whatsapp_from", "WhatsApp sender", hint="E.164 of the WhatsApp sender."),
        Input("status_callback", "Delivery receipt URL"),
        Input("base_url", "API URL", hint="Empty: https://api.twilio.com"),
    ),
    "generic": (
        Input("url", "Gateway URL", hint="http:// or https://"),
        Input("method", "Method", "select", options=(("POST", "POST"), ("GET", "GET"))),
        Input("body", "POST body", "select", options=(("form", "Form fields"), ("json", "JSON"))),
        Input("params", "Parameters", "lines",
              hint="One per line, name=template, e.g. to={to} and msg={text}; also {to_local}, {to_digits}, "
                   "{sender}, {message_id}."),
        Input("headers", "Extra headers", "lines", hint="One per line, Name: value."),
        Input("sender", "Sender", hint="Up to 11 letters and digits, or a number."),
        Input("auth", "Authentication", "select", options=(("none", "None"), ("basic", "Basic (user, password)"),
                                                            ("bearer", "Bearer token"), ("header", "A header"),
                                                            ("query", "A query parameter"))),
        Input("auth_username", "User name (basic)"),
        Input("auth_name", "Header or parameter name"),
        Input("password", "Password (basic)", "secret"),
        Input("token", "Token (bearer)", "secret"),
        Input("api_key", "API key (header, query)", "secret"),
        Input("success_path", "Success: JSON path", hint="e.g. status (empty: any 2xx answer)."),
        Input("success_value", "Success: value"),
        Input("id_path", "Message id: JSON path"),
        Input("balance_url", "Balance URL"),
        Input("balance_path", "Balance: JSON path"),
        Input("balance_threshold", "Alert below this balance", "number"),
    ),
}
_FLOATS = ("timeout", "balance_threshold")
_INTS = ("port",)


def _channel_form(cfg: notify_settings.ChannelConfig | None, provider: str) -> dict[str, str]:
    """The stored settings as the form shows them (secrets never)."""
    s = cfg.settings if cfg is not None and cfg.provider == provider else {}
    out: dict[str, str] = {"enabled": "on" if cfg is None or cfg.enabled else ""}
    for i in INPUTS[provider]:
        v = s.get(i.name)
        if i.kind == "secret":
            continue
        if i.kind == "check":
            out[i.name] = "on" if v is None or v else ""
        elif i.kind == "lines":
            sep = ": " if i.name == "headers" else "="
            out[i.name] = "\n".join(f"{k}{sep}{x}" for k, x in (v or {}).items())
        else:
            out[i.name] = "" if v is None else (format(v, "g") if isinstance(v, float) else str(v))
    return out


def _channel_values(request: IRequest, provider: str, form: dict[str, str], errors: dict[str, str]
                    ) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings, secrets given) from the form; a secret left empty is not given (the stored one stays)."""
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for i in INPUTS[provider]:
        if i.kind == "secret":
            raw = forms.arg(request, i.name, 4096)
            if raw:
                secrets[i.name] = raw
            continue
        if i.kind == "check":
            form[i.name] = "on" if _checked(request, i.name) else ""
            settings[i.name] = bool(form[i.name])
            continue
        text = form[i.name] = forms.arg(request, i.name, 4000 if i.kind == "lines" else 500)
        text = text.strip()
        if not text:
            continue
        if i.kind == "lines":
            sep = ":" if i.name == "headers" else "="
            pairs: dict[str, str] = {}
            for line in _lines(text):
                name, found, value = line.partition(sep)
                if not found or not name.strip():
                    errors[i.name] = f"Write each on its own line as name{sep}value."
                    break
                pairs[name.strip()] = value.strip()
            settings[i.name] = pairs
        elif i.name in _INTS:
            try:
                settings[i.name] = int(text)
            except ValueError:
                errors[i.name] = "Type a whole number."
        elif i.name in _FLOATS:
            try:
                settings[i.name] = float(text.replace(",", "."))
            except ValueError:
                errors[i.name] = "Type a number."
        else:
            settings[i.name] = text
    return settings, secrets


def _input_of(field: str, provider: str) -> str:
    """The form input a provider's error names ('settings.host', 'params.to', 'secrets.password')."""
    name = field.split(".", 1)[1] if field.startswith(("settings.", "secrets.")) else field
    name = name.split(".", 1)[0]
    return name if any(i.name == name for i in INPUTS[provider]) else "form"


def _notify_page(conn: Connection, box: Any, org_id: int) -> dict[str, Any]:
    return {"channels": {c.channel: c for c in notify_settings.list_channels(conn, box, org_id)},
            "routes": notify_settings.routes(conn, org_id), "settings": notify_settings.get(conn, org_id),
            "custom": {(t.kind, t.channel) for t in templates.list_templates(conn, org_id) if t.custom}}


NOTIFY_TEXTS = ("admin_email", "admin_phone", "quiet_start", "quiet_end", "reminders_at", "sms_balance_threshold")
NOTIFY_LABELS = {"admin_email": "admin e-mail", "admin_phone": "admin phone", "quiet_start": "quiet from",
                 "quiet_end": "quiet until", "reminders_at": "reminders at",
                 "sms_balance_threshold": "SMS balance alert"}


def _notify_form(s: notify_settings.NotifySettings) -> dict[str, str]:
    return {k: "" if getattr(s, k) is None else (format(getattr(s, k), "g") if k == "sms_balance_threshold"
                                                 else str(getattr(s, k))) for k in NOTIFY_TEXTS}


def _template_of(conn: Connection, org_id: int, kind: str, channel: str
                 ) -> tuple[templates.Template, notify_settings.Route]:
    return templates.get(conn, org_id, kind, channel), notify_settings.routes(conn, org_id)[kind]


# -- the portal's sign-up form --------------------------------------------------------------------

REQUIREMENTS = (("required", "Required"), ("optional", "Optional"), ("hidden", "Hidden"))
BUILT_IN = (("email_field", "E-mail address"), ("phone_field", "Phone number"), ("address_field", "Address"),
            ("document_field", "ID document (upload)"))
SIGNUP_LABELS = {"enabled": "form open", "approval": "approval", "mode": "mode",
                 "default_product_id": "default product", "default_zone": "default zone",
                 "email_field": "e-mail field", "phone_field": "phone field", "address_field": "address field",
                 "document_field": "document field", "document_max_kb": "document size (kB)",
                 "max_per_hour": "forms per hour"}
FIELD_KINDS = tuple((k, {"text": "Text", "number": "Number", "choice": "Choice (a list)", "checkbox": "Checkbox",
                          "date": "Date"}.get(k, k)) for k in SIGNUP_FIELD_KINDS)


def _portal_page(conn: Connection, org_id: int) -> dict[str, Any]:
    org = orgs.get(conn, org_id)
    return {"signup": signup.get_settings(conn, org_id), "fields": signup.list_fields(conn, org_id),
            "products": catalogue.list_products(conn, org_id, active_only=True),
            "zones": [z.name for z in coverage.list_zones(conn, org_id)], "slug": org.slug if org else ""}


def _signup_form(s: signup.SignupSettings) -> dict[str, str]:
    return {k: ("on" if v else "") if isinstance(v, bool) else ("" if v is None else str(v))
            for k, v in ((k, getattr(s, k)) for k in signup.EDITABLE)}


FIELD_LABELS = {"label": "label", "kind": "type", "required": "required", "choices": "choices", "help": "help",
                "position": "position"}


def _field_form(f: signup.Field) -> dict[str, str]:
    return {"label": f.label, "kind": f.kind, "choices": "\n".join(f.choices), "help": f.help,
            "position": str(f.position), "required": "on" if f.required else ""}


NEW_FIELD = {"key": "", "label": "", "kind": "text", "choices": "", "help": "", "required": ""}

# -- zones -----------------------------------------------------------------------------------------

ZONE_TEXTS = ("name", "areas", "postcodes", "geojson")


def _zone_form(z: coverage.Zone | None) -> dict[str, str]:
    if z is None:
        return dict.fromkeys(ZONE_TEXTS, "")
    return {"name": z.name, "areas": "\n".join(z.areas), "postcodes": "\n".join(z.postcodes),
            "geojson": json.dumps(z.geojson, indent=1) if z.geojson else ""}


def _zone_values(form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"name": form["name"], "areas": _lines(form["areas"]),
                              "postcodes": _lines(form["postcodes"]), "geojson": None}
    if form["geojson"].strip():
        try:
            values["geojson"] = json.loads(form["geojson"])
        except ValueError:
            errors["geojson"] = "Not JSON: paste a GeoJSON Polygon or MultiPolygon (or a Feature of one)."
    return values


def _zone_changes(z: coverage.Zone, after: coverage.Zone) -> str:
    said = [f"{label} changed" for label, a, b in (("name", z.name, after.name), ("areas", z.areas, after.areas),
                                                   ("postcodes", z.postcodes, after.postcodes),
                                                   ("polygon", z.geojson, after.geojson)) if a != b]
    if not said:
        return "Saved: nothing changed."
    out = "Saved: " + ", ".join(said) + "."
    if z.name != after.name:
        out += f" Products naming “{z.name}” need their zones changed too."
    return out


def _zone_list(conn: Connection, org_id: int, q: str, cursor: str | None) -> Any:
    return lists.paged(coverage.page, conn, org_id, q=q or None, cursor=cursor, limit=PAGE)


def _contract_list(conn: Connection, org_id: int, cursor: str | None) -> tuple[Any, int | None]:
    p = lists.paged(contracts.page, conn, org_id, cursor=cursor, limit=PAGE)
    cur = contracts.current(conn, org_id)
    return p, cur.id if cur else None


# -- gateways --------------------------------------------------------------------------------------

GATEWAY_CHOICES = (("none", "None: the portal offers no online payment"),
                   ("test", "Test gateway: no money moves (for trying the portal)"),
                   ("paystack", "Paystack"))


def _gateway_public(conn: Connection, box: Any, org_id: int) -> dict[str, Any]:
    pub = gateway_store.public(gateway_store.gateway_settings_of(conn, box, org_id))
    return {k: pub[k] for k in ("gateway", "paystack_key_set", "paystack_mode")}


def _set_gateway(conn: Connection, box: Any, org_id: int, gateway: str, key: str | None, now: Any
                 ) -> dict[str, Any]:
    """The API's gateway-settings write; only the public view comes back (and goes to the audit log)."""
    gateway_store.configure(conn, box, org_id, now, gateway=gateway, paystack_key=key)
    return _gateway_public(conn, box, org_id)


def _public_channel(conn: Connection, box: Any, org_id: int, channel: str) -> dict[str, Any] | None:
    cfg = notify_settings.get_channel(conn, box, org_id, channel)
    return None if cfg is None else {"provider": cfg.provider, "enabled": cfg.enabled, "settings": cfg.public()}


def _configure(conn: Connection, box: Any, org_id: int, channel: str, now: Any, **kw: Any) -> dict[str, Any]:
    # The audit entry records what this returns: the public view, never the secrets.
    cfg = notify_settings.set_channel(conn, box, org_id, channel, now, **kw)
    return {"provider": cfg.provider, "enabled": cfg.enabled, "settings": cfg.public()}


# -- the pages -------------------------------------------------------------------------------------

class Settings(Section):
    """The org's settings pages."""

    app = Klein()
    paths = ("settings",)
    nav = (Nav("settings", "Settings", READ),)

    @app.route("/settings", methods=["GET"])
    @defer.inlineCallbacks
    def index(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """What can be set, one link each."""
        who = yield self.require(request, READ)
        return self.render(request, "admin/settings/index.html", who)

    # -- billing ------------------------------------------------------------------------------------

    def _billing(self, request: IRequest, who: Any, s: billing_settings.Settings, form: dict[str, str],
                 errors: dict[str, str], notice: str = "") -> bytes:
        return self.render(request, "admin/settings/billing.html", who, s=s, form=form, errors=errors,
                           notice=notice, suspend_modes=SUSPEND_MODES)

    @app.route("/settings/billing", methods=["GET"])
    @defer.inlineCallbacks
    def billing(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The billing settings form."""
        who = yield self.require(request, READ)
        s = yield self.read(billing_settings.get, who.org_id)
        return self._billing(request, who, s, _billing_form(s), {})

    @app.route("/settings/billing", methods=["POST"])
    @defer.inlineCallbacks
    def billing_save(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Save the billing settings (all checked together first); the page says what changed."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        before = yield self.read(billing_settings.get, who.org_id)
        form = _texts(request, BILLING_TEXTS, 2000)
        errors: dict[str, str] = {}
        values = _billing_values(request, form, errors)
        if not errors:
            try:
                after = yield self.write(request, who, WRITE, billing_settings.update, who.org_id, self.now(),
                                         target="billing settings", before=before, **values)
            except ValidationError as e:
                errors[{"vat_bp": "vat_percent", "brand_logo": "logo"}.get(e.field, e.field)] = e.message
            else:
                return self._billing(request, who, after, _billing_form(after), {},
                                     _changes(before, after, BILLING_LABELS, _show_billing))
        request.setResponseCode(400)
        return self._billing(request, who, before, form, errors)

    # -- notifications ------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _notifications(self, request: IRequest, who: Any, form: dict[str, str] | None = None,
                       errors: dict[str, str] | None = None, notice: str = "") -> Generator[Any, Any, bytes]:
        data = yield self.read(_notify_page, self.deps.box, who.org_id)
        return self.render(request, "admin/settings/notifications.html", who, **data,
                           form=form if form is not None else _notify_form(data["settings"]),
                           errors=errors or {}, notice=notice, kinds=list(kinds.KINDS.values()),
                           all_channels=CHANNELS, titles=CHANNEL_TITLES, providers=PROVIDERS)

    @app.route("/settings/notifications", methods=["GET"])
    @defer.inlineCallbacks
    def notifications(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The channels, the admin contacts and quiet hours, and every message kind's templates."""
        who = yield self.require(request, READ)
        page = yield self._notifications(request, who)
        return page

    @app.route("/settings/notifications", methods=["POST"])
    @defer.inlineCallbacks
    def notifications_save(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Save the admin contacts, quiet hours, reminder time and SMS balance alert."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        form = _texts(request, NOTIFY_TEXTS, 254)
        errors: dict[str, str] = {}
        values: dict[str, Any] = {k: form[k].strip() or None for k in NOTIFY_TEXTS if k != "sms_balance_threshold"}
        threshold = form["sms_balance_threshold"].strip()
        values["sms_balance_threshold"] = None
        if threshold:
            try:
                values["sms_balance_threshold"] = float(threshold.replace(",", "."))
            except ValueError:
                errors["sms_balance_threshold"] = "Type a number."
        if not errors:
            before = yield self.read(notify_settings.get, who.org_id)
            try:
                after = yield self.write(request, who, WRITE, notify_settings.update, who.org_id, self.now(),
                                         target="notify settings", before=before, **values)
            except ValidationError as e:
                errors[e.field if e.field in form else "form"] = e.message
            else:
                page = yield self._notifications(request, who, notice=_changes(before, after, NOTIFY_LABELS))
                return page
        request.setResponseCode(400)
        page = yield self._notifications(request, who, form, errors)
        return page

    def _provider(self, request: IRequest, channel: str, cfg: notify_settings.ChannelConfig | None) -> str:
        choices = [p for p, _ in PROVIDERS[channel]]
        asked = forms.arg(request, "provider", 16)
        if asked in choices:
            return asked
        return cfg.provider if cfg is not None and cfg.provider in choices else choices[0]

    def _channel(self, request: IRequest, who: Any, channel: str, provider: str,
                 cfg: notify_settings.ChannelConfig | None, form: dict[str, str], errors: dict[str, str],
                 notice: str = "") -> bytes:
        public = cfg.public() if cfg is not None and cfg.provider == provider else {}
        return self.render(request, "admin/settings/channel.html", who, channel=channel, provider=provider,
                           title=CHANNEL_TITLES[channel], providers=PROVIDERS[channel], inputs=INPUTS[provider],
                           cfg=cfg, secrets_set={k[4:] for k, v in public.items() if k.startswith("has_") and v},
                           form=form, errors=errors, notice=notice)

    @app.route("/settings/notifications/channels/<any(email, sms, whatsapp):channel>", methods=["GET"])
    @defer.inlineCallbacks
    def channel(self, request: IRequest, channel: str) -> Generator[Any, Any, bytes]:
        """A channel's provider and settings (``?provider=`` another provider's form)."""
        who = yield self.require(request, READ)
        cfg = yield self.read(notify_settings.get_channel, self.deps.box, who.org_id, channel)
        provider = self._provider(request, channel, cfg)
        return self._channel(request, who, channel, provider, cfg, _channel_form(cfg, provider), {})

    @app.route("/settings/notifications/channels/<any(email, sms, whatsapp):channel>", methods=["POST"])
    @defer.inlineCallbacks
    def channel_save(self, request: IRequest, channel: str) -> Generator[Any, Any, bytes]:
        """Configure the channel: the provider checks the settings whole before anything is stored."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        box = self.deps.box
        cfg = yield self.read(notify_settings.get_channel, box, who.org_id, channel)
        provider = self._provider(request, channel, cfg)
        form: dict[str, str] = {"enabled": "on" if _checked(request, "enabled") else ""}
        errors: dict[str, str] = {}
        settings, secrets = _channel_values(request, provider, form, errors)
        if cfg is not None and cfg.provider == provider:       # paths on the server stay as the CLI set them
            settings.update({k: cfg.settings[k] for k in ("ca_file",) if cfg.settings.get(k)})
        if not errors:
            before = yield self.read(_public_channel, box, who.org_id, channel)
            try:
                yield self.write(request, who, WRITE, _configure, box, who.org_id, channel, self.now(),
                                 provider=provider, settings=settings, secrets=secrets, enabled=bool(form["enabled"]),
                                 target=f"channel {channel}", before=before)
            except ValidationError as e:
                errors[_input_of(e.field, provider)] = e.message
            else:
                cfg = yield self.read(notify_settings.get_channel, box, who.org_id, channel)
                said = ", ".join(sorted(secrets))
                notice = f"{CHANNEL_TITLES[channel]} saved ({dict(PROVIDERS[channel])[provider]}" + \
                    (f"; new {said}" if said else "") + ("" if form["enabled"] else "; turned off") + ")."
                return self._channel(request, who, channel, provider, cfg, _channel_form(cfg, provider), {}, notice)
        request.setResponseCode(400)
        return self._channel(request, who, channel, provider, cfg, form, errors)

    @app.route("/settings/notifications/channels/<any(email, sms, whatsapp):channel>/remove", methods=["POST"])
    @defer.inlineCallbacks
    def channel_remove(self, request: IRequest, channel: str) -> Generator[Any, Any, bytes]:
        """Drop the channel's settings and secrets (its messages wait until it is configured again)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        before = yield self.read(_public_channel, self.deps.box, who.org_id, channel)
        if before is None:
            raise NotFound("channel", channel)
        yield self.write(request, who, WRITE, notify_settings.remove_channel, who.org_id, channel,
                         target=f"channel {channel}", before=before)
        page = yield self._notifications(request, who, notice=f"{CHANNEL_TITLES[channel]} removed: its messages "
                                                               "wait until it is configured again.")
        return page

    # -- templates ----------------------------------------------------------------------------------

    def _template(self, request: IRequest, who: Any, t: templates.Template, route: notify_settings.Route,
                  form: dict[str, str], errors: dict[str, str], notice: str = "",
                  shown: templates.Rendered | None = None) -> bytes:
        k = kinds.get(t.kind)
        sms = segments.segments(shown.text) if shown is not None and t.channel != EMAIL else None
        return self.render(request, "admin/settings/template.html", who, t=t, kind=k, form=form, errors=errors,
                           notice=notice, shown=shown, sms=sms, title=CHANNEL_TITLES[t.channel],
                           variables=k.all_variables(), route=route, all_channels=CHANNELS, titles=CHANNEL_TITLES)

    def _kind(self, kind: str) -> None:
        if kind not in kinds.KINDS:
            raise NotFound("message kind", kind)

    @app.route("/settings/notifications/templates/<kind>/<any(email, sms, whatsapp):channel>", methods=["GET"])
    @defer.inlineCallbacks
    def template(self, request: IRequest, kind: str, channel: str) -> Generator[Any, Any, bytes]:
        """A kind's template on a channel (the org's own or the shipped default), its variables, a preview."""
        who = yield self.require(request, READ)
        self._kind(kind)
        t, route = yield self.read(_template_of, who.org_id, kind, channel)
        return self._template(request, who, t, route, {"subject": t.subject, "body": t.body, "html": t.html or ""}, {})

    @app.route("/settings/notifications/templates/<kind>/<any(email, sms, whatsapp):channel>", methods=["POST"])
    @defer.inlineCallbacks
    def template_post(self, request: IRequest, kind: str, channel: str) -> Generator[Any, Any, bytes]:
        """``action=preview`` renders the text typed with sample data (stores nothing, settings.read);
        ``save`` stores it, ``reset`` goes back to the shipped default (settings.write)."""
        action = forms.arg(request, "action", 10)
        who = yield self.require(request, READ if action == "preview" else WRITE)
        self.check_csrf(request, who)
        self._kind(kind)
        t, route = yield self.read(_template_of, who.org_id, kind, channel)
        form = _texts(request, ("subject", "body", "html"), templates.MAX_LEN)
        given: dict[str, Any] = {"body": form["body"]}
        if channel == EMAIL:
            given |= {"subject": form["subject"], "html": form["html"] or None}
        try:
            if action == "reset":
                after = yield self.write(request, who, WRITE, templates.reset, who.org_id, kind, channel,
                                         target=f"template {kind}/{channel}", before=t)
                return self._template(request, who, after, route, {"subject": after.subject, "body": after.body,
                                                            "html": after.html or ""}, {},
                                      "Back to the shipped default.")
            if action == "save":
                after = yield self.write(request, who, WRITE, templates.put, who.org_id, kind, channel, self.now(),
                                         target=f"template {kind}/{channel}", before=t, **given)
                shown = yield self.read(sender.preview, who.org_id, kind, channel, {})
                return self._template(request, who, after, route, form, {},
                                      "Saved: messages of this kind use it from now on.", shown)
            shown = yield self.read(sender.preview, who.org_id, kind, channel, given)
            return self._template(request, who, t, route, form, {}, "", shown)
        except ValidationError as e:
            request.setResponseCode(400)
            return self._template(request, who, t, route, form, {e.field if e.field in form else "body": e.message})

    @app.route("/settings/notifications/templates/<kind>/<any(email, sms, whatsapp):channel>/channels",
               methods=["POST"])
    @defer.inlineCallbacks
    def kind_channels(self, request: IRequest, kind: str, channel: str) -> Generator[Any, Any, bytes]:
        """The channels a kind goes out on (the ticked ones; ``default`` restores the shipped choice)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        self._kind(kind)
        t, before = yield self.read(_template_of, who.org_id, kind, channel)
        chosen = None if forms.arg(request, "action", 10) == "default" else \
            [c for c in CHANNELS if _checked(request, f"channel_{c}")]
        route = yield self.write(request, who, WRITE, notify_settings.set_route, who.org_id, kind, chosen, self.now(),
                                 target=f"message kind {kind}", before=before)
        said = ", ".join(CHANNEL_TITLES[c] for c in route.channels) or "no channel"
        return self._template(request, who, t, route, {"subject": t.subject, "body": t.body, "html": t.html or ""},
                              {}, f"Saved: “{kinds.get(kind).title}” goes out on {said}"
                                  + ("" if route.custom else " (the default)") + ".")

    # -- the portal's sign-up form ------------------------------------------------------------------

    @defer.inlineCallbacks
    def _portal(self, request: IRequest, who: Any, form: dict[str, str] | None = None,
                field: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                field_errors: dict[str, str] | None = None, notice: str = "") -> Generator[Any, Any, bytes]:
        data = yield self.read(_portal_page, who.org_id)
        register = portal_url(public_url(self.deps.conf.web), data["slug"], "register")
        return self.render(request, "admin/settings/portal.html", who, **data, register_url=register,
                           form=form if form is not None else _signup_form(data["signup"]),
                           field=field or dict(NEW_FIELD), errors=errors or {}, field_errors=field_errors or {},
                           notice=notice, requirements=REQUIREMENTS, built_in=BUILT_IN, field_kinds=FIELD_KINDS)

    @app.route("/settings/portal", methods=["GET"])
    @defer.inlineCallbacks
    def portal(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The sign-up form's settings and its custom fields."""
        who = yield self.require(request, READ)
        page = yield self._portal(request, who)
        return page

    @app.route("/settings/portal", methods=["POST"])
    @defer.inlineCallbacks
    def portal_save(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Save the sign-up settings (checked together: the e-mail and phone cannot both be hidden)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        form = _texts(request, signup.EDITABLE, 100)
        form["enabled"] = "on" if _checked(request, "enabled") else ""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {k: form[k].strip() for k in ("approval", "mode", "email_field", "phone_field",
                                                               "address_field", "document_field")}
        values["enabled"] = bool(form["enabled"])
        values["default_zone"] = form["default_zone"].strip() or None
        values["default_product_id"] = None
        if form["default_product_id"].strip():
            values["default_product_id"] = _int(form, "default_product_id", errors)
        for k in ("document_max_kb", "max_per_hour"):
            values[k] = _int(form, k, errors)
        if not errors:
            before = yield self.read(signup.get_settings, who.org_id)
            try:
                after = yield self.write(request, who, WRITE, signup.update_settings, who.org_id, self.now(),
                                         target="signup settings", before=before, **values)
            except ValidationError as e:
                errors[e.field if e.field in form else "form"] = e.message
            else:
                page = yield self._portal(request, who, notice=_changes(before, after, SIGNUP_LABELS))
                return page
        request.setResponseCode(400)
        page = yield self._portal(request, who, form=form, errors=errors)
        return page

    @app.route("/settings/portal/fields", methods=["POST"])
    @defer.inlineCallbacks
    def field_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add a custom field to the sign-up form (a choice field needs its choices, one per line)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        field = _texts(request, ("key", "label", "kind", "choices", "help"), 5000)
        field["required"] = "on" if _checked(request, "required") else ""
        try:
            f = yield self.write(request, who, WRITE, signup.add_field, who.org_id, self.now(),
                                 key=field["key"].strip(), label=field["label"], kind=field["kind"],
                                 required=bool(field["required"]), choices=_lines(field["choices"]),
                                 help=field["help"].strip(), target="form field")
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._portal(request, who, field=field,
                                      field_errors={e.field if e.field in field else "key": e.message})
            return page
        page = yield self._portal(request, who, notice=f"Field “{f.label}” added to the sign-up form.")
        return page

    def _field(self, request: IRequest, who: Any, f: signup.Field, form: dict[str, str], errors: dict[str, str],
               notice: str = "") -> bytes:
        return self.render(request, "admin/settings/field.html", who, x=f, form=form, errors=errors, notice=notice,
                           field_kinds=FIELD_KINDS)

    @app.route("/settings/portal/fields/<int:field_id>", methods=["GET"])
    @defer.inlineCallbacks
    def field(self, request: IRequest, field_id: int) -> Generator[Any, Any, bytes]:
        """A custom field's form (its key never changes)."""
        who = yield self.require(request, READ)
        f = yield self.read(signup.get_field, who.org_id, field_id)
        if f is None:
            raise NotFound("form field", field_id)
        return self._field(request, who, f, _field_form(f), {})

    @app.route("/settings/portal/fields/<int:field_id>", methods=["POST"])
    @defer.inlineCallbacks
    def field_save(self, request: IRequest, field_id: int) -> Generator[Any, Any, bytes]:
        """Change a custom field's label, type, requirement, choices, help or position."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        f = yield self.read(signup.get_field, who.org_id, field_id)
        if f is None:
            raise NotFound("form field", field_id)
        form = _texts(request, ("label", "kind", "choices", "help", "position"), 5000)
        form["required"] = "on" if _checked(request, "required") else ""
        errors: dict[str, str] = {}
        position = _int(form, "position", errors)
        if not errors:
            try:
                after = yield self.write(request, who, WRITE, signup.update_field, who.org_id, field_id, self.now(),
                                         label=form["label"], kind=form["kind"], required=bool(form["required"]),
                                         choices=_lines(form["choices"]), help=form["help"].strip(),
                                         position=position, target=f"form field {field_id}", before=f)
            except ValidationError as e:
                errors[e.field if e.field in form else "label"] = e.message
            else:
                return self._field(request, who, after, _field_form(after), {}, _changes(f, after, FIELD_LABELS))
        request.setResponseCode(400)
        return self._field(request, who, f, form, errors)

    @app.route("/settings/portal/fields/<int:field_id>/remove", methods=["POST"])
    @defer.inlineCallbacks
    def field_remove(self, request: IRequest, field_id: int) -> Generator[Any, Any, bytes]:
        """Remove a custom field (values already given stay with their registrations and customers)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        before = yield self.read(signup.get_field, who.org_id, field_id)
        if before is None:
            raise NotFound("form field", field_id)
        yield self.write(request, who, WRITE, signup.remove_field, who.org_id, field_id,
                         target=f"form field {field_id}", before=before)
        page = yield self._portal(request, who, notice=f"Field “{before.label}” removed from the sign-up form.")
        return page

    # -- coverage zones -----------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _zones(self, request: IRequest, who: Any, form: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, notice: str = "") -> Generator[Any, Any, bytes]:
        args = lists.ListArgs.from_request(request, filters=("q",))
        found = yield self.read(_zone_list, who.org_id, args.filters.get("q", ""), args.cursor)
        return self.render(request, "admin/settings/zones.html", who, zones=found.items,
                           q=args.filters.get("q", ""),
                           next_url="zones" + args.query(after=found.next_cursor) if found.next_cursor else "",
                           first_url="zones" + args.query(after=None) if args.cursor else "",
                           csv_url="zones" + args.query(after=None, format="csv"),
                           form=form or _zone_form(None), errors=errors or {}, notice=notice)

    @app.route("/settings/zones", methods=["GET"])
    @defer.inlineCallbacks
    def zones(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The org's coverage zones by name (``?q=`` a part of the name), a form to add one; ``?format=csv``."""
        who = yield self.require(request, READ)
        args = lists.ListArgs.from_request(request, filters=("q",))
        if args.csv:
            q = args.filters.get("q", "").strip().lower()
            found = yield self.read(coverage.list_zones, who.org_id)
            rows = ([z.id, z.name, " ".join(z.areas), " ".join(z.postcodes), "yes" if z.geojson else "no",
                     z.updated_at.isoformat()] for z in found if q in z.name.lower())
            return lists.csv_body(request, "coverage-zones",
                                  ["id", "name", "areas", "postcodes", "polygon", "updated_at"], rows)
        page = yield self._zones(request, who)
        return page

    @app.route("/settings/zones", methods=["POST"])
    @defer.inlineCallbacks
    def zone_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Add a zone: areas and postcodes one per line, and/or a GeoJSON polygon."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        form = _texts(request, ZONE_TEXTS, coverage.MAX_GEOJSON)
        errors: dict[str, str] = {}
        values = _zone_values(form, errors)
        if not errors:
            try:
                z = yield self.write(request, who, WRITE, coverage.add_zone, who.org_id, self.now(),
                                     target="coverage zone", **values)
            except ValidationError as e:
                errors[e.field if e.field in form else "name"] = e.message
            else:
                page = yield self._zones(request, who, notice=f"Zone “{z.name}” added.")
                return page
        request.setResponseCode(400)
        page = yield self._zones(request, who, form, errors)
        return page

    def _zone(self, request: IRequest, who: Any, z: coverage.Zone, form: dict[str, str], errors: dict[str, str],
              notice: str = "") -> bytes:
        return self.render(request, "admin/settings/zone.html", who, z=z, form=form, errors=errors, notice=notice)

    @app.route("/settings/zones/<int:zone_id>", methods=["GET"])
    @defer.inlineCallbacks
    def zone(self, request: IRequest, zone_id: int) -> Generator[Any, Any, bytes]:
        """A zone's form."""
        who = yield self.require(request, READ)
        z = yield self.read(coverage.require_zone, who.org_id, zone_id)
        return self._zone(request, who, z, _zone_form(z), {})

    @app.route("/settings/zones/<int:zone_id>", methods=["POST"])
    @defer.inlineCallbacks
    def zone_save(self, request: IRequest, zone_id: int) -> Generator[Any, Any, bytes]:
        """Change a zone (renaming it does not rename it in the products naming it)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        z = yield self.read(coverage.require_zone, who.org_id, zone_id)
        form = _texts(request, ZONE_TEXTS, coverage.MAX_GEOJSON)
        errors: dict[str, str] = {}
        values = _zone_values(form, errors)
        if not errors:
            try:
                after = yield self.write(request, who, WRITE, coverage.update_zone, who.org_id, zone_id, self.now(),
                                         target=f"coverage zone {zone_id}", before=z, **values)
            except ValidationError as e:
                errors[e.field if e.field in form else "name"] = e.message
            else:
                said = _zone_changes(z, after)
                return self._zone(request, who, after, _zone_form(after), {}, said)
        request.setResponseCode(400)
        return self._zone(request, who, z, form, errors)

    @app.route("/settings/zones/<int:zone_id>/remove", methods=["POST"])
    @defer.inlineCallbacks
    def zone_remove(self, request: IRequest, zone_id: int) -> Generator[Any, Any, bytes]:
        """Remove a zone (products naming it are no longer sold through it)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        z = yield self.read(coverage.require_zone, who.org_id, zone_id)
        yield self.write(request, who, WRITE, coverage.remove_zone, who.org_id, zone_id,
                         target=f"coverage zone {zone_id}", before=z)
        page = yield self._zones(request, who, notice=f"Zone “{z.name}” removed.")
        return page

    # -- contracts ----------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _contracts(self, request: IRequest, who: Any, form: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None, notice: str = "") -> Generator[Any, Any, bytes]:
        cursor = forms.arg(request, "after", 200) or None
        found, current = yield self.read(_contract_list, who.org_id, cursor)
        return self.render(request, "admin/settings/contracts.html", who, versions=found.items, current=current,
                           next_url="contracts?after=" + found.next_cursor if found.next_cursor else "",
                           first_url="contracts" if cursor else "",
                           form=form or {"title": "", "body": ""}, errors=errors or {}, notice=notice)

    @app.route("/settings/contracts", methods=["GET"])
    @defer.inlineCallbacks
    def contract_list(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The contract's versions, newest (current) first, and a form for a new version."""
        who = yield self.require(request, READ)
        page = yield self._contracts(request, who)
        return page

    @app.route("/settings/contracts", methods=["POST"])
    @defer.inlineCallbacks
    def contract_add(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Publish a new version: from now on the one customers sign."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        form = _texts(request, ("title", "body"), contracts.MAX_BODY)
        try:
            c = yield self.write(request, who, WRITE, contracts.add_version, who.org_id, self.now(),
                                 title=form["title"], body=form["body"], target="contract")
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._contracts(request, who, form, {e.field if e.field in form else "body": e.message})
            return page
        page = yield self._contracts(request, who, notice=f"Version {c.version} published: customers sign it "
                                                          "from now on.")
        return page

    @app.route("/settings/contracts/<int:contract_id>", methods=["GET"])
    @defer.inlineCallbacks
    def contract(self, request: IRequest, contract_id: int) -> Generator[Any, Any, bytes]:
        """One version's text."""
        who = yield self.require(request, READ)

        def read(conn: Connection) -> tuple[contracts.Contract, contracts.Contract | None]:
            return contracts.require(conn, who.org_id, contract_id), contracts.current(conn, who.org_id)
        c, cur = yield self.read(read)
        return self.render(request, "admin/settings/contract.html", who, c=c, current=cur is not None and
                           cur.id == c.id)

    # -- gateways -----------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _gateways(self, request: IRequest, who: Any, form: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, notice: str = "") -> Generator[Any, Any, bytes]:
        pub = yield self.read(_gateway_public, self.deps.box, who.org_id)
        webhook = public_url(self.deps.conf.web).rstrip("/") + f"/gateway/paystack/{who.org.slug}/webhook"
        return self.render(request, "admin/settings/gateways.html", who, pub=pub, choices=GATEWAY_CHOICES,
                           form=form or {"gateway": pub["gateway"]}, errors=errors or {}, notice=notice,
                           webhook=webhook)

    @app.route("/settings/gateways", methods=["GET"])
    @defer.inlineCallbacks
    def gateways(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """The gateway the portal's pay-now uses, and whether the Paystack key is set (never the key)."""
        who = yield self.require(request, READ)
        page = yield self._gateways(request, who)
        return page

    @app.route("/settings/gateways", methods=["POST"])
    @defer.inlineCallbacks
    def gateways_save(self, request: IRequest) -> Generator[Any, Any, bytes]:
        """Choose the gateway; a Paystack key typed replaces the stored one (left empty: kept)."""
        who = yield self.require(request, WRITE)
        self.check_csrf(request, who)
        form = {"gateway": forms.arg(request, "gateway", 20)}
        key = forms.arg(request, "paystack_secret_key", 200).strip() or None
        before = yield self.read(_gateway_public, self.deps.box, who.org_id)
        try:
            after = yield self.write(request, who, WRITE, _set_gateway, self.deps.box, who.org_id, form["gateway"],
                                     key, self.now(), target="gateway settings", before=before)
        except ValidationError as e:
            request.setResponseCode(400)
            page = yield self._gateways(request, who, form, {e.field: e.message})
            return page
        said = []
        if before["gateway"] != after["gateway"]:
            said.append(f"gateway {before['gateway']} → {after['gateway']}")
        if key:
            said.append(f"new Paystack key ({after['paystack_mode']} mode)")
        page = yield self._gateways(request, who, notice="Saved: " + ("; ".join(said) or "nothing changed") + ".")
        return page
