"""Package seams: how each package declares itself, and what the core gives it.

Each package (aaad, accounting, and later enforcement, billing, web)
declares itself once with a :class:`Package`: its config sections, its
migration folder, its CLI commands.  ``aaad/app.py`` composes an explicit,
ordered tuple of them; nothing is found by ``try: import``.  At start the
app builds the :class:`Core` and hands it, typed, to each package's
services, which register their jobs, event subscriptions and writer batch
handlers with it.  What an upper package supplies to a lower one is a
Protocol the lower one defines (:class:`SessionInfo` below: accounting's
session counts for simultaneous use at auth).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aaad.config import Config
    from aaad.crypto import SecretBox
    from aaad.db import Database
    from aaad.events import Dispatcher
    from aaad.jobs import Scheduler
    from aaad.metrics import Stats
    from aaad.view.memory import AAAView
    from aaad.view.write import LoginWriter

#: Adds a package's commands to the ``aaad`` command line (argparse sub-parsers).
CliRegistrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


@dataclass(frozen=True)
class Package:
    """One package's declaration (see the module docstring)."""
    name: str
    config: Mapping[str, type] = field(default_factory=dict)   # section name -> frozen dataclass
    migrations: str | None = None                              # its Alembic versions folder
    cli: CliRegistrar | None = None


@dataclass(frozen=True)
class Core:
    """What the core gives the packages above it when they build their services."""
    conf: Config
    reactor: Any
    clock: Any                  # IReactorTime: seconds() and callLater()
    db: Database
    box: SecretBox
    stats: Stats
    view: AAAView
    login_writer: LoginWriter
    scheduler: Scheduler
    dispatcher: Dispatcher
    data_dir: str
    #: Called when another process on this machine committed something (aaad.wake): append a
    #: callback that looks at your queue now rather than at its next poll.
    on_wake: list[Callable[[], None]] = field(default_factory=list)


class SessionInfo(Protocol):
    """Session facts the auth path asks at every request, without waiting on the database."""

    def open_count(self, login_id: int, device: bytes | None = None) -> int:
        """Sessions the login has open now (simultaneous use), provisional ones of
        other devices than ``device`` (a Calling-Station-Id) included."""

    def reserve(self, login_id: int, device: bytes | None = None) -> None:
        """Count a provisional session for an accept just decided for ``device``, until
        an Accounting-Start arrives or a timeout passes (simultaneous use)."""

    def release(self, login_id: int, device: bytes | None = None) -> None:
        """Drop ``device``'s provisional session (the accept was not sent)."""
