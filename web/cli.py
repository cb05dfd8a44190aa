"""``aaad token create|list|revoke``: the admin API's tokens on the command line."""
from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time
from typing import Any

from aaad.cli_group import group


def _expiry(text: str) -> datetime:
    """``2027-01-31`` (midnight UTC starting that day) or a full RFC 3339 time."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD) or time (RFC 3339): {text!r}") from None
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError("a time needs its zone, e.g. 2027-01-31T00:00:00Z")
    return t.astimezone(UTC)


def cmd_token_create(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import ValidationError
    from web import tokens
    ctx = Context(args)
    if args.platform == bool(args.org):
        raise CliError("name exactly one of --org SLUG (an org's token) or --platform (a platform token)",
                       EXIT_USAGE)
    org_id = None if args.platform else ctx.org_id(args.org)
    try:
        made = ctx.tx(tokens.create, org_id, args.name, now_utc(), read_only=args.read_only,
                      expires_at=args.expires, role=args.role)
    except ValidationError as e:
        raise CliError(f"--{e.field}: {e.message}", EXIT_USAGE) from None
    t = made.token
    if args.json:
        print(json.dumps({"id": t.id, "name": t.name, "token": made.secret, "org": args.org,
                          "platform": t.platform, "read_only": t.read_only, "role": t.role,
                          "expires_at": t.expires_at.isoformat() if t.expires_at else None}))
        return EXIT_OK
    scope = "platform" if t.platform else f"org {args.org}"
    print(f"token {t.id} ({t.name}, {scope}, {t.role}{', read-only' if t.read_only else ''}) created; "
          "it is shown only now, keep it safe:")
    print(made.secret)
    print("use it as: curl -H 'Authorization: Bearer TOKEN' http://HOST:PORT/api/v1/"
          + (" -H 'X-Aaad-Org: SLUG'" if t.platform else ""))
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace) -> int:
    from aaad import orgs
    from aaad.cli import EXIT_OK, Context, print_rows
    from web import tokens
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org else None
    with ctx.engine.connect() as conn:
        slugs = {o.id: o.slug for o in orgs.list_all(conn)}
        found = tokens.list_all(conn, include_revoked=args.all)
    rows = [[t.id, t.name, "(platform)" if t.org_id is None else slugs.get(t.org_id, t.org_id), t.prefix + "…",
             "read" if t.read_only else "read-write", t.role, _iso(t.created_at), _iso(t.expires_at),
             _iso(t.last_used_at), _iso(t.revoked_at)]
            for t in found if org_id is None or t.org_id == org_id]
    print_rows(args, rows, ["id", "name", "org", "prefix", "access", "role", "created", "expires", "last_used",
                            "revoked"])
    return EXIT_OK


def _iso(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import NotFound
    from web import tokens
    ctx = Context(args)
    try:
        t = ctx.tx(tokens.revoke, None, args.id, now_utc(), any_org=True)
    except NotFound:
        raise CliError(f"no token {args.id} (see: aaad token list)", EXIT_USAGE) from None
    print(f"token {t.id} ({t.name}) revoked; requests with it get 401 within "
          "[api] token_cache_seconds")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``aaad token`` (and ``aaad admin``: web.admin.cli) to the command line."""
    from web.admin.cli import register as register_admin
    register_admin(sub)
    g = group(sub, "token", "admin API tokens: create, list, revoke")
    c = g.add_parser("create", help="create a token and print it (once)",
                     description="Create an API token. It is printed once; only its hash is stored. "
                                 "Send it as 'Authorization: Bearer TOKEN'.")
    c.add_argument("--org", help="the org the token acts on (its slug)")
    c.add_argument("--platform", action="store_true",
                   help="a platform token: manages orgs, acts on the org named by the X-Aaad-Org header")
    c.add_argument("--name", required=True, help="what the token is for (shown in logs and the audit log)")
    c.add_argument("--read-only", action="store_true", help="GET only; every write gets 403")
    c.add_argument("--role", choices=["owner", "admin", "cashier", "support"], default="owner",
                   help="what its requests may do (default owner): admin = all but tokens; cashier = read, "
                        "record payments, sell vouchers; support = read, tickets, disconnect (403 otherwise)")
    c.add_argument("--expires", type=_expiry, help="date (YYYY-MM-DD, midnight UTC) or RFC 3339 time")
    c.add_argument("--json", action="store_true", help="print the token and its facts as JSON")
    c.set_defaults(fn=cmd_token_create)
    ls = g.add_parser("list", help="list tokens (never their secrets)")
    ls.add_argument("--org", help="only this org's tokens")
    ls.add_argument("--all", action="store_true", help="include revoked tokens")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_token_list)
    rv = g.add_parser("revoke", help="revoke a token by id (see: aaad token list)")
    rv.add_argument("id", type=int)
    rv.set_defaults(fn=cmd_token_revoke)
