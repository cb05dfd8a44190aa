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
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy.engine import make_url

T = TypeVar("T")

_TEMPLATES: dict[str, tuple[Path, Any]] = {}   # name -> (the template file, what its build returned)


def copy_of(name: str, build: Callable[[str], T], dest: Path) -> T:
    """Copy into ``dest`` (an SQLite file that must not exist yet) the database ``build(url)`` made,
    built once per process under ``name``; return what that build returned.  ``build`` closes its
    connections, so the template is one file with no WAL."""
    assert not dest.exists(), f"{dest} exists: a template fills a fresh database only"
    if name not in _TEMPLATES:
        d = Path(tempfile.mkdtemp(prefix=f"aaad-{name}-"))
        atexit.register(shutil.rmtree, d, True)
        path = d / f"{name}.db"
        made = build(f"sqlite:///{path}")
        assert not Path(f"{path}-wal").exists(), f"template {name} still has a WAL: close its engine"
        _TEMPLATES[name] = (path, made)
    path, made = _TEMPLATES[name]
    shutil.copyfile(path, dest)
    return cast(T, made)


def _migrate(url: str) -> None:
    from aaad import migrate
    from aaad.db import sync_engine
    e = sync_engine(url)
    migrate.upgrade(e)
    e.dispose()


def migrated(url: str, request: Any = None) -> str:
    """Make the fresh database at ``url`` a migrated one (every head); return ``url``.

    SQLite: ``url``'s file must not exist yet.  PostgreSQL: ``url`` names an empty database of the
    session's cluster (``pg_cluster``, from the pytest ``request``), recreated from its migrated template.
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        assert u.database, url
        copy_of("migrated", _migrate, Path(u.database))
    else:
        assert request is not None, "a PostgreSQL URL needs the test's request (for pg_cluster)"
        request.getfixturevalue("pg_cluster").recreate_migrated(u.database)
    return url
