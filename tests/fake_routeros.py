"""A protocol-level fake of the MikroTik RouterOS API (what librouteros talks to).

No RouterOS can run here, so this speaks the real wire format itself (no
librouteros code): words prefixed by their length in 1 to 5 bytes, sentences
ended by an empty word; the post-6.43 plain login (``/login =name= =password=``
→ ``!done``, or ``!trap =message=invalid user name or password (6)`` then
``!done`` and the connection closed, or ``!fatal`` when made so); ``.tag``;
``!re``/``!done``/``!trap``/``!fatal``; ``=.proplist=`` and ``?`` query words
(``?name``, ``?-name``, ``?=name=v``, ``?name=v``, ``?<``, ``?>``, ``?#|&!.``) in
``print``; ``.id`` as ``*1``, ``*2``, … (hexadecimal, like RouterOS).

State is kept per menu: tables (print/add/set/remove/move, e.g. ``/ppp/profile``; ``add`` takes
``place-before=<.id>``, ``move`` takes ``numbers=<.id,...>`` and ``destination=<.id>``, before
which the items go in the order given, or at the end without it)
and single-record menus (print/set, e.g. ``/radius/incoming``), pre-populated
like a fresh RouterOS 7 (identity, resource with version and board-name,
``/ppp/aaa``, ``/radius/incoming``, ``/ip/proxy``, the default PPP and hotspot
profiles). ``/ppp/active`` and ``/ip/hotspot/active`` are seeded from Python
(:meth:`FakeRouterOS.seed`); on a real router they cannot be added either.
``/tool/fetch =url= =dst-path=`` downloads over HTTP (from the loopback daemon) into ``/file``
(:attr:`FakeRouterOS.files`), answering ``!re =status=finished`` as RouterOS does, or traps
``failure: ...`` for an HTTP error or a refused connection.

Every sentence received is recorded with its connection and arrival time.
Failure modes: ``delay`` (seconds before each reply), ``mode = "silent"``
(accepts TCP, reads, never answers) or ``"reset"`` (accepts and closes at
once), ``login_fails`` and ``fatal_on_bad_login``, ``traps`` (command → trap
message).  Optional TLS (api-ssl) with a throw-away self-signed certificate.

Threaded (one thread per connection), so blocking librouteros clients and a
daemon subprocess can both talk to it. ``with FakeRouterOS() as fake:``
listens on 127.0.0.1, port 0 (see ``fake.port``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# -- the wire format ----------------------------------------------------------------


class WireError(Exception):
    """Bytes that are not a RouterOS API sentence."""


def encode_length(n: int) -> bytes:
    """A word length in RouterOS API form (1 to 5 bytes, high bits say how many)."""
    if n < 0:
        raise WireError(f"negative length {n}")
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    if n <= 0xFFFFFFFF:
        return b"\xf0" + n.to_bytes(4, "big")
    raise WireError(f"length {n} does not fit the API's 5-byte form")


def length_size(first: int) -> int:
    """How many bytes the length starting with byte ``first`` takes in all."""
    if first < 0x80:
        return 1
    if first < 0xC0:
        return 2
    if first < 0xE0:
        return 3
    if first < 0xF0:
        return 4
    if first == 0xF0:
        return 5
    raise WireError(f"reserved control byte 0x{first:02X}")


def decode_length(b: bytes) -> int:
    """The length encoded in ``b`` (exactly :func:`length_size` bytes)."""
    size = length_size(b[0])
    if len(b) != size:
        raise WireError(f"length needs {size} bytes, got {len(b)}")
    if size == 1:
        return b[0]
    if size == 2:
        return int.from_bytes(b, "big") & 0x3FFF
    if size == 3:
        return int.from_bytes(b, "big") & 0x1FFFFF
    if size == 4:
        return int.from_bytes(b, "big") & 0x0FFFFFFF
    return int.from_bytes(b[1:], "big")


def encode_word(word: str | bytes) -> bytes:
    raw = word.encode() if isinstance(word, str) else word
    return encode_length(len(raw)) + raw


def encode_sentence(words: Iterable[str | bytes]) -> bytes:
    return b"".join(encode_word(w) for w in words) + b"\x00"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        got = sock.recv(min(n - len(buf), 1 << 20))
        if not got:
            raise EOFError
        buf += got
    return bytes(buf)


def read_word(sock: socket.socket) -> bytes:
    first = _recv_exact(sock, 1)
    size = length_size(first[0])
    raw = first + (_recv_exact(sock, size - 1) if size > 1 else b"")
    n = decode_length(raw)
    return _recv_exact(sock, n) if n else b""


def read_sentence(sock: socket.socket) -> list[str]:
    """The words of one sentence (without the empty word that ends it)."""
    words: list[str] = []
    while True:
        w = read_word(sock)
        if not w:
            return words
        words.append(w.decode("utf-8", "replace"))


# -- menus and their state --------------------------------------------------------------

#: Menus with one record (print/set without .id).
SINGLE_MENUS = ("/radius/incoming", "/ppp/aaa", "/system/identity", "/system/resource", "/ip/proxy")
#: Menus holding a table of records.
TABLE_MENUS = ("/radius", "/ppp/profile", "/ppp/secret", "/ppp/active", "/ip/pool", "/ip/hotspot",
               "/ip/hotspot/profile", "/ip/hotspot/user", "/ip/hotspot/user/profile", "/ip/hotspot/active",
               "/ip/firewall/filter", "/ip/firewall/nat", "/ip/firewall/address-list", "/ip/proxy/access",
               "/interface", "/ip/hotspot/walled-garden", "/ip/hotspot/walled-garden/ip", "/file")
#: Tables whose records are unique by name (add of a duplicate traps, as RouterOS does).
NAMED_TABLES = ("/ppp/profile", "/ppp/secret", "/ip/pool", "/ip/hotspot/profile", "/ip/hotspot/user",
                "/ip/hotspot/user/profile")
#: Tables only the router fills (sessions): ``add`` traps.
READ_ONLY_TABLES = ("/ppp/active", "/ip/hotspot/active", "/file")
_BOOLS = {"yes": "true", "no": "false", "true": "true", "false": "false"}
_READ_ONLY_FIELDS = frozenset({"uptime", "version", "build-time", "board-name", "cpu", "cpu-count",
                               "free-memory", "total-memory", "architecture-name", "platform"})


def _fresh_singles(version: str, board: str, identity: str) -> dict[str, dict[str, str]]:
    return {
        "/system/identity": {"name": identity},
        "/system/resource": {"uptime": "1d2h3m4s", "version": version, "build-time": "2024-10-15 13:48:23",
                             "free-memory": "884736000", "total-memory": "1073741824", "cpu": "ARM64",
                             "cpu-count": "4", "architecture-name": "arm64", "board-name": board,
                             "platform": "MikroTik"},
        "/ppp/aaa": {"use-radius": "false", "accounting": "true", "interim-update": "0s",
                     "use-circuit-id-in-nas-port-id": "false", "enable-ipv6-accounting": "false"},
        "/radius/incoming": {"accept": "false", "port": "3799", "vrf": "main"},
        "/ip/proxy": {"enabled": "false", "port": "8080", "anonymous": "false", "cache-on-disk": "false",
                      "max-client-connections": "600", "max-server-connections": "600"},
    }


def _fresh_tables() -> dict[str, list[dict[str, str]]]:
    tables: dict[str, list[dict[str, str]]] = {m: [] for m in TABLE_MENUS}
    tables["/ppp/profile"] = [
        {".id": "*0", "name": "default", "use-encryption": "default", "only-one": "default", "default": "true"},
        {".id": "*FFFFFFFE", "name": "default-encryption", "use-encryption": "yes", "only-one": "default",
         "default": "true"},
    ]
    tables["/ip/hotspot/user/profile"] = [{".id": "*0", "name": "default", "shared-users": "1", "default": "true"}]
    tables["/ip/hotspot/profile"] = [{".id": "*FFFFFFFD", "name": "default", "use-radius": "false", "default": "true"}]
    return tables


class Trap(Exception):
    """A command the fake router refuses (becomes ``!trap``)."""

    def __init__(self, message: str, category: int | None = None):
        super().__init__(message)
        self.message = message
        self.category = category


@dataclass(frozen=True)
class Sentence:
    """One sentence the fake received."""
    conn: int           # connection number, 1 for the first accepted
    at: float           # time.monotonic() on arrival
    words: tuple[str, ...]

    @property
    def command(self) -> str:
        return self.words[0] if self.words else ""

    def attrs(self) -> dict[str, str]:
        """Its ``=key=value`` words."""
        out = {}
        for w in self.words[1:]:
            if w.startswith("="):
                k, _, v = w[1:].partition("=")
                out[k] = v
        return out


@dataclass
class Connection:
    """A connection the fake accepted (for tests that count overlap).

    ``heard`` is when its first sentence arrived and ``answered`` when its last reply started out:
    a client that waits for one call's reply before starting the next cannot make two of these
    spans overlap, whichever thread the scheduler runs first (``closed`` is stamped when the
    fake's thread gets round to seeing EOF, which can come after the client's next connection).
    """
    number: int
    opened: float
    closed: float | None = None
    logged_in: bool = False
    heard: float | None = None
    answered: float | None = None


class _State:
    """The router's configuration, guarded by one lock."""

    def __init__(self, version: str, board: str, identity: str):
        self.lock = threading.Lock()
        self.singles = _fresh_singles(version, board, identity)
        self.tables = _fresh_tables()
        self._next_id = 1

    def new_id(self) -> str:
        i = self._next_id
        self._next_id += 1
        return f"*{i:X}"


def _normalise(value: str) -> str:
    """Store values the way RouterOS prints them (``yes`` reads back as ``true``)."""
    return _BOOLS.get(value, value)


def _split(command: str) -> tuple[str, str]:
    menu, _, verb = command.rpartition("/")
    return menu, verb


def _match_query(record: dict[str, str], query: list[str]) -> bool:
    """RouterOS API query words over one record: a stack of booleans, all ANDed at the end."""
    stack: list[bool] = []
    for w in query:
        body = w[1:]
        if body.startswith("#"):
            for op in body[1:]:
                if op == "!":
                    stack.append(not stack.pop())
                elif op in "&|":
                    b, a = stack.pop(), stack.pop()
                    stack.append(a and b if op == "&" else a or b)
                elif op == ".":
                    stack.pop()
                elif op.isdigit():
                    stack.append(stack[-1 - int(op)] if int(op) < len(stack) else True)
                else:
                    raise Trap(f"unknown query operation {op!r}")
            continue
        if body.startswith("-"):
            stack.append(body[1:] not in record)
            continue
        op = "="
        if body[:1] in ("=", "<", ">"):
            op, body = body[0], body[1:]
        key, eq, value = body.partition("=")
        if not eq and op == "=":
            stack.append(key in record)
            continue
        have = record.get(key)
        if op == "=":
            stack.append(have is not None and have == _normalise(value))
        else:
            if have is None:
                stack.append(False)
                continue
            try:
                x, y = float(have), float(value)
                stack.append(x < y if op == "<" else x > y)
            except ValueError:
                stack.append(have < value if op == "<" else have > value)
    return all(stack)


class FakeRouterOS:
    """A RouterOS API server on loopback (see the module docstring)."""

    def __init__(self, *, username: str = "admin", password: str = "", tls: bool = False,
                 version: str = "7.16.2 (stable)", board: str = "RB5009UG+S+", identity: str = "MikroTik",
                 host: str = "127.0.0.1"):
        self.username = username
        self.password = password
        self.tls = tls
        self.host = host
        self.port = 0
        self.delay = 0.0
        self.mode = "ok"                    # "ok", "silent" (never answers), "reset" (closes at once)
        self.login_fails = False            # every login is refused, whatever the credentials
        self.fatal_on_bad_login = False     # a bad login gets !trap then !fatal (else !trap, !done, close)
        self.traps: dict[str, str] = {}     # command word -> trap message
        self.files: dict[str, bytes] = {}   # what /tool/fetch downloaded, by dst-path
        self.state = _State(version, board, identity)
        self._received: list[Sentence] = []
        self._connections: list[Connection] = []
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self._certdir: tempfile.TemporaryDirectory[str] | None = None

    # -- lifetime ------------------------------------------------------------------------

    def __enter__(self) -> FakeRouterOS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.tls:
            self._ssl = self._server_context()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((self.host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-routeros-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        if self._thread is not None:
            self._thread.join(5)
        if self._certdir is not None:
            self._certdir.cleanup()

    def _server_context(self) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-routeros")])
        now = _dt.datetime.now(_dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        self._certdir = tempfile.TemporaryDirectory()
        cert_path = os.path.join(self._certdir.name, "cert.pem")
        key_path = os.path.join(self._certdir.name, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key_path)
        return ctx

    # -- what tests look at and set -----------------------------------------------------------

    @property
    def received(self) -> list[Sentence]:
        """Every sentence received so far, in order."""
        with self._lock:
            return list(self._received)

    @property
    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections)

    def commands(self, conn: int | None = None) -> list[str]:
        """The command words received (of one connection, or all)."""
        return [s.command for s in self.received if conn is None or s.conn == conn]

    def writes(self) -> list[Sentence]:
        """Sentences that change state: add, set, unset, remove, move (login excluded)."""
        return [s for s in self.received if _split(s.command)[1] in ("add", "set", "unset", "remove", "move")]

    def wait_received(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait (bounded) until at least ``count`` sentences have arrived."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self._received) >= count, timeout)

    def clear_received(self) -> None:
        with self._lock:
            self._received.clear()

    def max_overlap(self) -> int:
        """The most connections that were in conversation at the same time.

        A connection's span runs from its first sentence (or its opening, if it sent none) to the
        start of its last reply (or its closing, if it got none).
        """
        events = []
        for c in self.connections:
            events.append((c.heard if c.heard is not None else c.opened, 1))
            end = c.answered if c.answered is not None else c.closed
            events.append((end if end is not None else float("inf"), -1))
        best = cur = 0
        for _, d in sorted(events, key=lambda e: (e[0], e[1])):
            cur += d
            best = max(best, cur)
        return best

    def table(self, menu: str) -> list[dict[str, str]]:
        """A copy of a table's records."""
        with self.state.lock:
            return [dict(r) for r in self.state.tables[menu]]

    def single(self, menu: str) -> dict[str, str]:
        with self.state.lock:
            return dict(self.state.singles[menu])

    def seed(self, menu: str, **attrs: str) -> str:
        """Add a record as the router itself would (e.g. an active session); returns its .id."""
        with self.state.lock:
            rid = self.state.new_id()
            self.state.tables[menu].append({".id": rid, **{k.replace("_", "-"): v for k, v in attrs.items()}})
            return rid

    # -- one connection -------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            conn = Connection(len(self._connections) + 1, time.monotonic())
            self._connections.append(conn)
            self._socks.add(sock)
        try:
            if self.mode == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._socks.add(sock)
            self._conversation(sock, conn)
        except (EOFError, OSError, WireError, ssl.SSLError):
            pass
        finally:
            conn.closed = time.monotonic()
            with self._lock:
                self._socks.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _conversation(self, sock: socket.socket, conn: Connection) -> None:
        while not self._stopping.is_set():
            words = read_sentence(sock)
            if not words:
                continue  # an empty sentence is ignored, as RouterOS does
            now = time.monotonic()
            if conn.heard is None:
                conn.heard = now
            with self._lock:
                self._received.append(Sentence(conn.number, now, tuple(words)))
                self._arrived.notify_all()
            if self.mode == "silent":
                continue
            if self.delay and self._stopping.wait(self.delay):
                return
            replies, close = self._answer(words, conn)
            conn.answered = time.monotonic()
            sock.sendall(b"".join(encode_sentence(r) for r in replies))
            if close:
                return

    def _answer(self, words: list[str], conn: Connection) -> tuple[list[list[str]], bool]:
        command = words[0]
        tag = next((w[len(".tag="):] for w in words[1:] if w.startswith(".tag=")), None)
        attrs: dict[str, str] = {}
        query: list[str] = []
        for w in words[1:]:
            if w.startswith("="):
                k, _, v = w[1:].partition("=")
                attrs[k] = v
            elif w.startswith("?"):
                query.append(w)

        def tagged(*sentences: list[str]) -> list[list[str]]:
            return [s + [f".tag={tag}"] if tag is not None else s for s in sentences]

        if command == "/quit":
            return [["!fatal", "session terminated on request"]], True
        if command == "/login":
            ok = (not self.login_fails and attrs.get("name") == self.username
                  and attrs.get("password", "") == self.password)
            if ok:
                conn.logged_in = True
                return tagged(["!done"]), False
            trap = ["!trap", "=message=invalid user name or password (6)"]
            if self.fatal_on_bad_login:
                return [*tagged(trap), ["!fatal", "not logged in"]], True
            return tagged(trap, ["!done"]), True
        if not conn.logged_in:
            return [["!fatal", "not logged in"]], True
        if command in self.traps:
            return tagged(["!trap", f"=message={self.traps[command]}"], ["!done"]), False
        try:
            if command == "/tool/fetch":
                return tagged(["!re", *(f"={k}={v}" for k, v in self._fetch(attrs).items())], ["!done"]), False
            rows, ret = self._execute(command, attrs, query)
        except Trap as t:
            trap = ["!trap", f"=message={t.message}"]
            if t.category is not None:
                trap.append(f"=category={t.category}")
            return tagged(trap, ["!done"]), False
        done = ["!done"] + ([f"=ret={ret}"] if ret is not None else [])
        return tagged(*[["!re", *(f"={k}={v}" for k, v in r.items())] for r in rows], done), False

    def _fetch(self, attrs: dict[str, str]) -> dict[str, str]:
        """``/tool/fetch``: download ``url`` into the file ``dst-path`` (replacing it)."""
        import urllib.error
        import urllib.parse
        import urllib.request
        url = attrs.get("url", "")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Trap("failure: bad url", 1)
        dst = attrs.get("dst-path") or parts.path.rsplit("/", 1)[-1]
        where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                data = r.read()
        except urllib.error.HTTPError as e:
            raise Trap(f"failure: closing connection: <{e.code} {e.reason}> {where} (4)", 1) from None
        except OSError:
            raise Trap(f"failure: connection refused {where}", 1) from None
        with self.state.lock:
            files = self.state.tables["/file"]
            files[:] = [f for f in files if f.get("name") != dst]
            kind = dst.rsplit(".", 1)[-1] + " file" if "." in dst else "file"
            files.append({".id": self.state.new_id(), "name": dst, "type": kind, "size": str(len(data))})
            self.files[dst] = data
        return {"status": "finished", "downloaded": str(len(data) // 1024), "total": str(len(data) // 1024),
                "duration": "1s"}

    def _execute(self, command: str, attrs: dict[str, str], query: list[str]
                 ) -> tuple[list[dict[str, str]], str | None]:
        menu, verb = _split(command)
        proplist = attrs.pop(".proplist", None)
        st = self.state
        with st.lock:
            if menu in st.singles:
                record = st.singles[menu]
                if verb == "print":
                    return [_props(record, proplist)], None
                if verb == "set":
                    for k, v in attrs.items():
                        if k in _READ_ONLY_FIELDS and menu == "/system/resource":
                            raise Trap(f"unknown parameter {k}")
                        record[k] = _normalise(v)
                    return [], None
                if verb == "unset":
                    record.pop(attrs.get("value-name", ""), None)
                    return [], None
                raise Trap("no such command", 0)
            if menu not in st.tables:
                raise Trap("no such command prefix", 0)
            table = st.tables[menu]
            if verb == "print":
                return [_props(r, proplist) for r in table if _match_query(r, query)], None
            if verb == "add":
                if menu in READ_ONLY_TABLES:
                    raise Trap("failure: can not add", 1)
                if menu in NAMED_TABLES:
                    if not attrs.get("name"):
                        raise Trap("failure: name must be set", 1)
                    if any(r.get("name") == attrs["name"] for r in table):
                        raise Trap("failure: entry already exists", 1)
                where = attrs.pop("place-before", None)
                at = len(table)
                if where is not None:
                    at = next((i for i, r in enumerate(table) if r[".id"] == where), -1)
                    if at < 0:
                        raise Trap("no such item", 1)
                rid = st.new_id()
                table.insert(at, {".id": rid, **{k: _normalise(v) for k, v in attrs.items()}})
                return [], rid
            if verb == "move":    # numbers=ids [destination=id]: before destination, else at the end
                ids = (attrs.get("numbers") or "").split(",")
                moving = [r for i in ids for r in table if r[".id"] == i]
                dest = attrs.get("destination")
                if not ids[0] or len(moving) != len(ids) or (
                        dest is not None and not any(r[".id"] == dest for r in table)):
                    raise Trap("no such item", 1)
                if dest in ids:
                    return [], None
                for r in moving:
                    table.remove(r)
                at = next((i for i, r in enumerate(table) if r[".id"] == dest), len(table))
                table[at:at] = moving
                return [], None
            if verb in ("set", "remove", "unset"):
                ids = (attrs.pop(".id", None) or attrs.pop("numbers", None) or "").split(",")
                found = [r for i in ids for r in table if r[".id"] == i]
                if not ids[0] or len(found) != len(ids):
                    raise Trap("no such item", 1)
                if verb == "remove":
                    for r in found:
                        table.remove(r)
                    return [], None
                if verb == "unset":
                    for r in found:
                        r.pop(attrs.get("value-name", ""), None)
                    return [], None
                if menu in NAMED_TABLES and "name" in attrs and any(
                        r.get("name") == attrs["name"] and r not in found for r in table):
                    raise Trap("failure: entry already exists", 1)
                for r in found:
                    for k, v in attrs.items():
                        if v == "":
                            r.pop(k, None)  # RouterOS: an empty value unsets the property
                        else:
                            r[k] = _normalise(v)
                return [], None
            raise Trap("no such command", 0)


def _props(record: dict[str, str], proplist: str | None) -> dict[str, str]:
    if proplist is None:
        return dict(record)
    keys = proplist.split(",")
    return {k: record[k] for k in keys if k in record}


def closed_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on (connecting is refused)."""
    s = socket.socket()
    s.bind((host, 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


@dataclass
class RawClient:
    """A bare API client over this module's codec, for what librouteros cannot send
    (``.tag``, sentences read one at a time)."""
    host: str
    port: int
    timeout: float = 5.0
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)

    def send(self, *words: str) -> None:
        self.sock.sendall(encode_sentence(words))

    def read(self) -> list[str]:
        return read_sentence(self.sock)

    def until_done(self) -> Iterator[list[str]]:
        """Sentences up to and including the next ``!done`` (or ``!fatal``)."""
        while True:
            s = self.read()
            yield s
            if s[0] in ("!done", "!fatal"):
                return

    def close(self) -> None:
        self.sock.close()

