"""Race-free redemption and shared users through the real daemon, on SQLite and on
PostgreSQL: Access-Requests for one unused voucher sent at the same moment (radclient
in parallel, each from its own device) get exactly as many accepts as the voucher has
shared users, the voucher is activated once (one first use, one state change), and a
second daemon instance on the same PostgreSQL claiming at the same time changes nothing."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None, reason="radclient missing: make test")

SECRET = "testing123"


def burst(d: Daemon, code: str, macs: list[str], tmp: Path, port: int | None = None) -> list[str]:
    """One Access-Request per device, all sent at once (radclient -p); each reply's code."""
    f = tmp / f"burst-{code}-{port or d.auth_port}.txt"
    f.write_text("\n".join(f'User-Name = "{code}"\nUser-Password = "{code}"\nCalling-Station-Id = "{m}"\n'
                           f'Message-Authenticator = 0x00\n' for m in macs))
    r = subprocess.run(["radclient", "-x", "-p", str(len(macs)), "-r", "1", "-t", "5", "-f", str(f),
                        f"127.0.0.1:{port or d.auth_port}", "auth", SECRET], capture_output=True, text=True,
                       timeout=60)
    return [line.split()[1] for line in r.stdout.splitlines() if line.startswith("Received Access-")]


def fresh_voucher(d: Daemon, package: str) -> str:
    """A new unused voucher of ``package``, once the running daemon has it (the change feed)."""
    before = json.loads(d.get("/healthz")[1])["last_change"]
    out = d.cli("voucher", "batch", "create", "--package", package, "--count", "1", "--json").stdout
    (v,) = json.loads(d.cli("voucher", "list", "--batch", str(json.loads(out)["id"]), "--json").stdout)
    deadline = time.monotonic() + 3
    while json.loads(d.get("/healthz")[1])["last_change"] <= before:
        assert time.monotonic() < deadline, "the change feed did not bring the voucher"
        time.sleep(0.05)
    return str(v["code"])


def voucher(d: Daemon, code: str) -> dict[str, Any]:
    return dict(json.loads(d.cli("voucher", "show", code, "--json").stdout)["voucher"])


MACS = [f"02:00:00:00:10:{i:02x}" for i in range(6)]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_device_voucher_sent_by_six_at_once(daemon_factory: Any, database: str, tmp_path: Path,
                                                request: Any) -> None:
    """A voucher for one device: six devices at once, one accept; it is active once, bound to nobody."""
    url = request.getfixturevalue("pg_cluster").new_database() if database == "postgresql" else None
    d = daemon_factory(db_url=url) if url else daemon_factory()
    d.cli("voucher", "package", "add", "One", "--price", "1", "--time", "1h", "--code-only")
    code = fresh_voucher(d, "One")
    got = burst(d, code, MACS, tmp_path)
    assert sorted(got) == ["Access-Accept"] + ["Access-Reject"] * 5, got
    v = voucher(d, code)
    assert v["state"] == "active" and v["first_used_at"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_device_voucher_sent_by_six_at_once(daemon_factory: Any, database: str, tmp_path: Path,
                                                request: Any) -> None:
    """A voucher for two devices: six devices at once, two accepts."""
    url = request.getfixturevalue("pg_cluster").new_database() if database == "postgresql" else None
    d = daemon_factory(db_url=url) if url else daemon_factory()
    d.cli("voucher", "package", "add", "Two", "--price", "1", "--time", "1h", "--code-only", "--shared-users", "2")
    code = fresh_voucher(d, "Two")
    got = burst(d, code, MACS, tmp_path)
    assert sorted(got) == ["Access-Accept"] * 2 + ["Access-Reject"] * 4, got


def test_two_instances_claim_one_voucher_once(daemon_factory: Any, pg_cluster: Any, tmp_path: Path) -> None:
    """Two daemons on one PostgreSQL, the same unused MAC-bound voucher at both at once, each from
    its own device: one claims it; the other, deciding again on the claimed voucher, refuses its
    device (bound to the other)."""
    url = pg_cluster.new_database()
    a = daemon_factory(db_url=url)
    conf_b, dir_b = daemon_factory.configure(url, demo=False)
    shutil.copy(a.data_dir / "secret.key", dir_b / "secret.key")   # instances share the key
    b = daemon_factory.start(conf_b, dir_b)
    a.cli("voucher", "package", "add", "Bound", "--price", "1", "--time", "1h", "--bind-mac", "--code-only")
    code = fresh_voucher(a, "Bound")
    deadline = time.monotonic() + 3
    while json.loads(b.get("/healthz")[1])["last_change"] < json.loads(a.get("/healthz")[1])["last_change"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(2) as pool:
        fa = pool.submit(burst, a, code, [MACS[0]], tmp_path)
        fb = pool.submit(burst, b, code, [MACS[1]], tmp_path)
        got = fa.result() + fb.result()
    assert sorted(got) == ["Access-Accept", "Access-Reject"], got
    v = voucher(a, code)
    assert v["state"] == "active" and v["bound_mac"] in (MACS[0].upper(), MACS[1].upper())
