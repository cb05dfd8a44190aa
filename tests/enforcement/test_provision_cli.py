"""``aaad nas provision`` and ``aaad nas status`` against the fake RouterOS API (in process, SQLite)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aaad import app, cli
from aaad.db import sync_engine
from enforcement import status_store
from tests.fake_routeros import FakeRouterOS, closed_port


@pytest.fixture
def fake() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(password="pw", identity="edge-7") as f:
        yield f


@pytest.fixture
def conf(tmp_path: Path, fake: FakeRouterOS) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n'
                 '[web]\npublic_url = "https://portal.example.net"\n[enforcement]\napi_timeout = 3.0\n')
    c = str(p)
    assert cli.main(["-c", c, "org", "add", "acme"]) == 0
    assert cli.main(["-c", c, "profile", "add", "gold", "--rate-limit", "10M/10M"]) == 0
    assert cli.main(["-c", c, "nas", "add", "r1", "10.0.0.1", "--secret", "s3cret", "--api-host", "127.0.0.1",
                     "--api-port", str(fake.port), "--api-username", "admin", "--api-password", "pw"]) == 0
    assert cli.main(["-c", c, "nas", "add", "bare", "10.0.0.2", "--secret", "s3cret"]) == 0
    return c


def run(conf: str, *args: str, capsys: Any) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_provision_then_nothing_to_change(conf: str, fake: FakeRouterOS, capsys: Any) -> None:
    """provision configures the router; run again it sends no write and says so."""
    rc, out, _ = run(conf, "nas", "provision", "r1", "--radius-address", "192.0.2.10", capsys=capsys)
    assert rc == 0 and "change(s) applied" in out
    assert "/ppp profile add name=aaad-gold rate-limit=10M/10M" in out
    assert any(r.get("name") == "aaad-gold" for r in fake.table("/ppp/profile"))
    assert fake.table("/radius")[0]["secret"] == "s3cret"
    fake.clear_received()
    rc, out, _ = run(conf, "nas", "provision", "r1", "--radius-address", "192.0.2.10", capsys=capsys)
    assert (rc, out) == (0, "NAS r1: already provisioned, nothing to change\n")
    assert fake.writes() == []


def test_provision_dry_run(conf: str, fake: FakeRouterOS, capsys: Any) -> None:
    """--dry-run prints one RouterOS command per line, secret masked, and writes nothing."""
    rc, out, _ = run(conf, "nas", "provision", "r1", "--dry-run", "--radius-address", "192.0.2.10", capsys=capsys)
    assert rc == 0 and fake.writes() == []
    lines = out.splitlines()
    assert lines[0].startswith("/radius add comment=aaad service=ppp,hotspot address=192.0.2.10 secret=******** ")
    assert "/ip proxy access add comment=\"aaad: walled garden: suspension page\" action=deny " \
           "redirect-to=https://portal.example.net/acme/portal/suspended" in lines
    assert lines[-1].startswith("# NAS r1: ") and "would be sent" in lines[-1]


def test_provision_without_credentials(conf: str, capsys: Any) -> None:
    """Without API credentials provision refuses; --dry-run prints the full configuration instead."""
    rc, _, err = run(conf, "nas", "provision", "bare", "--radius-address", "192.0.2.10", capsys=capsys)
    assert rc == 2 and "no RouterOS API credentials" in err
    rc, out, _ = run(conf, "nas", "provision", "bare", "--radius-address", "192.0.2.10", "--dry-run",
                     "--show-secrets", capsys=capsys)
    assert rc == 0 and "secret=s3cret" in out and "/ppp aaa set use-radius=yes accounting=yes" in out


def test_provision_needs_an_address(conf: str, capsys: Any) -> None:
    """With RADIUS on a wildcard address and a DNS public URL, --radius-address is required."""
    rc, _, err = run(conf, "nas", "provision", "r1", capsys=capsys)
    assert rc == 2 and "--radius-address" in err


def test_status_json_and_table(conf: str, capsys: Any) -> None:
    """status reports version, board and identity, as JSON or a table."""
    rc, out, _ = run(conf, "nas", "status", "r1", "--json", capsys=capsys)
    st = json.loads(out)
    assert rc == 0 and (st["nas"], st["reachable"], st["identity"], st["board"]) == ("r1", True, "edge-7",
                                                                                     "RB5009UG+S+")
    assert st["version"] == "7.16.2 (stable)" and st["checked_at"]
    rc, out, _ = run(conf, "nas", "status", "r1", capsys=capsys)
    assert rc == 0 and "edge-7" in out and "7.16.2 (stable)" in out
    engine = sync_engine(app.database_url(app.load_config(conf)))
    with engine.connect() as c:
        stored = status_store.for_org(c, 1)
    engine.dispose()
    assert [(s.reachable, s.identity) for s in stored.values()] == [(True, "edge-7")]


def test_status_of_a_failing_router(conf: str, fake: FakeRouterOS, capsys: Any) -> None:
    """A refused login, a silent router and an unknown NAS exit non-zero with the reason."""
    fake.login_fails = True
    rc, out, _ = run(conf, "nas", "status", "r1", "--json", capsys=capsys)
    assert rc == 1 and json.loads(out)["error_kind"] == "login"
    fake.login_fails = False
    fake.mode = "silent"
    rc, out, _ = run(conf, "nas", "status", "r1", "--json", capsys=capsys)
    assert rc == 1 and json.loads(out)["error_kind"] == "timeout"
    rc, _, err = run(conf, "nas", "status", "nope", capsys=capsys)
    assert rc == 2 and "no NAS named 'nope'" in err
    assert cli.main(["-c", conf, "nas", "set", "r1", "--api-port", str(closed_port())]) == 0
    rc, _, err = run(conf, "nas", "provision", "r1", "--radius-address", "192.0.2.10", capsys=capsys)
    assert rc == 1 and "unreachable" in err
