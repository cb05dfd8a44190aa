"""Schema migrations: one Alembic history, each package's revisions in its own folder.

Every package that owns tables has a ``<package>/migrations/versions``
folder holding its revisions, on its own branch (branch label = the package
name); a package's first revision ``depends_on`` a revision of the package
below it, so Alembic always creates aaad's tables first.  ``upgrade``
brings every branch to its head.  The packages come from the caller (the
composition root knows which are installed); ``PACKAGES`` is what the
``alembic`` command line and callers that pass nothing get.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent / "migrations"

#: The packages whose schemas and migration folders make up the history,
#: lowest layer first (each is a name: ``<name>.schema`` defines its tables,
#: ``<name>/migrations/versions`` holds its revisions).  The app passes its
#: own list (``aaad.app.migrating``, from the packages it composes); this
#: default serves the ``alembic`` command line and tests.
PACKAGES: tuple[str, ...] = ("aaad", "accounting", "enforcement", "billing", "web")


def version_locations(packages: Sequence[str]) -> list[str]:
    """The ``migrations/versions`` folders of ``packages`` that exist."""
    out = []
    for name in packages:
        mod = importlib.import_module(name)
        folder = Path(mod.__file__ or "").resolve().parent / "migrations" / "versions"
        if folder.is_dir():
            out.append(str(folder))
    return out


def alembic_config(engine: Engine | None, packages: Sequence[str] = PACKAGES) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(HERE))
    # Alembic splits the option on the separator; paths are joined the same way.
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(version_locations(packages)))
    cfg.attributes["engine"] = engine
    cfg.attributes["packages"] = tuple(packages)
    return cfg


def upgrade(engine: Engine, revision: str = "heads", packages: Sequence[str] = PACKAGES) -> None:
    """Bring the database to ``revision``, by default every package's head (idempotent)."""
    command.upgrade(alembic_config(engine, packages), revision)


def current(engine: Engine) -> str | None:
    """The revisions recorded in the database, sorted and comma-joined (None: empty)."""
    with engine.connect() as conn:
        revs = MigrationContext.configure(conn).get_current_heads()
    return ", ".join(sorted(revs)) or None


def heads(packages: Sequence[str] = PACKAGES) -> tuple[str, ...]:
    """The head revision of every branch, sorted."""
    return tuple(sorted(_script(packages).get_heads()))


def head(packages: Sequence[str] = PACKAGES) -> str | None:
    """The heads as one comma-joined string (None without any revision)."""
    return ", ".join(heads(packages)) or None


def applied(engine: Engine, packages: Sequence[str] = PACKAGES) -> set[str]:
    """Every revision the database has, the recorded ones and all they build on.

    A database records only the tips of its branches; a revision's
    ancestors, and the revisions it ``depends_on``, are applied too.
    """
    with engine.connect() as conn:
        recorded = MigrationContext.configure(conn).get_current_heads()
    script = _script(packages)
    seen: set[str] = set()
    todo = list(recorded)
    while todo:
        rev_id = todo.pop()
        if rev_id in seen:
            continue
        seen.add(rev_id)
        rev = script.get_revision(rev_id)
        if rev is None:
            continue
        down = rev.down_revision
        todo.extend([down] if isinstance(down, str) else list(down or ()))
        for dep in _tuple(rev.dependencies):
            todo.extend(r.revision for r in script.get_revisions(dep) if r is not None)
    return seen


def is_current(engine: Engine, packages: Sequence[str] = PACKAGES) -> bool:
    """Whether every branch's head is applied."""
    return set(heads(packages)) <= applied(engine, packages)


def _tuple(v: str | Sequence[str] | None) -> tuple[str, ...]:
    if v is None:
        return ()
    return (v,) if isinstance(v, str) else tuple(v)


def _script(packages: Sequence[str]) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(None, packages))
