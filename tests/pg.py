"""A private PostgreSQL cluster (initdb + pg_ctl as the postgres user) on a free port.

Used by the test fixtures and by the benchmarks; everything runs as root here,
so the server runs as ``postgres`` through ``runuser``.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PgCluster:
    bindir: Path
    base: Path
    port: int
    opts: str = ""
    _n: int = 0
    _template: str | None = None

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        return self.base / "sock"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                              capture_output=True, text=True)

    def psql(self, sql: str, db: str = "postgres") -> None:
        self.run(str(self.bindir / "psql"), "-h", str(self.sockdir), "-p", str(self.port), "-d", db,
                 "-v", "ON_ERROR_STOP=1", "-q", "-c", sql)

    def admin(self, *statements: str) -> None:
        """Run statements on the ``postgres`` database in autocommit (CREATE/DROP DATABASE).

        Through the driver rather than ``psql``: a runuser and a psql process per database cost
        more than creating it.
        """
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql.encode())

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def new_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        self._n += 1
        name = f"aaad_test_{os.getpid()}_{self._n}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def recreate_migrated(self, name: str) -> None:
        """Replace database ``name`` (empty, nobody connected) by a copy of the migrated template.

        The template (every migration head) is made on first use, once per cluster.
        """
        if self._template is None:
            from aaad import migrate
            from aaad.db import sync_engine
            template = f"aaad_template_{os.getpid()}"
            self.admin(f"CREATE DATABASE {template}")
            e = sync_engine(self.url(template))
            migrate.upgrade(e)
            e.dispose()   # CREATE DATABASE ... TEMPLATE needs the template without connections
            self._template = template
        self.admin(f"DROP DATABASE {name}", f"CREATE DATABASE {name} TEMPLATE {self._template}")

    def start(self) -> None:
        """Start the server (again) on the same port and data."""
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", "-l",
                 str(self.base / "log"), "-o", self.opts, "start")

    def stop(self, remove: bool = True, mode: str = "immediate") -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bindir / "pg_ctl"), "-D",
                        str(self.datadir), "-m", mode, "-w", "stop"], capture_output=True)
        if remove:
            # Removed by a detached `rm`: the session's cluster holds hundreds of databases, and
            # deleting their files took pytest 30-40 s at exit.
            subprocess.Popen(["rm", "-rf", "--", str(self.base)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_cluster(fsync: bool = False) -> PgCluster:
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="aaad-pg-"))
    os.chmod(base, 0o755)
    (base / "sock").mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(base / "sock", "postgres")
    c = PgCluster(bindir, base, free_port())
    c.run(str(bindir / "initdb"), "-D", str(c.datadir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    c.opts = f"-p {c.port} -k {c.sockdir} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not fsync:
        c.opts += " -c fsync=off"
    c.start()
    return c
