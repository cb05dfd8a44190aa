"""``aaad customer|product|service`` as operators run them (``python -m aaad`` against a
temporary config, SQLite), and the CLI's money parsing (hypothesis round trip)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aaad import app, cli
from aaad.db import sync_engine
from aaad.errors import ValidationError
from aaad.view import store
from billing import settings
from billing.money import format_amount, parse_amount
from tests.conftest import ROOT

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def conf(tmp_path: Path) -> str:
    """A config on a temp SQLite database with org isp (Accra, GHS, phone region GH)."""
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--timezone", "Africa/Accra", "--currency", "GHS"]) == 0
    e = sync_engine(app.database_url(app.load_config(str(p))))
    with e.begin() as c:
        settings.update(c, 1, T0, country="GH", suspend_mode="walled_garden")
    e.dispose()
    return str(p)


def aaad(conf: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aaad -c CONF ARGS`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "aaad", "-c", conf, *args], capture_output=True, text=True,
                          timeout=120, cwd=str(ROOT))


def ok(conf: str, *args: str) -> str:
    r = aaad(conf, *args)
    assert r.returncode == 0, f"aaad {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def inproc(conf: str, capsys: Any, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_operator_flow_as_separate_processes(conf: str) -> None:
    """product add, customer add, service add/suspend/resume/list, customer show and close,
    each a process of its own; --json output is machine-readable; the login follows."""
    p = json.loads(ok(conf, "product", "add", "Home 10M", "--type", "internet", "--price", "25.00",
                      "--setup-fee", "50", "--rate-limit", "10M/10M", "--data-cap", "50G", "--json"))
    assert (p["price_minor"], p["price"], p["setup_fee_minor"], p["data_cap"]) == (2500, "25.00", 5000, 50 * 10**9)
    c = json.loads(ok(conf, "customer", "add", "Ama Owusu", "--phone", "0244123456", "--email", "Ama@Example.com",
                      "--field", "ghana_card=GHA-1", "--json"))
    assert (c["phone"], c["email"], c["custom_fields"]) == ("+233244123456", "ama@example.com",
                                                            {"ghana_card": "GHA-1"})
    # from the 1st of this month (the org is in Accra, UTC+0): activation bills the setup fee and this month
    start = datetime.now(UTC).date().replace(day=1).isoformat()
    s = json.loads(ok(conf, "service", "add", "244123456", "Home 10M", "--start", start, "--json"))
    assert (s["state"], s["username"], s["start_date"]) == ("active", c["username"], start)
    assert len(s["password"]) == 10
    assert "suspended" in ok(conf, "service", "suspend", str(s["id"]), "--reason", "unpaid")
    e = sync_engine(app.database_url(app.load_config(conf)))
    with e.connect() as conn:
        lg = store.get_login(conn, app.secret_box(app.load_config(conf)), 1, s["login_id"])
        assert lg is not None and (lg.state, lg.suspend_mode, lg.owner_type) == (
            "suspended", "walled_garden", "service")
    r = aaad(conf, "service", "suspend", str(s["id"]), "--reason", "again")
    assert r.returncode == 2 and r.stderr.strip() == f"aaad: state: cannot suspend service {s['id']}: it is suspended"
    ok(conf, "service", "resume", str(s["id"]))
    listed = json.loads(ok(conf, "service", "list", "--customer", c["username"], "--json"))
    assert [(x["id"], x["state"]) for x in listed] == [(s["id"], "active")]
    shown = json.loads(ok(conf, "customer", "show", "ama@example.com", "--json"))
    # the activation invoice (part b's charges): setup fee 50.00 + this month's 25.00
    assert (shown["customer"]["id"], shown["balance"], shown["currency"]) == (c["id"], "75.00", "GHS")
    assert [x["product"] for x in shown["services"]] == ["Home 10M"]
    text = ok(conf, "customer", "show", c["username"])
    assert "Ama Owusu" in text and "Home 10M" in text and "balance:" in text
    assert "closed" in ok(conf, "customer", "close", c["username"], "--reason", "moved")
    with e.connect() as conn:
        assert store.get_login(conn, app.secret_box(app.load_config(conf)), 1, s["login_id"]) is None
    e.dispose()
    final = json.loads(ok(conf, "customer", "list", "--status", "closed", "--json"))
    assert [x["username"] for x in final] == [c["username"]]


def test_bad_input_is_one_line_and_exit_2(conf: str) -> None:
    """An unknown customer, a bad phone and too many decimals each print one line and exit 2."""
    for args, msg in ((("customer", "show", "nobody"), "aaad: no customer 'nobody'"),
                      (("customer", "add", "X", "--phone", "12"), "aaad: phone: "),
                      (("product", "add", "P", "--type", "voice", "--price", "1.234"),
                       "aaad: price: '1.234' has more than 2 decimal(s) for GHS")):
        r = aaad(conf, *args)
        assert r.returncode == 2, r
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(msg), r.stderr


def test_product_update_discount_and_plan_change(conf: str, capsys: Any) -> None:
    """product update changes price and profile; product discount adds and lists rules;
    service approve / change / cancel --at-period-end; listings are JSON with --json."""
    assert inproc(conf, capsys, "product", "add", "Basic", "--type", "internet", "--price", "20",
                  "--rate-limit", "5M/5M")[0] == 0
    assert inproc(conf, capsys, "product", "add", "Pro", "--type", "internet", "--price", "40",
                  "--zone", "Osu")[0] == 0
    rc, out, _ = inproc(conf, capsys, "product", "update", "Basic", "--price", "22.50", "--rate-limit",
                        "6M/6M", "--hidden", "--json")
    assert rc == 0 and json.loads(out)["price_minor"] == 2250 and json.loads(out)["on_portal"] is False
    rc, out, _ = inproc(conf, capsys, "product", "list", "--json")
    assert [p["name"] for p in json.loads(out)] == ["Basic", "Pro"]
    rc, out, _ = inproc(conf, capsys, "product", "list", "--portal", "--json")
    assert [p["name"] for p in json.loads(out)] == ["Pro"]
    assert inproc(conf, capsys, "product", "discount", "Basic", "--percent", "12.5", "--periods", "3")[0] == 0
    assert inproc(conf, capsys, "product", "discount", "Basic", "--fixed", "2.00", "--until", "2027-01-01")[0] == 0
    rc, out, _ = inproc(conf, capsys, "product", "discount", "Basic", "--json")
    assert [(d["kind"], d["value"], d["periods"]) for d in json.loads(out)] == [
        ("percent", "12.5%", 3), ("fixed", "2.00", None)]
    assert inproc(conf, capsys, "customer", "add", "Kofi", "--phone", "0540000000")[0] == 0
    rc, out, _ = inproc(conf, capsys, "service", "add", "540000000", "Basic", "--password", "pw", "--json")
    sid = str(json.loads(out)["id"])
    assert "password" not in json.loads(out)
    assert inproc(conf, capsys, "service", "approve", sid, "--start", "2026-11-01")[0] == 0
    rc, out, _ = inproc(conf, capsys, "service", "change", sid, "Pro", "--on", "2026-11-10", "--json")
    assert rc == 0 and json.loads(out)["state"] == "active"
    rc, out, _ = inproc(conf, capsys, "service", "cancel", sid, "--at-period-end")
    assert rc == 0 and "cancels on" in out
    rc, out, err = inproc(conf, capsys, "service", "approve", "x", "--start", "2026-11-01")
    assert rc == 2 and "service" in err
    rc, out, err = inproc(conf, capsys, "product", "update", "Basic")
    assert rc == 2 and "nothing to change" in err


# -- money on the command line ---------------------------------------------------------

@given(minor=st.integers(min_value=-10**15, max_value=10**15), currency=st.sampled_from(["USD", "GHS", "JPY",
                                                                                         "KWD", "EUR"]))
def test_amount_round_trip(minor: int, currency: str) -> None:
    """format_amount then parse_amount gives back the minor units, in any exponent."""
    assert parse_amount(format_amount(minor, currency), currency, negative=True) == minor


def test_amount_parsing() -> None:
    """Decimals up to the currency's exponent; groups of thousands; bad text names the field."""
    assert parse_amount("25.00", "USD") == 2500 and parse_amount("25", "USD") == 2500
    assert parse_amount("1,000.5", "USD") == 100050 and parse_amount("500", "JPY") == 500
    assert parse_amount("1.234", "KWD") == 1234 and format_amount(5, "USD") == "0.05"
    assert format_amount(-150, "USD") == "-1.50" and format_amount(2500, "JPY") == "2500"
    for bad, cur in (("1.5", "JPY"), ("1.001", "USD"), ("1,00", "USD"), ("abc", "USD"), ("-1", "USD"),
                     ("", "USD"), ("1e3", "USD")):
        with pytest.raises(ValidationError) as e:
            parse_amount(bad, cur, "price")
        assert e.value.field == "price"
