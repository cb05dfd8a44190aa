"""billing's running part: built from the core at start, it registers billing's jobs
(the daily billing run and dunning pass) with the core's scheduler."""
from __future__ import annotations

from typing import Any

from aaad.component import Core
from billing import dunning
from billing.config import BillingConfig


class BillingService:
    """Registers billing's jobs and subscriptions; nothing of its own to start or stop."""

    def __init__(self, core: Core, conf: BillingConfig):
        self.core = core
        self.conf = conf
        core.scheduler.add(dunning.job(core, conf))

    def start(self) -> None:
        pass

    def stop(self) -> Any:
        return None
