"""``aaad events`` and ``aaad jobs`` on the command line (in process, SQLite)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from aaad import app, cli, events, jobs
from aaad.db import sync_engine
from aaad.events import Dispatcher, RetryPolicy
from aaad.schedules import Daily, Every
from tests.conftest import ROOT
from tests.helpers import SyncDB
from tests.test_events import Noted

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def conf(tmp_path: Path) -> str:
    p = tmp_path / "aaad.toml"
    p.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')
    assert cli.main(["-c", str(p), "org", "add", "isp", "--timezone", "Europe/Berlin"]) == 0
    return str(p)


def engine_of(conf: str) -> Any:
    return sync_engine(app.database_url(app.load_config(conf)))


def run(conf: str, *args: str, capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main(["-c", conf, *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_events_lists_subscribers_and_dead_events_and_retries(conf: str, capsys: Any) -> None:
    """`aaad events` shows each subscriber's position and lag; --dead the parked events
    with their error; `events retry ID` re-queues one, and retrying it twice says so."""
    engine = engine_of(conf)
    with engine.begin() as c:
        events.publish(c, 1, Noted("a"), T0)
        events.publish(c, 1, Noted("b"), T0)
    clock = task.Clock()
    clock.advance(T0.timestamp())
    d = Dispatcher(SyncDB(engine), clock, policy=RetryPolicy(max_attempts=1))

    def fn(conn: Any, ev: Any) -> None:
        if ev.payload.note == "a":
            raise TimeoutError("gateway down")
    d.subscribe("notify.sms", "test.noted", fn)
    d.run_once()
    rc, out = run(conf, "events", capsys=capsys)
    assert rc == 0 and "notify.sms" in out and "gateway down" in out
    rc, out = run(conf, "events", "--dead", "--json", capsys=capsys)
    data = json.loads(out)
    (dead,) = data["failures"]
    assert (dead["subscriber"], dead["state"], dead["type"]) == ("notify.sms", "dead", "test.noted")
    assert run(conf, "events", "retry", str(dead["event_id"]), "--subscriber", "notify.sms",
               capsys=capsys)[0] == 0
    rc, out = run(conf, "events", "retry", str(dead["event_id"]), capsys=capsys)
    assert rc == 1 and "no dead event" in out
    rc, out = run(conf, "events", "--json", capsys=capsys)
    (sub,) = json.loads(out)["subscribers"]
    assert (sub["name"], sub["lag"], sub["dead"]) == ("notify.sms", 0, 0)
    engine.dispose()


def test_jobs_list_shows_schedules_next_runs_per_org_and_last_status(
        conf: str, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`aaad jobs list --json` has every registered job; a per-org calendar job gets one
    row per org with its next local run; the last run's status is shown."""
    real = app.jobs_app

    def with_calendar_job(c: Any, reactor: Any) -> Any:
        a = real(c, reactor)
        a.scheduler.add(jobs.Job("billing.remind", Daily(time(9, 0)), lambda ctx: None, per_org=True))
        return a
    monkeypatch.setattr(app, "jobs_app", with_calendar_job)
    engine = engine_of(conf)
    now = datetime.now(UTC)
    key, _ = Every(300).period_at(now)
    with engine.begin() as c:
        jobs.claim(c, "acct.aggregate", 0, key, now, "x")
        jobs.finish(c, "acct.aggregate", 0, key, now, owner="x")
    rc, out = run(conf, "jobs", "list", "--json", capsys=capsys)
    assert rc == 0
    rows = {(r["job"], r["org"]): r for r in json.loads(out)}
    assert {"core.prune", "acct.aggregate", "acct.close_stale", "acct.prune"} <= {j for j, _ in rows}
    remind = rows[("billing.remind", "isp")]
    assert remind["schedule"] == "daily at 09:00 local" and remind["next_run"].startswith("due now")
    agg = rows[("acct.aggregate", "-")]
    assert agg["last_status"] == "done" and not agg["next_run"].startswith("due now")
    engine.dispose()


def test_jobs_run_argument_errors(conf: str, capsys: Any) -> None:
    """Unknown jobs, --org on a global job and --date on an interval job are usage errors."""
    assert run(conf, "jobs", "run", "nope", capsys=capsys)[0] == 2
    rc, out = run(conf, "jobs", "run", "acct.prune", "--org", "isp", capsys=capsys)
    assert rc == 2 and "not a per-org job" in out
    rc, out = run(conf, "jobs", "run", "acct.prune", "--date", "2026-01-01", capsys=capsys)
    assert rc == 2 and "calendar" in out


def test_jobs_run_is_exactly_once(conf: str) -> None:
    """`aaad jobs run` runs the current period; a second call says it is already done."""
    def aaad(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "aaad", "-c", conf, *args], check=False, capture_output=True,
                              text=True, timeout=60, cwd=str(ROOT))
    r = aaad("jobs", "run", "acct.prune")
    assert r.returncode == 0 and ": done" in r.stdout, r.stdout + r.stderr
    r = aaad("jobs", "run", "acct.prune")
    assert r.returncode == 0 and "already done" in r.stdout and "not run again" in r.stdout
    engine = engine_of(conf)
    with engine.connect() as c:
        assert [row[2:] for row in jobs.runs(c, "acct.prune")] == [("done", 1)]
        assert c.execute(sa.text("SELECT lease_owner FROM job_runs")).scalar().count(":") == 2
    engine.dispose()


def test_jobs_list_shows_every_package_job(tmp_path: Path) -> None:
    """aaad jobs list shows the jobs of every package's services (auth-log pruning included)."""
    conf = tmp_path / "aaad.toml"
    conf.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    subprocess.run([sys.executable, "-m", "aaad", "-c", str(conf), "org", "add", "isp"], check=True,
                   capture_output=True, timeout=120)  # per-org jobs are listed per org
    r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(conf), "jobs", "list", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    names = {row["job"] for row in json.loads(r.stdout)}
    assert {"core.prune", "aaad.cycles", "auth.prune_log", "acct.aggregate", "acct.prune"} <= names
