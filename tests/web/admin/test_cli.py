"""``aaad admin add|list|role|disable|enable|reset-2fa|passwd`` in process against a fresh SQLite database."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aaad import cli
from tests.conftest import write_config


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    write_config(p, tmp_path / "data")
    assert cli.main(["-c", str(p), "org", "add", "acme", "--name", "Acme"]) == 0
    assert cli.main(["-c", str(p), "org", "add", "zed", "--name", "Zed"]) == 0
    return str(p)


def run(conf: str, capsys: Any, *args: str) -> tuple[int, str]:
    code = cli.main(["-c", conf, "admin", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_add_list_disable_reset_passwd(conf: str, capsys: Any) -> None:
    """The commands do what they say and list shows it (never a secret)."""
    code, out = run(conf, capsys, "add", "Boss@Acme.Example", "--org", "acme", "--role", "owner",
                    "--password", "a long password", "--name", "The Boss")
    assert code == 0 and "boss@acme.example (owner, org acme) created" in out
    assert run(conf, capsys, "add", "two@acme.example", "--org", "acme", "--role", "owner",
               "--password", "a long password")[0] == 0
    assert run(conf, capsys, "add", "root@aaad.example", "--platform", "--role", "owner",
               "--password", "a long password")[0] == 0
    code, out = run(conf, capsys, "list", "--json")
    rows = json.loads(out)
    assert [(r["email"], r["org"], r["role"], r["two_factor"]) for r in rows] == [
        ("boss@acme.example", "acme", "owner", False), ("two@acme.example", "acme", "owner", False),
        ("root@aaad.example", "(platform)", "owner", False)]
    assert "hash" not in out and "long password" not in out
    assert run(conf, capsys, "passwd", "boss@acme.example", "--password", "another long one")[0] == 0
    assert run(conf, capsys, "reset-2fa", "boss@acme.example")[0] == 0
    code, out = run(conf, capsys, "disable", "boss@acme.example")
    assert code == 0 and "disabled" in out
    assert json.loads(run(conf, capsys, "list", "--json")[1])[0]["disabled"]


def test_errors_exit_2_with_the_reason(conf: str, capsys: Any) -> None:
    """A duplicate address, a short password, an unknown account and an ambiguous one: exit 2, one line."""
    assert run(conf, capsys, "add", "a@x.example", "--org", "acme", "--role", "admin", "--password", "pw")[1] \
        .strip().endswith("password: Use 10 to 200 characters.")
    run(conf, capsys, "add", "a@x.example", "--org", "acme", "--role", "admin", "--password", "a long password")
    code, out = run(conf, capsys, "add", "a@x.example", "--org", "acme", "--role", "admin",
                    "--password", "a long password")
    assert code == 2 and "exists already" in out
    code, out = run(conf, capsys, "disable", "nobody@x.example")
    assert code == 2 and "no admin account" in out
    run(conf, capsys, "add", "a@x.example", "--org", "zed", "--role", "admin", "--password", "a long password")
    code, out = run(conf, capsys, "disable", "a@x.example")
    assert code == 2 and "several orgs" in out
    assert run(conf, capsys, "disable", "a@x.example", "--org", "zed")[0] == 0


def test_role_and_enable(conf: str, capsys: Any) -> None:
    """``role EMAIL ROLE`` changes the role (the last active owner is refused with the reason, exit 2) and
    ``enable EMAIL`` brings a disabled account back; list shows both."""
    for email, role in (("boss@acme.example", "owner"), ("desk@acme.example", "support")):
        assert run(conf, capsys, "add", email, "--org", "acme", "--role", role, "--password", "a long password")[0] == 0
    code, out = run(conf, capsys, "role", "boss@acme.example", "admin")
    assert code == 2 and "last active owner" in out
    code, out = run(conf, capsys, "role", "desk@acme.example", "owner")
    assert code == 0 and "desk@acme.example is now owner" in out
    assert run(conf, capsys, "role", "boss@acme.example", "cashier")[0] == 0
    assert run(conf, capsys, "disable", "boss@acme.example")[0] == 0
    code, out = run(conf, capsys, "enable", "boss@acme.example")
    assert code == 0 and "enabled" in out
    rows = {r["email"]: r for r in json.loads(run(conf, capsys, "list", "--json")[1])}
    assert rows["boss@acme.example"]["role"] == "cashier" and rows["boss@acme.example"]["disabled"] is None
    assert rows["desk@acme.example"]["role"] == "owner"
    assert run(conf, capsys, "enable", "nobody@acme.example")[0] == 2


def test_demo_adds_the_console_accounts(tmp_path: Path, capsys: Any) -> None:
    """``aaad demo`` (without billing) adds the demo owner and cashier once and prints how to sign in."""
    p = tmp_path / "demo.toml"
    write_config(p, tmp_path / "data")
    assert cli.main(["-c", str(p), "demo", "--no-billing"]) == 0
    out = capsys.readouterr().out
    assert "console /admin/login: owner@demo.example / owner-pass (owner" in out
    assert "cashier@demo.example / cashier-pass (cashier" in out
    assert cli.main(["-c", str(p), "demo", "--no-billing"]) == 0        # again: nothing doubled
    capsys.readouterr()
    assert cli.main(["-c", str(p), "admin", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["email"], r["role"]) for r in rows] == [("owner@demo.example", "owner"),
                                                         ("cashier@demo.example", "cashier")]
