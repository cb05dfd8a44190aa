"""(filled in by its part of issue 9)"""
from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this area's commands to the ``aaad`` command line."""
