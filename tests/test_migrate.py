"""Migrations: one Alembic history with a branch per package, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import aaad.schema  # noqa: F401
import accounting.schema  # noqa: F401
import billing.gateways.schema  # noqa: F401
import billing.notify.schema  # noqa: F401
import billing.schema  # noqa: F401
import enforcement.schema  # noqa: F401
from aaad import migrate
from aaad.db import metadata, sync_engine

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ACCOUNTING_HEAD = "a0008"
BILLING_HEAD = "b0015"
WEB_HEAD = "w0004"
ENFORCEMENT_HEAD = "e0002"


def test_each_package_has_its_branch_head() -> None:
    """aaad, accounting, enforcement, billing and web each have a head; each package's revisions live in its
    own folder."""
    (core,) = migrate.heads(("aaad",))
    assert migrate.heads() == tuple(sorted((core, ACCOUNTING_HEAD, BILLING_HEAD, ENFORCEMENT_HEAD, WEB_HEAD)))
    locations = migrate.version_locations(migrate.PACKAGES)
    assert [p.split("/")[-3] for p in locations] == ["aaad", "accounting", "enforcement", "billing", "web"]


def test_fresh_database_matches_the_schema_modules(db_url: str) -> None:
    """Upgrading an empty database creates exactly the tables the schema modules declare."""
    e = sync_engine(db_url)
    try:
        assert not migrate.is_current(e)
        migrate.upgrade(e)
        assert migrate.is_current(e)
        with e.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        migrate.upgrade(e)  # idempotent
        assert set(migrate.heads()) <= migrate.applied(e)
    finally:
        e.dispose()


def test_core_alone_migrates_without_accounting(db_url: str) -> None:
    """With only aaad listed, only the core tables are created and the database is current."""
    e = sync_engine(db_url)
    try:
        migrate.upgrade(e, packages=("aaad",))
        assert migrate.is_current(e, ("aaad",))
        names = set(sa.inspect(e).get_table_names())
        assert "logins" in names and "acct_sessions" not in names
        migrate.upgrade(e)  # adding accounting later brings its branch in
        assert migrate.is_current(e) and "acct_nas_state" in sa.inspect(e).get_table_names()
    finally:
        e.dispose()


def test_database_from_the_linear_history_upgrades(db_url: str) -> None:
    """A database the old linear history left at 0002 upgrades to every head, keeping its rows."""
    e = sync_engine(db_url)
    try:
        migrate.upgrade(e, "0002")
        with e.begin() as conn:  # exactly what the old code recorded: one row, '0002'
            conn.execute(sa.text("DELETE FROM alembic_version"))
            conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('0002')"))
            conn.execute(accounting.schema.sessions.insert().values(
                session_key="k" * 32, org_id=1, nas_id=1, session_id="s", username="u",
                start_time=T0, last_update=T0, input_octets=5))
        assert migrate.current(e) == "0002" and not migrate.is_current(e)
        migrate.upgrade(e)
        assert set(migrate.heads()) <= migrate.applied(e) and migrate.is_current(e)
        with e.connect() as conn:
            row: Any = conn.execute(sa.select(accounting.schema.sessions)).one()
            assert row.input_octets == 5 and row.class_attr is None
            assert conn.execute(sa.select(sa.func.count()).select_from(
                accounting.schema.nas_state)).scalar() == 0
    finally:
        e.dispose()


def test_app_migrates_the_packages_it_composes() -> None:
    """The app's package list names each package with a migration folder, and that folder is the one used."""
    from aaad import app
    assert app.migrating() == migrate.PACKAGES
    assert [p.migrations for p in app.PACKAGES] == migrate.version_locations(app.migrating())


def test_the_nas_ip_columns_go_back_down(db_url: str) -> None:
    """e0002 and a0008 (each session's and action's NAS address) downgrade and upgrade again."""
    from alembic import command
    e = sync_engine(db_url)
    try:
        migrate.upgrade(e)
        cfg = migrate.alembic_config(e)
        command.downgrade(cfg, "e0001")
        command.downgrade(cfg, "a0007")
        cols = lambda t: {c["name"] for c in sa.inspect(e).get_columns(t)}  # noqa: E731
        assert "nas_ip" not in cols("acct_sessions") and "nas_ip" not in cols("enforcement_actions")
        migrate.upgrade(e)
        assert "nas_ip" in cols("acct_sessions") and "nas_ip" in cols("enforcement_actions")
    finally:
        e.dispose()
