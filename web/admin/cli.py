"""``aaad admin add|list|role|disable|enable|reset-2fa|passwd``: the console's accounts on the command line.

``aaad admin add EMAIL --org SLUG --role owner`` creates an org's first owner (``--platform`` a platform
admin, across orgs); the password is prompted for unless ``--password`` gives it.  An address in several
orgs is named with ``--org`` (or ``--platform``) in the other commands.
"""
from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from aaad import authz
from aaad.cli_group import group


def _password(args: argparse.Namespace) -> str:
    from aaad.cli import EXIT_USAGE, CliError
    if args.password:
        return str(args.password)
    try:
        first = getpass.getpass("password: ")
        again = getpass.getpass("again: ")
    except (EOFError, KeyboardInterrupt):
        raise CliError("no password given (use --password or type it at the prompt)", EXIT_USAGE) from None
    if first != again:
        raise CliError("the two passwords differ", EXIT_USAGE)
    return first


def _org(ctx: Any, args: argparse.Namespace) -> int | None:
    """The org named by --org, None for --platform."""
    from aaad.cli import EXIT_USAGE, CliError
    if getattr(args, "platform", False):
        if args.org:
            raise CliError("name --org SLUG or --platform, not both", EXIT_USAGE)
        return None
    return int(ctx.org_id(args.org))


def _account(ctx: Any, args: argparse.Namespace) -> Any:
    """The account of args.email (in --org/--platform if given; otherwise the only one with the address)."""
    from aaad.cli import EXIT_USAGE, CliError
    from web.admin import accounts
    addr = args.email.strip().lower()
    with ctx.engine.connect() as conn:
        if args.org or args.platform:
            found = accounts.find(conn, _org(ctx, args), addr)
            hits = [found] if found else []
        else:
            hits = [a for a in accounts.list_all(conn) if a.email == addr]
    if not hits:
        raise CliError(f"no admin account {addr!r} (see: aaad admin list)", EXIT_USAGE)
    if len(hits) > 1:
        raise CliError(f"{addr!r} has an account in several orgs: say which with --org SLUG or --platform",
                       EXIT_USAGE)
    return hits[0]


def cmd_admin_add(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import ValidationError
    from web.admin import accounts
    ctx = Context(args)
    org_id = _org(ctx, args)
    password = _password(args)
    try:
        a = ctx.tx(accounts.add, org_id, args.email, args.name or "", args.role, password, now_utc())
    except ValidationError as e:
        raise CliError(f"{e.field}: {e.message}", EXIT_USAGE) from None
    where = "platform admin" if a.org_id is None else f"org {args.org or org_id}"
    print(f"admin account {a.id} {a.email} ({a.role}, {where}) created; it signs in at /admin/login "
          "and is asked to set up two-factor login")
    return EXIT_OK


def cmd_admin_list(args: argparse.Namespace) -> int:
    from aaad import orgs
    from aaad.cli import EXIT_OK, Context
    from web.admin import accounts
    ctx = Context(args)
    with ctx.engine.connect() as conn:
        slugs = {o.id: o.slug for o in orgs.list_all(conn)}
        found = accounts.list_all(conn)
    rows = [{"id": a.id, "email": a.email, "name": a.name, "org": "(platform)" if a.org_id is None
             else slugs.get(a.org_id, a.org_id), "role": a.role, "two_factor": a.totp_enabled,
             "disabled": a.disabled_at.strftime("%Y-%m-%dT%H:%M:%SZ") if a.disabled_at else None}
            for a in found if not args.org or slugs.get(a.org_id or 0) == args.org]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        from aaad.cli import print_rows
        print_rows(args, [list(r.values()) for r in rows], list(rows[0]) if rows else
                   ["id", "email", "name", "org", "role", "two_factor", "disabled"])
    return EXIT_OK


def cmd_admin_disable(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import ValidationError
    from web.admin import accounts
    ctx = Context(args)
    a = _account(ctx, args)
    try:
        ctx.tx(accounts.disable, a.org_id, a.id, now_utc())
    except ValidationError as e:
        raise CliError(e.message, EXIT_USAGE) from None
    print(f"admin account {a.email} disabled; its sessions ended")
    return EXIT_OK


def cmd_admin_role(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context
    from aaad.errors import ValidationError
    from web.admin import accounts
    ctx = Context(args)
    a = _account(ctx, args)
    try:
        done = ctx.tx(accounts.set_role, a.org_id, a.id, args.role)
    except ValidationError as e:
        raise CliError(f"{e.field}: {e.message}", EXIT_USAGE) from None
    print(f"admin account {done.email} is now {done.role}")
    return EXIT_OK


def cmd_admin_enable(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, Context
    from web.admin import accounts
    ctx = Context(args)
    a = _account(ctx, args)
    ctx.tx(accounts.enable, a.org_id, a.id)
    print(f"admin account {a.email} enabled; it signs in with its password and second factor")
    return EXIT_OK


def cmd_admin_reset_2fa(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, Context
    from web.admin import accounts
    ctx = Context(args)
    a = _account(ctx, args)
    ctx.tx(accounts.reset_totp, a.org_id, a.id)
    print(f"two-factor login of {a.email} reset; it enrols again at its next sign-in")
    return EXIT_OK


def cmd_admin_passwd(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context
    from aaad.errors import ValidationError
    from web.admin import accounts
    ctx = Context(args)
    a = _account(ctx, args)
    try:
        ctx.tx(accounts.set_password, a.org_id, a.id, _password(args))
    except ValidationError as e:
        raise CliError(f"{e.field}: {e.message}", EXIT_USAGE) from None
    print(f"password of {a.email} changed; its sessions ended")
    return EXIT_OK


def _which(p: Any) -> None:
    p.add_argument("email")
    p.add_argument("--org", help="the org of the account (when the address is in several)")
    p.add_argument("--platform", action="store_true", help="the platform admin with this address")


def register(sub: Any) -> None:
    """Add ``aaad admin`` to the command line."""
    g = group(sub, "admin", "admin console accounts: add, list, role, disable, enable, reset-2fa, passwd")
    a = g.add_parser("add", help="create a console account (an org's or, with --platform, a platform admin)")
    a.add_argument("email")
    a.add_argument("--org", help="the org (its slug); optional when there is one org")
    a.add_argument("--platform", action="store_true", help="a platform admin: signs in to every org")
    a.add_argument("--role", required=True, choices=authz.ROLES)
    a.add_argument("--name", help="the person's name (default: the address's local part)")
    a.add_argument("--password", help="the password (default: prompted for, twice)")
    a.set_defaults(fn=cmd_admin_add)
    ls = g.add_parser("list", help="list console accounts (never their secrets)")
    ls.add_argument("--org", help="only this org's accounts")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_admin_list)
    ro = g.add_parser("role", help="give an account another role (the org's last active owner keeps theirs)")
    _which(ro)
    ro.add_argument("role", choices=authz.ROLES)
    ro.set_defaults(fn=cmd_admin_role)
    d = g.add_parser("disable", help="disable an account (its sessions end)")
    _which(d)
    d.set_defaults(fn=cmd_admin_disable)
    en = g.add_parser("enable", help="let a disabled account sign in again")
    _which(en)
    en.set_defaults(fn=cmd_admin_enable)
    r = g.add_parser("reset-2fa", help="turn an account's two-factor login off (lost phone); it enrols again")
    _which(r)
    r.set_defaults(fn=cmd_admin_reset_2fa)
    p = g.add_parser("passwd", help="set an account's password (prompted for unless --password)")
    _which(p)
    p.add_argument("--password")
    p.set_defaults(fn=cmd_admin_passwd)
