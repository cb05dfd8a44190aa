"""Command groups several packages add to (``aaad nas add|provision|status``,
``aaad invoice list|show|void|pdf``): the first that asks creates the group."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import wraps
from typing import Any


def group(sub: Any, name: str, help: str) -> Any:
    """The sub-parsers of command group ``name``, created by the first package or area
    that asks (or found on a group created with its own ``add_subparsers``), shared
    with the others."""
    if name in sub.choices:
        parser = sub.choices[name]
        found = getattr(parser, "_aaad_group", None)
        if found is None:
            found = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser._aaad_group = found
        return found
    parser = sub.add_parser(name, help=help)
    parser._aaad_group = parser.add_subparsers(dest="sub", metavar="SUB", required=True)
    return parser._aaad_group


Command = Callable[[argparse.Namespace], int]


def cli() -> Any:
    """``aaad.cli`` (imported late: it imports every package's commands)."""
    from aaad import cli as module
    return module


def handles_not_found(fn: Command) -> Command:
    """A command whose name or id finds nothing: one line (the NotFound's message), exit 2."""
    from aaad.errors import NotFound

    @wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except NotFound as e:
            c = cli()
            raise c.CliError(e.message, c.EXIT_USAGE) from None
    return run
