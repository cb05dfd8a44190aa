"""``aaad sessions`` and ``aaad usage LOGIN``: accounting on the command line.

Both read the database directly (the same store functions the daemon uses).
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from accounting import store


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def cmd_sessions(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc, print_rows
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org else None
    now = now_utc()
    with ctx.engine.connect() as conn:
        found = store.list_sessions(conn, org_id=org_id, username=args.user, nas_name=args.nas,
                                    include_closed=args.all, limit=args.limit)
    headers = ["id", "username", "login_id", "nas_id", "session_id", "framed_ip", "calling_station",
               "start", "last_update", "stop", "input_octets", "output_octets", "input_packets",
               "output_packets", "session_time", "terminate_cause", "nas_port", "nas_port_id", "class"]
    rows: list[list[Any]] = []
    for r in found:
        s = r.session
        rows.append([r.id, s.username, r.login_id, s.nas_id, s.session_id, s.framed_ip, s.calling_station,
                     s.start_time.isoformat(), s.last_update.isoformat(),
                     s.stop_time.isoformat() if s.stop_time else None,
                     s.input_octets, s.output_octets, s.input_packets, s.output_packets,
                     s.session_time, s.terminate_cause, s.nas_port, s.nas_port_id, s.class_attr])
    if args.json:
        print(json.dumps([dict(zip(headers, r, strict=True)) for r in rows], indent=1))
        return 0
    short = [[r[0], r[1], r[3], r[4], r[5] or "", r[7][:19], (r[9] or "open")[:19],
              _human(r[10]), _human(r[11]),
              f"{int((now - found[i].session.start_time).total_seconds()) if r[9] is None else r[14]}s"]
             for i, r in enumerate(rows)]
    print_rows(args, short, ["id", "user", "nas", "session", "ip", "start", "stop", "in", "out", "time"])
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc
    from aaad.view import store as view_store
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        lg = view_store.login_by_name(conn, ctx.box, org_id, args.login)
        if lg is None:
            raise CliError(f"no login {args.login!r} in this org (see: aaad user list)", EXIT_USAGE)
        u = store.login_usage(conn, org_id, lg.id, now_utc())
        assert u is not None
    data = {
        "login": args.login, "login_id": lg.id,
        "today": {"in": u.today[0], "out": u.today[1]},
        "cycle": {"start": u.cycle_start.isoformat(), "end": u.cycle_end.isoformat(), "octets": u.cycle,
                  "data_cap": lg.data_cap},
        "total": {"in": u.total[0], "out": u.total[1]},
        "not_yet_aggregated": {"in": u.unaggregated[0], "out": u.unaggregated[1]},
    }
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    cap = f" of {_human(lg.data_cap)}" if lg.data_cap is not None else ""
    print(f"{args.login} (login {lg.id})")
    print(f"  today:  in {_human(u.today[0])}, out {_human(u.today[1])}")
    print(f"  cycle:  {_human(u.cycle)}{cap}  ({u.cycle_start:%Y-%m-%d} to {u.cycle_end:%Y-%m-%d})")
    print(f"  total:  in {_human(u.total[0])}, out {_human(u.total[1])}")
    if any(u.unaggregated):
        print(f"  not yet in buckets (next aggregation): in {_human(u.unaggregated[0])}, "
              f"out {_human(u.unaggregated[1])}")
    return 0


def register(sub: Any) -> None:
    """Add ``sessions`` and ``usage`` to the ``aaad`` command line's sub-parsers."""
    s = sub.add_parser("sessions", help="accounting sessions (open ones unless --all)")
    s.add_argument("--user", help="only this user name")
    s.add_argument("--nas", help="only this NAS (by name)")
    s.add_argument("--org")
    s.add_argument("--all", action="store_true", help="closed sessions too")
    s.add_argument("--limit", type=int, default=1000, help="most sessions shown, newest first (0: all)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_sessions)
    u = sub.add_parser("usage", help="a login's data usage: today, this cycle, total")
    u.add_argument("login", help="user name")
    u.add_argument("--org")
    u.add_argument("--json", action="store_true")
    u.set_defaults(fn=cmd_usage)
