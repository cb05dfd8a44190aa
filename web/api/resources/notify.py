"""Notifications: the message outbox, the message kinds and which channels each goes out on, templates
and their preview, reminder rules, the org's channels (providers, settings, write-only secrets), the
notify settings, and a customer's opt-out of marketing-type messages.

Every route is one call of :mod:`billing.notify` (``outbox``, ``kinds``, ``templates``, ``reminders``,
``settings``); channel secrets are never in a response or in the audit log (``has_<name>`` says whether
one is set).
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy.engine import Connection

from aaad.errors import NotFound, ValidationError
from billing.notify import kinds, outbox, providers, reminders, segments, sender, templates
from billing.notify import settings as ns
from web.api.declare import Call, Deleted, Id, In, ListQuery, Out, Page, Router

router = Router("notifications", "Notifications: messages sent (email, SMS, WhatsApp), message kinds and "
                                 "their channels, templates, reminder rules, channel settings")

Channel = Literal["email", "sms", "whatsapp"]
State = Literal["pending", "sent", "delivered", "failed", "cancelled"]
MessageSort = Literal["id", "-id", "created_at", "-created_at"]
RuleKind = Literal["invoice.due_reminder", "service.expiry_warning"]
KindName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_.]+$",
                                description="A message kind's name (GET /message-kinds), e.g. invoice.issued.")]
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
MAX_OFFSET = 90 * reminders.DAY
SecretText = Annotated[str, Field(max_length=4096)]


# -- messages ------------------------------------------------------------------------------------

class MessageOut(Out):
    id: int
    kind: str
    channel: Channel
    customer_id: int | None = Field(description="Null for a message to the org's admins or to a bare number.")
    recipient: str = Field(description="The e-mail address or E.164 number.")
    state: State = Field(description="pending (waiting: see not_before), sent (the provider took it), delivered "
                                     "(its receipt said so), failed (given up, or undelivered), cancelled.")
    attempts: int
    not_before: datetime = Field(description="When it is (next) sent: quiet hours and back-off move it.")
    provider_id: str | None = Field(description="The provider's id: Message-ID, Twilio SID, gateway id.")
    error: str | None = Field(description="The last failure.")
    rendered: str | None = Field(description="Subject and text as sent, secrets redacted.")
    segments: int | None = Field(description="SMS parts billed.")
    has_secrets: bool = Field(description="It carries a secret (a code, a password, a link) filled in at send "
                                          "time; kept encrypted until it is finished, never shown.")
    urgent: bool = Field(description="Sent during quiet hours too.")
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    vars: dict[str, Any] = Field(description="The template's variables (secrets are never among them).")


class MessageQuery(ListQuery):
    state: State | None = None
    channel: Channel | None = None
    kind: str | None = Field(None, max_length=40)
    customer_id: Id | None = None
    sort: MessageSort = "-id"


class MessagePath(In):
    message_id: Id


def message_out(m: outbox.Message) -> MessageOut:
    return MessageOut.model_validate(m)


def _kick(call: Call) -> None:
    """Wake this process's sender (the daemon's own; another instance's polls)."""
    billing = call.deps.services.get("billing")
    notify = getattr(billing, "notify", None)
    if notify is not None:
        notify.sender.kick()


@router.get("/messages", summary="List messages")
async def list_messages(call: Call, query: MessageQuery) -> Page[MessageOut]:
    """The org's messages, newest first unless asked; filtered by state, channel, kind and customer."""
    p = await call.read(outbox.page, call.org_id, state=query.state, channel=query.channel, kind=query.kind,
                        customer_id=query.customer_id, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[MessageOut](items=[message_out(m) for m in p.items], next_cursor=p.next_cursor)


@router.get("/messages/{message_id}", summary="A message")
async def get_message(call: Call, path: MessagePath) -> MessageOut:
    return message_out(await call.read(outbox.require, call.org_id, path.message_id))


@router.post("/messages/{message_id}/retry", summary="Send a message again", status=200)
async def retry_message(call: Call, path: MessagePath) -> MessageOut:
    """A failed or cancelled message goes out again (a new round of attempts).  One that carried a secret
    (a code, a password, a reset link) cannot: its secret is no longer kept (422 naming ``kind``)."""
    m = await call.write(outbox.retry, call.org_id, path.message_id, call.now, target=f"message {path.message_id}",
                         before=lambda conn: outbox.get(conn, call.org_id, path.message_id))
    _kick(call)
    return message_out(m)


@router.post("/messages/{message_id}/cancel", summary="Cancel a pending message", status=200)
async def cancel_message(call: Call, path: MessagePath) -> MessageOut:
    """A pending message is not sent (422 naming ``state`` for one already sent or finished)."""
    m = await call.write(outbox.cancel, call.org_id, path.message_id, call.now,
                         target=f"message {path.message_id}",
                         before=lambda conn: outbox.get(conn, call.org_id, path.message_id))
    return message_out(m)


# -- kinds and their channels ------------------------------------------------------------------------

class VariableOut(Out):
    name: str
    description: str
    secret: bool = Field(description="Filled in at send time, never stored in the clear (shown redacted).")


class KindOut(Out):
    name: str
    title: str
    audience: Literal["customer", "admin", "phone", "applicant"] = Field(
        description="customer: to the customer's address or number; admin: to the org's admin contacts "
                    "(notify settings); phone: to a bare number (a one-time code); applicant: to the e-mail and "
                    "number a registration gave (no customer yet).")
    optional: bool = Field(description="Marketing-type: a customer who opted out does not get it.")
    urgent: bool = Field(description="Sent during quiet hours too.")
    by_rule: bool = Field(description="Decided by reminder rules (/notify-rules), not by an event.")
    attachment: Literal["invoice", "receipt"] | None = Field(description="The PDF attached to the e-mail.")
    default_channels: list[Channel] = Field(description="The channels it goes out on unless the org chose.")
    channels: list[Channel] = Field(description="The channels the org sends it on (only those configured and "
                                                "enabled are used).")
    custom_route: bool = Field(description="The org chose the channels (else the default).")
    variables: list[VariableOut] = Field(description="What its templates may use.")


class KindPath(In):
    kind: KindName


class RouteIn(In):
    channels: list[Channel] | None = Field(max_length=10, description="The channels to send it on ([]: none); "
                                                                       "null: back to the default.")


def kind_out(k: kinds.Kind, route: ns.Route) -> KindOut:
    return KindOut(name=k.name, title=k.title, audience=k.audience,  # type: ignore[arg-type]
                   optional=k.optional, urgent=k.urgent, by_rule=k.name in kinds.RULE_KINDS,
                   attachment=k.attach,  # type: ignore[arg-type]
                   default_channels=list(k.channels), channels=list(route.channels),  # type: ignore[arg-type]
                   custom_route=route.custom,
                   variables=[VariableOut(name=n, description=d, secret=n in k.secrets)
                              for n, d in k.all_variables().items()])


@router.get("/message-kinds", summary="List message kinds")
async def list_message_kinds(call: Call) -> Page[KindOut]:
    """Every kind of message aaad sends (the catalogue), with its variables and the channels the org sends
    it on."""
    routes = await call.read(ns.routes, call.org_id)
    return Page[KindOut](items=[kind_out(k, routes[k.name]) for k in kinds.KINDS.values()], next_cursor=None)


@router.route("PUT", "/message-kinds/{kind}/channels", summary="Choose a kind's channels")
async def set_message_kind_channels(call: Call, path: KindPath, body: RouteIn) -> KindOut:
    """The channels a kind goes out on for this org ([] sends it nowhere; null restores the default)."""
    route = await call.write(ns.set_route, call.org_id, path.kind, body.channels, call.now,
                             target=f"message kind {path.kind}",
                             before=lambda conn: ns.routes(conn, call.org_id).get(path.kind))
    return kind_out(kinds.get(path.kind), route)


# -- templates -----------------------------------------------------------------------------------

class TemplateOut(Out):
    kind: str
    channel: Channel
    subject: str = Field(description="E-mail only (empty for SMS and WhatsApp).")
    body: str = Field(description="The text (Jinja2): the e-mail's plain-text part, or the whole SMS/WhatsApp.")
    html: str | None = Field(description="E-mail only: the HTML part (null: the text in the org's branded "
                                         "layout).")
    custom: bool = Field(description="The org's own (false: the shipped default).")
    updated_at: datetime | None


class TemplateQuery(In):
    kind: str | None = Field(None, max_length=40)
    channel: Channel | None = None


class TemplatePath(In):
    kind: KindName
    channel: Channel


class TemplateIn(In):
    body: str = Field(min_length=1, max_length=templates.MAX_LEN)
    subject: str = Field("", max_length=templates.MAX_LEN, description="Required for e-mail; none for SMS, "
                                                                        "WhatsApp.")
    html: str | None = Field(None, max_length=templates.MAX_LEN, description="E-mail only.")


class PreviewIn(In):
    """Unsaved text to preview (each field sent replaces the stored template's); nothing: the stored one."""
    body: str | None = Field(None, max_length=templates.MAX_LEN)
    subject: str | None = Field(None, max_length=templates.MAX_LEN)
    html: str | None = Field(None, max_length=templates.MAX_LEN)


class SmsLengthOut(Out):
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int = Field(description="GSM-7 septets (extension characters count 2) or UTF-16 code units.")
    segments: int = Field(description="SMS messages billed.")
    per_segment: int = Field(description="What each holds: 160/153 (GSM-7) or 70/67 (UCS-2).")


class PreviewOut(Out):
    subject: str
    text: str
    html: str | None = Field(description="E-mail: the whole HTML message, in the org's branding.")
    sms: SmsLengthOut | None = Field(description="SMS and WhatsApp: what the text takes as an SMS.")


def template_out(t: templates.Template) -> TemplateOut:
    return TemplateOut.model_validate(t)


@router.get("/templates", summary="List templates")
async def list_templates(call: Call, query: TemplateQuery) -> Page[TemplateOut]:
    """Every kind's template for every channel: the org's own, else the shipped default."""
    found = await call.read(templates.list_templates, call.org_id)
    items = [template_out(t) for t in found
             if (query.kind is None or t.kind == query.kind) and (query.channel is None or t.channel == query.channel)]
    return Page[TemplateOut](items=items, next_cursor=None)


@router.get("/templates/{kind}/{channel}", summary="A template")
async def get_template(call: Call, path: TemplatePath) -> TemplateOut:
    return template_out(await call.read(templates.get, call.org_id, path.kind, path.channel))


@router.route("PUT", "/templates/{kind}/{channel}", summary="Set a template")
async def put_template(call: Call, path: TemplatePath, body: TemplateIn) -> TemplateOut:
    """The org's own template for a kind and channel.  A syntax error, an unknown variable or anything the
    sandbox forbids is refused: 422 naming the field (body, subject, html) with the line."""
    t = await call.write(templates.put, call.org_id, path.kind, path.channel, call.now, body=body.body,
                         subject=body.subject, html=body.html, target=f"template {path.kind}/{path.channel}",
                         before=lambda conn: templates.get(conn, call.org_id, path.kind, path.channel))
    return template_out(t)


@router.delete("/templates/{kind}/{channel}", summary="Reset a template to the default")
async def reset_template(call: Call, path: TemplatePath) -> TemplateOut:
    """Drop the org's own template: the shipped default (returned) applies again."""
    t = await call.write(templates.reset, call.org_id, path.kind, path.channel,
                         target=f"template {path.kind}/{path.channel}",
                         before=lambda conn: templates.get(conn, call.org_id, path.kind, path.channel))
    return template_out(t)


@router.post("/templates/{kind}/{channel}/preview", summary="Preview a template", status=200)
async def preview_template(call: Call, path: TemplatePath, body: PreviewIn) -> PreviewOut:
    """The template rendered with the kind's sample data and the org's branding: the stored one, or the
    unsaved text sent (checked as when saved: 422 naming the field and the line).  Stores nothing."""
    given = body.model_dump(exclude_unset=True)
    r = await call.read(sender.preview, call.org_id, path.kind, path.channel, given)
    sms = None
    if path.channel != "email":
        n = segments.segments(r.text)
        sms = SmsLengthOut(encoding=n.encoding, characters=n.chars, segments=n.segments, per_segment=n.per_segment)
    return PreviewOut(subject=r.subject, text=r.text, html=r.html, sms=sms)


# -- reminder rules ------------------------------------------------------------------------------

class RuleOut(Out):
    id: int
    kind: RuleKind
    offset_minutes: int = Field(description="From the due date or the expiry: negative before, 0 on, positive "
                                            "after.")
    enabled: bool
    describe: str = Field(description='In words: "3 days before the due date".')


class RuleQuery(In):
    kind: RuleKind | None = None


class RuleIn(In):
    kind: RuleKind
    offset_minutes: int = Field(ge=-MAX_OFFSET, le=MAX_OFFSET, examples=[-4320],
                                description="Due-date reminders: whole days (a multiple of 1440), up to 90 "
                                            "days before or after. Expiry warnings: before expiry (negative), "
                                            "up to 30 days.")
    enabled: bool = True


class RulePatch(In):
    enabled: bool


class RulePath(In):
    notify_rule_id: Id


def rule_out(r: reminders.Rule) -> RuleOut:
    return RuleOut.model_validate(r)


@router.get("/notify-rules", summary="List reminder rules")
async def list_notify_rules(call: Call, query: RuleQuery) -> Page[RuleOut]:
    """The org's due-date reminder and expiry warning rules, by kind and offset."""
    found = await call.read(reminders.list_rules, call.org_id, query.kind)
    return Page[RuleOut](items=[rule_out(r) for r in found], next_cursor=None)


@router.post("/notify-rules", summary="Add a reminder rule")
async def create_notify_rule(call: Call, body: RuleIn) -> RuleOut:
    """A rule like "3 days before the due date" (invoice.due_reminder, -4320) or "2 hours before expiry"
    (service.expiry_warning, -120); one per kind and offset."""
    r = await call.write(reminders.add_rule, call.org_id, body.kind, body.offset_minutes, call.now,
                         enabled=body.enabled, target="notify rule")
    return rule_out(r)


@router.get("/notify-rules/{notify_rule_id}", summary="A reminder rule")
async def get_notify_rule(call: Call, path: RulePath) -> RuleOut:
    return rule_out(await call.read(reminders.get_rule, call.org_id, path.notify_rule_id))


@router.patch("/notify-rules/{notify_rule_id}", summary="Turn a reminder rule on or off")
async def update_notify_rule(call: Call, path: RulePath, body: RulePatch) -> RuleOut:
    r = await call.write(reminders.set_rule_enabled, call.org_id, path.notify_rule_id, body.enabled, call.now,
                         target=f"notify rule {path.notify_rule_id}",
                         before=lambda conn: reminders.get_rule(conn, call.org_id, path.notify_rule_id))
    return rule_out(r)


@router.delete("/notify-rules/{notify_rule_id}", summary="Remove a reminder rule")
async def delete_notify_rule(call: Call, path: RulePath) -> Deleted:
    """Messages the rule already decided stay (and go out)."""
    await call.write(reminders.remove_rule, call.org_id, path.notify_rule_id,
                     target=f"notify rule {path.notify_rule_id}",
                     before=lambda conn: reminders.get_rule(conn, call.org_id, path.notify_rule_id))
    return Deleted(id=path.notify_rule_id)


# -- channels ------------------------------------------------------------------------------------

class ChannelOut(Out):
    channel: Channel
    provider: str = Field(description="email: smtp; sms: generic or twilio; whatsapp: twilio.")
    enabled: bool
    settings: dict[str, Any] = Field(description="The provider's settings, without secrets: has_<name> says "
                                                 "whether each secret is set.")
    updated_at: datetime | None


class ChannelPath(In):
    channel: Channel


class ChannelIn(In):
    provider: str = Field(min_length=1, max_length=16)
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, description="The provider's settings (checked whole: "
                                                                       "422 naming settings.<key>).")
    secrets: dict[str, SecretText | None] | None = Field(
        None, description="Write-only: passwords, tokens. A secret left out keeps its stored value; one given as "
                          "\"\" or null is removed. Never shown (see has_<name> in settings).")


class ChannelDeleted(Out):
    channel: Channel
    deleted: bool = True


def channel_out(cfg: ns.ChannelConfig) -> ChannelOut:
    return ChannelOut(channel=cfg.channel, provider=cfg.provider, enabled=cfg.enabled,  # type: ignore[arg-type]
                      settings=cfg.public(), updated_at=cfg.updated_at)


def _public_channel(conn: Connection, box: Any, org_id: int, channel: str) -> ChannelOut | None:
    cfg = ns.get_channel(conn, box, org_id, channel)
    return channel_out(cfg) if cfg is not None else None


def _configure(conn: Connection, box: Any, org_id: int, channel: str, now: datetime, **kw: Any) -> ChannelOut:
    # The audit entry records what this returns: the public view, never the secrets.
    return channel_out(ns.set_channel(conn, box, org_id, channel, now, **kw))


#: Settings that name files on the server: an API token (a tenant's admin) may not point the daemon at them.
SERVER_PATHS = ("ca_file", "directory")


def _named(e: ValidationError, channel: str, body: ChannelIn) -> ValidationError:
    """A provider names its own keys (``host``, ``password``): name them from the body's root."""
    if e.field in ("provider", "channel", "enabled") or e.field.startswith(("settings.", "secrets.")):
        return e
    try:
        secret = e.field in providers.spec(channel, body.provider).secret_fields
    except ValidationError:
        secret = False
    where = "settings." if e.field in body.settings or not secret else "secrets."
    return ValidationError(where + e.field, e.message)


@router.get("/notify-channels", summary="List configured channels")
async def list_notify_channels(call: Call) -> Page[ChannelOut]:
    """The org's configured channels (email, sms, whatsapp), their providers and public settings."""
    found = await call.read(ns.list_channels, call.deps.box, call.org_id)
    return Page[ChannelOut](items=[channel_out(c) for c in found], next_cursor=None)


@router.get("/notify-channels/{channel}", summary="A channel's settings")
async def get_notify_channel(call: Call, path: ChannelPath) -> ChannelOut:
    c = await call.read(_public_channel, call.deps.box, call.org_id, path.channel)
    if c is None:
        raise NotFound("channel", path.channel)
    return c


@router.route("PUT", "/notify-channels/{channel}", summary="Configure a channel")
async def put_notify_channel(call: Call, path: ChannelPath, body: ChannelIn) -> ChannelOut:
    """Choose the channel's provider and its settings; the provider checks them whole before anything is
    stored (422 naming ``settings.<key>`` or ``secrets.<key>``).  Running daemons use the new settings within
    seconds."""
    box = call.deps.box
    for key in SERVER_PATHS:
        if key in body.settings:
            raise ValidationError(f"settings.{key}", "a path on the server: set it with the CLI on the server "
                                                     f"(aaad notify channel set {path.channel} ...)")
    if body.provider == "file":
        raise ValidationError("provider", "the file provider writes to a folder on the server: configure it with "
                                          "the CLI on the server")
    try:
        return await call.write(_configure, box, call.org_id, path.channel, call.now, provider=body.provider,
                                settings=body.settings, secrets=body.secrets, enabled=body.enabled,
                                target=f"channel {path.channel}",
                                before=lambda conn: _public_channel(conn, box, call.org_id, path.channel))
    except ValidationError as e:
        raise _named(e, path.channel, body) from None


@router.delete("/notify-channels/{channel}", summary="Remove a channel")
async def delete_notify_channel(call: Call, path: ChannelPath) -> ChannelDeleted:
    """Its settings and secrets are dropped; messages for it wait (pending) until it is configured again."""
    box = call.deps.box
    await call.write(ns.remove_channel, call.org_id, path.channel, target=f"channel {path.channel}",
                     before=lambda conn: _public_channel(conn, box, call.org_id, path.channel))
    return ChannelDeleted(channel=path.channel)


# -- settings and opt-outs -----------------------------------------------------------------------

class NotifySettingsOut(Out):
    admin_email: str | None = Field(description="Where admin notifications go (e.g. a low SMS balance).")
    admin_phone: str | None = Field(description="E.164, for admin alerts by SMS.")
    quiet_start: str | None = Field(description="Local HH:MM: non-urgent messages wait from here ...")
    quiet_end: str | None = Field(description="... until here (may cross midnight: 21:00 to 07:00).")
    reminders_at: str = Field(description="Local HH:MM the daily due-date reminders are decided at.")
    sms_balance_threshold: float | None = Field(description="Alert the admins when the SMS gateway's balance "
                                                            "is below this (generic gateway with a balance URL).")


class NotifySettingsPatch(In):
    """The settings to change; those not sent stay; null clears an optional one."""
    admin_email: str | None = Field(None, min_length=1, max_length=254)
    admin_phone: str | None = Field(None, min_length=1, max_length=40, description="National or international "
                                                                                    "(stored as E.164).")
    quiet_start: str | None = Field(None, pattern=HHMM)
    quiet_end: str | None = Field(None, pattern=HHMM)
    reminders_at: str | None = Field(None, pattern=HHMM)
    sms_balance_threshold: float | None = Field(None, ge=0, le=1e12, allow_inf_nan=False)


class OptOutPath(In):
    customer_id: Id


class OptOutIn(In):
    opted_out: bool


class OptOutOut(Out):
    customer_id: int
    opted_out: bool = Field(description="The customer gets no optional (marketing-type) messages; transactional "
                                        "ones (receipts, resets, codes) still go.")


@router.get("/notify-settings", summary="The notify settings")
async def get_notify_settings(call: Call) -> NotifySettingsOut:
    return NotifySettingsOut.model_validate(await call.read(ns.get, call.org_id))


@router.patch("/notify-settings", summary="Change the notify settings")
async def update_notify_settings(call: Call, body: NotifySettingsPatch) -> NotifySettingsOut:
    """Admin contacts, quiet hours (both ends or neither), the reminders' time and the SMS balance alert."""
    s = await call.write(ns.update, call.org_id, call.now, **body.model_dump(exclude_unset=True),
                         target="notify settings", before=lambda conn: ns.get(conn, call.org_id))
    return NotifySettingsOut.model_validate(s)


def _opt_out(conn: Connection, org_id: int, customer_id: int, opted_out: bool, now: datetime) -> OptOutOut:
    ns.set_opt_out(conn, org_id, customer_id, opted_out, now)
    return OptOutOut(customer_id=customer_id, opted_out=opted_out)


@router.route("PUT", "/customers/{customer_id}/marketing-opt-out", summary="Opt a customer out of marketing")
async def set_marketing_opt_out(call: Call, path: OptOutPath, body: OptOutIn) -> OptOutOut:
    """Opt the customer out of (or back into) optional messages, such as data-cap and expiry warnings."""
    return await call.write(_opt_out, call.org_id, path.customer_id, body.opted_out, call.now,
                            target=f"customer {path.customer_id}")
