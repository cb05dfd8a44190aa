"""The MikroTik RouterOS API, over librouteros, off the reactor.

librouteros blocks, so every call runs on a thread: in the daemon on the
:class:`RouterPool`'s own Twisted ThreadPool (never the database pool, never
the reactor), from the CLI directly.  Both paths run the same functions
(:func:`call`, :func:`check_status`, :func:`remove_active`, :func:`apply`),
each opening one connection with a connect timeout, a read timeout on every
socket operation and a deadline for the whole call, logging in with the
post-6.43 plain login, doing its work and closing.

The pool serialises calls per router (host, port): a dead router holds at
most one thread at a time, its further calls wait in a bounded queue
(``max_queued``; beyond it a call fails at once with ``busy``), and when a
call finds it unreachable or times out, the calls queued behind it fail at
once with the same kind instead of each waiting out its own timeout.
"""
from __future__ import annotations

import functools
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from librouteros.api import Api
from librouteros.exceptions import ConnectionClosed, FatalError, LibRouterosError, TrapError
from librouteros.login import plain
from librouteros.protocol import ApiProtocol
from twisted.internet import defer
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from aaad.nas import Nas
from aaad.view.model import Profile
from enforcement.provision import ApplyResult, Plan, apply_steps, profile_steps

T = TypeVar("T")
log = Logger()

API_PORT, API_TLS_PORT = 8728, 8729

# RouterError kinds
UNREACHABLE = "unreachable"   # connect refused or timed out, no route
TIMEOUT = "timeout"           # connected, but an answer did not come in time
LOGIN = "login"               # the router refused the credentials
REFUSED = "refused"           # the router refused a command (!trap)
CLOSED = "closed"             # the router closed the connection
TLS = "tls"                   # the TLS handshake failed
PROTOCOL = "protocol"         # not a RouterOS API answer
BUSY = "busy"                 # too many calls already queued for this router
#: Kinds after which the calls queued behind fail at once.
DEAD_KINDS = frozenset({UNREACHABLE, TIMEOUT})


class RouterError(Exception):
    """A RouterOS API call that did not complete; ``kind`` is one of the constants above."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class RouterAccess:
    """How to reach one router's API. ``timeout`` overrides the read timeout for it."""
    host: str
    port: int = API_PORT
    username: str = "admin"
    password: str = field(default="", repr=False)
    tls: bool = False
    timeout: float | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.port)

    @classmethod
    def from_nas(cls, nas: Nas, timeout: float | None = None) -> RouterAccess | None:
        """The API access of a NAS, or None if it has no API credentials."""
        if not nas.api_username:
            return None
        host = nas.api_host or nas.address.split("/")[0]
        port = nas.api_port or (API_TLS_PORT if nas.api_tls else API_PORT)
        password = nas.api_password.decode() if nas.api_password else ""
        return cls(host, port, nas.api_username, password, nas.api_tls, timeout)


@dataclass(frozen=True)
class Timeouts:
    """Seconds: to connect, for each read or write, and for the whole call."""
    connect: float = 5.0
    read: float = 10.0
    call: float = 60.0


@dataclass(frozen=True)
class RouterStatus:
    """What a status check found; plain values, ready to be stored as a row."""
    reachable: bool
    version: str | None = None
    board: str | None = None
    identity: str | None = None
    uptime: str | None = None
    error: str | None = None
    error_kind: str | None = None
    checked_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checked_at"] = self.checked_at.isoformat() if self.checked_at else None
        return d


def client_tls_context() -> ssl.SSLContext:
    """TLS for api-ssl: encrypted, not verified (RouterOS certificates are self-signed
    as a rule; give RouterPool a verifying context where they are not)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# -- one call, synchronous (a pool thread or the CLI) ---------------------------------


class _Sockets:
    """Sockets of calls in flight, so stopping the pool can cut them short."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()

    def add(self, s: socket.socket) -> None:
        with self._lock:
            self._socks.add(s)

    def discard(self, s: socket.socket) -> None:
        with self._lock:
            self._socks.discard(s)

    def shutdown_all(self) -> None:
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class _DeadlineTransport:
    """A socket transport for librouteros's ApiProtocol with a per-operation timeout
    and a deadline for the whole call."""

    def __init__(self, sock: socket.socket, read_timeout: float, deadline: float):
        self.sock = sock
        self._read_timeout = read_timeout
        self._deadline = deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call took longer than its deadline")
        self.sock.settimeout(min(self._read_timeout, left))

    def write(self, data: bytes) -> None:
        self._arm()
        self.sock.sendall(data)

    def read(self, length: int) -> bytes:
        data = bytearray()
        while len(data) < length:
            self._arm()
            got = self.sock.recv(length - len(data))
            if not got:
                raise ConnectionClosed("connection closed by the router")
            data += got
        return bytes(data)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def session(access: RouterAccess, timeouts: Timeouts, tls_context: ssl.SSLContext | None = None,
            sockets: _Sockets | None = None) -> Iterator[Api]:
    """A logged-in librouteros ``Api``, closed on exit; failures raise RouterError."""
    read_timeout = access.timeout if access.timeout is not None else timeouts.read
    deadline = time.monotonic() + timeouts.call
    try:
        sock = socket.create_connection((access.host, access.port), timeout=timeouts.connect)
    except TimeoutError:
        raise RouterError(UNREACHABLE, f"{access.host}:{access.port}: connect timed out") from None
    except OSError as e:
        raise RouterError(UNREACHABLE, f"{access.host}:{access.port}: {e.strerror or e}") from None
    raw = sock
    if sockets is not None:
        sockets.add(raw)
    try:
        with _errors(access, "login"):
            sock.settimeout(read_timeout)
            if access.tls:
                sock = (tls_context or client_tls_context()).wrap_socket(sock)
            api = Api(protocol=ApiProtocol(transport=_DeadlineTransport(sock, read_timeout, deadline),
                                           encoding="utf-8"))
            try:
                plain(api, access.username, access.password)
            except (TrapError, FatalError) as e:
                raise RouterError(LOGIN, f"{access.host}:{access.port}: login refused: {e}") from None
        with _errors(access, "call"):
            yield api
    finally:
        if sockets is not None:
            sockets.discard(raw)
        for s in (sock, raw):
            with suppress(OSError):
                s.close()


@contextmanager
def _errors(access: RouterAccess, phase: str) -> Iterator[None]:
    where = f"{access.host}:{access.port}"
    try:
        yield
    except RouterError:
        raise
    except TimeoutError:
        raise RouterError(TIMEOUT, f"{where}: no answer in time ({phase})") from None
    except TrapError as e:
        raise RouterError(REFUSED, f"{where}: {e}") from None
    except (ConnectionClosed, ConnectionError) as e:
        raise RouterError(CLOSED, f"{where}: connection closed ({phase}): {e}") from None
    except ssl.SSLError as e:
        raise RouterError(TLS, f"{where}: {e}") from None
    except (LibRouterosError, UnicodeError, ValueError, IndexError) as e:
        raise RouterError(PROTOCOL, f"{where}: {type(e).__name__}: {e}") from None
    except OSError as e:
        raise RouterError(CLOSED, f"{where}: {e.strerror or e} ({phase})") from None


def call(access: RouterAccess, timeouts: Timeouts, fn: Callable[..., T], *args: Any,
         tls_context: ssl.SSLContext | None = None, sockets: _Sockets | None = None) -> T:
    """``fn(api, *args)`` on a fresh logged-in connection; failures raise RouterError."""
    with session(access, timeouts, tls_context, sockets) as api:
        return fn(api, *args)


def read_status(api: Api) -> RouterStatus:
    """Version, board, identity and uptime from a logged-in connection."""
    fields = "=.proplist=version,board-name,uptime"
    resource: dict[str, Any] = next(iter(api.rawCmd("/system/resource/print", fields)), {})
    ident: dict[str, Any] = next(iter(api.rawCmd("/system/identity/print", "=.proplist=name")), {})

    def text(v: Any) -> str | None:
        return None if v is None else str(v)
    return RouterStatus(True, text(resource.get("version")), text(resource.get("board-name")),
                        text(ident.get("name")), text(resource.get("uptime")))


def check_status(access: RouterAccess, timeouts: Timeouts, now: datetime | None = None,
                 tls_context: ssl.SSLContext | None = None, sockets: _Sockets | None = None) -> RouterStatus:
    """The router's status; never raises: a failure is a status with ``error``.

    ``reachable`` is whether the router answered the API at all: a refused
    login is reachable with ``error_kind = "login"``.
    """
    try:
        st = call(access, timeouts, read_status, tls_context=tls_context, sockets=sockets)
    except RouterError as e:
        st = error_status(e)
    return replace(st, checked_at=now)


def error_status(e: RouterError) -> RouterStatus:
    return RouterStatus(e.kind in (LOGIN, REFUSED), error=str(e), error_kind=e.kind)


#: Session menus and the property naming the login in each.
ACTIVE_MENUS = (("/ppp/active", "name"), ("/ip/hotspot/active", "user"))


def remove_active_api(api: Api, username: str, address: str | None = None) -> int:
    """Remove ``username``'s PPP and hotspot sessions, only the one at ``address`` (the session's
    Framed-IP-Address, the entry's ``address`` in both menus) when it is known, so a login with
    several sessions keeps the others; how many were removed."""
    removed = 0
    where = [f"?=address={address}"] if address else []
    for menu, key in ACTIVE_MENUS:
        try:
            rows = list(api.rawCmd(f"{menu}/print", "=.proplist=.id", f"?={key}={username}", *where))
        except TrapError as e:
            if "no such command" in str(e):  # no hotspot on this router
                continue
            raise
        for r in rows:
            try:
                list(api.rawCmd(f"{menu}/remove", f"=.id={r['.id']}"))
                removed += 1
            except TrapError as e:
                if "no such item" not in str(e):  # gone already: fine
                    raise
    return removed


def remove_active_many_api(api: Api, usernames: Iterable[str]) -> dict[str, int]:
    """:func:`remove_active_api` for several logins over one connection."""
    return {u: remove_active_api(api, u) for u in usernames}


def remove_active(access: RouterAccess, username: str, timeouts: Timeouts,
                  tls_context: ssl.SSLContext | None = None, sockets: _Sockets | None = None,
                  address: str | None = None) -> int:
    """Disconnect a login's sessions, or its one at ``address``, through the API (the CoA fallback);
    sessions removed."""
    return call(access, timeouts, remove_active_api, username, address, tls_context=tls_context, sockets=sockets)


def apply(access: RouterAccess, steps: Plan, timeouts: Timeouts, dry_run: bool = False,
          tls_context: ssl.SSLContext | None = None, sockets: _Sockets | None = None) -> ApplyResult:
    """Provision ``steps`` (enforcement.provision) on the router, or say what would change."""
    return call(access, timeouts, apply_steps, steps, dry_run, tls_context=tls_context, sockets=sockets)


# -- the pool (the daemon) ---------------------------------------------------------------------


_Queued = tuple[defer.Deferred[Any], Callable[..., Any], tuple[Any, ...]]


class RouterPool:
    """RouterOS API calls on a dedicated ThreadPool, returning Deferreds.

    ``reactor`` gives ``callFromThread`` (results come back on the reactor
    thread) and ``seconds()`` (``checked_at``).  ``start()`` starts the
    threads (calls made before wait for it); ``stop()`` cuts calls in flight
    short by closing their sockets, then joins the threads.
    """

    def __init__(self, reactor: Any, threads: int = 4, connect_timeout: float = 5.0,
                 read_timeout: float = 10.0, call_timeout: float = 60.0, max_queued: int = 16,
                 tls_context: ssl.SSLContext | None = None):
        self._reactor = reactor
        self.timeouts = Timeouts(connect_timeout, read_timeout, call_timeout)
        self.max_queued = max_queued
        self._tls = tls_context
        self._pool = ThreadPool(minthreads=0, maxthreads=threads, name="routeros")
        self._sockets = _Sockets()
        self._queues: dict[tuple[str, int], deque[_Queued]] = {}

    def start(self) -> None:
        self._pool.start()

    def stop(self) -> None:
        self._sockets.shutdown_all()
        self._pool.stop()

    # -- operations ----------------------------------------------------------------------------

    def status(self, access: RouterAccess) -> defer.Deferred[RouterStatus]:
        """The router's status (never fails: errors are in the status); ``checked_at`` from the reactor."""
        d = self._submit(access, check_status, access, self.timeouts, None, self._tls, self._sockets)

        def stamp(result: RouterStatus | Failure) -> RouterStatus:
            if isinstance(result, Failure):
                if not isinstance(result.value, RouterError):
                    result.raiseException()
                assert isinstance(result.value, RouterError)
                result = error_status(result.value)
            return replace(result, checked_at=datetime.fromtimestamp(self._reactor.seconds(), UTC))
        d.addBoth(stamp)
        return d

    def remove_active(self, access: RouterAccess, username: str, address: str | None = None) -> defer.Deferred[int]:
        """Remove ``username``'s sessions (``/ppp/active``, ``/ip/hotspot/active``), or only its one at
        ``address``; fires with the count, or fails with RouterError."""
        return self._submit(access, remove_active, access, username, self.timeouts, self._tls, self._sockets,
                            address)

    def remove_active_many(self, access: RouterAccess, usernames: Iterable[str]) -> defer.Deferred[dict[str, int]]:
        """Several logins' sessions over one connection (a burst of fallbacks to one router):
        fires with {username: sessions removed}, or fails with RouterError."""
        return self.call(access, remove_active_many_api, list(usernames))

    def apply(self, access: RouterAccess, steps: Plan, dry_run: bool = False) -> defer.Deferred[ApplyResult]:
        """Provision ``steps``; fires with the ApplyResult (refused commands in its ``errors``), or fails
        with RouterError when the router cannot be reached or stops answering."""
        return self._submit(access, apply, access, steps, self.timeouts, dry_run, self._tls, self._sockets)

    def sync_profiles(self, access: RouterAccess, profiles: Iterable[Profile]) -> defer.Deferred[ApplyResult]:
        """Bring the router's aaad PPP and hotspot profiles in line with an org's profiles
        (updates, adds, and removes those of deleted profiles)."""
        return self.apply(access, profile_steps(list(profiles)))

    def call(self, access: RouterAccess, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Any ``fn(api, *args)`` on a logged-in connection, under the same rules."""
        run = functools.partial(call, tls_context=self._tls, sockets=self._sockets)
        return self._submit(access, run, access, self.timeouts, fn, *args)

    def queued(self, access: RouterAccess) -> int:
        """Calls waiting for this router (not counting the one running)."""
        q = self._queues.get(access.key)
        return len(q) if q is not None else 0

    # -- per-router serialisation (reactor thread only) ----------------------------------------------

    def _submit(self, access: RouterAccess, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        key = access.key
        q = self._queues.get(key)
        if q is None:
            self._queues[key] = deque()
            return self._run(key, fn, args)
        if len(q) >= self.max_queued:
            return defer.fail(RouterError(BUSY, f"{key[0]}:{key[1]}: {len(q)} calls already waiting"))
        d: defer.Deferred[Any] = defer.Deferred()
        q.append((d, fn, args))
        return d

    def _run(self, key: tuple[str, int], fn: Callable[..., Any], args: tuple[Any, ...]) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = deferToThreadPool(self._reactor, self._pool, fn, *args)
        d.addBoth(self._finished, key)
        return d

    def _finished(self, result: Any, key: tuple[str, int]) -> Any:
        q = self._queues[key]
        dead = _dead_kind(result)
        if dead is not None:
            while q:
                waiting, _, _ = q.popleft()
                waiting.errback(RouterError(dead, f"{key[0]}:{key[1]}: not tried, the call before it "
                                                  f"failed ({dead})"))
        if q:
            waiting, fn, args = q.popleft()
            self._run(key, fn, args).chainDeferred(waiting)
        else:
            del self._queues[key]
        return result


def _dead_kind(result: Any) -> str | None:
    if isinstance(result, Failure) and isinstance(result.value, RouterError):
        kind: str = result.value.kind
        return kind if kind in DEAD_KINDS else None
    if isinstance(result, RouterStatus) and result.error_kind in DEAD_KINDS:
        return result.error_kind
    return None
