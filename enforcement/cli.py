"""enforcement's commands on the ``aaad`` command line."""
from __future__ import annotations

from typing import Any

from enforcement import cli_actions, cli_nas


def register(sub: Any) -> None:
    """Add enforcement's commands to the ``aaad`` command line's sub-parsers."""
    cli_actions.register(sub)
    cli_nas.register(sub)
