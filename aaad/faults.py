"""Test-only faults: the process kills itself at a named place, or a write fails.

``AAAD_FAULT=<name>`` in the environment (read once, at import) makes
``fault_point(name)`` send SIGKILL to the process itself there, so crash
tests can stop the daemon exactly between a commit and what follows it.
Unset (always, in production) a fault point costs one comparison.

Points:

- ``after_commit_before_send``: in the event dispatcher, right after a
  subscriber's delivery transaction committed (its rows and its advanced
  position are durable), before anything after the commit runs (after-commit
  hooks that send what the subscriber wrote, metrics, the next pass).

- ``notify_before_send``: in the notification sender, after a message was
  taken from the outbox and rendered, before it is handed to its channel.

``AAAD_TEST_POISON=TEXT`` makes the database writer's batch handlers fail
for a call with an item whose repr contains TEXT, like a value the database
refuses (end-to-end tests of failure isolation under load).  Unset, nothing
is wrapped.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any, TypeVar

ARMED = os.environ.get("AAAD_FAULT", "")


def fault_point(name: str) -> None:
    """Die here (SIGKILL) if ``AAAD_FAULT`` names this point; otherwise nothing."""
    if ARMED and name == ARMED:
        os.kill(os.getpid(), signal.SIGKILL)


POISON_ENV = "AAAD_TEST_POISON"
C = TypeVar("C")


def poisoned(fn: Callable[[C, list[Any]], list[Any]], marker: str) -> Callable[[C, list[Any]], list[Any]]:
    """``fn`` (a batch handler) failing for any call with an item whose repr holds ``marker``."""
    def handler(conn: C, items: list[Any]) -> list[Any]:
        if any(marker in repr(item) for item in items):
            raise ValueError(f"{POISON_ENV}: poisoned item")
        return fn(conn, items)
    return handler
