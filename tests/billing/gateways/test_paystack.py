"""Paystack through the gateways service, in process: treq's StubTreq over the fake Paystack
(tests/fake_paystack.py, answering with Paystack's documented examples).  Initialize, verify and
its statuses, webhooks (signed, delivered twice, late, out of order, forged, for another org,
wrong amount or currency, other events), the re-check job, the settings and the errors."""
from __future__ import annotations

import json
from typing import Any

import pytest
from treq.testing import StubTreq

from billing.gateways import paystack, store
from billing.gateways.base import FAILED, PENDING, SUCCESS, BadSignature, GatewayError
from billing.gateways.service import Gateways
from tests.billing.gateways.world import OWED, Suspended, suspended_world
from tests.fake_paystack import FakePaystack, example
from tests.helpers import result_of

RETURN = "http://aaad.test/isp/portal/pay/return/"
FAKE_URL = "http://paystack.fake"


class World:
    def __init__(self, s: Suspended, fake: FakePaystack, stub: StubTreq):
        self.s, self.fake, self.stub = s, fake, stub

    def start(self) -> Any:
        d = self.s.gateways.start_balance(self.s.org, self.s.customer_id, lambda ref: RETURN + ref)
        self.stub.flush()
        return result_of(d)

    def check(self, ref: str) -> Any:
        d = self.s.gateways.check(self.s.org, self.s.tx(ref))
        self.stub.flush()
        return result_of(d)

    def recheck(self) -> int:
        d = self.s.gateways.recheck(self.s.w.org_id)
        self.stub.flush()
        return result_of(d)

    def hook(self, headers: dict[str, str], body: bytes, org: str = "isp") -> store.Settled:
        return result_of(self.s.gateways.receive_webhook("paystack", org, headers, body))

    def log(self, ref: str) -> list[tuple[str, str]]:
        return [(e.source, e.outcome) for e in self.s.w.read(store.events_of, self.s.w.org_id, ref)]


def paystack_world(engine: Any, slug: str = "isp", username: str = "ann",
                   fake: FakePaystack | None = None) -> World:
    s = suspended_world(engine, slug, username)
    fake = fake or FakePaystack()
    stub = StubTreq(fake.resource())
    s.gateways = Gateways(s.db, s.w.box, s.clock, s.w.writer, http=stub)
    s.w.tx(store.set_paystack, s.w.box, s.w.org_id, s.now(), secret_key=fake.secret_key, base_url=FAKE_URL)
    s.w.tx(store.set_gateway, s.w.box, s.w.org_id, "paystack", s.now())
    return World(s, fake, stub)


@pytest.fixture
def pw(engine: Any) -> World:
    return paystack_world(engine)


def test_start_initializes_at_paystack(pw: World) -> None:
    """Initialize is the documented request: bearer key, JSON with the e-mail, the amount in the
    subunit as an integer, the currency, our reference, the return URL; the customer goes to the
    authorization_url Paystack answered, the access code kept."""
    tx, started = pw.start()
    (req,) = pw.fake.requests()
    assert (req.method, req.path) == ("POST", "/transaction/initialize")
    assert req.headers["authorization"] == f"Bearer {pw.fake.secret_key}"
    assert req.headers["content-type"] == "application/json"
    assert req.json["amount"] == OWED and isinstance(req.json["amount"], int)
    assert (req.json["currency"], req.json["reference"], req.json["callback_url"]) == \
        ("GHS", tx.reference, RETURN + tx.reference)
    assert "@" in req.json["email"] and req.json["metadata"]["org"] == "isp"
    p = pw.fake.payment(tx.reference)
    assert started.redirect_url == f"{pw.fake.url}/checkout/{p.access_code}"
    assert tx.provider_ref == started.provider_ref == p.access_code and tx.gateway == "paystack"
    assert pw.log(tx.reference) == [("start", "started")]


def test_the_customers_email_is_sent(engine: Any) -> None:
    """The customer's own e-mail address goes to Paystack when there is one."""
    import sqlalchemy as sa

    from billing.schema import customers
    w = paystack_world(engine)
    with w.s.w.engine.begin() as c:
        c.execute(sa.update(customers).where(customers.c.id == w.s.customer_id).values(email="ann@example.com"))
    w.start()
    assert w.fake.requests()[0].json["email"] == "ann@example.com"


def test_webhook_credits_once(pw: World) -> None:
    """The signed charge.success credits the payment once and resumes the service; delivered again
    (Paystack retries) it is a duplicate; late after the return page's verify, also nothing more."""
    tx, _ = pw.start()
    pw.fake.complete(tx.reference, webhook=False)
    headers, body = pw.fake.webhook(tx.reference)
    r = pw.hook(headers, body)
    assert r.outcome == "credited" and r.resumed_service_ids == (pw.s.service_id,)
    assert pw.s.tx(tx.reference).provider_ref == str(pw.fake.payment(tx.reference).id)
    assert pw.hook(headers, body).outcome == "duplicate"
    assert pw.check(tx.reference).status == SUCCESS          # decided: not asked again
    assert pw.s.count_payments() == 1 and pw.s.w.service(pw.s.service_id).state == "active"
    assert pw.s.payments()[0].method == "paystack" and pw.s.payments()[0].amount == OWED


def test_late_webhook_after_verify(pw: World) -> None:
    """The return page verified and credited; the webhook arriving later credits nothing."""
    tx, _ = pw.start()
    pw.fake.complete(tx.reference, webhook=False)
    assert pw.check(tx.reference).status == SUCCESS
    assert pw.hook(*pw.fake.webhook(tx.reference)).outcome == "duplicate"
    assert pw.s.count_payments() == 1
    assert pw.log(tx.reference) == [("start", "started"), ("verify", "credited"), ("webhook", "duplicate")]


def test_out_of_order(pw: World) -> None:
    """A success webhook before Paystack's own record says so (out of order with verify): credited
    once; a verify saying 'abandoned' after it changes nothing; a 'failed' verify after success is ignored."""
    tx, _ = pw.start()
    assert pw.hook(*pw.fake.webhook(tx.reference)).outcome == "credited"      # fake still says abandoned
    assert pw.s.tx(tx.reference).status == SUCCESS
    pw.fake.complete(tx.reference, "failed")
    from billing.gateways.service import Gateways as _G
    assert isinstance(pw.s.gateways, _G)
    d = pw.s.gateways.gateway(pw.s.org, "paystack")
    gw = result_of(d)
    ev_d = gw.verify(pw.s.tx(tx.reference))
    pw.stub.flush()
    ev = result_of(ev_d)
    settled = pw.s.w.tx(store.settle, pw.s.w.writer, pw.s.w.org_id, ev.reference, ev.status, ev.amount,
                        ev.currency, ev.provider_ref, pw.s.now(), source="verify", gateway="paystack")
    assert settled.outcome == "ignored" and pw.s.tx(tx.reference).status == SUCCESS
    assert pw.s.count_payments() == 1


@pytest.mark.parametrize("forge", ["bad signature", "no signature", "another key", "edited body",
                                   "other org", "test gateway's route"])
def test_forged_webhooks_change_nothing(engine: Any, forge: str) -> None:
    """A webhook that does not verify under the org's own key is refused and changes nothing: a wrong
    or missing signature, one signed with another account's key, a body edited after signing, a
    webhook signed for org B delivered to org A's URL, or one sent to the test gateway's handler."""
    a = paystack_world(engine)
    b = paystack_world(engine, "isp-b", "bob")
    tx, _ = a.start()
    headers, body = a.fake.webhook(tx.reference)
    name, org = "paystack", "isp"
    if forge == "bad signature":
        headers = {**headers, "x-paystack-signature": "0" * 128}
    elif forge == "no signature":
        headers = {"content-type": "application/json"}
    elif forge == "another key":
        headers, body = a.fake.webhook(tx.reference, key="sk_test_" + "a" * 40)
    elif forge == "edited body":
        doc = json.loads(body)
        doc["data"]["amount"] = 1
        body = json.dumps(doc).encode()
    elif forge == "other org":
        headers, body = a.fake.webhook(tx.reference, key=b.fake.secret_key)
    else:
        name = "test"
    with pytest.raises(BadSignature):
        result_of(a.s.gateways.receive_webhook(name, org, headers, body))
    assert a.s.count_payments() == 0 and a.s.tx(tx.reference).status == PENDING
    assert a.log(tx.reference) == [("start", "started")]


@pytest.mark.parametrize("edit", [{"amount": OWED - 1}, {"amount": OWED * 10}, {"currency": "NGN"},
                                  {"amount": str(OWED)}])
def test_wrong_amount_or_currency_is_refused(pw: World, edit: dict[str, Any]) -> None:
    """A genuinely signed success for another amount or currency credits nothing (logged as a
    mismatch); an amount that is not an integer is refused as unreadable."""
    tx, _ = pw.start()
    headers, body = pw.fake.webhook(tx.reference, **edit)
    if isinstance(edit.get("amount"), str):
        with pytest.raises(BadSignature):
            pw.hook(headers, body)
    else:
        assert pw.hook(headers, body).outcome == "mismatch"
        assert pw.log(tx.reference)[-1] == ("webhook", "mismatch")
    assert pw.s.count_payments() == 0 and pw.s.tx(tx.reference).status == PENDING
    pw.fake.complete(tx.reference, webhook=False)
    assert pw.check(tx.reference).status == SUCCESS and pw.s.count_payments() == 1    # the real one still works


def test_verify_amount_mismatch_credits_nothing(pw: World) -> None:
    """Paystack's record for another amount than ours (verify): refused, still pending."""
    tx, _ = pw.start()
    pw.fake.complete(tx.reference, webhook=False)
    pw.fake.payments[tx.reference].amount = 1
    assert pw.check(tx.reference).status == PENDING and pw.s.count_payments() == 0
    assert pw.log(tx.reference)[-1] == ("verify", "mismatch")


def test_other_events_are_acknowledged(pw: World) -> None:
    """An authenticated webhook of another event (a transfer) is acknowledged and settles nothing;
    one for an unknown reference is logged as unknown."""
    tx, _ = pw.start()
    doc = example("webhook_charge_success.json")
    doc["event"] = "transfer.success"
    body = json.dumps(doc).encode()
    r = pw.hook({"x-paystack-signature": paystack.sign(pw.fake.secret_key, body)}, body)
    assert r.outcome == "ignored" and r.transaction is None
    headers, body = pw.fake.webhook(tx.reference, reference="not-ours")
    assert pw.hook(headers, body).outcome == "unknown"
    assert pw.s.count_payments() == 0


@pytest.mark.parametrize(("status", "ours"), [("success", SUCCESS), ("failed", FAILED), ("reversed", FAILED),
                                              ("abandoned", PENDING), ("ongoing", PENDING), ("pending", PENDING),
                                              ("processing", PENDING), ("queued", PENDING),
                                              ("send_otp", PENDING)])
def test_verify_statuses(pw: World, status: str, ours: str) -> None:
    """Paystack's statuses as verify reports them: success credits, failed/reversed fail, the
    in-progress ones (abandoned included: the customer may still pay) and any other stay pending."""
    tx, _ = pw.start()
    pw.fake.complete(tx.reference, status, webhook=False)
    assert pw.check(tx.reference).status == ours
    assert pw.s.count_payments() == (1 if ours == SUCCESS else 0)
    req = pw.fake.requests()[-1]
    assert (req.method, req.path) == ("GET", f"/transaction/verify/{tx.reference}")
    assert req.headers["authorization"] == f"Bearer {pw.fake.secret_key}"


def test_recheck_job_confirms_a_pending_payment(pw: World) -> None:
    """Paid at Paystack later (mobile money approved), the webhook withheld: the re-check job credits it."""
    tx, _ = pw.start()
    assert pw.check(tx.reference).status == PENDING            # abandoned: still pending
    assert pw.recheck() == 0
    pw.fake.complete(tx.reference, webhook=False)
    assert pw.recheck() == 1
    assert pw.s.tx(tx.reference).status == SUCCESS and pw.s.count_payments() == 1
    assert ("recheck", "credited") in pw.log(tx.reference)


@pytest.mark.parametrize("mode", ["500", "503", "badjson"])
def test_paystack_errors(pw: World, mode: str) -> None:
    """A 5xx or an answer that is not JSON: start fails the transaction (nothing taken) with the
    reason; verify leaves it pending with the error logged; the key never in a message."""
    pw.fake.modes.append(mode)
    with pytest.raises(GatewayError) as e:
        pw.start()
    assert pw.fake.secret_key not in str(e.value)
    failed = pw.s.w.read(store.list_for_customer, pw.s.w.org_id, pw.s.customer_id)[0]
    assert failed.status == FAILED and ("HTTP 5" in (failed.error or "") or "not JSON" in (failed.error or ""))
    tx, _ = pw.start()
    pw.fake.modes.append(mode)
    assert pw.check(tx.reference).status == PENDING
    assert pw.log(tx.reference)[-1][1] == "error" and pw.fake.secret_key not in (pw.s.tx(tx.reference).error or "")


def test_refusals(pw: World) -> None:
    """Paystack's refusals: a wrong key (401 Invalid key), an unsupported currency (400), a reference
    Paystack does not know (404 on verify): GatewayError with Paystack's message."""
    pw.fake.secret_key = "sk_test_other0000000"
    with pytest.raises(GatewayError, match="HTTP 401: Invalid key"):
        pw.start()
    engine = pw.s.w.engine
    w = paystack_world(engine, "isp-ngn", "cy")
    import sqlalchemy as sa

    from aaad.schema import orgs
    from billing import settings as bsettings
    with engine.begin() as c:
        c.execute(sa.update(orgs).where(orgs.c.id == w.s.w.org_id).values(currency="EUR"))
    assert w.s.w.read(bsettings.get, w.s.w.org_id).currency == "EUR"
    with pytest.raises(GatewayError, match="Currency not supported"):
        w.start()
    v = paystack_world(engine, "isp-v", "dee")
    tx, _ = v.start()
    del v.fake.payments[tx.reference]
    assert v.check(tx.reference).status == PENDING
    assert "HTTP 404" in (v.s.tx(tx.reference).error or "")


def test_settings(pw: World) -> None:
    """The key is checked (sk_test_/sk_live_), stored encrypted, shown only as set and its mode;
    Paystack cannot be chosen without a key; the base URL resets to Paystack's own."""
    from aaad.errors import ValidationError
    w = pw.s.w
    with pytest.raises(ValidationError):
        w.tx(store.set_paystack, w.box, w.org_id, pw.s.now(), secret_key="pk_test_123456789")
    with pytest.raises(ValidationError):
        w.tx(store.set_paystack, w.box, w.org_id, pw.s.now(), base_url="ftp://x")
    pub = store.public(w.read(store.gateway_settings_of, w.box, w.org_id))
    assert pub == {"gateway": "paystack", "paystack_key_set": True, "paystack_mode": "test",
                   "paystack_base_url": FAKE_URL}
    assert pw.fake.secret_key not in json.dumps(pub)
    w.tx(store.set_paystack, w.box, w.org_id, pw.s.now(), base_url="")
    assert store.public(w.read(store.gateway_settings_of, w.box, w.org_id))["paystack_base_url"] == paystack.API_URL
    from tests.billing.gateways.world import suspended_world as sw
    other = sw(w.engine, "isp-x", "eve")
    with pytest.raises(ValidationError) as e:
        other.w.tx(store.set_gateway, other.w.box, other.w.org_id, "paystack", other.now())
    assert e.value.field == "paystack_secret_key"
    gw = result_of(pw.s.gateways.gateway(pw.s.org, "paystack"))
    assert pw.fake.secret_key not in repr(gw)


def test_an_order_paid_through_paystack(engine: Any) -> None:
    """Gateways.start_order with Paystack: the order's total initialised (purpose order in the metadata);
    the signed charge.success pays the order (its services active), once."""
    from twisted.internet import task

    from aaad import orgs
    from billing import catalogue
    from billing.orders import orders
    from tests.billing.fixtures_c import make_world
    from tests.billing.gateways.world import LATE
    from tests.helpers import SyncDB
    w = make_world(engine, "shop")
    fake = FakePaystack()
    p = w.tx(catalogue.add_product, w.writer, w.org_id, LATE, name="Fibre 31", type="internet", price=310_00,
             setup_fee=50_00, rate_limit="31M/31M")
    cid = w.customer("ama", "Ama Owusu")
    w.tx(store.set_paystack, w.box, w.org_id, LATE, secret_key=fake.secret_key, base_url=FAKE_URL)
    w.tx(store.set_gateway, w.box, w.org_id, "paystack", LATE)
    o = w.tx(orders.place, w.writer, w.org_id, cid, [int(p.id)], LATE, method="gateway")
    clock = task.Clock()
    clock.advance(LATE.timestamp())
    stub = StubTreq(fake.resource())
    gws = Gateways(SyncDB(engine), w.box, clock, w.writer, http=stub)
    org = w.read(orgs.get, w.org_id)
    d = gws.start_order(org, cid, o.id, lambda ref: RETURN + ref)
    stub.flush()
    tx, _ = result_of(d)
    init = fake.requests()[0].json
    assert (init["amount"], init["metadata"]["purpose"], tx.order_id) == (o.total, "order", o.id)
    fake.complete(tx.reference, webhook=False)
    headers, body = fake.webhook(tx.reference)
    assert result_of(gws.receive_webhook("paystack", "shop", headers, body)).outcome == "credited"
    assert result_of(gws.receive_webhook("paystack", "shop", headers, body)).outcome == "duplicate"
    paid = w.read(orders.require, w.org_id, o.id)
    assert paid.status == "paid" and w.service(paid.service_ids[0]).state == "active"


def test_the_fake_answers_with_the_documented_examples(pw: World) -> None:
    """The fake's answers are Paystack's pinned examples with only the payment's own fields changed:
    the same keys at every level, so the client is tested against Paystack's shapes, not ours."""
    def shape(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {k: shape(v) for k, v in doc.items() if k != "metadata"}
        return None
    tx, _ = pw.start()
    init_code, _, init_body = pw.fake.respond("POST", "/transaction/initialize",
                                              {"authorization": f"Bearer {pw.fake.secret_key}",
                                               "content-type": "application/json"},
                                              json.dumps({"email": "a@b.co", "amount": 100, "currency": "GHS",
                                                          "reference": "x-1"}).encode())
    assert init_code == 200
    assert shape(json.loads(init_body)) == shape(example("transaction_initialize.json")["200"]["data"])
    code, _, body = pw.fake.respond("GET", f"/transaction/verify/{tx.reference}",
                                    {"authorization": f"Bearer {pw.fake.secret_key}"}, b"")
    documented = example("transaction_verify.json")["200"]["data"]
    got = json.loads(body)
    assert code == 200 and shape(got) == shape(documented)
    changed = {k for k in documented["data"] if documented["data"][k] != got["data"][k]}
    assert changed <= {"id", "status", "reference", "amount", "requested_amount", "currency", "metadata",
                       "gateway_response", "paid_at", "paidAt", "created_at", "createdAt", "transaction_date",
                       "customer"}
    _, hook = pw.fake.webhook(tx.reference)
    assert shape(json.loads(hook)) == shape(example("webhook_charge_success.json"))
    assert pw.fake.respond("GET", f"/transaction/verify/{tx.reference}", {}, b"")[0] == 401
