"""Message templates: Jinja2's sandbox, the shipped defaults, an org's own, and the check
that refuses a template with a syntax error or an unknown variable, naming the line.

Per (org, kind, channel) an org may store its own template; otherwise the kind's
shipped one is used (:mod:`billing.notify.kinds`).  Email has a subject, a text part
and an optional HTML part (without one, the text is set in the org's branded HTML
layout); SMS and WhatsApp have a text.  Templates are rendered at send time from
the variables stored with the message.
"""
from __future__ import annotations

import functools
import html as _html
import re
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy.engine import Connection

from aaad.errors import NotFound, ValidationError
from billing.notify import kinds
from billing.notify.channels import CHANNELS, EMAIL
from billing.notify.schema import templates as tpl_t

MAX_PRODUCT = 10_000     # characters or items a template's * may produce


class _Bounded(SandboxedEnvironment):
    """The sandbox, with nothing that builds something huge from a small template: ``*`` on
    strings and lists and ``**`` are bounded, ``%`` refuses field widths, and ``range`` and the
    width filters (center, indent, format) are gone.  Templates are checked when saved and
    rendered when sent: a template must not be able to stall either."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        del self.globals["range"]
        for name in ("center", "indent", "format"):
            self.filters.pop(name, None)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_PRODUCT:
                    raise SecurityError(f"a repetition longer than {MAX_PRODUCT}")
        elif operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 64 or \
                    isinstance(left, (int, float)) and abs(left) > 10 ** 6:
                raise SecurityError("a power too large")
        elif operator == "%" and isinstance(left, str) and _WIDTH.search(left):
            raise SecurityError("a field width or precision over 3 digits")
        return super().call_binop(context, operator, left, right)


_WIDTH = re.compile(r"%[-+ #0*]*\d{4,}|%[-+ #0]*\d*\.\d{4,}|%[-+ #0]*\*")
_TEXT = _Bounded(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
_HTML = _Bounded(undefined=StrictUndefined, autoescape=True)
_LAYOUT = SandboxedEnvironment(autoescape=True).from_string(
    (Path(__file__).resolve().parent / "layouts" / "email.html").read_text())
_NAME = "<template>"
REDACTED = "••••••"
MAX_LEN = 20000


@dataclass(frozen=True)
class Template:
    kind: str
    channel: str
    subject: str
    body: str
    html: str | None
    custom: bool                   # the org's own (False: the shipped default)
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Branding:
    name: str
    colour: str = "#1d4ed8"
    logo: str | None = None
    address: str | None = None


def default(kind: str, channel: str) -> Template:
    k = kinds.get(kind)
    if channel == EMAIL:
        return Template(kind, channel, k.subject, k.text, None, False)
    return Template(kind, channel, "", k.sms, None, False)


def _check_kind_channel(kind: str, channel: str) -> kinds.Kind:
    if kind not in kinds.KINDS:
        raise NotFound("message kind", kind)
    if channel not in CHANNELS:
        raise ValidationError("channel", f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    return kinds.get(kind)


def get(conn: Connection, org_id: int, kind: str, channel: str) -> Template:
    """The template in use: the org's own, else the shipped default."""
    _check_kind_channel(kind, channel)
    r = conn.execute(sa.select(tpl_t).where(tpl_t.c.org_id == org_id, tpl_t.c.kind == kind,
                                            tpl_t.c.channel == channel)).first()
    if r is None:
        return default(kind, channel)
    return Template(kind, channel, r.subject, r.body, r.html, True, r.updated_at)


def list_templates(conn: Connection, org_id: int) -> list[Template]:
    """Every (kind, channel) template of the org, its own or the default."""
    own = {(r.kind, r.channel): Template(r.kind, r.channel, r.subject, r.body, r.html, True, r.updated_at)
           for r in conn.execute(sa.select(tpl_t).where(tpl_t.c.org_id == org_id))}
    return [own.get((k, c), default(k, c)) for k in kinds.KINDS for c in CHANNELS]


# -- checking ------------------------------------------------------------------------------

def _assigned(ast: nodes.Template) -> set[str]:
    names: set[str] = set()
    for n in ast.find_all(nodes.Name):
        if n.ctx in ("store", "param"):
            names.add(n.name)
    return names


def _line_of(e: BaseException) -> int | None:
    for fr in reversed(traceback.extract_tb(e.__traceback__)):
        if fr.filename == _NAME:
            return fr.lineno
    return None


def check(kind: str, field: str, source: str, *, html: bool = False) -> None:
    """Refuse ``source`` (a template of ``kind``) with a syntax error, an unknown variable or
    attribute, or anything the sandbox forbids: ValidationError naming ``field`` and the line."""
    try:
        _check(kind, field, source, html)
    except RecursionError:
        raise ValidationError(field, "expressions nested too deeply") from None


def _check(kind: str, field: str, source: str, html: bool) -> None:
    k = kinds.get(kind)
    if len(source) > MAX_LEN:
        raise ValidationError(field, f"too long ({len(source)} characters, at most {MAX_LEN})")
    env = _HTML if html else _TEXT
    try:
        ast = env.parse(source, name=_NAME)
    except TemplateSyntaxError as e:
        raise ValidationError(field, f"line {e.lineno}: {e.message}") from None
    known = set(k.all_variables()) | _assigned(ast) | {"loop", "true", "false", "none"}
    for n in ast.find_all(nodes.Name):
        if n.ctx == "load" and n.name not in known:
            allowed = ", ".join(sorted(k.all_variables()))
            raise ValidationError(field, f"line {n.lineno}: unknown variable {n.name!r} (this message has: "
                                         f"{allowed})")
    try:
        env.from_string(source).render(k.sample_vars())
    except (UndefinedError, SecurityError) as e:
        line = _line_of(e)
        where = f"line {line}: " if line else ""
        raise ValidationError(field, f"{where}{e}") from None
    except Exception as e:  # noqa: BLE001 - any render error with the sample data refuses the template
        line = _line_of(e)
        where = f"line {line}: " if line else ""
        raise ValidationError(field, f"{where}{type(e).__name__}: {e}") from None


def draft(kind: str, channel: str, *, body: str, subject: str = "", html: str | None = None) -> Template:
    """An operator's template for (kind, channel), not stored: each part :func:`check`-ed
    (ValidationError naming ``body``, ``subject`` or ``html`` and the line)."""
    _check_kind_channel(kind, channel)
    if not body.strip():
        raise ValidationError("body", "must not be empty")
    check(kind, "body", body)
    if channel == EMAIL:
        if not subject.strip():
            raise ValidationError("subject", "an email needs a subject")
        check(kind, "subject", subject)
        if html is not None and html.strip():
            check(kind, "html", html, html=True)
        else:
            html = None
    else:
        if subject or html:
            raise ValidationError("subject" if subject else "html", f"a {channel} message has only a body")
    return Template(kind, channel, subject, body, html, True)


#: When (``time.monotonic()``) this process last called :func:`put` or :func:`reset`: the sender's
#: cache of templates (:class:`billing.notify.sender.Looks`) trusts nothing it read until a moment after.
edited_at = -1e9


def _edited() -> None:
    global edited_at
    edited_at = time.monotonic()


def put(conn: Connection, org_id: int, kind: str, channel: str, now: datetime, *, body: str,
        subject: str = "", html: str | None = None) -> Template:
    """Store the org's template for (kind, channel), after :func:`check` of each part."""
    t = draft(kind, channel, body=body, subject=subject, html=html)
    _edited()
    values = {"subject": t.subject, "body": t.body, "html": t.html, "updated_at": now}
    n = conn.execute(tpl_t.update().where(tpl_t.c.org_id == org_id, tpl_t.c.kind == kind,
                                          tpl_t.c.channel == channel).values(**values)).rowcount
    if n == 0:
        conn.execute(tpl_t.insert().values(org_id=org_id, kind=kind, channel=channel, **values))
    return get(conn, org_id, kind, channel)


def reset(conn: Connection, org_id: int, kind: str, channel: str) -> Template:
    """Drop the org's template: the shipped default applies again."""
    _check_kind_channel(kind, channel)
    _edited()
    conn.execute(tpl_t.delete().where(tpl_t.c.org_id == org_id, tpl_t.c.kind == kind, tpl_t.c.channel == channel))
    return default(kind, channel)


# -- rendering -----------------------------------------------------------------------------

def _text_to_html(text: str) -> Markup:
    paras = [p for p in text.split("\n\n") if p.strip()]
    return Markup("".join("<p>" + _html.escape(p).replace("\n", "<br>") + "</p>" for p in paras))


@functools.lru_cache(maxsize=512)
def _compiled(html: bool, source: str) -> Any:
    """A template compiled once per source (compiling costs far more than rendering)."""
    return (_HTML if html else _TEXT).from_string(source)


def render_text(source: str, variables: dict[str, Any]) -> str:
    """One text template (a WhatsApp Content template's placeholder) rendered, stripped."""
    return str(_compiled(False, source).render(variables)).strip()


def render(t: Template, variables: dict[str, Any], brand: Branding) -> Rendered:
    """Render a template with a message's variables (raises on a broken template: the
    message fails with the error; templates are checked when saved, so only a stored
    template older than a change of variables can)."""
    text = _compiled(False, t.body).render(variables).strip()
    if t.channel != EMAIL:
        return Rendered("", text, None)
    subject = " ".join(_compiled(False, t.subject).render(variables).split())
    body = Markup(_compiled(True, t.html).render(variables)) if t.html else _text_to_html(text)
    page = _LAYOUT.render(subject=subject, body=body, brand=brand.name, colour=brand.colour or "#1d4ed8",
                          logo=brand.logo, address=brand.address)
    return Rendered(subject, text, page)


def redacted(kind: str, variables: dict[str, Any]) -> dict[str, Any]:
    """``variables`` with the kind's secrets replaced by a mask (what is stored and shown)."""
    k = kinds.get(kind)
    return {n: (REDACTED if n in k.secrets else v) for n, v in variables.items()}


def preview(conn: Connection, org_id: int, kind: str, channel: str, brand: Branding,
            variables: dict[str, Any] | None = None, unsaved: Template | None = None) -> Rendered:
    """The template in use (or ``unsaved``, from :func:`draft`) rendered with the kind's sample
    data (or given variables)."""
    t = unsaved if unsaved is not None else get(conn, org_id, kind, channel)
    return render(t, variables if variables is not None else kinds.get(kind).sample_vars(), brand)
