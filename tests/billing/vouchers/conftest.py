"""Vouchers' test world: an org (GHS, en_GH) with a customer, on SQLite (``vengine``) or on both
databases (the shared ``engine`` fixture)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billing.vouchers import packages
from tests.billing.fixtures_a import T0, World, make_world
from tests.dbtemplate import migrated


@pytest.fixture
def vengine(tmp_path: Path) -> Iterator[Any]:
    """A migrated SQLite database."""
    from aaad.db import sync_engine
    e = sync_engine(migrated(f"sqlite:///{tmp_path / 'v.db'}"))
    yield e
    e.dispose()


def vworld(engine: Any, slug: str = "isp") -> World:
    return make_world(engine, slug, locale="en_GH", brand_name=f"{slug.upper()} WiFi", brand_colour="#0a7c3f")


def package(w: World, name: str = "1 hour", **kw: Any) -> packages.Package:
    kw.setdefault("price", 5_00)
    kw.setdefault("rate_limit", "2M/2M")
    kw.setdefault("time_limit", 3600)
    return w.tx(packages.add, w.writer, w.org_id, T0, name=name, **kw)


@pytest.fixture
def world(vengine: Any) -> World:
    return vworld(vengine)
