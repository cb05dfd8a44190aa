"""The email channel: an org's messages over SMTP with Twisted's mail client.

Settings (a non-secret JSON dict plus the secret ``password``) are parsed once
into :class:`SmtpSettings`; :func:`build_message` renders an :class:`Outgoing`
into RFC 5322 bytes (text and HTML as multipart/alternative, attachments as
multipart/mixed, every part 7-bit safe); :class:`EmailChannel` hands them to
the org's submission server.

Security is never downgraded: ``starttls`` refuses to go on when the server
does not offer STARTTLS (nothing is sent in clear), ``tls`` speaks TLS from
the first byte (port 465), and authentication is only allowed over one of
those. Certificates are verified against the system's roots, or ``ca_file``
(a PEM bundle, for a LAN server with a private CA), with the host name checked.

The Message-ID is ``<aaad.{org}.{outbox id}@{from domain}>``: the same message
sent again after a crash carries the same Message-ID, the only idempotency key
SMTP has (receivers and archives drop duplicates by it; SMTP itself cannot
promise that a message accepted before a crash is not delivered twice).

Which failures are worth retrying (:class:`SendError.retryable`):

- retryable: connection refused or reset, no answer within ``timeout``, a TLS
  handshake that fails (a certificate may be renewed or fixed on the server),
  any 4xx reply (451 local error, 421 too busy, 454 temporary auth failure),
  a garbled reply;
- not retryable: any 5xx reply (550 recipient refused, 535 bad credentials,
  552 too big, 554 rejected), a server without STARTTLS when ``starttls`` is
  required, a server offering no AUTH mechanism we speak when a username is
  set, and a message that cannot be built (a bad recipient address).
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from twisted.internet import defer, ssl
from twisted.mail import smtp
from twisted.python.failure import Failure

from aaad.errors import ValidationError
from billing.notify.channels import EMAIL, Outgoing, SendError, Sent

SECURITIES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SECRET_FIELDS = ("password",)
SETTINGS_FIELDS = ("host", "port", "security", "username", "from_address", "reply_to", "timeout",
                   "verify_tls", "ca_file", "helo_name", "keep_open")
MAX_TIMEOUT = 600.0
#: Most seconds a connection may wait for the next message (RFC 5321 servers wait 5 minutes).
MAX_KEEP_OPEN = 120.0

# Every part 7-bit clean (quoted-printable or base64 where needed), CRLF line ends: the message passes
# any relay, 8BITMIME or not.
POLICY = email_policy.SMTP.clone(cte_type="7bit")

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


@dataclass(frozen=True)
class SmtpSettings:
    """One org's SMTP submission settings (see the module docstring and :func:`parse_settings`)."""

    host: str
    from_address: str
    security: str = "starttls"           # starttls | tls | none
    port: int = 587
    username: str = ""                    # "" = no AUTH
    password: str = field(default="", repr=False)
    reply_to: str | None = None
    timeout: float = 30.0                 # seconds to connect, and for each server reply
    verify_tls: bool = True
    ca_file: str | None = None            # PEM bundle trusted instead of the system's roots
    helo_name: str = ""                   # the name in EHLO; "" = this machine's FQDN
    keep_open: float = 5.0                # seconds a connection waits for the next message (0: one per message)

    @property
    def domain(self) -> str:
        """The From address's domain (ASCII): the right-hand side of our Message-IDs."""
        return _ascii_domain(self.from_address.rpartition("@")[2])


# -- settings ---------------------------------------------------------------------------


def parse_settings(settings: dict[str, Any], secrets: dict[str, Any]) -> SmtpSettings:
    """Validate the stored settings and secrets into :class:`SmtpSettings`; ValidationError names the bad key."""
    for key in settings:
        if key not in SETTINGS_FIELDS:
            raise ValidationError(key, "unknown email setting" + (" (a secret)" if key in SECRET_FIELDS else ""))
    for key in secrets:
        if key not in SECRET_FIELDS:
            raise ValidationError(key, "unknown email secret")

    security = settings.get("security", "starttls")
    if security not in SECURITIES:
        raise ValidationError("security", f"must be one of {', '.join(SECURITIES)}")

    host = settings.get("host")
    if not isinstance(host, str) or not host:
        raise ValidationError("host", "required: the SMTP server's host name or address")
    if not _valid_host(host):
        raise ValidationError("host", f"not a host name or address: {host!r}")

    port = settings.get("port")
    if port is None:
        port = DEFAULT_PORTS[security]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationError("port", "must be a whole number from 1 to 65535")

    username = settings.get("username", "")
    if username is None:
        username = ""
    if not isinstance(username, str) or _has_control(username):
        raise ValidationError("username", "must be text on one line")
    password = secrets.get("password", "")
    if password is None:
        password = ""
    if not isinstance(password, str) or _has_control(password):
        raise ValidationError("password", "must be text on one line")
    if username and not password:
        raise ValidationError("password", "required when a username is set")
    if username and security == "none":
        raise ValidationError("security", "authentication needs starttls or tls (the password would go in clear)")

    from_address = settings.get("from_address")
    if not isinstance(from_address, str) or not from_address:
        raise ValidationError("from_address", "required: the address messages are sent from")
    from_address = _checked_address("from_address", from_address)

    reply_to = settings.get("reply_to") or None
    if reply_to is not None:
        if not isinstance(reply_to, str):
            raise ValidationError("reply_to", "must be an email address")
        reply_to = _checked_address("reply_to", reply_to)

    timeout = settings.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) \
            or not 0 < timeout <= MAX_TIMEOUT:
        raise ValidationError("timeout", f"must be a number of seconds above 0, at most {MAX_TIMEOUT:g}")

    verify_tls = settings.get("verify_tls", True)
    if not isinstance(verify_tls, bool):
        raise ValidationError("verify_tls", "must be true or false")

    ca_file = settings.get("ca_file") or None
    if ca_file is not None:
        if not isinstance(ca_file, str):
            raise ValidationError("ca_file", "must be a path")
        _load_ca_file(ca_file)

    helo_name = settings.get("helo_name") or ""
    if not isinstance(helo_name, str) or (helo_name and not _valid_host(helo_name)):
        raise ValidationError("helo_name", "must be a host name")

    keep_open = settings.get("keep_open", 5.0)
    if isinstance(keep_open, bool) or not isinstance(keep_open, int | float) or not math.isfinite(keep_open) \
            or not 0 <= keep_open <= MAX_KEEP_OPEN:
        raise ValidationError("keep_open", f"must be a number of seconds from 0 (a connection per message) to "
                                           f"{MAX_KEEP_OPEN:g}")

    return SmtpSettings(host=host, port=port, security=security, username=username, password=password,
                        from_address=from_address, reply_to=reply_to, timeout=float(timeout),
                        verify_tls=verify_tls, ca_file=ca_file, helo_name=helo_name, keep_open=float(keep_open))


def public_settings(s: SmtpSettings) -> dict[str, Any]:
    """What the API may show: every setting but the secrets, and whether a password is set."""
    return {"host": s.host, "port": s.port, "security": s.security, "username": s.username,
            "from_address": s.from_address, "reply_to": s.reply_to, "timeout": s.timeout,
            "verify_tls": s.verify_tls, "ca_file": s.ca_file, "helo_name": s.helo_name, "keep_open": s.keep_open,
            "has_password": bool(s.password)}


def _has_control(s: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in s)


def _valid_host(host: str) -> bool:
    if len(host) > 253 or _has_control(host):
        return False
    if ":" in host:                       # an IPv6 literal
        return re.fullmatch(r"[0-9A-Fa-f:.]+", host) is not None
    try:
        ascii_host = _ascii_domain(host)
    except ValueError:
        return False
    return all(_HOST_LABEL.match(label) for label in ascii_host.rstrip(".").split("."))


def _ascii_domain(domain: str) -> str:
    """The domain in ASCII (IDNA for an internationalised one); ValueError if it has none."""
    if domain.isascii():
        return domain.lower()
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError as e:
        raise ValueError(f"not a domain: {domain!r}") from e


def smtp_address(address: str) -> str:
    """``address`` checked and in the ASCII form SMTP's envelope takes; ValueError says what is wrong.

    The local part must be ASCII (SMTPUTF8 is not spoken); the domain may be internationalised.
    """
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    if not _LOCAL_PART.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError(f"not an email address (or not ASCII before the @): {address!r}")
    if not _valid_host(domain) or ":" in domain:
        raise ValueError(f"not an email address (bad domain): {address!r}")
    return f"{local}@{_ascii_domain(domain)}"


def _checked_address(name: str, address: str) -> str:
    try:
        return smtp_address(address)
    except ValueError as e:
        raise ValidationError(name, str(e)) from None


def _load_ca_file(path: str) -> list[ssl.Certificate]:
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise ValidationError("ca_file", f"cannot read {path}: {e.strerror or e}") from None
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValidationError("ca_file", f"no PEM certificates in {path}") from None
    return [ssl.Certificate.loadPEM(c.public_bytes(Encoding.PEM)) for c in certs]


# -- the message ------------------------------------------------------------------------


def message_id(org_id: int, outbox_id: int, domain: str) -> str:
    """The Message-ID of an outbox message: the same on every attempt, so a resend is recognisable."""
    return f"<aaad.{org_id}.{outbox_id}@{domain}>"


def build_message(settings: SmtpSettings, msg: Outgoing, *, domain: str, now: float) -> tuple[str, bytes]:
    """(Message-ID, the RFC 5322 bytes with CRLF line ends) of ``msg``; ValueError for a bad header value.

    ``now`` (seconds since the epoch) is the Date; ``domain`` the Message-ID's right-hand side.
    """
    mid = message_id(msg.org_id, msg.message_id, domain)
    m = EmailMessage(policy=POLICY)
    m["From"] = Address(display_name=msg.from_name, addr_spec=settings.from_address)
    m["To"] = Address(addr_spec=smtp_address(msg.to))
    if settings.reply_to:
        m["Reply-To"] = Address(addr_spec=settings.reply_to)
    m["Subject"] = msg.subject
    m["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    m["Message-ID"] = mid
    m["Auto-Submitted"] = "auto-generated"
    m.set_content(msg.text, subtype="plain", charset="utf-8")
    if msg.html is not None:
        m.add_alternative(msg.html, subtype="html", charset="utf-8")
    for a in msg.attachments:
        maintype, slash, subtype = a.content_type.partition("/")
        if not slash or not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        m.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return mid, m.as_bytes(policy=POLICY)


# -- sending ----------------------------------------------------------------------------


@dataclass(eq=False)
class _Job:
    """One message on its way: what the server is told, and who waits for the outcome."""
    body: bytes                         # LF line ends: Twisted's client writes CRLF and dot-stuffs
    rcpt: str
    result: defer.Deferred[Any]         # fired by Twisted's sender mixin: (numOk, addresses) or a failure
    reply: tuple[int, bytes] = (0, b"")
    proto: _Sender | None = None        # the connection carrying it, once it started


class _Sender(smtp.ESMTPSender):
    """Twisted's sender, speaking PLAIN then LOGIN (no CRAM-MD5) and keeping the DATA reply, and sending
    one message after another over its connection.

    From the moment a message's outcome is known the connection is available to the channel (the next
    send, made from that outcome's callbacks, finds it); after the RSET Twisted's client sends, it takes
    the message handed over, or waits ``keep_open`` seconds for one before QUIT."""

    _idle_call: Any = None              # set while parked: between messages, after the RSET, waiting for one

    def _registerAuthenticators(self) -> None:
        self.registerAuthenticator(smtp.PLAINAuthenticator(self.username))  # type: ignore[no-untyped-call]
        self.registerAuthenticator(smtp.LOGINAuthenticator(self.username))  # type: ignore[no-untyped-call]

    def sentMail(self, code: int, resp: bytes, numOk: int, addresses: Any, log: Any) -> None:  # noqa: N803
        f = cast(_SenderFactory, self.factory)
        if f.job is not None:
            f.job.reply = (code, resp)
        f.job = None
        if f.channel.settings.keep_open > 0 and self not in f.channel._idle:
            f.channel._idle.append(self)    # before the outcome's callbacks: the next send may come from them
        super().sentMail(code, resp, numOk, addresses, log)  # type: ignore[no-untyped-call]
        # Until the next message: a late error (a timeout on RSET or QUIT) goes nowhere, not to a
        # Deferred that already fired.
        f.result = defer.Deferred()
        f.result.addErrback(lambda _: None)

    def smtpState_from(self, code: int, resp: bytes) -> None:  # noqa: N802
        f = cast(_SenderFactory, self.factory)
        self._cancel_idle()
        job, f.pending = f.pending, None
        if job is None:
            keep_open = f.channel.settings.keep_open
            if keep_open > 0 and self.transport is not None and self.transport.connected:
                self.setTimeout(None)   # type: ignore[no-untyped-call]
                self._idle_call = f.channel.reactor.callLater(keep_open, self._idle_over)
                if self not in f.channel._idle:
                    f.channel._idle.append(self)
                return
            self._forget()
            super().smtpState_from(code, resp)  # type: ignore[no-untyped-call]   # no message: QUIT
            return
        self._forget()
        job.proto = self
        f.job = job
        # as Twisted's factory keeps them: the From an Address, the recipients ASCII bytes
        f.fromEmail = smtp.Address(f.channel.settings.from_address)  # type: ignore[no-untyped-call]
        f.toEmail, f.file, f.result = [job.rcpt.encode("ascii")], io.BytesIO(job.body), job.result
        f.sendFinished = False
        self.done = 0               # the sender mixin's "this connection's message was taken"
        super().smtpState_from(code, resp)  # type: ignore[no-untyped-call]

    def take(self, job: _Job) -> None:
        """Send ``job`` next over this connection: now if it waits, else after the RSET's reply."""
        self._forget()
        f = cast(_SenderFactory, self.factory)
        f.pending = job
        job.proto = self
        if self._idle_call is not None:   # parked: start it now
            self.setTimeout(self.timeout)   # type: ignore[no-untyped-call]
            self.smtpState_from(250, b"")

    def _idle_over(self) -> None:
        self._idle_call = None
        self._forget()
        self.setTimeout(self.timeout)   # type: ignore[no-untyped-call]
        self._disconnectFromServer()  # type: ignore[no-untyped-call]   # QUIT

    def _cancel_idle(self) -> None:
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None

    def _forget(self) -> None:
        idle = cast(_SenderFactory, self.factory).channel._idle
        if self in idle:
            idle.remove(self)

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        self._cancel_idle()
        self._forget()
        f = cast(_SenderFactory, self.factory)
        job, f.pending = f.pending, None
        super().connectionLost(reason)  # type: ignore[no-untyped-call]
        # Handed over to this connection and never started (the server went away between messages); the
        # first message of a connection is the factory's, which reports why the connection failed.
        if job is not None and not job.result.called and job.result is not getattr(f, "result", None):
            job.result.errback(smtp.SMTPConnectError(  # type: ignore[no-untyped-call]
                -1, b"the connection closed before the message was sent"))


class _SenderFactory(smtp.ESMTPSenderFactory):
    protocol = _Sender
    job: _Job | None = None             # the message being sent
    pending: _Job | None = None         # the message to send next

    def __init__(self, channel: EmailChannel, first: _Job, **kw: Any):
        s = channel.settings
        super().__init__(  # type: ignore[no-untyped-call]
            s.username.encode("utf-8") if s.username else b"", s.password.encode("utf-8") if s.username else None,
            s.from_address, [first.rcpt], io.BytesIO(first.body), first.result, **kw)
        self.channel = channel
        self.pending = first


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    return " ".join(b.split())


def classify(f: Failure) -> SendError:
    """The :class:`SendError` for a failed send: 4xx and network trouble retryable, 5xx not (module docstring).

    Details carry the server's reply, never the session log (it holds the AUTH exchange).
    """
    exc = f.value
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, smtp.TLSRequiredError):
        return SendError("the server does not offer STARTTLS; not sending in clear", retryable=False)
    if isinstance(exc, smtp.AUTHRequiredError):
        return SendError("the server offers no AUTH mechanism we speak (PLAIN, LOGIN)", retryable=False)
    if isinstance(exc, smtp.EHLORequiredError):
        return SendError("the server does not speak ESMTP (needed for TLS and AUTH)", retryable=False)
    if isinstance(exc, smtp.SMTPTimeoutError):
        return SendError("timeout waiting for the SMTP server", retryable=True)
    if isinstance(exc, smtp.SMTPClientError):
        code = exc.code
        what = {smtp.AUTHDeclinedError: "authentication refused",
                smtp.AuthenticationError: "authentication failed",
                smtp.TLSError: "STARTTLS failed",
                smtp.SMTPProtocolError: "bad reply from the SMTP server"}.get(type(exc), "")
        reply = _text(exc.resp)
        if isinstance(exc, smtp.SMTPDeliveryError) and isinstance(exc.addresses, list):
            refused = [(a, c, r) for a, c, r in exc.addresses if c not in smtp.SUCCESS]
            if refused:                   # RCPT refused: its code decides (the last code may be a DATA's)
                a, code, r = refused[0]
                what, reply = f"recipient {_text(a)} refused", _text(r)
        elif isinstance(exc, smtp.SMTPConnectError) and code < 0:
            cause = exc.__cause__
            if cause is not None and type(cause).__module__.startswith("OpenSSL"):
                return SendError(f"TLS handshake failed: {_text(str(cause))}", retryable=True)
            what = "cannot connect"
        detail = ": ".join(x for x in (what, f"{code} {reply}" if code > 0 else reply) if x)
        return SendError(detail or type(exc).__name__, retryable=not 500 <= code < 600)
    return SendError(f"{type(exc).__name__}: {exc}", retryable=True)


class EmailChannel:
    """One org's email channel: :meth:`send` submits a message to its SMTP server, once per call.

    A connection whose message is done waits ``keep_open`` seconds for the next one (after an RSET),
    so a burst (a day's invoices, the reminders) pays for the TCP and TLS handshakes and the AUTH
    once per connection, not once per message; sends that overlap open connections of their own.
    Twisted's own retries are off (the outbox decides when to try again); the Deferred may be
    cancelled, which drops the connection carrying it.
    """

    name = EMAIL

    def __init__(self, reactor: Any, settings: SmtpSettings):
        self.reactor = reactor
        self.settings = settings
        self._tls: Any = None
        if settings.security != "none":
            self._tls = _tls_options(settings)
        self._idle: list[_Sender] = []       # connected, between messages, waiting for one
        self.connections = 0                 # opened, since start (reuse shows as fewer than messages)

    def send(self, msg: Outgoing) -> defer.Deferred[Sent]:
        """Submit ``msg``: Sent(provider_id=Message-ID, detail=the DATA reply) or SendError."""
        s = self.settings
        try:
            mid, raw = build_message(s, msg, domain=s.domain, now=self.reactor.seconds())
            rcpt = smtp_address(msg.to)
        except ValueError as e:
            return defer.fail(SendError(f"cannot build the message: {e}", retryable=False))

        connector: list[Any] = []          # IConnector, for a new connection
        # Twisted's client turns LF into CRLF (and dot-stuffs) on the wire itself.
        job = _Job(raw.replace(b"\r\n", b"\n"), rcpt, defer.Deferred())

        def cancel(_: object) -> None:
            if job.proto is not None and job.proto.transport is not None:
                cast(Any, job.proto.transport).loseConnection()
            elif connector:
                connector[0].disconnect()
        outer: defer.Deferred[Sent] = defer.Deferred(cancel)

        def done(_: object) -> None:
            if not outer.called:
                code, resp = job.reply
                outer.callback(Sent(provider_id=mid, detail=f"{code} {_text(resp)}".strip()))

        def failed(f: Failure) -> None:
            if not outer.called:
                outer.errback(classify(f))

        job.result.addCallbacks(done, failed)
        if self._idle:
            self._idle.pop().take(job)
            return outer
        factory = _SenderFactory(
            self, job, retries=0, timeout=s.timeout, contextFactory=self._tls,
            heloFallback=s.security == "none" and not s.username, requireAuthentication=bool(s.username),
            requireTransportSecurity=s.security != "none")
        if s.helo_name:
            factory.domain = s.helo_name.encode("ascii")
        self.connections += 1
        if s.security == "tls":
            connector.append(self.reactor.connectSSL(s.host, s.port, factory, self._tls, timeout=s.timeout))
        else:
            connector.append(self.reactor.connectTCP(s.host, s.port, factory, timeout=s.timeout))
        return outer


def _tls_options(s: SmtpSettings) -> Any:
    """Client TLS options: the server's certificate verified for ``host`` unless ``verify_tls`` is off."""
    if not s.verify_tls:
        return ssl.CertificateOptions(verify=False)
    trust: Any = ssl.platformTrust()  # type: ignore[no-untyped-call]
    if s.ca_file:
        trust = ssl.trustRootFromCertificates(_load_ca_file(s.ca_file))  # type: ignore[no-untyped-call]
    return ssl.optionsForClientTLS(s.host, trustRoot=trust)
