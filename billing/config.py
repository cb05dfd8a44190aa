"""The ``[billing]`` config section (per-org settings live in the database: ``aaad billing settings``)."""
from __future__ import annotations

from dataclasses import dataclass

from aaad.config import non_negative, setting, wall_time

SQLITE_CHUNK = 300
POSTGRESQL_CHUNK = 1000


@dataclass(frozen=True)
class BillingConfig:
    """The billing run and dunning jobs."""
    run_at: str = setting("00:30", "Local time (each org's time zone) of the daily billing run, which issues "
                                   "the invoices due that day: monthly services on the org's billing day, "
                                   "prepaid and daily services on their own cycle dates.", wall_time)
    dunning_at: str = setting("01:00", "Local time of the daily dunning pass, which suspends the services of "
                                       "customers with an invoice unpaid past its due date plus the org's grace "
                                       "days.", wall_time)
    chunk: int = setting(0, "Customers billed (or dunned) per database transaction; 0: 300 on SQLite (a chunk "
                            "holds the database's write lock, which the daemon's accounting waits for) and 1,000 "
                            "on PostgreSQL (nothing waits for it there, and fewer commits make the run about a "
                            "quarter faster). Each chunk commits with the job's checkpoint, so a killed run "
                            "resumes after the last committed chunk.", non_negative)

    def chunk_for(self, sqlite: bool) -> int:
        """Customers per transaction on this database (``chunk``, or its default there)."""
        return self.chunk or (SQLITE_CHUNK if sqlite else POSTGRESQL_CHUNK)
