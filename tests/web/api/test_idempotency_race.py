"""Idempotency when two requests with one key race: the loser of the claim answers as a retry would."""
from __future__ import annotations

from typing import Any

import pytest

from tests.web.api.conftest import ApiClient, World, count
from web import apistore
from web.schema import idempotency


def test_the_request_losing_the_claim_gets_the_first_answer(api: ApiClient, world: World,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that passed the look-up before the first one claimed the key gets the first answer, not a
    500, and creates nothing."""
    from billing.schema import customers
    key = {"Idempotency-Key": "race-claim-1"}
    first = api.post("/customers", {"name": "Racer One"}, headers=key)
    assert first.code == 201
    real = apistore.lookup
    calls: list[int] = []

    def late_lookup(*args: Any) -> Any:
        calls.append(1)
        return None if len(calls) == 1 else real(*args)      # the first look-up ran before the claim

    monkeypatch.setattr(apistore, "lookup", late_lookup)
    second = api.post("/customers", {"name": "Racer One"}, headers=key)
    assert len(calls) == 2
    assert (second.code, second.json()) == (201, first.json())
    assert second.headers.getRawHeaders("Idempotent-Replayed") == ["true"]
    assert count(world, customers, org_id=world.demo, name="Racer One") == 1
    assert count(world, idempotency, key="race-claim-1") == 1


def test_a_claim_inserted_by_a_racer_after_the_check_is_key_taken(world: World) -> None:
    """claim() turns the unique key's violation (the racer committed between check and insert) into
    KeyTaken, and the caller's transaction stays usable."""
    from datetime import UTC, datetime
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with world.db.engine.begin() as c:
        apistore.claim(c, 1, "racer-key", "h", now, now)
    with world.db.engine.begin() as c:
        real_execute = c.execute
        skipped: list[int] = []

        def execute(stmt: Any, *a: Any, **kw: Any) -> Any:
            result = real_execute(stmt, *a, **kw)
            if getattr(stmt, "is_select", False) and not skipped:
                skipped.append(1)              # the check ran before the racer's insert: it saw nothing
                return real_execute(stmt.where(idempotency.c.id < 0))
            return result

        c.execute = execute
        with pytest.raises(apistore.KeyTaken):
            apistore.claim(c, 1, "racer-key", "h", now, now)
        assert real_execute(idempotency.select().where(idempotency.c.key == "racer-key")).first() is not None


def test_an_org_header_that_is_no_slug_is_refused(api: ApiClient) -> None:
    """X-Aaad-Org must match the slug pattern the document declares, for org and platform tokens alike."""
    for who in ("demo", "platform"):
        r = api.as_(who).get("/customers", headers={"X-Aaad-Org": "Demo ISP"})
        assert r.code == 400 and r.json()["error"]["field"] == "X-Aaad-Org"
    assert api.as_("platform").get("/customers", headers={"X-Aaad-Org": "demo"}).code == 200
