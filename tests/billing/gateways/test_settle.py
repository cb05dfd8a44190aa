"""Gateway transactions are credited exactly once, on SQLite and PostgreSQL: duplicate, late,
out-of-order and racing reports, amount/currency mismatches, unknown references."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aaad.errors import ValidationError
from billing.gateways import store
from billing.gateways.base import FAILED, PENDING, SUCCESS
from tests.billing.fixtures_a import race
from tests.billing.gateways.world import LATE, OWED, Suspended, suspended_world


def _tx(s: Suspended) -> Any:
    return s.w.tx(store.create_for_balance, s.w.box, s.w.org_id, s.customer_id, LATE)


def _settle(s: Suspended, ref: str, status: str, amount: int = OWED, currency: str = "GHS",
            later: int = 0, gateway: str | None = "test") -> store.Settled:
    return s.w.tx(store.settle, s.w.writer, s.w.org_id, ref, status, amount, currency, "tgw_1",
                  LATE + timedelta(minutes=later), gateway=gateway)


def test_success_credits_once_and_resumes(engine: Any) -> None:
    """A success moves pending -> success, records one payment (method test, our reference)
    and billing resumes the suspended service in the same transaction; logged."""
    s = suspended_world(engine)
    tx = _tx(s)
    assert tx.status == PENDING and tx.amount == OWED and tx.currency == "GHS" and tx.gateway == "test"
    assert tx.reference.startswith("pay-") and tx.purpose == "balance"
    r = _settle(s, tx.reference, SUCCESS)
    assert r.outcome == "credited" and r.resumed_service_ids == (s.service_id,)
    (p,) = s.payments()
    assert (p.method, p.reference, p.amount) == ("test", tx.reference, OWED)
    after = s.tx(tx.reference)
    assert after.status == SUCCESS and after.payment_id == p.id and after.provider_ref == "tgw_1"
    assert s.w.service(s.service_id).state == "active" and s.w.balance(s.customer_id) == 0
    assert [e.outcome for e in s.w.read(store.events_of, s.w.org_id, tx.reference)] == ["credited"]


def test_duplicate_late_and_out_of_order_reports_change_nothing(engine: Any) -> None:
    """A success delivered twice credits once; a failure after the success is ignored; a
    pending after it too; each is logged with its outcome."""
    s = suspended_world(engine)
    ref = _tx(s).reference
    assert _settle(s, ref, SUCCESS).outcome == "credited"
    assert _settle(s, ref, SUCCESS, later=5).outcome == "duplicate"
    assert _settle(s, ref, FAILED, later=6).outcome == "ignored"
    assert _settle(s, ref, PENDING, later=7).outcome == "pending"
    assert s.count_payments() == 1 and s.tx(ref).status == SUCCESS
    outcomes = [e.outcome for e in s.w.read(store.events_of, s.w.org_id, ref)]
    assert outcomes == ["credited", "duplicate", "ignored", "pending"]


def test_failure_credits_nothing_and_a_late_success_is_credited(engine: Any) -> None:
    """A failure fails the transaction and credits nothing; if the gateway later says it
    took the money after all, that success is credited (once)."""
    s = suspended_world(engine)
    ref = _tx(s).reference
    assert _settle(s, ref, FAILED).outcome == "failed"
    assert s.count_payments() == 0 and s.tx(ref).status == FAILED
    assert s.w.service(s.service_id).state == "suspended"
    assert _settle(s, ref, FAILED).outcome == "ignored"
    assert _settle(s, ref, SUCCESS).outcome == "credited"
    assert _settle(s, ref, SUCCESS).outcome == "duplicate"
    assert s.count_payments() == 1 and s.tx(ref).status == SUCCESS


@pytest.mark.parametrize(("amount", "currency"), [(OWED - 1, "GHS"), (OWED + 100, "GHS"), (OWED, "NGN")])
def test_amount_or_currency_mismatch_is_refused(engine: Any, amount: int, currency: str) -> None:
    """A success for another amount or currency is logged and refused: still pending, nothing
    credited; the right one later credits."""
    s = suspended_world(engine)
    ref = _tx(s).reference
    r = _settle(s, ref, SUCCESS, amount=amount, currency=currency)
    assert r.outcome == "mismatch" and s.count_payments() == 0
    tx = s.tx(ref)
    assert tx.status == PENDING and tx.error and "refused" in tx.error
    assert _settle(s, ref, SUCCESS).outcome == "credited" and s.count_payments() == 1


def test_unknown_reference_and_another_orgs_reference(engine: Any) -> None:
    """A report for a reference the org does not have changes nothing (logged as unknown),
    including org B's report naming org A's reference."""
    a = suspended_world(engine, "isp-a")
    b = suspended_world(engine, "isp-b", "bob")
    ref = _tx(a).reference
    assert _settle(a, "pay-nope", SUCCESS).outcome == "unknown"
    assert _settle(b, ref, SUCCESS).outcome == "unknown"
    assert a.count_payments() == 0 and b.count_payments() == 0 and a.tx(ref).status == PENDING
    assert [e.outcome for e in b.w.read(store.events_of, b.w.org_id)] == ["unknown"]


def test_report_from_another_gateway_is_ignored(engine: Any) -> None:
    """A report naming another gateway than the transaction's changes nothing."""
    s = suspended_world(engine)
    ref = _tx(s).reference
    assert _settle(s, ref, SUCCESS, gateway="paystack").outcome == "ignored"
    assert s.count_payments() == 0 and s.tx(ref).status == PENDING


def test_two_settles_race_and_credit_once(engine: Any) -> None:
    """Two successes of the same payment in two transactions at once (a webhook racing the
    return page): one credits, the other finds it done; one payment, one resumption."""
    s = suspended_world(engine)
    ref = _tx(s).reference

    def one(conn: Any) -> store.Settled:
        return store.settle(conn, s.w.writer, s.w.org_id, ref, SUCCESS, OWED, "GHS", "tgw_1", LATE,
                            gateway="test")
    out = race(engine, store, "_find", one, one)
    assert all(isinstance(r, store.Settled) for r in out), out
    assert sorted(r.outcome for r in out) == ["credited", "duplicate"]
    assert s.count_payments() == 1 and s.w.balance(s.customer_id) == 0
    assert s.w.check() == []


def test_nothing_owed_or_no_gateway_refuses_to_start(engine: Any) -> None:
    """No transaction without an outstanding balance, nor when the org takes no online payment."""
    s = suspended_world(engine)
    s.w.tx(store.set_gateway, s.w.box, s.w.org_id, "none", LATE)
    with pytest.raises(ValidationError) as e:
        _tx(s)
    assert e.value.field == "gateway"
    s.w.tx(store.set_gateway, s.w.box, s.w.org_id, "test", LATE)
    s.w.pay(s.customer_id, OWED, "bank-1", now=LATE)
    with pytest.raises(ValidationError) as e:
        _tx(s)
    assert e.value.field == "amount" and s.count_tx() == 0
    with pytest.raises(ValidationError):
        s.w.tx(store.set_gateway, s.w.box, s.w.org_id, "bitcoin", LATE)


def test_settings_keep_one_key(engine: Any) -> None:
    """The org's test key is made once and kept (encrypted) in gateway_settings."""
    s = suspended_world(engine)
    k1 = s.w.tx(store.ensure_settings, s.w.box, s.w.org_id, LATE).secrets["test_key"]
    k2 = s.w.tx(store.ensure_settings, s.w.box, s.w.org_id, LATE).secrets["test_key"]
    assert k1 == k2 and len(k1) == 44
    st = s.w.read(store.gateway_settings_of, s.w.box, s.w.org_id)
    assert st.gateway == "test" and st.secrets["test_key"] == k1


def test_reports_without_a_provider_ref(engine: Any) -> None:
    """A report that carries no provider id keeps the one the start recorded (or none)."""
    s = suspended_world(engine)
    ref = _tx(s).reference
    s.w.tx(store.started, s.w.org_id, ref, "tgw_start", LATE)
    r = s.w.tx(store.settle, s.w.writer, s.w.org_id, ref, SUCCESS, OWED, "GHS", None, LATE, gateway="test")
    assert r.outcome == "credited" and s.tx(ref).provider_ref == "tgw_start"
    ref2 = s.w.tx(store.create, s.w.org_id, s.customer_id, "test", 100, "GHS", "balance", LATE).reference
    r = s.w.tx(store.settle, s.w.writer, s.w.org_id, ref2, FAILED, 100, "GHS", None, LATE, gateway="test")
    assert r.outcome == "failed" and s.tx(ref2).provider_ref is None
