"""``aaad voucher``: voucher packages, batches (with their cards as PDF and CSV) and vouchers.

Every command calls the service functions of :mod:`billing.vouchers` in one
transaction; their logins reach a running daemon through the change feed.
Prices are typed as decimals in the org's currency (``5.00``); times as
``90m``, ``1h``, ``2d`` (or seconds); data as ``500M``, ``2G`` (powers of 1000).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from aaad.cli_group import cli as cli_module
from aaad.cli_group import group, handles_not_found
from aaad.errors import NotFound, ValidationError

_DURATION = re.compile(r"\s*([0-9]+)\s*([smhdw]?)\s*", re.I)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(text: str, field: str) -> int:
    """``90m``, ``1h``, ``2d``, ``1w`` or plain seconds."""
    m = _DURATION.fullmatch(text or "")
    if m is None or int(m.group(1)) <= 0:
        raise ValidationError(field, f"{text!r} is not a duration like 30m, 1h, 2d or 3600 (seconds)")
    return int(m.group(1)) * _SECONDS[m.group(2).lower()]


def _octets(text: str, field: str) -> int:
    from aaad.fup import parse_size
    n = parse_size(text, field)
    if n <= 0:
        raise ValidationError(field, "more than 0")
    return n


def _hours(text: str) -> int:
    s = seconds(text, "validity")
    if s % 3600:
        raise ValidationError("validity", "whole hours (e.g. 24h or 7d)")
    return s // 3600


def _instant(text: str, field: str) -> datetime:
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date and time like 2026-12-31T23:59+00:00") from None
    if d.tzinfo is None:
        raise ValidationError(field, "give the time zone, e.g. 2026-12-31T23:59+00:00")
    return d


def _json_default(v: Any) -> str:
    return v.isoformat() if isinstance(v, date | datetime) else str(v)


def _dump(data: Any) -> None:
    print(json.dumps(data, default=_json_default, indent=1))


def _common(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("--org", help="the org's slug (needed when there are several)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- packages ------------------------------------------------------------------------------

def _limits(p: Any) -> str:
    from billing.vouchers.cards import duration_text, size_text
    out = []
    if p.time_limit:
        out.append(duration_text(p.time_limit))
    if p.data_limit:
        out.append(size_text(p.data_limit))
    return ", ".join(out) or "-"


def _validity(p: Any) -> str:
    from billing.vouchers.cards import duration_text
    if p.validity_hours:
        return duration_text(p.validity_hours * 3600) + " from first use"
    return f"until {p.expires_at.isoformat()}" if p.expires_at else "-"


PACKAGE_HEADERS = ["id", "name", "price", "speed", "limits", "validity", "devices", "bind_mac", "code_only",
                   "portal", "active"]


def _package_row(p: Any) -> list[Any]:
    return [p.id, p.name, p.price_text, p.rate_limit or "-", _limits(p), _validity(p), p.shared_users,
            "yes" if p.bind_mac else "no", "yes" if p.code_only else "no", "yes" if p.on_portal else "no",
            "yes" if p.active else "no"]


@handles_not_found
def cmd_package_add(args: argparse.Namespace) -> int:
    from aaad.view import store
    from aaad.view.write import LoginWriter
    from billing import settings
    from billing.money import parse_amount
    from billing.vouchers import packages
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        cur = settings.get(conn, org_id).currency
        profile_id = None
        if args.profile:
            prof = store.profile_by_name(conn, org_id, args.profile)
            if prof is None and args.profile.isdigit():
                prof = store.get_profile(conn, org_id, int(args.profile))
            if prof is None:
                raise NotFound("profile", args.profile)
            profile_id = prof.id
        p = packages.add(
            conn, LoginWriter(ctx.box), org_id, cli.now_utc(), name=args.name,
            price=parse_amount(args.price, cur, "price"), profile_id=profile_id, rate_limit=args.rate_limit,
            time_limit=seconds(args.time, "time_limit") if args.time else None,
            data_limit=_octets(args.data, "data_limit") if args.data else None,
            validity_hours=_hours(args.validity) if args.validity else None,
            expires_at=_instant(args.expires, "expires_at") if args.expires else None,
            shared_users=args.shared_users, bind_mac=args.bind_mac, code_only=args.code_only,
            code_length=args.code_length, prefix=args.prefix, on_portal=not args.hidden)
    if args.json:
        _dump(asdict(p))
    else:
        print(f"voucher package {p.name} added (id {p.id}): {p.price_text}, {_limits(p)}, {_validity(p)}")
    return 0


@handles_not_found
def cmd_package_list(args: argparse.Namespace) -> int:
    from billing.vouchers import packages
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        found = packages.list_packages(conn, org_id, active=None if args.all else True)
    if args.json:
        _dump([asdict(p) for p in found])
    else:
        cli.print_rows(args, [_package_row(p) for p in found], PACKAGE_HEADERS)
    return 0


# -- batches --------------------------------------------------------------------------------

def _write(path: str, data: bytes | str) -> None:
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


@handles_not_found
def cmd_batch_create(args: argparse.Namespace) -> int:
    from aaad.view.write import LoginWriter
    from billing.vouchers import batches, cards, packages
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    if args.count > 500:
        _progress(f"generating {args.count} vouchers...")
    with ctx.engine.begin() as conn:
        p = packages.find(conn, org_id, args.package)
        b = batches.create(conn, LoginWriter(ctx.box), org_id, p.id, args.count, cli.now_utc(), note=args.note,
                           code_length=args.code_length, prefix=args.prefix)
    if args.csv:
        with ctx.engine.connect() as conn:
            _write(args.csv, cards.batch_csv(conn, ctx.box, org_id, b.id))
    if args.pdf:
        _write_pdf(ctx, org_id, b.id, args.pdf)
    if args.json:
        _dump(asdict(b))
    else:
        print(f"batch {b.id}: {b.count} vouchers of {b.package_name}"
              + (f", CSV {args.csv}" if args.csv else "") + (f", PDF {args.pdf}" if args.pdf else ""))
    return 0


def _write_pdf(ctx: Any, org_id: int, batch_id: int, path: str) -> None:
    from billing import documents
    from billing.vouchers import cards
    with ctx.engine.connect() as conn:
        s = cards.sheet(conn, ctx.box, org_id, batch_id,
                        progress=lambda done, total: _progress(f"cards: {done}/{total}"))
    if len(s.cards) > 100:
        _progress(f"rendering the PDF of {len(s.cards)} cards...")
    _write(path, documents.html_to_pdf(cards.render_html(s)))


def _batch_id(text: str) -> int:
    if not text.isdigit():
        raise ValidationError("batch", f"{text!r} is not a batch id (see: aaad voucher batch list)")
    return int(text)


@handles_not_found
def cmd_batch_export(args: argparse.Namespace) -> int:
    from billing.vouchers import batches, cards
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    bid = _batch_id(args.batch)
    with ctx.engine.connect() as conn:
        batches.require(conn, org_id, bid)
        if args.csv:
            _write(args.csv, cards.batch_csv(conn, ctx.box, org_id, bid))
    if args.pdf:
        _write_pdf(ctx, org_id, bid, args.pdf)
    if not (args.csv or args.pdf):
        raise cli.CliError("say where: --pdf FILE and/or --csv FILE", cli.EXIT_USAGE)
    print(f"batch {bid}: " + ", ".join(f"{k} {v}" for k, v in (("CSV", args.csv), ("PDF", args.pdf)) if v))
    return 0


BATCH_HEADERS = ["id", "package", "count", "created", "revoked", "note"]


@handles_not_found
def cmd_batch_list(args: argparse.Namespace) -> int:
    from billing.vouchers import batches, packages
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        pid = packages.find(conn, org_id, args.package).id if args.package else None
        found = batches.page(conn, org_id, package_id=pid, limit=args.limit).items
    if args.json:
        _dump([asdict(b) for b in found])
    else:
        cli.print_rows(args, [[b.id, b.package_name, b.count, b.created_at.isoformat(timespec="seconds"),
                               b.revoked_at.isoformat(timespec="seconds") if b.revoked_at else "", b.note]
                              for b in found], BATCH_HEADERS)
    return 0


@handles_not_found
def cmd_batch_revoke(args: argparse.Namespace) -> int:
    from aaad.view.write import LoginWriter
    from billing.vouchers import batches
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    b = ctx.tx(batches.revoke, LoginWriter(ctx.box), org_id, _batch_id(args.batch), cli.now_utc())
    print(f"batch {b.id} revoked ({b.count} vouchers of {b.package_name})")
    return 0


# -- vouchers -------------------------------------------------------------------------------

VOUCHER_HEADERS = ["id", "code", "package", "batch", "state", "price", "customer", "sold", "first_use",
                   "time_left", "data_left"]


def _voucher_row(v: Any) -> list[Any]:
    from billing.vouchers.cards import duration_text, size_text
    return [v.id, v.code, v.package_name, v.batch_id or "", v.state, v.price_text, v.customer_id or "",
            v.sold_at.isoformat(timespec="seconds") if v.sold_at else "",
            v.first_used_at.isoformat(timespec="seconds") if v.first_used_at else "",
            duration_text(v.time_left) if v.time_left else ("0" if v.time_left == 0 else "-"),
            size_text(v.data_left) if v.data_left else ("0" if v.data_left == 0 else "-")]


@handles_not_found
def cmd_voucher_list(args: argparse.Namespace) -> int:
    from billing import customers
    from billing.vouchers import packages, vouchers
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    now = cli.now_utc()
    with ctx.engine.connect() as conn:
        pid = packages.find(conn, org_id, args.package).id if args.package else None
        cid = None
        if args.customer:
            c = customers.find(conn, org_id, args.customer)
            if c is None:
                raise NotFound("customer", args.customer)
            cid = c.id
        found = vouchers.page(conn, org_id, now, batch_id=_batch_id(args.batch) if args.batch else None,
                              package_id=pid, customer_id=cid, state=args.state, limit=args.limit,
                              box=ctx.box if args.passwords else None).items
    if args.json:
        _dump([asdict(v) for v in found])
    else:
        headers = VOUCHER_HEADERS + (["password"] if args.passwords else [])
        cli.print_rows(args, [_voucher_row(v) + ([v.password or ""] if args.passwords else []) for v in found],
                       headers)
    return 0


@handles_not_found
def cmd_voucher_show(args: argparse.Namespace) -> int:
    from billing.vouchers import vouchers
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    now = cli.now_utc()
    with ctx.engine.connect() as conn:
        v = vouchers.find(conn, org_id, args.voucher, now, box=ctx.box)
        h = vouchers.history(conn, org_id, v.id, now)
    if args.json:
        _dump({"voucher": asdict(v), "history": [asdict(e) for e in h.entries],
               "sessions": [asdict(s) for s in h.sessions]})
        return 0
    row = dict(zip(VOUCHER_HEADERS, _voucher_row(v), strict=True))
    for k in ("code", "package", "state", "price", "batch", "customer", "sold", "first_use", "time_left",
              "data_left"):
        if row[k] not in ("", None):
            print(f"{k + ':':11} {row[k]}")
    print(f"{'password:':11} {v.password}")
    if v.expires_at:
        print(f"{'expires:':11} {v.expires_at.isoformat(timespec='seconds')}")
    if v.bound_mac:
        print(f"{'bound to:':11} {v.bound_mac}")
    print("\nhistory:")
    cli.print_rows(args, [[e.at.isoformat(timespec="seconds"), e.what, e.detail] for e in h.entries],
                   ["at", "what", "detail"])
    return 0


@handles_not_found
def cmd_voucher_revoke(args: argparse.Namespace) -> int:
    from aaad.view.write import LoginWriter
    from billing.vouchers import vouchers
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    now = cli.now_utc()
    with ctx.engine.begin() as conn:
        v = vouchers.find(conn, org_id, args.voucher, now)
        v = vouchers.revoke(conn, LoginWriter(ctx.box), org_id, v.id, now)
    print(f"voucher {v.code} revoked")
    return 0


def register(sub: Any) -> None:
    """``aaad voucher package|batch|list|show|revoke``."""
    from billing.vouchers.vouchers import STATES
    v = group(sub, "voucher", "hotspot vouchers: packages, batches of printed cards, vouchers")

    pk = v.add_parser("package", help="voucher packages (what a voucher gives and costs)").add_subparsers(
        dest="what", metavar="SUB", required=True)
    pa = pk.add_parser("add", help="add a voucher package")
    pa.add_argument("name")
    pa.add_argument("--price", required=True, help="in the org's currency, e.g. 5.00")
    speed = pa.add_mutually_exclusive_group()
    speed.add_argument("--rate-limit", help="MikroTik rate limit, e.g. 5M/5M (a profile is made for the package)")
    speed.add_argument("--profile", help="an existing profile (name or id) for the speed")
    pa.add_argument("--time", help="online time in total, e.g. 30m, 1h, 2d")
    pa.add_argument("--data", help="data in total (in+out), e.g. 500M, 2G")
    valid = pa.add_mutually_exclusive_group()
    valid.add_argument("--validity", help="valid for this long from first use, in hours or days: 24h, 7d")
    valid.add_argument("--expires", help="valid until this time, e.g. 2026-12-31T23:59+00:00")
    pa.add_argument("--shared-users", type=int, default=1, help="devices at once (default 1)")
    pa.add_argument("--bind-mac", action="store_true", help="bind each voucher to its first device's MAC")
    pa.add_argument("--code-only", action="store_true", help="the code is the password too")
    pa.add_argument("--code-length", type=int, default=8, help="characters after the prefix (6 to 16)")
    pa.add_argument("--prefix", default="", help="printed before each code, up to 8 letters or digits")
    pa.add_argument("--hidden", action="store_true", help="not sold on the portal")
    _common(pa)
    pa.set_defaults(fn=cmd_package_add)
    pl = pk.add_parser("list", help="list voucher packages")
    pl.add_argument("--all", action="store_true", help="retired ones too")
    _common(pl)
    pl.set_defaults(fn=cmd_package_list)

    bt = v.add_parser("batch", help="batches of vouchers (printed cards)").add_subparsers(
        dest="what", metavar="SUB", required=True)
    bc = bt.add_parser("create", help="generate vouchers of a package (and their cards)")
    bc.add_argument("--package", required=True, help="name or id")
    bc.add_argument("--count", type=int, required=True)
    bc.add_argument("--note", default="")
    bc.add_argument("--code-length", type=int, help="instead of the package's")
    bc.add_argument("--prefix", help="instead of the package's")
    bc.add_argument("--pdf", metavar="FILE", help="write the cards as a PDF")
    bc.add_argument("--csv", metavar="FILE", help="write the codes and passwords as CSV")
    _common(bc)
    bc.set_defaults(fn=cmd_batch_create)
    be = bt.add_parser("export", help="a batch's cards as PDF and/or its codes as CSV")
    be.add_argument("batch", help="the batch id")
    be.add_argument("--pdf", metavar="FILE")
    be.add_argument("--csv", metavar="FILE")
    _common(be, json_flag=False)
    be.set_defaults(fn=cmd_batch_export)
    bl = bt.add_parser("list", help="list batches, newest first")
    bl.add_argument("--package", help="name or id")
    bl.add_argument("--limit", type=int, default=100)
    _common(bl)
    bl.set_defaults(fn=cmd_batch_list)
    br = bt.add_parser("revoke", help="revoke every voucher of a batch")
    br.add_argument("batch", help="the batch id")
    _common(br, json_flag=False)
    br.set_defaults(fn=cmd_batch_revoke)

    vl = v.add_parser("list", help="list vouchers")
    vl.add_argument("--batch", help="a batch id")
    vl.add_argument("--package", help="name or id")
    vl.add_argument("--customer", help="id, username, e-mail or phone")
    vl.add_argument("--state", choices=STATES, help="the login's state as stored")
    vl.add_argument("--passwords", action="store_true", help="show the passwords")
    vl.add_argument("--limit", type=int, default=100)
    _common(vl)
    vl.set_defaults(fn=cmd_voucher_list)
    vs = v.add_parser("show", help="a voucher, its password and history")
    vs.add_argument("voucher", help="code or id")
    _common(vs)
    vs.set_defaults(fn=cmd_voucher_show)
    vr = v.add_parser("revoke", help="revoke a voucher (its sessions are disconnected)")
    vr.add_argument("voucher", help="code or id")
    _common(vr, json_flag=False)
    vr.set_defaults(fn=cmd_voucher_revoke)
