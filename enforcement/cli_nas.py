"""``aaad nas provision NAME`` and ``aaad nas status NAME``: the RouterOS API from the command line.

``status`` also records what it found as the NAS's last status (``router_status``).

Both run synchronously (no reactor): the same librouteros calls the daemon
runs on its pool, with ``[enforcement] api_timeout`` as connect and read
timeout.  Exit codes: 0 done, 1 the router failed or refused something,
2 bad arguments (unknown NAS, no API credentials).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aaad.cli_group import group
from enforcement import provision, routeros, status_store
from enforcement.routeros import RouterAccess, RouterError, Timeouts

#: Seconds a whole provisioning or status call may take.
CALL_TIMEOUT = 120.0


def _load(args: argparse.Namespace) -> tuple[Any, Any, str, list[Any]]:
    """The CLI context, the NAS named ``args.name``, its org's slug and profiles."""
    from aaad import nas as nas_store
    from aaad import orgs
    from aaad.cli import EXIT_USAGE, CliError, Context
    from aaad.view import store as view_store
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        found = [n for n in nas_store.list_all(conn, ctx.box, org_id) if n.name == args.name]
        if not found:
            raise CliError(f"no NAS named {args.name!r} in this org (see: aaad nas list)", EXIT_USAGE)
        org = orgs.get(conn, org_id)
        assert org is not None
        profiles = view_store.list_profiles(conn, org_id)
    return ctx, found[0], org.slug, profiles


def _access(ctx: Any, nas: Any) -> tuple[RouterAccess | None, Timeouts]:
    t = ctx.conf.enforcement.api_timeout
    return RouterAccess.from_nas(nas), Timeouts(connect=t, read=t, call=CALL_TIMEOUT)


def radius_address(conf: Any, given: str | None) -> str:
    """The address the router should send RADIUS to: ``--radius-address``, else ``[radius]
    address`` when it is one address, else the host of ``[web] public_url`` when it is an IP."""
    from aaad.cli import EXIT_USAGE, CliError
    if given:
        return given
    found = provision.default_radius_address(conf)
    if found is not None:
        return found
    raise CliError("cannot tell which address the router reaches aaad's RADIUS at ([radius] address is a "
                   "wildcard): give --radius-address", EXIT_USAGE)


def cmd_provision(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE, CliError
    ctx, nas, slug, profiles = _load(args)
    conf = ctx.conf
    settings = provision.settings_from(conf, radius_address(conf, args.radius_address), args.proxy_port,
                                       hotspot=args.hotspot, hotspot_directory=args.hotspot_dir,
                                       hotspot_hosts=args.walled_garden or (), hotspot_profile=args.hotspot_profile)
    if not conf.web.public_url:
        print(f"aaad: warning: [web] public_url is not set; the walled garden will redirect to "
              f"{settings.public_url}, which the router's customers cannot reach", file=sys.stderr)
    steps = provision.plan(nas, slug, profiles, settings)
    access, timeouts = _access(ctx, nas)
    if access is None:
        if not args.dry_run:
            raise CliError(f"NAS {nas.name} has no RouterOS API credentials (aaad nas set {nas.name} "
                           "--api-username ... --api-password ...); --dry-run prints the full configuration",
                           EXIT_USAGE)
        print(f"# NAS {nas.name} has no RouterOS API credentials: the full configuration, not compared with "
              "the router")
        for c in provision.script(steps):
            print(c.cli(args.show_secrets))
        return EXIT_OK
    try:
        result = routeros.apply(access, steps, timeouts, dry_run=args.dry_run)
    except RouterError as e:
        raise CliError(f"NAS {nas.name}: {e}") from None
    for line in result.cli(args.show_secrets):
        print(line)
    for err in result.errors:
        print(f"aaad: refused: {err}", file=sys.stderr)
    n = len(result.commands)
    if args.dry_run:
        print(f"# NAS {nas.name}: {n} command(s) would be sent" if n else f"# NAS {nas.name}: nothing to change")
    else:
        done = n - len(result.errors)
        print(f"NAS {nas.name}: {done} change(s) applied" if n else f"NAS {nas.name}: already provisioned, "
              "nothing to change")
    return EXIT_FAIL if result.errors else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_FAIL, EXIT_OK, EXIT_USAGE, CliError, now_utc, print_rows
    ctx, nas, _slug, _profiles = _load(args)
    access, timeouts = _access(ctx, nas)
    if access is None:
        raise CliError(f"NAS {nas.name} has no RouterOS API credentials (aaad nas set {nas.name} "
                       "--api-username ... --api-password ...)", EXIT_USAGE)
    st = routeros.check_status(access, timeouts, now_utc())
    ctx.tx(status_store.record, nas.org_id, nas.id, st)
    if args.json:
        print(json.dumps({"nas": nas.name, **st.as_dict()}, indent=1))
    else:
        print_rows(args, [[nas.name, f"{access.host}:{access.port}", "yes" if st.reachable else "no",
                           st.version, st.board, st.identity, st.uptime, st.error]],
                   ["nas", "api", "reachable", "version", "board", "identity", "uptime", "error"])
    return EXIT_OK if st.error is None else EXIT_FAIL


def register(sub: Any) -> None:
    """Add ``provision`` and ``status`` to the ``aaad nas`` group."""
    nas = group(sub, "nas", "NAS clients (routers)")
    p = nas.add_parser("provision", help="make a MikroTik router ready for aaad through its API (idempotent)",
                       description=provision.__doc__.split("\n\n")[0] if provision.__doc__ else None)
    p.add_argument("name")
    p.add_argument("--org")
    p.add_argument("--dry-run", action="store_true",
                   help="read the router and print the commands that would be sent (RouterOS terminal syntax); "
                        "without API credentials, the full configuration")
    p.add_argument("--radius-address", help="address the router sends RADIUS to (default: [radius] address, "
                                            "or the IP of [web] public_url)")
    p.add_argument("--proxy-port", type=int, default=8080,
                   help="the router's web-proxy port the walled garden redirects through (default 8080)")
    p.add_argument("--show-secrets", action="store_true", help="print the RADIUS secret instead of ********")
    p.add_argument("--hotspot", action="store_true",
                   help="also install the org's hotspot login pages: the router fetches each from [web] public_url "
                        "(/tool fetch) into --hotspot-dir, and the portal's host joins the hotspot walled garden")
    p.add_argument("--hotspot-dir", default="hotspot",
                   help="the hotspot server profile's html-directory on the router (default hotspot)")
    p.add_argument("--hotspot-profile", default="hsprof1",
                   help="with --hotspot, the hotspot server profile set to use aaad for RADIUS authentication "
                        "and accounting with --hotspot-dir as its pages (default hsprof1, the one /ip hotspot "
                        "setup makes; added if missing: then point your hotspot server at it)")
    p.add_argument("--walled-garden", action="append", metavar="HOST",
                   help="with --hotspot, another host devices may reach before login besides the portal's "
                        "(e.g. the payment gateway's checkout; repeatable; hosts no longer given are removed)")
    p.set_defaults(fn=cmd_provision)
    s = nas.add_parser("status", help="check a router's API: reachability, RouterOS version, board, identity")
    s.add_argument("name")
    s.add_argument("--org")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_status)
