"""``aaad coverage`` (zones: list, add, remove, check), ``aaad lead list`` and ``aaad contract`` (add a version,
list, signatures, a signed PDF): the same service functions the admin API and the portal call."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aaad.cli_group import group


def register(sub: Any) -> None:
    cov = group(sub, "coverage", "coverage zones of the portal's sign-up: list, add, remove, check a place")
    ls = cov.add_parser("list", help="the org's zones")
    ls.add_argument("--org")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_zones)
    add = cov.add_parser("add", help="a zone described by areas, postcodes and/or a GeoJSON polygon")
    add.add_argument("name")
    add.add_argument("--org")
    add.add_argument("--area", action="append", default=[], help="an area name (repeat for more)")
    add.add_argument("--postcode", action="append", default=[], help="a postcode, or a prefix ending in * (repeat)")
    add.add_argument("--geojson", type=Path, metavar="FILE", help="a GeoJSON Polygon or MultiPolygon (or a "
                                                                   "Feature of one), [longitude, latitude]")
    add.set_defaults(fn=cmd_zone_add)
    rm = cov.add_parser("remove", help="remove a zone")
    rm.add_argument("id", type=int)
    rm.add_argument("--org")
    rm.set_defaults(fn=cmd_zone_remove)
    chk = cov.add_parser("check", help="the zones covering a place and the portal products sold there")
    chk.add_argument("--org")
    chk.add_argument("--area", default="")
    chk.add_argument("--postcode", default="")
    chk.add_argument("--at", metavar="LAT,LON", help="coordinates in decimal degrees")
    chk.set_defaults(fn=cmd_check)

    lead = group(sub, "lead", "leads left on the portal where no zone reaches yet")
    ll = lead.add_parser("list", help="the org's leads, newest first")
    ll.add_argument("--org")
    ll.add_argument("--status", choices=("new", "contacted", "closed"))
    ll.add_argument("--json", action="store_true")
    ll.set_defaults(fn=cmd_leads)

    con = group(sub, "contract", "the contract customers sign on the portal: versions, signatures")
    ca = con.add_parser("add", help="publish a new version (the one customers sign from now on)")
    ca.add_argument("--org")
    ca.add_argument("--title", required=True)
    ca.add_argument("--file", type=Path, required=True, help="the text (plain; blank lines separate paragraphs)")
    ca.set_defaults(fn=cmd_contract_add)
    cl = con.add_parser("list", help="the versions, newest first")
    cl.add_argument("--org")
    cl.set_defaults(fn=cmd_contracts)
    cs = con.add_parser("signatures", help="who signed which version, when, from where")
    cs.add_argument("--org")
    cs.add_argument("--customer", type=int, metavar="ID")
    cs.add_argument("--json", action="store_true")
    cs.set_defaults(fn=cmd_signatures)
    cp = con.add_parser("pdf", help="write a signature's signed PDF copy")
    cp.add_argument("id", type=int)
    cp.add_argument("--org")
    cp.add_argument("-o", "--output", type=Path, required=True)
    cp.set_defaults(fn=cmd_pdf)


def _ctx(args: argparse.Namespace) -> tuple[Any, int]:
    from aaad.cli import Context
    ctx = Context(args)
    return ctx, ctx.org_id(args.org)


def _tx(ctx: Any, fn: Any, *a: Any, **kw: Any) -> Any:
    """``ctx.tx`` with an unknown id reported as a command-line error."""
    from aaad import cli
    from aaad.errors import NotFound
    try:
        return ctx.tx(fn, *a, **kw)
    except NotFound as e:
        raise cli.CliError(str(e)) from None


def cmd_zones(args: argparse.Namespace) -> int:
    from billing.signup import coverage
    ctx, org_id = _ctx(args)
    zones = ctx.tx(coverage.list_zones, org_id)
    if args.json:
        print(json.dumps([{"id": z.id, "name": z.name, "areas": list(z.areas), "postcodes": list(z.postcodes),
                           "geojson": z.geojson} for z in zones], indent=1))
        return 0
    for z in zones:
        print(f"{z.id:5}  {z.name:24} {', '.join(z.kinds):28} areas: {', '.join(z.areas) or '-'}; "
              f"postcodes: {', '.join(z.postcodes) or '-'}")
    return 0


def cmd_zone_add(args: argparse.Namespace) -> int:
    from aaad.cli import CliError, now_utc
    from billing.signup import coverage
    ctx, org_id = _ctx(args)
    geojson = None
    if args.geojson is not None:
        try:
            geojson = args.geojson.read_text()
        except OSError as e:
            raise CliError(f"cannot read {args.geojson}: {e.strerror}") from None
    z = ctx.tx(coverage.add_zone, org_id, now_utc(), name=args.name, areas=args.area, postcodes=args.postcode,
               geojson=geojson)
    print(f"zone {z.id} {z.name!r} added ({', '.join(z.kinds)})")
    return 0


def cmd_zone_remove(args: argparse.Namespace) -> int:
    from billing.signup import coverage
    ctx, org_id = _ctx(args)
    _tx(ctx, coverage.remove_zone, org_id, args.id)
    print(f"zone {args.id} removed")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from aaad.cli import CliError
    from billing.signup import coverage
    ctx, org_id = _ctx(args)
    lat = lon = None
    if args.at:
        lat, lon = coverage.parse_coordinates(args.at, "at")
    place = coverage.Place(args.area, args.postcode, lat, lon)
    if not place.given:
        raise CliError("give --area, --postcode or --at LAT,LON")
    got = ctx.tx(coverage.available, org_id, place)
    print(f"zones: {', '.join(got.zones) or '(none)'}")
    for p in got.products:
        print(f"  {p.id:5}  {p.name}")
    if not got.covered:
        print("not yet available here")
    return 0


def cmd_leads(args: argparse.Namespace) -> int:
    from billing.signup import leads
    ctx, org_id = _ctx(args)
    p = ctx.tx(leads.page, org_id, status=args.status, limit=500)
    if args.json:
        print(json.dumps([{k: getattr(x, k) for k in ("id", "name", "email", "phone", "area", "postcode",
                                                       "latitude", "longitude", "note", "status")}
                          | {"created_at": x.created_at.isoformat()} for x in p.items], indent=1))
        return 0
    for x in p.items:
        where = x.area or x.postcode or (f"{x.latitude},{x.longitude}" if x.latitude is not None else "")
        print(f"{x.id:5}  {x.created_at:%Y-%m-%d}  {x.status:10} {x.name:28} {x.email or x.phone or '':30} {where}")
    return 0


def cmd_contract_add(args: argparse.Namespace) -> int:
    from aaad.cli import CliError, now_utc
    from billing.signup import contracts
    ctx, org_id = _ctx(args)
    try:
        body = args.file.read_text()
    except OSError as e:
        raise CliError(f"cannot read {args.file}: {e.strerror}") from None
    c = ctx.tx(contracts.add_version, org_id, now_utc(), title=args.title, body=body)
    print(f"contract version {c.version} (id {c.id}) published: customers sign it from now on")
    return 0


def cmd_contracts(args: argparse.Namespace) -> int:
    from billing.signup import contracts
    ctx, org_id = _ctx(args)
    for c in ctx.tx(contracts.page, org_id, limit=500).items:
        print(f"{c.id:5}  version {c.version:3}  {c.created_at:%Y-%m-%d %H:%M}  {c.title}")
    return 0


def cmd_signatures(args: argparse.Namespace) -> int:
    from billing.signup import contracts
    ctx, org_id = _ctx(args)
    items = ctx.tx(contracts.signature_page, org_id, customer_id=args.customer, limit=500).items
    if args.json:
        print(json.dumps([{k: getattr(s, k) for k in ("id", "customer_id", "contract_id", "version", "full_name",
                                                       "ip", "user_agent")}
                          | {"signed_at": s.signed_at.isoformat()} for s in items], indent=1))
        return 0
    for s in items:
        print(f"{s.id:5}  customer {s.customer_id:6}  v{s.version}  {s.signed_at:%Y-%m-%d %H:%M}  {s.full_name:28} "
              f"{s.ip}")
    return 0


def cmd_pdf(args: argparse.Namespace) -> int:
    from billing.signup import contracts
    ctx, org_id = _ctx(args)
    pdf = _tx(ctx, contracts.signature_pdf, org_id, args.id)
    if str(args.output) == "-":
        sys.stdout.buffer.write(pdf)
    else:
        args.output.write_bytes(pdf)
        print(f"wrote {args.output} ({len(pdf)} bytes)")
    return 0
