"""SMS and WhatsApp over HTTP: an operator's own gateway, and Twilio's Messages API.

Two providers, each a settings parser and channels implementing
:class:`billing.notify.channels.Channel`:

- **generic**: the operator's local HTTP SMS gateway. URL, method (GET with the
  parameters in the query; POST as a form or JSON), parameter templates with
  ``{to}`` ``{to_local}`` ``{to_digits}`` ``{text}`` ``{sender}`` ``{message_id}``,
  auth (none, basic, bearer, a header, a query parameter), a success rule (HTTP
  2xx, and optionally a JSON dotted path equal to a value), where the provider's
  message id is, and an optional balance endpoint for the low-balance alert.
- **twilio**: ``POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`` with
  HTTP basic auth (account SID, auth token), form fields ``To``, ``From`` (or
  ``MessagingServiceSid``), ``Body``, ``StatusCallback``; WhatsApp is the same
  with ``whatsapp:`` before both numbers. Every request carries
  ``I-Twilio-Idempotency-Token`` derived from the outbox row, so a re-send of
  the same row is recognisable. Delivery receipts (the status callback) are
  checked with :func:`valid_twilio_signature` and read by :func:`parse_twilio_status`.

Errors map to :class:`SendError`: a timeout, a connection failure, HTTP 408,
429 and 5xx are retryable; any other 4xx, a redirect, or a gateway's refusal
in its JSON are not (they need the operator). Every call goes through a
treq-like client with a timeout (treq's own, and one over the whole exchange
including the body), on the reactor given: nothing here blocks.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast
from urllib.parse import urlsplit

import phonenumbers
from twisted.internet import defer

from aaad.clock import Clock
from aaad.errors import ValidationError
from billing.http_failure import describe as describe_failure
from billing.notify import kinds, templates
from billing.notify.channels import SMS, WHATSAPP, Outgoing, SendError, Sent

# treq and Twisted's HTTP client (with pyOpenSSL and the TLS endpoints, about 0.1 s to import) are
# imported where a channel first talks HTTP: every CLI command imports this module.
if TYPE_CHECKING:
    from twisted.web.iweb import IResponse

DEFAULT_TIMEOUT = 10.0
TWILIO_API = "https://api.twilio.com"
TWILIO_VERSION = "2010-04-01"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "aaad"

# -- the HTTP client seam ---------------------------------------------------------------


class Http(Protocol):
    """What the channels use of treq: ``treq`` itself (see :class:`TreqHttp`) or ``treq.testing.StubTreq``."""

    def request(self, method: str, url: str, **kwargs: Any) -> defer.Deferred[IResponse]: ...

    def content(self, response: IResponse) -> defer.Deferred[bytes]: ...


class TreqHttp:
    """treq on ``reactor`` with its own connection pool (persistent connections to each gateway)."""

    def __init__(self, reactor: Any, *, persistent: bool = True):
        import treq
        from treq.client import HTTPClient
        from twisted.web import client as web_client
        web: Any = web_client      # untyped
        self._pool = web.HTTPConnectionPool(reactor, persistent=persistent)
        self._client = HTTPClient(web.Agent(reactor, pool=self._pool))
        self._content = treq.content

    def request(self, method: str, url: str, **kwargs: Any) -> defer.Deferred[IResponse]:
        return cast("defer.Deferred[IResponse]", self._client.request(method, url, **kwargs))

    def content(self, response: IResponse) -> defer.Deferred[bytes]:
        return self._content(response)

    def close(self) -> defer.Deferred[None]:
        """Close the idle connections (at shutdown)."""
        return cast("defer.Deferred[None]", self._pool.closeCachedConnections())


@dataclass(frozen=True)
class _Reply:
    code: int
    headers: Mapping[str, str]      # lower-cased names, first value
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or ``_MISSING`` if it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _MISSING

    def excerpt(self, n: int = 200) -> str:
        text = self.body.decode("utf-8", "replace")
        text = " ".join(text.split())
        return text if len(text) <= n else text[: n - 1] + "…"


async def _exchange(http: Http, reactor: Clock, timeout: float, method: str, url: str,
                    **kwargs: Any) -> _Reply:
    """One request and its whole body within ``timeout``; a network failure is a retryable SendError."""
    host = urlsplit(url).netloc

    def body(resp: IResponse) -> defer.Deferred[_Reply]:
        def done(data: bytes) -> _Reply:
            headers = {k.decode("latin-1").lower(): v[0].decode("latin-1")
                       for k, v in resp.headers.getAllRawHeaders() if v}
            return _Reply(resp.code, headers, data)
        return http.content(resp).addCallback(done)

    kwargs.setdefault("headers", {})
    kwargs["headers"] = {"User-Agent": USER_AGENT, "Accept": "application/json", **kwargs["headers"]}
    d: defer.Deferred[_Reply] = http.request(method, url, timeout=timeout, reactor=reactor,
                                             allow_redirects=False, **kwargs).addCallback(body)
    d.addTimeout(timeout, cast(Any, reactor))    # the body too, not only the headers
    try:
        return await d
    except Exception as e:
        raise SendError(f"{host}: {describe_failure(e, timeout)}", retryable=True) from e


def _retryable_status(code: int) -> bool:
    return code in (408, 425, 429) or code >= 500


def _status_error(who: str, reply: _Reply, detail: str) -> SendError:
    code = reply.code
    extra = ""
    if code == 429 and "retry-after" in reply.headers:
        extra = f" (retry after {reply.headers['retry-after']} s)"
    if 300 <= code < 400:
        extra = f" (redirected to {reply.headers.get('location', '?')}; configure the final URL)"
    return SendError(f"{who}: HTTP {code}{extra}: {detail}", retryable=_retryable_status(code))


# -- small validators ---------------------------------------------------------------------

_MISSING: Any = object()
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ALNUM_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ._&-]{1,11}$")
_NUMERIC_SENDER = re.compile(r"^\+?\d{3,15}$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")       # an HTTP header name (RFC 9110 token)
_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")


def _str(settings: Mapping[str, Any], key: str, *, required: bool = False, default: str = "") -> str:
    v = settings.get(key)
    if v is None or v == "":
        if required:
            raise ValidationError(key, "required")
        return default
    if not isinstance(v, str):
        raise ValidationError(key, "must be a string")
    if v != v.strip():
        raise ValidationError(key, "has leading or trailing spaces")
    return v


def _url(settings: Mapping[str, Any], key: str, *, required: bool = False, default: str = "") -> str:
    v = _str(settings, key, required=required, default=default)
    if not v:
        return v
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(key, "must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(key, "must not carry credentials (use the auth settings)")
    if any(c.isspace() for c in v):
        raise ValidationError(key, "must not contain spaces")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        raise ValidationError(key, f"bad port: {e}") from None
    return v


def _dotted(settings: Mapping[str, Any], key: str) -> str:
    v = _str(settings, key)
    if v and not _PATH.match(v):
        raise ValidationError(key, "must be a dotted path like data.id or messages.0.status")
    return v


def _unknown(settings: Mapping[str, Any], known: Iterable[str], what: str = "setting") -> None:
    known = set(known)
    for k in settings:
        if k not in known:
            raise ValidationError(str(k), f"unknown {what} (known: {', '.join(sorted(known))})")


def json_path(doc: Any, path: str) -> Any:
    """The value at dotted ``path`` in a JSON document (digits index lists), or ``_MISSING``."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _scalar_text(v: Any) -> str:
    """A JSON scalar as the operator would type it: strings bare, the rest as JSON (0, true, null)."""
    return v if isinstance(v, str) else json.dumps(v)


# -- parameter templates --------------------------------------------------------------------

PLACEHOLDERS = ("to", "to_local", "to_digits", "text", "sender", "message_id")
_PIECE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def parse_template(template: str, field_name: str) -> tuple[str | tuple[str], ...]:
    """Literal text and ``(placeholder,)`` pieces; ``{{``/``}}`` are literal braces."""
    out: list[str | tuple[str]] = []
    pos = 0
    for m in _PIECE.finditer(template):
        if m.start() > pos:
            out.append(template[pos:m.start()])
        tok = m.group(0)
        if tok in ("{{", "}}"):
            out.append(tok[0])
        elif m.group(1) is not None:
            name = m.group(1)
            if name not in PLACEHOLDERS:
                raise ValidationError(field_name, f"unknown placeholder {{{name}}} (known: "
                                      + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ")")
            out.append((name,))
        else:
            raise ValidationError(field_name, "unmatched brace (write {{ or }} for a literal one)")
        pos = m.end()
    if pos < len(template):
        out.append(template[pos:])
    return tuple(out)


def render_template(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its placeholders filled from ``values``."""
    return "".join(p if isinstance(p, str) else values[p[0]] for p in parse_template(template, "template"))


def _placeholders(template: str) -> set[str]:
    return {p[0] for p in parse_template(template, "template") if not isinstance(p, str)}


def placeholder_values(msg: Outgoing, sender: str) -> dict[str, str]:
    """The values of the placeholders for ``msg``; a recipient that is no phone number is not retryable."""
    try:
        n = phonenumbers.parse(msg.to, None)
    except phonenumbers.NumberParseException as e:
        raise SendError(f"recipient {msg.to!r} is not an international phone number: {e}", retryable=False) from e
    national = re.sub(r"\D", "", phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.NATIONAL))
    e164 = phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    return {"to": e164, "to_local": national, "to_digits": e164.lstrip("+"), "text": msg.text,
            "sender": sender, "message_id": str(msg.message_id)}


# -- the generic gateway: settings --------------------------------------------------------------

AuthKind = Literal["none", "basic", "bearer", "header", "query"]
AUTH_KINDS: tuple[AuthKind, ...] = ("none", "basic", "bearer", "header", "query")
GENERIC_KEYS = ("provider", "url", "method", "body", "params", "headers", "sender", "auth", "auth_username",
                "auth_name", "success_path", "success_value", "id_path", "balance_url", "balance_path",
                "balance_threshold")
#: The generic gateway's secrets (stored encrypted): which one is used depends on ``auth``.
SECRET_FIELDS = ("password", "token", "api_key")
#: Twilio's secret.
TWILIO_SECRET_FIELDS = ("auth_token",)


@dataclass(frozen=True)
class GenericSettings:
    """An operator's HTTP SMS gateway (see the module docstring and :func:`parse_generic`)."""
    url: str
    method: Literal["GET", "POST"] = "POST"
    body: Literal["form", "json"] = "form"
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    sender: str = ""
    auth: AuthKind = "none"
    auth_username: str = ""
    auth_name: str = ""
    success_path: str = ""
    success_value: str = ""
    id_path: str = ""
    balance_url: str = ""
    balance_path: str = ""
    balance_threshold: float | None = None
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)


def parse_generic(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> GenericSettings:
    """Validate a generic gateway's settings and secrets; a bad one raises ValidationError naming it.

    Keys: ``url`` (http/https, required), ``method`` (GET|POST, default POST), ``body``
    (form|json, POST only, default form), ``params`` (name → template, required, must use
    a recipient placeholder and ``{text}``), ``headers`` (static extra headers), ``sender``,
    ``auth`` (none|basic|bearer|header|query) with ``auth_username`` (basic) or ``auth_name``
    (the header or query parameter), ``success_path`` + ``success_value``, ``id_path``,
    ``balance_url`` + ``balance_path`` + ``balance_threshold``. Secrets: ``password`` (basic),
    ``token`` (bearer), ``api_key`` (header, query).
    """
    if not isinstance(settings, Mapping):
        raise ValidationError("settings", "must be an object")
    _unknown(settings, GENERIC_KEYS)
    _unknown(secrets, SECRET_FIELDS, "secret")
    provider = _str(settings, "provider", default="generic")
    if provider != "generic":
        raise ValidationError("provider", "must be generic here")
    url = _url(settings, "url", required=True)
    method = _str(settings, "method", default="POST").upper()
    if method not in ("GET", "POST"):
        raise ValidationError("method", "must be GET or POST")
    body = _str(settings, "body", default="form").lower()
    if body not in ("form", "json"):
        raise ValidationError("body", "must be form or json")
    if method == "GET" and settings.get("body") not in (None, "", "form"):
        raise ValidationError("body", "a GET sends its parameters in the query; body applies to POST only")

    raw_params = settings.get("params")
    if not isinstance(raw_params, Mapping) or not raw_params:
        raise ValidationError("params", "required: an object of parameter name → template, e.g. "
                              '{"to": "{to}", "msg": "{text}"}')
    params: dict[str, str] = {}
    used: set[str] = set()
    for name, tpl in raw_params.items():
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("params", "parameter names must be non-empty strings")
        if not isinstance(tpl, str):
            raise ValidationError(f"params.{name}", "must be a string template")
        parse_template(tpl, f"params.{name}")
        used |= _placeholders(tpl)
        params[name] = tpl
    if not used & {"to", "to_local", "to_digits"}:
        raise ValidationError("params", "no parameter carries the recipient ({to}, {to_local} or {to_digits})")
    if "text" not in used:
        raise ValidationError("params", "no parameter carries the message ({text})")

    raw_headers = settings.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise ValidationError("headers", "must be an object of header name → value")
    headers: dict[str, str] = {}
    for name, value in raw_headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValidationError("headers", f"bad header name {name!r}")
        if name.lower() in ("authorization", "content-type", "content-length", "host"):
            raise ValidationError(f"headers.{name}", "is set by aaad (use the auth settings for credentials)")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValidationError(f"headers.{name}", "must be a one-line string")
        headers[name] = value

    sender = _str(settings, "sender")
    if sender and not (_ALNUM_SENDER.match(sender) or _NUMERIC_SENDER.match(sender)):
        raise ValidationError("sender", "must be up to 11 letters/digits (with a letter) or a number of 3-15 digits")

    auth = _str(settings, "auth", default="none")
    if auth not in AUTH_KINDS:
        raise ValidationError("auth", "must be one of " + ", ".join(AUTH_KINDS))
    auth_username = _str(settings, "auth_username")
    auth_name = _str(settings, "auth_name")
    sec = {k: _str(secrets, k) for k in SECRET_FIELDS}
    if auth == "basic":
        if not auth_username:
            raise ValidationError("auth_username", "required for basic auth")
        if ":" in auth_username:
            raise ValidationError("auth_username", "must not contain ':'")
        if not sec["password"]:
            raise ValidationError("password", "required for basic auth")
    elif auth == "bearer":
        if not sec["token"]:
            raise ValidationError("token", "required for bearer auth")
    elif auth in ("header", "query"):
        if not auth_name:
            raise ValidationError("auth_name", f"required for {auth} auth: the {auth} parameter's name")
        if auth == "header" and not _TOKEN.match(auth_name):
            raise ValidationError("auth_name", "not a valid header name")
        if auth == "query" and auth_name in params:
            raise ValidationError("auth_name", "is also one of params")
        if not sec["api_key"]:
            raise ValidationError("api_key", f"required for {auth} auth")
    for k, v in sec.items():
        if any(c in v for c in "\r\n"):
            raise ValidationError(k, "must be one line")

    success_path = _dotted(settings, "success_path")
    success_value = settings.get("success_value")
    if success_value is not None and not isinstance(success_value, str):
        success_value = _scalar_text(success_value)
    success_value = success_value or ""
    if success_path and not success_value:
        raise ValidationError("success_value", "required with success_path (e.g. ok, 0, true)")
    if success_value and not success_path:
        raise ValidationError("success_path", "required with success_value")
    id_path = _dotted(settings, "id_path")

    balance_url = _url(settings, "balance_url")
    balance_path = _dotted(settings, "balance_path")
    if balance_url and not balance_path:
        raise ValidationError("balance_path", "required with balance_url")
    if balance_path and not balance_url:
        raise ValidationError("balance_url", "required with balance_path")
    threshold = settings.get("balance_threshold")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
            raise ValidationError("balance_threshold", "must be a number ≥ 0")
        if not balance_url:
            raise ValidationError("balance_url", "required with balance_threshold")
        threshold = float(threshold)

    return GenericSettings(
        url=url, method=cast(Literal["GET", "POST"], method), body=cast(Literal["form", "json"], body),
        params=params, headers=headers, sender=sender, auth=auth,
        auth_username=auth_username, auth_name=auth_name, success_path=success_path,
        success_value=success_value, id_path=id_path, balance_url=balance_url, balance_path=balance_path,
        balance_threshold=threshold, password=sec["password"], token=sec["token"], api_key=sec["api_key"])


def _auth_kwargs(s: GenericSettings) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(treq keyword arguments, extra headers, extra query parameters) for ``s``'s auth."""
    if s.auth == "basic":
        return {"auth": (s.auth_username, s.password)}, {}, {}
    if s.auth == "bearer":
        return {}, {"Authorization": f"Bearer {s.token}"}, {}
    if s.auth == "header":
        return {}, {s.auth_name: s.api_key}, {}
    if s.auth == "query":
        return {}, {}, {s.auth_name: s.api_key}
    return {}, {}, {}


# -- the generic gateway: channel ------------------------------------------------------------------


class GenericSmsChannel:
    """SMS through an operator's HTTP gateway."""

    name = SMS

    def __init__(self, settings: GenericSettings, *, http: Http, reactor: Clock,
                 timeout: float = DEFAULT_TIMEOUT):
        self.settings = settings
        self._http = http
        self._reactor = reactor
        self._timeout = timeout

    def send(self, msg: Outgoing) -> defer.Deferred[Sent]:
        return defer.ensureDeferred(self._send(msg))

    def balance(self) -> defer.Deferred[float]:
        """The gateway's balance (:func:`check_balance`); BalanceError without a balance_url."""
        return check_balance(self.settings, self._http, reactor=self._reactor, timeout=self._timeout)

    async def _send(self, msg: Outgoing) -> Sent:
        s = self.settings
        values = placeholder_values(msg, s.sender)
        fields = {name: render_template(tpl, values) for name, tpl in s.params.items()}
        kwargs, headers, query = _auth_kwargs(s)
        kwargs["headers"] = {**s.headers, **headers}
        if s.method == "GET":
            kwargs["params"] = {**fields, **query}
        else:
            if query:
                kwargs["params"] = query
            if s.body == "json":
                kwargs["json"] = fields
            else:
                kwargs["data"] = fields
        reply = await _exchange(self._http, self._reactor, self._timeout, s.method, s.url, **kwargs)
        return judge_generic(s, reply)


def judge_generic(s: GenericSettings, reply: _Reply) -> Sent:
    """Whether the gateway took the message, by its HTTP status and success rule; its id."""
    if not 200 <= reply.code < 300:
        raise _status_error("gateway", reply, reply.excerpt())
    doc = reply.json() if (s.success_path or s.id_path) else _MISSING
    if s.success_path:
        if doc is _MISSING:
            raise SendError(f"gateway: HTTP {reply.code} but the answer is not JSON: {reply.excerpt()}",
                            retryable=False)
        got = json_path(doc, s.success_path)
        if got is _MISSING or _scalar_text(got) != s.success_value:
            shown = "absent" if got is _MISSING else _scalar_text(got)
            raise SendError(f"gateway refused: {s.success_path} is {shown}, not {s.success_value}: "
                            f"{reply.excerpt()}", retryable=False)
    provider_id = ""
    detail = f"HTTP {reply.code}"
    if s.id_path:
        got = json_path(doc, s.id_path) if doc is not _MISSING else _MISSING
        if got is _MISSING or got is None:
            detail += f"; no message id at {s.id_path}"
        else:
            provider_id = _scalar_text(got)
    return Sent(provider_id=provider_id, detail=detail)


class BalanceError(Exception):
    """The gateway's balance could not be read."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def check_balance(settings: GenericSettings, http: Http, *, reactor: Clock,
                  timeout: float = DEFAULT_TIMEOUT) -> defer.Deferred[float]:
    """The gateway's balance: GET ``balance_url`` (same auth), the number at ``balance_path``.

    Fails with :class:`BalanceError`; a balance given as a numeric string ("12.50") is accepted.
    """
    async def go() -> float:
        s = settings
        if not s.balance_url:
            raise BalanceError("no balance_url configured")
        kwargs, headers, query = _auth_kwargs(s)
        kwargs["headers"] = {**s.headers, **headers}
        if query:
            kwargs["params"] = query
        try:
            reply = await _exchange(http, reactor, timeout, "GET", s.balance_url, **kwargs)
        except SendError as e:
            raise BalanceError(e.detail) from e
        if not 200 <= reply.code < 300:
            raise BalanceError(f"balance: HTTP {reply.code}: {reply.excerpt()}")
        doc = reply.json()
        got = json_path(doc, s.balance_path) if doc is not _MISSING else _MISSING
        if isinstance(got, str):
            with contextlib.suppress(ValueError):
                got = float(got.replace(",", ""))
        if isinstance(got, bool) or not isinstance(got, int | float):
            raise BalanceError(f"balance: no number at {s.balance_path}: {reply.excerpt()}")
        return float(got)
    return defer.ensureDeferred(go())


def balance_low(settings: GenericSettings, balance: float) -> bool:
    """Whether ``balance`` is below the configured threshold (never, when none is set)."""
    return settings.balance_threshold is not None and balance < settings.balance_threshold


# -- Twilio: settings -----------------------------------------------------------------------------

TWILIO_KEYS = ("provider", "account_sid", "from_number", "messaging_service_sid", "whatsapp_from",
               "status_callback", "base_url", "whatsapp_templates")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
#: Twilio takes up to 100 ContentVariables pairs a request.
MAX_CONTENT_VARIABLES = 100


@dataclass(frozen=True)
class ContentTemplate:
    """A WhatsApp-approved Content template (Twilio's Content API) that one message kind is sent as:
    WhatsApp delivers only approved templates outside the 24 hours after the customer last wrote.
    ``variables`` maps each placeholder of the template ("1", "2", ...) to a Jinja expression over
    the kind's variables, e.g. ``{"1": "{{ customer.first_name }}", "2": "{{ invoice.total }}"}``."""
    content_sid: str
    variables: tuple[tuple[str, str], ...] = ()


def _content_templates(value: Any) -> dict[str, ContentTemplate]:
    """``whatsapp_templates``: {kind: {"content_sid": "HX…", "variables": {"1": "{{ … }}", …}}}, each
    placeholder's expression checked like a template of that kind (unknown variable, syntax)."""
    field_ = "whatsapp_templates"
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(field_, 'must be an object: {"invoice.issued": {"content_sid": "HX…", '
                                      '"variables": {"1": "{{ customer.first_name }}"}}}')
    out: dict[str, ContentTemplate] = {}
    for kind, spec in value.items():
        here = f"{field_}.{kind}"
        if not isinstance(kind, str) or kind not in kinds.KINDS:
            raise ValidationError(field_, f"{kind!r} is not a message kind (aaad notify template list shows them)")
        if not isinstance(spec, Mapping):
            raise ValidationError(here, "must be an object with content_sid and variables")
        extra = set(spec) - {"content_sid", "variables"}
        if extra:
            raise ValidationError(here, f"unknown key {sorted(extra)[0]!r} (content_sid, variables)")
        sid = spec.get("content_sid")
        if not isinstance(sid, str) or not _CONTENT_SID.match(sid):
            raise ValidationError(f"{here}.content_sid", "must be HX followed by 32 hexadecimal digits (the "
                                                         "Content template's SID in Twilio's console)")
        variables = spec.get("variables") or {}
        if not isinstance(variables, Mapping):
            raise ValidationError(f"{here}.variables", "must be an object of placeholder: expression")
        if len(variables) > MAX_CONTENT_VARIABLES:
            raise ValidationError(f"{here}.variables", f"at most {MAX_CONTENT_VARIABLES} placeholders")
        pairs = []
        for name, source in variables.items():
            where = f"{here}.variables.{name}"
            if not isinstance(name, str) or not name or len(name) > 64:
                raise ValidationError(f"{here}.variables", "placeholder names are 1 to 64 characters")
            if not isinstance(source, str):
                raise ValidationError(where, 'must be text, e.g. "{{ customer.first_name }}"')
            templates.check(kind, where, source)
            pairs.append((name, source))
        out[kind] = ContentTemplate(sid, tuple(pairs))
    return out


@dataclass(frozen=True)
class TwilioSettings:
    """A Twilio account for SMS and WhatsApp (see :func:`parse_twilio`)."""
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str = ""               # E.164, or an alphanumeric sender ID
    messaging_service_sid: str = ""     # MG…, used when from_number (SMS) or whatsapp_from is not set
    whatsapp_from: str = ""             # E.164 of the WhatsApp sender; sent as whatsapp:+…
    status_callback: str = ""           # the delivery-receipt URL (the lead fills it from [web] public_url)
    base_url: str = TWILIO_API
    whatsapp_templates: Mapping[str, ContentTemplate] = field(default_factory=dict)  # by message kind


def parse_twilio(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> TwilioSettings:
    """Validate Twilio settings and secrets; a bad one raises ValidationError naming it.

    Keys: ``account_sid`` (AC + 32 hex, required), ``from_number`` (E.164 or an alphanumeric
    sender ID), ``messaging_service_sid`` (MG + 32 hex), ``whatsapp_from`` (E.164),
    ``status_callback`` (URL), ``base_url`` (default https://api.twilio.com),
    ``whatsapp_templates`` (see :class:`ContentTemplate`). At least one sender. Secret:
    ``auth_token``.
    """
    if not isinstance(settings, Mapping):
        raise ValidationError("settings", "must be an object")
    _unknown(settings, TWILIO_KEYS)
    _unknown(secrets, TWILIO_SECRET_FIELDS, "secret")
    if _str(settings, "provider", default="twilio") != "twilio":
        raise ValidationError("provider", "must be twilio here")
    sid = _str(settings, "account_sid", required=True)
    if not _ACCOUNT_SID.match(sid):
        raise ValidationError("account_sid", "must be AC followed by 32 hexadecimal digits")
    token = _str(secrets, "auth_token", required=True)
    if any(c.isspace() for c in token):
        raise ValidationError("auth_token", "must not contain spaces")
    from_number = _str(settings, "from_number")
    if from_number and not (E164.match(from_number) or _ALNUM_SENDER.match(from_number)):
        raise ValidationError("from_number", "must be an E.164 number (+233…) or an alphanumeric sender ID")
    mg = _str(settings, "messaging_service_sid")
    if mg and not _SERVICE_SID.match(mg):
        raise ValidationError("messaging_service_sid", "must be MG followed by 32 hexadecimal digits")
    wa = _str(settings, "whatsapp_from")
    if wa.startswith("whatsapp:"):
        wa = wa[len("whatsapp:"):]
    if wa and not E164.match(wa):
        raise ValidationError("whatsapp_from", "must be an E.164 number (+233…)")
    if not (from_number or mg or wa):
        raise ValidationError("from_number", "a sender is required: from_number, messaging_service_sid "
                              "or whatsapp_from")
    callback = _url(settings, "status_callback")
    base = _url(settings, "base_url", default=TWILIO_API).rstrip("/")
    content = _content_templates(settings.get("whatsapp_templates"))
    return TwilioSettings(account_sid=sid, auth_token=token, from_number=from_number,
                          messaging_service_sid=mg, whatsapp_from=wa, status_callback=callback, base_url=base,
                          whatsapp_templates=content)


def parse_sms_settings(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> GenericSettings | TwilioSettings:
    """Either provider's settings, by ``provider`` (generic | twilio)."""
    provider = settings.get("provider") if isinstance(settings, Mapping) else None
    if provider == "twilio":
        return parse_twilio(settings, secrets)
    if provider == "generic":
        return parse_generic(settings, secrets)
    raise ValidationError("provider", "must be generic or twilio")


def public_settings(s: GenericSettings | TwilioSettings) -> dict[str, Any]:
    """The settings as shown to an admin: everything but the secrets, and ``has_<secret>`` for each."""
    if isinstance(s, TwilioSettings):
        return {"provider": "twilio", "account_sid": s.account_sid, "from_number": s.from_number,
                "messaging_service_sid": s.messaging_service_sid, "whatsapp_from": s.whatsapp_from,
                "status_callback": s.status_callback, "base_url": s.base_url, "has_auth_token": bool(s.auth_token),
                "whatsapp_templates": {k: {"content_sid": t.content_sid, "variables": dict(t.variables)}
                                       for k, t in s.whatsapp_templates.items()}}
    return {"provider": "generic", "url": s.url, "method": s.method, "body": s.body, "params": dict(s.params),
            "headers": dict(s.headers), "sender": s.sender, "auth": s.auth, "auth_username": s.auth_username,
            "auth_name": s.auth_name, "success_path": s.success_path, "success_value": s.success_value,
            "id_path": s.id_path, "balance_url": s.balance_url, "balance_path": s.balance_path,
            "balance_threshold": s.balance_threshold,
            **{f"has_{k}": bool(getattr(s, k)) for k in SECRET_FIELDS}}


# -- Twilio: channels ------------------------------------------------------------------------------


def idempotency_token(msg: Outgoing) -> str:
    """The same token for every attempt at one outbox row."""
    return f"aaad-{msg.channel}-{msg.org_id}-{msg.message_id}"


def messages_url(s: TwilioSettings) -> str:
    return f"{s.base_url}/{TWILIO_VERSION}/Accounts/{s.account_sid}/Messages.json"


class _TwilioChannel:
    name: str

    def __init__(self, settings: TwilioSettings, *, http: Http, reactor: Clock,
                 timeout: float = DEFAULT_TIMEOUT):
        self.settings = settings
        self._http = http
        self._reactor = reactor
        self._timeout = timeout
        self._sender()          # refuse at construction if this channel has no sender

    def _sender(self) -> dict[str, str]:
        raise NotImplementedError

    def _to(self, msg: Outgoing) -> str:
        return msg.to

    def send(self, msg: Outgoing) -> defer.Deferred[Sent]:
        return defer.ensureDeferred(self._send(msg))

    def _content(self, msg: Outgoing) -> dict[str, str]:
        return {"Body": msg.text}

    async def _send(self, msg: Outgoing) -> Sent:
        s = self.settings
        form = {"To": self._to(msg), **self._sender(), **self._content(msg)}
        if s.status_callback:
            form["StatusCallback"] = s.status_callback
        reply = await _exchange(self._http, self._reactor, self._timeout, "POST", messages_url(s),
                                data=form, auth=(s.account_sid, s.auth_token),
                                headers={IDEMPOTENCY_HEADER: idempotency_token(msg)})
        return judge_twilio(reply)


def judge_twilio(reply: _Reply) -> Sent:
    """Sent with the message SID, or SendError with Twilio's error code and message."""
    doc = reply.json()
    if 200 <= reply.code < 300:
        sid = json_path(doc, "sid") if doc is not _MISSING else _MISSING
        status = json_path(doc, "status") if doc is not _MISSING else _MISSING
        if not isinstance(sid, str) or not sid:
            return Sent(provider_id="", detail=f"HTTP {reply.code}; no sid in Twilio's answer")
        return Sent(provider_id=sid, detail=f"HTTP {reply.code} {status if isinstance(status, str) else ''}".strip())
    if isinstance(doc, dict) and "code" in doc:
        detail = f"Twilio error {doc.get('code')}: {doc.get('message', '')}"
        if doc.get("more_info"):
            detail += f" ({doc['more_info']})"
    else:
        detail = reply.excerpt()
    raise _status_error("Twilio", reply, detail)


class TwilioSmsChannel(_TwilioChannel):
    """SMS through Twilio's Messages API."""

    name = SMS

    def _sender(self) -> dict[str, str]:
        s = self.settings
        if s.from_number:
            return {"From": s.from_number}
        if s.messaging_service_sid:
            return {"MessagingServiceSid": s.messaging_service_sid}
        raise ValidationError("from_number", "SMS needs from_number or messaging_service_sid")


class TwilioWhatsAppChannel(_TwilioChannel):
    """WhatsApp through Twilio's WhatsApp sender (the same API, whatsapp: addresses)."""

    name = WHATSAPP

    def _sender(self) -> dict[str, str]:
        s = self.settings
        if s.whatsapp_from:
            return {"From": f"whatsapp:{s.whatsapp_from}"}
        if s.messaging_service_sid:
            return {"MessagingServiceSid": s.messaging_service_sid}
        raise ValidationError("whatsapp_from", "WhatsApp needs whatsapp_from or messaging_service_sid")

    def _to(self, msg: Outgoing) -> str:
        return msg.to if msg.to.startswith("whatsapp:") else f"whatsapp:{msg.to}"

    def _content(self, msg: Outgoing) -> dict[str, str]:
        """The kind's approved Content template when one is set (``ContentSid``, and
        ``ContentVariables`` rendered from the message's variables), else the text as ``Body``
        (which WhatsApp delivers only within 24 hours of the customer's last message).  A placeholder
        that renders empty is sent as "-": Twilio refuses an empty value (error 21656)."""
        t = self.settings.whatsapp_templates.get(msg.kind) if msg.kind else None
        if t is None or msg.variables is None:
            return {"Body": msg.text}
        out = {"ContentSid": t.content_sid}
        if t.variables:
            variables = dict(msg.variables)
            values = {name: templates.render_text(source, variables) or "-" for name, source in t.variables}
            out["ContentVariables"] = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        return out


def build_channel(channel: str, settings: GenericSettings | TwilioSettings, *, http: Http | None,
                  reactor: Clock, timeout: float = DEFAULT_TIMEOUT
                  ) -> GenericSmsChannel | TwilioSmsChannel | TwilioWhatsAppChannel:
    """The channel object for ``channel`` (sms | whatsapp) from parsed settings (``http`` None: treq on
    ``reactor`` with a pool of the channel's own)."""
    if http is None:
        http = TreqHttp(reactor)
    if channel == SMS:
        if isinstance(settings, GenericSettings):
            return GenericSmsChannel(settings, http=http, reactor=reactor, timeout=timeout)
        return TwilioSmsChannel(settings, http=http, reactor=reactor, timeout=timeout)
    if channel == WHATSAPP:
        if not isinstance(settings, TwilioSettings):
            raise ValidationError("provider", "WhatsApp goes through Twilio only")
        return TwilioWhatsAppChannel(settings, http=http, reactor=reactor, timeout=timeout)
    raise ValidationError("channel", f"{channel!r} is not an HTTP channel (sms, whatsapp)")


# -- Twilio: delivery receipts -------------------------------------------------------------------

#: Message statuses Twilio reports (StatusCallback's MessageStatus).
TWILIO_STATES = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "read", "accepted",
                 "scheduled", "canceled", "receiving", "received", "partially_delivered")
#: Those after which nothing more happens to a message.
FINAL_STATES = ("delivered", "undelivered", "failed", "read", "canceled")

#: Twilio's documented meaning of the messaging error codes a receipt most often carries.
TWILIO_ERRORS = {
    30001: "Queue overflow", 30002: "Account suspended", 30003: "Unreachable destination handset",
    30004: "Message blocked", 30005: "Unknown destination handset", 30006: "Landline or unreachable carrier",
    30007: "Message filtered (carrier violation)", 30008: "Unknown error", 30009: "Missing segment",
    30010: "Message price exceeds max price", 63016: "WhatsApp: outside the 24-hour window, use a template",
}


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: what became of a message the provider accepted."""
    provider_id: str
    state: str
    error_code: int | None = None
    error_message: str | None = None


ParamValues = Mapping[str, str] | Mapping[str, list[str]] | Mapping[str, str | list[str]]


def _param_items(params: ParamValues | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        out: list[tuple[str, str]] = []
        for k, v in params.items():
            out.extend((k, x) for x in ([v] if isinstance(v, str) else v))
        return out
    return list(params)


def twilio_signature(auth_token: str, url: str, params: ParamValues | Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature of a request: base64(HMAC-SHA1(token, URL + each name+value, sorted by name)).

    A name given several times contributes each of its values, sorted (as Twilio's libraries do).
    """
    data = url + "".join(k + v for k, v in sorted(_param_items(params)))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def _with_and_without_port(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.port is not None:
        return [url, parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]).geturl()]
    default = 443 if parts.scheme == "https" else 80
    return [url, parts._replace(netloc=f"{parts.netloc}:{default}").geturl()]


def valid_twilio_signature(auth_token: str, url: str, params: ParamValues | Iterable[tuple[str, str]],
                           signature: str) -> bool:
    """Whether ``signature`` is Twilio's for this request (constant-time; with or without the default port)."""
    if not signature:
        return False
    items = _param_items(params)
    return any(hmac.compare_digest(twilio_signature(auth_token, u, items).encode(), signature.encode())
               for u in _with_and_without_port(url))


def twilio_receipt(auth_token: str, url: str, form: Mapping[str, str], signature: str) -> Receipt:
    """A status callback checked and read: ``url`` is the callback URL exactly as configured (``status_callback``:
    behind a proxy the request's own URL may differ); ValidationError on a bad signature or form."""
    if not valid_twilio_signature(auth_token, url, form, signature):
        raise ValidationError(SIGNATURE_HEADER, "does not match the request")
    return parse_twilio_status(form)


def parse_twilio_status(form: Mapping[str, str]) -> Receipt:
    """A StatusCallback's form as a :class:`Receipt`; ValidationError when it is not one."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not re.match(r"^(SM|MM)[0-9a-fA-F]{32}$", sid):
        raise ValidationError("MessageSid", "missing or not a message SID")
    state = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if state not in TWILIO_STATES:
        raise ValidationError("MessageStatus", f"unknown status {state!r}")
    code: int | None = None
    raw = form.get("ErrorCode") or ""
    if raw:
        if not raw.isdigit():
            raise ValidationError("ErrorCode", "must be a number")
        code = int(raw)
    message = form.get("ErrorMessage") or (TWILIO_ERRORS.get(code, f"Twilio error {code}") if code else None)
    return Receipt(provider_id=sid, state=state, error_code=code, error_message=message)

