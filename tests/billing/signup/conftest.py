"""A database migrated to the heads (SQLite, then PostgreSQL: each test module runs on both) for the sign-up
tests; each test makes its orgs ``isp`` (and ``other``) in a transaction rolled back after it."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from aaad.crypto import SecretBox
from aaad.db import sync_engine
from aaad.view.write import LoginWriter
from billing import catalogue, customers
from tests.billing import fixtures_d as F
from tests.dbtemplate import migrated

T0 = F.T0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def signup_engine(request: Any, tmp_path_factory: Any) -> Iterator[Engine]:
    """One migrated database per test module (coverage, leads, contracts), on SQLite then PostgreSQL (the
    registration tests use the root conftest's ``engine``, fresh per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('signup')) / 'signup.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").new_database()
    e = sync_engine(migrated(url, request))
    yield e
    e.dispose()


@pytest.fixture
def conn(signup_engine: Engine) -> Iterator[Any]:
    """A connection whose transaction is rolled back after the test."""
    with signup_engine.connect() as c:
        tx = c.begin()
        yield c
        tx.rollback()


@pytest.fixture
def writer() -> LoginWriter:
    return LoginWriter(SecretBox(b"k" * 32))


def org(conn: Any, slug: str = "isp") -> int:
    return F.make_org(conn, slug, currency="GHS", tz="Africa/Accra", country="GH")


def product(conn: Any, writer: LoginWriter, org_id: int, name: str, zones: tuple[str, ...] = (),
            **kw: Any) -> catalogue.Product:
    return catalogue.add_product(conn, writer, org_id, T0, name=name, type="recurring", price=10_000, zones=zones,
                                 **kw)


def customer(conn: Any, org_id: int, name: str = "Ama Mensah") -> int:
    return customers.add(conn, org_id, T0, name=name, email=f"{name.split()[0].lower()}@example.com").id
