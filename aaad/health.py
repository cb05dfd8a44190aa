"""What /healthz checks, so that it tells the truth.

Unhealthy (HTTP 503, with every problem named) when the database does not
answer a ping in time, when the writer cannot commit (its last transaction
failed for a database-wide reason such as a full disk or a read-only file
system, its queue is full, or a transaction has run longer than the stall
bound), when a job has failed repeatedly, or when the data directory is
nearly full.  Also the start-up check that the data directory is writable.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from aaad.ratelog import describe
from aaad.schema import job_runs


@dataclass(frozen=True)
class FailingJob:
    job: str
    org_id: int
    period: str
    attempts: int
    error: str | None


def failing_jobs(conn: Connection, after: int) -> list[FailingJob]:
    """Jobs whose latest period failed ``after`` attempts or more, or whose
    last ``after`` periods all failed (per job and org)."""
    latest = sa.select(sa.func.max(job_runs.c.id)).group_by(job_runs.c.job, job_runs.c.org_id)
    out = []
    for r in conn.execute(sa.select(job_runs).where(job_runs.c.id.in_(latest),
                                                    job_runs.c.status != "done")):
        bad = (r.status == "failed" and r.attempts >= after) or r.attempts > after
        if not bad and r.status == "failed":
            recent = conn.execute(sa.select(job_runs.c.status).where(
                job_runs.c.job == r.job, job_runs.c.org_id == r.org_id)
                .order_by(job_runs.c.id.desc()).limit(after)).scalars().all()
            bad = len(recent) == after and all(s == "failed" for s in recent)
        if bad:
            out.append(FailingJob(r.job, r.org_id, r.period, r.attempts, r.error))
    return out


def _probe(conn: Connection, after: int) -> list[FailingJob]:
    conn.execute(sa.text("SELECT 1")).scalar_one()
    return failing_jobs(conn, after)


def free_bytes(path: str) -> int:
    """Bytes an unprivileged writer may still use on the file system of ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_data_dir(path: str) -> str | None:
    """Create ``path`` if needed and prove it writable; the problem, or None."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".aaad-write-check-") as f:
            f.write(b"x")
            f.flush()
    except OSError as e:
        return f"data directory {path} is not writable: {e.strerror or e}"
    return None


@dataclass
class _Probe:
    """The last database probe: (ok, failing jobs or error text), and who waits."""
    running: bool = False
    waiting: list[defer.Deferred[tuple[str, Any]]] = field(default_factory=list)


class HealthCheck:
    """Collects the problems /healthz reports (an empty list: healthy).

    One database probe runs at a time, whoever asks; each asker waits at
    most ``timeout`` seconds for it, so a hung database gives a prompt 503
    instead of a hung request.  The probe's result is reused for
    ``cache_seconds``.
    """

    def __init__(self, db: Any, clock: Any, data_dir: str, *, min_free_mb: int = 100,
                 stall_seconds: float = 10.0, job_failures: int = 3, timeout: float = 2.0,
                 cache_seconds: float = 2.0):
        self.db = db
        self.clock = clock
        self.data_dir = data_dir
        self.min_free_mb = min_free_mb
        self.stall_seconds = stall_seconds
        self.job_failures = job_failures
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._probe = _Probe()
        self._cached: tuple[float, tuple[str, Any]] | None = None

    def probe(self) -> defer.Deferred[tuple[str, Any]]:
        """("ok", failing jobs) | ("error", text) | ("timeout", None)."""
        now = self.clock.seconds()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return defer.succeed(self._cached[1])
        out: defer.Deferred[tuple[str, Any]] = defer.Deferred()

        def expire() -> None:
            if not out.called:
                out.callback(("timeout", None))
        call = self.clock.callLater(self.timeout, expire)
        out.addBoth(lambda r: (call.cancel() if call.active() else None, r)[1])
        self._probe.waiting.append(out)
        if not self._probe.running:
            self._probe.running = True
            d = defer.maybeDeferred(self.db.read, _probe, self.job_failures)
            d.addCallbacks(lambda jobs: ("ok", jobs), lambda f: ("error", describe(f)))
            d.addCallback(self._probed)
        return out

    def _probed(self, result: tuple[str, Any]) -> None:
        self._probe.running = False
        self._cached = (self.clock.seconds(), result)
        waiting, self._probe.waiting = self._probe.waiting, []
        for w in waiting:
            if not w.called:
                w.callback(result)

    @defer.inlineCallbacks
    def check(self):  # type: ignore[no-untyped-def]
        """Fires with (problems, details) — details are plain JSON-able values."""
        problems: list[str] = []
        details: dict[str, Any] = {}
        writer = self.db.writer.health()
        details["writer"] = {"pending": writer.pending, "queue_max": writer.queue_max,
                             "last_commit_age": None if writer.last_commit is None
                             else round(self.clock.seconds() - writer.last_commit, 1)}
        problems += [f"writer: {p}" for p in writer.problems(self.stall_seconds)]
        try:
            free = free_bytes(self.data_dir)
        except OSError as e:
            problems.append(f"data_dir: cannot stat {self.data_dir}: {e.strerror or e}")
        else:
            details["data_dir_free_mb"] = free // 2**20
            if free < self.min_free_mb * 2**20:
                problems.append(f"data_dir: {free // 2**20} MB free in {self.data_dir}, "
                                f"under the {self.min_free_mb} MB minimum")
        status, value = yield self.probe()
        if status == "timeout":
            problems.append(f"database: no answer within {self.timeout:g}s")
        elif status == "error":
            problems.append(f"database: {value}")
        else:
            for j in value:
                problems.append(f"job {j.job} (org {j.org_id}) keeps failing (period {j.period}, "
                                f"{j.attempts} attempts): {j.error or 'no error recorded'}")
        return problems, details
