"""End to end: two daemons on one PostgreSQL; the leader's database session is killed,
the other takes over, and no (job, org, period) runs twice."""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from aaad.db import sync_engine
from aaad.jobs import _LEADER_KEY
from tests.conftest import Daemon, DaemonFactory

# [accounting] port and address come from tests.conftest.write_config's base config
EXTRA = "[accounting]\nrrd_enabled = false\naggregation_interval = 1\n[jobs]\ntick = 0.2\n"


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def runs_by(engine: Any, d: Daemon) -> list[str]:
    """Periods of acct.aggregate run (done) by daemon ``d`` (its pid is in the lease owner)."""
    with engine.connect() as c:
        return [r.period for r in c.execute(sa.text(
            "SELECT period, lease_owner FROM job_runs WHERE job = 'acct.aggregate' AND status = 'done'"))
            if r.lease_owner.split(":")[1] == str(d.pid)]


def test_leader_connection_killed_other_takes_over(daemon_factory: DaemonFactory, pg_cluster: Any) -> None:
    """Kill the leader's session (pg_terminate_backend): it stops leading at once, the other
    daemon takes over and runs the next periods, and every period ran exactly once."""
    url = pg_cluster.new_database()
    a = daemon_factory(url, EXTRA)
    wait_for("a leads", lambda: a.metric("aaad_leader") == 1)
    conf_b, dir_b = daemon_factory.configure(url, EXTRA, demo=False)
    shutil.copy(a.data_dir / "secret.key", dir_b / "secret.key")   # instances share the key
    b = daemon_factory.start(conf_b, dir_b)
    engine = sync_engine(url)
    wait_for("a runs periods", lambda: len(runs_by(engine, a)) >= 2)
    assert b.metric("aaad_leader") == 0 and runs_by(engine, b) == []
    with engine.begin() as c:
        pid = c.execute(sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :hi "
            "AND objid = :lo"), {"hi": _LEADER_KEY >> 32, "lo": _LEADER_KEY & 0xFFFF_FFFF}).scalar_one()
        assert c.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    wait_for("b takes over", lambda: b.metric("aaad_leader") == 1)
    wait_for("a stops leading", lambda: a.metric("aaad_leader") == 0, timeout=5)
    wait_for("b runs periods", lambda: len(runs_by(engine, b)) >= 2)
    assert any("lost the leader lock" in line for line in a.log)
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT job, org_id, period, attempts, status FROM job_runs")).all()
    assert rows and all(r.attempts == 1 for r in rows), rows
    a_periods, b_periods = set(runs_by(engine, a)), set(runs_by(engine, b))
    assert not a_periods & b_periods
    assert a.metric("aaad_leader") == 0     # a keeps trying, and stays a follower
    engine.dispose()
