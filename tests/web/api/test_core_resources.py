"""The core's resources over the API: NAS clients, profiles, logins, the auth log, job runs and events.

Each route's happy path and its errors: 422 naming the fields, 404 for an
unknown id and for the other org's, 403 for the read-only token on writes;
secrets never leave.  The shared world has a NAS only in org ``other`` and no
auth log, job runs or dead deliveries: :func:`core` adds them to both orgs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from aaad import events, jobs, nas
from aaad.schema import auth_log, event_failures
from aaad.view import store
from tests.web.api.conftest import NOW, ApiClient, World


@dataclass
class Core:
    nas: dict[str, int]            # org -> a NAS id
    job_runs: dict[str, int]       # org ("platform": org 0) -> a run id
    dead_events: dict[str, int]    # org -> an event id dead for "enforcement"


@pytest.fixture(scope="module")
def core(world: World) -> Core:
    """Both orgs get a NAS, auth log rows, job runs and a dead delivery; the platform a job run."""
    out = Core({}, {}, {})
    with world.db.engine.begin() as c:
        for slug, org_id, i in (("demo", world.demo, 1), ("other", world.other, 2)):
            found = nas.list_all(c, world.box, org_id)
            out.nas[slug] = found[0].id if found else nas.add(
                c, world.box, org_id, "tower", f"10.{i}.0.0/24", f"secret-{slug}", NOW, api_username="api",
                api_password=f"routeros-{slug}").id
            for k, (user, result) in enumerate((("ann", "accept"), ("bob", "reject"), ("ann", "reject"))):
                c.execute(auth_log.insert().values(
                    org_id=org_id, nas_id=out.nas[slug], username=f"{user}-{slug}", method="pap", result=result,
                    reason="bad password" if result == "reject" else None, calling_station="AA-BB",
                    latency_us=90, created_at=NOW - timedelta(minutes=10 - k)))
            jobs.claim(c, "billing", org_id, "2026-11", NOW)
            jobs.finish(c, "billing", org_id, "2026-11", NOW, error=f"failed for {slug}")
            jobs.claim(c, "dunning", org_id, "2026-11-30", NOW)
            out.job_runs[slug] = jobs.page_runs(c, org_id, job="billing").items[0].id
            ev = events.page(c, org_id, types=["login.created"]).items[0]
            c.execute(event_failures.insert().values(subscriber="enforcement", event_id=ev.id, org_id=org_id,
                                                     state="dead", attempts=8, last_error="router down",
                                                     updated_at=NOW))
            out.dead_events[slug] = ev.id
        jobs.claim(c, "prune", 0, "2026-11-30", NOW)
        out.job_runs["platform"] = jobs.page_runs(c, 0).items[0].id
    return out


def errors_of(r: Any) -> set[str]:
    assert r.code == 422, r.text
    return {e["field"] for e in r.json()["error"]["errors"]}


def ids(r: Any) -> list[int]:
    assert r.code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


def all_items(api: ApiClient, path: str) -> list[dict[str, Any]]:
    sep = "&" if "?" in path else "?"
    items: list[dict[str, Any]] = []
    url = f"{path}{sep}limit=2"
    while True:
        r = api.get(url)
        assert r.code == 200, r.text
        items += r.json()["items"]
        if r.json()["next_cursor"] is None:
            return items
        url = f"{path}{sep}limit=2&cursor={r.json()['next_cursor']}"


# -- NAS -------------------------------------------------------------------------------------

def test_nas_list_shows_the_orgs_nas_without_secrets(api: ApiClient, core: Core) -> None:
    """GET /nas: demo's NAS, has_secret/has_api_password and no secret anywhere; never other's."""
    r = api.get("/nas")
    assert ids(r) == [core.nas["demo"]]
    item = r.json()["items"][0]
    assert item["has_secret"] is True and item["has_api_password"] is True and item["api_username"] == "api"
    assert "secret-demo" not in r.text and "routeros-demo" not in r.text
    assert "secret" not in item and "api_password" not in item
    assert core.nas["other"] not in ids(api.get("/nas?limit=500"))


def test_nas_get_and_404s(api: ApiClient, core: Core) -> None:
    """GET /nas/{id}: the org's NAS; another org's id and an unknown one are 404; a platform token sees the
    org it names."""
    r = api.get(f"/nas/{core.nas['demo']}")
    assert r.code == 200 and r.json()["name"] == "tower" and r.json()["address"] == "10.1.0.0/24"
    for nid in (core.nas["other"], 999999):
        assert api.get(f"/nas/{nid}").code == 404
        assert api.patch(f"/nas/{nid}", {"coa_port": 1700}).code == 404
        assert api.delete(f"/nas/{nid}").code == 404
    assert api.as_("other").get(f"/nas/{core.nas['other']}").json()["coa_port"] == 3799
    platform = api.as_("platform").get(f"/nas/{core.nas['other']}", headers={"X-Aaad-Org": "other"})
    assert platform.code == 200 and platform.json()["id"] == core.nas["other"]


def test_nas_create_update_delete(api: ApiClient, world: World, core: Core) -> None:
    """POST, PATCH (rename, new secret, API password cleared with null) and DELETE; the audit entry keeps no
    secret."""
    r = api.post("/nas", {"name": "hotspot", "address": "192.0.2.7", "secret": "s3cret-new", "type": "other",
                          "coa_port": 1700, "api_password": "pw-new", "api_host": "192.0.2.8", "api_port": 8729,
                          "api_tls": True})
    assert r.code == 201, r.text
    n = r.json()
    assert (n["type"], n["coa_port"], n["has_api_password"], n["api_tls"]) == ("other", 1700, True, True)
    assert "s3cret-new" not in r.text and "pw-new" not in r.text
    r = api.patch(f"/nas/{n['id']}", {"name": "hotspot-2", "secret": "rotated", "api_password": None,
                                      "api_port": None})
    assert r.code == 200, r.text
    assert (r.json()["name"], r.json()["has_api_password"], r.json()["api_port"]) == ("hotspot-2", False, None)
    with world.db.engine.connect() as c:
        stored = nas.get(c, world.box, world.demo, n["id"])
    assert stored is not None and stored.secret == b"rotated" and stored.api_password is None
    audit = api.get(f"/audit?target=nas {n['id']}").json()["items"]
    assert audit and all("rotated" not in str(a) and "s3cret" not in str(a) for a in audit)
    r = api.delete(f"/nas/{n['id']}")
    assert r.code == 200 and r.json() == {"id": n["id"], "deleted": True}
    assert api.get(f"/nas/{n['id']}").code == 404


def test_nas_validation_names_fields(api: ApiClient, core: Core) -> None:
    """Bad input: every model field named at once; the domain's address checks name address."""
    assert errors_of(api.post("/nas", {"name": "", "address": "10.0.0.1", "coa_port": 0, "colour": 1})) == {
        "name", "secret", "coa_port", "colour"}
    assert errors_of(api.post("/nas", {"name": "x", "address": "not-an-ip", "secret": "s"})) == {"address"}
    assert errors_of(api.post("/nas", {"name": "x", "address": "10.1.0.0/24", "secret": "s"})) == {"address"}
    assert errors_of(api.post("/nas", {"name": "tower", "address": "10.77.0.1", "secret": "s"})) == {"name"}
    assert errors_of(api.patch(f"/nas/{core.nas['demo']}", {"type": "cisco", "name": "a\x00b"})) == {"type", "name"}
    assert api.get("/nas/not-a-number").code == 404


def test_nas_filters_and_sort(api: ApiClient, core: Core) -> None:
    """type and q filter the list; sort=-name pages in order; a bad sort is 422."""
    for name, addr in (("alpha", "198.51.100.1"), ("beta", "198.51.100.2")):
        assert api.post("/nas", {"name": name, "address": addr, "secret": "s", "type": "other"}).code == 201
    names = [x["name"] for x in all_items(api, "/nas?sort=-name")]
    assert names == sorted(names, reverse=True) and {"alpha", "beta", "tower"} <= set(names)
    assert {x["name"] for x in api.get("/nas?type=other").json()["items"]} >= {"alpha", "beta"}
    assert [x["name"] for x in api.get("/nas?q=100.2").json()["items"]] == ["beta"]
    assert errors_of(api.get("/nas?sort=colour&type=cisco")) == {"sort", "type"}


def test_nas_writes_are_403_for_the_read_only_token(api: ApiClient, core: Core) -> None:
    """The read-only token lists NAS but may not add, change or remove one."""
    ro = api.as_("demo_ro")
    assert ro.get("/nas").code == 200
    assert ro.post("/nas", {"name": "x", "address": "10.99.0.1", "secret": "s"}).code == 403
    assert ro.patch(f"/nas/{core.nas['demo']}", {"coa_port": 1}).code == 403
    assert ro.delete(f"/nas/{core.nas['demo']}").code == 403
    assert api.get(f"/nas/{core.nas['demo']}").json()["coa_port"] == 3799


# -- profiles --------------------------------------------------------------------------------

def test_profile_create_get_update_with_fup_tiers(api: ApiClient) -> None:
    """A profile with tiers (returned by threshold) and free hours; PATCH replaces tiers, null clears a field."""
    r = api.post("/profiles", {"name": "fiber-100", "rate_limit": "100M/100M", "session_timeout": 86400,
                               "fup_tiers": [{"after": 200_000_000_000, "rate_limit": "1M/1M"},
                                             {"after": 100_000_000_000, "rate_limit": "5M/5M"}],
                               "free_hours": "00:00-06:00"})
    assert r.code == 201, r.text
    p = r.json()
    assert [t["after"] for t in p["fup_tiers"]] == [100_000_000_000, 200_000_000_000]
    assert p["free_hours"] == "00:00-06:00" and p["block_when_exhausted"] is False
    assert api.get(f"/profiles/{p['id']}").json() == p
    r = api.patch(f"/profiles/{p['id']}", {"rate_limit": None, "fup_tiers": [{"after": 5, "rate_limit": "1k/1k"}],
                                           "block_when_exhausted": None, "free_hours": None})
    assert r.code == 200, r.text
    q = r.json()
    assert q["rate_limit"] is None and q["fup_tiers"] == [{"after": 5, "rate_limit": "1k/1k"}]
    assert q["free_hours"] is None and q["session_timeout"] == 86400 and q["block_when_exhausted"] is False
    assert api.patch(f"/profiles/{p['id']}", {}).json() == q


def test_profile_validation_names_fields(api: ApiClient) -> None:
    """Model errors named at once; the domain's tier, free-hours and duplicate-name checks name theirs."""
    assert errors_of(api.post("/profiles", {"name": "", "session_timeout": 0,
                                            "fup_tiers": [{"after": 0, "rate_limit": "1M/1M"}]})) == {
        "name", "session_timeout", "fup_tiers.0.after"}
    two = [{"after": 10, "rate_limit": "1M/1M"}, {"after": 10, "rate_limit": "2M/2M"}]
    assert errors_of(api.post("/profiles", {"name": "dup-tiers", "fup_tiers": two})) == {"fup_tiers"}
    assert errors_of(api.post("/profiles", {"name": "fh", "free_hours": "25:00-26:00"})) == {"free_hours"}
    name = api.get("/profiles").json()["items"][0]["name"]
    assert errors_of(api.post("/profiles", {"name": name})) == {"name"}


def test_profile_delete_refuses_a_used_profile(api: ApiClient, world: World) -> None:
    """DELETE of a profile logins use is 422 naming profile; an unused one goes."""
    with world.db.engine.connect() as c:
        used = {lg.profile_id for lg in store.list_logins(c, world.box, world.demo) if lg.profile_id}
    pid = sorted(used)[0]
    r = api.delete(f"/profiles/{pid}")
    assert r.code == 422 and r.json()["error"]["field"] == "profile"
    new = api.post("/profiles", {"name": "to-remove"}).json()["id"]
    assert api.delete(f"/profiles/{new}").json() == {"id": new, "deleted": True}
    assert api.get(f"/profiles/{new}").code == 404


def test_profiles_of_another_org_do_not_exist(api: ApiClient) -> None:
    """Other's profile ids: never listed, 404 on get, patch and delete; ro token: 403 on writes."""
    theirs = ids(api.as_("other").get("/profiles?limit=500"))
    mine = ids(api.get("/profiles?limit=500"))
    assert theirs and not set(theirs) & set(mine)
    for pid in (theirs[0], 999999):
        assert api.get(f"/profiles/{pid}").code == 404
        assert api.patch(f"/profiles/{pid}", {"pool": "x"}).code == 404
        assert api.delete(f"/profiles/{pid}").code == 404
    ro = api.as_("demo_ro")
    assert ro.get(f"/profiles/{mine[0]}").code == 200
    assert ro.post("/profiles", {"name": "ro"}).code == 403
    assert ro.patch(f"/profiles/{mine[0]}", {"pool": "x"}).code == 403
    assert ro.delete(f"/profiles/{mine[0]}").code == 403


def test_profile_list_filters_and_sorts(api: ApiClient) -> None:
    """q matches part of the name; sort=-name pages in descending order."""
    names = [p["name"] for p in all_items(api, "/profiles?sort=-name")]
    assert len(names) >= 3 and names == sorted(names, reverse=True)
    part = names[0][1:4]
    assert all(part.lower() in p["name"].lower() for p in api.get(f"/profiles?q={part}").json()["items"])


# -- logins ----------------------------------------------------------------------------------

def test_login_create_and_get_without_password(api: ApiClient, world: World) -> None:
    """POST /logins: 201 with the login, no password in it; the password is stored; the view's event is
    published."""
    pid = ids(api.get("/profiles"))[0]
    r = api.post("/logins", {"username": "api-user-1", "password": "pa55-word", "profile_id": pid,
                             "framed_ip": "10.5.0.9", "data_cap": 10**9, "expires_at": "2027-01-01T00:00:00+01:00",
                             "suspend_mode": "walled_garden"})
    assert r.code == 201, r.text
    lg = r.json()
    assert "pa55-word" not in r.text and "password" not in lg
    assert (lg["profile_id"], lg["framed_ip"], lg["state"], lg["owner_type"]) == (pid, "10.5.0.9", "active", None)
    assert lg["expires_at"] == "2026-12-31T23:00:00Z"
    assert api.get(f"/logins/{lg['id']}").json() == lg
    with world.db.engine.connect() as c:
        stored = store.get_login(c, world.box, world.demo, lg["id"])
    assert stored is not None and stored.password == b"pa55-word"
    created = api.get("/events?type=login.created&limit=1").json()["items"][0]
    assert created["payload"]["username"] == "api-user-1"


def test_login_validation_names_fields(api: ApiClient) -> None:
    """Model errors named at once; duplicate user name, bad IP and another org's profile name their field."""
    assert errors_of(api.post("/logins", {"username": "", "password": "", "simultaneous_use": 0,
                                          "expires_at": "2027-01-01T00:00:00", "state": "expired"})) == {
        "username", "password", "simultaneous_use", "expires_at", "state"}
    taken = api.get("/logins").json()["items"][0]["username"]
    assert errors_of(api.post("/logins", {"username": taken, "password": "x"})) == {"username"}
    assert errors_of(api.post("/logins", {"username": "ip-bad", "password": "x", "framed_ip": "300.1.1.1"})) == {
        "framed_ip"}
    theirs = ids(api.as_("other").get("/profiles"))[0]
    assert errors_of(api.post("/logins", {"username": "their-profile", "password": "x", "profile_id": theirs})) == {
        "profile_id"}


def test_login_update_overrides_name_and_password(api: ApiClient, world: World) -> None:
    """PATCH changes overrides (null clears), renames and sets the password in one go."""
    lid = api.post("/logins", {"username": "patch-me", "password": "old", "rate_limit": "2M/2M"}).json()["id"]
    r = api.patch(f"/logins/{lid}", {"username": "patched", "password": "new-pass", "rate_limit": None,
                                     "simultaneous_use": 2})
    assert r.code == 200, r.text
    assert (r.json()["username"], r.json()["rate_limit"], r.json()["simultaneous_use"]) == ("patched", None, 2)
    with world.db.engine.connect() as c:
        stored = store.get_login(c, world.box, world.demo, lid)
    assert stored is not None and stored.password == b"new-pass"
    assert api.patch(f"/logins/{lid}", {}).json() == r.json()
    assert errors_of(api.patch(f"/logins/{lid}", {"data_cap": -1, "force": "maybe"})) == {"data_cap", "force"}


def test_owned_login_needs_force(api: ApiClient) -> None:
    """A login billing owns: PATCH, state and DELETE without force are 422 naming owner; with force they work."""
    owned = [x for x in all_items(api, "/logins") if x["owner_type"] == "service"]
    assert owned and all(x["owner_type"] == "service" for x in api.get("/logins?owner_type=service").json()["items"])
    lid = owned[0]["id"]
    for r in (api.patch(f"/logins/{lid}", {"simultaneous_use": 3}),
              api.post(f"/logins/{lid}/state", {"state": "disabled"}), api.delete(f"/logins/{lid}")):
        assert r.code == 422 and r.json()["error"]["field"] == "owner", r.text
    r = api.patch(f"/logins/{lid}", {"simultaneous_use": 3, "force": True})
    assert r.code == 200 and r.json()["simultaneous_use"] == 3
    r = api.post(f"/logins/{lid}/state", {"state": "disabled", "force": True})
    assert r.code == 200 and r.json()["state"] == "disabled"
    assert api.delete(f"/logins/{lid}?force=true").json() == {"id": lid, "deleted": True}
    assert api.get(f"/logins/{lid}").code == 404


def test_login_state_actions(api: ApiClient) -> None:
    """POST /logins/{id}/state suspends into the walled garden, disables and enables; login.state_changed
    carries the reason."""
    lid = api.post("/logins", {"username": "state-me", "password": "x"}).json()["id"]
    r = api.post(f"/logins/{lid}/state", {"state": "suspended", "suspend_mode": "walled_garden",
                                          "reason": "unpaid"})
    assert r.code == 200 and (r.json()["state"], r.json()["suspend_mode"]) == ("suspended", "walled_garden")
    ev = api.get("/events?type=login.state_changed&limit=1").json()["items"][0]["payload"]
    assert (ev["username"], ev["old"], ev["new"], ev["reason"]) == ("state-me", "active", "suspended", "unpaid")
    assert api.post(f"/logins/{lid}/state", {"state": "disabled"}).json()["state"] == "disabled"
    assert api.post(f"/logins/{lid}/state", {"state": "active"}).json()["state"] == "active"
    assert errors_of(api.post(f"/logins/{lid}/state", {"state": "exhausted", "suspend_mode": "x"})) == {
        "state", "suspend_mode"}


def test_login_delete(api: ApiClient) -> None:
    """DELETE removes the login; it is gone from get and list."""
    lid = api.post("/logins", {"username": "delete-me", "password": "x"}).json()["id"]
    assert api.delete(f"/logins/{lid}").json() == {"id": lid, "deleted": True}
    assert api.get(f"/logins/{lid}").code == 404
    assert api.get("/logins?q=delete-me").json()["items"] == []


def test_logins_list_filters(api: ApiClient) -> None:
    """state, profile_id and q filter the list; sort=-username pages in order; no password in any item."""
    everything = all_items(api, "/logins?sort=-username")
    names = [x["username"] for x in everything]
    assert names == sorted(names, reverse=True) and all("password" not in x for x in everything)
    some = next(x for x in everything if x["profile_id"])
    assert {x["profile_id"] for x in api.get(f"/logins?profile_id={some['profile_id']}").json()["items"]} == {
        some["profile_id"]}
    assert {x["state"] for x in api.get("/logins?state=active&limit=500").json()["items"]} == {"active"}
    assert [x["username"] for x in api.get(f"/logins?q={some['username']}").json()["items"]] == [some["username"]]
    assert errors_of(api.get("/logins?state=gone&profile_id=0")) == {"state", "profile_id"}


def test_logins_of_another_org_do_not_exist(api: ApiClient) -> None:
    """Other's login ids: never listed, 404 on every route; ro token: 403 on every write."""
    theirs = ids(api.as_("other").get("/logins?limit=500"))
    mine = ids(api.get("/logins?limit=500"))
    assert theirs and not set(theirs) & set(mine)
    for lid in (theirs[0], 999999):
        assert api.get(f"/logins/{lid}").code == 404
        assert api.patch(f"/logins/{lid}", {"simultaneous_use": 1, "force": True}).code == 404
        assert api.post(f"/logins/{lid}/state", {"state": "disabled", "force": True}).code == 404
        assert api.delete(f"/logins/{lid}?force=true").code == 404
    ro = api.as_("demo_ro")
    assert ro.post("/logins", {"username": "ro", "password": "x"}).code == 403
    assert ro.patch(f"/logins/{mine[0]}", {"simultaneous_use": 1}).code == 403
    assert ro.post(f"/logins/{mine[0]}/state", {"state": "disabled"}).code == 403
    assert ro.delete(f"/logins/{mine[0]}").code == 403
    assert api.as_("other").get(f"/logins/{theirs[0]}").code == 200


# -- auth log --------------------------------------------------------------------------------

def test_auth_log_newest_first_and_filtered(api: ApiClient, core: Core) -> None:
    """GET /auth-log: demo's rows only, newest first, filtered by user, result, NAS and time; pages by cursor."""
    rows = all_items(api, "/auth-log")
    assert [(x["username"], x["result"]) for x in rows] == [("ann-demo", "reject"), ("bob-demo", "reject"),
                                                            ("ann-demo", "accept")]
    assert rows[0]["created_at"].endswith("Z") and rows[0]["nas_id"] == core.nas["demo"]
    assert [x["result"] for x in api.get("/auth-log?username=ann-demo").json()["items"]] == ["reject", "accept"]
    assert [x["username"] for x in api.get("/auth-log?result=accept").json()["items"]] == ["ann-demo"]
    assert api.get(f"/auth-log?nas_id={core.nas['other']}").json()["items"] == []
    since = (NOW - timedelta(minutes=9)).isoformat().replace("+00:00", "Z")
    until = (NOW - timedelta(minutes=8)).isoformat().replace("+00:00", "Z")
    assert [x["username"] for x in api.get(f"/auth-log?since={since}&until={until}").json()["items"]] == [
        "bob-demo"]
    assert [x["username"] for x in all_items(api, "/auth-log?sort=id")][0] == "ann-demo"


def test_auth_log_bad_filters_are_422(api: ApiClient) -> None:
    """An unknown result, a time without offset and a bad NAS id are named at once; the ro token may read."""
    assert errors_of(api.get("/auth-log?result=maybe&since=2026-11-30T00:00:00&nas_id=0")) == {
        "result", "since", "nas_id"}
    assert api.as_("demo_ro").get("/auth-log").code == 200


# -- job runs --------------------------------------------------------------------------------

def test_job_runs_are_the_orgs_only(api: ApiClient, core: Core) -> None:
    """GET /job-runs: demo's runs newest first, filtered by job and status; other's and the platform's
    runs are 404 and never listed."""
    runs = api.get("/job-runs").json()["items"]
    assert [r["job"] for r in runs] == ["dunning", "billing"]
    assert core.job_runs["other"] not in [r["id"] for r in runs]
    failed = api.get("/job-runs?status=failed").json()["items"]
    assert [(r["job"], r["error"]) for r in failed] == [("billing", "failed for demo")]
    assert [r["job"] for r in api.get("/job-runs?job=dunning").json()["items"]] == ["dunning"]
    r = api.get(f"/job-runs/{core.job_runs['demo']}")
    assert r.code == 200 and (r.json()["period"], r.json()["status"]) == ("2026-11", "failed")
    for rid in (core.job_runs["other"], core.job_runs["platform"], 999999):
        assert api.get(f"/job-runs/{rid}").code == 404
    assert errors_of(api.get("/job-runs?status=paused&sort=job")) == {"status", "sort"}


# -- events ----------------------------------------------------------------------------------

def test_events_list_get_and_isolation(api: ApiClient, core: Core) -> None:
    """GET /events: newest first, by type, with payloads; other's event is 404 and never listed."""
    page = api.get("/events?limit=5").json()
    got = [e["id"] for e in page["items"]]
    assert got == sorted(got, reverse=True) and page["next_cursor"]
    typed = api.get("/events?type=invoice.issued&limit=3").json()["items"]
    assert typed and all(e["type"] == "invoice.issued" and "invoice_id" in e["payload"] for e in typed)
    e = api.get(f"/events/{got[0]}")
    assert e.code == 200 and e.json()["id"] == got[0]
    assert api.get(f"/events/{core.dead_events['other']}").code == 404
    assert api.get("/events/999999999").code == 404
    assert core.dead_events["other"] not in [x["id"] for x in api.get("/events?type=login.created&limit=500")
                                             .json()["items"]]
    assert api.get(f"/events?since={NOW.isoformat().replace('+00:00', 'Z')}&type=login.created").code == 200
    assert errors_of(api.get("/events?since=yesterday&sort=type")) == {"since", "sort"}


def test_dead_events_listed_and_retried_in_the_org(api: ApiClient, world: World, core: Core) -> None:
    """GET /events/dead: demo's dead delivery; POST retry re-queues it (once); other's is 404 and stays dead;
    the ro token gets 403."""
    dead = api.get("/events/dead").json()["items"]
    assert [(d["event_id"], d["subscriber"], d["last_error"], d["type"]) for d in dead] == [
        (core.dead_events["demo"], "enforcement", "router down", "login.created")]
    assert api.as_("demo_ro").post(f"/events/{core.dead_events['demo']}/retry").code == 403
    assert api.post(f"/events/{core.dead_events['other']}/retry").code == 404
    r = api.post(f"/events/{core.dead_events['demo']}/retry", {"subscriber": "notify"})
    assert r.code == 422 and r.json()["error"]["field"] == "subscriber"
    r = api.post(f"/events/{core.dead_events['demo']}/retry")
    assert r.code == 200 and r.json() == {"event_id": core.dead_events["demo"], "subscribers": ["enforcement"]}
    assert api.get("/events/dead").json()["items"] == []
    r = api.post(f"/events/{core.dead_events['demo']}/retry")
    assert r.code == 422 and r.json()["error"]["field"] == "event_id"
    with world.db.engine.connect() as c:
        states = dict(c.execute(sa.select(event_failures.c.org_id, event_failures.c.state)).all())
    assert states == {world.demo: "retry", world.other: "dead"}
    assert len(api.as_("other").get("/events/dead").json()["items"]) == 1


# -- the document ----------------------------------------------------------------------------

def test_every_core_path_parameter_has_its_list_route(api: ApiClient) -> None:
    """The document has each core route; each core {x_id} pairs with a list route /xs (the isolation
    sweep's rule); operationIds are unique."""
    doc = api.as_("").get("/openapi.json").json()
    paths = doc["paths"]
    core = [p for p in paths if p.split("/")[1] in ("nas", "profiles", "logins", "auth-log", "job-runs", "events")]
    for p in ("/nas", "/nas/{nas_id}", "/profiles/{profile_id}", "/logins/{login_id}/state", "/auth-log",
              "/job-runs/{job_run_id}", "/events/dead", "/events/{event_id}/retry"):
        assert p in core, p
    for p in core:
        for param in (seg[1:-1] for seg in p.split("/") if seg.startswith("{")):
            listing = "/" + param[:-3].replace("_", "-") + ("" if param == "nas_id" else "s")
            assert "get" in paths[listing] and paths[listing]["get"]["responses"]["200"], param
    op_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids))


def test_core_models_have_plain_component_names(api: ApiClient) -> None:
    """Each core model is one component under its own name (no module-qualified duplicate)."""
    schemas = api.as_("").get("/openapi.json").json()["components"]["schemas"]
    for name in ("NasOut", "NasIn", "ProfileOut", "FupTierIn", "LoginOut", "LoginStateIn", "AuthLogOut",
                 "JobRunOut", "EventOut", "DeadDeliveryOut", "EventRetryIn"):
        assert name in schemas, name
    assert not [n for n in schemas if "__" in n]
