"""Shared fixtures: the real daemon as a subprocess, a private PostgreSQL
cluster, and database URLs for tests that must pass on both databases."""
from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The slowest directories first: under pytest-xdist (make test) each file goes to the next free
# worker in collection order, so long files started last would leave the other workers idle at the end.
SLOW_FIRST = ("tests/browser/", "tests/e2e/")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    def rank(item: Any) -> int:
        path = Path(str(item.fspath)).relative_to(ROOT).as_posix()
        return next((i for i, d in enumerate(SLOW_FIRST) if path.startswith(d)), len(SLOW_FIRST))
    items.sort(key=rank)   # stable: the order within a rank is kept


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """In-process tests hash people's passwords with argon2id at 1 MiB and one pass instead of the
    daemon's 64 MiB and three (tests/test_passwords.py checks the daemon's); daemons the tests start
    keep theirs."""
    from argon2 import PasswordHasher

    from aaad import passwords
    old = passwords.use(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use(old)


# -- PostgreSQL --------------------------------------------------------------------

from tests.pg import PgCluster, pg_bin, start_cluster  # noqa: E402


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster on a free port, for the whole session."""
    if pg_bin() is None:
        pytest.fail("PostgreSQL server binaries not found: run the README's test command (make test) to install them")
    c = start_cluster()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: Any, tmp_path: Path) -> str:
    """A fresh, empty database URL: each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_cluster").new_database()


@pytest.fixture
def engine(request: Any, db_url: str) -> Iterator[Any]:
    """A migrated engine on both databases (a copy of a template migrated once: tests/dbtemplate.py)."""
    from aaad.db import sync_engine
    from tests.dbtemplate import migrated
    e = sync_engine(migrated(db_url, request))
    yield e
    e.dispose()


@pytest.fixture
def box() -> Any:
    from aaad.crypto import SecretBox
    return SecretBox(b"k" * 32)


# -- the real daemon ---------------------------------------------------------------------

@dataclass
class Daemon:
    """A running ``aaad serve`` subprocess and how to talk to it."""
    proc: subprocess.Popen
    config_path: Path
    data_dir: Path
    ports: dict[str, int]
    lines: queue.Queue[str]
    log: list[str] = field(default_factory=list)

    @property
    def auth_port(self) -> int:
        return self.ports["auth"]

    @property
    def acct_port(self) -> int:
        return self.ports["acct"]

    @property
    def web_port(self) -> int:
        return self.ports["web"]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.web_port}{path}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(self.config_path), *args],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"aaad {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def get(self, path: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name: str, labels: str = "") -> float:
        _, text = self.get("/metrics")
        key = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(key + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, sig: str = "TERM", timeout: float = 15) -> int:
        if self.proc.poll() is None:
            if sig == "KILL":
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def write_config(path: Path, data_dir: Path, db_url: str | None = None, extra: str = "") -> None:
    """A test daemon's config: every port 0 on loopback, no reject delay; ``extra`` (TOML
    sections) adds keys or overrides these."""
    sections: dict[str, dict[str, str]] = {
        "server": {"data_dir": f'"{data_dir}"', "ready_file": f'"{data_dir / "ready.json"}"',
                   "log_level": '"info"'},
        "web": {"port": "0"},
        "radius": {"auth_port": "0", "address": '"127.0.0.1"', "reject_delay": "0.0"},
        "accounting": {"port": "0", "address": '"127.0.0.1"'},
    }
    if db_url:
        sections["database"] = {"url": f'"{db_url}"'}
    current: dict[str, str] | None = None
    for line in extra.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif line and not line.startswith("#"):
            assert current is not None, f"extra config line outside a section: {line!r}"
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    path.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
                            for name, keys in sections.items()))


def start_daemon(config_path: Path, data_dir: Path, timeout: float = 60) -> Daemon:
    """Start ``aaad serve`` and wait for its readiness line (no sleeping)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "aaad", "-c", str(config_path), "serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=str(ROOT))
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put("")  # EOF

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise AssertionError("daemon not ready in time:\n" + "".join(log))
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        if line == "":
            proc.wait(5)
            raise AssertionError(f"daemon exited ({proc.returncode}) before ready:\n" + "".join(log))
        if line.startswith("aaad ready "):
            ports = json.loads(line[len("aaad ready "):])
            return Daemon(proc, config_path, data_dir, ports, lines, log)


# A demo on SQLite (`aaad demo --no-billing`, 2-3 s) is kept for a while and copied into the next data
# directory configured with the same extra config: its database and key, byte for byte.  Not for
# long: the demo's times are relative to when it ran.
DEMO_REUSE_SECONDS = 120.0
_DEMOS: dict[str, tuple[Path, float]] = {}   # extra config -> (a copy of the demo's data dir, when made)
_NOT_DATA = {"aaad.toml", "ready.json"}


def _copy_demo(extra: str, data_dir: Path) -> bool:
    kept = _DEMOS.get(extra)
    if kept is None or time.monotonic() - kept[1] > DEMO_REUSE_SECONDS:
        return False
    for f in kept[0].iterdir():
        shutil.copyfile(f, data_dir / f.name)
    return True


def _keep_demo(extra: str, data_dir: Path) -> None:
    files = [f for f in data_dir.iterdir() if f.name not in _NOT_DATA and not f.name.endswith("-shm")]
    if any(not f.is_file() or (f.name.endswith("-wal") and f.stat().st_size) for f in files):
        return   # a directory, or a WAL not checkpointed: not what this copy knows how to take
    old = _DEMOS.pop(extra, None)
    if old is not None:
        shutil.rmtree(old[0], ignore_errors=True)
    d = Path(tempfile.mkdtemp(prefix="aaad-demo-"))
    for f in files:
        shutil.copyfile(f, d / f.name)
    _DEMOS[extra] = (d, time.monotonic())


@atexit.register
def _forget_demos() -> None:
    for d, _ in _DEMOS.values():
        shutil.rmtree(d, ignore_errors=True)


class DaemonFactory:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.started: list[Daemon] = []
        self._n = 0

    def configure(self, db_url: str | None = None, extra: str = "", demo: bool = True) -> tuple[Path, Path]:
        self._n += 1
        data_dir = self.tmp / f"d{self._n}"
        data_dir.mkdir(parents=True)
        conf = data_dir / "aaad.toml"
        write_config(conf, data_dir, db_url, extra)
        reusable = db_url is None and "[database]" not in extra    # the demo's database is in data_dir
        if demo and not (reusable and _copy_demo(extra, data_dir)):
            # The billing demo replays six weeks of billing; tests that need billing data make their own.
            r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(conf), "demo", "--no-billing"],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            if reusable:
                _keep_demo(extra, data_dir)
        return conf, data_dir

    def start(self, conf: Path, data_dir: Path) -> Daemon:
        d = start_daemon(conf, data_dir)
        self.started.append(d)
        return d

    def __call__(self, db_url: str | None = None, extra: str = "", demo: bool = True) -> Daemon:
        return self.start(*self.configure(db_url, extra, demo))

    def close(self) -> None:
        for d in self.started:
            d.stop()


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[DaemonFactory]:
    """Start daemons with their own temporary config and database; all stopped after."""
    f = DaemonFactory(tmp_path)
    yield f
    f.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: Any) -> Iterator[Daemon]:
    """One demo daemon on SQLite shared by a test module (NAS 127.0.0.1, secret testing123)."""
    f = DaemonFactory(tmp_path_factory.mktemp("daemon"))
    d = f()
    yield d
    f.close()
