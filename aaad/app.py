"""The composition root: assembles config sections and builds the service tree.

Nothing else instantiates concrete stores or reads globals.  Start-up
order: validate the whole config (every error at once, exit 2, nothing
bound), open the database and bring its schema up, load the AAA view,
bind every listener, then announce readiness (a JSON line on stdout and,
if configured, the ready file) with the ports actually bound.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from aaad import changes, events, migrate, urls, wake
from aaad import config as cfg
from aaad.clock import utcnow
from aaad.component import Core, Package
from aaad.crypto import SecretBox, load_or_create_key
from aaad.db import Database, default_url, is_sqlite, sync_engine
from aaad.events import Dispatcher, RetryPolicy
from aaad.health import HealthCheck, check_data_dir
from aaad.jobs import Job, JobContext, LeaderLock, Scheduler
from aaad.metrics import Stats
from aaad.radius import codec
from aaad.radius.server import AuthServer, RadiusConfig
from aaad.shutdown import BoundedStop
from aaad.view.cycle_reset import start_cycles_chunk
from aaad.view.follower import ChangeFollower
from aaad.view.memory import AAAView
from aaad.view.store import load_snapshot
from aaad.view.write import LoginWriter
from aaad.web import CoreWeb
from accounting.component import PACKAGE as ACCOUNTING
from accounting.server import AccountingServer
from billing.component import PACKAGE as BILLING
from billing.service import BillingService
from enforcement.component import PACKAGE as ENFORCEMENT
from enforcement.service import EnforcementService
from web.component import PACKAGE as WEB

log = Logger()

CYCLE_JOB = "aaad.cycles"


def _aaad_cli(sub: Any) -> None:
    """aaad's commands beyond the core ones: events and jobs."""
    from aaad import events_cli, jobs_cli
    events_cli.register(sub)
    jobs_cli.register(sub)


AAAD = Package(name="aaad", cli=_aaad_cli, config={
    "server": cfg.ServerConfig,
    "database": cfg.DatabaseConfig,
    "secrets": cfg.SecretsConfig,
    "web": cfg.WebConfig,
    "jobs": cfg.JobsConfig,
    "radius": RadiusConfig,
}, migrations=str(migrate.HERE / "versions"))

#: Every package, bottom layer first: their config sections, migrations and CLI commands.
PACKAGES: tuple[Package, ...] = (AAAD, ACCOUNTING, ENFORCEMENT, BILLING, WEB)


def migrating() -> tuple[str, ...]:
    """The packages with a migration folder, bottom layer first (for ``aaad.migrate``)."""
    return tuple(p.name for p in PACKAGES if p.migrations)


def schema() -> dict[str, type]:
    """Every package's config sections, in file order."""
    return {name: section for p in PACKAGES for name, section in p.config.items()}


def load_config(path: str | None, environ: dict[str, str] | None = None) -> cfg.Config:
    return cfg.load(schema(), path, environ)


def database_url(conf: cfg.Config) -> str:
    return conf.database.url or default_url(conf.server.data_dir)


def key_path(conf: cfg.Config) -> str:
    return conf.secrets.key_file or str(Path(conf.server.data_dir) / "secret.key")


def secret_box(conf: cfg.Config) -> SecretBox:
    return SecretBox(load_or_create_key(key_path(conf)))


def prepare_storage(conf: cfg.Config, upgrade: bool = True) -> str:
    """Create the data dir, and bring the schema to head; returns the URL."""
    Path(conf.server.data_dir).mkdir(parents=True, exist_ok=True)
    url = database_url(conf)
    if upgrade:
        engine = sync_engine(url, conf.database.busy_timeout_ms)
        try:
            migrate.upgrade_if_behind(engine, packages=migrating())
        finally:
            engine.dispose()
    return url


@dataclass
class Bound:
    web: int = 0
    auth: int = 0
    acct: int = 0


class App:
    """The running daemon: one reactor, one database, one AAA view."""

    def __init__(self, conf: cfg.Config, reactor: Any):
        self.conf = conf
        self.reactor = reactor
        self.clock = reactor
        self.stats = Stats()
        self.box = secret_box(conf)
        url = prepare_storage(conf, upgrade=True)
        d = conf.database
        self.db = Database(url, reactor, synchronous=d.sqlite_synchronous,
                           busy_timeout_ms=d.busy_timeout_ms, read_pool_size=d.read_pool_size,
                           portal_read_pool_size=d.portal_read_pool_size,
                           batch_max=d.writer_batch_max, queue_max=d.writer_queue_max,
                           connect_timeout=d.connect_timeout,
                           statement_timeout_ms=int(d.statement_timeout * 1000),
                           background_nice=d.background_nice, background_sched=d.background_sched)
        self.view = AAAView()
        self.login_writer = LoginWriter(self.box)
        self.db.writer.on_changes.append(self.view.apply_local)
        self.follower = ChangeFollower(self.db, self.box, self.view, self.clock,
                                       d.change_poll_interval)
        j = conf.jobs
        self.leader = LeaderLock(self.db, conf.server.data_dir)
        self.dispatcher = Dispatcher(self.db, self.clock, d.change_poll_interval, stats=self.stats,
                                     policy=RetryPolicy(j.event_max_attempts, j.event_backoff,
                                                        j.event_max_backoff))
        self.scheduler = Scheduler(self.db, self.clock, j.tick, self.leader, lease=j.lease, skip=frozenset(j.skip))
        self.scheduler.durations = self.stats.histogram(
            "aaad_job_run_seconds", "Periodic job runs by job and outcome (ran, failed, lost): seconds.",
            ("job", "outcome"), buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))
        self.scheduler.on_leader.append(self._leader_changed)
        self.dispatcher.enabled = self.leader.leader
        self.db.writer.after_commit.append(self.dispatcher.poke)
        self.scheduler.add(Job("core.prune", 3600, self._prune))
        self.scheduler.add(Job(CYCLE_JOB, conf.jobs.cycle_check_interval, self._start_cycles, per_org=True))
        self.bound = Bound()
        self._ports: list[Any] = []
        self.components: list[Any] = []
        self.on_wake: list[Any] = [self.follower.poke, self.dispatcher.poke]
        self.started = self.clock.seconds()
        self._gauges()

    def _prune(self, ctx: JobContext) -> defer.Deferred[int]:
        """Hourly: drop change-feed rows every instance has applied (older than a
        day) and delivered events older than a week; both tables grow otherwise."""
        start = ctx.period_start
        d = self.db.write(changes.prune, start - timedelta(days=1))
        d.addCallback(lambda _: self.db.write(events.prune_delivered, start - timedelta(days=7)))
        return d

    @defer.inlineCallbacks
    def _start_cycles(self, ctx: JobContext):  # type: ignore[no-untyped-def]
        """Every 5 minutes, per org: logins past their quota-cycle boundary start the
        new cycle (exhausted → active, throttle lifted, ``cycle.started``)."""
        now = utcnow(self.clock)
        after, started = int(ctx.progress or 0), 0
        while True:
            chunk = yield ctx.checkpoint_after(start_cycles_chunk, self.login_writer, ctx.org_id, now,
                                               after, 500, progress=lambda c: str(c.last_id))
            after, started = chunk.last_id, started + chunk.started
            if chunk.scanned < 500:
                break
        if started:
            log.info("{n} logins started a new quota cycle (org {org})", n=started, org=ctx.org_id)
        return started

    def _leader_changed(self, leader: bool) -> None:
        self.dispatcher.enabled = leader

    def _gauges(self) -> None:
        s = self.stats
        s.gauge("aaad_logins", "Logins in the in-memory AAA view.", lambda: len(self.view))
        s.gauge("aaad_nas_clients", "NAS clients known.", lambda: len(self.view.nas))
        s.gauge("aaad_change_feed_position", "Last change-feed id applied.", lambda: self.view.last_change)
        s.gauge("aaad_events_delivered", "Events delivered since start.", lambda: self.dispatcher.delivered)
        s.gauge("aaad_db_write_batches", "Writer transactions committed since start.", lambda: self.db.writer.batches)
        s.gauge("aaad_db_write_ops", "Write operations committed since start.", lambda: self.db.writer.ops)
        s.gauge("aaad_db_write_failed_ops", "Write operations that failed since start.",
                lambda: self.db.writer.failed_ops)
        s.gauge("aaad_db_write_refused_ops",
                "Write operations refused at once because the writer's queue was full.",
                lambda: self.db.writer.refused)
        s.gauge("aaad_db_write_pending", "Write operations waiting for the writer.", lambda: self.db.writer.pending)
        s.gauge("aaad_leader", "1 while this instance is the leader (runs jobs, dispatches events).",
                lambda: int(self.leader.leader))
        s.gauge("aaad_uptime_seconds", "Seconds since start.", lambda: self.clock.seconds() - self.started)

    def load_view(self) -> None:
        t0 = time.monotonic()
        engine = self.db.read_engine
        with engine.connect() as conn:
            snap = load_snapshot(conn, self.box)
        self.view.load(snap)
        log.info("AAA view loaded: {logins} logins, {nas} NAS clients, {profiles} profiles in {secs:.2f}s",
                 logins=len(snap.logins), nas=len(snap.nas), profiles=len(snap.profiles),
                 secs=time.monotonic() - t0)

    def start(self) -> None:
        """Load state, bind every port, start the loops; raise if a bind fails."""
        self.db.start()
        self.load_view()
        self._build_components()
        for c in self.components:
            prepare = getattr(c, "prepare_view", None)
            if prepare is not None:
                prepare()
        # The writer and pool threads share the GIL with the reactor: let the
        # reactor get it back within [server] switch_interval_ms (0.5 ms by
        # default, Python's is 5), or a thread's busy stretch shows up as RADIUS latency.
        sys.setswitchinterval(self.conf.server.switch_interval_ms / 1000)
        # The web app is imported here, not at the top: the CLI (``aaad jobs run``, ``aaad user
        # suspend``, ...) builds an App without serving it, and importing the admin console, the
        # portal and the API cost each command about a second.
        from aaad.site import ApiQuietSite, logs_info
        from web.root import build_root
        c = self.conf
        health = HealthCheck(self.db, self.clock, c.server.data_dir, min_free_mb=c.server.min_free_mb,
                             stall_seconds=c.database.writer_stall_seconds,
                             job_failures=c.jobs.unhealthy_after_failures)
        site = ApiQuietSite(build_root(  # type: ignore[no-untyped-call]  # Site() is unannotated in Twisted
            CoreWeb(self.db, self.stats, self.view, self.started, health), self.db.read, self.clock, self.started,
            self.api.deps, portal_read=self.db.portal_read))
        site.displayTracebacks = False
        site.access_log = logs_info(c.server.log_level)
        w = self.conf.web
        if w.tls_cert or w.tls_key:
            from twisted.internet import ssl
            tls = ssl.DefaultOpenSSLContextFactory(w.tls_key, w.tls_cert)  # type: ignore[no-untyped-call]
            p = self.reactor.listenSSL(w.port, site, tls, interface=w.address)
        else:
            p = self.reactor.listenTCP(w.port, site, interface=w.address)
        self._ports.append(p)
        self.bound.web = p.getHost().port
        for c in self.components:
            c.start()
        woken = wake.listen(self.reactor, self.conf.server.data_dir, self.on_wake)
        if woken is not None:
            self._ports.append(woken)
        self.follower.start()
        self.dispatcher.start()
        if self.conf.jobs.enabled:
            unknown = set(self.conf.jobs.skip) - set(self.scheduler.jobs)
            if unknown:
                log.warn("[jobs] skip names jobs that do not exist: {names} (see: aaad jobs list)",
                         names=", ".join(sorted(unknown)))
            self.scheduler.start()
        self.freeze_startup_objects()
        self.announce()

    def freeze_startup_objects(self) -> None:
        """Move what start-up built (the view, the web app's routes and OpenAPI schemas,
        every component) out of the cycle collector's reach, then use Python's own thresholds.

        A full collection walks every tracked object outside the frozen generation while
        holding the GIL: with the web app built after the freeze (about 42,000 objects),
        each one paused RADIUS for 25-50 ms.  Young collections every 700 net allocations
        walk a few thousand objects (well under 1 ms); 50,000 made each a 5-12 ms pause."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(700, 10, 10)

    def core(self) -> Core:
        """What the packages above get from the core."""
        return Core(self.conf, self.reactor, self.clock, self.db, self.box, self.stats, self.view,
                    self.login_writer, self.scheduler, self.dispatcher, self.conf.server.data_dir, self.on_wake)

    def services(self) -> tuple[AuthServer, AccountingServer, EnforcementService, BillingService]:
        """Each package's services, bottom up, from the core and what lower ones provide
        (constructing them registers their jobs, subscriptions and batch handlers)."""
        core = self.core()
        acct = AccountingServer(core, self.conf.accounting)
        auth = AuthServer(core, self.conf.radius, sessions=acct.tracker)
        enforcement = EnforcementService(core, self.conf.enforcement, tracker=acct.tracker)
        billing = BillingService(core, self.conf.billing, self.conf.notify,
                                 base_url=lambda: urls.public_url(self.conf.web, self.bound.web or None))
        return auth, acct, enforcement, billing

    def _build_components(self) -> None:
        from web.service import ApiService
        auth, acct, enforcement, billing = self.services()
        acct.load()
        acct.listen()
        auth.listen()
        self.api = ApiService(self.core(), {"auth": auth, "accounting": acct, "enforcement": enforcement,
                                            "billing": billing})
        self.components += [auth, acct, enforcement, billing, self.api]
        self.bound.auth, self.bound.acct = auth.port, acct.port

    def announce(self) -> None:
        ready = {"web": self.bound.web, "auth": self.bound.auth, "acct": self.bound.acct,
                 "pid": os.getpid()}
        if self.conf.server.ready_file:
            tmp = self.conf.server.ready_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(ready, f)
            os.replace(tmp, self.conf.server.ready_file)
        print("aaad ready " + json.dumps(ready), flush=True)
        log.info("aaad ready: web {web}, auth {auth}, acct {acct}, RADIUS codec {codec}", codec=codec.IMPLEMENTATION,
                 **ready)

    @defer.inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        yield defer.gatherResults([defer.maybeDeferred(s.stop) for s in
                                   (self.scheduler, self.dispatcher, self.follower)])
        for c in reversed(self.components):
            yield defer.maybeDeferred(c.stop)
        for p in self._ports:
            yield defer.maybeDeferred(p.stopListening)
        self.leader.release()
        yield self.db.stop(self.conf.server.stop_timeout)


def jobs_app(conf: cfg.Config, reactor: Any) -> App:
    """An App with every package's jobs and event subscriptions registered and
    nothing loaded, bound or started: what ``aaad jobs`` lists and runs."""
    app = App(conf, reactor)
    app.components += list(app.services())
    if app.db.sqlite:   # let the daemon's writer in between two chunks (see [database] job_commit_gap_ms)
        app.db.writer.commit_gap = conf.database.job_commit_gap_ms / 1000
    return app


def setup_logging(level: str, repeat_interval: float = 0.0) -> None:
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from aaad.ratelog import RateLimitingObserver
    pred = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    out = RateLimitingObserver(textFileLogObserver(sys.stdout), time.monotonic, repeat_interval)
    # Both are zope ``@implementer``s of the logger's interfaces, which mypy cannot see.
    obs = FilteringLogObserver(out, [pred])  # type: ignore[arg-type,list-item]
    globalLogBeginner.beginLoggingTo([obs], redirectStandardIO=False)  # type: ignore[list-item]


def serve(conf: cfg.Config) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    from twisted.internet import reactor as _reactor
    # The reactor's interfaces are zope ones, unreadable to mypy: used untyped, as App takes it.
    reactor: Any = _reactor
    setup_logging(conf.server.log_level, conf.server.log_repeat_interval)
    problem = check_data_dir(conf.server.data_dir)
    if problem:
        print(f"aaad: cannot start: {problem}", file=sys.stderr)
        return 2
    app = App(conf, reactor)
    try:
        app.start()
    except Exception as e:
        log.failure("start-up failed")
        print(f"aaad: cannot start: {e}", file=sys.stderr)
        app.db.pool.stop()  # their threads would keep the process alive
        app.db.portal_pool.stop()
        return 1
    stop = BoundedStop(reactor, app.stop, conf.server.stop_timeout + 1)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.run()
    if stop.timed_out:
        # Threads stuck in the hung database would keep the interpreter from exiting.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


__all__ = ["App", "serve", "load_config", "schema", "is_sqlite"]
