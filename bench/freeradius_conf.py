"""FreeRADIUS 3.2 as a server under test: a private raddb with the same logins as aaad.

Two configurations, each a whole ``radiusd.conf`` written into a directory of
its own (no system config read, except Debian's SQL schema and queries when
asked for SQLite), started as root in the foreground with
``tests.nas_freeradius.start_foreground`` (the same launcher as the CoA NAS
of the tests), optionally pinned with ``taskset``:

- ``files``: the users in a flat users file (``user%06d Cleartext-Password :=
  "pass%06d"``), modules pap, chap, mschap and files. ``authorize`` is the
  default site's, minus what these requests do not use: chap, mschap, files,
  pap (chap/mschap/pap set Auth-Type from the request's attributes);
  ``authenticate`` has Auth-Type PAP, CHAP and MS-CHAP. Accounting stores
  nothing: ``preacct`` and ``accounting`` return ok.
- ``sqlite``: rlm_sql with the sqlite driver, Debian's schema
  (``mods-config/sql/main/sqlite/schema.sql``) and ``queries.conf``, the users
  in ``radcheck``; ``authorize`` runs ``sql`` instead of ``files`` (groups read
  as Debian's default does), accounting computes Acct-Unique-Session-Id as
  Debian's ``acct_unique`` policy does and writes ``radacct`` through ``sql``.

Both as a new user's install has them: Debian's ``radiusd.conf`` thread pool,
``max_requests``, ``cleanup_delay`` and ``reject_delay``, the log in a file
with no per-request auth logging (``auth = no``). What differs from Debian's
defaults, and why: the client 127.0.0.1 has ``require_message_authenticator =
yes`` (what NASes send since Blast-RADIUS; aaad requires it by default too);
Access-Accept and Access-Reject carry a Message-Authenticator, first (see
``radiusd_conf``); ``recv_buff`` 4 MiB on the listeners (aaad's default socket
buffer), so a burst is not lost in the kernel for one server and kept for the
other; no ``status_server``, no proxying.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, bench/ is sys.path[0]; the launcher lives in tests/
    sys.path.insert(0, str(ROOT))

from tests.nas_freeradius import freeradius_binary, start_foreground  # noqa: E402

DEBIAN_SQLITE = Path("/etc/freeradius/3.0/mods-config/sql/main/sqlite")
BACKENDS = ("files", "sqlite")
# Debian 12's radiusd.conf (freeradius 3.2.1): what a new user's server runs with.
DEBIAN_THREAD_POOL = """thread pool {
	start_servers = 5
	max_servers = 32
	min_spare_servers = 3
	max_spare_servers = 10
	max_requests_per_server = 0
	auto_limit_acct = no
}"""
RECV_BUFF = 4 * 1024 * 1024


def quote(value: str) -> str:
    """A FreeRADIUS double-quoted string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def logins(n: int, user_format: str = "user%06d", password_format: str = "pass%06d") -> list[tuple[str, str]]:
    """The (name, password) pairs aaad's bench/load_logins.py creates, in the same formats."""
    return [(user_format % i, password_format % i) for i in range(n)]


def users_file_text(pairs: list[tuple[str, str]]) -> str:
    """A FreeRADIUS users file: one entry per login, its Cleartext-Password as the only check item."""
    return "".join(f"{name}\tCleartext-Password := {quote(pw)}\n" for name, pw in pairs)


def write_sqlite_db(path: Path, pairs: list[tuple[str, str]], schema: Path = DEBIAN_SQLITE / "schema.sql") -> None:
    """A fresh SQLite database with Debian's FreeRADIUS schema and the logins in radcheck."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(schema.read_text())
        db.executemany("INSERT INTO radcheck (username, attribute, op, value) "
                       "VALUES (?, 'Cleartext-Password', ':=', ?)", pairs)
        db.commit()
    finally:
        db.close()


def radiusd_conf(d: Path, *, backend: str, auth_port: int, acct_port: int, secret: str,
                 client: str = "127.0.0.1", address: str = "127.0.0.1", reply_ma: bool = True) -> str:
    """The whole radiusd.conf of a private instance in ``d``.

    ``reply_ma``: sign Access-Accept/Reject with a Message-Authenticator, as
    its first attribute (FreeRADIUS 3.2.5 and later always do; Debian 12's
    3.2.1 does not: authorize puts one in the reply list before anything
    else, and FreeRADIUS computes it when it encodes the reply).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: one of {BACKENDS}")
    if backend == "files":
        module = f"""	files {{
		filename = {d}/users
	}}"""
        lookup, preacct, accounting = "files", "ok", "ok"
    else:
        module = f"""	sql {{
		dialect = "sqlite"
		driver = "rlm_sql_sqlite"
		sqlite {{
			filename = "{d}/radius.db"
			busy_timeout = 200
		}}
		radius_db = "radius"
		acct_table1 = "radacct"
		acct_table2 = "radacct"
		postauth_table = "radpostauth"
		authcheck_table = "radcheck"
		groupcheck_table = "radgroupcheck"
		authreply_table = "radreply"
		groupreply_table = "radgroupreply"
		usergroup_table = "radusergroup"
		delete_stale_sessions = yes
		pool {{
			start = ${{thread[pool].start_servers}}
			min = ${{thread[pool].min_spare_servers}}
			max = ${{thread[pool].max_servers}}
			spare = ${{thread[pool].max_spare_servers}}
			uses = 0
			retry_delay = 30
			lifetime = 0
			idle_timeout = 60
		}}
		client_table = "nas"
		group_attribute = "SQL-Group"
		$INCLUDE {d}/queries.conf
	}}
	# %{{md5:}} and %{{tolower:}} (acct_unique, queries.conf) are rlm_expr's
	expr {{
	}}"""
        lookup, accounting = "sql", "sql"
        # Debian's policy.d/accounting acct_unique (the branch for requests without a Class of ours)
        preacct = """update request {
			&Acct-Unique-Session-Id := "%{md5:%{User-Name},%{Acct-Session-ID},%{%{NAS-IPv6-Address}:-%{NAS-IP-Address}},%{NAS-Identifier},%{NAS-Port-ID},%{NAS-Port}}"
		}"""  # noqa: E501
    # First in the reply list, so first in the packet: the attributes modules add later are appended.
    sign = """		update reply {
			&Message-Authenticator := 0x00
		}
""" if reply_ma else ""
    return f"""# Written by bench/freeradius_conf.py: FreeRADIUS under test ({backend}), a private instance.
prefix = /usr
exec_prefix = /usr
sysconfdir = {d}
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
confdir = {d}
modconfdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
name = radiusd
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
log {{
	destination = files
	colourise = no
	file = {d}/radius.log
	auth = no
	auth_badpass = no
	auth_goodpass = no
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 1
	status_server = no
}}
proxy_requests = no
{DEBIAN_THREAD_POOL}
client bench {{
	ipaddr = {client}
	secret = {quote(secret)}
	require_message_authenticator = yes
}}
modules {{
	always ok {{
		rcode = ok
	}}
	pap {{
	}}
	chap {{
	}}
	mschap {{
	}}
{module}
}}
server bench {{
	authorize {{
{sign}		chap
		mschap
		{lookup}
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
		Auth-Type MS-CHAP {{
			mschap
		}}
	}}
	preacct {{
		{preacct}
	}}
	accounting {{
		{accounting}
	}}
}}
listen {{
	type = auth
	ipaddr = {address}
	port = {auth_port}
	virtual_server = bench
	recv_buff = {RECV_BUFF}
}}
listen {{
	type = acct
	ipaddr = {address}
	port = {acct_port}
	virtual_server = bench
	recv_buff = {RECV_BUFF}
}}
"""


def write_raddb(d: Path, *, backend: str, pairs: list[tuple[str, str]], auth_port: int, acct_port: int,
                secret: str, queries: Path = DEBIAN_SQLITE / "queries.conf") -> Path:
    """radiusd.conf and the users (a users file, or radius.db and a copy of Debian's queries.conf) in ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    if backend == "files":
        (d / "users").write_text(users_file_text(pairs))
    else:
        write_sqlite_db(d / "radius.db", pairs)
        shutil.copyfile(queries, d / "queries.conf")
    conf = d / "radiusd.conf"
    conf.write_text(radiusd_conf(d, backend=backend, auth_port=auth_port, acct_port=acct_port, secret=secret))
    return conf


class FreeRadiusServer:
    """A private FreeRADIUS serving auth on ``auth_port`` and accounting on ``acct_port``; a context manager.

    ``cpu``: pin it (all its threads) with ``taskset -c CPU``. The raddb must
    have been written with ``write_raddb``.
    """

    def __init__(self, d: Path, *, auth_port: int, acct_port: int, cpu: str | None = None,
                 name: str = "freeradius") -> None:
        self.dir = d
        self.auth_port = auth_port
        self.acct_port = acct_port
        self.cpu = cpu
        self.name = name
        self.log: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 120.0) -> FreeRadiusServer:
        binary = freeradius_binary()
        if binary is None:
            raise RuntimeError("freeradius is not installed: `make venv-test` installs it (service not started)")
        pin = ["taskset", "-c", self.cpu] if self.cpu is not None else []
        cmd = [*pin, binary, "-f", "-l", "stdout", "-d", str(self.dir), "-n", "radiusd"]
        self.proc = start_foreground(cmd, self.dir / "radiusd.log", self.log, timeout, name=self.name)
        if self.proc is None:
            raise RuntimeError(f"{self.name} exited before it was ready:\n{self.log_text()[-4000:]}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return "".join(self.log)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> FreeRadiusServer:
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
