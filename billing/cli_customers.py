"""``aaad customer``, ``aaad product`` and ``aaad service``: customers, the catalogue and
services on the command line.

Every command calls the service functions of :mod:`billing.customers`,
:mod:`billing.catalogue` and :mod:`billing.services` in one transaction (the
change feed carries login changes to a running daemon).  Money is typed as
decimals in the org's currency (``25.00``) and stored in minor units.
Customers are named by id, username, e-mail or phone; products by name or id.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aaad.cli_group import Command, handles_not_found
from aaad.cli_group import cli as cli_module
from aaad.errors import NotFound, ValidationError


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _percent_bp(text: str) -> int:
    """``"12.5"`` (percent) as basis points (1250)."""
    try:
        bp = Decimal(text.strip().rstrip("%")) * 100
    except InvalidOperation:
        raise ValidationError("percent", f"{text!r} is not a percentage like 10 or 12.5") from None
    if bp != bp.to_integral_value():
        raise ValidationError("percent", "at most two decimals (basis points)")
    return int(bp)


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def _octets(text: str) -> int:
    """``50G`` (powers of 1000) or a number of octets."""
    t = text.strip().upper().removesuffix("B")
    unit = t[-1:] if t[-1:] in "KMGT" else ""
    try:
        n = Decimal(t[:len(t) - len(unit)] if unit else t) * _UNITS[unit]
    except InvalidOperation:
        raise ValidationError("data_cap", f"{text!r} is not a size like 50G or 500000000") from None
    if n < 0 or n != n.to_integral_value():
        raise ValidationError("data_cap", f"{text!r} is not a whole number of octets")
    return int(n)


def _fields(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs or ():
        k, sep, v = p.partition("=")
        if not sep or not k.strip():
            raise ValidationError("custom_fields", f"{p!r}: give NAME=VALUE")
        out[k.strip()] = v
    return out


def _plain(obj: Any) -> dict[str, Any]:
    d = asdict(obj)
    for k, v in d.items():
        if isinstance(v, tuple):
            d[k] = list(v)
    return d


def _json_default(v: Any) -> str:
    return v.isoformat() if isinstance(v, date | datetime) else str(v)


def _dump(data: Any) -> None:
    print(json.dumps(data, default=_json_default, indent=1))


# -- lookups (read transactions) ---------------------------------------------------------

def _customer(conn: Any, org_id: int, key: str) -> Any:
    from billing import customers
    c = customers.find(conn, org_id, key)
    if c is None:
        raise NotFound("customer", key)
    return c


def _product(conn: Any, org_id: int, key: str) -> Any:
    from billing import catalogue
    p = catalogue.product_by_name(conn, org_id, key)
    if p is None and key.isdigit():
        p = catalogue.get_product(conn, org_id, int(key))
    if p is None:
        raise NotFound("product", key)
    return p


def _service_id(text: str) -> int:
    if not text.isdigit():
        raise ValidationError("service", f"{text!r} is not a service id (see: aaad service list)")
    return int(text)


def _currency(conn: Any, org_id: int) -> str:
    from billing import settings
    return settings.get(conn, org_id).currency


# -- customers -------------------------------------------------------------------------

def _customer_row(c: Any) -> list[Any]:
    return [c.id, c.username, c.name, c.email, c.phone, c.zone, c.status]


CUSTOMER_HEADERS = ["id", "username", "name", "email", "phone", "zone", "status"]


@handles_not_found
def cmd_customer_add(args: argparse.Namespace) -> int:
    from aaad import urls
    from billing import customer_accounts
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    done = ctx.tx(customer_accounts.create, _writer(ctx), ctx.box, org_id, cli.now_utc(),
                  base_url=urls.public_url(ctx.conf.web), package_id=args.package, charge=args.charge,
                  send_credentials=args.send_credentials, name=args.name, email=args.email, phone=args.phone,
                  address=args.address, zone=args.zone, custom_fields=_fields(args.field), status=args.status)
    c = done.customer
    if args.json:
        _dump({**_plain(c), "voucher_id": done.voucher.id if done.voucher is not None else None,
               "charged": done.charged, "credentials_sent": done.credentials_sent})
    else:
        print(f"customer {c.username} added (id {c.id})")
        if done.voucher is not None:
            print(f"voucher {done.voucher.id} assigned" + (" and invoiced" if done.charged else " free of charge"))
        if done.credentials_sent:
            print(f"login details e-mailed to {c.email}")
    return 0


@handles_not_found
def cmd_customer_list(args: argparse.Namespace) -> int:
    from billing import customers
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        found = customers.list_customers(conn, org_id, status=args.status, q=args.search, limit=args.limit,
                                         offset=args.offset)
    if args.json:
        _dump([_plain(c) for c in found])
    else:
        cli.print_rows(args, [_customer_row(c) for c in found], CUSTOMER_HEADERS)
    return 0


def _service_rows(conn: Any, org_id: int, found: list[Any]) -> list[list[Any]]:
    from billing import catalogue
    names: dict[int, str] = {}
    rows = []
    for s in found:
        if s.product_id not in names:
            p = catalogue.get_product(conn, org_id, s.product_id)
            names[s.product_id] = p.name if p is not None else str(s.product_id)
        rows.append([s.id, s.customer_id, names[s.product_id], s.state, s.username, s.start_date, s.end_date,
                     s.cancel_at, s.billed_through])
    return rows


SERVICE_HEADERS = ["id", "customer", "product", "state", "login", "start", "end", "cancel_at", "billed_through"]


@handles_not_found
def cmd_customer_show(args: argparse.Namespace) -> int:
    from billing import ledger, services
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        c = _customer(conn, org_id, args.customer)
        svcs = services.list_services(conn, org_id, customer_id=c.id)
        rows = _service_rows(conn, org_id, svcs)
        cur = _currency(conn, org_id)
        bal = ledger.balance(conn, org_id, c.id)
        credit = ledger.credit_available(conn, org_id, c.id)
    from billing.money import format_amount
    if args.json:
        _dump({"customer": _plain(c), "services": [dict(zip(SERVICE_HEADERS, r, strict=True)) for r in rows],
               "balance": format_amount(bal, cur), "credit": format_amount(credit, cur), "currency": cur})
        return 0
    for label, value in (("id", c.id), ("username", c.username), ("name", c.name), ("email", c.email),
                         ("phone", c.phone), ("address", c.address), ("zone", c.zone), ("status", c.status),
                         ("created", c.created_at.isoformat()),
                         ("closed", c.closed_at.isoformat() if c.closed_at else None),
                         ("balance", f"{format_amount(bal, cur)} {cur} (owed; negative: in credit)"),
                         ("credit", f"{format_amount(credit, cur)} {cur}")):
        if value is not None:
            print(f"{label + ':':10} {value}")
    for k, v in sorted(c.custom_fields.items()):
        print(f"{k + ':':10} {v}")
    print("\nservices:")
    cli.print_rows(args, rows, SERVICE_HEADERS)
    return 0


@handles_not_found
def cmd_customer_close(args: argparse.Namespace) -> int:
    from aaad.view.write import LoginWriter
    from billing import customers
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        c = _customer(conn, org_id, args.customer)
        closed = customers.close(conn, LoginWriter(ctx.box), org_id, c.id, cli.now_utc(), args.reason or "")
    print(f"customer {closed.username} closed")
    return 0


# -- products --------------------------------------------------------------------------

PROFILE_ARGS = ("rate_limit", "fup_rate_limit", "session_timeout", "pool", "address_list", "interim_interval")


def _product_row(p: Any, cur: str) -> list[Any]:
    from billing.money import format_amount
    period = f"{p.period_days} days" if p.period == "days" else p.period
    return [p.id, p.name, p.type, format_amount(p.price, cur), period, format_amount(p.setup_fee, cur),
            "yes" if p.taxable else "no", "yes" if p.on_portal else "no", ",".join(p.zones),
            p.data_cap, "yes" if p.active else "no"]


PRODUCT_HEADERS = ["id", "name", "type", "price", "period", "setup_fee", "taxable", "portal", "zones",
                   "data_cap", "active"]


def _product_json(p: Any, cur: str) -> dict[str, Any]:
    from billing.money import format_amount
    d = _plain(p)
    d["price_minor"], d["price"] = p.price, format_amount(p.price, cur)
    d["setup_fee_minor"], d["setup_fee"] = p.setup_fee, format_amount(p.setup_fee, cur)
    d["currency"] = cur
    return d


@handles_not_found
def cmd_product_add(args: argparse.Namespace) -> int:
    from aaad.view.write import LoginWriter
    from billing import catalogue
    from billing.money import parse_amount
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        cur = _currency(conn, org_id)
        prof = {k: getattr(args, k) for k in PROFILE_ARGS if getattr(args, k) is not None}
        p = catalogue.add_product(
            conn, LoginWriter(ctx.box), org_id, cli.now_utc(), name=args.name, type=args.type,
            price=parse_amount(args.price, cur, "price"), period=args.period, period_days=args.period_days,
            setup_fee=parse_amount(args.setup_fee, cur, "setup_fee"), taxable=not args.no_tax,
            on_portal=not args.hidden, zones=args.zone or [],
            data_cap=_octets(args.data_cap) if args.data_cap is not None else None, **prof)
    if args.json:
        _dump(_product_json(p, cur))
    else:
        print(f"product {p.name} added (id {p.id})" + (f", profile {p.profile_id}" if p.profile_id else ""))
    return 0


@handles_not_found
def cmd_product_list(args: argparse.Namespace) -> int:
    from billing import catalogue
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        cur = _currency(conn, org_id)
        found = catalogue.list_products(conn, org_id, portal_only=args.portal, zone=args.zone)
    if args.json:
        _dump([_product_json(p, cur) for p in found])
    else:
        cli.print_rows(args, [_product_row(p, cur) for p in found], PRODUCT_HEADERS)
    return 0


@handles_not_found
def cmd_product_update(args: argparse.Namespace) -> int:
    from aaad.view.write import LoginWriter
    from billing import catalogue
    from billing.money import parse_amount
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        cur = _currency(conn, org_id)
        p = _product(conn, org_id, args.product)
        values: dict[str, Any] = {k: getattr(args, k) for k in PROFILE_ARGS if getattr(args, k) is not None}
        if args.rename is not None:
            values["name"] = args.rename
        if args.price is not None:
            values["price"] = parse_amount(args.price, cur, "price")
        if args.setup_fee is not None:
            values["setup_fee"] = parse_amount(args.setup_fee, cur, "setup_fee")
        if args.period is not None:
            values["period"] = args.period
        if args.period_days is not None:
            values["period_days"] = args.period_days
        if args.data_cap is not None:
            values["data_cap"] = _octets(args.data_cap)
        if args.zone is not None:
            values["zones"] = [] if args.zone == [""] else args.zone
        for flag, key, value in (("tax", "taxable", True), ("no_tax", "taxable", False),
                                 ("show", "on_portal", True), ("hidden", "on_portal", False),
                                 ("sell", "active", True), ("retire", "active", False)):
            if getattr(args, flag):
                values[key] = value
        for k in args.clear or ():
            values[k.replace("-", "_")] = None
        if not values:
            raise cli.CliError("nothing to change: give at least one option (see --help)", cli.EXIT_USAGE)
        q = catalogue.update_product(conn, LoginWriter(ctx.box), org_id, p.id, cli.now_utc(), **values)
    if args.json:
        _dump(_product_json(q, cur))
    else:
        print(f"product {q.name} changed: {', '.join(sorted(values))}")
    return 0


@handles_not_found
def cmd_product_discount(args: argparse.Namespace) -> int:
    from billing import catalogue
    from billing.money import format_amount, parse_amount
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        cur = _currency(conn, org_id)
        p = _product(conn, org_id, args.product)
        if args.percent is not None or args.fixed is not None:
            if args.percent is not None:
                kind, value = "percent", _percent_bp(args.percent)
            else:
                kind, value = "fixed", parse_amount(args.fixed, cur, "value")
            until = _date(args.until, "until") if args.until else None
            d = catalogue.add_discount(conn, org_id, p.id, cli.now_utc(), kind=kind, value=value,
                                       periods=args.periods, until=until)
            if not args.json:
                print(f"discount {d.id} added to {p.name}")
                return 0
        elif args.periods is not None or args.until is not None:
            raise cli.CliError("give the discount: --percent P or --fixed AMOUNT", cli.EXIT_USAGE)
        found = catalogue.discounts_for(conn, org_id, p.id)
    rows = [[d.id, d.kind, f"{Decimal(d.value) / 100}%" if d.kind == "percent" else format_amount(d.value, cur),
             d.periods, d.until] for d in found]
    cli.print_rows(args, rows, ["id", "kind", "value", "periods", "until"])
    return 0


# -- services --------------------------------------------------------------------------

def _writer(ctx: Any) -> Any:
    from aaad.view.write import LoginWriter
    return LoginWriter(ctx.box)


_DONE = {"approve": "approved", "reject": "rejected", "change": "changed plan", "suspend": "suspended",
         "resume": "resumed"}


def _print_service(args: argparse.Namespace, s: Any, what: str) -> None:
    if args.json:
        _dump(_plain(s))
        return
    login = f", login {s.username}" if s.username else ""
    print(f"service {s.id} {what} ({s.state}{login})")


@handles_not_found
def cmd_service_add(args: argparse.Namespace) -> int:
    from aaad.view import store
    from billing import services
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    start = _date(args.start, "start") if args.start else None
    with ctx.engine.begin() as conn:
        c = _customer(conn, org_id, args.customer)
        p = _product(conn, org_id, args.product)
        s = services.add(conn, _writer(ctx), org_id, c.id, p.id, cli.now_utc(), start=start,
                         username=args.username, password=args.password)
        lg = store.get_login(conn, ctx.box, org_id, s.login_id) if s.login_id is not None else None
    if args.json:
        d = _plain(s)
        if lg is not None and args.password is None:
            d["password"] = lg.password.decode()
        _dump(d)
        return 0
    print(f"service {s.id} added for {c.username}: {p.name} ({s.state})")
    if lg is not None:
        print(f"login {lg.username}" + (f", password {lg.password.decode()}" if args.password is None else ""))
    return 0


def _simple(action: str) -> Command:
    """approve, reject, change, suspend, resume, cancel: one service function each."""
    @handles_not_found
    def run(args: argparse.Namespace) -> int:
        from billing import services
        cli = cli_module()
        ctx = cli.Context(args)
        org_id = ctx.org_id(args.org)
        sid = _service_id(args.service)
        now = cli.now_utc()
        w = _writer(ctx)
        with ctx.engine.begin() as conn:
            if action == "approve":
                s = services.approve(conn, w, org_id, sid, _date(args.start, "start"), now)
            elif action == "reject":
                s = services.reject(conn, w, org_id, sid, now, reason=args.reason or "")
            elif action == "change":
                p = _product(conn, org_id, args.product)
                s = services.change_plan(conn, w, org_id, sid, p.id, now,
                                         on=_date(args.on, "on") if args.on else None)
            elif action == "suspend":
                s = services.suspend(conn, w, org_id, sid, now, reason=args.reason)
            elif action == "resume":
                s = services.resume(conn, w, org_id, sid, now, reason=args.reason or "resumed by an operator")
            else:
                s = services.cancel(conn, w, org_id, sid, now, at_period_end=args.at_period_end,
                                    on=_date(args.on, "on") if args.on else None, reason=args.reason or "")
        _print_service(args, s, _DONE.get(action) or (
            "cancelled" if s.state == "cancelled" else f"cancels on {s.cancel_at}"))
        return 0
    return run


@handles_not_found
def cmd_service_list(args: argparse.Namespace) -> int:
    from billing import services
    cli = cli_module()
    ctx = cli.Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        cid = _customer(conn, org_id, args.customer).id if args.customer else None
        found = services.list_services(conn, org_id, customer_id=cid, state=args.state)
        rows = _service_rows(conn, org_id, found)
    if args.json:
        _dump([_plain(s) for s in found])
    else:
        cli.print_rows(args, rows, SERVICE_HEADERS)
    return 0


# -- the parsers -----------------------------------------------------------------------

def _common(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("--org", help="the org's slug (needed when there are several)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")


def _profile_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("RADIUS profile (internet products)")
    g.add_argument("--rate-limit", help="MikroTik rate limit, e.g. 10M/10M")
    g.add_argument("--fup-rate-limit", help="rate once the data cap is used up")
    g.add_argument("--session-timeout", type=int, help="seconds")
    g.add_argument("--pool", help="address pool (Framed-Pool)")
    g.add_argument("--address-list", help="MikroTik address list")
    g.add_argument("--interim-interval", type=int, help="accounting interim interval, seconds")
    g.add_argument("--data-cap", help="octets per cycle, e.g. 50G (powers of 1000) or 50000000000")


def register(sub: Any) -> None:
    """Add ``customer``, ``product`` and ``service`` to the ``aaad`` command line."""
    from billing.schema import CUSTOMER_STATUSES, PERIODS, PRODUCT_TYPES, SERVICE_STATES

    c = sub.add_parser("customer", help="billing customers").add_subparsers(dest="sub", metavar="SUB",
                                                                             required=True)
    ca = c.add_parser("add", help="add a customer (a username is generated from the name)")
    ca.add_argument("name")
    ca.add_argument("--email")
    ca.add_argument("--phone", help="national (in the org's country) or international (+...) number")
    ca.add_argument("--address")
    ca.add_argument("--zone")
    ca.add_argument("--status", default="active", choices=[s for s in CUSTOMER_STATUSES if s != "closed"])
    ca.add_argument("--field", action="append", metavar="NAME=VALUE", help="a custom field (repeatable)")
    ca.add_argument("--package", type=int, metavar="ID", help="assign a voucher of this voucher package at once "
                                                            "(free unless --charge)")
    ca.add_argument("--charge", action="store_true", help="invoice the assigned voucher at its package's price")
    ca.add_argument("--send-credentials", action="store_true",
                    help="set a first portal password and e-mail it with the username and the portal's link")
    _common(ca)
    ca.set_defaults(fn=cmd_customer_add)
    cl = c.add_parser("list", help="list customers")
    cl.add_argument("--status", choices=CUSTOMER_STATUSES)
    cl.add_argument("--search", "-q", help="a part of the name, username, e-mail or phone")
    cl.add_argument("--limit", type=int, default=200)
    cl.add_argument("--offset", type=int, default=0)
    _common(cl)
    cl.set_defaults(fn=cmd_customer_list)
    cs = c.add_parser("show", help="a customer, their services and balance")
    cs.add_argument("customer", help="id, username, e-mail or phone")
    _common(cs)
    cs.set_defaults(fn=cmd_customer_show)
    cc = c.add_parser("close", help="close a customer: services cancelled, logins removed, history kept")
    cc.add_argument("customer", help="id, username, e-mail or phone")
    cc.add_argument("--reason")
    _common(cc, json_flag=False)
    cc.set_defaults(fn=cmd_customer_close)

    p = sub.add_parser("product", help="the catalogue: products and their discounts").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    pa = p.add_parser("add", help="add a product (an internet product gets its RADIUS profile)")
    pa.add_argument("name")
    pa.add_argument("--type", required=True, choices=PRODUCT_TYPES)
    pa.add_argument("--price", required=True, help="per period, in the org's currency, e.g. 25.00")
    pa.add_argument("--period", choices=PERIODS, help="monthly (default), days (prepaid), daily, once (one_time)")
    pa.add_argument("--period-days", type=int, help="the prepaid period's length (with --period days)")
    pa.add_argument("--setup-fee", default="0", help="charged once at activation, e.g. 50.00")
    pa.add_argument("--no-tax", action="store_true", help="VAT-exempt")
    pa.add_argument("--hidden", action="store_true", help="not offered on the portal")
    pa.add_argument("--zone", action="append", help="a zone where it is sold (repeatable; none: everywhere)")
    _profile_args(pa)
    _common(pa)
    pa.set_defaults(fn=cmd_product_add)
    pl = p.add_parser("list", help="list products")
    pl.add_argument("--portal", action="store_true", help="only those offered on the portal")
    pl.add_argument("--zone", help="only those sold in this zone")
    _common(pl)
    pl.set_defaults(fn=cmd_product_list)
    pu = p.add_parser("update", help="change a product (and its RADIUS profile)")
    pu.add_argument("product", help="name or id")
    pu.add_argument("--rename", metavar="NEW_NAME")
    pu.add_argument("--price")
    pu.add_argument("--setup-fee")
    pu.add_argument("--period", choices=PERIODS)
    pu.add_argument("--period-days", type=int)
    pu.add_argument("--zone", action="append", help="replace the zones (repeatable; --zone '' for everywhere)")
    for flag, helptext in (("--tax", "VAT-taxable"), ("--no-tax", "VAT-exempt"), ("--show", "offer on the portal"),
                           ("--hidden", "do not offer on the portal"), ("--sell", "sell again"),
                           ("--retire", "stop selling (existing services go on)")):
        pu.add_argument(flag, action="store_true", help=helptext)
    pu.add_argument("--clear", action="append", metavar="FIELD",
                    choices=["rate-limit", "fup-rate-limit", "session-timeout", "pool", "address-list",
                             "interim-interval", "data-cap"], help="unset a profile field (repeatable)")
    _profile_args(pu)
    _common(pu)
    pu.set_defaults(fn=cmd_product_update)
    pd = p.add_parser("discount", help="add a discount rule to a product, or list them")
    pd.add_argument("product", help="name or id")
    g = pd.add_mutually_exclusive_group()
    g.add_argument("--percent", help="percent off each period, e.g. 10 or 12.5")
    g.add_argument("--fixed", help="amount off each period, e.g. 5.00")
    pd.add_argument("--periods", type=int, help="for the first N billed periods of a service")
    pd.add_argument("--until", help="for periods starting before this date (YYYY-MM-DD)")
    _common(pd)
    pd.set_defaults(fn=cmd_product_discount)

    s = sub.add_parser("service", help="customers' services (and their logins)").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    sa_ = s.add_parser("add", help="add a service: pending, or active from --start")
    sa_.add_argument("customer", help="id, username, e-mail or phone")
    sa_.add_argument("product", help="name or id")
    sa_.add_argument("--start", help="active from this date (YYYY-MM-DD); without it the service waits "
                                     "for 'service approve'")
    sa_.add_argument("--username", help="the login's name (default: the customer's username)")
    sa_.add_argument("--password", help="the login's secret (default: generated and printed)")
    _common(sa_)
    sa_.set_defaults(fn=cmd_service_add)
    ap = s.add_parser("approve", help="pending -> active from --start; for an active service, a later "
                                      "actual start (the unused days are credited)")
    ap.add_argument("service", help="service id")
    ap.add_argument("--start", required=True, help="YYYY-MM-DD")
    rj = s.add_parser("reject", help="pending -> rejected (its login removed)")
    rj.add_argument("service", help="service id")
    rj.add_argument("--reason")
    ch = s.add_parser("change", help="change plan (prorated)")
    ch.add_argument("service", help="service id")
    ch.add_argument("product", help="the new product: name or id")
    ch.add_argument("--on", help="from this date (default: today)")
    su = s.add_parser("suspend", help="active -> suspended (login suspended in the org's mode)")
    su.add_argument("service", help="service id")
    su.add_argument("--reason", required=True)
    re_ = s.add_parser("resume", help="suspended -> active")
    re_.add_argument("service", help="service id")
    re_.add_argument("--reason")
    cn = s.add_parser("cancel", help="cancel at once (login removed, unused days credited) or at period end")
    cn.add_argument("service", help="service id")
    cn.add_argument("--at-period-end", action="store_true", help="at the end of what is billed")
    cn.add_argument("--on", help="the first day without service (default: today)")
    cn.add_argument("--reason")
    for parser, action in ((ap, "approve"), (rj, "reject"), (ch, "change"), (su, "suspend"), (re_, "resume"),
                           (cn, "cancel")):
        _common(parser)
        parser.set_defaults(fn=_simple(action))
    sl = s.add_parser("list", help="list services")
    sl.add_argument("--customer", help="id, username, e-mail or phone")
    sl.add_argument("--state", choices=SERVICE_STATES)
    _common(sl)
    sl.set_defaults(fn=cmd_service_list)
