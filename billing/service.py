"""billing's running part: built from the core at start, it registers billing's jobs
(the daily billing run, the dunning pass, the gateway re-check) with the core's scheduler."""
from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any

from aaad.component import Core
from aaad.jobs import Job, JobContext
from aaad.schedules import Daily
from billing import dunning, run
from billing.config import BillingConfig
from billing.gateways.service import Gateways
from billing.notify.config import NotifyConfig
from billing.notify.service import NotifyService


class BillingService:
    """Registers billing's jobs; runs notifications (their subscriber, sender and jobs)."""

    def __init__(self, core: Core, conf: BillingConfig, notify: NotifyConfig | None = None,
                 base_url: Callable[[], str] = lambda: ""):
        self.core = core
        self.conf = conf
        self.notify = NotifyService(core, notify or NotifyConfig(), base_url=base_url)
        self.run_progress: list[run.Progress] = []   # e.g. ``aaad billing run``'s progress bar
        core.scheduler.add(Job(run.JOB, Daily(time.fromisoformat(conf.run_at)), self._run, per_org=True))
        core.scheduler.add(dunning.job(core, conf))
        self.gateways = Gateways(core.db, core.box, core.clock, core.login_writer)
        core.scheduler.add(self.gateways.job())

    def _run(self, ctx: JobContext) -> Any:
        return run.run_job(ctx, self.core.login_writer, self.conf.chunk_for(self.core.db.sqlite),
                           self.run_progress)

    def start(self) -> None:
        self.notify.start()

    def stop(self) -> Any:
        return self.notify.stop()
