"""The notifications benchmark's setup (bench/bench_notify.py) makes exactly ``due`` reminders due
today, each fanned out to email and SMS, and a second evaluation queues nothing."""
from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from aaad import app
from billing.notify import outbox
from billing.notify.service import _due_chunk
from tests.conftest import ROOT
from tests.fake_sms import FakeGateway


def bench_module() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("bench_notify", ROOT / "bench" / "bench_notify.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_notify"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_setup_makes_exactly_the_due_reminders(db_url: str, tmp_path: Path) -> None:
    bn = bench_module()
    conf = bn.bb.write_config(tmp_path, None if db_url.startswith("sqlite") else db_url, *bn.notify_config(
        bn.parse_args(["--customers", "30", "--due", "12"])))
    now = datetime.now(UTC)
    bn.bb.load(conf, 30, now.date(), 10, log=lambda *_: None, customer_fields=bn.contact_fields)
    gw = FakeGateway()                       # not started: only its settings are used
    got = bn.setup_notify(conf, tmp_path, 12, gw)
    assert got["due_invoices"] == 12 and got["expected_rows"] == 24 and len(got["due_dates"]) == 3
    box = app.secret_box(app.load_config(str(conf)))
    engine = bn.engine_of(conf)
    try:
        org_id = got["org_id"]
        today = datetime.fromisoformat(got["today"]).date()
        with engine.begin() as c:
            facts = outbox.org_facts(c, org_id)
            assert _due_chunk(c, box, org_id, today, facts, 0, now) == (24, None)
            assert _due_chunk(c, box, org_id, today, facts, 0, now) == (0, None)      # deduplicated
        counts = bn.outbox_counts(engine, org_id)
        assert counts == {"email:pending": 12, "sms:pending": 12, "total": 24}
        assert bn.park(engine, org_id, ["sms"]) == {"cancelled": 12, "parked": 12}
    finally:
        engine.dispose()
