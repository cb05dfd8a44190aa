"""The admin API in process: a database with two full orgs, tokens of each
kind, and a JSON client (treq's StubTreq over the real web root).

Org ``other`` is the demo seeded once and renamed, then ``demo`` is seeded
again: both orgs hold one of everything, under different ids, which is what
the tenant-isolation sweep needs.  The real daemon over real HTTP is in
tests/e2e/test_api_e2e.py.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from treq.testing import StubTreq
from twisted.internet import task

from aaad import app, orgs
from aaad.crypto import SecretBox
from aaad.db import sync_engine
from aaad.health import HealthCheck
from aaad.metrics import Stats
from aaad.schema import orgs as orgs_table
from aaad.view.write import LoginWriter
from aaad.web import CoreWeb
from tests.dbtemplate import copy_of, migrated
from tests.helpers import SyncDB, result_of
from tests.web.conftest import STARTED, FakeHealth, FakeView, Reply, _StubTreqApi
from web import tokens
from web.api.app import Deps
from web.root import build_root

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BOX_KEY = b"k" * 32           # the world's secret box (fixed: a seeded template is copied)


@dataclass
class World:
    """The seeded database and who can call."""
    db: SyncDB
    box: SecretBox
    demo: int                      # org ids
    other: int
    tokens: dict[str, str]         # demo, demo_ro, demo_admin/cashier/support, other, platform -> secret


def seed_world(url: str) -> World:
    """A fresh SQLite database at ``url`` holding the world: the first call in the process seeds a
    template (3 s: the demo and the billing demo twice), later ones copy it and get the same ids and
    token secrets."""
    assert url.startswith("sqlite:///"), url

    def build(template_url: str) -> tuple[int, int, dict[str, str]]:
        w = _seed_world(template_url)
        w.db.engine.dispose()
        return w.demo, w.other, w.tokens
    demo, other, secrets = copy_of("world", build, Path(make_url(url).database or ""))
    return World(SyncDB(sync_engine(url)), SecretBox(BOX_KEY), demo, other, dict(secrets))


def _seed_world(url: str) -> World:
    from aaad.demo import seed
    from billing.demo import seed as seed_billing
    e = sync_engine(migrated(url))
    box = SecretBox(BOX_KEY)
    for _ in seed(e, box, NOW):
        pass
    for _ in seed_billing(e, box, NOW):
        pass
    with e.begin() as c:
        c.execute(orgs_table.update().where(orgs_table.c.slug == "demo").values(slug="other", name="Other Net"))
    for _ in seed(e, box, NOW):
        pass
    for _ in seed_billing(e, box, NOW):
        pass
    with e.begin() as c:
        demo = orgs.get_by_slug(c, "demo")
        other = orgs.get_by_slug(c, "other")
        assert demo and other
        secrets = {
            "demo": tokens.create(c, demo.id, "demo admin", NOW).secret,
            "demo_ro": tokens.create(c, demo.id, "demo viewer", NOW, read_only=True).secret,
            "demo_admin": tokens.create(c, demo.id, "demo admin role", NOW, role="admin").secret,
            "demo_cashier": tokens.create(c, demo.id, "demo cashier", NOW, role="cashier").secret,
            "demo_support": tokens.create(c, demo.id, "demo support", NOW, role="support").secret,
            "other": tokens.create(c, other.id, "other admin", NOW).secret,
            "platform": tokens.create(c, None, "platform", NOW).secret,
        }
    return World(SyncDB(e), box, demo.id, other.id, secrets)


@pytest.fixture(scope="module")
def world(tmp_path_factory: Any) -> Iterator[World]:
    w = seed_world(f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}")
    yield w
    w.db.engine.dispose()


class ApiClient:
    """JSON requests to /api/v1 with a token, answered synchronously in memory."""

    def __init__(self, resource: Any, world: World, token: str = "demo"):
        self.treq = cast(_StubTreqApi, StubTreq(resource))
        self.world = world
        self.token = token

    def as_(self, token: str) -> ApiClient:
        c = ApiClient.__new__(ApiClient)
        c.treq, c.world, c.token = self.treq, self.world, token
        return c

    def request(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> Reply:
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.world.tokens.get(self.token, self.token)
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        d = self.treq.request(method, "http://aaad.test/api/v1" + path, headers=h, data=data,
                              allow_redirects=False)
        self.treq.flush()
        resp = result_of(d)
        content = self.treq.content(resp)
        self.treq.flush()
        return Reply(resp.code, resp.headers, result_of(content))

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)


def make_api(world: World, clock: task.Clock, stats: Stats | None = None, portal_read: Any = None,
             **api_conf: Any) -> tuple[Any, Deps]:
    """The web root with the API on ``world``; ``api_conf`` overrides [api] keys; ``portal_read``: the
    portal's reader (default ``world.db.read``, as everything else)."""
    conf = app.load_config(None, environ={}).replace("api", **{"rate": 0.0, **api_conf})
    stats = stats or Stats()
    core = SimpleNamespace(db=world.db, clock=clock, box=world.box, login_writer=LoginWriter(world.box),
                           stats=stats, conf=conf)
    deps = Deps(core, conf, {})
    web_core = CoreWeb(world.db, stats, FakeView(), STARTED, cast(HealthCheck, FakeHealth()))
    return build_root(web_core, world.db.read, clock, STARTED, deps, portal_read=portal_read), deps


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(NOW.timestamp())
    return c


@pytest.fixture
def api(world: World, clock: task.Clock) -> ApiClient:
    """A client with the demo org's read-write token (``.as_('other')`` etc. for the others)."""
    resource, _ = make_api(world, clock)
    return ApiClient(resource, world)


def count(world: World, table: sa.Table, **where: Any) -> int:
    """Rows of ``table`` matching ``where``."""
    with world.db.engine.connect() as c:
        q = sa.select(sa.func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return int(c.execute(q).scalar_one())
