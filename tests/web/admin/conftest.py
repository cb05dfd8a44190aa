"""The admin console in process: the API's two seeded orgs (``demo`` and ``other``) with console accounts
of every role, an owner with two-factor login on (its secret kept for computing codes), and a browser-like
client (the portal tests' StubTreq browser) that keeps cookies and reads CSRF tokens from the pages."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import pytest
from twisted.internet import task

from tests.web.api.conftest import NOW, World, make_api, seed_world
from tests.web.portal.conftest import Browser
from web.admin import accounts
from web.api.app import Deps

PW = "console password"
#: The accounts every test may use: key -> (org, e-mail, role); "totp" has two-factor login on.
PEOPLE = {
    "owner": ("demo", "owner@demo.example", "owner"),
    "totp": ("demo", "totp@demo.example", "owner"),
    "admin": ("demo", "admin@demo.example", "admin"),
    "cashier": ("demo", "cashier@demo.example", "cashier"),
    "support": ("demo", "support@demo.example", "support"),
    "other": ("other", "owner@other.example", "owner"),
}


@dataclass
class Console:
    world: World
    ids: dict[str, int]
    secret: str                     # the TOTP secret of "totp"
    codes: list[str]                # its recovery codes

    def code(self, when: datetime) -> str:
        return pyotp.TOTP(self.secret).at(when)


@pytest.fixture(scope="package")
def world(tmp_path_factory: Any) -> Iterator[World]:
    w = seed_world(f"sqlite:///{tmp_path_factory.mktemp('admin') / 'admin.db'}")
    yield w
    w.db.engine.dispose()


def seat_people(world: World) -> Console:
    """PEOPLE's accounts in ``world``; "totp" enrolled a few minutes before the tests' clock starts, so codes
    of NOW are unused."""
    ids: dict[str, int] = {}
    with world.db.engine.begin() as c:
        for key, (org, email, role) in PEOPLE.items():
            ids[key] = accounts.add(c, world.demo if org == "demo" else world.other, email, key.title(), role, PW,
                                    NOW).id
        secret, _ = accounts.begin_totp(c, world.box, world.demo, ids["totp"])
        codes = accounts.confirm_totp(c, world.box, world.demo, ids["totp"],
                                      pyotp.TOTP(secret).at(NOW.timestamp() - 600), datetime.fromtimestamp(
                                          NOW.timestamp() - 600, NOW.tzinfo))
    return Console(world, ids, secret, codes)


@pytest.fixture(scope="package")
def people(world: World) -> Console:
    return seat_people(world)


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(NOW.timestamp())
    return c


@pytest.fixture(autouse=True)
def fresh_throttle(world: World) -> None:
    """No failed sign-ins remembered between tests (all requests come from one address)."""
    from web.schema import portal_login_throttle
    with world.db.engine.begin() as c:
        c.execute(portal_login_throttle.delete())


@pytest.fixture
def site(world: World, people: Console, clock: task.Clock) -> tuple[Any, Deps]:
    return make_api(world, clock)


class Admin(Browser):
    """A browser on the console."""

    def form_csrf(self, path: str) -> str:
        r = self.get(path)
        m = re.search(r'name="csrf" value="([^"]+)"', r.text)
        assert m, f"no CSRF field on {path}: {r.code} {r.text[:300]}"
        return m.group(1)

    def sign_in(self, email: str, password: str = PW) -> Any:
        token = self.form_csrf("/admin/login")
        return self.post("/admin/login", {"csrf": token, "email": email, "password": password})

    def send_code(self, code: str) -> Any:
        token = self.form_csrf("/admin/login/code")
        return self.post("/admin/login/code", {"csrf": token, "code": code})


@pytest.fixture
def browser(site: tuple[Any, Deps]) -> Admin:
    return Admin(site[0])


@pytest.fixture
def as_(site: tuple[Any, Deps]) -> Any:
    """A signed-in browser as one of PEOPLE (not the TOTP one)."""
    def make(key: str) -> Admin:
        b = Admin(site[0])
        r = b.sign_in(PEOPLE[key][1])
        assert r.code == 303, r.text
        return b
    return make


@pytest.fixture
def console_as(as_: Any) -> Any:
    """The same as ``as_``: ``console_as("cashier")`` is a browser signed in as the demo cashier."""
    return as_
