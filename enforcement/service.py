"""enforcement's running part, built from the core at start: the RFC 5176 client,
the action sender, the event subscriptions that fill the queue, and its jobs."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.component import Core
from aaad.jobs import Job, JobContext
from enforcement import actions
from enforcement.coa import DynAuthClient
from enforcement.config import EnforcementConfig
from enforcement.sender import ActionSender, Fallback

log = Logger()

SUBSCRIBER = "enforcement"
PRUNE_JOB = "enforcement.prune"


class EnforcementService:
    """Queues an action for every login change a router must see, and sends it."""

    def __init__(self, core: Core, conf: EnforcementConfig, *, tracker: Any = None,
                 fallback: Fallback | None = None):
        self.core = core
        self.conf = conf
        self.tracker = tracker
        self.client = DynAuthClient(core.reactor, initial_timeout=conf.coa_timeout, max_attempts=conf.coa_attempts,
                                    max_time=conf.coa_max_time, bind_address=conf.source_address,
                                    stats=core.stats, max_in_flight=min(256, conf.in_flight_per_nas))
        self.sender = ActionSender(core.db, core.box, core.clock, self.client, poll_interval=conf.poll_interval,
                                   in_flight_per_nas=conf.in_flight_per_nas,
                                   fallback=fallback if conf.api_fallback else None, stats=core.stats,
                                   on_sessions_closed=self._sessions_closed)
        if conf.enabled:
            for event_type, fn in actions.SUBSCRIPTIONS:
                core.dispatcher.subscribe(SUBSCRIBER, event_type, fn, after_commit=self.sender.kick)
        core.scheduler.add(Job(PRUNE_JOB, 3600, self._prune))
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

    def start(self) -> None:
        self.client.start()
        self.sender.enabled = self.core.dispatcher.enabled and self.conf.enabled
        self.sender.start()
        self._started = True

    def stop(self) -> Any:
        if not self._started:
            return None
        d = self.sender.stop()
        d.addCallback(lambda _: self.client.stop())
        return d
