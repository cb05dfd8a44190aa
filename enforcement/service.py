"""enforcement's running part, built from the core at start: the RFC 5176 client, the
RouterOS API pool, the action sender, the event subscriptions that fill the queue, and
its jobs (the daily router status check, the pruning of finished actions)."""
from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from aaad import nas as nas_store
from aaad.clock import utcnow
from aaad.component import Core
from aaad.jobs import Job, JobContext
from aaad.nas import Nas
from aaad.schedules import Daily
from aaad.view import store as view_store
from enforcement import actions, status_store
from enforcement.coa import DynAuthClient
from enforcement.config import EnforcementConfig
from enforcement.routeros import RouterAccess, RouterError, RouterPool, RouterStatus
from enforcement.sender import ActionSender

log = Logger()

SUBSCRIBER = "enforcement"
PRUNE_JOB = "enforcement.prune"
STATUS_JOB = "enforcement.router_status"


class RouterTasks:
    """The sender's and the status job's calls to routers' APIs, on the pool's own threads."""

    def __init__(self, core: Core, pool: RouterPool, timeout: float):
        self.core = core
        self.pool = pool
        self.timeout = timeout
        self._checking: set[int] = set()

    def _access(self, nas: Nas) -> RouterAccess:
        access = RouterAccess.from_nas(nas, self.timeout)
        if access is None:
            raise RouterError("login", f"NAS {nas.name} has no RouterOS API credentials")
        return access

    def remove_user_sessions(self, nas: Nas, username: str, address: str | None = None) -> defer.Deferred[int]:
        return defer.maybeDeferred(lambda: self.pool.remove_active(self._access(nas), username, address))

    @defer.inlineCallbacks
    def sync_profiles(self, nas: Nas):  # type: ignore[no-untyped-def]
        profiles = yield self.core.db.read(view_store.list_profiles, nas.org_id)
        result = yield self.pool.sync_profiles(self._access(nas), profiles)
        if result.errors:
            raise RouterError("refused", "; ".join(result.errors))
        n = len(result.commands)
        return f"{n} change(s) sent" if n else "already in step"

    def check_status(self, nas: Nas) -> None:
        if nas.id in self._checking or not nas.api_username:
            return
        self._checking.add(nas.id)
        d = self.status(nas)
        d.addErrback(lambda f: log.failure("router status check of {nas} failed", f, nas=nas.name))
        d.addBoth(lambda _: self._checking.discard(nas.id))

    @defer.inlineCallbacks
    def status(self, nas: Nas):  # type: ignore[no-untyped-def]
        """Check one router and record what was found (never fails for an unreachable router)."""
        st: RouterStatus = yield self.pool.status(self._access(nas))
        yield self.core.db.write(status_store.record, nas.org_id, nas.id, st)
        if not st.reachable:
            log.warn("router {nas} unreachable: {error}", nas=nas.name, error=st.error)
        return st


class EnforcementService:
    """Queues an action for every login change a router must see, and sends it."""

    def __init__(self, core: Core, conf: EnforcementConfig, *, tracker: Any = None):
        self.core = core
        self.conf = conf
        self.tracker = tracker
        self.client = DynAuthClient(core.reactor, initial_timeout=conf.coa_timeout, max_attempts=conf.coa_attempts,
                                    max_time=conf.coa_max_time, bind_address=conf.source_address,
                                    stats=core.stats, max_in_flight=conf.in_flight_per_nas)
        self.pool = RouterPool(core.reactor, conf.api_threads, conf.api_timeout, conf.api_timeout)
        self.routers = RouterTasks(core, self.pool, conf.api_timeout)
        self.sender = ActionSender(core.db, core.box, core.clock, self.client, poll_interval=conf.poll_interval,
                                   in_flight_per_nas=conf.in_flight_per_nas, routers=self.routers,
                                   api_fallback=conf.api_fallback, stats=core.stats,
                                   on_sessions_closed=self._sessions_closed, max_rate=conf.max_rate)
        if conf.enabled:
            for event_type, fn in actions.SUBSCRIPTIONS:
                core.dispatcher.subscribe(SUBSCRIBER, event_type, fn, after_commit=self.sender.kick)
        core.scheduler.add(Job(PRUNE_JOB, 3600, self._prune))
        core.scheduler.add(Job(STATUS_JOB, Daily(time.fromisoformat(conf.status_at)), self._status, per_org=True))
        core.scheduler.on_leader.append(self._leader_changed)
        core.on_wake.append(self.sender.kick)      # `aaad disconnect` queued something
        self._started = False

    def _sessions_closed(self, login_ids: list[int]) -> None:
        if self.tracker is not None:
            self.tracker.closed(login_ids)

    def _leader_changed(self, leader: bool) -> None:
        self.sender.enabled = leader and self.conf.enabled
        if self.sender.enabled:
            self.sender.kick()

    def _prune(self, ctx: JobContext) -> Any:
        """Hourly: drop finished actions older than ``keep_days``."""
        return self.core.db.write(actions.prune, utcnow(self.core.clock) - timedelta(days=self.conf.keep_days))

    @defer.inlineCallbacks
    def _status(self, ctx: JobContext):  # type: ignore[no-untyped-def]
        """Daily, per org: check every router with API credentials and record what was found."""
        routers = yield ctx.db.read(nas_store.list_all, self.core.box, ctx.org_id)
        found = {}
        for n in routers:
            if n.api_username:
                st = yield self.routers.status(n)
                found[n.name] = "reachable" if st.reachable else f"unreachable ({st.error})"
        return found

    def start(self) -> None:
        self.client.start()
        self.pool.start()
        self.sender.enabled = self.core.dispatcher.enabled and self.conf.enabled
        self.sender.start()
        self._started = True

    @defer.inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        if not self._started:
            return
        yield self.sender.stop()
        yield self.client.stop()
        self.pool.stop()
