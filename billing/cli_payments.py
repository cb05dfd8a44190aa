"""``aaad payment``, ``aaad refund``, ``aaad report`` and ``aaad timeline``: money on the command line.

Each command runs the same service functions the daemon and the API use, in
one transaction (``engine.begin()``).  Amounts are typed and shown in the
currency's major unit (``12.50``); ``--json`` and ``--csv`` give minor units
(integers), as the API does.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from aaad.errors import NotFound


def parse_amount(text: str, currency: str) -> int:
    """What the operator typed (``12.50``) in minor units (:func:`billing.money.parse_amount`)."""
    from billing import money
    return money.parse_amount(text, currency)


def fmt(amount: int, currency: str) -> str:
    """Minor units in the major unit, e.g. 1250 -> ``12.50`` (:func:`billing.money.format_amount`)."""
    from billing import money
    return money.format_amount(amount, currency)


def _run(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Map NotFound to a usage error naming what was not found."""
    def wrapped(args: argparse.Namespace) -> int:
        from aaad.cli import EXIT_USAGE, CliError
        try:
            return fn(args)
        except NotFound as e:
            raise CliError(e.message, EXIT_USAGE) from None
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _json(data: Any) -> None:
    print(json.dumps(data, indent=1, default=lambda v: v.isoformat() if isinstance(v, (date, datetime)) else str(v)))


# -- payments and refunds ------------------------------------------------------------------

@_run
def cmd_payment_add(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from aaad.view.write import LoginWriter
    from billing import payments, settings
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    now = now_utc()
    with ctx.engine.begin() as conn:
        cur = settings.get(conn, org_id).currency
        cid = payments.customer_ref(conn, org_id, args.customer)
        r = payments.record(conn, LoginWriter(ctx.box), org_id, cid, parse_amount(args.amount, cur), now,
                            method=args.method, reference=args.reference, note=args.note or "")
    p = r.payment
    if args.json:
        _json({"receipt": p.receipt_number, "payment_id": p.id, "customer": args.customer, "customer_id": cid,
               "amount": p.amount, "currency": cur, "method": p.method, "reference": p.reference,
               "allocations": [{"invoice_id": a.invoice_id, "invoice": a.invoice_number, "amount": a.amount}
                               for a in r.allocations],
               "credit": r.credit, "credit_available": r.credit_available, "balance": r.balance,
               "resumed_service_ids": list(r.resumed_service_ids)})
        return 0
    print(f"receipt {p.receipt_number}: {fmt(p.amount, cur)} {cur} from {args.customer} ({p.method} {p.reference})")
    alloc = ", ".join(f"{a.invoice_number or a.invoice_id} {fmt(a.amount, cur)}" for a in r.allocations)
    print(f"  allocated:       {alloc or 'nothing (no open invoice)'}")
    if r.credit:
        print(f"  to credit:       {fmt(r.credit, cur)}")
    print(f"  credit left:     {fmt(r.credit_available, cur)}")
    print(f"  balance owed:    {fmt(r.balance, cur)}")
    resumed = ", ".join(str(s) for s in r.resumed_service_ids)
    print(f"  services resumed: {resumed or 'none'}")
    return 0


@_run
def cmd_payment_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    from billing import payments, settings
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        st = settings.get(conn, org_id)
        cid = payments.customer_ref(conn, org_id, args.customer) if args.customer else None
        found = payments.list_payments(conn, org_id, customer_id=cid, method=args.method, limit=args.limit)
        names = payments.customer_usernames(conn, org_id, {p.customer_id for p in found})
    cur = st.currency
    if args.json:
        rows = [[p.receipt_number, p.id, names.get(p.customer_id), p.customer_id, p.amount, p.currency, p.method,
                 p.reference, p.received_at.isoformat(), p.note] for p in found]
        print_rows(args, rows, ["receipt", "id", "customer", "customer_id", "amount", "currency", "method",
                                "reference", "received_at", "note"])
        return 0
    print_rows(args, [[p.receipt_number, st.today(p.received_at).isoformat(), names.get(p.customer_id), p.method,
                       p.reference, fmt(p.amount, cur)] for p in found],
               ["receipt", "date", "customer", "method", "reference", f"amount ({cur})"])
    return 0


@_run
def cmd_refund_add(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc
    from billing import payments, settings
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.begin() as conn:
        cur = settings.get(conn, org_id).currency
        cid = payments.customer_ref(conn, org_id, args.customer)
        r = payments.refund(conn, org_id, cid, parse_amount(args.amount, cur), now_utc(), method=args.method,
                            reference=args.reference or "", reason=args.reason)
    if args.json:
        _json(asdict(r) | {"currency": cur, "customer": args.customer})
        return 0
    print(f"refund {r.id}: {fmt(r.amount, cur)} {cur} to {args.customer} by {r.method}; "
          f"credit left {fmt(r.credit_available, cur)}")
    return 0


@_run
def cmd_refund_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    from billing import payments, settings
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        cur = settings.get(conn, org_id).currency
        cid = payments.customer_ref(conn, org_id, args.customer) if args.customer else None
        found = payments.list_refunds(conn, org_id, customer_id=cid)
        names = payments.customer_usernames(conn, org_id, {r.customer_id for r in found})
    money = (lambda a: a) if args.json else (lambda a: fmt(a, cur))
    print_rows(args, [[r.id, r.created_at.isoformat()[:19], names.get(r.customer_id), r.method, r.reference,
                       money(r.amount), r.reason] for r in found],
               ["id", "at", "customer", "method", "reference", "amount", "reason"])
    return 0


# -- reports ---------------------------------------------------------------------------------

def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a date YYYY-MM-DD, not {text!r}") from None


@_run
def cmd_report(args: argparse.Namespace) -> int:
    from aaad.cli import Context, now_utc, print_rows
    from billing import reports, settings
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        st = settings.get(conn, org_id)
        today = st.today(now_utc())
        end = args.to or today
        rows: list[Any]
        row_type: type
        if args.report == "debtors":
            rows, row_type = reports.debtors(conn, org_id, args.date or today), reports.DebtorRow
        elif args.report == "payments":
            start = args.from_ or end.replace(day=1)
            rows, row_type = reports.payments_by_method(conn, org_id, start, end), reports.MethodRow
        else:
            start = args.from_ or end.replace(month=1, day=1)
            fn = reports.revenue if args.report == "revenue" else reports.vat
            rows = fn(conn, org_id, start, end, args.by)
            row_type = reports.RevenueRow if args.report == "revenue" else reports.VatRow
    if args.csv:
        print(reports.to_csv(rows, row_type), end="")
        return 0
    if args.json:
        _json([asdict(r) for r in rows])
        return 0
    names = list(row_type.__dataclass_fields__)
    money = {"revenue", "vat", "total", "vat_invoiced", "vat_credited", "vat_due", "current", "days_1_30",
             "days_31_60", "days_61_90", "days_over_90", "received", "refunded", "net"}

    def cell(name: str, v: Any) -> Any:
        return fmt(v, st.currency) if name in money else v.isoformat() if isinstance(v, date) else v
    table = [[cell(n, getattr(r, n)) for n in names] for r in rows]
    if rows:
        sums = reports.totals(rows)
        table.append([("total" if i == 0 else "") if n not in money else fmt(sums.get(n, 0), st.currency)
                      for i, n in enumerate(names)])
    print_rows(args, table, names)
    return 0


@_run
def cmd_timeline(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    from billing import payments, settings, timeline
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    with ctx.engine.connect() as conn:
        cur = settings.get(conn, org_id).currency
        cid = payments.customer_ref(conn, org_id, args.customer)
        items = timeline.timeline(conn, org_id, cid)
    if args.json:
        _json([asdict(i) for i in items])
        return 0

    def money(v: int | None) -> str:
        return "" if v is None else fmt(v, cur)
    print_rows(args, [[i.at.isoformat()[:19], i.kind, i.ref, money(i.amount), money(i.balance), i.description]
                      for i in items], ["at (UTC)", "what", "ref", "amount", "owed", "details"])
    return 0


def register(sub: Any) -> None:
    """Add ``payment``, ``refund``, ``report`` and ``timeline`` to the ``aaad`` command line."""
    p = sub.add_parser("payment", help="payments received (receipts)").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    pa = p.add_parser("add", help="record a payment: settles the oldest open invoices, the rest becomes "
                                  "credit; resumes services suspended for arrears once none is left")
    pa.add_argument("customer", help="customer username (or id)")
    pa.add_argument("amount", help="amount in the currency's major unit, e.g. 12.50")
    pa.add_argument("--method", required=True, help="cash, bank, mobile_money, card, ...")
    pa.add_argument("--reference", required=True, help="bank, receipt-book or transaction reference "
                                                       "(unique per method)")
    pa.add_argument("--note")
    pa.add_argument("--org")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(fn=cmd_payment_add)
    pl = p.add_parser("list", help="payments, newest first")
    pl.add_argument("--customer")
    pl.add_argument("--method")
    pl.add_argument("--limit", type=int, default=200, help="most shown (0: all)")
    pl.add_argument("--org")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(fn=cmd_payment_list)

    r = sub.add_parser("refund", help="refunds of customer credit").add_subparsers(
        dest="sub", metavar="SUB", required=True)
    ra = r.add_parser("add", help="pay back customer credit (at most the credit left)")
    ra.add_argument("customer", help="customer username (or id)")
    ra.add_argument("amount", help="amount in the currency's major unit")
    ra.add_argument("--method", required=True)
    ra.add_argument("--reason", required=True)
    ra.add_argument("--reference")
    ra.add_argument("--org")
    ra.add_argument("--json", action="store_true")
    ra.set_defaults(fn=cmd_refund_add)
    rl = r.add_parser("list", help="refunds, newest first")
    rl.add_argument("--customer")
    rl.add_argument("--org")
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(fn=cmd_refund_list)

    rep = sub.add_parser("report", help="month-end reports: revenue, vat, debtors, payments",
                         description="revenue and vat by month (or --by day) from the ledger; debtors aged by "
                                     "days past due on --date; payments by method.  Periods are local dates, "
                                     "both ends included (default: this year for revenue/vat, this month "
                                     "for payments).  --csv and --json give minor units.")
    rep.add_argument("report", choices=["revenue", "vat", "debtors", "payments"])
    rep.add_argument("--from", dest="from_", type=_date, metavar="YYYY-MM-DD")
    rep.add_argument("--to", type=_date, metavar="YYYY-MM-DD")
    rep.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="debtors: age on this date (default today)")
    rep.add_argument("--by", choices=["month", "day"], default="month")
    rep.add_argument("--org")
    out = rep.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true")
    out.add_argument("--json", action="store_true")
    rep.set_defaults(fn=cmd_report)

    t = sub.add_parser("timeline", help="a customer's invoices, payments, credit notes, refunds, adjustments "
                                        "and service changes (suspensions, resumptions), in time order")
    t.add_argument("customer", help="customer username (or id)")
    t.add_argument("--org")
    t.add_argument("--json", action="store_true")
    t.set_defaults(fn=cmd_timeline)
