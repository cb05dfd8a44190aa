"""/sessions: accounting sessions through the API, filtered, paged and scoped to the org."""
from __future__ import annotations

from datetime import timedelta

import pytest

from accounting import store
from tests.web.api.conftest import NOW, ApiClient, World
from tests.web.api.traffic import START, Traffic, seed_traffic


@pytest.fixture(scope="module")
def traffic(world: World) -> Traffic:
    return seed_traffic(world)


def ids(api: ApiClient, query: str = "") -> list[int]:
    r = api.get("/sessions" + query)
    assert r.code == 200, r.body
    return [s["id"] for s in r.json()["items"]]


def test_list_shows_the_orgs_sessions_newest_start_first(api: ApiClient, traffic: Traffic) -> None:
    """Org demo sees its two sessions (alice's newer start first), never org other's."""
    assert ids(api) == [traffic.open_session, traffic.closed_session]
    assert ids(api.as_("other")) == [traffic.other_session]


def test_a_session_has_its_counters_and_state(api: ApiClient, traffic: Traffic) -> None:
    """GET /sessions/{id}: the login, NAS, Acct-Session-Id, octets and open flag; times in UTC."""
    s = api.get(f"/sessions/{traffic.open_session}").json()
    assert (s["login_id"], s["username"], s["nas_id"], s["acct_session_id"]) == \
        (traffic.alice, "alice", traffic.demo_nas, "a1")
    assert s["open"] is True and s["stop_time"] is None
    assert (s["input_octets"], s["output_octets"], s["session_time"]) == (3_000_000, 40_000_000, 3600)
    assert s["start_time"] == "2026-11-30T10:00:00Z" and s["framed_ip"] == "10.0.0.5"
    closed = api.get(f"/sessions/{traffic.closed_session}").json()
    assert closed["open"] is False and closed["terminate_cause"] == 1
    assert "session_key" not in s and "class_attr" not in s


def test_filters_open_login_username_and_nas(api: ApiClient, traffic: Traffic) -> None:
    """open=true/false, login_id, username and nas_id each narrow the list."""
    assert ids(api, "?open=true") == [traffic.open_session]
    assert ids(api, "?open=false") == [traffic.closed_session]
    assert ids(api, f"?login_id={traffic.bob}") == [traffic.closed_session]
    assert ids(api, "?username=alice") == [traffic.open_session]
    assert ids(api, f"?nas_id={traffic.demo_nas}") == [traffic.open_session, traffic.closed_session]
    assert ids(api, f"?nas_id={traffic.other_nas}") == []
    assert ids(api, "?username=nobody") == []


def test_since_and_until_keep_sessions_running_in_the_window(api: ApiClient, traffic: Traffic) -> None:
    """since keeps sessions open or stopped after it; until keeps those started before it."""
    after_bob = (START - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert ids(api, f"?since={after_bob}") == [traffic.open_session]
    before_alice = (START - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    assert ids(api, f"?until={before_alice}") == [traffic.closed_session]
    assert ids(api, "?since=2026-11-30T09:00:00%2B01:00&until=2026-11-30T12:00:00Z") == \
        [traffic.open_session, traffic.closed_session]


def test_sort_and_cursor_page_through_every_session_once(api: ApiClient, traffic: Traffic) -> None:
    """limit=1 with sort=id pages through both sessions in id order; the cursor is refused for another sort."""
    first = api.get("/sessions?limit=1&sort=id").json()
    assert first["next_cursor"]
    second = api.get(f"/sessions?limit=1&sort=id&cursor={first['next_cursor']}").json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == sorted([traffic.open_session,
                                                                          traffic.closed_session])
    assert second["next_cursor"] is None
    r = api.get(f"/sessions?limit=1&sort=-last_update&cursor={first['next_cursor']}")
    assert r.code == 422 and r.json()["error"]["field"] == "cursor"


def test_bad_filters_are_422_naming_each_field(api: ApiClient, traffic: Traffic) -> None:
    """A non-boolean open, a zero login id, a naive time and an unknown sort: one 422 naming all four."""
    r = api.get("/sessions?open=maybe&login_id=0&since=2026-11-30T10:00:00&sort=username")
    assert r.code == 422
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"open", "login_id", "since", "sort"}


def test_until_before_since_and_out_of_range_times_are_422(api: ApiClient, traffic: Traffic) -> None:
    """until not after since names until; a year-1 time (it cannot be stored) names since."""
    r = api.get("/sessions?since=2026-11-30T10:00:00Z&until=2026-11-30T09:00:00Z")
    assert r.code == 422 and r.json()["error"]["field"] == "until"
    r = api.get("/sessions?since=0001-01-01T00:00:00%2B01:00")
    assert r.code == 422 and r.json()["error"]["field"] == "since"


def test_unknown_and_other_orgs_session_are_404(api: ApiClient, traffic: Traffic) -> None:
    """An id that does not exist, and org other's session id, are both 404 for org demo."""
    for sid in (traffic.other_session, 999_999):
        r = api.get(f"/sessions/{sid}")
        assert r.code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.as_("other").get(f"/sessions/{traffic.other_session}").code == 200


def test_read_only_token_reads_sessions(api: ApiClient, traffic: Traffic) -> None:
    """Sessions are read-only resources: the viewer token lists them."""
    assert ids(api.as_("demo_ro")) == [traffic.open_session, traffic.closed_session]


def test_page_sessions_is_scoped_by_org(world: World, traffic: Traffic) -> None:
    """The domain page function never returns another org's rows, whatever the filters."""
    with world.db.engine.connect() as c:
        p = store.page_sessions(c, world.demo, username="alice", limit=500)
        assert [s.id for s in p.items] == [traffic.open_session]
        assert store.get_session(c, world.demo, traffic.other_session) is None
        assert store.page_sessions(c, world.other, since=NOW).items[0].id == traffic.other_session
