"""End to end: a voucher batch made on the CLI reaches the running daemon; its first login is accepted
with the package's speed and what is left of its time, the voucher shows as active with its first use,
and once revoked (the CLI again) the next login is rejected with the reason."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.e2e.test_auth_e2e import radclient
from tests.e2e.test_write_path_e2e import pap, until

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


def test_batch_voucher_logs_in_then_is_revoked(daemon: Daemon, tmp_path: Path) -> None:
    """A card's code and password are accepted with Mikrotik-Rate-Limit 2M/2M and a Session-Timeout of at most
    the hour left; the voucher is active with its first use; revoked, it is rejected as 'voucher revoked'."""
    daemon.cli("voucher", "package", "add", "e2e hour", "--price", "1.00", "--rate-limit", "2M/2M", "--time", "1h",
               "--org", "demo")
    daemon.cli("voucher", "batch", "create", "--package", "e2e hour", "--count", "2", "--csv",
               str(tmp_path / "b.csv"), "--org", "demo")
    card = next(csv.DictReader((tmp_path / "b.csv").open()))
    out = until(lambda: (lambda o: o if "Access-Accept" in o else "")(
        radclient(daemon, pap(card["code"], card["password"])).stdout))
    assert 'Mikrotik-Rate-Limit = "2M/2M"' in out
    timeout = int(out.split("Session-Timeout = ")[1].split()[0])
    assert 3500 < timeout <= 3600
    shown = json.loads(daemon.cli("voucher", "show", card["code"], "--json", "--org", "demo").stdout)
    assert shown["voucher"]["state"] == "active" and shown["voucher"]["first_used_at"]
    assert [e["what"] for e in shown["history"]][:2] == ["created", "first_use"]
    daemon.cli("voucher", "revoke", card["code"], "--org", "demo")
    out = until(lambda: (lambda o: o if "Access-Reject" in o else "")(
        radclient(daemon, pap(card["code"], card["password"])).stdout))
    assert 'Reply-Message = "voucher revoked"' in out
