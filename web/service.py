"""The web package's service: what the admin API's handlers get, and its hourly cleanup."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from aaad.clock import utcnow
from aaad.component import Core
from aaad.jobs import Job, JobContext
from web import apistore
from web.api.app import Deps

PRUNE_JOB = "api.prune"


class ApiService:
    """Builds the API's dependencies from the core and the services below; registers ``api.prune``."""

    def __init__(self, core: Core, services: dict[str, Any]):
        self.core = core
        self.conf = core.conf.api
        self.deps = Deps(core, core.conf, services)
        core.scheduler.add(Job(PRUNE_JOB, 3600, self._prune))

    def _prune(self, ctx: JobContext) -> Any:
        """Hourly: forget idempotency keys past their window and audit entries past [api] audit_days."""
        now = utcnow(self.core.clock)
        return self.core.db.write(apistore.prune, now - timedelta(hours=self.conf.idempotency_hours),
                                  now - timedelta(days=self.conf.audit_days))

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
