"""The data directory and the key file: checked before anything is written.

A data directory that cannot be created or written to, or a key file that
cannot be read, is a configuration error (exit 2, the key path named), found
before the database is opened or a port bound, instead of a traceback from
whichever write comes first.  ``aaad config check`` reports the same without
creating anything.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aaad import config as cfg


def _nearest_existing(p: Path) -> Path:
    """``p`` itself or its closest ancestor that exists (``/`` at worst)."""
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _probe_write(d: Path) -> str | None:
    """Create and remove a file in ``d``: the only test that root, ACLs and
    read-only mounts all answer truthfully."""
    try:
        fd, name = tempfile.mkstemp(prefix=".aaad-write-test-", dir=d)
    except OSError as e:
        return f"{d} is not writable ({e.strerror})"
    os.close(fd)
    os.unlink(name)
    return None


def dir_problem(path: str | Path, create: bool) -> str | None:
    """Why the directory ``path`` cannot be used for writing, or None.

    With ``create`` a missing directory is made (parents too); without it, a
    missing directory only has to be creatable: its nearest existing ancestor
    must be a writable directory.
    """
    p = Path(path).absolute()
    if os.path.lexists(p):
        if not p.is_dir():
            return f"{p} is not a directory"
        return _probe_write(p)
    if create:
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return f"{p} cannot be created ({e.strerror})"
        return _probe_write(p)
    anc = _nearest_existing(p)
    if not anc.is_dir():
        return f"{p} cannot be created ({anc} is not a directory)"
    if not os.access(anc, os.W_OK | os.X_OK):
        return f"{p} cannot be created ({anc} is not writable)"
    return None


def key_file_problem(path: str | Path, create: bool) -> str | None:
    """Why the secret key file cannot be used, or None: an existing one must
    be a readable file; a missing one needs a directory it can be created in."""
    p = Path(path).absolute()
    if not os.path.lexists(p):
        return dir_problem(p.parent, create)
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        return f"{p} cannot be read ({e.strerror})"
    return None


def errors(conf: cfg.Config, key_file: str | Path, create: bool) -> list[cfg.ConfigError]:
    """Every storage problem of ``conf`` (whose key file is at ``key_file``),
    as config errors with key paths."""
    source = conf.path or "<defaults>"
    found: list[cfg.ConfigError] = []
    msg = dir_problem(conf.server.data_dir, create)
    if msg:
        found.append(cfg.ConfigError("server.data_dir", msg, source))
    # The default key file lives in data_dir, already reported above.
    if not msg or conf.secrets.key_file:
        msg = key_file_problem(key_file, create)
        if msg:
            found.append(cfg.ConfigError("secrets.key_file", msg, source))
    return found


def ensure(conf: cfg.Config, key_file: str | Path) -> None:
    """Create the data directory if missing; raise ConfigErrors if it or the
    key file cannot be used."""
    found = errors(conf, key_file, create=True)
    if found:
        raise cfg.ConfigErrors(found)


def describe(conf: cfg.Config) -> str:
    """One line for ``aaad config check`` about a data directory with no problem."""
    p = Path(conf.server.data_dir).absolute()
    if p.is_dir():
        return f"data directory {p}: writable"
    return f"data directory {p}: does not exist yet, can be created"
