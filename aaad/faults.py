"""Test-only fault points: the process kills itself at a named place.

``AAAD_FAULT=<name>`` in the environment (read once, at import) makes
``fault_point(name)`` send SIGKILL to the process itself there, so crash
tests can stop the daemon exactly between a commit and what follows it.
Unset (always, in production) a fault point costs one comparison.

Points:

- ``after_commit_before_send``: in the event dispatcher, right after a
  subscriber's delivery transaction committed (its rows and its advanced
  position are durable), before anything after the commit runs (after-commit
  hooks that send what the subscriber wrote, metrics, the next pass).
"""
from __future__ import annotations

import os
import signal

ARMED = os.environ.get("AAAD_FAULT", "")


def fault_point(name: str) -> None:
    """Die here (SIGKILL) if ``AAAD_FAULT`` names this point; otherwise nothing."""
    if ARMED and name == ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
