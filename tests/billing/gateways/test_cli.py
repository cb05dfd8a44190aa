"""``aaad billing gateway`` in process (SQLite): show and choose the org's gateway, read its log."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aaad import cli


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


def test_gateway_command(conf: str, capsys: Any) -> None:
    """No gateway by default (the test gateway lets customers mark their own balance paid);
    --use test / none switch it; --log lists the log; an unknown gateway is a usage error."""
    assert run(conf, "billing", "gateway", capsys=capsys) == (0, "gateway  none\n")
    rc, out = run(conf, "billing", "gateway", "--use", "test", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out) == {"gateway": "test"}
    assert run(conf, "billing", "gateway", capsys=capsys) == (0, "gateway  test\n")
    rc, out = run(conf, "billing", "gateway", "--use", "none", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out) == {"gateway": "none"}
    rc, out = run(conf, "billing", "gateway", "--log", "--json", capsys=capsys)
    assert rc == 0 and json.loads(out) == []
    with pytest.raises(SystemExit):
        cli.main(["-c", conf, "billing", "gateway", "--use", "bitcoin"])


def test_paystack_settings(conf: str, capsys: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The Paystack key is read from a file (or stdin with -), never printed back (only that it is set
    and its mode); --use paystack refuses without a key; --paystack-url sets and '' resets the base URL."""
    rc, out = run(conf, "billing", "gateway", "--use", "paystack", capsys=capsys)
    assert rc != 0 and "paystack_secret_key" in out
    bad = tmp_path / "bad"
    bad.write_text("pk_test_public\n")
    rc, out = run(conf, "billing", "gateway", "--paystack-secret-key-file", str(bad), capsys=capsys)
    assert rc != 0 and "sk_test_" in out
    key = "sk_test_" + "5e" * 20
    keyfile = tmp_path / "key"
    keyfile.write_text(key + "\n")
    rc, out = run(conf, "billing", "gateway", "--paystack-secret-key-file", str(keyfile), "--paystack-url",
                  "http://127.0.0.1:9/", "--use", "paystack", capsys=capsys)
    assert rc == 0 and key not in out, out
    assert "gateway  paystack" in out and "paystack key  set (test)" in out
    assert "paystack url  http://127.0.0.1:9" in out and "/gateway/paystack/isp/webhook" in out
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("sk_live_" + "7f" * 20))
    rc, out = run(conf, "billing", "gateway", "--paystack-secret-key-file", "-", "--paystack-url", "", "--json",
                  capsys=capsys)
    assert rc == 0 and json.loads(out) == {"gateway": "paystack", "paystack_key_set": True, "paystack_mode": "live",
                                           "paystack_base_url": "https://api.paystack.co"}
