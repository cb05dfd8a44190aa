"""``aaad notify ...``: messages, channels, templates, reminder rules, routes and settings on
the command line.

Each command runs the same functions the daemon and the API use, in one transaction.
A command that queues or re-queues messages (``retry``) commits, and the CLI's engine
then wakes a daemon running on this machine (:mod:`aaad.wake`), so its sender looks at
the outbox at once instead of at its next poll.  ``notify test`` is the exception to
"through the outbox": it builds the org's channel in this process and sends one message
now, to check the settings.  Secrets (channel passwords and tokens, codes and links in
messages) are never printed: channels show ``has_<secret>`` flags, messages their text
with the secrets masked.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from aaad.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from billing.notify.channels import Outgoing, SendError, Sent
    from billing.notify.providers import Spec
    from billing.notify.settings import ChannelConfig
    from billing.notify.templates import Branding

CHANNELS = ("email", "sms", "whatsapp")
STATES = ("pending", "sent", "delivered", "failed", "cancelled")
PROVIDERS = ("email: smtp; sms: generic (your own HTTP gateway) or twilio; whatsapp: twilio; any channel: file "
             "(messages written to a folder)")

_SEE = {"message": "aaad notify list", "customer": "aaad customer list", "rule": "aaad notify rule list",
        "channel": "aaad notify channel show", "message kind": "aaad notify route"}


def _run(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Map NotFound to a usage error naming what was not found and where to look."""
    def wrapped(args: argparse.Namespace) -> int:
        from aaad.cli import EXIT_USAGE, CliError
        try:
            return fn(args)
        except NotFound as e:
            see = _SEE.get(e.what)
            raise CliError(e.message + (f" (see: {see})" if see else ""), EXIT_USAGE) from None
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _default(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (date, datetime)) else str(v)


def _json(data: Any) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False, default=_default))


def _t(v: datetime | None) -> str:
    return v.isoformat(timespec="seconds") if v is not None else ""


def _usage(message: str) -> Exception:
    from aaad.cli import EXIT_USAGE, CliError
    return CliError(message, EXIT_USAGE)


def _brand(conn: Connection, org_id: int) -> Branding:
    from billing.notify import sender
    return sender.brand(conn, org_id)


# -- messages --------------------------------------------------------------------------------

LIST_HEADERS = ["id", "created (UTC)", "kind", "channel", "to", "customer", "state", "attempts", "error"]


def _first_line(text: str | None, width: int = 60) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


@_run
def cmd_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    from billing import payments
    from billing.notify import outbox
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    if args.limit < 1:
        raise _usage("--limit: at least 1")
    with ctx.engine.connect() as conn:
        cid = payments.customer_ref(conn, org_id, args.customer) if args.customer else None
        page = outbox.page(conn, org_id, state=args.state, channel=args.channel, kind=args.kind, customer_id=cid,
                           cursor=args.cursor, limit=args.limit)
        names = payments.customer_usernames(conn, org_id, {m.customer_id for m in page.items
                                                           if m.customer_id is not None})
    if args.json:
        _json([asdict(m) | {"customer": names.get(m.customer_id) if m.customer_id else None} for m in page.items])
    else:
        print_rows(args, [[m.id, _t(m.created_at), m.kind, m.channel, m.recipient,
                           names.get(m.customer_id, "") if m.customer_id else "", m.state, m.attempts,
                           _first_line(m.error)] for m in page.items], LIST_HEADERS)
    if page.next_cursor:
        print(f"more: add --cursor {page.next_cursor} (or a larger --limit)", file=sys.stderr)
    return 0


def _preview(conn: Connection, m: Any) -> tuple[str | None, str | None]:
    """A message not sent yet, rendered now with its secrets masked: (text, error)."""
    from billing.notify import kinds, outbox, sender, templates
    try:
        masked = {s: templates.REDACTED for s in kinds.get(m.kind).secrets}
        return sender.prepare(conn, outbox.Due(m, masked), pdf=False).shown, None
    except Exception as e:  # noqa: BLE001 - shown as the reason it cannot be rendered
        return None, f"{type(e).__name__}: {e}"


def _secrets_line(m: Any, kind: Any) -> str:
    names = ", ".join(kind.secrets) if kind is not None else ""
    if m.has_secrets:
        return f"{names or 'some'}: kept encrypted until it is sent, shown masked"
    return f"{names}: no longer kept (cleared once it finished)" if names else ""


_NEXT = {"pending": "cancel it: aaad notify cancel {id}",
         "failed": "send it again: aaad notify retry {id}",
         "cancelled": "send it after all: aaad notify retry {id}"}


@_run
def cmd_show(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing import payments
    from billing.notify import kinds, outbox
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        m = outbox.require(conn, org_id, args.id)
        who = payments.customer_usernames(conn, org_id, {m.customer_id}).get(m.customer_id) if m.customer_id else None
        preview, problem = _preview(conn, m) if m.rendered is None else (None, None)
    kind = kinds.get(m.kind) if m.kind in kinds.KINDS else None
    if args.json:
        _json(asdict(m) | {"customer": who, "preview": preview, "preview_error": problem,
                           "secret_variables": list(kind.secrets) if kind else []})
        return 0
    print(f"message {m.id}: {m.kind} by {m.channel} to {m.recipient}"
          + (f" (customer {who})" if who else " (no customer: " + ("the org's admins)" if kind and
                                                                   kind.audience == kinds.ADMIN else "a bare number)")))
    rows: list[tuple[str, Any]] = [
        ("state", m.state + (f" after {m.attempts} attempt(s)" if m.attempts else "")),
        ("created", _t(m.created_at)),
        ("not before", _t(m.not_before) if m.state == "pending" else ""),
        ("sent", _t(m.sent_at)),
        ("done", _t(m.done_at)),
        ("provider id", m.provider_id or ""),
        ("segments", m.segments if m.segments is not None else ""),
        ("urgent", "yes (sent in quiet hours too)" if m.urgent else "no (waits for the end of quiet hours)"),
        ("event", m.event_id or ""),
        ("dedupe", m.dedupe),
        ("attachments", ", ".join(f"{a.get('doc')} {a.get('id')}" for a in m.attachments)),
        ("secrets", _secrets_line(m, kind)),
        ("error", m.error or ""),
    ]
    for label, value in rows:
        if value != "":
            print(f"  {label.ljust(12)} {value}")
    print("  variables   ", json.dumps(m.vars, ensure_ascii=False, default=str))
    if m.rendered is not None:
        print("--- as sent (secrets masked) ---" if m.state in ("sent", "delivered") else
              "--- as rendered for the last attempt (secrets masked) ---")
        print(m.rendered)
    elif preview is not None:
        print("--- as it will be sent (rendered now; secrets masked) ---")
        print(preview)
    else:
        print(f"--- cannot be rendered: {problem}")
    hint = _NEXT.get(m.state)
    if hint and m.state != "pending" and kind and kind.secrets:
        print("(it carried a secret that is no longer kept: it cannot be retried; ask for a new one)")
    elif hint:
        print(f"({hint.format(id=m.id)})")
    return 0


def _woken(ctx: Any) -> bool:
    """Whether a daemon on this machine listens for wake-ups (the commit already sent one)."""
    from aaad import wake
    return wake.send(wake.address(ctx.conf.server.data_dir))


@_run
def cmd_retry(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing.notify import outbox
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    m = ctx.tx(outbox.retry, org_id, args.id, now_utc())
    print(f"message {m.id} ({m.kind} by {m.channel} to {m.recipient}) is pending again, with a new round of "
          f"attempts")
    if _woken(ctx):
        print(f"  the daemon was woken: it sends it now (see: aaad notify show {m.id})")
    else:
        print("  no daemon on this machine answered the wake-up: the one running sends it at its next look "
              "([notify] poll_interval), or when 'aaad serve' starts")
    return 0


@_run
def cmd_cancel(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing.notify import outbox
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    m = ctx.tx(outbox.cancel, org_id, args.id, now_utc())
    print(f"message {m.id} ({m.kind} by {m.channel} to {m.recipient}) cancelled: it will not be sent "
          f"(undo: aaad notify retry {m.id})")
    return 0


# -- notify test -----------------------------------------------------------------------------

def _recipient(conn: Connection, org_id: int, channel: str, to: str) -> str:
    from billing import customers
    from billing import settings as billing_settings
    try:
        if channel == "email":
            return customers.normalise_email(to)
        return customers.normalise_phone(to, billing_settings.get(conn, org_id).country)
    except ValidationError as e:
        raise ValidationError("to", e.message) from None


def _target(cfg: ChannelConfig) -> str:
    s = cfg.settings
    if s.get("host"):
        return f" at {s['host']}:{s.get('port', '')}".rstrip(":")
    url = s.get("url") or s.get("base_url")
    if isinstance(url, str) and url:
        from urllib.parse import urlsplit
        return f" at {urlsplit(url).netloc or url}"
    return ""


def send_now(spec: Spec, parsed: Any, out: Outgoing, timeout: float, http_timeout: float) -> Sent | SendError:
    """Build the channel from ``spec`` and send ``out`` on a real reactor in this process
    (``task.react``), waiting at most ``timeout`` seconds: what the provider answered, or
    the SendError (anything unexpected counts as retryable, as in the sender)."""
    from twisted.internet import defer, task
    from twisted.python.failure import Failure

    from billing.notify.channels import SendError
    result: list[Any] = []

    def main(reactor: Any) -> defer.Deferred[None]:
        d = defer.maybeDeferred(lambda: spec.build(reactor, parsed, None, http_timeout).send(out))  # as the daemon
        d.addTimeout(timeout, reactor)

        def failed(f: Failure) -> None:
            result.append(f.value)
        return d.addCallbacks(result.append, failed)

    with contextlib.suppress(SystemExit):     # task.react ends with sys.exit
        task.react(main)
    r = result[0] if result else RuntimeError("the reactor stopped before an answer")
    if isinstance(r, SendError):
        return r
    if isinstance(r, defer.TimeoutError):
        return SendError(f"no answer within {timeout:g} s", retryable=True)
    if isinstance(r, BaseException):
        return SendError(f"{type(r).__name__}: {r}", retryable=True)
    return cast("Sent", r)


@_run
def cmd_test(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_FAIL, Context, now_utc
    from billing.notify import providers
    from billing.notify import settings as ns
    from billing.notify.channels import Outgoing, SendError
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    if args.timeout <= 0:
        raise _usage("--timeout: more than 0 seconds")
    with ctx.engine.connect() as conn:
        cfg = ns.get_channel(conn, ctx.box, org_id, args.channel)
        if cfg is None:
            raise _usage(f"the org has no {args.channel} channel: set one up first with 'aaad notify channel set "
                         f"{args.channel} --provider P --set key=value ...' ({PROVIDERS})")
        to = _recipient(conn, org_id, args.channel, args.to)
        brand = _brand(conn, org_id)
    spec = providers.spec(args.channel, cfg.provider)
    try:
        parsed = spec.parse(cfg.settings, cfg.secrets)
    except ValidationError as e:
        raise _usage(f"the stored {args.channel} settings do not parse: {e.field}: {e.message} "
                     f"(fix: aaad notify channel set {args.channel} --set {e.field}=...)") from None
    now = now_utc()
    text = args.text or (f"This is a test {args.channel} message from {brand.name}, sent with 'aaad notify test' "
                         f"to check the {cfg.provider} settings. No action is needed.")
    out = Outgoing(message_id=int(now.timestamp() * 1000), org_id=org_id, channel=args.channel, to=to,
                   subject=f"Test message from {brand.name}" if args.channel == "email" else "", text=text,
                   from_name=brand.name)
    state = "" if cfg.enabled else " (the channel is disabled: the outbox does not use it until --enable)"
    print(f"sending a test {args.channel} message to {to} through {cfg.provider}{_target(cfg)}{state} ...",
          flush=True)
    r = send_now(spec, parsed, out, args.timeout, ctx.conf.section("notify").http_timeout)
    if isinstance(r, SendError):
        print(f"failed: {r.detail}")
        if r.retryable:
            print("  retryable: yes - a later attempt may work (a real message would be retried with back-off)")
        else:
            print(f"  retryable: no - the provider refused it: fix the settings or the address "
                  f"(see: aaad notify channel show {args.channel})")
        return EXIT_FAIL
    print("sent: the provider took it")
    print(f"  provider id: {r.provider_id}")
    if r.detail:
        print(f"  answer:      {r.detail}")
    return 0


# -- channels --------------------------------------------------------------------------------

def _public(cfg: ChannelConfig) -> dict[str, Any]:
    """The channel's settings without secrets (``has_<secret>`` for each)."""
    try:
        return cfg.public()
    except ValidationError:                  # a provider this build does not know
        return {**cfg.settings, **{f"has_{k}": bool(v) for k, v in cfg.secrets.items()}}


def _channel_data(cfg: ChannelConfig) -> dict[str, Any]:
    return {"channel": cfg.channel, "provider": cfg.provider, "enabled": cfg.enabled, "settings": _public(cfg),
            "updated_at": cfg.updated_at}


def _print_channel(cfg: ChannelConfig) -> None:
    print(f"{cfg.channel}: {cfg.provider}, {'enabled' if cfg.enabled else 'disabled'}"
          + (f", changed {_t(cfg.updated_at)}" if cfg.updated_at else ""))
    pub = {k: v for k, v in _public(cfg).items() if k != "provider"}
    shown = {k: v for k, v in pub.items() if k.startswith("has_") or v not in (None, "", {}, [])}
    width = max((len(k) for k in shown), default=0)
    for k, v in sorted(shown.items()):
        text = ("yes" if v else "no") if k.startswith("has_") else v if isinstance(v, str) else json.dumps(v)
        print(f"  {k.ljust(width)}  {text}")
    unset = sorted(k for k in pub if k not in shown)
    if unset:
        print(f"  (not set: {', '.join(unset)})")


@_run
def cmd_channel_show(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.notify import settings as ns
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        if args.channel:
            one = ns.get_channel(conn, ctx.box, org_id, args.channel)
            if one is None:
                raise NotFound("channel", args.channel)
            found = [one]
        else:
            found = ns.list_channels(conn, ctx.box, org_id)
    if args.json:
        _json(_channel_data(found[0]) if args.channel else [_channel_data(c) for c in found])
        return 0
    for c in found:
        _print_channel(c)
    if not args.channel:
        for name in CHANNELS:
            if name not in {c.channel for c in found}:
                print(f"{name}: not set up (aaad notify channel set {name} --provider P --set key=value ...; "
                      f"{PROVIDERS.split('; ')[CHANNELS.index(name)]}, or file)")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"KEY=VALUE, not {text!r}")
    return key.strip(), value


def _setting_value(text: str) -> Any:
    """A --set value: JSON when it parses (587, true, null, ["a"]), else the string as typed."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _read_secret(key: str) -> str:
    if sys.stdin.isatty():
        import getpass
        return getpass.getpass(f"{key}: ")
    return sys.stdin.readline().rstrip("\r\n")


@_run
def cmd_channel_set(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing.notify import settings as ns
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    given = {k: _setting_value(v) for k, v in (args.set or [])}
    secrets: dict[str, str | None] = {}
    for k, v in args.secret or []:
        value = _read_secret(k) if v == "-" else v
        secrets[k] = value or None
    with ctx.engine.begin() as conn:
        old = ns.get_channel(conn, ctx.box, org_id, args.channel)
        provider = args.provider or (old.provider if old is not None else None)
        if provider is None:
            raise _usage(f"--provider: required for a new {args.channel} channel ({PROVIDERS})")
        settings = dict(old.settings) if old is not None and old.provider == provider else {}
        for k in args.unset or []:
            if k not in settings:
                raise _usage(f"--unset {k}: not set (see: aaad notify channel show {args.channel})")
            del settings[k]
        settings.update(given)
        enabled = args.enabled if args.enabled is not None else (old.enabled if old is not None else True)
        try:
            cfg = ns.set_channel(conn, ctx.box, org_id, args.channel, now_utc(), provider=provider,
                                 settings=settings, secrets=secrets, enabled=enabled)
        except ValidationError as e:
            raise _usage(_channel_error(e, given, secrets, _secret_fields(args.channel, provider))) from None
    if old is not None and old.provider != provider:
        print(f"({args.channel} changed provider {old.provider} -> {provider}: the old settings and secrets "
              f"were dropped)")
    _print_channel(cfg)
    if cfg.enabled:
        print(f"(check it: aaad notify test --channel {args.channel} --to ADDRESS)")
    return 0


def _secret_fields(channel: str, provider: str) -> tuple[str, ...]:
    from billing.notify import providers
    try:
        return providers.spec(channel, provider).secret_fields
    except ValidationError:
        return ()


def _channel_error(e: ValidationError, given: dict[str, Any], secrets: dict[str, Any],
                   secret_fields: tuple[str, ...]) -> str:
    """A provider's complaint as the flag to fix, with how to give a value it found missing."""
    field = e.field.removeprefix("secrets.")
    if field in secrets:
        return f"--secret {field}: {e.message}"
    if field in given:
        return f"--set {field}: {e.message}"
    top = field.split(".", 1)[0]
    if top in given:        # inside a JSON value: whatsapp_templates.invoice.issued.variables.1
        return f"--set {top}: {field}: {e.message}"
    if e.field in ("provider", "channel"):
        return f"--{e.field}: {e.message}"
    if e.field.startswith("secrets.") or field in secret_fields:
        return f"{field}: {e.message} (give it with --secret {field}=- to type it)"
    return f"{field}: {e.message} (give it with --set {field}=VALUE)"


@_run
def cmd_channel_remove(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.notify import settings as ns
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    ctx.tx(ns.remove_channel, org_id, args.channel)
    print(f"{args.channel} channel removed with its settings and secrets; pending {args.channel} messages are "
          f"retried and fail if it is not set up again (to pause it instead: aaad notify channel set "
          f"{args.channel} --disable)")
    return 0


# -- templates -------------------------------------------------------------------------------

def _sms_length(text: str) -> str:
    from billing.notify import segments
    s = segments.segments(text)
    return f"{s.segments} SMS ({s.encoding}, {s.chars} characters, {s.per_segment} per SMS)"


@_run
def cmd_template_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    from billing.notify import kinds, templates
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        found = [t for t in templates.list_templates(conn, org_id)
                 if (not args.kind or t.kind == args.kind) and (not args.channel or t.channel == args.channel)]
        brand = _brand(conn, org_id)
    if args.kind and args.kind not in kinds.KINDS:
        raise NotFound("message kind", args.kind)
    rows = []
    for t in found:
        length = ""
        if t.channel != "email":
            try:
                length = _sms_length(templates.render(t, kinds.get(t.kind).sample_vars(), brand).text)
            except Exception as e:  # noqa: BLE001 - a stored template broken by a later change shows why
                length = f"cannot render: {e}"
        rows.append([t.kind, t.channel, "own" if t.custom else "default", t.subject, length, _t(t.updated_at)])
    print_rows(args, rows, ["kind", "channel", "template", "subject", "sample length", "changed"])
    return 0


@_run
def cmd_template_show(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.notify import kinds, templates
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        t = templates.get(conn, org_id, args.kind, args.channel)
    k = kinds.get(t.kind)
    if args.json:
        _json(asdict(t) | {"variables": k.all_variables(), "secrets": list(k.secrets)})
        return 0
    print(f"{t.kind} by {t.channel}: " + (f"the org's own template, changed {_t(t.updated_at)}" if t.custom
                                          else "the shipped default"))
    if t.channel == "email":
        print(f"subject: {t.subject}")
    print("--- body ---")
    print(t.body)
    if t.channel == "email":
        if t.html:
            print("--- html ---")
            print(t.html)
        else:
            print("--- html: none (the body is set in the org's branded layout) ---")
    print("variables:")
    variables = k.all_variables()
    width = max(len(n) for n in variables)
    for n, what in variables.items():
        print(f"  {n.ljust(width)}  {what}")
    if k.secrets:
        print(f"secrets (filled in when sent, never stored in the clear): {', '.join(k.secrets)}")
    return 0


def _read_file(flag: str, path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise _usage(f"{flag}: cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise _usage(f"{flag}: {path} is not UTF-8 text") from None


@_run
def cmd_template_set(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing.notify import kinds, templates
    if args.subject is None and args.body_file is None and args.html_file is None and not args.no_html:
        raise _usage("nothing to change: give --subject, --body-file, --html-file or --no-html")
    if args.html_file is not None and args.no_html:
        raise _usage("--html-file with --no-html: give one of them")
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    body = _read_file("--body-file", args.body_file) if args.body_file is not None else None
    html = _read_file("--html-file", args.html_file) if args.html_file is not None else None
    sources = {"body": f"--body-file {args.body_file}", "subject": "--subject", "html": f"--html-file {args.html_file}"}
    with ctx.engine.begin() as conn:
        cur = templates.get(conn, org_id, args.kind, args.channel)
        try:
            t = templates.put(conn, org_id, args.kind, args.channel, now_utc(),
                              body=body if body is not None else cur.body,
                              subject=args.subject if args.subject is not None else cur.subject,
                              html=None if args.no_html else html if html is not None else cur.html)
        except ValidationError as e:
            given = {"body": body is not None, "subject": args.subject is not None, "html": html is not None}
            where = sources[e.field] if given.get(e.field) else f"the current {e.field}"
            raise _usage(f"template refused: {e.field} ({where}): {e.message}") from None
        brand = _brand(conn, org_id)
    print(f"saved the org's own {t.kind} template for {t.channel}")
    if t.channel != "email":
        sample = templates.render(t, kinds.get(t.kind).sample_vars(), brand).text
        print(f"  with the sample data: {_sms_length(sample)}")
    print(f"  see it: aaad notify template preview {t.kind} {t.channel}; undo: aaad notify template reset "
          f"{t.kind} {t.channel}")
    return 0


@_run
def cmd_template_reset(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.notify import templates
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        was = templates.get(conn, org_id, args.kind, args.channel)
        templates.reset(conn, org_id, args.kind, args.channel)
    print(f"{args.kind} by {args.channel}: " + ("back to the shipped default" if was.custom
                                                else "already the shipped default"))
    return 0


@_run
def cmd_template_preview(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.notify import segments, templates
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        brand = _brand(conn, org_id)
        try:
            r = templates.preview(conn, org_id, args.kind, args.channel, brand)
        except (NotFound, ValidationError):
            raise
        except Exception as e:  # noqa: BLE001 - a stored template a later change broke
            raise _usage(f"{args.kind} by {args.channel} cannot be rendered with the sample data: "
                         f"{type(e).__name__}: {e} (fix it: aaad notify template set ...)") from None
    if args.html:
        if r.html is None:
            raise _usage(f"--html: a {args.channel} message has no HTML part")
        print(r.html)
        return 0
    if args.json:
        sms = asdict(segments.segments(r.text)) if args.channel != "email" else None
        _json({"subject": r.subject, "text": r.text, "html": r.html, "sms": sms})
        return 0
    if r.subject:
        print(f"Subject: {r.subject}\n")
    print(r.text)
    if args.channel != "email":
        print(f"-- {_sms_length(r.text)}")
    else:
        print("-- (with the sample data; the HTML part: --html)")
    return 0


# -- rules -----------------------------------------------------------------------------------

def _offset(minutes: int) -> str:
    if minutes == 0:
        return "0"
    m = abs(minutes)
    text = f"{m // 1440}d" if m % 1440 == 0 else f"{m // 60}h" if m % 60 == 0 else f"{m}m"
    return ("-" if minutes < 0 else "+") + text


@_run
def cmd_rule_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    from billing.notify import reminders
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        rules = reminders.list_rules(conn, org_id, args.kind)
    if args.json:
        _json([asdict(r) | {"offset": _offset(r.offset_minutes), "describe": r.describe} for r in rules])
        return 0
    print_rows(args, [[r.id, r.kind, _offset(r.offset_minutes), r.describe, "yes" if r.enabled else "no"]
                      for r in rules], ["id", "kind", "offset", "when", "enabled"])
    if not rules:
        print("(add one: aaad notify rule add invoice.due_reminder -3d; aaad notify rule add "
              "service.expiry_warning -2h)")
    return 0


@_run
def cmd_rule_add(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing.notify import reminders
    from billing.notify import settings as ns
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    minutes = reminders.parse_offset(args.offset)
    with ctx.engine.begin() as conn:
        r = reminders.add_rule(conn, org_id, args.kind, minutes, now_utc(), enabled=not args.disabled)
        at = ns.get(conn, org_id).reminders_at
    print(f"rule {r.id}: {r.kind} {r.describe}" + ("" if r.enabled else " (disabled)"))
    if r.kind == reminders.DUE:
        print(f"  decided daily once the org's local time reaches {at} (change: aaad notify settings "
              f"--reminders-at HH:MM)")
    return 0


@_run
def cmd_rule_remove(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.notify import reminders
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        r = reminders.get_rule(conn, org_id, args.id)
        reminders.remove_rule(conn, org_id, args.id)
    print(f"rule {r.id} removed: {r.kind} {r.describe} (messages it already queued stay; see: "
          f"aaad notify list --kind {r.kind})")
    return 0


def _rule_enabled(enabled: bool) -> Callable[[argparse.Namespace], int]:
    @_run
    def cmd(args: argparse.Namespace) -> int:
        from aaad.cli import Context, now_utc
        from billing.notify import reminders
        ctx = Context(args)
        org_id = ctx.org_id(args.org)
        r = ctx.tx(reminders.set_rule_enabled, org_id, args.id, enabled, now_utc())
        print(f"rule {r.id} {'enabled' if enabled else 'disabled'}: {r.kind} {r.describe}")
        return 0
    return cmd


# -- routes, settings, opt-outs --------------------------------------------------------------

@_run
def cmd_route(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc, print_rows
    from billing.notify import kinds
    from billing.notify import settings as ns
    chans = args.channels or []
    if (args.default or args.none) and chans:
        raise _usage("channels with --default or --none: give one of them")
    if (args.default or args.none or chans) and not args.kind:
        raise _usage("which kind? aaad notify route KIND CHANNEL ... (kinds: aaad notify route)")
    for c in chans:
        if c not in CHANNELS:
            raise _usage(f"channels: unknown channel {c!r}: one of {', '.join(CHANNELS)}")
    if args.kind and args.kind not in kinds.KINDS:
        raise NotFound("message kind", args.kind)
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        if args.default or args.none or chans:
            ns.set_route(conn, org_id, args.kind, None if args.default else chans, now_utc())
        routes = ns.routes(conn, org_id)
        enabled = ns.enabled_channels(conn, org_id)
    shown = [routes[args.kind]] if args.kind else list(routes.values())
    if args.json:
        _json([{"kind": r.kind, "channels": list(r.channels), "custom": r.custom,
                "default": list(kinds.get(r.kind).channels),
                "not_enabled": [c for c in r.channels if c not in enabled]} for r in shown])
        return 0
    print_rows(args, [[r.kind, ", ".join(r.channels) or "(not sent)", "own" if r.custom else "default",
                       kinds.get(r.kind).title] for r in shown], ["kind", "channels", "route", "what"])
    missing = sorted({c for r in shown for c in r.channels if c not in enabled})
    for c in missing:
        print(f"note: {c} is not set up or disabled: messages skip it (see: aaad notify channel show {c})")
    return 0


_SETTING_FLAGS = {"admin_email": "--admin-email", "admin_phone": "--admin-phone", "quiet_start": "--quiet",
                  "quiet_end": "--quiet", "reminders_at": "--reminders-at",
                  "sms_balance_threshold": "--sms-balance-threshold"}
_QUIET = re.compile(r"\s*(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s*")


def _threshold(text: str) -> float | None:
    if text.strip().lower() in ("", "off", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number, or off; not {text!r}") from None


@_run
def cmd_settings(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing import settings as billing_settings
    from billing.notify import settings as ns
    changes: dict[str, Any] = {}
    if args.admin_email is not None:
        changes["admin_email"] = args.admin_email or None
    if args.admin_phone is not None:
        changes["admin_phone"] = args.admin_phone or None
    if args.quiet is not None:
        m = _QUIET.fullmatch(args.quiet)
        if not m:
            raise _usage(f"--quiet: {args.quiet!r} is not START-END in local time, e.g. 21:00-07:00")
        changes["quiet_start"], changes["quiet_end"] = m.group(1), m.group(2)
    if args.no_quiet:
        changes["quiet_start"] = changes["quiet_end"] = None
    if args.reminders_at is not None:
        changes["reminders_at"] = args.reminders_at
    if args.sms_balance_threshold is not None:
        changes["sms_balance_threshold"] = args.sms_balance_threshold[0]
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        try:
            s = ns.update(conn, org_id, now_utc(), **changes) if changes else ns.get(conn, org_id)
        except ValidationError as e:
            raise _usage(f"{_SETTING_FLAGS.get(e.field, e.field)}: {e.message}") from None
        tz = billing_settings.get(conn, org_id).timezone
    data = asdict(s)
    data.pop("org_id")
    if args.json:
        _json(data | {"timezone": tz})
        return 0
    shown = {"admin_email": s.admin_email or "(none: admin messages by email are not sent)",
             "admin_phone": s.admin_phone or "(none)",
             "quiet hours": f"{s.quiet_start}-{s.quiet_end} {tz} (non-urgent messages wait)" if s.quiet_start
             else "none",
             "reminders_at": f"{s.reminders_at} {tz} (due-date reminders are decided daily from then)",
             "sms_balance_threshold": "off" if s.sms_balance_threshold is None else f"{s.sms_balance_threshold:g}"}
    width = max(len(k) for k in shown)
    for k, v in shown.items():
        print(f"{k.ljust(width)}  {v}")
    return 0


@_run
def cmd_opt_out(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing import payments
    from billing.notify import kinds
    from billing.notify import settings as ns
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        cid = payments.customer_ref(conn, org_id, args.customer)
        ns.set_opt_out(conn, org_id, cid, not args.undo, now_utc())
    optional = ", ".join(k.name for k in kinds.KINDS.values() if k.optional)
    if args.undo:
        print(f"{args.customer} gets optional messages again ({optional})")
    else:
        print(f"{args.customer} opted out of optional messages ({optional}); receipts, invoices, reminders "
              f"of money owed, codes and resets still go (undo: aaad notify opt-out {args.customer} --undo)")
    return 0


# -- the parser ------------------------------------------------------------------------------

def _offset_args(parser: argparse.ArgumentParser) -> None:
    """Let OFFSET be negative (``-3d``, ``-2h``) without ``--``: argparse takes only negative
    numbers for positionals, so this parser's idea of one is widened."""
    parser._negative_number_matcher = re.compile(
        r"^-\d+\s*(d|h|m|days?|hours?|minutes?)?$", re.I)


CHANNEL_SET_HELP = """\
Set up a channel, or change some of its settings: the others are kept (a new
provider starts afresh). Values are JSON when they parse (587, true, null,
{"to": "{to}"}), else text as typed. Secrets are write-only: never shown again
(has_x flags), kept when not given, removed with --secret KEY= ; --secret KEY=-
reads the value from the terminal without echo (or one line of standard input).

Providers, their settings and [secrets]:
  email     smtp: host, port, security (starttls | tls | none), username,
            from_address, reply_to, timeout, verify_tls, ca_file, helo_name,
            keep_open (seconds a connection waits for the next message,
            default 5; 0: one connection per message) [password]
  sms       generic (your own HTTP gateway): url, method (GET | POST), body
            (form | json), params (name -> template using {to} {to_local}
            {to_digits} {text} {sender} {message_id}), headers, sender, auth
            (none | basic | bearer | header | query), auth_username, auth_name,
            success_path, success_value, id_path, balance_url, balance_path
            [password, token, api_key]
  sms       twilio: account_sid, from_number, messaging_service_sid,
            status_callback, base_url [auth_token]
  whatsapp  twilio: account_sid, whatsapp_from, status_callback, base_url,
            whatsapp_templates (JSON: {"KIND": {"content_sid": "HX...",
            "variables": {"1": "{{ customer.first_name }}"}}}: the kind goes
            as that approved Content template, which WhatsApp delivers
            outside the customer's 24-hour window) [auth_token]
  any       file (each message written to a folder instead of sent: for trying
            templates and rules, or handing messages to another system):
            directory, from_address (email)

Example:
  aaad notify channel set email --provider smtp --set host=smtp.example.com \\
      --set from_address=billing@example.com --set username=billing@example.com \\
      --secret password=-
Then check it: aaad notify test --channel email --to you@example.com
"""


def register(sub: Any) -> None:
    """Add ``notify`` and its commands to the ``aaad`` command line."""
    from aaad.cli_group import group
    n = group(sub, "notify", "messages (email, SMS, WhatsApp): the outbox, channels, templates, reminder rules, "
                             "routes, settings")

    def common(p: argparse.ArgumentParser, json_: bool = True) -> argparse.ArgumentParser:
        p.add_argument("--org", metavar="SLUG", help="the org (needed when there are several)")
        if json_:
            p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    p = common(n.add_parser("list", help="messages in the outbox, newest first",
                            description="Messages decided by events, reminder rules and the portal, newest "
                                        "first: pending (waiting to be sent: quiet hours or a retry back-off), "
                                        "sent (the provider took it), delivered (its receipt said so), failed "
                                        "(given up: the error says why) or cancelled. Details of one: "
                                        "aaad notify show ID."))
    p.add_argument("--state", choices=STATES)
    p.add_argument("--channel", choices=CHANNELS)
    p.add_argument("--kind", help="e.g. invoice.issued, invoice.due_reminder (all kinds: aaad notify route)")
    p.add_argument("--customer", metavar="KEY", help="customer username, id, e-mail or phone")
    p.add_argument("--limit", type=int, default=50, help="most shown (default 50)")
    p.add_argument("--cursor", help="continue after the previous page (printed when there is more)")
    p.set_defaults(fn=cmd_list)

    p = common(n.add_parser("show", help="one message: its state, attempts, error and text (secrets masked)"))
    p.add_argument("id", type=int)
    p.set_defaults(fn=cmd_show)
    p = common(n.add_parser("retry", help="send a failed or cancelled message again (wakes the daemon)",
                            description="Puts a failed or cancelled message back in the outbox with a new "
                                        "round of attempts, and wakes the running daemon on this machine so "
                                        "it sends it now. A message that carried a secret (a code, a "
                                        "password, a reset link) cannot be retried: its secret is gone once "
                                        "it finished; ask for a new one."), json_=False)
    p.add_argument("id", type=int)
    p.set_defaults(fn=cmd_retry)
    p = common(n.add_parser("cancel", help="cancel a pending message (it is not sent)"), json_=False)
    p.add_argument("id", type=int)
    p.set_defaults(fn=cmd_cancel)

    p = common(n.add_parser("test", help="send a test message through the org's channel now, from this process",
                            description="Builds the org's configured channel and sends one test message now, "
                                        "from this process, to check its settings: prints the provider's id and "
                                        "answer, or the error and whether it is worth retrying (exit status 1). "
                                        "It does not go through the outbox: nothing is queued, retried or "
                                        "listed by 'aaad notify list', and no daemon is needed. A disabled "
                                        "channel can be tested too."), json_=False)
    p.add_argument("--channel", required=True, choices=CHANNELS)
    p.add_argument("--to", required=True, metavar="ADDRESS_OR_NUMBER",
                   help="an e-mail address (email) or a phone number (sms, whatsapp; national numbers are read "
                        "in the org's country)")
    p.add_argument("--text", help="the message text (default: a line saying it is a test)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the provider (default 60)")
    p.set_defaults(fn=cmd_test)

    ch = n.add_parser("channel", help="the org's email, SMS and WhatsApp providers and their settings"
                      ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = common(ch.add_parser("show", help="a channel's provider and settings (secrets as has_x flags); all "
                                          "without CHANNEL"))
    p.add_argument("channel", nargs="?", choices=CHANNELS)
    p.set_defaults(fn=cmd_channel_show)
    p = common(ch.add_parser("set", help="set up or change a channel", description=CHANNEL_SET_HELP,
                             formatter_class=argparse.RawDescriptionHelpFormatter), json_=False)
    p.add_argument("channel", choices=CHANNELS)
    p.add_argument("--provider", help="smtp (email); generic or twilio (sms); twilio (whatsapp); file (any); "
                                      "default: the current one")
    p.add_argument("--set", action="append", type=_key_value, metavar="KEY=VALUE", help="a setting (repeatable)")
    p.add_argument("--unset", action="append", metavar="KEY", help="drop a setting (back to its default)")
    p.add_argument("--secret", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a secret (repeatable); KEY=- to type it without echo")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--enable", dest="enabled", action="store_const", const=True,
                   help="messages go out on it (the default for a new channel)")
    g.add_argument("--disable", dest="enabled", action="store_const", const=False,
                   help="keep the settings but send nothing on it (messages for it are skipped)")
    p.set_defaults(fn=cmd_channel_set)
    p = common(ch.add_parser("remove", help="remove a channel with its settings and secrets"), json_=False)
    p.add_argument("channel", choices=CHANNELS)
    p.set_defaults(fn=cmd_channel_remove)

    tp = n.add_parser("template", help="message templates per kind and channel (Jinja2): list, show, set, reset, "
                                       "preview").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = common(tp.add_parser("list", help="every kind's templates, the org's own or the shipped default, with "
                                          "the SMS length of the sample"))
    p.add_argument("--kind")
    p.add_argument("--channel", choices=CHANNELS)
    p.set_defaults(fn=cmd_template_list)
    for name, fn, helptext in (
            ("show", cmd_template_show, "a template's source and the variables it may use"),
            ("reset", cmd_template_reset, "drop the org's own template: the shipped default applies again"),
            ("preview", cmd_template_preview, "the template rendered with sample data (SMS: its length and "
                                              "segments)")):
        p = common(tp.add_parser(name, help=helptext), json_=name != "reset")
        p.add_argument("kind", help="e.g. invoice.issued (all: aaad notify template list)")
        p.add_argument("channel", choices=CHANNELS)
        if name == "preview":
            p.add_argument("--html", action="store_true", help="print the email's HTML page only")
        p.set_defaults(fn=fn)
    p = common(tp.add_parser(
        "set", help="save the org's own template (checked first)",
        description="Saves the org's own template for KIND and CHANNEL; parts not given keep their current "
                    "text. It is checked before it is saved: a syntax error, an unknown variable or anything the "
                    "sandbox forbids is refused with the part and the line (exit status 2). Variables: "
                    "aaad notify template show KIND CHANNEL."), json_=False)
    p.add_argument("kind")
    p.add_argument("channel", choices=CHANNELS)
    p.add_argument("--subject", help="the email subject (a template too)")
    p.add_argument("--body-file", metavar="FILE", help="the text (the email's text part; the whole SMS or "
                                                      "WhatsApp message); - reads standard input")
    p.add_argument("--html-file", metavar="FILE", help="the email's HTML part (default: the text in the org's "
                                                      "branded layout)")
    p.add_argument("--no-html", action="store_true", help="drop the own HTML part")
    p.set_defaults(fn=cmd_template_set)

    rp = n.add_parser("rule", help="reminder rules: due-date reminders and expiry warnings"
                      ).add_subparsers(dest="action", metavar="ACTION", required=True)
    p = common(rp.add_parser("list", help="the org's reminder rules"))
    p.add_argument("--kind", choices=["invoice.due_reminder", "service.expiry_warning"])
    p.set_defaults(fn=cmd_rule_list)
    p = common(rp.add_parser(
        "add", help="add a rule, e.g. invoice.due_reminder -3d",
        description="KIND invoice.due_reminder: OFFSET in whole days from an open invoice's due date (-3d before, "
                    "0 on the day, +2d after), decided daily at the org's reminders_at local time. KIND "
                    "service.expiry_warning: OFFSET before a time-limited service ends (-1d, -2h, -30m). Each "
                    "rule sends one message per invoice or service, never twice."), json_=False)
    p.add_argument("kind", choices=["invoice.due_reminder", "service.expiry_warning"])
    p.add_argument("offset", help="-3d, 0, +2d, -2h, -30m (negative: before)")
    p.add_argument("--disabled", action="store_true", help="add it switched off")
    _offset_args(p)
    p.set_defaults(fn=cmd_rule_add)
    for name, fn, helptext in (("remove", cmd_rule_remove, "remove a rule"),
                               ("enable", _rule_enabled(True), "switch a rule on"),
                               ("disable", _rule_enabled(False), "switch a rule off (kept for later)")):
        p = common(rp.add_parser(name, help=helptext), json_=False)
        p.add_argument("id", type=int, help="the rule's id (see: aaad notify rule list)")
        p.set_defaults(fn=fn)

    p = common(n.add_parser(
        "route", help="which channels each kind goes out on: show, or set with KIND CHANNEL ...",
        description="Without arguments: every kind and its channels. KIND alone: that kind. KIND CHANNEL ...: "
                    "send KIND on these channels; --default: back to the shipped channels; --none: not at all. A "
                    "channel that is not set up or is disabled is skipped."))
    p.add_argument("kind", nargs="?")
    p.add_argument("channels", nargs="*", metavar="CHANNEL", help=", ".join(CHANNELS))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--default", action="store_true", help="back to the kind's shipped channels")
    g.add_argument("--none", action="store_true", help="do not send this kind at all")
    p.set_defaults(fn=cmd_route)

    p = common(n.add_parser(
        "settings", help="the org's admin contacts, quiet hours, reminder time and SMS balance alert (shown "
                         "without options)",
        description="Times are the org's local time (its billing time zone). In quiet hours non-urgent "
                    "messages wait for the end; receipts, codes and resets go at once."))
    p.add_argument("--admin-email", metavar="ADDRESS", help="where admin notifications go (\"\" clears it)")
    p.add_argument("--admin-phone", metavar="NUMBER", help="for admin SMS alerts (\"\" clears it)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", metavar="START-END", help="quiet hours, e.g. 21:00-07:00")
    g.add_argument("--no-quiet", action="store_true", help="no quiet hours")
    p.add_argument("--reminders-at", metavar="HH:MM", help="local time due-date reminders are decided (09:00)")
    p.add_argument("--sms-balance-threshold", metavar="N", type=lambda s: [_threshold(s)],
                   help="alert the admins when the SMS gateway's balance is below N (off: no alert)")
    p.set_defaults(fn=cmd_settings)

    p = common(n.add_parser("opt-out", help="a customer opts out of optional messages (or back in with --undo)",
                            description="Optional, marketing-type messages (expiry and data-cap warnings) are "
                                        "not sent to a customer who opted out; receipts, invoices, reminders, "
                                        "codes and resets still are."), json_=False)
    p.add_argument("customer", help="customer username, id, e-mail or phone")
    p.add_argument("--undo", action="store_true", help="opt back in")
    p.set_defaults(fn=cmd_opt_out)
