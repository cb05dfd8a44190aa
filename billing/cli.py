"""billing's commands on the ``aaad`` command line; each area registers its own."""
from __future__ import annotations

from typing import Any

from billing import cli_customers, cli_documents, cli_invoices, cli_payments, cli_settings


def group(sub: Any, name: str, help: str) -> Any:
    """The sub-parsers of command group ``name`` (``aaad billing ...``), created by the
    first area that asks, shared with the others."""
    if name in sub.choices:
        return sub.choices[name]._billing_group
    parser = sub.add_parser(name, help=help)
    parser._billing_group = parser.add_subparsers(dest="sub", metavar="SUB", required=True)
    return parser._billing_group


def register(sub: Any) -> None:
    """Add billing's commands to the ``aaad`` command line's sub-parsers."""
    for area in (cli_customers, cli_invoices, cli_payments, cli_documents):
        area.register(sub)
    cli_settings.add_settings_command(group(sub, "billing", "billing runs, the books check, settings"))
