"""The admin API's services and their actions, in process on the seeded world: each action is the
domain's, and its login follows."""
from __future__ import annotations

import itertools
from typing import Any

from aaad.view import store
from tests.web.api.conftest import ApiClient, World

_n = itertools.count(1)


def _product_id(api: ApiClient, name: str) -> int:
    found = [p["id"] for p in api.get(f"/products?q={name.replace(' ', '%20')}").json()["items"]
             if p["name"] == name]
    assert found, name
    return found[0]


def _customer(api: ApiClient) -> dict[str, Any]:
    r = api.post("/customers", {"name": f"Service Tester {next(_n)}"})
    assert r.code == 201
    return r.json()


def _service(api: ApiClient, product: str = "Home 10M", **body: Any) -> dict[str, Any]:
    c = _customer(api)
    r = api.post("/services", {"customer_id": c["id"], "product_id": _product_id(api, product), **body})
    assert r.code == 201, r.json()
    return r.json()


def _login(world: World, org_id: int, login_id: int | None) -> Any:
    if login_id is None:
        return None
    with world.db.engine.connect() as c:
        return store.get_login(c, world.box, org_id, login_id)


def _fields(r: Any) -> set[str]:
    return {e["field"] for e in r.json()["error"]["errors"]}


def test_list_services_filters_by_state_customer_and_product(api: ApiClient) -> None:
    """GET /services: state, customer_id and product_id filter; every item matches."""
    suspended = api.get("/services?state=suspended").json()["items"]
    assert suspended and all(s["state"] == "suspended" for s in suspended)
    pending = api.get("/services?state=pending").json()["items"]
    assert pending and all(s["state"] == "pending" for s in pending)
    one = suspended[0]
    assert [s["id"] for s in api.get(f"/services?customer_id={one['customer_id']}").json()["items"]] == [one["id"]]
    by_product = api.get(f"/services?product_id={one['product_id']}&limit=500").json()["items"]
    assert one["id"] in {s["id"] for s in by_product} and all(s["product_id"] == one["product_id"]
                                                             for s in by_product)
    assert api.get(f"/services?username={one['username']}").json()["items"] == [one]


def test_list_services_pages_in_order_and_rejects_bad_filters(api: ApiClient) -> None:
    """sort=-id pages newest first through a cursor; an unknown state and sort are 422 naming both."""
    first = api.get("/services?sort=-id&limit=3").json()
    second = api.get(f"/services?sort=-id&limit=3&cursor={first['next_cursor']}").json()
    ids = [s["id"] for s in first["items"] + second["items"]]
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)
    r = api.get("/services?state=paused&sort=price")
    assert r.code == 422 and _fields(r) == {"state", "sort"}


def test_get_service_and_404s(api: ApiClient) -> None:
    """GET /services/{id}: demo's service; unknown ids, non-ids and the other org's service are 404."""
    mine = api.get("/services?limit=1").json()["items"][0]
    assert api.get(f"/services/{mine['id']}").json() == mine
    theirs = api.as_("other").get("/services?limit=500").json()["items"]
    assert theirs and not {s["id"] for s in theirs} & {s["id"] for s in api.get("/services?limit=500")
                                                        .json()["items"]}
    for sid in (theirs[0]["id"], 999_999, "abc", 0):
        r = api.get(f"/services/{sid}")
        assert r.code == 404 and r.json()["error"]["code"] == "not_found"


def test_create_pending_service_returns_the_generated_password_once(api: ApiClient, world: World) -> None:
    """POST /services without start: pending, its login disabled with the password shown in the response
    (and only there); GET does not show it."""
    s = _service(api)
    assert (s["state"], s["start_date"], s["username"]) == ("pending", None, s["username"])
    assert s["password"] and s["login_id"]
    lg = _login(world, world.demo, s["login_id"])
    assert (lg.state, lg.password.decode(), lg.owner_type, lg.owner_id) == ("disabled", s["password"], "service",
                                                                            s["id"])
    assert "password" not in api.get(f"/services/{s['id']}").json()
    audit = api.get("/audit?target=service").json()["items"][0]
    assert audit["after"]["id"] == s["id"] and "password" not in audit["after"]


def test_create_with_chosen_credentials_and_start_is_active_and_invoiced(api: ApiClient, world: World) -> None:
    """POST /services with start, username and password: active at once, login active under that name,
    no password echoed, the first invoice owed."""
    s = _service(api, start="2026-11-30", username=f"chosen-{next(_n)}", password="s3cret-pw")
    assert (s["state"], s["start_date"], s["password"]) == ("active", "2026-11-30", None)
    lg = _login(world, world.demo, s["login_id"])
    assert (lg.username, lg.state, lg.password) == (s["username"], "active", b"s3cret-pw")
    assert api.get(f"/customers/{s['customer_id']}/balance").json()["balance"] > 0


def test_create_service_bad_references_are_422_naming_the_field(api: ApiClient) -> None:
    """An unknown customer, the other org's product, a retired product, a login name taken: 422 each
    naming the body field; missing fields all named at once."""
    c = _customer(api)
    home = _product_id(api, "Home 10M")
    r = api.post("/services", {"customer_id": 999_999, "product_id": home})
    assert r.code == 422 and r.json()["error"]["field"] == "customer_id"
    theirs = _product_id(api.as_("other"), "Home 10M")
    r = api.post("/services", {"customer_id": c["id"], "product_id": theirs})
    assert r.code == 422 and r.json()["error"]["field"] == "product_id"
    old = api.post("/products", {"name": "Retired net", "type": "internet", "price": 1}).json()
    api.post(f"/products/{old['id']}/retire")
    r = api.post("/services", {"customer_id": c["id"], "product_id": old["id"]})
    assert r.code == 422 and r.json()["error"]["field"] == "product_id"
    r = api.post("/services", {"customer_id": c["id"], "product_id": home, "username": "ama"})
    assert r.code == 422 and r.json()["error"]["field"] == "username"
    r = api.post("/services", {"start": "tomorrow"})
    assert r.code == 422 and _fields(r) == {"customer_id", "product_id", "start"}
    assert api.get(f"/services?customer_id={c['id']}").json()["items"] == []


def test_approve_activates_the_service_and_its_login(api: ApiClient, world: World) -> None:
    """POST /services/{id}/approve with the actual start: active from it, login active; again with an
    earlier start: 422 naming start; without a start: 422."""
    s = _service(api)
    r = api.post(f"/services/{s['id']}/approve", {"start": "2026-11-28"})
    a = r.json()
    assert r.code == 200 and (a["state"], a["start_date"]) == ("active", "2026-11-28")
    assert _login(world, world.demo, s["login_id"]).state == "active"
    r = api.post(f"/services/{s['id']}/approve", {"start": "2026-11-01"})
    assert r.code == 422 and r.json()["error"]["field"] == "start"
    r = api.post(f"/services/{s['id']}/approve", {})
    assert r.code == 422 and r.json()["error"]["field"] == "start"


def test_suspend_then_resume_moves_the_service_its_login_and_customer(api: ApiClient, world: World) -> None:
    """suspend: service suspended, its login suspended in the org's walled-garden mode with the reason,
    the customer suspended; resume: all active again."""
    s = _service(api, start="2026-11-30")
    r = api.post(f"/services/{s['id']}/suspend", {"reason": "unpaid invoice"})
    assert r.code == 200 and r.json()["state"] == "suspended"
    assert api.get(f"/services/{s['id']}").json()["state"] == "suspended"
    lg = _login(world, world.demo, s["login_id"])
    assert (lg.state, lg.suspend_mode) == ("suspended", "walled_garden")
    assert api.get(f"/customers/{s['customer_id']}").json()["status"] == "suspended"
    r = api.post(f"/services/{s['id']}/resume", {})
    assert r.code == 200 and r.json()["state"] == "active"
    assert _login(world, world.demo, s["login_id"]).state == "active"
    assert api.get(f"/customers/{s['customer_id']}").json()["status"] == "active"
    whats = [e["what"] for e in api.get(f"/services/{s['id']}/history").json()["items"]]
    assert whats[-2:] == ["suspended", "resumed"]
    reasons = [e["reason"] for e in api.get(f"/services/{s['id']}/history").json()["items"]]
    assert "unpaid invoice" in reasons


def test_illegal_moves_are_422_naming_state(api: ApiClient) -> None:
    """Suspending a pending service, resuming an active one, rejecting an active one: 422 field state."""
    pending = _service(api)
    active = _service(api, start="2026-11-30")
    for sid, action, body in ((pending["id"], "suspend", {"reason": "x"}), (active["id"], "resume", {}),
                              (active["id"], "reject", {})):
        r = api.post(f"/services/{sid}/{action}", body)
        assert r.code == 422 and r.json()["error"]["field"] == "state", (action, r.json())
    r = api.post(f"/services/{active['id']}/suspend", {})
    assert r.code == 422 and r.json()["error"]["field"] == "reason"


def test_change_plan_moves_the_login_to_the_new_profile(api: ApiClient, world: World) -> None:
    """change-plan to Home 50M: the service's product and its login's profile change; to a product of
    another type or unknown: 422 naming product_id; a date before the start: 422 naming on."""
    s = _service(api, start="2026-11-30")
    big = api.get(f"/products/{_product_id(api, 'Home 50M')}").json()
    r = api.post(f"/services/{s['id']}/change-plan", {"product_id": big["id"]})
    assert r.code == 200 and r.json()["product_id"] == big["id"]
    assert _login(world, world.demo, s["login_id"]).profile_id == big["profile_id"]
    for pid in (_product_id(api, "Static IP"), 999_999):
        r = api.post(f"/services/{s['id']}/change-plan", {"product_id": pid})
        assert r.code == 422 and r.json()["error"]["field"] == "product_id"
    r = api.post(f"/services/{s['id']}/change-plan", {"product_id": _product_id(api, "Home 10M"),
                                                      "on": "2026-01-01"})
    assert r.code == 422 and r.json()["error"]["field"] == "on"


def test_cancel_at_once_removes_the_login(api: ApiClient, world: World) -> None:
    """cancel: cancelled, ending the day before ``on``, its login removed; cancelling again is 422."""
    s = _service(api, start="2026-11-30")
    r = api.post(f"/services/{s['id']}/cancel", {"on": "2026-12-01", "reason": "moving away"})
    c = r.json()
    assert r.code == 200 and (c["state"], c["end_date"]) == ("cancelled", "2026-11-30")
    assert _login(world, world.demo, s["login_id"]) is None
    r = api.post(f"/services/{s['id']}/cancel", {})
    assert r.code == 422 and r.json()["error"]["field"] == "state"


def test_cancel_at_period_end_is_scheduled(api: ApiClient, world: World) -> None:
    """cancel with at_period_end: still active with cancel_at set, login untouched; with a date too: 422."""
    s = _service(api, start="2026-11-30")
    r = api.post(f"/services/{s['id']}/cancel", {"at_period_end": True, "on": "2026-12-05"})
    assert r.code == 422 and r.json()["error"]["field"] == "on"
    r = api.post(f"/services/{s['id']}/cancel", {"at_period_end": True})
    c = r.json()
    assert r.code == 200 and c["state"] == "active" and c["cancel_at"] is not None
    assert _login(world, world.demo, s["login_id"]).state == "active"


def test_reject_pending_service_removes_its_login(api: ApiClient, world: World) -> None:
    """reject: pending -> rejected, its login removed."""
    s = _service(api)
    r = api.post(f"/services/{s['id']}/reject", {"reason": "no coverage"})
    assert r.code == 200 and r.json()["state"] == "rejected"
    assert _login(world, world.demo, s["login_id"]) is None


def test_actions_on_unknown_or_other_orgs_service_are_404(api: ApiClient) -> None:
    """Every action and the history of the other org's service (and of an unknown id) is 404; it is
    not changed."""
    theirs = api.as_("other").get("/services?state=active").json()["items"][0]
    bodies = {"approve": {"start": "2026-12-01"}, "reject": {}, "suspend": {"reason": "x"}, "resume": {},
              "change-plan": {"product_id": theirs["product_id"]}, "cancel": {}}
    for sid in (theirs["id"], 999_999):
        for action, body in bodies.items():
            r = api.post(f"/services/{sid}/{action}", body)
            assert r.code == 404, (action, r.json())
        assert api.get(f"/services/{sid}/history").code == 404
    assert api.as_("other").get(f"/services/{theirs['id']}").json() == theirs


def test_read_only_token_gets_403_on_every_service_write(api: ApiClient) -> None:
    """The read-only token reads services but creating one and every action are 403; nothing changes."""
    ro = api.as_("demo_ro")
    s = api.get("/services?state=active").json()["items"][0]
    assert ro.get(f"/services/{s['id']}").code == 200
    assert ro.post("/services", {"customer_id": s["customer_id"], "product_id": s["product_id"]}).code == 403
    for action, body in (("approve", {"start": "2026-12-01"}), ("reject", {}), ("suspend", {"reason": "x"}),
                         ("resume", {}), ("change-plan", {"product_id": s["product_id"]}), ("cancel", {})):
        assert ro.post(f"/services/{s['id']}/{action}", body).code == 403
    assert api.get(f"/services/{s['id']}").json() == s


def test_suspend_retried_with_the_same_key_suspends_once(api: ApiClient) -> None:
    """A suspend retried with its Idempotency-Key answers the first response (not a 422 for a service
    already suspended) and logs one suspension."""
    s = _service(api, start="2026-11-30")
    key = {"Idempotency-Key": f"suspend-{s['id']}"}
    a = api.post(f"/services/{s['id']}/suspend", {"reason": "retry me"}, headers=key)
    b = api.post(f"/services/{s['id']}/suspend", {"reason": "retry me"}, headers=key)
    assert a.code == b.code == 200 and a.body == b.body and b.header("Idempotent-Replayed") == "true"
    whats = [e["what"] for e in api.get(f"/services/{s['id']}/history").json()["items"]]
    assert whats.count("suspended") == 1


def test_service_writes_are_audited(api: ApiClient) -> None:
    """A suspension leaves an audit entry with the service's state before and after."""
    s = _service(api, start="2026-11-30")
    api.post(f"/services/{s['id']}/suspend", {"reason": "audit"})
    entry = api.get(f"/audit?target=service {s['id']}").json()["items"][0]
    assert entry["route"] == "/services/{service_id}/suspend"
    assert entry["before"]["state"] == "active" and entry["after"]["state"] == "suspended"


def test_dates_outside_the_calendar_window_are_422(api: ApiClient) -> None:
    """A start, plan-change or cancellation date before 2000 or after 2999 is refused naming the field
    (billing's period arithmetic would leave the calendar near year 9999)."""
    c = _customer(api)
    r = api.post("/services", {"customer_id": c["id"], "product_id": _product_id(api, "Home 10M"),
                               "start": "9999-12-31"})
    assert r.code == 422 and r.json()["error"]["field"] == "start"
    pending = _service(api)
    assert api.post(f"/services/{pending['id']}/approve", {"start": "9999-12-31"}).json()["error"]["field"] \
        == "start"
    assert api.post(f"/services/{pending['id']}/approve", {"start": "1999-12-31"}).code == 422
    active = _service(api, start="2026-11-30")
    r = api.post(f"/services/{active['id']}/cancel", {"on": "3000-01-01"})
    assert r.code == 422 and r.json()["error"]["field"] == "on"
    r = api.post(f"/services/{active['id']}/change-plan", {"product_id": _product_id(api, "Home 50M"),
                                                           "on": "3000-01-01"})
    assert r.code == 422 and r.json()["error"]["field"] == "on"
    assert api.get(f"/services/{active['id']}").json()["state"] == "active"
