"""billing's running part: built from the core at start, it registers billing's jobs
(the daily billing run and dunning pass) with the core's scheduler."""
from __future__ import annotations

from datetime import time
from typing import Any

from aaad.component import Core
from aaad.jobs import Job, JobContext
from aaad.schedules import Daily
from billing import dunning, run
from billing.config import BillingConfig


class BillingService:
    """Registers billing's jobs and subscriptions; nothing of its own to start or stop."""

    def __init__(self, core: Core, conf: BillingConfig):
        self.core = core
        self.conf = conf
        self.run_progress: list[run.Progress] = []   # e.g. ``aaad billing run``'s progress bar
        core.scheduler.add(Job(run.JOB, Daily(time.fromisoformat(conf.run_at)), self._run, per_org=True))
        core.scheduler.add(dunning.job(core, conf))

    def _run(self, ctx: JobContext) -> Any:
        return run.run_job(ctx, self.core.login_writer, self.conf.chunk, self.run_progress)

    def start(self) -> None:
        pass

    def stop(self) -> Any:
        return None
