"""Command groups several billing areas add to (``aaad billing run|check|settings``,
``aaad invoice list|show|void|pdf``): the first area that asks creates the group."""
from __future__ import annotations

from typing import Any


def group(sub: Any, name: str, help: str) -> Any:
    """The sub-parsers of command group ``name``, created by the first area that asks,
    shared with the others."""
    if name in sub.choices:
        return sub.choices[name]._billing_group
    parser = sub.add_parser(name, help=help)
    parser._billing_group = parser.add_subparsers(dest="sub", metavar="SUB", required=True)
    return parser._billing_group
