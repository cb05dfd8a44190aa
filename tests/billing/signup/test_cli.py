"""``aaad billing signup`` and ``aaad registration`` in process (SQLite)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aaad import cli
from aaad.db import sync_engine


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--timezone", "Africa/Accra", "--currency", "GHS"]) == 0
    return str(p)


def run(conf: str, *args: str, capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_signup_settings_and_a_registration_approved(conf: str, tmp_path: Path, capsys: Any) -> None:
    """Open sign-up from the command line, list a registration, approve it with a product, reject another;
    an unknown id is an error naming it."""
    rc, out = run(conf, "billing", "signup", "--enable", "--approval", "required", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out)["enabled"] is True
    from aaad.crypto import SecretBox
    from aaad.view.write import LoginWriter
    from billing import catalogue
    from billing.signup import registrations
    now = datetime.now(UTC)
    e = sync_engine(f"sqlite:///{tmp_path / 'aaad.db'}")
    with e.begin() as c:
        p = catalogue.add_product(c, LoginWriter(SecretBox(b"k" * 32)), 1, now, name="Home 10M", type="internet",
                                  price=100_00, rate_limit="10M/10M")
        a = registrations.seed_one(c, 1, now)
        b = registrations.seed_one(c, 1, now)
    e.dispose()
    rc, out = run(conf, "registration", "list", "--status", "pending", capsys=capsys)
    assert rc == 0 and "Applicant 1" in out and "Applicant 2" in out
    rc, out = run(conf, "registration", "approve", str(a.id), "--product", str(p.id), capsys=capsys)
    assert rc == 0 and "approved: customer" in out
    rc, out = run(conf, "registration", "reject", str(b.id), "--reason", "duplicate", capsys=capsys)
    assert rc == 0 and "rejected" in out
    rc, out = run(conf, "registration", "show", str(a.id), capsys=capsys)
    assert rc == 0 and json.loads(out)["status"] == "approved"
    rc, out = run(conf, "registration", "approve", str(b.id), capsys=capsys)
    assert rc != 0 and "rejected already" in out
    rc, out = run(conf, "registration", "show", "999", capsys=capsys)
    assert rc != 0 and "999" in out
