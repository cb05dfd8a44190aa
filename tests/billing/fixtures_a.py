"""Builders for part (a)'s tests: an org with billing settings, a LoginWriter,
customers, products and services, each in its own transaction."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from aaad import orgs
from aaad.crypto import SecretBox
from aaad.schema import events as events_t
from aaad.view import store
from aaad.view.model import Login
from aaad.view.write import LoginWriter
from billing import catalogue, customers, services, settings

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
D0 = date(2026, 11, 1)


@dataclass
class World:
    """An org (country GH, time zone Africa/Accra, currency GHS) and its writer."""
    engine: Any
    org_id: int
    writer: LoginWriter
    box: SecretBox

    def tx(self, fn: Any, *a: Any, **kw: Any) -> Any:
        with self.engine.begin() as c:
            return fn(c, *a, **kw)

    def read(self, fn: Any, *a: Any, **kw: Any) -> Any:
        with self.engine.connect() as c:
            return fn(c, *a, **kw)

    def customer(self, name: str = "John Doe", seed: int = 1, **kw: Any) -> customers.Customer:
        return self.tx(customers.add, self.org_id, T0, name=name, rng=random.Random(seed), **kw)

    def product(self, name: str = "Home 10M", type: str = "internet", price: int = 25_00,
                **kw: Any) -> catalogue.Product:
        if type == "internet":
            kw.setdefault("rate_limit", "10M/10M")
        return self.tx(catalogue.add_product, self.writer, self.org_id, T0, name=name, type=type, price=price,
                       **kw)

    def service(self, customer_id: int, product_id: int, **kw: Any) -> services.Service:
        return self.tx(services.add, self.writer, self.org_id, customer_id, product_id, T0, **kw)

    def login(self, login_id: int | None) -> Any:
        """The login as the AAA view table holds it (None if there is none)."""
        found: Login | None = None if login_id is None else self.read(store.get_login, self.box, self.org_id,
                                                                         login_id)
        return found

    def event_types(self, prefix: str = "") -> list[str]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(events_t.c.type).where(events_t.c.org_id == self.org_id)
                             .order_by(events_t.c.id))
            return [r.type for r in rows if r.type.startswith(prefix)]

    def event_payloads(self, type_: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(events_t.c.payload).where(events_t.c.org_id == self.org_id,
                                                                 events_t.c.type == type_)
                             .order_by(events_t.c.id))
            return [json.loads(r.payload) for r in rows]


def make_world(engine: Any, slug: str = "isp", country: str = "GH", **st: Any) -> World:
    """An org with billing settings (GH phone region by default)."""
    box = SecretBox(b"k" * 32)
    with engine.begin() as c:
        o = orgs.add(c, slug, slug.upper(), T0, "Africa/Accra", "GHS")
        settings.update(c, o.id, T0, country=country, **st)
    return World(engine, o.id, LoginWriter(box), box)


def race(engine: Any, hook_owner: Any, hook_name: str, *fns: Any) -> list[Any]:
    """Run ``fns`` (each ``fn(conn)``) in their own transactions on two threads, lined up
    at ``hook_owner.hook_name`` (each waits there, up to a second, for the other to
    arrive: on SQLite, whose writers are serialised, the second never does).  Returns
    each result or the exception it raised."""
    import contextlib
    import threading
    arrived = threading.Barrier(len(fns))
    original = getattr(hook_owner, hook_name)

    def hooked(*a: Any, **kw: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            arrived.wait(timeout=1.0)
        return original(*a, **kw)

    out: list[Any] = [None] * len(fns)

    def run(i: int, fn: Any) -> None:
        try:
            with engine.begin() as c:
                out[i] = fn(c)
        except Exception as e:  # noqa: BLE001 - handed back to the test
            out[i] = e

    setattr(hook_owner, hook_name, hooked)
    try:
        threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        setattr(hook_owner, hook_name, original)
    return out
