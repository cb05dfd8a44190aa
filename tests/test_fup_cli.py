"""``aaad profile add|set|list`` with FUP tiers and free hours (in process, SQLite)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aaad import cli
from tests.test_ops_cli import run

G = 10**9


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--timezone", "Europe/Berlin"]) == 0
    return str(p)


def listed(conf: str, capsys: Any) -> dict:
    rc, out = run(conf, "profile", "list", "--json", capsys=capsys)
    assert rc == 0
    (p,) = json.loads(out)
    return dict(p)


def test_add_set_clear_and_list(conf: str, capsys: Any) -> None:
    """--tier (repeatable, any order) and --free-hours are stored and listed (table and JSON);
    set --tier replaces all tiers; --no-tiers / --no-free-hours clear them."""
    rc, out = run(conf, "profile", "add", "home", "--org", "isp", "--rate-limit", "10M/10M",
                  "--tier", "200G:1M/1M", "--tier", "100G:5M/5M", "--free-hours", "00:00-06:00", capsys=capsys)
    assert rc == 0, out
    p = listed(conf, capsys)
    assert p["tiers"] == [{"after": 100 * G, "rate_limit": "5M/5M"}, {"after": 200 * G, "rate_limit": "1M/1M"}]
    assert p["free_hours"] == "00:00-06:00"
    rc, out = run(conf, "profile", "list", capsys=capsys)
    assert "100G:5M/5M 200G:1M/1M" in out and "00:00-06:00" in out
    rc, out = run(conf, "profile", "set", "home", "--org", "isp", "--tier", "1.5Gi:2M/2M", capsys=capsys)
    assert rc == 0 and "fup_tiers" in out
    p = listed(conf, capsys)
    assert p["tiers"] == [{"after": 3 * 2**29, "rate_limit": "2M/2M"}] and p["free_hours"] == "00:00-06:00"
    assert run(conf, "profile", "set", "home", "--org", "isp", "--no-tiers", "--no-free-hours",
               capsys=capsys)[0] == 0
    p = listed(conf, capsys)
    assert p["tiers"] == [] and p["free_hours"] is None and p["rate_limit"] == "10M/10M"


@pytest.mark.parametrize("args,field", [
    (["--tier", "100X:5M/5M"], "fup_tiers"),
    (["--tier", "100G"], "fup_tiers"),
    (["--tier", "100G:5M/5M", "--tier", "100G:1M/1M"], "fup_tiers"),
    (["--free-hours", "6-7"], "free_hours"),
    (["--free-hours", "06:00-06:00"], "free_hours"),
])
def test_errors_name_the_field(conf: str, capsys: Any, args: list[str], field: str) -> None:
    """A bad tier or window exits 2 with a message naming the field; nothing is added."""
    rc, out = run(conf, "profile", "add", "home", "--org", "isp", *args, capsys=capsys)
    assert rc == 2 and f"aaad: {field}: " in out
    assert run(conf, "profile", "list", capsys=capsys)[1].strip() == "(none)"


def test_a_value_and_its_clearing_together_are_refused(conf: str, capsys: Any) -> None:
    """--tier with --no-tiers (or --free-hours with --no-free-hours) is refused."""
    assert run(conf, "profile", "add", "home", "--org", "isp", capsys=capsys)[0] == 0
    rc, out = run(conf, "profile", "set", "home", "--org", "isp", "--tier", "1G:1M/1M", "--no-tiers",
                  capsys=capsys)
    assert rc == 2 and "fup_tiers" in out
    rc, out = run(conf, "profile", "set", "home", "--org", "isp", "--free-hours", "01:00-02:00",
                  "--no-free-hours", capsys=capsys)
    assert rc == 2 and "free_hours" in out
