"""The billing benchmark's bulk loader (bench/bench_billing.py) writes data the billing code accepts."""
from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

from aaad import app
from aaad.db import sync_engine
from aaad.schema import logins
from billing import ledger, settings
from billing.schema import invoices, services
from tests.conftest import ROOT

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_billing", ROOT / "bench" / "bench_billing.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_billing"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_loader_builds_consistent_billing_data(db_url: str, tmp_path: Path) -> None:
    """N customers each get an active service billed through the run date, a login owned by the
    service, and last month's invoice open past due + grace; the books check passes."""
    bb = bench_module()
    conf = bb.write_config(tmp_path, None if db_url.startswith("sqlite") else db_url)
    run_date = date(2026, 11, 30)
    out = bb.load(conf, 25, run_date, 10, log=lambda *_: None)
    assert out["billed_through"] == "2026-11-28" and out["open_invoice_due"] == "2026-11-11"
    engine = sync_engine(app.database_url(app.load_config(str(conf))))
    try:
        with engine.begin() as c:
            org_id = out["org_id"]
            svc = c.execute(sa.select(services).order_by(services.c.id)).all()
            assert len(svc) == 25 and {s.state for s in svc} == {"active"}
            assert {s.billed_through for s in svc} == {date(2026, 11, 28)}
            lg = {r.id: r for r in c.execute(sa.select(logins))}
            assert all(lg[s.login_id].owner_type == "service" and lg[s.login_id].owner_id == s.id for s in svc)
            st = settings.get(c, org_id)
            assert st.billing_day == 28
            assert c.execute(sa.select(sa.func.count()).select_from(invoices)
                             .where(invoices.c.state == "open", invoices.c.due_date
                                    < run_date.replace(day=30 - st.grace_days))).scalar_one() == 25
            assert ledger.check(c, org_id) == []
            assert ledger.balance(c, org_id, svc[0].customer_id) == 2875
            # the next invoice number follows the loaded ones, and new rows get fresh ids
            assert settings.next_number(c, org_id, "invoice", T0)[1] == "INV-000026"
            key: Any = c.execute(invoices.insert().values(
                org_id=org_id, customer_id=svc[0].customer_id, seq=26, number="INV-000026", state="open",
                issue_date=run_date, due_date=run_date, currency="USD", subtotal=1, vat=0, total=1,
                created_at=T0)).inserted_primary_key
            assert key[0] == 26
    finally:
        engine.dispose()
