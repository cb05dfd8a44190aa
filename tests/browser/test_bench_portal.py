"""bench/bench_portal.py's setup at a tiny scale: the year-of-usage load and the sign-in form reader
(the benchmark itself is run by hand: bench/README.md)."""
from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import bench_billing as bb  # noqa: E402
import bench_portal as bp  # noqa: E402


def test_load_year_gives_one_customer_a_password_and_usage_at_every_level(tmp_path: Path) -> None:
    """The first customer signs in with the bench e-mail and password; its login has the 5-minute,
    hourly and daily buckets asked for, each level summing to the same octets over a common span."""
    from aaad import app
    from aaad.db import sync_engine
    from accounting.schema import sessions, usage, usage_cycles
    from billing import customers
    conf = bb.write_config(tmp_path, None)
    bb.load(conf, 3, datetime.now(UTC).date(), 100, log=lambda *_: None)
    now = datetime(2026, 11, 30, 12, 2, tzinfo=UTC)
    got = bp.load_year(conf, now, slot_days=1, hour_days=2, day_days=3, batch=100)
    assert got["rows"]["slot"] == 288 and got["rows"]["hour"] == 48 and got["rows"]["day"] == 3
    assert got["rows"]["cycle"] >= 1 and got["rows"]["session"] == 4
    cfg = app.load_config(str(conf))
    engine = sync_engine(app.database_url(cfg))
    try:
        with engine.connect() as c:
            cust = customers.find(c, 1, bp.EMAIL)
            assert cust is not None and cust.id == got["customer_id"]
            assert customers.verify_password(c, 1, cust.id, bp.PASSWORD)
            u = usage.c

            def total(level: str, since: datetime) -> int:
                return int(c.execute(sa.select(sa.func.sum(u.octets_in + u.octets_out)).where(
                    u.level == level, u.start >= since)).scalar_one())
            today = datetime(2026, 11, 30, tzinfo=UTC)
            assert total("slot", today) == total("hour", today) == total("day", today) > 0
            assert c.execute(sa.select(sa.func.count()).select_from(sessions)).scalar_one() == 4
            assert c.execute(sa.select(sa.func.count()).select_from(usage_cycles)).scalar_one() >= 1
    finally:
        engine.dispose()


def test_the_sign_in_form_is_read_as_a_browser_would() -> None:
    """Hidden fields keep their values; the text field and the password field are found by type."""
    p = bp.FormFields()
    p.feed('<form method="post" action="logout"><input type="hidden" name="csrf" value="x"></form>'
           '<form method="post" action="login"><input type="hidden" name="csrf" value="tok">'
           '<input type="hidden" name="next" value=""><label for="i">E-mail</label>'
           '<input id="i" name="identifier" type="text"><input name="password" type="password">'
           '<button type="submit">Sign in</button></form>')
    f = p.login_form()
    assert f == {"action": "login", "hidden": {"csrf": "tok", "next": ""}, "text": "identifier",
                 "password": "password"}
    p = bp.FormFields()
    p.feed("<form><input name=q></form>")
    with pytest.raises(SystemExit):
        p.login_form()
