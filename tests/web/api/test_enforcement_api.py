"""Enforcement through the API: the action queue, disconnect now, and routers (provision,
status) through their RouterOS API, against the fake RouterOS (tests/fake_routeros.py).

The in-process harness runs no daemon services; where a route needs the enforcement
service, the test puts in one made of the real RouterTasks over a pool that runs the
real librouteros calls (enforcement.routeros) at once, on the test's thread."""
from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from twisted.internet import defer, task

from aaad import nas
from aaad.component import Core
from enforcement import actions, routeros
from enforcement.routeros import RouterAccess, RouterPool, RouterStatus, Timeouts
from enforcement.schema import actions as actions_table
from enforcement.service import RouterTasks
from tests.fake_routeros import FakeRouterOS, closed_port
from tests.helpers import result_of
from tests.web.api.conftest import NOW, ApiClient, World, count, make_api
from tests.web.api.traffic import Traffic, seed_traffic

FAST = Timeouts(connect=2.0, read=2.0, call=10.0)
RADIUS = {"radius_address": "192.0.2.10"}


@pytest.fixture(scope="module")
def traffic(world: World) -> Traffic:
    return seed_traffic(world)


@pytest.fixture(scope="module")
def bare(world: World, traffic: Traffic) -> int:
    """A NAS of org demo without RouterOS API credentials."""
    return int(result_of(world.db.write(nas.add, world.box, world.demo, "bare", "127.0.0.3", "s3cret", NOW)).id)


@pytest.fixture
def fake() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(password="pw", identity="edge-7") as f:
        yield f


def point_at(world: World, port: int) -> int:
    """Give demo's NAS core-1 API credentials for a router on loopback ``port``; its id."""
    n = result_of(world.db.write(nas.update, world.box, world.demo, "core-1", NOW, api_host="127.0.0.1",
                                 api_port=port, api_username="admin", api_password="pw"))
    return int(n.id)


@pytest.fixture
def router(world: World, traffic: Traffic, fake: FakeRouterOS) -> int:
    """Demo's core-1, reachable through the fake router's API."""
    return point_at(world, fake.port)


class SyncPool:
    """RouterPool's calls, run at once with the real librouteros functions (no threads)."""

    def status(self, access: RouterAccess) -> defer.Deferred[RouterStatus]:
        return defer.succeed(routeros.check_status(access, FAST, NOW))

    def apply(self, access: RouterAccess, steps: Any, dry_run: bool = False) -> defer.Deferred[Any]:
        return defer.maybeDeferred(routeros.apply, access, steps, FAST, dry_run)


class Sender:
    def __init__(self) -> None:
        self.kicks = 0
        self.rescans = 0

    def kick(self, rescan: bool = False) -> None:
        self.kicks += 1
        self.rescans += rescan


@pytest.fixture
def daemon(world: World, clock: task.Clock) -> tuple[ApiClient, Any]:
    """A client whose daemon runs an enforcement service (real RouterTasks, SyncPool, a counting sender)."""
    resource, deps = make_api(world, clock)
    pool = SyncPool()
    routers = RouterTasks(cast(Core, SimpleNamespace(db=world.db)), cast(RouterPool, pool), 2.0)
    svc = SimpleNamespace(pool=pool, routers=routers, sender=Sender())
    deps.services["enforcement"] = svc
    return ApiClient(resource, world), svc


# -- disconnect now --------------------------------------------------------------------------------


def test_disconnect_queues_one_action_per_open_session_and_kicks_the_sender(
        daemon: tuple[ApiClient, Any], traffic: Traffic) -> None:
    """POST /disconnect: 202, one pending Disconnect for alice's open session; the sender is kicked."""
    api, svc = daemon
    r = api.post("/disconnect", {"login_id": traffic.alice})
    assert r.code == 202, r.body
    d = r.json()
    assert (d["login_id"], d["username"], d["queued"]) == (traffic.alice, "alice", 1)
    a = d["actions"][0]
    assert (a["kind"], a["state"], a["session_id"], a["nas_id"], a["acct_session_id"], a["cause"]) == \
        ("disconnect", "pending", traffic.open_session, traffic.demo_nas, "a1", "manual")
    assert a["reason"] == "API disconnect" and a["framed_ip"] == "10.0.0.5"
    assert svc.sender.kicks == 1


def test_disconnect_by_username_and_without_open_session(api: ApiClient, traffic: Traffic) -> None:
    """By user name with a reason; bob has no open session: 202 with nothing queued (no service: no kick)."""
    r = api.post("/disconnect", {"username": "alice", "reason": "abuse report 17"})
    assert r.code == 202 and r.json()["actions"][0]["reason"] == "abuse report 17"
    r = api.post("/disconnect", {"login_id": traffic.bob})
    assert r.code == 202 and r.json()["queued"] == 0 and r.json()["actions"] == []


def test_disconnect_retry_with_the_same_key_queues_once(api: ApiClient, world: World, traffic: Traffic) -> None:
    """The same POST twice with one Idempotency-Key: the same answer, one action."""
    before = count(world, actions_table, org_id=world.demo)
    key = {"Idempotency-Key": "cut-alice-1"}
    a = api.post("/disconnect", {"login_id": traffic.alice}, headers=key)
    b = api.post("/disconnect", {"login_id": traffic.alice}, headers=key)
    assert a.code == b.code == 202 and a.body == b.body and b.header("Idempotent-Replayed") == "true"
    assert count(world, actions_table, org_id=world.demo) == before + 1


def test_disconnect_is_audited(api: ApiClient, traffic: Traffic) -> None:
    """The write is in the audit log with its target and the actions queued."""
    api.post("/disconnect", {"login_id": traffic.alice, "reason": "audit me"})
    entry = api.get(f"/audit?target=login {traffic.alice}&limit=1").json()["items"][0]
    assert entry["route"] == "/disconnect" and entry["after"]["actions"][0]["reason"] == "audit me"


def test_disconnect_input_errors_are_422(api: ApiClient, traffic: Traffic) -> None:
    """Neither or both of login_id and username name login_id; bad values and unknown fields are named."""
    for body in ({}, {"login_id": traffic.alice, "username": "alice"}):
        r = api.post("/disconnect", body)
        assert r.code == 422 and r.json()["error"]["field"] == "login_id"
    r = api.post("/disconnect", {"login_id": 0, "username": "", "colour": "red"})
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"login_id", "username",
                                                                                   "colour"}


def test_disconnect_unknown_or_other_orgs_login_is_404(api: ApiClient, world: World, traffic: Traffic) -> None:
    """Another org's login id, an unknown id or user name: 404, and nothing queued."""
    before = count(world, actions_table)
    for body in ({"login_id": traffic.other_alice}, {"login_id": 999_999}, {"username": "nobody"}):
        r = api.post("/disconnect", body)
        assert r.code == 404 and r.json()["error"]["code"] == "not_found"
    assert count(world, actions_table) == before


def test_read_only_token_cannot_disconnect_or_provision(api: ApiClient, world: World, traffic: Traffic) -> None:
    """The viewer token gets 403 on every write of this area, and nothing is queued."""
    ro = api.as_("demo_ro")
    before = count(world, actions_table)
    assert ro.post("/disconnect", {"login_id": traffic.alice}).code == 403
    assert ro.post(f"/nas/{traffic.demo_nas}/provision", {"dry_run": True, **RADIUS}).code == 403
    assert count(world, actions_table) == before
    assert ro.get("/actions").code == 200


# -- the action queue --------------------------------------------------------------------------------


def test_actions_list_filters_and_get(api: ApiClient, traffic: Traffic) -> None:
    """Newest first; state, kind, login and NAS filter; sort=id ascends; GET /actions/{id} is the same row."""
    made = api.post("/disconnect", {"login_id": traffic.alice}).json()["actions"][0]
    items = api.get("/actions?limit=500").json()["items"]
    assert items[0]["id"] == made["id"] and [a["id"] for a in items] == sorted((a["id"] for a in items),
                                                                               reverse=True)
    assert made["id"] in [a["id"] for a in api.get("/actions?state=pending&kind=disconnect").json()["items"]]
    assert api.get("/actions?kind=coa").json()["items"] == []
    assert api.get("/actions?state=failed").json()["items"] == []
    assert {a["login_id"] for a in api.get(f"/actions?login_id={traffic.alice}").json()["items"]} == {traffic.alice}
    assert api.get(f"/actions?login_id={traffic.bob}").json()["items"] == []
    assert api.get(f"/actions?nas_id={traffic.other_nas}").json()["items"] == []
    asc = [a["id"] for a in api.get("/actions?sort=id&limit=500").json()["items"]]
    assert asc == sorted(asc)
    assert api.get(f"/actions/{made['id']}").json() == made


def test_actions_page_with_cursor(api: ApiClient, traffic: Traffic) -> None:
    """limit=1 pages through the actions one by one, each once."""
    api.post("/disconnect", {"login_id": traffic.alice})
    api.post("/disconnect", {"login_id": traffic.alice})
    total = len(api.get("/actions?limit=500").json()["items"])
    seen: list[int] = []
    path = "/actions?limit=1&sort=-created_at"
    while True:
        page = api.get(path).json()
        seen += [a["id"] for a in page["items"]]
        if page["next_cursor"] is None:
            break
        path = f"/actions?limit=1&sort=-created_at&cursor={page['next_cursor']}"
    assert len(seen) == len(set(seen)) == total


def test_actions_bad_filters_are_422(api: ApiClient) -> None:
    """An unknown state, kind and sort, and a zero NAS id: one 422 naming the four."""
    r = api.get("/actions?state=lost&kind=reboot&sort=username&nas_id=0")
    assert r.code == 422
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"state", "kind", "sort", "nas_id"}


def test_other_orgs_action_does_not_exist(api: ApiClient, traffic: Traffic) -> None:
    """Org other's action is 404 for org demo and never in its list; an unknown id is 404."""
    theirs = api.as_("other").post("/disconnect", {"login_id": traffic.other_alice}).json()["actions"][0]
    assert api.as_("other").get(f"/actions/{theirs['id']}").code == 200
    for aid in (theirs["id"], 999_999):
        assert api.get(f"/actions/{aid}").code == 404
    assert theirs["id"] not in [a["id"] for a in api.get("/actions?limit=500").json()["items"]]


def test_page_actions_is_scoped_by_org(world: World, traffic: Traffic) -> None:
    """The domain page function returns only the org's actions, whatever the filter."""
    with world.db.engine.connect() as c:
        mine = actions.page_actions(c, world.demo, login_id=traffic.other_alice, limit=500).items
        theirs = actions.page_actions(c, world.other, limit=500).items
    assert mine == [] and all(a.org_id == world.other for a in theirs)


# -- retrying a failed action ------------------------------------------------------------------------


def failed_action(api: ApiClient, world: World, login_id: int) -> int:
    """A Disconnect queued through the API and recorded as timed out; its id."""
    aid = int(api.post("/disconnect", {"login_id": login_id}).json()["actions"][0]["id"])
    result_of(world.db.write(actions.record, [actions.Outcome(aid, "failed", "timeout", 4,
                                                              "no answer after 4 attempt(s)")], NOW))
    return aid


def finish(world: World, aid: int) -> None:
    """Record the action done (no failed action is left for the other tests' lists)."""
    result_of(world.db.write(actions.record, [actions.Outcome(aid, "done", "ack", 1, "ACK")], NOW))


def test_retry_puts_a_failed_action_back_and_rescans(daemon: tuple[ApiClient, Any], world: World,
                                                     traffic: Traffic) -> None:
    """POST /actions/{id}/retry: 200, the action pending with attempts 0 and the failure in its detail;
    the sender looks at the whole queue; the write is audited with before and after."""
    api, svc = daemon
    aid = failed_action(api, world, traffic.alice)
    r = api.post(f"/actions/{aid}/retry", {})
    assert r.code == 200, r.body
    a = r.json()
    assert (a["id"], a["state"], a["attempts"], a["outcome"], a["done_at"]) == (aid, "pending", 0, None, None)
    assert "no answer after 4 attempt(s)" in a["detail"]
    assert svc.sender.rescans == 1
    entry = api.get(f"/audit?target=action {aid}&limit=1").json()["items"][0]
    assert entry["route"] == "/actions/{action_id}/retry" and entry["before"]["state"] == "failed"
    assert entry["after"]["state"] == "pending"
    finish(world, aid)


def test_retry_of_a_pending_or_done_action_is_422(api: ApiClient, world: World, traffic: Traffic) -> None:
    """An action not failed: 422 naming state, unchanged."""
    aid = int(api.post("/disconnect", {"login_id": traffic.alice}).json()["actions"][0]["id"])
    r = api.post(f"/actions/{aid}/retry", {})
    assert r.code == 422 and r.json()["error"]["field"] == "state"
    finish(world, aid)
    r = api.post(f"/actions/{aid}/retry", {})
    assert r.code == 422 and r.json()["error"]["field"] == "state"
    assert api.get(f"/actions/{aid}").json()["state"] == "done"


def test_retry_of_unknown_or_other_orgs_action_is_404(api: ApiClient, world: World, traffic: Traffic) -> None:
    """Org other's failed action and an unknown id: 404 for org demo; theirs stays failed."""
    theirs = failed_action(api.as_("other"), world, traffic.other_alice)
    for aid in (theirs, 999_999):
        r = api.post(f"/actions/{aid}/retry", {})
        assert r.code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.as_("other").get(f"/actions/{theirs}").json()["state"] == "failed"
    finish(world, theirs)


def test_read_only_token_cannot_retry(api: ApiClient, world: World, traffic: Traffic) -> None:
    """The viewer token gets 403 (network.write) and the action stays failed."""
    aid = failed_action(api, world, traffic.alice)
    assert api.as_("demo_ro").post(f"/actions/{aid}/retry", {}).code == 403
    assert api.get(f"/actions/{aid}").json()["state"] == "failed"
    finish(world, aid)


# -- provisioning ---------------------------------------------------------------------------------------


def test_provision_applies_then_changes_nothing(daemon: tuple[ApiClient, Any], router: int,
                                                fake: FakeRouterOS) -> None:
    """Provisioning configures the router (RADIUS client with the NAS secret, profiles); a second run
    sends no write; the first is in the audit log."""
    api, _ = daemon
    r = api.post(f"/nas/{router}/provision", RADIUS)
    assert r.code == 200, r.body
    first = r.json()
    assert first["compared"] and not first["dry_run"] and first["changed"] > 0 and first["errors"] == []
    assert any(c.startswith("/radius add") and "********" in c for c in first["commands"])
    assert fake.table("/radius")[0]["secret"] == "s3cret" and fake.table("/radius")[0]["address"] == "192.0.2.10"
    assert any(p.get("name") == "aaad-home-10M" for p in fake.table("/ppp/profile"))
    assert first["warnings"]          # no [web] public_url in the test config
    fake.clear_received()
    again = api.post(f"/nas/{router}/provision", RADIUS).json()
    assert (again["changed"], again["commands"]) == (0, []) and fake.writes() == []
    audit = api.get(f"/audit?target=nas {router}").json()["items"]
    assert audit and audit[0]["route"] == "/nas/{nas_id}/provision"


def test_provision_dry_run_sends_nothing(daemon: tuple[ApiClient, Any], router: int, fake: FakeRouterOS) -> None:
    """dry_run reads the router and answers the commands it would send, writing nothing."""
    api, _ = daemon
    r = api.post(f"/nas/{router}/provision", {"dry_run": True, "proxy_port": 8081, **RADIUS})
    assert r.code == 200 and r.json()["dry_run"] and r.json()["changed"] == 0
    assert any("8081" in c for c in r.json()["commands"]) and fake.writes() == []


def test_provision_without_api_credentials(api: ApiClient, bare: int) -> None:
    """No credentials: a dry run lists the full configuration (no service needed); a real run is 409."""
    r = api.post(f"/nas/{bare}/provision", {"dry_run": True, **RADIUS})
    assert r.code == 200 and r.json()["compared"] is False
    assert any(c.startswith("/radius add") for c in r.json()["commands"])
    r = api.post(f"/nas/{bare}/provision", RADIUS)
    assert r.code == 409 and r.json()["error"]["code"] == "no_api_credentials"


def test_provision_without_the_service_is_503(api: ApiClient, router: int) -> None:
    """A NAS with credentials but no enforcement service running: 503."""
    r = api.post(f"/nas/{router}/provision", RADIUS)
    assert r.code == 503 and r.json()["error"]["code"] == "unavailable"


def test_provision_unreachable_router_is_409(daemon: tuple[ApiClient, Any], world: World, traffic: Traffic) -> None:
    """A router nobody answers for: 409 router_error naming the NAS and why (no 5xx: aaad is fine)."""
    api, _ = daemon
    nid = point_at(world, closed_port())
    r = api.post(f"/nas/{nid}/provision", RADIUS)
    err = r.json()["error"]
    assert r.code == 409 and err["code"] == "router_error" and "core-1" in err["message"]
    assert "unreachable" in err["message"]


def test_provision_input_errors_are_422(api: ApiClient, bare: int) -> None:
    """A bad address and port are named together; no address given with a wildcard listener names it."""
    r = api.post(f"/nas/{bare}/provision", {"radius_address": "not-an-ip", "proxy_port": 0})
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"radius_address", "proxy_port"}
    r = api.post(f"/nas/{bare}/provision", {"dry_run": True})
    assert r.code == 422 and r.json()["error"]["field"] == "radius_address"


def test_provision_and_status_of_unknown_or_other_orgs_nas_are_404(api: ApiClient, traffic: Traffic) -> None:
    """Org other's NAS and an unknown id: 404 on provision and on status."""
    for nid in (traffic.other_nas, 999_999):
        assert api.post(f"/nas/{nid}/provision", {"dry_run": True, **RADIUS}).code == 404
        assert api.get(f"/nas/{nid}/status").code == 404
        assert api.get(f"/nas/{nid}/status?live=true").code == 404


# -- router status -----------------------------------------------------------------------------------------


def test_status_live_then_recorded(daemon: tuple[ApiClient, Any], router: int, bare: int) -> None:
    """Never checked: checked false. live=true asks the router and records it; the next plain GET answers
    the recorded check (without uptime, which is not kept)."""
    api, _ = daemon
    r = api.get(f"/nas/{bare}/status").json()
    assert (r["checked"], r["has_api"], r["reachable"], r["checked_at"]) == (False, False, None, None)
    live = api.get(f"/nas/{router}/status?live=true")
    assert live.code == 200, live.body
    s = live.json()
    assert (s["reachable"], s["identity"], s["version"], s["error"]) == (True, "edge-7", "7.16.2 (stable)", None)
    assert s["uptime"] and s["checked_at"] == "2026-11-30T12:00:00Z"
    kept = api.get(f"/nas/{router}/status").json()
    assert (kept["checked"], kept["identity"], kept["uptime"]) == (True, "edge-7", None)


def test_status_live_of_unreachable_router_is_a_status(daemon: tuple[ApiClient, Any], world: World,
                                                       traffic: Traffic) -> None:
    """An unreachable router is 200 with reachable false and the error, recorded."""
    api, _ = daemon
    nid = point_at(world, closed_port())
    s = api.get(f"/nas/{nid}/status?live=true").json()
    assert s["reachable"] is False and "unreachable" in s["error"]
    assert api.get(f"/nas/{nid}/status").json()["reachable"] is False


def test_status_live_needs_credentials_and_the_service(api: ApiClient, world: World, clock: task.Clock,
                                                       router: int, bare: int) -> None:
    """live=true without the enforcement service: 503; on a NAS without credentials: 409; bad live: 422."""
    assert api.get(f"/nas/{router}/status?live=true").code == 503
    resource, deps = make_api(world, clock)
    deps.services["enforcement"] = SimpleNamespace()
    r = ApiClient(resource, world).get(f"/nas/{bare}/status?live=true")
    assert r.code == 409 and r.json()["error"]["code"] == "no_api_credentials"
    r = api.get(f"/nas/{bare}/status?live=perhaps")
    assert r.code == 422 and r.json()["error"]["field"] == "live"
