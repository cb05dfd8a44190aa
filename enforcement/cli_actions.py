"""``aaad actions`` and ``aaad disconnect LOGIN``: the action queue on the command line.

``disconnect`` queues a Disconnect-Request per open session of the login;
the running daemon (its leader) sends them within ``[enforcement]
poll_interval`` and records the outcome, which the command waits for
(``--wait`` seconds) and prints.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

from enforcement import actions


def _row(a: actions.Action) -> list[Any]:
    return [a.id, a.created_at.isoformat(timespec="seconds"), a.kind, a.username, a.nas_id, a.acct_session_id,
            a.state, a.outcome or "", a.attempts, a.rtt_ms, a.fallback or "", a.cause, a.reason, a.detail]


HEADERS = ["id", "created", "kind", "login", "nas", "session", "state", "outcome", "attempts", "rtt_ms",
           "fallback", "cause", "reason", "detail"]


def cmd_actions(args: argparse.Namespace) -> int:
    from aaad import nas as nas_store
    from aaad.cli import EXIT_USAGE, CliError, Context, print_rows
    from aaad.view import store as view_store
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org or args.login or args.nas else None
    login_id = nas_id = None
    with ctx.engine.connect() as conn:
        if args.login:
            assert org_id is not None
            lg = view_store.login_by_name(conn, ctx.box, org_id, args.login)
            if lg is None:
                raise CliError(f"no login {args.login!r} (see: aaad user list)", EXIT_USAGE)
            login_id = lg.id
        if args.nas:
            found = [n for n in nas_store.list_all(conn, ctx.box, org_id) if n.name == args.nas]
            if not found:
                raise CliError(f"no NAS {args.nas!r} (see: aaad nas list)", EXIT_USAGE)
            nas_id = found[0].id
        rows = actions.list_actions(conn, org_id, login_id=login_id, nas_id=nas_id, failed=args.failed,
                                    limit=args.limit)
    if args.json:
        print_rows(args, [_row(a) for a in rows], HEADERS)
    else:
        print_rows(args, [r[:11] for r in (_row(a) for a in rows)], HEADERS[:11])
    return 0


def cmd_disconnect(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc
    from aaad.view import store as view_store
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        lg = view_store.login_by_name(conn, ctx.box, org_id, args.login)
        if lg is None:
            raise CliError(f"no login {args.login!r} (see: aaad user list)", EXIT_USAGE)
        n = actions.request_disconnect(conn, org_id, lg.id, lg.username, now_utc(),
                                       reason=args.reason or "aaad disconnect")
    if not n:
        print(f"{args.login}: no open session (see: aaad sessions --user {args.login})")
        return 0
    print(f"{args.login}: Disconnect-Request queued for {n} open session(s); the daemon sends it")
    deadline = time.monotonic() + args.wait
    while True:
        with ctx.engine.connect() as conn:
            mine = actions.list_actions(conn, org_id, login_id=lg.id, limit=n)
        if all(a.state != "pending" for a in mine) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    failed = False
    for a in mine:
        if a.state == "pending":
            print(f"  action {a.id}: still pending after {args.wait:g}s (is the daemon running? "
                  f"see: aaad actions --login {args.login})")
        else:
            failed |= a.state == "failed"
            print(f"  action {a.id}: {a.outcome} ({a.detail})")
    return 1 if failed else 0


def register(sub: Any) -> None:
    """Add ``actions`` and ``disconnect`` to the ``aaad`` command line's sub-parsers."""
    a = sub.add_parser("actions", help="recent enforcement actions (CoA/Disconnect), newest first",
                       description="What enforcement sent to the routers and how they answered: target, "
                                   "outcome (ack, nak, gone, timeout, fallback), reason and timings.")
    a.add_argument("--org")
    a.add_argument("--login", help="only this login (user name)")
    a.add_argument("--nas", help="only this NAS (by name)")
    a.add_argument("--failed", action="store_true", help="only failed actions")
    a.add_argument("--limit", type=int, default=50)
    a.add_argument("--json", action="store_true")
    a.set_defaults(fn=cmd_actions)
    d = sub.add_parser("disconnect", help="disconnect a login's open sessions now (RFC 5176 Disconnect-Request)",
                       description="Queues a Disconnect-Request for each open session of the login; the "
                                   "running daemon sends it and this waits for the NAS's answer.")
    d.add_argument("login", help="user name")
    d.add_argument("--org")
    d.add_argument("--reason", help="recorded with the action")
    d.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the outcome (0: don't wait)")
    d.set_defaults(fn=cmd_disconnect)
