"""Accounting keeps a limited login's totals (a voucher) in the batch's transaction and
exhausts it when the last of its time or data is used, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from aaad.schema import events
from aaad.view import store as vstore
from aaad.view.model import DATA_LIMIT_REACHED, TIME_LIMIT_REACHED
from aaad.view.write import LoginWriter
from accounting import sessions as sm
from accounting import store
from accounting.store import AcctItem
from tests.accounting.test_store import T0, World, interim, rec, start, stop
from tests.accounting.test_store import w as w  # noqa: F401  (the fixture)


def voucher(w: World, name: str, **limits: Any) -> int:
    lw = LoginWriter(w.box)
    with w.engine.begin() as c:
        (lid,) = lw.create_many(c, w.org, [(name, name, 1)], T0, owner_type="voucher", state="active", **limits)
    return lid


def feed(w: World, lid: int, *records: sm.AcctRecord) -> None:
    lw = LoginWriter(w.box)
    items = [AcctItem(r if r.nas_id else sm.AcctRecord(**{**_fields(r), "nas_id": w.nas1}), w.org, lid, True)
             for r in records]
    with w.engine.begin() as c:
        store.apply_batch(c, items, lw.add_usage)


def _fields(r: sm.AcctRecord) -> dict[str, Any]:
    return {f: getattr(r, f) for f in r.__dataclass_fields__}


def info(w: World, lid: int) -> Any:
    with w.engine.connect() as c:
        return vstore.login_info(c, w.org, lid)


def reasons(w: World) -> list[str]:
    with w.engine.connect() as c:
        return [json.loads(p)["reason"] for p in c.execute(
            sa.select(events.c.payload).where(events.c.type == "login.state_changed").order_by(events.c.id)).scalars()]


def test_interims_add_only_what_is_new_and_exhaust_at_the_time_limit(w: World) -> None:  # noqa: F811
    """Start, Interim 300 s, the same Interim again, Interim 600 s: 600 s used, exhausted once."""
    lid = voucher(w, "V1", time_limit=600)
    feed(w, lid, start(user="V1"))
    feed(w, lid, interim(300, 1000, 2000, user="V1"))
    feed(w, lid, interim(300, 1000, 2000, user="V1"))   # a retransmission adds nothing
    lg = info(w, lid)
    assert (lg.state, lg.time_used, lg.octets_used) == ("active", 300, 3000)
    feed(w, lid, interim(600, 1500, 2500, user="V1"))
    lg = info(w, lid)
    assert (lg.state, lg.time_used, lg.octets_used) == ("exhausted", 600, 4000)
    feed(w, lid, stop(610, 1500, 2600, user="V1"))
    assert info(w, lid).time_used == 610
    assert reasons(w) == [TIME_LIMIT_REACHED]


def test_two_sessions_share_one_data_limit(w: World) -> None:  # noqa: F811
    """Two devices on one voucher: their octets add up to the limit."""
    lid = voucher(w, "V2", data_limit=10_000, simultaneous_use=2)
    feed(w, lid, start("a", "V2"), start("b", "V2"))
    feed(w, lid, interim(60, 3000, 1000, "a", "V2"), interim(60, 2000, 2000, "b", "V2"))
    assert info(w, lid).state == "active"
    feed(w, lid, interim(120, 3000, 1000, "a", "V2"), interim(120, 4000, 2000, "b", "V2"))
    lg = info(w, lid)
    assert (lg.state, lg.octets_used) == ("exhausted", 10_000)
    assert reasons(w) == [DATA_LIMIT_REACHED]


def test_a_stop_alone_counts_the_whole_session(w: World) -> None:  # noqa: F811
    """A Stop whose Start and Interims were lost still adds its session's totals."""
    lid = voucher(w, "V3", time_limit=3600)
    feed(w, lid, rec(sm.STATUS_STOP, "z", "V3", T0 + timedelta(seconds=900), session_time=900,
                     input_octets=10, output_octets=20, terminate_cause=1))
    lg = info(w, lid)
    assert (lg.state, lg.time_used, lg.octets_used) == ("active", 900, 30)
