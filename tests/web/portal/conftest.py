"""The customer portal in process: the API's two seeded orgs (``demo`` and ``other``, one of everything each),
portal passwords for a few customers, and a browser-like client (StubTreq over the real web root) that keeps
its own cookies and fills in CSRF tokens from the pages."""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any, cast

import pytest
import sqlalchemy as sa
from treq.testing import StubTreq
from twisted.internet import defer, task

from billing import customers
from billing.schema import customers as customers_t
from tests.helpers import result_of
from tests.web.api.conftest import NOW, World, make_api, seed_world
from tests.web.conftest import Reply, _StubTreqApi
from web.api.app import Deps

PASSWORD = "correct horse 1"
PNG = b"\x89PNG\r\n\x1a\nfake graph"


class FakeAccounting:
    """The accounting service's graph call: a PNG for every login it is asked about (and which ones)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []
        self.rrd = object()

    def graph(self, org_id: int, login_id: int, *a: Any, **kw: Any) -> defer.Deferred[bytes | None]:
        self.asked.append((org_id, login_id))
        return defer.succeed(PNG)


def customer_id(world: World, org_id: int, email: str) -> int:
    with world.db.engine.connect() as c:
        return int(c.execute(sa.select(customers_t.c.id).where(customers_t.c.org_id == org_id,
                                                               customers_t.c.email == email)).scalar_one())


def set_passwords(world: World) -> None:
    """ama, yaw and kwame (closed) of both orgs get PASSWORD; kofi none."""
    with world.db.engine.begin() as c:
        for org_id in (world.demo, world.other):
            for name in ("ama", "yaw", "kwame", "akosua", "efua"):
                cid = c.execute(sa.select(customers_t.c.id).where(
                    customers_t.c.org_id == org_id, customers_t.c.email == f"{name}@example.com")).scalar_one()
                customers.set_password(c, org_id, cid, PASSWORD, NOW)


@pytest.fixture(scope="package")
def world(tmp_path_factory: Any) -> Iterator[World]:
    w = seed_world(f"sqlite:///{tmp_path_factory.mktemp('portal') / 'portal.db'}")
    set_passwords(w)
    from billing.notify import settings as ns
    with w.db.engine.begin() as c:       # e-mail to files, so reset messages are queued
        ns.set_channel(c, w.box, w.demo, "email", NOW, provider="file",
                       settings={"directory": str(tmp_path_factory.mktemp("outbox")),
                                 "from_address": "billing@demo-isp.example"})
    yield w
    w.db.engine.dispose()


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(NOW.timestamp())
    return c


class Browser:
    """Requests to the web root as one browser: it keeps the cookies it is given (by name, whatever the
    path, so a test can see what a cookie of one org does on another) and sends them all."""

    def __init__(self, resource: Any, secure: bool = False):
        self.treq = cast(_StubTreqApi, StubTreq(resource))
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []
        self.scheme = "https" if secure else "http"

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> Reply:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        kw: dict[str, Any] = {"headers": headers, "allow_redirects": False}
        if data is not None:
            kw["data"] = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        d = self.treq.request(method, f"{self.scheme}://aaad.test" + path, **kw)
        self.treq.flush()
        resp = result_of(d)
        resp._cookiejar.clear()     # treq's own jar: this browser sends only the cookies it chose to
        body = self.treq.content(resp)
        self.treq.flush()
        reply = Reply(resp.code, resp.headers, result_of(body))
        for raw in resp.headers.getRawHeaders("set-cookie") or []:
            self.set_cookies.append(raw)
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return reply

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str]) -> Reply:
        return self.request("POST", path, data)

    def csrf(self, page_path: str) -> str:
        """The CSRF token of the form on a page."""
        r = self.get(page_path)
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        assert m, f"no CSRF field on {page_path}: {r.code}"
        return m.group(1)

    def login(self, org: str, identifier: str, password: str = PASSWORD, next_: str = "") -> Reply:
        if self.get(f"/{org}/portal/login").code == 303:    # signed in already: start again as a stranger
            self.cookies.clear()
        token = self.csrf(f"/{org}/portal/login")
        return self.post(f"/{org}/portal/login", {"csrf": token, "identifier": identifier, "password": password,
                                                  "next": next_})


@pytest.fixture(autouse=True)
def fresh_throttle(world: World) -> None:
    """Every test starts with no failed sign-ins or reset links remembered (all requests here come from one
    address, and the clock starts at the same time in each test)."""
    from web.schema import portal_login_throttle, portal_reset_tokens
    with world.db.engine.begin() as c:
        c.execute(portal_login_throttle.delete())
        c.execute(portal_reset_tokens.delete())


@pytest.fixture
def accounting() -> FakeAccounting:
    return FakeAccounting()


@pytest.fixture
def site(world: World, clock: task.Clock, accounting: FakeAccounting) -> tuple[Any, Deps]:
    """The web root and the Deps its portal is built with (a test may replace ``deps.conf``)."""
    resource, deps = make_api(world, clock)
    deps.services["accounting"] = accounting
    return resource, deps


@pytest.fixture
def root(site: tuple[Any, Deps]) -> Any:
    return site[0]


@pytest.fixture
def deps(site: tuple[Any, Deps]) -> Deps:
    return site[1]


@pytest.fixture
def browser(root: Any) -> Browser:
    return Browser(root)
