"""/logins/{login_id}/usage: a login's data usage in buckets, and its traffic graph (PNG).

The buckets are what accounting's 5-minute aggregation wrote (5-minute slots,
and the org's local hours and days); the graph is drawn by rrdtool from the
login's RRD file on the accounting service's own thread pool.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from aaad.errors import NotFound, ValidationError
from aaad.view import store as view_store
from accounting import store
from web.api.app import ApiError
from web.api.declare import EARLIEST, Call, Id, In, Instant, Out, Raw, Router

router = Router("usage", "Data usage: 5-minute, hourly and daily buckets, and traffic graphs")

Resolution = Literal["5m", "1h", "1d"]
LEVELS: dict[str, Literal["slot", "hour", "day"]] = {"5m": "slot", "1h": "hour", "1d": "day"}
#: The range asked for when ``from`` is left out: what each resolution shows well.
DEFAULT_SPAN = {"5m": timedelta(days=1), "1h": timedelta(days=7), "1d": timedelta(days=31)}


class UsagePath(In):
    login_id: Id


class UsageQuery(In):
    resolution: Resolution = Field("1h", description="5m: 5-minute slots (kept a week by default); 1h: the org's "
                                                     "local hours; 1d: the org's local days.")
    from_: Instant | None = Field(None, alias="from", description="Start of the range (default: one day, week "
                                                                  "or month before `to`, by resolution).")
    to: Instant | None = Field(None, description="End of the range, excluded (default: now).")


class GraphQuery(In):
    from_: Instant | None = Field(None, alias="from", description="Start of the graph (default: a day before "
                                                                  "`to`).")
    to: Instant | None = Field(None, description="End of the graph (default: now).")
    width: int = Field(800, ge=100, le=4000, description="Pixels of the plot area.")
    height: int = Field(240, ge=50, le=2000)


class UsageBucketOut(Out):
    start: datetime = Field(description="Start of the slot, hour or day (UTC).")
    octets_in: int = Field(description="Octets from the user (upload).")
    octets_out: int = Field(description="Octets to the user (download).")


class UsageSummaryOut(Out):
    today_in: int = Field(description="Octets from the user today (the org's local day).")
    today_out: int
    cycle_octets: int = Field(description="Octets counted towards the data cap in the current cycle "
                                          "(free hours left out).")
    cycle_start: datetime
    cycle_end: datetime
    total_in: int
    total_out: int
    pending_in: int = Field(description="Octets of open sessions not yet in buckets (the next aggregation "
                                        "adds them).")
    pending_out: int


class UsageOut(Out):
    login_id: int
    resolution: Resolution
    start: datetime = Field(description="The range's start (`from`).")
    end: datetime = Field(description="The range's end, excluded (`to`).")
    buckets: list[UsageBucketOut] = Field(description="Oldest first; a bucket without traffic is left out.")
    total_in: int = Field(description="Sum of the buckets' octets_in.")
    total_out: int
    summary: UsageSummaryOut = Field(description="What `aaad usage` shows: today, this cycle, ever.")


def _range(call: Call, start: datetime | None, end: datetime | None, span: timedelta) -> tuple[datetime, datetime]:
    end = end or call.now
    start = start or max(end - span, EARLIEST)
    if end <= start:
        raise ValidationError("to", "must be after from")
    return start, end


@router.get("/logins/{login_id}/usage", summary="A login's usage")
async def get_login_usage(call: Call, path: UsagePath, query: UsageQuery) -> UsageOut:
    """The login's traffic in buckets over a range (5-minute, hourly or daily), with its totals today,
    this cycle and ever."""
    start, end = _range(call, query.from_, query.to, DEFAULT_SPAN[query.resolution])
    level = LEVELS[query.resolution]

    def read(conn: Any) -> tuple[list[store.UsageBucket], store.UsageSummary | None]:
        summary = store.login_usage(conn, call.org_id, path.login_id, call.now)
        if summary is None:
            return [], None
        return store.usage_buckets(conn, call.org_id, path.login_id, level, start, end), summary
    buckets, u = await call.read(read)
    if u is None:
        raise NotFound("login", path.login_id)
    summary = UsageSummaryOut(today_in=u.today[0], today_out=u.today[1], cycle_octets=u.cycle,
                         cycle_start=u.cycle_start, cycle_end=u.cycle_end, total_in=u.total[0],
                         total_out=u.total[1], pending_in=u.unaggregated[0], pending_out=u.unaggregated[1])
    return UsageOut(login_id=path.login_id, resolution=query.resolution, start=start, end=end,
                    buckets=[UsageBucketOut.model_validate(b) for b in buckets],
                    total_in=sum(b.octets_in for b in buckets), total_out=sum(b.octets_out for b in buckets),
                    summary=summary)


@router.get("/logins/{login_id}/usage.png", summary="A login's traffic graph", media="image/png",
            errors=(503,))
async def get_login_usage_graph(call: Call, path: UsagePath, query: GraphQuery) -> Raw:
    """Download and upload in bits per second over a range, drawn by rrdtool from the login's RRD file
    (fed by each 5-minute aggregation); 404 until the login has had traffic."""
    start, end = _range(call, query.from_, query.to, timedelta(days=1))
    login = await call.read(view_store.get_login, call.deps.box, call.org_id, path.login_id)
    if login is None:
        raise NotFound("login", path.login_id)
    acct = call.deps.services.get("accounting")
    if acct is None:
        raise ApiError(503, "unavailable", "Traffic graphs are drawn by the running daemon's accounting "
                                           "service, which is not running here.")
    if getattr(acct, "rrd", None) is None:
        raise ApiError(404, "not_found", "Traffic graphs are off in this daemon ([accounting] rrd_enabled, "
                                         "or the rrdtool module is missing).")
    try:
        png = await acct.graph(call.org_id, path.login_id, start, end, width=query.width, height=query.height,
                               title=login.username)
    except TimeoutError:
        raise ApiError(503, "unavailable", "rrdtool did not draw the graph in time; try again.") from None
    if png is None:
        raise ApiError(404, "not_found", f"No traffic graph for login {path.login_id} yet: its RRD file is "
                                         "created at the first aggregation after it has traffic.")
    return Raw(png, "image/png", f"usage-{path.login_id}.png")
