"""``aaad billing run|check``, ``aaad invoice list|show|void``, ``aaad credit-note add|list``.

``billing run`` runs the daily ``billing.run`` job through aaad's jobs
machinery (:mod:`aaad.jobs_cli`), under the same ``job_runs`` rules as the
daemon: a date already done is not run again, one another runner holds is
left alone, a killed run resumes after its last committed chunk.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

from aaad.cli_group import group
from billing import credit_notes, invoices, ledger, money, run

# -- billing run / check ---------------------------------------------------------------------

class Bar:
    """A progress bar on stderr: customers done / due, per org."""

    def __init__(self, stream: Any = sys.stderr, width: int = 30):
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.slugs: dict[int, str] = {}

    def __call__(self, org_id: int, run_date: date, done: int, due: int) -> None:
        filled = self.width if not due else min(self.width, self.width * done // due)
        text = (f"billing {self.slugs.get(org_id, org_id)} {run_date}: [{'#' * filled}{'.' * (self.width - filled)}]"
                f" {done}/{due} customers")
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def cmd_billing_run(args: argparse.Namespace) -> int:
    from twisted.internet import defer

    from aaad import orgs
    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc, print_rows
    from aaad.cycles import zone
    from aaad.jobs_cli import _app, _run_reactor
    from aaad.schedules import Daily
    from billing.service import BillingService
    ctx = Context(args)
    a = _app(args)
    job = a.scheduler.jobs[run.JOB]
    service = next(c for c in a.components if isinstance(c, BillingService))
    with ctx.engine.connect() as conn:
        targets = orgs.list_all(conn)
        if args.org:
            only = orgs.get_by_slug(conn, args.org)
            if only is None:
                raise CliError(f"no org {args.org!r} (see: aaad org list)", EXIT_USAGE)
            targets = [only]
    run_date: date | None = None
    if args.date:
        try:
            run_date = date.fromisoformat(args.date)
        except ValueError:
            raise CliError(f"--date {args.date!r} is not a date (YYYY-MM-DD)", EXIT_USAGE) from None
    now = now_utc()
    plan: list[tuple[Any, str, Any]] = []
    for org in targets:
        tz = zone(org.timezone)
        if run_date is not None:
            if run_date > now.astimezone(tz).date():
                raise CliError(f"--date {run_date} is after today in {org.slug}: nothing is billed ahead of "
                               "its day", EXIT_USAGE)
            assert isinstance(job.plan, Daily)
            key, start = job.plan.occurrence(run_date, tz)
        else:
            key, start = job.plan.period_at(now, tz)
        plan.append((org, key, start))
    bar = Bar()
    bar.slugs = {o.id: o.slug for o in targets}
    if not args.json:
        service.run_progress.append(bar)

    @defer.inlineCallbacks
    def run_all():  # type: ignore[no-untyped-def]
        a.db.start()
        out = []
        try:
            for org, key, start in plan:
                outcome = yield a.scheduler.run_period(job, org.id, key, start)
                bar.end()
                got = yield a.db.read(run.summary, org.id, date.fromisoformat(key))
                row = yield a.db.read(_job_row, job.name, org.id, key)
                out.append((org, key, outcome, got, row))
        finally:
            yield a.db.stop()
        return out

    results = _run_reactor(run_all)
    words = {"ran": "done", "done": "already done", "busy": "running elsewhere", "failed": "failed",
             "lost": "taken over"}
    rows = []
    for org, key, outcome, got, row in results:
        rows.append([org.slug, key, words.get(outcome, outcome), got.customers, got.invoices,
                     got.total if args.json else money.format_amount(got.total, org.currency), org.currency,
                     (row.error or "") if row is not None and outcome == "failed" else
                     (row.lease_owner if row is not None and outcome == "busy" else "")])
    print_rows(args, rows, ["org", "date", "status", "customers", "invoices", "total", "currency", "note"])
    return 1 if any(o not in ("ran", "done") for _, _, o, _, _ in results) else 0


def _job_row(conn: Any, job: str, org_id: int, key: str) -> Any:
    from aaad import jobs
    return jobs.get_run(conn, job, org_id, key)


def cmd_billing_check(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    ctx = Context(args)
    org_id = ctx.org_id(args.org) if args.org else None
    with ctx.engine.connect() as conn:
        problems = ledger.check(conn, org_id)
    if problems or args.json:
        print_rows(args, [[p.org_id, p.what, p.ref, p.detail] for p in problems], ["org", "problem", "ref", "detail"])
    else:
        print("books clean: every entry balances, every invoice's paid amount equals its allocations, "
              "every receivable its open invoices")
    return 1 if problems else 0


# -- invoices ------------------------------------------------------------------------------

def _customer(ctx: Any, org_id: int, ref: str) -> int:
    from aaad.cli import EXIT_USAGE, CliError
    from billing import customers
    with ctx.engine.connect() as conn:
        c = customers.find(conn, org_id, ref)
    if c is None:
        raise CliError(f"no customer {ref!r} (an id, username, e-mail or phone; see: aaad customer list)", EXIT_USAGE)
    return c.id


def _invoice(ctx: Any, org_id: int, number: str) -> invoices.Invoice:
    from aaad.cli import EXIT_USAGE, CliError
    with ctx.engine.connect() as conn:
        inv = invoices.by_number(conn, org_id, number)
    if inv is None:
        raise CliError(f"no invoice {number!r} (see: aaad invoice list)", EXIT_USAGE)
    return inv


def cmd_invoice_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    cid = _customer(ctx, org_id, args.customer) if args.customer else None
    with ctx.engine.connect() as conn:
        found = invoices.list_invoices(conn, org_id, customer_id=cid, state=args.state, limit=args.limit)
    def amount(v: int, currency: str) -> Any:
        return v if args.json else money.format_amount(v, currency)
    rows = [[i.number, i.customer_id, i.state, i.issue_date.isoformat(), i.due_date.isoformat(),
             amount(i.total, i.currency), amount(i.paid, i.currency), i.currency] for i in found]
    print_rows(args, rows, ["number", "customer", "state", "issued", "due", "total", "paid", "currency"])
    return 0


def _invoice_data(inv: invoices.Invoice, notes: list[credit_notes.CreditNote]) -> dict[str, Any]:
    return {"number": inv.number, "customer_id": inv.customer_id, "state": inv.state,
            "issue_date": inv.issue_date.isoformat(), "due_date": inv.due_date.isoformat(),
            "currency": inv.currency, "subtotal": inv.subtotal, "discount": inv.discount, "vat": inv.vat,
            "total": inv.total, "paid": inv.paid, "open": inv.open_amount,
            "lines": [{"description": ln.description, "kind": ln.kind, "service_id": ln.service_id,
                       "period_start": ln.period_start.isoformat() if ln.period_start else None,
                       "period_end": ln.period_end.isoformat() if ln.period_end else None,
                       "quantity": ln.quantity, "unit_price": ln.unit_price, "discount": ln.discount,
                       "net": ln.net, "vat_bp": ln.vat_bp, "vat": ln.vat, "total": ln.total} for ln in inv.lines],
            "credit_notes": [{"number": n.number, "kind": n.kind, "total": n.total} for n in notes]}


def cmd_invoice_show(args: argparse.Namespace) -> int:
    from aaad.cli import Context
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    inv = _invoice(ctx, org_id, args.number)
    with ctx.engine.connect() as conn:
        notes = credit_notes.list_credit_notes(conn, org_id, invoice_id=inv.id)
    data = _invoice_data(inv, notes)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    c = inv.currency
    print(f"invoice {inv.number}  customer {inv.customer_id}  {inv.state}")
    print(f"issued {inv.issue_date}  due {inv.due_date}")
    width = max([len(ln.description) for ln in inv.lines] + [11])
    for ln in inv.lines:
        disc = f"  -{money.format_amount(ln.discount, c)}" if ln.discount else ""
        print(f"  {ln.description.ljust(width)}  {money.format_amount(ln.unit_price * ln.quantity, c):>12}{disc}"
              f"  VAT {money.format_amount(ln.vat, c):>10}  {money.format_amount(ln.total, c):>12}")
    print(f"  {'subtotal'.ljust(width)}  {money.format_amount(inv.subtotal, c):>12}")
    print(f"  {'VAT'.ljust(width)}  {money.format_amount(inv.vat, c):>12}")
    print(f"  {'total'.ljust(width)}  {money.format_amount(inv.total, c):>12} {c}")
    print(f"  {'paid'.ljust(width)}  {money.format_amount(inv.paid, c):>12}")
    for n in notes:
        print(f"credited by {n.number} ({n.kind}): {money.format_amount(n.total, c)}")
    return 0


def cmd_invoice_void(args: argparse.Namespace) -> int:
    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import ValidationError
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    inv = _invoice(ctx, org_id, args.number)
    try:
        cn = ctx.tx(credit_notes.void_invoice, org_id, inv.id, args.reason, now_utc())
    except ValidationError as e:
        raise CliError(f"{e.field}: {e.message}", EXIT_USAGE) from None
    print(f"invoice {inv.number} voided" + (f"; credit note {cn.number} of {money.format_amount(cn.total, cn.currency)}"
                                             if cn is not None else ""))
    return 0


# -- credit notes ---------------------------------------------------------------------------

def cmd_credit_note_add(args: argparse.Namespace) -> int:
    from aaad import orgs
    from aaad.cli import EXIT_USAGE, CliError, Context, now_utc
    from aaad.errors import ValidationError
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    cid = _customer(ctx, org_id, args.customer)
    with ctx.engine.connect() as conn:
        org = orgs.get(conn, org_id)
    assert org is not None
    try:
        amount = money.parse_amount(args.amount, org.currency)
    except ValidationError as e:
        raise CliError(f"amount: {e.message}", EXIT_USAGE) from None
    inv_id = _invoice(ctx, org_id, args.invoice).id if args.invoice else None
    try:
        cn = ctx.tx(credit_notes.add_manual, org_id, cid, amount, args.reason, now_utc(), inv_id,
                    taxable=not args.untaxed)
    except ValidationError as e:
        raise CliError(f"{e.field}: {e.message}", EXIT_USAGE) from None
    if args.json:
        print(json.dumps({"number": cn.number, "customer_id": cn.customer_id, "subtotal": cn.subtotal,
                          "vat": cn.vat, "total": cn.total, "currency": cn.currency}, indent=1))
    else:
        print(f"credit note {cn.number}: {money.format_amount(cn.total, cn.currency)} {cn.currency} to customer {cid}")
    return 0


def cmd_credit_note_list(args: argparse.Namespace) -> int:
    from aaad.cli import Context, print_rows
    ctx = Context(args)
    org_id = ctx.org_id(args.org)
    cid = _customer(ctx, org_id, args.customer) if args.customer else None
    with ctx.engine.connect() as conn:
        found = credit_notes.list_credit_notes(conn, org_id, customer_id=cid, limit=args.limit)
        numbers = {i: invoices.get(conn, org_id, i) for i in {n.invoice_id for n in found if n.invoice_id}}
    rows = [[n.number, n.customer_id, n.kind, n.issue_date.isoformat(),
             _number(numbers.get(n.invoice_id)) if n.invoice_id else None,
             n.total if args.json else money.format_amount(n.total, n.currency), n.currency, n.reason] for n in found]
    print_rows(args, rows, ["number", "customer", "kind", "issued", "invoice", "total", "currency", "reason"])
    return 0


def register(sub: Any) -> None:
    """Add ``billing run|check``, ``invoice list|show|void`` and ``credit-note add|list``."""
    b = group(sub, "billing", "billing runs, the books check, settings")
    r = b.add_parser("run", help="bill every service due (the daily billing.run job, exactly once per date; "
                                 "missed days are caught up)")
    r.add_argument("--date", help="the run's date, YYYY-MM-DD (default: the run due now)")
    r.add_argument("--org", help="only this org (default: every org)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(fn=cmd_billing_run)
    c = b.add_parser("check", help="verify the books: entries balance, invoices match their allocations "
                                   "(exit 1 and list the problems if not)")
    c.add_argument("--org", help="only this org (default: every org)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(fn=cmd_billing_check)

    i = group(sub, "invoice", "invoices: list, show, void")
    ls = i.add_parser("list", help="invoices, newest first")
    ls.add_argument("--customer", help="a customer id, username, e-mail or phone")
    ls.add_argument("--state", choices=("draft", "open", "paid", "void"))
    ls.add_argument("--limit", type=int, default=200)
    ls.add_argument("--org")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_invoice_list)
    sh = i.add_parser("show", help="one invoice with its lines")
    sh.add_argument("number")
    sh.add_argument("--org")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(fn=cmd_invoice_show)
    v = i.add_parser("void", help="void an invoice (it keeps its number; a credit note balances it)")
    v.add_argument("number")
    v.add_argument("--reason", required=True)
    v.add_argument("--org")
    v.set_defaults(fn=cmd_invoice_void)

    n = group(sub, "credit-note", "credit notes: add one by hand, list them")
    na = n.add_parser("add", help="credit a customer by hand (with the reason)")
    na.add_argument("customer", help="a customer id, username, e-mail or phone")
    na.add_argument("amount", help="in the currency's major unit (12.50), before VAT unless the org's prices "
                                   "include it")
    na.add_argument("--reason", required=True)
    na.add_argument("--invoice", help="the invoice it credits (its open amount is settled first)")
    na.add_argument("--untaxed", action="store_true", help="no VAT on it")
    na.add_argument("--org")
    na.add_argument("--json", action="store_true")
    na.set_defaults(fn=cmd_credit_note_add)
    nl = n.add_parser("list", help="credit notes, newest first")
    nl.add_argument("--customer", help="a customer id, username, e-mail or phone")
    nl.add_argument("--limit", type=int, default=200)
    nl.add_argument("--org")
    nl.add_argument("--json", action="store_true")
    nl.set_defaults(fn=cmd_credit_note_list)


def _number(inv: invoices.Invoice | None) -> str | None:
    return None if inv is None else inv.number
