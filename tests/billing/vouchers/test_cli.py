"""``aaad voucher ...`` as an operator runs it (in process, a temporary SQLite config): a package, a
batch with its CSV and PDF, listings as JSON, show with the history, revoking a voucher and a batch,
and bad input as one line with exit 2."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from aaad import cli


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "cafe", "--timezone", "Africa/Accra", "--currency", "GHS"]) == 0
    return str(p)


def run(conf: str, capsys: Any, *args: str, code: int = 0) -> str:
    capsys.readouterr()
    assert cli.main(["-c", conf, *args]) == code
    out = capsys.readouterr()
    return str(out.out if code == 0 else out.err)


def test_package_batch_voucher_flow(conf: str, capsys: Any, tmp_path: Path) -> None:
    """Add a package, create a batch with CSV and PDF, list, show and revoke a voucher, revoke the batch."""
    out = run(conf, capsys, "voucher", "package", "add", "1 hour", "--price", "5.00", "--rate-limit", "2M/2M",
              "--time", "1h", "--data", "500M", "--validity", "1d", "--prefix", "cf")
    assert "voucher package 1 hour added" in out and "GHS5.00" in out and "1 h, 500 MB" in out
    pk = json.loads(run(conf, capsys, "voucher", "package", "list", "--json"))
    assert pk[0]["time_limit"] == 3600 and pk[0]["validity_hours"] == 24 and pk[0]["prefix"] == "CF"
    out = run(conf, capsys, "voucher", "batch", "create", "--package", "1 hour", "--count", "5",
              "--csv", str(tmp_path / "b.csv"), "--pdf", str(tmp_path / "b.pdf"), "--note", "till 1")
    assert out.startswith("batch 1: 5 vouchers of 1 hour")
    rows = list(csv.DictReader((tmp_path / "b.csv").open()))
    assert len(rows) == 5 and all(r["code"].startswith("CF") for r in rows)
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF")
    listed = json.loads(run(conf, capsys, "voucher", "list", "--batch", "1", "--json"))
    assert {v["code"] for v in listed} == {r["code"] for r in rows} and listed[0]["password"] is None
    code = rows[0]["code"]
    shown = run(conf, capsys, "voucher", "show", code.lower())
    assert f"password:   {rows[0]['password']}" in shown and "created" in shown and "unused" in shown
    assert run(conf, capsys, "voucher", "revoke", code).strip() == f"voucher {code} revoked"
    assert json.loads(run(conf, capsys, "voucher", "show", code, "--json"))["voucher"]["state"] == "revoked"
    assert "batch 1 revoked" in run(conf, capsys, "voucher", "batch", "revoke", "1")
    states = {v["state"] for v in json.loads(run(conf, capsys, "voucher", "list", "--json"))}
    assert states == {"revoked"}
    batches = json.loads(run(conf, capsys, "voucher", "batch", "list", "--json"))
    assert batches[0]["revoked_at"] and batches[0]["note"] == "till 1"


def test_bad_input(conf: str, capsys: Any) -> None:
    """Bad values, an unknown package or voucher: one line naming the problem, exit 2."""
    err = run(conf, capsys, "voucher", "package", "add", "x", "--price", "5.00", "--time", "soon", code=2)
    assert "time_limit" in err
    err = run(conf, capsys, "voucher", "batch", "create", "--package", "nope", "--count", "1", code=2)
    assert "no voucher package 'nope'" in err
    assert "no voucher 'NOPE'" in run(conf, capsys, "voucher", "show", "NOPE", code=2)
    run(conf, capsys, "voucher", "package", "add", "x", "--price", "1", "--time", "30m")
    assert "count" in run(conf, capsys, "voucher", "batch", "create", "--package", "x", "--count", "0", code=2)


def test_long_work_shows_progress(conf: str, capsys: Any) -> None:
    """A large batch says what it is doing on stderr (stdout keeps the result)."""
    run(conf, capsys, "voucher", "package", "add", "x", "--price", "1", "--time", "30m")
    capsys.readouterr()
    assert cli.main(["-c", conf, "voucher", "batch", "create", "--package", "x", "--count", "600"]) == 0
    out = capsys.readouterr()
    assert "generating 600 vouchers..." in out.err and out.out.startswith("batch 1: 600 vouchers of x")
