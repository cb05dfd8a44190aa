"""``aaad events``: each subscriber's position, lag and failures; replay dead events.

Reads and writes the database directly; a running daemon's dispatcher picks
a re-queued event up at its next pass.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from aaad import events


def _iso(t: Any) -> str | None:
    return t.isoformat() if t is not None else None


def cmd_events(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    ctx = Context(args)
    with ctx.engine.connect() as conn:
        subs = events.subscriber_status(conn)
        fails = events.list_failures(conn, dead_only=args.dead)
    if args.json:
        print(json.dumps({
            "subscribers": [{"name": s.name, "types": s.types, "position": s.position, "lag": s.lag,
                             "failing": s.failing, "dead": s.dead, "seen_at": _iso(s.seen_at)}
                            for s in subs] if not args.dead else [],
            "failures": [{"subscriber": f.subscriber, "event_id": f.event_id, "org_id": f.org_id,
                          "type": f.type, "state": f.state, "attempts": f.attempts,
                          "next_attempt_at": _iso(f.next_attempt_at), "last_error": f.last_error,
                          "updated_at": _iso(f.updated_at)} for f in fails],
        }, indent=1))
        return 0
    if not args.dead:
        print_rows(args, [[s.name, ",".join(s.types), s.position, s.lag, s.failing, s.dead,
                            f"{s.seen_at:%Y-%m-%d %H:%M:%S}"] for s in subs],
                    ["subscriber", "types", "position", "lag", "failing", "dead", "seen"])
        if not fails:
            return 0
        print()
    print_rows(args, [[f.subscriber, f.event_id, f.org_id, f.type, f.state, f.attempts,
                        f"{f.next_attempt_at:%Y-%m-%d %H:%M:%S}" if f.next_attempt_at else "",
                        (f.last_error or "")[:80]] for f in fails],
                ["subscriber", "event", "org", "type", "state", "attempts", "next_attempt", "last_error"])
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    from aaad.cli import CliError, Context, now_utc
    ctx = Context(args)
    n = ctx.tx(events.retry_dead, args.id, now_utc(), args.subscriber)
    if not n:
        who = f" for {args.subscriber}" if args.subscriber else ""
        raise CliError(f"no dead event {args.id}{who} (see: aaad events --dead)")
    print(f"event {args.id} re-queued for {n} subscriber(s); the leader's dispatcher delivers it "
          "at its next pass")
    return 0


def register(sub: Any) -> None:
    """Add ``events`` and ``events retry`` to the ``aaad`` command line."""
    e = sub.add_parser(
        "events", help="event subscribers: position, lag, failing and dead events")
    e.add_argument("--dead", action="store_true", help="only the dead events")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_events)
    r = e.add_subparsers(dest="sub", metavar="SUB").add_parser("retry", help="re-queue a dead event")
    r.add_argument("id", type=int, help="the event id (see: aaad events --dead)")
    r.add_argument("--subscriber", help="only for this subscriber (default: every one it died for)")
    r.set_defaults(fn=cmd_events_retry)
