"""Migrated databases for tests, copied from a template migrated once per test process.

Running every migration for each test costs 0.2 s on SQLite and more on PostgreSQL, hundreds of
times over.  A fixture that wants "a database at every head" calls :func:`migrated`: the first
call in the process migrates a template (SQLite: a file; PostgreSQL: a database of the cluster)
with ``aaad.migrate.upgrade``, later calls copy it (a file copy; ``CREATE DATABASE ... TEMPLATE``).
The copy is the template byte for byte, so a test sees what ``upgrade`` leaves.  The migrations
themselves are still run by tests/test_migrate.py and by every daemon the end-to-end tests start.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

_SQLITE_TEMPLATE: Path | None = None


def _sqlite_template() -> Path:
    global _SQLITE_TEMPLATE
    if _SQLITE_TEMPLATE is None:
        from aaad import migrate
        from aaad.db import sync_engine
        d = Path(tempfile.mkdtemp(prefix="aaad-template-"))
        atexit.register(shutil.rmtree, d, True)
        path = d / "migrated.db"
        e = sync_engine(f"sqlite:///{path}")
        migrate.upgrade(e)
        e.dispose()   # the last connection closed: the WAL is checkpointed into the file and removed
        assert not Path(f"{path}-wal").exists(), "template still has a WAL after dispose"
        _SQLITE_TEMPLATE = path
    return _SQLITE_TEMPLATE


def migrated(url: str, pg_cluster: Any = None) -> str:
    """Make the fresh database at ``url`` a migrated one (every head); return ``url``.

    SQLite: ``url``'s file must not exist yet.  PostgreSQL: ``url`` names an empty database of
    ``pg_cluster`` (from ``new_database``); it is recreated from the cluster's migrated template.
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        assert u.database, url
        dest = Path(u.database)
        assert not dest.exists(), f"{dest} exists: migrated() fills a fresh database only"
        shutil.copyfile(_sqlite_template(), dest)
        return url
    assert pg_cluster is not None, "a PostgreSQL URL needs its cluster"
    pg_cluster.recreate_migrated(u.database)
    return url
