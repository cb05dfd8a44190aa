"""The built-in test gateway through the gateways service: start, the hosted page's buttons,
signed webhooks (forged ones refused), verify, and the 30-minute re-check job."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from billing.gateways import store
from billing.gateways import test as test_gw
from billing.gateways.base import FAILED, PENDING, SUCCESS, BadSignature, GatewayError
from billing.gateways.service import RECHECK_JOB, RECHECK_SECONDS
from tests.billing.gateways.world import OWED, Suspended, suspended_world
from tests.helpers import result_of

RETURN = "http://aaad.test/isp/portal/pay/return/"


def start(s: Suspended) -> Any:
    tx, started = result_of(s.gateways.start_balance(s.org, s.customer_id, lambda ref: RETURN + ref))
    return tx, started


def gw(s: Suspended) -> test_gw.TestGateway:
    g = result_of(s.gateways.gateway(s.org, "test"))
    assert isinstance(g, test_gw.TestGateway)
    return g


def press(s: Suspended, ref: str, status: str) -> store.Settled:
    """A button of the hosted page: the provider's record decided, its webhook delivered."""
    p = s.w.tx(test_gw.press, s.w.org_id, ref, status, s.now())
    headers, body = gw(s).webhook(p)
    return result_of(s.gateways.receive_webhook("test", s.org.slug, headers, body))


def test_start_opens_the_payment_at_the_gateway(engine: Any) -> None:
    """Starting sends the customer to the hosted page; the gateway holds the amount and the
    return URL; the start is logged with the provider's id."""
    s = suspended_world(engine)
    tx, started = start(s)
    assert started.redirect_url == f"gateway/test/isp/{tx.reference}"
    p = s.w.read(test_gw.provider_get, s.w.org_id, tx.reference)
    assert (p.amount, p.currency, p.status, p.return_url) == (OWED, "GHS", PENDING, RETURN + tx.reference)
    assert tx.provider_ref == p.provider_ref == started.provider_ref
    assert [(e.source, e.outcome) for e in s.w.read(store.events_of, s.w.org_id, tx.reference)] == [
        ("start", "started")]


def test_succeed_credits_once_and_resumes(engine: Any) -> None:
    """Succeed -> signed webhook -> payment recorded once and the service resumed; the same
    webhook again (a retry) credits nothing."""
    s = suspended_world(engine)
    tx, _ = start(s)
    r = press(s, tx.reference, SUCCESS)
    assert r.outcome == "credited" and r.resumed_service_ids == (s.service_id,)
    assert s.w.service(s.service_id).state == "active"
    p = s.w.read(test_gw.provider_get, s.w.org_id, tx.reference)
    headers, body = gw(s).webhook(p)
    assert result_of(s.gateways.receive_webhook("test", "isp", headers, body)).outcome == "duplicate"
    assert s.count_payments() == 1


def test_fail_credits_nothing_and_the_gateway_keeps_its_decision(engine: Any) -> None:
    """Fail -> failed, nothing credited; pressing Succeed after it changes nothing at the
    gateway (decided payments stay decided)."""
    s = suspended_world(engine)
    tx, _ = start(s)
    assert press(s, tx.reference, FAILED).outcome == "failed"
    assert press(s, tx.reference, SUCCESS).outcome == "ignored"
    assert s.count_payments() == 0 and s.tx(tx.reference).status == FAILED
    assert s.w.service(s.service_id).state == "suspended"


@pytest.mark.parametrize("forge", ["bad signature", "no signature", "other org's key", "edited body"])
def test_forged_webhooks_change_nothing(engine: Any, forge: str) -> None:
    """A webhook whose signature does not verify is refused (BadSignature) and nothing changes."""
    s = suspended_world(engine)
    other = suspended_world(engine, "isp-b", "bob")
    tx, _ = start(s)
    result_of(other.gateways.gateway(other.org, "test"))          # org B has its own key
    p = s.w.tx(test_gw.press, s.w.org_id, tx.reference, SUCCESS, s.now())
    headers, body = gw(s).webhook(p)
    if forge == "bad signature":
        headers = {**headers, test_gw.SIGNATURE_HEADER: "0" * 64}
    elif forge == "no signature":
        headers = {"content-type": "application/json"}
    elif forge == "other org's key":
        headers, _ = gw(other).webhook(p)
    else:
        doc = json.loads(body)
        doc["amount"] = 1
        body = json.dumps(doc, sort_keys=True).encode()
    with pytest.raises(BadSignature):
        result_of(s.gateways.receive_webhook("test", "isp", headers, body))
    assert s.count_payments() == 0 and s.tx(tx.reference).status == PENDING
    assert [e.source for e in s.w.read(store.events_of, s.w.org_id, tx.reference)] == ["start"]


def test_webhook_for_unknown_org_or_gateway_is_refused(engine: Any) -> None:
    """A webhook naming no known org, or one that never used a gateway, is refused."""
    s = suspended_world(engine)
    other = suspended_world(engine, "isp-b", "bob")
    tx, _ = start(s)
    p = s.w.tx(test_gw.press, s.w.org_id, tx.reference, SUCCESS, s.now())
    headers, body = gw(s).webhook(p)
    with pytest.raises(BadSignature):
        result_of(s.gateways.receive_webhook("test", "nobody", headers, body))
    with pytest.raises(BadSignature):
        result_of(s.gateways.receive_webhook("test", None, headers, body))
    with pytest.raises(BadSignature):
        result_of(other.gateways.receive_webhook("test", "isp-b", headers, body))
    assert s.count_payments() == 0


def test_check_verifies_with_the_gateway(engine: Any) -> None:
    """The return page's check: pending while the gateway says so; once the gateway says
    success (its webhook lost), verify credits it."""
    s = suspended_world(engine)
    tx, _ = start(s)
    assert result_of(s.gateways.check(s.org, tx)).status == PENDING
    s.w.tx(test_gw.press, s.w.org_id, tx.reference, SUCCESS, s.now())     # no webhook delivered
    after = result_of(s.gateways.check(s.org, s.tx(tx.reference)))
    assert after.status == SUCCESS and after.payment_id is not None and s.count_payments() == 1
    assert result_of(s.gateways.check(s.org, after)) == after               # decided: not asked again


def test_recheck_job_settles_pending_payments(engine: Any) -> None:
    """Stay pending, then the customer completes at the gateway and its webhook is lost:
    the re-check job (every 30 minutes, per org) credits it; a failed one is failed."""
    s = suspended_world(engine)
    job = s.gateways.job()
    assert job.name == RECHECK_JOB == "billing.gateway_recheck" and job.per_org
    assert job.plan.describe() == f"every {RECHECK_SECONDS}s" and RECHECK_SECONDS == 1800
    t1, _ = start(s)
    t2, _ = start(s)
    assert press(s, t1.reference, PENDING).outcome == "pending"
    assert result_of(s.gateways.recheck(s.w.org_id)) == 0
    s.w.tx(test_gw.press, s.w.org_id, t1.reference, SUCCESS, s.now())
    s.w.tx(test_gw.press, s.w.org_id, t2.reference, FAILED, s.now())
    assert result_of(s.gateways.recheck(s.w.org_id)) == 2
    assert s.tx(t1.reference).status == SUCCESS and s.tx(t2.reference).status == FAILED
    assert s.count_payments() == 1 and s.w.service(s.service_id).state == "active"
    sources = [(e.source, e.outcome) for e in s.w.read(store.events_of, s.w.org_id, t1.reference)]
    assert ("recheck", "credited") in sources


def test_recheck_gives_up_after_a_day(engine: Any) -> None:
    """A payment still pending at the gateway a day after it started is failed by the job."""
    s = suspended_world(engine)
    tx, _ = start(s)
    s.clock.advance(timedelta(hours=25).total_seconds())
    assert result_of(s.gateways.recheck(s.w.org_id)) == 1
    assert s.tx(tx.reference).status == FAILED
    assert [e.source for e in s.w.read(store.events_of, s.w.org_id, tx.reference)][-1] == "expire"


def test_gateway_errors_are_logged(engine: Any) -> None:
    """A gateway that cannot be asked leaves the payment pending with the error logged; one
    that cannot start fails the transaction and says why."""
    s = suspended_world(engine)
    tx, _ = start(s)
    with s.w.engine.begin() as c:
        from billing.gateways.schema import gateway_test_payments
        c.execute(gateway_test_payments.delete())
    assert result_of(s.gateways.check(s.org, tx)).status == PENDING
    assert s.tx(tx.reference).error and "knows no payment" in s.tx(tx.reference).error
    assert s.w.read(store.events_of, s.w.org_id, tx.reference)[-1].outcome == "error"

    def broken(org: Any, name: str, st: Any) -> Any:
        raise GatewayError("down for maintenance")
    s.gateways.build = broken  # type: ignore[method-assign]
    with pytest.raises(GatewayError):
        start(s)
    failed = s.w.read(store.list_for_customer, s.w.org_id, s.customer_id)[0]
    assert failed.status == FAILED and "down for maintenance" in (failed.error or "")
