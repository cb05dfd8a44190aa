"""FreeRADIUS 3.2 as the NAS that receives CoA-Request and Disconnect-Request.

A private instance: its own raddb in a directory of the test's, a generated
minimal config (no default sites, no system config read), run as root in the
foreground and single-threaded (``freeradius -f -t``, or ``-X`` with
``debug=True``) with its log on a pipe this module drains into the object
and ``radiusd.log``; ready when it logs "Ready to process requests". It
listens for CoA on a free loopback port with a 4 MB receive buffer (with the
OS default a burst of 256 requests overflows it and datagrams are lost);
the client is 127.0.0.1 with the given secret. Single-threaded because with
threads a retransmission arriving while FreeRADIUS still holds the previous
copy was seen deduplicated, not recorded.

Behaviour, decided per User-Name in the ``recv-coa`` section (FreeRADIUS 3.2
has one section for both codes; it branches on Packet-Type):

- ACK by default;
- NAK with an Error-Cause for the names in ``naks`` (both codes),
  ``coa_naks`` (CoA-Request only) or ``disconnect_naks`` (Disconnect-Request
  only); a cause of None NAKs without Error-Cause. By convention a name
  starting ``nak<CODE>-`` (e.g. ``nak503-bob``) is NAK'd with that cause;
- no answer at all for the names in ``silent``, and names starting ``mute-``.

Every request that passes FreeRADIUS's checks (client known, Request
Authenticator and Message-Authenticator correct) is recorded, before the
answer, by linelog in ``received.log`` (values hex-encoded, so any octets
survive), with what FreeRADIUS answered. ``cleanup_delay = 0``: a
retransmission is processed and recorded again (so tests can count them),
not answered from a cache.

From an e2e test (the fixtures live here; tests/enforcement/conftest.py
re-exports them, a module elsewhere imports them)::

    from tests.nas_freeradius import FreeRadiusNas, freeradius_nas  # noqa: F401  (fixture)

    def test_suspend_cuts_off(daemon_factory, freeradius_nas: FreeRadiusNas) -> None:
        d = daemon_factory()   # point the NAS record's CoA port at freeradius_nas.port,
        ...                    # secret freeradius_nas.secret ("testing123"), then suspend
        (req,) = freeradius_nas.wait_received(1, timeout=2.0, where=lambda r: r["User-Name"] == "alice")
        assert req["code"] == "Disconnect-Request" and req["Acct-Session-Id"] == "..."

``FreeRadiusNas(dir, secret, naks=..., silent=...)`` is also a context
manager, for a NAS with other behaviour or one started outside pytest (bench/).
"""
from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

FREERADIUS = "freeradius"
READY_LINE = "Ready to process requests"

# Recorded attributes, in the order of the linelog line after the header fields.
RECORDED_ATTRS = ("User-Name", "Acct-Session-Id", "Framed-IP-Address", "NAS-IP-Address",
                  "Mikrotik-Rate-Limit", "NAS-Identifier", "Event-Timestamp")
_ADDRESS_ATTRS = frozenset({"Framed-IP-Address", "NAS-IP-Address"})
_INTEGER_ATTRS = frozenset({"Event-Timestamp"})
_NAME_OK = re.compile(r"[A-Za-z0-9._@+-]{1,64}\Z")
_PREFIX_RULES = r"""
		if (&User-Name =~ /^nak([0-9]+)-/) {
			update reply {
				&Error-Cause := "%{1}"
			}
			update control {
				&Tmp-String-0 := "nak"
			}
		}
		elsif (&User-Name =~ /^mute-/) {
			update control {
				&Tmp-String-0 := "none"
			}
		}
"""


def freeradius_binary() -> str | None:
    """The freeradius daemon's path, or None when it is not installed."""
    return shutil.which(FREERADIUS) or (f"/usr/sbin/{FREERADIUS}" if os.path.exists(f"/usr/sbin/{FREERADIUS}")
                                         else None)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _quote(value: str) -> str:
    """A FreeRADIUS double-quoted string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_name(name: str) -> str:
    if not _NAME_OK.match(name):
        raise ValueError(f"user name {name!r} for a FreeRADIUS rule: use [A-Za-z0-9._@+-], at most 64")
    return name


def start_foreground(cmd: list[str], log_path: Path, log: list[str], timeout: float,
                     name: str = "freeradius") -> subprocess.Popen[str] | None:
    """Start FreeRADIUS in the foreground with its log on stdout (``-f -l stdout`` or ``-X``).

    A thread drains its output into ``log`` (a list, appended to while it
    runs) and appends it to ``log_path``. Returns the process once it logs
    READY_LINE; None if it exited first (why is in ``log``, e.g. "Address
    already in use"). Not ready within ``timeout`` s: stopped, AssertionError.
    Shared by FreeRadiusNas and bench/freeradius_conf.py (FreeRADIUS as the
    server under test).
    """
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    logf = log_path.open("a")
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        with logf:
            for line in proc.stdout:
                log.append(line)
                logf.write(line)
                logf.flush()
                lines.put(line)
        lines.put("")  # EOF

    threading.Thread(target=pump, name=name, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            raise AssertionError(f"FreeRADIUS not ready in {timeout} s:\n{''.join(log)}")
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        if line == "":
            proc.wait(5)
            return None
        if READY_LINE in line:
            return proc


class FreeRadiusNas:
    """A private FreeRADIUS answering CoA/Disconnect on 127.0.0.1:``port``; a context manager."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path | str | None = None, secret: str = "testing123", *,
                 naks: Mapping[str, int | None] | None = None,
                 coa_naks: Mapping[str, int | None] | None = None,
                 disconnect_naks: Mapping[str, int | None] | None = None,
                 silent: Iterable[str] = (), port: int | None = None, client: str = "127.0.0.1",
                 debug: bool = False, recv_buff: int = 4 * 1024 * 1024) -> None:
        self._own_dir = workdir is None
        self.dir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="nas-freeradius-"))
        self.secret = secret
        self.naks = dict(naks or {})
        self.coa_naks = dict(coa_naks or {})
        self.disconnect_naks = dict(disconnect_naks or {})
        self.silent = set(silent)
        for name in [*self.naks, *self.coa_naks, *self.disconnect_naks, *self.silent]:
            _check_name(name)
        self._fixed_port = port
        self.port = port or 0
        self.client = client
        self.debug = debug
        self.recv_buff = recv_buff
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = self.dir / "radiusd.log"
        self.received_path = self.dir / "received.log"
        self._log: list[str] = []

    # -- life cycle -------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> FreeRadiusNas:
        """Write the config, start FreeRADIUS, return once it logs that it is ready."""
        if self.running:          # started already (``with`` starts it): never a second, leaked process
            return self
        binary = freeradius_binary()
        if binary is None:
            raise RuntimeError("freeradius is not installed: run the README's test command (make test)")
        for _attempt in range(3):  # a free port can be taken between picking and binding
            self.port = self._fixed_port or free_udp_port()
            self.write_config()
            if self._run(binary, timeout):
                return self
            if self._fixed_port or "Address already in use" not in self.log_text():
                break
        raise AssertionError(f"FreeRADIUS did not start:\n{self.log_text()}")

    def _run(self, binary: str, timeout: float) -> bool:
        args = [binary, "-X"] if self.debug else [binary, "-f", "-t", "-l", "stdout"]
        self.received_path.unlink(missing_ok=True)
        self._log = []
        self.proc = start_foreground([*args, "-d", str(self.dir), "-n", "radiusd"], self.log_path, self._log,
                                     timeout, name=f"freeradius-{self.port}")
        return self.proc is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop FreeRADIUS (TERM, then KILL)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        """Stop, and remove the directory if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> FreeRadiusNas:
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- what it saw ------------------------------------------------------------------

    def log_text(self) -> str:
        """Everything FreeRADIUS logged (its -X debug output with debug=True)."""
        return "".join(self._log)

    def received(self) -> list[dict[str, Any]]:
        """Every request recorded so far, in the order written.

        Each: code ("Disconnect-Request" | "CoA-Request"), id, authenticator
        (hex), src (host, port), time (epoch seconds, float), answer
        ("ack" | "nak" | "none"), Message-Authenticator (present: bool), and
        the values of RECORDED_ATTRS (str; int for Event-Timestamp; None when absent).
        """
        try:
            text = self.received_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            if line.count("|") == 8 + len(RECORDED_ATTRS):
                out.append(_parse(line))
        return out

    def wait_received(self, n: int, timeout: float = 5.0,
                      where: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Wait (bounded) until at least ``n`` requests (matching ``where``) were recorded; return them."""
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.received() if where is None or where(r)]
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"FreeRADIUS recorded {len(got)} of {n} requests in {timeout} s: {got}")
            if not self.running:
                raise AssertionError(f"FreeRADIUS exited:\n{self.log_text()}")
            time.sleep(0.005)

    # -- talking to it ------------------------------------------------------------------

    def target(self, secret: str | bytes | None = None) -> Any:
        """An ``enforcement.coa.Target`` for this NAS (with another ``secret`` to test a wrong one)."""
        from enforcement.coa import Target
        if secret is None:
            secret = self.secret
        return Target(self.host, self.port, secret.encode() if isinstance(secret, str) else secret)

    def radclient(self, kind: str, attrs: Iterable[tuple[str, str]], secret: str | None = None,
                  retries: int = 1, timeout: float = 2.0) -> subprocess.CompletedProcess[str]:
        """Send with FreeRADIUS's radclient (``kind`` "disconnect" or "coa"); -x output in stdout.

        Values go in radclient's input syntax as given (quote strings yourself);
        Message-Authenticator is added, as aaad's tests always do.
        """
        lines = [f"{name} = {value}" for name, value in attrs] + ["Message-Authenticator = 0x00"]
        return subprocess.run(["radclient", "-x", "-r", str(retries), "-t", str(timeout),
                               f"{self.host}:{self.port}", kind, secret or self.secret],
                              input="\n".join(lines) + "\n", capture_output=True, text=True,
                              timeout=timeout * (retries + 1) + 10)

    # -- config -------------------------------------------------------------------------

    def write_config(self) -> None:
        """(Re)write radiusd.conf in the instance's directory."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "radiusd.conf").write_text(self.config_text())

    def config_text(self) -> str:
        d = str(self.dir)
        fields = ["%{Packet-Type}", "%I", "%l", "%M", "%{Packet-Src-IP-Address}", "%{Packet-Src-Port}",
                  "%{Packet-Authentication-Vector}", "%{control:Tmp-String-0}",
                  "%{hex:&Message-Authenticator}"]
        fields += [f"%{{hex:&{name}}}" for name in RECORDED_ATTRS]
        fmt = "|".join(fields)
        return f"""# Written by tests/nas_freeradius.py: a private FreeRADIUS playing a NAS's CoA port.
prefix = /usr
exec_prefix = /usr
sysconfdir = {d}
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
confdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
name = radiusd
max_request_time = 30
cleanup_delay = 0
max_requests = 131072
hostname_lookups = no
log {{
	destination = files
	colourise = no
	file = {d}/radius.log
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}}
thread pool {{
	start_servers = 4
	max_servers = 16
	min_spare_servers = 2
	max_spare_servers = 8
	max_requests_per_server = 0
	max_queue_size = 65536
}}
client aaad {{
	ipaddr = {self.client}
	secret = {_quote(self.secret)}
	require_message_authenticator = no
}}
modules {{
	always ok {{
		rcode = ok
	}}
	always reject {{
		rcode = reject
	}}
	always handled {{
		rcode = handled
	}}
	linelog received {{
		filename = {d}/received.log
		permissions = 0600
		format = {_quote(fmt)}
	}}
}}
server nas {{
	recv-coa {{
		update control {{
			&Tmp-String-0 := "ack"
		}}
{self._rules()}
		received
		if (&control:Tmp-String-0 == "nak") {{
			reject
		}}
		elsif (&control:Tmp-String-0 == "none") {{
			update control {{
				&Response-Packet-Type := Do-Not-Respond
			}}
			handled
		}}
		else {{
			ok
		}}
	}}
	send-coa {{
		ok
	}}
}}
listen {{
	type = coa
	ipaddr = {self.host}
	port = {self.port}
	virtual_server = nas
	# bursts (the client may have 256 requests in flight): the OS default buffer overflows
	recv_buff = {self.recv_buff}
}}
"""

    def _rules(self) -> str:
        """unlang setting control:Tmp-String-0 (ack/nak/none) and reply:Error-Cause per User-Name."""
        out = [_PREFIX_RULES]
        for packet_type, table in (("", self.naks), ("CoA-Request", self.coa_naks),
                                   ("Disconnect-Request", self.disconnect_naks)):
            for name, cause in table.items():
                cond = f"&User-Name == {_quote(name)}"
                if packet_type:
                    cond += f" && &Packet-Type == {packet_type}"
                cause_stmt = (f"\t\t\tupdate reply {{\n\t\t\t\t&Error-Cause := {int(cause)}\n\t\t\t}}\n"
                              if cause is not None else "")
                out.append(f"\t\tif ({cond}) {{\n{cause_stmt}"
                           f"\t\t\tupdate control {{\n\t\t\t\t&Tmp-String-0 := \"nak\"\n\t\t\t}}\n\t\t}}\n")
        for name in sorted(self.silent):
            out.append(f"\t\tif (&User-Name == {_quote(name)}) {{\n"
                       f"\t\t\tupdate control {{\n\t\t\t\t&Tmp-String-0 := \"none\"\n\t\t\t}}\n\t\t}}\n")
        return "".join(out)


def _parse(line: str) -> dict[str, Any]:
    f = line.split("|")
    code, ident, sec, usec, src_ip, src_port, auth, answer, ma = f[:9]
    rec: dict[str, Any] = {
        "code": code,
        "id": int(ident),
        "time": int(sec) + int(usec) / 1_000_000,
        "src": (src_ip, int(src_port) if src_port else 0),
        "authenticator": auth.removeprefix("0x"),
        "answer": answer,
        "Message-Authenticator": bool(ma),
    }
    for name, value in zip(RECORDED_ATTRS, f[9:], strict=True):
        rec[name] = _value(name, value)
    return rec


def _value(name: str, hexed: str) -> Any:
    if not hexed:
        return None
    raw = bytes.fromhex(hexed.removeprefix("0x"))
    if name in _ADDRESS_ATTRS:
        return socket.inet_ntoa(raw) if len(raw) == 4 else raw.hex()
    if name in _INTEGER_ATTRS:
        return int.from_bytes(raw, "big")
    return raw.decode("utf-8", errors="replace")


# -- pytest fixtures (tests/enforcement/conftest.py re-exports them; an e2e module imports them) --

def _require_freeradius() -> None:
    if freeradius_binary() is None:
        pytest.fail("freeradius not installed: run the README's test command (make test) to install it")


@pytest.fixture
def freeradius_nas(tmp_path: Path) -> Iterator[FreeRadiusNas]:
    """FreeRADIUS as the NAS on a free loopback port, secret testing123: ACK by default,
    NAK 503 for "gone", 404 for "invalid", 506 for "busy", no answer for "quiet"
    (and the nak<CODE>- / mute- name conventions)."""
    _require_freeradius()
    with FreeRadiusNas(tmp_path / "nas", naks={"gone": 503, "invalid": 404, "busy": 506},
                       silent={"quiet"}) as nas:
        yield nas


@pytest.fixture
def freeradius_nas_factory(tmp_path: Path) -> Iterator[Callable[..., FreeRadiusNas]]:
    """Start FreeRADIUS NASes with chosen behaviour: ``factory(naks=..., silent=..., secret=...)``."""
    _require_freeradius()
    started: list[FreeRadiusNas] = []

    def factory(**kw: Any) -> FreeRadiusNas:
        nas = FreeRadiusNas(tmp_path / f"nas{len(started) + 1}", **kw)
        started.append(nas)
        return nas.start()
    yield factory
    for nas in started:
        nas.close()
