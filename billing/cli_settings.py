"""``aaad billing settings``: show or change an org's billing settings."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from billing import settings

_FLAGS: list[tuple[str, str, Any, str]] = [
    ("country", "--country", str, "default phone region, two letters (GH, US, …)"),
    ("vat_bp", "--vat-bp", int, "VAT rate in basis points (1500 = 15 %%)"),
    ("billing_day", "--billing-day", int, "day of the month (1-28) monthly periods start on"),
    ("payment_terms_days", "--payment-terms", int, "days from an invoice's issue to its due date"),
    ("grace_days", "--grace-days", int, "days after the due date before dunning suspends"),
    ("suspend_mode", "--suspend-mode", str, "reject (with the reason) or walled_garden"),
    ("invoice_prefix", "--invoice-prefix", str, "printed before invoice numbers (INV-)"),
    ("credit_note_prefix", "--credit-note-prefix", str, "printed before credit note numbers (CN-)"),
    ("receipt_prefix", "--receipt-prefix", str, "printed before receipt numbers (RC-)"),
    ("brand_name", "--brand-name", str, "name printed on documents (default: the org's name)"),
    ("brand_logo", "--brand-logo", str, "logo on documents: a data: URL"),
    ("brand_colour", "--brand-colour", str, "accent colour on documents, like #0a7cff"),
    ("brand_address", "--brand-address", str, "postal address printed on documents"),
    ("brand_tax_id", "--brand-tax-id", str, "the org's tax id printed on invoices"),
    ("locale", "--locale", str, "money and date format on documents (en_US, fr_FR, en_GH, …)"),
    ("hotspot_login_url", "--hotspot-login-url", str, "the hotspot's login page (voucher cards' QR codes)"),
]


def add_settings_command(billing_sub: Any) -> None:
    """``aaad billing settings`` under the ``billing`` group."""
    p = billing_sub.add_parser("settings", help="show or change the org's billing settings (VAT, billing day, "
                                                "grace, suspension mode, numbering, branding)")
    p.add_argument("--org")
    p.add_argument("--json", action="store_true")
    for key, flag, tp, help_ in _FLAGS:
        p.add_argument(flag, dest=key, type=tp, help=help_)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--prices-include-vat", dest="prices_include_vat", action="store_const", const=True,
                   help="catalogue prices include VAT")
    g.add_argument("--prices-exclude-vat", dest="prices_include_vat", action="store_const", const=False,
                   help="VAT is added to catalogue prices (the default)")
    g2 = p.add_mutually_exclusive_group()
    g2.add_argument("--auto-resume", dest="auto_resume", action="store_const", const=True,
                    help="a payment that clears the arrears resumes suspended services at once (the default)")
    g2.add_argument("--no-auto-resume", dest="auto_resume", action="store_const", const=False,
                    help="suspended services wait for an operator's 'aaad service resume'")
    p.set_defaults(fn=cmd_settings)


def cmd_settings(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import ValidationError
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    keys = [k for k, *_ in _FLAGS] + ["prices_include_vat", "auto_resume"]
    changes = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    try:
        s = ctx.tx(settings.update, org_id, now_utc(), **changes) if changes else ctx.tx(settings.get, org_id)
    except ValidationError as e:
        flag = next((f for k, f, *_ in _FLAGS if k == e.field), e.field)
        raise CliError(f"{flag}: {e.message}", EXIT_USAGE) from None
    data = dataclasses.asdict(s)
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        width = max(len(k) for k in data)
        for k, v in data.items():
            print(f"{k.ljust(width)}  {'' if v is None else v}")
    return 0
