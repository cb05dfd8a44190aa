"""``aaad billing gateway``: which payment gateway an org's portal uses, and the gateway log."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from billing.gateways import store


def add_gateway_command(billing_sub: Any) -> None:
    """``aaad billing gateway`` under the ``billing`` group."""
    p = billing_sub.add_parser("gateway", help="the org's payment gateway (test, none) and its log")
    p.add_argument("--org")
    p.add_argument("--use", choices=store.GATEWAYS,
                   help="the gateway the portal's pay-now uses: test (the built-in test gateway: no money "
                        "moves, for demos and trials) or none (no online payment)")
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
    if args.use:
        st = ctx.tx(store.set_gateway, ctx.box, org_id, args.use, now_utc())
    else:
        st = ctx.tx(store.ensure_settings, ctx.box, org_id, now_utc())
    if args.json:
        print(json.dumps({"gateway": st.gateway}))
    else:
        print(f"gateway  {st.gateway}")
    return 0
