"""The API's machinery, on the customers resource: tokens, scope, validation,
errors, paging, idempotency, rate limits, the audit log, the document."""
from __future__ import annotations

import json
from typing import Any

from twisted.internet import task

from billing.schema import customers
from tests.web.api.conftest import ApiClient, World, count, make_api
from web.schema import idempotency


def test_no_token_bad_token_and_revoked_token_get_401(api: ApiClient, world: World) -> None:
    """Without a token, with an unknown one or a revoked one: 401 JSON with WWW-Authenticate."""
    for who in ("", "aaad_nonsense"):
        r = api.as_(who).get("/customers")
        assert r.code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.required_header("WWW-Authenticate").startswith("Bearer")
    made = api.post("/tokens", {"name": "short-lived"})
    assert made.code == 201
    secret = made.json()["token"]
    assert api.as_(secret).get("/customers").code == 200
    assert api.delete(f"/tokens/{made.json()['id']}").json()["revoked_at"] is not None


def test_revoked_token_stops_after_cache_window(world: World, clock: task.Clock) -> None:
    """A revoked token still in the cache works until token_cache_seconds pass, then gets 401."""
    resource, _ = make_api(world, clock, token_cache_seconds=2.0)
    api = ApiClient(resource, world)
    secret = api.post("/tokens", {"name": "soon revoked"}).json()["token"]
    tid = api.as_(secret).get("/tokens").json()["items"][-1]["id"]
    assert api.as_(secret).get("/customers").code == 200
    api.delete(f"/tokens/{tid}")
    clock.advance(2.5)
    assert api.as_(secret).get("/customers").code == 401


def test_read_only_token_reads_but_every_write_is_403(api: ApiClient) -> None:
    """A read-only token lists customers but cannot add one; nothing is written."""
    ro = api.as_("demo_ro")
    assert ro.get("/customers").code == 200
    r = ro.post("/customers", {"name": "Nope"})
    assert r.code == 403 and r.json()["error"]["code"] == "forbidden"


def test_validation_names_every_bad_field_at_once(api: ApiClient) -> None:
    """Two bad fields and an unknown one: one 422 naming all three, nothing created."""
    r = api.post("/customers", {"name": "", "status": "deleted", "colour": "red"})
    assert r.code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid" and err["field"] == "name"
    assert {e["field"] for e in err["errors"]} == {"name", "status", "colour"}


def test_malformed_json_is_400_naming_the_body(api: ApiClient) -> None:
    """A body that is not JSON gets 400 bad_json, field body."""
    r = api.post("/customers", raw=b"{name: ")
    assert r.code == 400 and r.json()["error"] == {"code": "bad_json", "message": "The body is not valid JSON.",
                                                   "field": "body"}


def test_domain_errors_name_their_field(api: ApiClient) -> None:
    """A duplicate e-mail is the domain's ValidationError: 422 naming email."""
    first = api.get("/customers?limit=1").json()["items"][0]
    r = api.post("/customers", {"name": "Copy", "email": first["email"]})
    assert r.code == 422 and r.json()["error"]["field"] == "email"


def test_unknown_route_and_method_are_json(api: ApiClient) -> None:
    """No such path: 404 JSON; wrong method: 405 JSON with Allow."""
    r = api.get("/nothing-here")
    assert r.code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.request("PUT", "/customers")
    assert r.code == 405 and "GET" in r.required_header("Allow")


def test_bad_query_parameters_are_422(api: ApiClient) -> None:
    """limit out of range and an unknown sort: 422 naming both."""
    r = api.get("/customers?limit=0&sort=colour")
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"limit", "sort"}


def test_cursor_pages_cover_every_customer_once(api: ApiClient, world: World) -> None:
    """Walking next_cursor with limit 2 visits each of the org's customers exactly once, in id order."""
    seen: list[int] = []
    path = "/customers?limit=2"
    while True:
        page = api.get(path).json()
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        path = f"/customers?limit=2&cursor={page['next_cursor']}"
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == count(world, customers, org_id=world.demo)


def test_descending_name_sort_pages_in_order(api: ApiClient) -> None:
    """sort=-name pages through names in descending order; a cursor of another sort is refused."""
    names: list[str] = []
    page = api.get("/customers?limit=3&sort=-name").json()
    names += [c["name"] for c in page["items"]]
    page2 = api.get(f"/customers?limit=3&sort=-name&cursor={page['next_cursor']}").json()
    names += [c["name"] for c in page2["items"]]
    assert names == sorted(names, reverse=True)
    r = api.get(f"/customers?limit=3&sort=id&cursor={page['next_cursor']}")
    assert r.code == 422 and r.json()["error"]["field"] == "cursor"


def test_another_orgs_customer_does_not_exist(api: ApiClient, world: World) -> None:
    """With org demo's token, org other's customer id is 404, and never in a list."""
    theirs = api.as_("other").get("/customers?limit=500").json()["items"]
    mine = api.get("/customers?limit=500").json()["items"]
    assert theirs and not {c["id"] for c in theirs} & {c["id"] for c in mine}
    r = api.get(f"/customers/{theirs[0]['id']}")
    assert r.code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.patch(f"/customers/{theirs[0]['id']}", {"zone": "x"}).code == 404


def test_org_token_naming_another_org_is_403(api: ApiClient) -> None:
    """An org token that sends X-Aaad-Org of another org, known or not, is refused; its own slug is fine."""
    for slug in ("other", "no-such-org"):
        r = api.get("/customers", headers={"X-Aaad-Org": slug})
        assert r.code == 403 and r.json()["error"]["field"] == "X-Aaad-Org"
    assert api.get("/customers", headers={"X-Aaad-Org": "demo"}).code == 200


def test_platform_token_acts_on_the_org_it_names(api: ApiClient, world: World) -> None:
    """A platform token needs X-Aaad-Org; with it, it sees that org's customers; orgs are platform-only."""
    p = api.as_("platform")
    r = p.get("/customers")
    assert r.code == 400 and r.json()["error"]["field"] == "X-Aaad-Org"
    other = p.get("/customers?limit=500", headers={"X-Aaad-Org": "other"}).json()["items"]
    assert other == api.as_("other").get("/customers?limit=500").json()["items"]
    assert p.get("/customers", headers={"X-Aaad-Org": "nope"}).code == 400
    assert {o["slug"] for o in p.get("/orgs").json()["items"]} >= {"demo", "other"}
    assert api.get("/orgs").code == 403


def test_idempotent_retry_returns_first_response_and_creates_once(api: ApiClient, world: World) -> None:
    """The same POST twice with one key: one customer, the same body twice; another body: 409."""
    before = count(world, customers, org_id=world.demo)
    key = {"Idempotency-Key": "create-kwesi-1"}
    body = {"name": "Kwesi Appiah", "email": "kwesi@example.com"}
    a = api.post("/customers", body, headers=key)
    b = api.post("/customers", body, headers=key)
    assert a.code == b.code == 201 and a.body == b.body
    assert b.header("Idempotent-Replayed") == "true"
    assert count(world, customers, org_id=world.demo) == before + 1
    c = api.post("/customers", {**body, "name": "Someone Else"}, headers=key)
    assert c.code == 409 and c.json()["error"]["code"] == "idempotency_mismatch"


def test_idempotency_keys_are_per_token(api: ApiClient, world: World) -> None:
    """The same key from two tokens is two requests."""
    key = {"Idempotency-Key": "shared-key"}
    a = api.post("/customers", {"name": "Per Token A"}, headers=key)
    b = api.as_("other").post("/customers", {"name": "Per Token B"}, headers=key)
    assert a.code == b.code == 201 and a.json()["id"] != b.json()["id"]


def test_failed_validation_is_not_remembered(api: ApiClient, world: World) -> None:
    """A request refused before any change keeps no key: fixing the body and retrying works."""
    key = {"Idempotency-Key": "fix-and-retry"}
    assert api.post("/customers", {"name": ""}, headers=key).code == 422
    assert api.post("/customers", {"name": "Fixed Name"}, headers=key).code == 201
    assert count(world, idempotency, key="fix-and-retry") == 1


def test_rate_limit_answers_429_with_retry_after(world: World, clock: task.Clock) -> None:
    """With rate 1/s and burst 2: the third request at once is 429; a second later it passes."""
    resource, _ = make_api(world, clock, rate=1.0, burst=2)
    api = ApiClient(resource, world)
    assert [api.get("/customers?limit=1").code for _ in range(2)] == [200, 200]
    r = api.get("/customers?limit=1")
    assert r.code == 429 and r.required_header("Retry-After") == "1"
    assert api.as_("other").get("/customers?limit=1").code == 200     # per token
    clock.advance(1.0)
    assert api.get("/customers?limit=1").code == 200


def test_writes_are_audited_with_before_and_after(api: ApiClient) -> None:
    """A PATCH leaves an audit entry naming the token, route, object, before and after."""
    cid = api.post("/customers", {"name": "Audit Me", "zone": "north"}).json()["id"]
    api.patch(f"/customers/{cid}", {"zone": "south"})
    entries = api.get(f"/audit?target=customer {cid}").json()["items"]
    assert entries[0]["route"] == "/customers/{customer_id}" and entries[0]["method"] == "PATCH"
    assert entries[0]["token_name"] == "demo admin"
    assert entries[0]["before"]["zone"] == "north" and entries[0]["after"]["zone"] == "south"
    assert api.as_("other").get(f"/audit?target=customer {cid}").json()["items"] == []


def test_unexpected_failure_is_500_with_an_id_and_no_trace(world: World, clock: task.Clock,
                                                            monkeypatch: Any) -> None:
    """A handler that blows up: 500 with an id, no traceback or exception text in the body."""
    from billing import customers as domain
    resource, _ = make_api(world, clock)
    api = ApiClient(resource, world)

    def boom(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("secret internals")
    monkeypatch.setattr(domain, "page", boom)
    r = api.get("/customers")
    assert r.code == 500
    err = r.json()["error"]
    assert err["code"] == "internal" and err["id"] and err["id"] in err["message"]
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_metrics_count_requests_by_route_and_status(world: World, clock: task.Clock) -> None:
    """Each request lands in aaad_api_request_seconds under its route template and status."""
    from aaad.metrics import Stats
    stats = Stats()
    resource, _ = make_api(world, clock, stats=stats)
    api = ApiClient(resource, world)
    api.get("/customers")
    api.get("/customers/999999")
    h = stats.histograms["aaad_api_request_seconds"].series
    assert ("/customers", "GET", "200") in h and ("/customers/{customer_id}", "GET", "404") in h


def test_openapi_document_is_3_1_and_lists_every_route(api: ApiClient) -> None:
    """/openapi.json: OpenAPI 3.1 with each declared route, its models and error schema; /docs renders it."""
    r = api.as_("").get("/openapi.json")
    doc = r.json()
    assert r.code == 200 and doc["openapi"] == "3.1.0"
    assert r.header("Content-Type") == "application/json" and r.header("X-Content-Type-Options") == "nosniff"
    again = api.as_("").get("/openapi.json")          # encoded once, served again as it was
    assert again.code == 200 and again.json() == doc and again.header("Content-Type") == "application/json"
    op = doc["paths"]["/customers"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("CustomerIn")
    assert set(op["responses"]) >= {"201", "401", "403", "409", "422"}
    assert "CustomerOut" in doc["components"]["schemas"] and "Error" in doc["components"]["schemas"]
    page = api.as_("").get("/docs")
    assert page.code == 200 and "<code>/customers/{customer_id}</code>" in page.text
    assert "http://" not in page.text and "https://" not in page.text        # nothing from elsewhere
    json.dumps(doc)


def test_nul_and_lone_surrogates_are_422_naming_the_field(api: ApiClient) -> None:
    """Text PostgreSQL or UTF-8 cannot store is refused up front, in the body and in the query."""
    r = api.post("/customers", raw=b'{"name": "A\\u0000B", "custom_fields": {"k": ["x\\u0000"]}}')
    assert r.code == 422 and {e["field"] for e in r.json()["error"]["errors"]} == {"name", "custom_fields"}
    r = api.post("/customers", raw=b'{"name": "A", "zone": "\\ud800"}')      # the JSON parser refuses it
    assert r.code == 400 and r.json()["error"]["field"] == "body"
    r = api.get("/customers?q=a%00b")
    assert r.code == 422 and r.json()["error"]["field"] == "q"


def test_api_paths_answer_the_same_through_the_roots_own_routing(world: World, clock: task.Clock) -> None:
    """The web root hands /api/v1/... straight to the API's routes (one routing pass); taking the
    root's /api/v1/ branch instead (the path without that shortcut) answers every kind of path the
    same: the index, a listing, a detail, a missing one, an unknown route, a wrong method, an
    encoded slash and newline, the bare prefix with and without its slash.  (A newline in the path:
    the root's branch does not match it and says "Nothing is at this address", the API's route
    says "No such customer"; both are the same 404 not_found.)"""
    from web.root import Utf8Paths
    resource, _ = make_api(world, clock)
    assert isinstance(resource, Utf8Paths) and resource.api is not None
    direct = ApiClient(resource, world)
    via_branch = ApiClient(Utf8Paths(resource.root), world)
    cases = [("GET", ""), ("GET", "/"), ("GET", "/customers?limit=2"), ("GET", "/customers/1"),
             ("GET", "/customers/999999"), ("GET", "/nothing-here"), ("PUT", "/customers"),
             ("GET", "/customers%2F1"), ("GET", "/customers/%0A"), ("GET", "//customers"),
             ("GET", "/customers/1/"), ("DELETE", "/customers/1/close")]
    for method, path in cases:
        a, b = direct.request(method, path), via_branch.request(method, path)
        if "%0A" in path:
            assert a.code == b.code == 404 and a.json()["error"]["code"] == b.json()["error"]["code"] == "not_found"
        else:
            assert (a.code, a.body) == (b.code, b.body), (method, path)
        assert a.headers.getRawHeaders("Content-Type") == b.headers.getRawHeaders("Content-Type"), path
