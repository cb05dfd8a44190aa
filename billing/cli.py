"""billing's commands on the ``aaad`` command line; each area registers its own."""
from __future__ import annotations

from typing import Any

from aaad.cli_group import group
from billing import cli_customers, cli_documents, cli_invoices, cli_payments, cli_settings
from billing.gateways import cli as gateways_cli
from billing.notify import cli as notify_cli
from billing.orders import cli as orders_cli
from billing.signup import cli as signup_cli
from billing.signup import cli_coverage
from billing.vouchers import cli as vouchers_cli
from billing.vouchers import cli_hotspot


def register(sub: Any) -> None:
    """Add billing's commands to the ``aaad`` command line's sub-parsers."""
    for area in (cli_customers, cli_invoices, cli_payments, cli_documents, notify_cli, signup_cli, cli_coverage,
                 cli_hotspot, vouchers_cli):
        area.register(sub)
    cli_settings.add_settings_command(group(sub, "billing", "billing runs, the books check, settings"))
    gateways_cli.add_gateway_command(group(sub, "billing", "billing runs, the books check, settings"))
    orders_cli.add_shop_command(group(sub, "billing", "billing runs, the books check, settings"))
    cli_documents.add_invoice_commands(group(sub, "invoice", "invoices: list, show, void, pdf"))
    cli_documents.add_credit_note_commands(group(sub, "credit-note", "credit notes"))
    cli_documents.add_payment_commands(group(sub, "payment", "payments received (receipts)"))
