"""The ``[billing]`` config section (per-org settings live in the database: ``aaad billing settings``)."""
from __future__ import annotations

from dataclasses import dataclass

from aaad.config import positive, setting, wall_time


@dataclass(frozen=True)
class BillingConfig:
    """The billing run and dunning jobs."""
    run_at: str = setting("00:30", "Local time (each org's time zone) of the daily billing run, which issues "
                                   "the invoices due that day: monthly services on the org's billing day, "
                                   "prepaid and daily services on their own cycle dates.", wall_time)
    dunning_at: str = setting("01:00", "Local time of the daily dunning pass, which suspends the services of "
                                       "customers with an invoice unpaid past its due date plus the org's grace "
                                       "days.", wall_time)
    chunk: int = setting(300, "Customers billed (or dunned) per database transaction: each chunk commits with "
                              "the job's checkpoint, so the writer is never held for long and a killed run "
                              "resumes after the last committed chunk.", positive)
