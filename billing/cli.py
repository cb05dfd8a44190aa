"""billing's commands on the ``aaad`` command line (each area registers its own)."""
from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add billing's commands to the ``aaad`` command line's sub-parsers."""
