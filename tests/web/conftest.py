"""Fixtures for the web root: a migrated SQLite database with two orgs, and
an in-memory HTTP client (treq's StubTreq) over the root resource."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, cast

import pytest
from treq.testing import StubTreq
from twisted.internet import defer, task
from twisted.web.resource import IResource

from aaad import orgs
from aaad.db import sync_engine
from aaad.health import HealthCheck
from aaad.metrics import Stats
from aaad.web import CoreWeb
from tests.dbtemplate import migrated
from tests.helpers import SyncDB, result_of
from web.root import build_root

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STARTED = 1_000_000.0


@dataclass
class Reply:
    code: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    def required_header(self, name: str) -> str:
        """The header's first value; fails the test if there is none."""
        value = self.header(name)
        assert value is not None, f"no {name} header"
        return value

    def json(self) -> Any:
        return json.loads(self.body)


class _StubTreqApi(Protocol):
    """The part of StubTreq used here: treq's functions are set on it at
    run time, so its type does not show them."""

    def request(self, method: str, url: str, **kwargs: Any) -> defer.Deferred[Any]: ...

    def content(self, response: Any) -> defer.Deferred[bytes]: ...

    def flush(self) -> None: ...


class Client:
    """Requests against a resource, answered synchronously in memory."""

    def __init__(self, resource: IResource):
        self.treq = cast(_StubTreqApi, StubTreq(resource))

    def request(self, method: str, path: str) -> Reply:
        d = self.treq.request(method, "http://aaad.test" + path, allow_redirects=False)
        self.treq.flush()
        resp = result_of(d)
        body = self.treq.content(resp)
        self.treq.flush()
        return Reply(resp.code, resp.headers, result_of(body))

    def get(self, path: str) -> Reply:
        return self.request("GET", path)


class FakeView:
    """What CoreWeb's /healthz reads from the AAA view."""
    nas: ClassVar[dict[Any, Any]] = {}
    last_change = 0

    def __len__(self) -> int:
        return 0


@pytest.fixture(scope="module")
def db(tmp_path_factory: Any) -> Iterator[SyncDB]:
    """A migrated SQLite database with orgs isp-a ("Alpha <Net>") and isp-b ("Bravo Wireless")."""
    e = sync_engine(migrated(f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"))
    with e.begin() as c:
        orgs.add(c, "isp-a", "Alpha <Net>", T0)
        orgs.add(c, "isp-b", "Bravo Wireless", T0)
    yield SyncDB(e)
    e.dispose()


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(STARTED)
    return c


RootFactory = Callable[..., Client]


class FakeHealth:
    """Everything healthy (aaad.health is tested on its own, tests/test_health.py)."""

    def check(self) -> defer.Deferred[tuple[list[Any], dict[str, Any]]]:
        return defer.succeed(([], {}))


@pytest.fixture
def make_client(db: SyncDB, clock: task.Clock) -> RootFactory:
    """Build the root as aaad/app.py does, optionally with another reader."""
    def make(read: Callable[..., Any] | None = None) -> Client:
        # FakeHealth has the one method CoreWeb calls
        core = CoreWeb(db, Stats(), FakeView(), STARTED, cast(HealthCheck, FakeHealth()))
        return Client(build_root(core, read or db.read, clock, STARTED))
    return make


@pytest.fixture
def client(make_client: RootFactory) -> Client:
    return make_client()
