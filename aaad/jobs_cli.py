"""``aaad jobs list`` and ``aaad jobs run NAME``: the job registry without a daemon.

The registry is built the way the daemon builds it (:func:`aaad.app.jobs_app`),
with nothing bound.  ``jobs run`` claims the period under a lease of its
own, like any runner: a done period is not run again, and a period another
runner holds is left alone.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aaad import jobs, orgs
from aaad.cycles import zone
from aaad.schedules import Every

if TYPE_CHECKING:
    from aaad.app import App


def _app(args: argparse.Namespace) -> App:
    from twisted.internet import reactor

    from aaad import app
    return app.jobs_app(app.load_config(args.config), reactor)


def _targets(job: jobs.Job, all_orgs: list[orgs.Org], only: orgs.Org | None) -> list[orgs.Org | None]:
    if not job.per_org:
        return [None]
    return [only] if only is not None else list(all_orgs)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc, print_rows
    ctx = Context(args)
    a = _app(args)
    now = now_utc()
    with ctx.engine.connect() as conn:
        all_orgs = orgs.list_all(conn)
        last = jobs.last_runs(conn)
        rows: list[list[Any]] = []
        for job in a.scheduler.jobs.values():
            for org in _targets(job, all_orgs, None):
                org_id = org.id if org else 0
                tz = zone(org.timezone if org else None)
                key, _start = job.plan.period_at(now, tz)
                cur = jobs.get_run(conn, job.name, org_id, key)
                if cur is not None and cur.status == "done":
                    nkey, nat = job.plan.next_after(now, tz)
                    nxt = f"{nat:%Y-%m-%d %H:%M:%S}Z ({nkey})"
                else:
                    nxt = f"due now ({key})"
                lr = last.get((job.name, org_id))
                rows.append([job.name, org.slug if org else "-", job.plan.describe(),
                             nxt, lr.period if lr else None, lr.status if lr else None,
                             f"{lr.finished_at:%Y-%m-%d %H:%M:%S}" if lr and lr.finished_at else None,
                             (lr.error or "")[:60] if lr else None])
    print_rows(args, rows, ["job", "org", "schedule", "next_run", "last_period", "last_status",
                             "last_finished", "last_error"])
    return 0


def _run_reactor(fn: Callable[[], Any]) -> Any:
    """Run ``fn()`` (a Deferred) on the reactor, then stop it; its result or its exception."""
    from twisted.internet import defer
    from twisted.internet import reactor as _reactor
    from twisted.python.failure import Failure
    reactor: Any = _reactor
    out: list[Any] = []

    def done(result: Any) -> None:
        out.append(result)
        reactor.stop()

    def go() -> None:
        defer.maybeDeferred(fn).addBoth(done)
    reactor.callWhenRunning(go)
    reactor.run(installSignalHandlers=False)
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from twisted.internet import defer

    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc
    ctx = Context(args)
    a = _app(args)
    job = a.scheduler.jobs.get(args.name)
    if job is None:
        raise CliError(f"no job {args.name!r}; jobs: {', '.join(sorted(a.scheduler.jobs))}", EXIT_USAGE)
    with ctx.engine.connect() as conn:
        all_orgs = orgs.list_all(conn)
        only = orgs.get_by_slug(conn, args.org) if args.org else None
    if args.org and only is None:
        raise CliError(f"no org {args.org!r} (see: aaad org list)", EXIT_USAGE)
    if args.org and not job.per_org:
        raise CliError(f"{job.name} is not a per-org job: drop --org", EXIT_USAGE)
    run_date: date | None = None
    if args.date:
        if not job.plan.calendar:
            raise CliError(f"{job.name} runs {job.plan.describe()}: --date is for calendar jobs "
                           "(it runs the current period without it)", EXIT_USAGE)
        try:
            run_date = date.fromisoformat(args.date)
        except ValueError:
            raise CliError(f"{args.date!r} is not a date (YYYY-MM-DD)", EXIT_USAGE) from None
    now = now_utc()
    plan: list[tuple[orgs.Org | None, str, datetime]] = []
    for org in _targets(job, all_orgs, only):
        tz = zone(org.timezone if org else None)
        if run_date is not None:
            assert not isinstance(job.plan, Every)  # --date was refused above for interval jobs
            key, start = job.plan.occurrence(run_date, tz)
        else:
            key, start = job.plan.period_at(now, tz)
        plan.append((org, key, start))

    @defer.inlineCallbacks
    def run_all():  # type: ignore[no-untyped-def]
        a.db.start()
        out = []
        try:
            for org, key, start in plan:
                outcome = yield a.scheduler.run_period(job, org.id if org else 0, key, start)
                row = yield a.db.read(jobs.get_run, job.name, org.id if org else 0, key)
                out.append((org, key, outcome, row))
        finally:
            yield a.db.stop()
        return out

    results = _run_reactor(run_all)
    failed = False
    for org, key, outcome, row in results:
        where = f"{job.name} (org {org.slug if org else '-'}, period {key})"
        if outcome == "ran":
            print(f"{where}: done")
        elif outcome == "done":
            when = f" at {row.finished_at:%Y-%m-%d %H:%M:%S}Z" if row and row.finished_at else ""
            print(f"{where}: already done{when}; not run again")
        elif outcome == "busy":
            failed = True
            print(f"{where}: running elsewhere (runner {row.lease_owner if row else '?'}); not run")
        else:
            failed = True
            err = f": {row.error}" if row and row.error else ""
            print(f"{where}: {outcome}{err}")
    return 1 if failed else 0


def register(sub: Any) -> None:
    """Add ``jobs list`` and ``jobs run`` to the ``aaad`` command line."""
    j = sub.add_parser("jobs", help="periodic jobs: schedules, next runs, run one now")
    jsub = j.add_subparsers(dest="sub", metavar="SUB", required=True)
    ls = jsub.add_parser("list", help="every job, its schedule, next run (per org) and last run")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_jobs_list)
    r = jsub.add_parser("run", help="run one period of a job now (exactly once: a done period is not re-run)")
    r.add_argument("name")
    r.add_argument("--org", help="only this org (per-org jobs; default: every org)")
    r.add_argument("--date", help="a calendar job's period by its local date "
                   "(a monthly job: any date of the month; default: the period due now)")
    r.set_defaults(fn=cmd_jobs_run)
