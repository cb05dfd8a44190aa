"""``aaad billing signup`` (the org's sign-up settings) and ``aaad registration`` (list, show, approve,
reject): the same service functions the admin API calls."""
from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import date
from typing import Any

from aaad.cli_group import group


def register(sub: Any) -> None:
    p = group(sub, "billing", "billing runs, the books check, settings").add_parser(
        "signup", help="the portal's registration form: open or closed, approval, defaults")
    p.add_argument("--org")
    on = p.add_mutually_exclusive_group()
    on.add_argument("--enable", action="store_true", help="open the registration form (/{org}/portal/register)")
    on.add_argument("--disable", action="store_true", help="close it")
    p.add_argument("--approval", choices=("required", "automatic"))
    p.add_argument("--mode", choices=("isp", "hotspot"),
                   help="hotspot: a registration makes the account at once and signs it in (no approval)")
    p.add_argument("--default-product", type=int, metavar="ID", help="the product an approval uses by default")
    p.add_argument("--default-zone")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_signup)

    reg = group(sub, "registration", "registrations from the portal: list, show, approve, reject")
    ls = reg.add_parser("list", help="the org's registrations, newest first")
    ls.add_argument("--org")
    ls.add_argument("--status", choices=("pending", "info_requested", "approved", "rejected"))
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_list)
    show = reg.add_parser("show", help="one registration")
    show.add_argument("id", type=int)
    show.add_argument("--org")
    show.set_defaults(fn=cmd_show)
    ap = reg.add_parser("approve", help="create the customer, the service and its login")
    ap.add_argument("id", type=int)
    ap.add_argument("--org")
    ap.add_argument("--product", type=int, metavar="ID")
    ap.add_argument("--zone")
    ap.add_argument("--start", type=date.fromisoformat, metavar="YYYY-MM-DD")
    ap.set_defaults(fn=cmd_approve)
    rj = reg.add_parser("reject", help="reject with a reason the applicant is told")
    rj.add_argument("id", type=int)
    rj.add_argument("--org")
    rj.add_argument("--reason", required=True)
    rj.set_defaults(fn=cmd_reject)


def _tx(ctx: Any, fn: Any, *a: Any, **kw: Any) -> Any:
    """``ctx.tx`` with an unknown id reported as a command-line error."""
    from aaad import cli
    from aaad.errors import NotFound
    try:
        return ctx.tx(fn, *a, **kw)
    except NotFound as e:
        raise cli.CliError(str(e)) from None


def _print(obj: Any) -> None:
    print(json.dumps(dataclasses.asdict(obj), indent=1, default=str))


def cmd_signup(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing.signup import forms
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    values: dict[str, Any] = {}
    if args.enable or args.disable:
        values["enabled"] = bool(args.enable)
    if args.approval:
        values["approval"] = args.approval
    if args.mode:
        values["mode"] = args.mode
    if args.default_product is not None:
        values["default_product_id"] = args.default_product or None
    if args.default_zone is not None:
        values["default_zone"] = args.default_zone
    s = ctx.tx(forms.update_settings, org_id, now_utc(), **values) if values else ctx.tx(forms.get_settings, org_id)
    if args.json:
        _print(s)
    else:
        for k in forms.EDITABLE:
            print(f"{k:20} {getattr(s, k)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    from billing.signup import registrations
    ctx = Context(args)
    p = ctx.tx(registrations.page, ctx.org_id(args.org), status=args.status, limit=500)
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in p.items], indent=1, default=str))
        return 0
    for r in p.items:
        print(f"{r.id:6}  {r.created_at:%Y-%m-%d %H:%M}  {r.status:15} {r.name:30} {r.email or r.phone or ''}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from aaad.cli import CliError, Context
    from billing.signup import registrations
    ctx = Context(args)
    r = ctx.tx(registrations.get, ctx.org_id(args.org), args.id)
    if r is None:
        raise CliError(f"no registration {args.id}")
    _print(r)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from aaad.view.write import LoginWriter
    from billing.signup import registrations
    ctx = Context(args)
    r = _tx(ctx, registrations.approve, LoginWriter(ctx.box), ctx.org_id(args.org), args.id, now_utc(),
               product_id=args.product, zone=args.zone, start=args.start)
    print(f"registration {r.id} approved: customer {r.customer_id}, service {r.service_id}")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from aaad.view.write import LoginWriter
    from billing.signup import registrations
    ctx = Context(args)
    r = _tx(ctx, registrations.reject, LoginWriter(ctx.box), ctx.org_id(args.org), args.id, now_utc(),
               reason=args.reason)
    print(f"registration {r.id} rejected")
    return 0
