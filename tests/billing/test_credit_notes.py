"""Credit notes: gap-free numbers, lines rounded like invoice lines, the journal entry
(receivable for the credited invoice's open part, customer credit for the rest, used
at once on other open invoices), voiding an invoice, manual credit notes; random
sequences keep every entry balanced and each balance = invoices - payments - credits."""
from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aaad.errors import ValidationError
from billing import credit_notes, invoices, ledger
from billing.invoices import LineIn
from billing.schema import credit_notes as cn_t
from billing.schema import journal_entries, postings
from tests.billing.fixtures_b import T0, at, invoice, note, pay, world

D = date


def issue_invoice(w: Any, cid: int, amount: int, day: date | None = None) -> invoices.Invoice:
    day = day or D(2027, 1, 1)
    return w.tx(invoices.issue, w.org_id, cid, [LineIn("Thing", amount)], day, at(day))


def test_manual_credit_note_on_an_open_invoice(engine: Any) -> None:
    """A manual credit note on an invoice settles its open part; VAT is credited per line."""
    w = world(engine, vat_bp=1500)
    cid = w.customer("Ann")
    inv = issue_invoice(w, cid, 1000)                      # total 1150
    cn = w.tx(credit_notes.add_manual, w.org_id, cid, 200, "outage 2 days", at(D(2027, 1, 5)), inv.id)
    assert (cn.number, cn.kind, cn.subtotal, cn.vat, cn.total, cn.reason) == ("CN-000001", "manual", 200, 30, 230,
                                                                              "outage 2 days")
    with engine.connect() as c:
        assert invoice(c, w.org_id, inv.id).paid == 230
        assert ledger.balance(c, w.org_id, cid) == 920
        assert ledger.account_balances(c, w.org_id)["revenue"] == -800
        assert ledger.check(c, w.org_id) == []


def test_credit_beyond_the_open_amount_becomes_credit_used_on_other_invoices(engine: Any) -> None:
    """Crediting more than the invoice's open part: the rest is customer credit, applied at once
    to the customer's other open invoices, and any left stays as credit."""
    w = world(engine)
    cid = w.customer("Bo")
    a = issue_invoice(w, cid, 500)
    b = issue_invoice(w, cid, 300, D(2027, 1, 2))
    w.tx(pay, w.org_id, cid, 400, at(D(2027, 1, 3)))        # a: 400 of 500 paid
    w.tx(credit_notes.add_manual, w.org_id, cid, 600, "goodwill", at(D(2027, 1, 4)), a.id)
    with engine.connect() as c:
        assert invoice(c, w.org_id, a.id).state == "paid"
        assert invoice(c, w.org_id, b.id).state == "paid"   # 100 to a, 300 to b
        assert ledger.credit_available(c, w.org_id, cid) == 200
        assert ledger.balance(c, w.org_id, cid) == -200
        assert ledger.check(c, w.org_id) == []


def test_void_invoice_keeps_its_number_and_paid_part_becomes_credit(engine: Any) -> None:
    """A voided invoice keeps its number, state void; a credit note of its total balances it,
    what had been paid becomes customer credit; voiding twice is refused."""
    w = world(engine)
    cid = w.customer("Cy")
    inv = issue_invoice(w, cid, 1000)
    w.tx(pay, w.org_id, cid, 300, at(D(2027, 1, 2)))
    cn = w.tx(credit_notes.void_invoice, w.org_id, inv.id, "wrong customer", at(D(2027, 1, 3)))
    assert cn is not None and (cn.kind, cn.total, cn.invoice_id) == ("void", 1000, inv.id)
    with engine.connect() as c:
        v = invoice(c, w.org_id, inv.id)
        assert (v.number, v.state, v.open_amount) == ("INV-000001", "void", 0)
        assert ledger.credit_available(c, w.org_id, cid) == 300
        assert ledger.check(c, w.org_id) == []
    with pytest.raises(ValidationError):
        w.tx(credit_notes.void_invoice, w.org_id, inv.id, "again", at(D(2027, 1, 3)))


def test_void_refused_for_an_invoice_already_credited(engine: Any) -> None:
    """An invoice a credit note already credited is not voided (the rest is credited by hand)."""
    w = world(engine)
    cid = w.customer("Dee")
    inv = issue_invoice(w, cid, 1000)
    w.tx(credit_notes.add_manual, w.org_id, cid, 100, "late install", T0, inv.id)
    with pytest.raises(ValidationError, match="already credited"):
        w.tx(credit_notes.void_invoice, w.org_id, inv.id, "oops", T0)


def test_reason_required_and_numbers_gap_free(engine: Any) -> None:
    """A credit note without a reason is refused and uses no number; numbers follow each other."""
    w = world(engine)
    cid = w.customer("Eve")
    with pytest.raises(ValidationError):
        w.tx(credit_notes.add_manual, w.org_id, cid, 100, "  ", T0)
    with pytest.raises(ValidationError):
        w.tx(credit_notes.add_manual, w.org_id, cid, 0, "zero", T0)
    a = w.tx(credit_notes.add_manual, w.org_id, cid, 100, "one", T0)
    b = w.tx(credit_notes.add_manual, w.org_id, cid, 100, "two", T0)
    assert (a.number, b.number) == ("CN-000001", "CN-000002")
    with engine.connect() as c:
        assert [n.number for n in credit_notes.list_credit_notes(c, w.org_id, customer_id=cid)] == \
            ["CN-000002", "CN-000001"]
        assert note(c, w.org_id, a.id).total == 100


def apply_op(engine: Any, org_id: int, op: str, cid: int, amount: int, day: date) -> None:
    with engine.begin() as c:
        open_ = ledger.open_invoices(c, org_id, cid)
        if op == "invoice":
            invoices.issue(c, org_id, cid, [LineIn("x", amount), LineIn("y", amount // 3 + 1)], day, at(day))
        elif op == "pay":
            pay(c, org_id, cid, amount, at(day))
        elif op == "credit":
            credit_notes.add_manual(c, org_id, cid, amount, "r", at(day))
        elif op == "credit_inv" and open_:
            credit_notes.add_manual(c, org_id, cid, amount, "r", at(day), open_[0].id)
        elif op == "void" and open_:
            credit_notes.void_invoice(c, org_id, open_[-1].id, "r", at(day))


ops = st.lists(st.tuples(st.sampled_from(["invoice", "pay", "credit", "credit_inv", "void"]),
                         st.integers(0, 2), st.integers(1, 5000)), min_size=1, max_size=25)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=ops)
def test_random_sequences_keep_the_books(engine: Any, seq: list[tuple[str, int, int]]) -> None:
    """After any sequence of invoices, payments, credit notes and voids: every journal entry
    balances, the books check is clean and each customer's balance = invoices - payments - credits."""
    with engine.begin() as c:
        from aaad.schema import orgs as orgs_t
        n = c.execute(sa.select(sa.func.count()).select_from(orgs_t)).scalar_one()
    w = world(engine, f"o{n}", vat_bp=1750)
    cids = [w.customer(f"C{n} {i}") for i in range(3)]
    day = D(2027, 1, 1)
    for op, who, amount in seq:
        cid = cids[who]
        day += timedelta(days=1)
        # refused as a whole (voiding an invoice a credit note already credited): nothing written
        with contextlib.suppress(ValidationError):
            apply_op(engine, w.org_id, op, cid, amount, day)
    with engine.connect() as c:
        assert ledger.check(c, w.org_id) == []
        sums = c.execute(sa.select(postings.c.entry_id, sa.func.sum(postings.c.amount))
                         .where(postings.c.org_id == w.org_id).group_by(postings.c.entry_id)).all()
        assert all(s == 0 for _, s in sums)
        for cid in cids:
            inv_total = sum(i.total for i in invoices.list_invoices(c, w.org_id, customer_id=cid, limit=10**6))
            cn_total = c.execute(sa.select(sa.func.coalesce(sa.func.sum(cn_t.c.total), 0)).where(
                cn_t.c.org_id == w.org_id, cn_t.c.customer_id == cid)).scalar_one()
            paid = -c.execute(sa.select(sa.func.coalesce(sa.func.sum(postings.c.amount), 0)).select_from(
                postings.join(journal_entries, journal_entries.c.id == postings.c.entry_id)).where(
                journal_entries.c.kind == "payment", postings.c.customer_id == cid)).scalar_one()
            assert ledger.balance(c, w.org_id, cid) == inv_total - paid - cn_total


# -- the command line ------------------------------------------------------------------------

def test_invoice_and_credit_note_commands(tmp_path: Any, capsys: Any) -> None:
    """`aaad invoice list|show|void` and `aaad credit-note add|list` (SQLite, in process)."""
    import json

    from aaad import app, cli
    from aaad.db import sync_engine
    conf = tmp_path / "aaad.toml"
    conf.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[accounting]\nrrd_enabled = false\n')

    def aaad(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        try:
            rc = cli.main(["-c", str(conf), *args])
        except SystemExit as e:
            rc = int(e.code or 0)
        out = capsys.readouterr()
        return rc, out.out + out.err
    assert aaad("db", "upgrade")[0] == 0
    engine = sync_engine(app.database_url(app.load_config(str(conf))))
    w = world(engine, vat_bp=1500)
    cid = w.customer("Ann Lee")
    issue_invoice(w, cid, 1000)
    issue_invoice(w, cid, 2000, D(2027, 1, 2))
    rc, out = aaad("invoice", "list", "--customer", "ann-lee", "--json")
    assert rc == 0 and [(r["number"], r["total"], r["state"]) for r in json.loads(out)] == [
        ("INV-000002", 2300, "open"), ("INV-000001", 1150, "open")]
    rc, out = aaad("invoice", "list")
    assert rc == 0 and "11.50" in out and "23.00" in out
    rc, out = aaad("credit-note", "add", "ann-lee", "2.00", "--reason", "outage", "--invoice", "INV-000001")
    assert rc == 0 and "CN-000001" in out and "2.30" in out, out
    rc, out = aaad("credit-note", "add", "ann-lee", "2.005", "--reason", "x")
    assert rc == 2 and "decimal" in out
    rc, out = aaad("credit-note", "add", "nobody", "2", "--reason", "x")
    assert rc == 2 and "no customer" in out
    rc, out = aaad("invoice", "show", "INV-000001", "--json")
    data = json.loads(out)
    assert (data["paid"], data["open"], data["credit_notes"]) == (230, 920, [{"number": "CN-000001", "kind": "manual",
                                                                               "total": 230}])
    rc, out = aaad("invoice", "show", "INV-000002")
    assert rc == 0 and "Thing" in out and "23.00" in out
    rc, out = aaad("invoice", "void", "INV-000002", "--reason", "sent twice")
    assert rc == 0 and "CN-000002" in out
    rc, out = aaad("invoice", "void", "INV-000002", "--reason", "again")
    assert rc == 2 and "void" in out
    rc, out = aaad("credit-note", "list", "--json")
    assert [(r["number"], r["kind"], r["invoice"], r["total"]) for r in json.loads(out)] == [
        ("CN-000002", "void", "INV-000002", 2300), ("CN-000001", "manual", "INV-000001", 230)]
    rc, out = aaad("billing", "check")
    assert rc == 0 and "books clean" in out
    with engine.begin() as c:     # tamper: an invoice paid without an allocation
        c.execute(sa.text("UPDATE invoices SET paid = paid + 1 WHERE number = 'INV-000001'"))
    rc, out = aaad("billing", "check", "--json")
    assert rc == 1 and json.loads(out)[0]["problem"] == "allocations"
    engine.dispose()
