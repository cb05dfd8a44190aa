"""``aaad billing gateway``: which payment gateway an org's portal uses, and the gateway log."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from billing.gateways import store


def add_gateway_command(billing_sub: Any) -> None:
    """``aaad billing gateway`` under the ``billing`` group."""
    p = billing_sub.add_parser("gateway", help="the org's payment gateway (test, paystack, none) and its log")
    p.add_argument("--org")
    p.add_argument("--use", choices=store.GATEWAYS,
                   help="the gateway the portal's pay-now uses: test (the built-in test gateway: no money "
                        "moves, for demos and trials), paystack (set its secret key first) or none (no online "
                        "payment)")
    p.add_argument("--paystack-secret-key-file", metavar="FILE",
                   help="read the org's Paystack secret key (sk_test_... or sk_live_...) from FILE, or from "
                        "standard input with -; stored encrypted, never shown again")
    p.add_argument("--paystack-url", metavar="URL",
                   help="the Paystack API's base URL (default https://api.paystack.co; '' resets it)")
    p.add_argument("--log", action="store_true", help="show the gateway log (every call and webhook)")
    p.add_argument("--reference", help="with --log: one payment's lines")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_gateway)


def cmd_gateway(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    if args.log:
        events = ctx.tx(store.events_of, org_id, args.reference)
        if args.json:
            print(json.dumps([dataclasses.asdict(e) for e in events], indent=1, default=str))
        for e in [] if args.json else events:
            print(f"{e.created_at:%Y-%m-%d %H:%M:%S}  {e.gateway:8} {e.source:8} {e.reference or '-':32} "
                  f"{e.outcome:10} {e.detail}")
        return 0
    if args.paystack_secret_key_file is not None or args.paystack_url is not None:
        key = None
        if args.paystack_secret_key_file is not None:
            key = _read_key(args.paystack_secret_key_file)
        ctx.tx(store.set_paystack, ctx.box, org_id, now_utc(), secret_key=key, base_url=args.paystack_url)
    if args.use:
        st = ctx.tx(store.set_gateway, ctx.box, org_id, args.use, now_utc())
    else:
        st = ctx.tx(store.ensure_settings, ctx.box, org_id, now_utc())
    pub = store.public(st)
    if args.json:
        print(json.dumps({"gateway": st.gateway} if not pub["paystack_key_set"] else pub))
    else:
        print(f"gateway  {st.gateway}")
        if pub["paystack_key_set"]:
            print(f"paystack key  set ({pub['paystack_mode']})")
            print(f"paystack url  {pub['paystack_base_url']}")
            print(f"paystack webhook  /gateway/paystack/{ctx.tx(_slug, org_id)}/webhook  (under [web] public_url; "
                  "set it as the Webhook URL on the Paystack dashboard)")
    return 0


def _slug(conn: Any, org_id: int) -> str:
    from aaad import orgs
    org = orgs.get(conn, org_id)
    return org.slug if org is not None else "?"


def _read_key(path: str) -> str:
    """The key from a file (or standard input for ``-``): its first line, stripped."""
    import sys
    from pathlib import Path

    from aaad.cli import CliError
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as e:
        raise CliError(f"cannot read the Paystack secret key: {e}") from None
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""
