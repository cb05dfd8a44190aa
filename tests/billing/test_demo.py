"""The demo ISP's billing (``aaad demo``): every state a user should see, books that balance, idempotent."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aaad import orgs
from aaad.demo import seed as seed_core
from billing import credit_notes, customers, invoices, ledger, payments, services
from billing.demo import seed

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def test_demo_shows_every_state_and_the_books_balance(engine: Any, box: Any) -> None:
    """Customers and services in every state, open and paid invoices, credit notes, a refund,
    a dunning suspension; ledger.check clean; a second run changes nothing."""
    list(seed_core(engine, box, NOW))
    lines = list(seed(engine, box, NOW))
    assert any("customers:" in ln for ln in lines)
    with engine.connect() as c:
        org = orgs.get_by_slug(c, "demo")
        assert org is not None
        statuses = {x.status for x in customers.list_customers(c, org.id)}
        states = {s.state for s in services.list_services(c, org.id)}
        inv_states = {i.state for i in invoices.list_invoices(c, org.id)}
        kinds = {n.kind for n in credit_notes.list_credit_notes(c, org.id)}
        refunds = payments.list_refunds(c, org.id)
        yaw = customers.find(c, org.id, "yaw@example.com")
        akosua = customers.find(c, org.id, "akosua@example.com")
        assert yaw is not None and akosua is not None
        yaw_balance = ledger.balance(c, org.id, yaw.id)
        akosua_credit = ledger.credit_available(c, org.id, akosua.id)
        assert ledger.check(c) == []
        from billing.orders import orders, tickets
        from billing.signup import contracts, coverage, forms, registrations
        kofi = customers.find(c, org.id, "kofi@example.com")
        assert kofi is not None
        (order,) = orders.of_customer(c, org.id, kofi.id)
        (ticket,) = tickets.of_customer(c, org.id, kofi.id)
        portal = (forms.get_settings(c, org.id).enabled, [z.name for z in coverage.list_zones(c, org.id)],
                  contracts.current(c, org.id) is not None,
                  [r.status for r in registrations.page(c, org.id).items])
    assert statuses == {"pending", "active", "suspended", "closed"}
    assert states == {"pending", "active", "suspended", "cancelled"}
    assert inv_states == {"open", "paid"}
    assert {"upgrade", "cancellation"} <= kinds
    assert len(refunds) == 1
    assert yaw_balance == 2875  # one full month of Home 10M with 15 % VAT, unpaid
    assert akosua_credit > 0
    assert (order.method, order.status, ticket.status) == ("request", "placed", "answered")
    assert portal == (True, ["Central", "Hillside"], True, ["pending"])
    assert list(seed(engine, box, NOW)) == ["billing demo already seeded"]
