"""/job-runs: the periodic jobs' runs for the org (billing cycles, dunning, usage, ...).

A run is one (job, org, period), exactly once.  Jobs that are not per org
(the platform's own housekeeping) are not the org's and are not listed.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from aaad import jobs
from aaad.errors import NotFound
from web.api.coretypes import Text, UtcTime
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router

router = Router("job-runs", "Runs of the periodic jobs for the org")

Status = Literal["running", "done", "failed"]


class JobRunOut(Out):
    id: int
    job: str
    period: str = Field(description="The period the run covers, e.g. 2026-11 or 2026-11-30T12:05.")
    status: Status
    attempts: int
    started_at: UtcTime
    finished_at: UtcTime | None
    error: str | None = Field(description="Why the last attempt failed.")


class JobRunQuery(ListQuery):
    job: Text | None = Field(None, max_length=64, description="Only this job's runs.")
    status: Status | None = None
    sort: Literal["-id", "id", "-started_at", "started_at"] = Field("-id", description="-id: newest first.")


class JobRunPath(In):
    job_run_id: Id


@router.get("/job-runs", summary="List job runs")
async def list_job_runs(call: Call, query: JobRunQuery) -> Page[JobRunOut]:
    """The org's job runs, newest first, of one job and in one status."""
    p = await call.read(jobs.page_runs, call.org_id, job=query.job, status=query.status, sort=query.sort,
                        cursor=query.cursor, limit=query.limit)
    return Page[JobRunOut](items=[JobRunOut.model_validate(r) for r in p.items], next_cursor=p.next_cursor)


@router.get("/job-runs/{job_run_id}", summary="A job run")
async def get_job_run(call: Call, path: JobRunPath) -> JobRunOut:
    r = await call.read(jobs.get_job_run, call.org_id, path.job_run_id)
    if r is None:
        raise NotFound("job run", path.job_run_id)
    return JobRunOut.model_validate(r)
