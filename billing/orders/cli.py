"""``aaad billing shop``: show or change how an org's portal checkout orders (billing.orders.cart)."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from billing.orders import cart


def add_shop_command(billing_sub: Any) -> None:
    """``aaad billing shop`` under the ``billing`` group."""
    p = billing_sub.add_parser("shop", help="show or change the portal's checkout: pay now, order as a request, "
                                            "or the customer's choice; requests as tickets or e-mail")
    p.add_argument("--org")
    p.add_argument("--json", action="store_true")
    p.add_argument("--checkout", choices=cart.CHECKOUTS,
                   help="gateway (pay now), request (the admins approve), both (the customer chooses)")
    p.add_argument("--request-via", dest="request_via", choices=cart.REQUEST_VIA,
                   help="how a request reaches the admins: a ticket about the order, or e-mail")
    p.set_defaults(fn=cmd_shop)


def cmd_shop(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    if args.checkout or args.request_via:
        s = ctx.tx(cart.update_shop_settings, org_id, now_utc(), checkout=args.checkout,
                   request_via=args.request_via)
    else:
        s = ctx.tx(cart.shop_settings, org_id)
    data = {k: v for k, v in dataclasses.asdict(s).items() if k != "org_id"}
    if args.json:
        print(json.dumps(data, indent=1, default=str))
    else:
        for k, v in data.items():
            print(f"{k.ljust(11)}  {'' if v is None else v}")
    return 0
