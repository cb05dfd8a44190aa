"""``aaad hotspot bundle --org SLUG DIR``: write an org's MikroTik hotspot login pages.

Upload DIR's files to the router's ``hotspot`` directory (FTP, Winbox's Files), or let
``aaad nas provision NAME --hotspot`` have the router fetch them from ``[web] public_url``.
Exit codes: 0 written, 2 bad arguments (unknown org, DIR not a directory).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from billing.vouchers import hotspot


def cmd_bundle(args: argparse.Namespace) -> int:
    from aaad import urls
    from aaad.cli import EXIT_OK, EXIT_USAGE, CliError, Context
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        raise CliError(f"{target} exists and is not a directory", EXIT_USAGE)
    if not ctx.conf.web.public_url:
        print("aaad: warning: [web] public_url is not set: the pages' Register and Buy links point at "
              f"{urls.public_url(ctx.conf.web)}, which the hotspot's customers may not reach", file=sys.stderr)
    public = urls.public_url(ctx.conf.web)
    with ctx.engine.connect() as conn:
        files = hotspot.bundle(conn, org_id, public)
    if args.zip:
        target.mkdir(parents=True, exist_ok=True)
        path = target / "hotspot.zip"
        path.write_bytes(hotspot.zip_bytes(files))
        print(f"wrote {path} ({len(files)} files under hotspot/)")
    else:
        for p in hotspot.write(files, target):
            print(f"wrote {p}")
    hosts = hotspot.walled_garden_hosts(public)
    if hosts:
        print("walled garden (so the links work before login): "
              + "; ".join(f"/ip hotspot walled-garden add dst-host={h}" for h in hosts))
    print("or let a router fetch the pages itself: aaad nas provision NAS --hotspot "
          "[--walled-garden GATEWAY-HOST ...]")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add ``aaad hotspot bundle``."""
    from aaad.cli_group import group
    hs = group(sub, "hotspot", "MikroTik hotspot login pages")
    p = hs.add_parser("bundle", help="write an org's hotspot login pages (login.html, md5.js, ...) into DIR",
                      description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("dir", metavar="DIR", help="directory to write the files into (created if missing)")
    p.add_argument("--org", help="the org's slug (needed when there are several)")
    p.add_argument("--zip", action="store_true", help="write DIR/hotspot.zip instead of the files")
    p.set_defaults(fn=cmd_bundle)
