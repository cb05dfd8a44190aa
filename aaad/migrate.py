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

import ast
import importlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    # Alembic is imported where a function needs it: importing it costs every CLI command about
    # 0.1 s, and a database already at its heads needs none of it (:func:`upgrade_if_behind`).
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

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
    from alembic.config import Config as AlembicConfig
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
    from alembic import command
    command.upgrade(alembic_config(engine, packages), revision)


def upgrade_if_behind(engine: Engine, packages: Sequence[str] = PACKAGES) -> bool:
    """:func:`upgrade` unless the database already records every head; True if it upgraded.

    Every CLI command that opens the database makes sure of its schema first.  Alembic costs
    about 0.1 s to import and some more to read its history, so the heads are first read
    straight from the revision files (:func:`file_heads`) and compared with the database's
    version table; anything but an exact match, or a file that cannot be read that way,
    goes to Alembic, which decides.
    """
    heads = file_heads(packages)
    if heads is not None and heads == recorded_heads(engine):
        return False
    upgrade(engine, packages=packages)
    return True


#: A revision file's own ``revision = '...'``, ``down_revision = ...`` and ``depends_on = ...`` lines
#: (Alembic's template).
_FIELDS = {name: re.compile(rf"^{name}(?:\s*:[^=\n]+)?\s*=\s*(.+?)\s*$", re.M)
           for name in ("revision", "down_revision", "depends_on")}


def file_heads(packages: Sequence[str] = PACKAGES) -> frozenset[str] | None:
    """What the version table of a database at every head records, read from the revision files
    without Alembic: the revisions that no other one names as its ``down_revision`` or in its
    ``depends_on`` (Alembic records only those; what they build on is implied).  None if a file
    does not state the three as literals on lines of their own, or names a revision that is not
    there (a branch label, say): then only Alembic can tell."""
    revisions: set[str] = set()
    below: set[str] = set()
    for folder in version_locations(packages):
        for f in Path(folder).glob("*.py"):
            if f.name.startswith("__"):
                continue
            text = f.read_text(encoding="utf-8")
            found = [rx.search(text) for rx in _FIELDS.values()]
            if None in found:
                return None
            try:
                rev_id, down, deps = (ast.literal_eval(m.group(1)) for m in found if m is not None)
            except (ValueError, SyntaxError):
                return None
            if not isinstance(rev_id, str) or rev_id in revisions:
                return None
            revisions.add(rev_id)
            below.update(_tuple(down), _tuple(deps))
    if not revisions or not below <= revisions:
        return None
    return frozenset(revisions - below)


def recorded_heads(engine: Engine) -> frozenset[str]:
    """The revisions the database's ``alembic_version`` table records (none before the first upgrade)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return frozenset()
        return frozenset(r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version")))


def current(engine: Engine) -> str | None:
    """The revisions recorded in the database, sorted and comma-joined (None: empty)."""
    from alembic.runtime.migration import MigrationContext
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
    from alembic.runtime.migration import MigrationContext
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
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(alembic_config(None, packages))
