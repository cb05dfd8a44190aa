"""A real SMTP server on loopback (aiosmtpd) for the email channel's tests and the end-to-end tests.

``with SmtpServer(...) as smtp:`` listens on 127.0.0.1, port 0 (see ``smtp.port``), in a thread running
its own asyncio loop, so an in-process client, a client in a subprocess and a daemon subprocess can all
talk to it. Every message accepted is recorded in ``smtp.messages`` (:class:`Received`: envelope, the raw
bytes as received, whether the session was TLS and who authenticated; ``.parsed()``); every MAIL FROM in
``smtp.mail_from`` (so a test can tell nothing was sent, not even the envelope). ``smtp.wait_for(n)``
waits for a daemon that sends on its own time; ``smtp.settings()`` gives the (settings, secrets) dicts
of ``billing.notify.email.parse_settings`` that reach this server.

What it offers:

- ``tls``: ``"starttls"`` (the default: STARTTLS offered), ``"implicit"`` (TLS from the first byte, like
  port 465) or ``"none"`` (plain, no STARTTLS in EHLO); a throw-away self-signed certificate for
  ``localhost`` and ``127.0.0.1`` is made in a temporary directory: ``smtp.cert_path`` is what the client
  trusts (``ca_file``).
- ``users``: ``{name: password}`` enables AUTH (only after TLS; required before MAIL) with the
  ``mechanisms`` given (PLAIN and LOGIN by default); a wrong password gets 535.
- failure modes: ``reject`` (recipients answered ``550 5.1.1``), ``defer`` (recipients answered
  ``451 4.3.0``), ``data_reply`` (the answer to the message's end, e.g. ``"554 5.7.1 spam"``), ``delay``
  (seconds before answering the message's end: a slow server), ``silent`` (accepts TCP, never says a word).
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import email
import email.policy
import ipaddress
import logging
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
# aiosmtpd logs each session at INFO and warns about its own use of a deprecated attribute (login_data)
logging.getLogger("mail.log").setLevel(logging.ERROR)


def make_certificate(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate (and key) for ``name`` and 127.0.0.1 in ``directory``: (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _dt.datetime.now(_dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name),
                                                        x509.IPAddress(ipaddress.ip_address(HOST))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Received:
    """One message the server accepted."""
    mail_from: str
    rcpt_tos: list[str]
    data: bytes                      # as received (CRLF line ends, dots un-stuffed)
    tls: bool                        # the session was encrypted when the message came
    login: str | None                # the authenticated user, if any
    peer: Any = None
    helo: str = ""                   # the name the client gave in EHLO/HELO

    def parsed(self) -> EmailMessage:
        """The message parsed by the standard library (``email.policy.default``)."""
        m = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(m, EmailMessage)
        return m


@dataclass
class _Handler:
    server: SmtpServer
    mail_from: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, mail_options: list[str]) -> str:
        self.server.mail_from.append((address, _is_tls(server)))
        if self.server.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.server.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.server.reject:
            return "550 5.1.1 No such user here"
        if address in self.server.defer:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        if self.server.data_reply:
            return self.server.data_reply
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        with self.server._arrived:
            self.server.messages.append(Received(
                mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos), data=raw,
                tls=_is_tls(server), login=login.decode() if isinstance(login, bytes) else login,
                peer=session.peer, helo=session.host_name or ""))
            self.server._arrived.notify_all()
            return f"250 2.0.0 Ok: queued as Q{len(self.server.messages)}"


def _is_tls(server: SMTP) -> bool:
    return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None


class SmtpServer:
    """See the module docstring."""

    def __init__(self, *, tls: str = "starttls", users: dict[str, str] | None = None,
                 mechanisms: Iterable[str] = ("PLAIN", "LOGIN"), reject: Iterable[str] = (),
                 defer: Iterable[str] = (), data_reply: str = "", delay: float = 0.0, silent: bool = False,
                 hostname: str = "smtp.test"):
        assert tls in ("starttls", "implicit", "none")
        self.tls = tls
        self.users = dict(users or {})
        self.mechanisms = tuple(mechanisms)
        self.reject = set(reject)
        self.defer = set(defer)
        self.data_reply = data_reply
        self.delay = delay
        self.silent = silent
        self.hostname = hostname
        self.messages: list[Received] = []
        self.mail_from: list[tuple[str, bool]] = []
        self.auth_attempts: list[tuple[str, str, bool]] = []     # (mechanism, login, accepted)
        self.connections = 0
        self.quits = 0                   # QUITs received (a client closing politely)
        self.port = 0
        self._arrived = threading.Condition()
        self._dir = Path(tempfile.mkdtemp(prefix="aaad-smtp-"))
        self.cert_path, self.key_path = make_certificate(self._dir)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="smtp-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the SMTP server did not start")

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
            self._loop = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        self._server = loop.run_until_complete(loop.create_server(
            self._protocol, host=HOST, port=0, ssl=ctx if self.tls == "implicit" else None))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _protocol(self) -> asyncio.Protocol:
        self.connections += 1
        if self.silent:
            return asyncio.Protocol()          # reads and drops everything, never answers
        ctx = None
        if self.tls == "starttls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert_path, self.key_path)
        kw: dict[str, Any] = {}
        if self.users:
            # AUTH only after TLS (aiosmtpd's check counts only STARTTLS, so not for implicit TLS, which is
            # TLS all along); AUTH before MAIL is checked by the handler.
            kw = {"authenticator": self._authenticate, "auth_require_tls": self.tls != "implicit",
                  "auth_exclude_mechanism": [m for m in ("PLAIN", "LOGIN") if m not in self.mechanisms]}
        return SMTP(_Handler(self), hostname=self.hostname, tls_context=ctx, require_starttls=False,
                    loop=self._loop, **kw)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = login in self.users and self.users[login] == password
        self.auth_attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, auth_data=auth_data if ok else None, handled=False)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        """The messages once at least ``n`` arrived (for a daemon that sends on its own time); AssertionError
        after ``timeout`` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= n, timeout):
                raise AssertionError(f"{len(self.messages)} of {n} messages arrived in {timeout} s")
            return list(self.messages)

    # -- what a client would see --

    def settings(self, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(settings, secrets) for billing.notify.email.parse_settings reaching this server (first user)."""
        security = {"starttls": "starttls", "implicit": "tls", "none": "none"}[self.tls]
        s: dict[str, Any] = {"host": HOST, "port": self.port, "security": security,
                             "from_address": "billing@isp.example", "ca_file": str(self.cert_path),
                             "timeout": 5}
        secrets: dict[str, Any] = {}
        if self.users:
            user, password = next(iter(self.users.items()))
            s["username"] = user
            secrets["password"] = password
        s.update(overrides)
        if "password" in s:
            secrets["password"] = s.pop("password")
        return s, secrets
