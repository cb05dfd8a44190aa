"""/logins/{login_id}/usage and usage.png: buckets at three resolutions, and the RRD graph."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet import defer, task

from accounting import store
from accounting.graphs import RrdStore
from tests.web.api.conftest import NOW, ApiClient, World, make_api
from tests.web.api.traffic import MB, SLOT, Traffic, seed_traffic


@pytest.fixture(scope="module")
def traffic(world: World) -> Traffic:
    return seed_traffic(world)


def run_now(fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    return defer.maybeDeferred(fn, *args)


@pytest.fixture
def rrd(tmp_path: Path) -> RrdStore:
    return RrdStore(str(tmp_path / "rrd"), None, run_now)


@pytest.fixture
def graphs(world: World, clock: task.Clock, rrd: RrdStore) -> ApiClient:
    """A client whose daemon has an accounting service drawing from ``rrd``."""
    resource, deps = make_api(world, clock)
    deps.services["accounting"] = SimpleNamespace(rrd=rrd, graph=rrd.graph)
    return ApiClient(resource, world)


def test_five_minute_buckets_of_a_login(api: ApiClient, traffic: Traffic) -> None:
    """resolution=5m: alice's one slot at 11:00 with her upload and download; totals alongside."""
    r = api.get(f"/logins/{traffic.alice}/usage?resolution=5m")
    assert r.code == 200, r.body
    u = r.json()
    assert u["buckets"] == [{"start": "2026-11-30T11:00:00Z", "octets_in": 3 * MB, "octets_out": 40 * MB}]
    assert (u["total_in"], u["total_out"]) == (3 * MB, 40 * MB)
    assert (u["start"], u["end"]) == ("2026-11-29T12:00:00Z", "2026-11-30T12:00:00Z")
    assert u["summary"]["today_out"] == 40 * MB and u["summary"]["total_in"] == 3 * MB


def test_hourly_and_daily_buckets(api: ApiClient, traffic: Traffic) -> None:
    """1h gives the 11:00 hour, 1d the org's day (UTC here), each with the same octets."""
    hour = api.get(f"/logins/{traffic.alice}/usage?resolution=1h").json()["buckets"]
    day = api.get(f"/logins/{traffic.alice}/usage?resolution=1d").json()["buckets"]
    assert hour == [{"start": "2026-11-30T11:00:00Z", "octets_in": 3 * MB, "octets_out": 40 * MB}]
    assert day == [{"start": "2026-11-30T00:00:00Z", "octets_in": 3 * MB, "octets_out": 40 * MB}]


def test_range_leaves_out_buckets_outside_it(api: ApiClient, traffic: Traffic) -> None:
    """A range ending at the slot's start excludes it; one starting there includes it."""
    q = f"/logins/{traffic.alice}/usage?resolution=5m"
    assert api.get(q + "&from=2026-11-30T10:00:00Z&to=2026-11-30T11:00:00Z").json()["buckets"] == []
    got = api.get(q + "&from=2026-11-30T11:00:00Z&to=2026-11-30T11:05:00Z").json()
    assert [b["start"] for b in got["buckets"]] == ["2026-11-30T11:00:00Z"] and got["total_out"] == 40 * MB


def test_a_login_without_traffic_has_no_buckets(api: ApiClient, world: World, traffic: Traffic) -> None:
    """Bob's octets are in buckets; org demo's carol has none: an empty list, zero totals."""
    assert api.get(f"/logins/{traffic.bob}/usage?resolution=1d").json()["total_out"] == 2 * MB
    with world.db.engine.connect() as c:
        assert store.usage_buckets(c, world.demo, traffic.alice, "slot", SLOT, SLOT + timedelta(minutes=5))
    carol = next(lg["id"] for lg in _logins(world) if lg["username"] == "carol")
    u = api.get(f"/logins/{carol}/usage").json()
    assert u["buckets"] == [] and u["total_in"] == u["total_out"] == 0


def _logins(world: World) -> list[dict[str, Any]]:
    from aaad.view import store as view_store
    with world.db.engine.connect() as c:
        return [{"id": lg.id, "username": lg.username} for lg in view_store.list_logins(c, world.box, world.demo)]


def test_bad_resolution_and_range_are_422(api: ApiClient, traffic: Traffic) -> None:
    """An unknown resolution and a naive time: one 422 naming both; to before from names to."""
    r = api.get(f"/logins/{traffic.alice}/usage?resolution=1w&from=2026-11-30T10:00:00")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"resolution", "from"}
    r = api.get(f"/logins/{traffic.alice}/usage?from=2026-11-30T10:00:00Z&to=2026-11-30T09:00:00Z")
    assert r.code == 422 and r.json()["error"]["field"] == "to"
    r = api.get(f"/logins/{traffic.alice}/usage?to=9999-12-31T23:59:59-14:00")
    assert r.code == 422 and r.json()["error"]["field"] == "to"


def test_unknown_and_other_orgs_login_are_404(api: ApiClient, traffic: Traffic) -> None:
    """Usage and graph of another org's login, or of no login, are 404 (before any service is needed)."""
    for lid in (traffic.other_alice, 999_999):
        assert api.get(f"/logins/{lid}/usage").code == 404
        assert api.get(f"/logins/{lid}/usage.png").code == 404
    assert api.as_("other").get(f"/logins/{traffic.other_alice}/usage").code == 200


def test_graph_is_a_png_of_the_logins_rrd(graphs: ApiClient, rrd: RrdStore, traffic: Traffic) -> None:
    """With an RRD file for alice, usage.png answers image/png drawn over the range asked."""
    rrd.update_many([(graphs.world.demo, traffic.alice, SLOT + timedelta(minutes=5 * i), 300_000, 30_000)
                     for i in range(6)])
    r = graphs.get(f"/logins/{traffic.alice}/usage.png?from=2026-11-30T10:00:00Z&width=400&height=100")
    assert r.code == 200, r.body
    assert r.header("Content-Type") == "image/png" and r.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert 'filename="usage-' in (r.header("Content-Disposition") or "")


def test_graph_without_rrd_file_is_404_saying_why(graphs: ApiClient, traffic: Traffic) -> None:
    """A login that never had an RRD file: 404 whose message says the graph comes after traffic."""
    r = graphs.get(f"/logins/{traffic.bob}/usage.png")
    assert r.code == 404 and "No traffic graph" in r.json()["error"]["message"]


def test_graph_when_rrd_is_off_or_no_service(world: World, clock: task.Clock, api: ApiClient,
                                             traffic: Traffic) -> None:
    """RRD disabled in the daemon: 404 saying so; no accounting service at all: 503."""
    resource, deps = make_api(world, clock)
    deps.services["accounting"] = SimpleNamespace(rrd=None, graph=None)
    r = ApiClient(resource, world).get(f"/logins/{traffic.alice}/usage.png")
    assert r.code == 404 and "off" in r.json()["error"]["message"]
    r = api.get(f"/logins/{traffic.alice}/usage.png")
    assert r.code == 503 and r.json()["error"]["code"] == "unavailable"


def test_graph_size_is_bounded(graphs: ApiClient, traffic: Traffic) -> None:
    """width and height outside their bounds: 422 naming both."""
    r = graphs.get(f"/logins/{traffic.alice}/usage.png?width=5&height=100000")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"width", "height"}


def test_default_range_ends_now(api: ApiClient, traffic: Traffic) -> None:
    """Without from/to, the daily view covers the 31 days up to the clock's now."""
    u = api.get(f"/logins/{traffic.alice}/usage?resolution=1d").json()
    assert u["end"] == NOW.isoformat().replace("+00:00", "Z") and u["start"] == "2026-10-30T12:00:00Z"
