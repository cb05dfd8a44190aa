"""Command groups several packages add to (``aaad nas add|provision|status``,
``aaad invoice list|show|void|pdf``): the first that asks creates the group."""
from __future__ import annotations

import argparse
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
