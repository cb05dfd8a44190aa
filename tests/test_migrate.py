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


def test_the_heads_read_from_the_files_are_what_the_database_records(db_url: str) -> None:
    """``file_heads`` (no Alembic) names exactly the version table's rows after an upgrade to every
    head, for the whole history and for the core alone; ``upgrade_if_behind`` then does nothing, and
    upgrades a database left behind."""
    e = sync_engine(db_url)
    try:
        assert migrate.recorded_heads(e) == frozenset()
        assert migrate.upgrade_if_behind(e, ("aaad",)) is True
        assert migrate.recorded_heads(e) == migrate.file_heads(("aaad",)) == frozenset(migrate.heads(("aaad",)))
        assert migrate.upgrade_if_behind(e, ("aaad",)) is False
        assert migrate.upgrade_if_behind(e) is True              # the other packages' branches come in
        assert migrate.recorded_heads(e) == migrate.file_heads() and migrate.is_current(e)
        assert migrate.upgrade_if_behind(e) is False
        from alembic import command
        command.downgrade(migrate.alembic_config(e), "b0014")    # one revision behind on billing's branch
        assert not migrate.is_current(e) and migrate.upgrade_if_behind(e) is True
        assert migrate.is_current(e) and migrate.recorded_heads(e) == migrate.file_heads()
    finally:
        e.dispose()


def _history(tmp_path: Any, monkeypatch: Any, files: dict[str, str]) -> frozenset[str] | None:
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    monkeypatch.setattr(migrate, "version_locations", lambda packages: [str(tmp_path)])
    return migrate.file_heads(("x",))


def test_file_heads_leaves_what_it_cannot_read_to_alembic(tmp_path: Any, monkeypatch: Any) -> None:
    """Heads are the revisions nothing builds on (down_revision or depends_on); a file that does not
    state its links as literals on lines of their own, or a link to a branch label, gives None."""
    rev = "revision = {!r}\ndown_revision = {}\nbranch_labels = None\ndepends_on = {}\n"
    base = {"1.py": rev.format("r1", "None", "None"), "2.py": rev.format("r2", "'r1'", "None"),
            "3.py": rev.format("s1", "None", "('r1',)"), "__init__.py": ""}
    assert _history(tmp_path, monkeypatch, base) == frozenset({"r2", "s1"})
    more = {**base, "4.py": rev.format("r3", "'r2'", "'s1'")}
    assert _history(tmp_path, monkeypatch, more) == frozenset({"r3"})
    for bad in (rev.format("r4", "(\n    'r3',\n)", "None"),      # down_revision over several lines
                rev.format("r4", "'r3'", "'billing@head'"),          # a branch label, not a revision
                rev.format("r4", "NAME", "None"),                   # not a literal
                "revision = 'r4'\n",                                 # no down_revision line
                rev.format("r2", "'r3'", "None")):                  # a revision id twice
        assert _history(tmp_path, monkeypatch, {**more, "5.py": bad}) is None, bad


def test_a_cli_command_on_a_current_database_does_not_import_alembic(tmp_path: Any) -> None:
    """Every command that opens the database checks its schema first; on a current one that costs a
    read of the revision files and the version table, not Alembic's import (about 0.1 s)."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import ROOT, write_config
    conf = tmp_path / "aaad.toml"
    write_config(conf, tmp_path, None, "")
    code = ("import sys\nfrom aaad import cli\nrc = cli.main(['-c', sys.argv[1], 'nas', 'list'])\n"
            "print('alembic' in sys.modules, rc)")
    first = subprocess.run([sys.executable, "-c", code, str(conf)], capture_output=True, text=True, cwd=str(ROOT),
                           timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[-2:] == ["True", "0"]          # an empty database: Alembic creates the schema
    again = subprocess.run([sys.executable, "-c", code, str(conf)], capture_output=True, text=True,
                           cwd=str(ROOT), timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split()[-2:] == ["False", "0"]
    assert Path(tmp_path / "aaad.db").exists()
