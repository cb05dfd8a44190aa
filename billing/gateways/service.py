"""Gateways at work: starting a payment, checking it, receiving webhooks, the re-check job.

:class:`Gateways` is built from the database, the secret box, the clock and the
login writer (it keeps no state of its own, so the web pages and billing's job
each build one).  Every gateway call runs outside any database transaction: the
transaction row is committed pending first, the call is made, and its outcome is
written after (``gateway_events``), so a crash in between leaves a pending row
the re-check job settles.
"""
from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import timedelta
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from aaad import orgs
from aaad.clock import utcnow
from aaad.crypto import SecretBox
from aaad.errors import NotFound
from aaad.jobs import Job, JobContext
from aaad.view.write import LoginWriter
from billing import customers
from billing.gateways import paystack, store
from billing.gateways import test as test_gw
from billing.gateways.base import FAILED, PENDING, BadSignature, Gateway, GatewayError, Started, Transaction

log = Logger()

RECHECK_JOB = "billing.gateway_recheck"
RECHECK_SECONDS = 30 * 60
#: A payment still pending at its gateway this long after it was started is given up (failed).
EXPIRE_AFTER = timedelta(hours=24)
_CHUNK = 100


class Gateways:
    """The org's gateway for each use, and the flows around it."""

    def __init__(self, db: Any, box: SecretBox, clock: Any, writer: LoginWriter, *, http: Any = None):
        self.db = db
        self.box = box
        self.clock = clock
        self.writer = writer
        self._http = http        # treq-like (StubTreq in tests); treq on the reactor otherwise

    def http(self) -> Any:
        """The HTTP client the gateways that talk HTTP (Paystack) use."""
        if self._http is None:
            from billing.notify.sms import TreqHttp
            # Not persistent: a Gateways is built per request and payments are rare, so a kept-alive
            # connection per instance would only pile up idle sockets.
            self._http = TreqHttp(self.clock, persistent=False)
        return self._http

    @defer.inlineCallbacks
    def _email_of(self, tx: Transaction) -> Generator[Any, Any, str]:
        """The payer's e-mail address for a gateway that requires one (Paystack): the
        customer's, else a placeholder under ``.invalid`` naming the customer."""
        cust = yield self.db.read(customers.get, tx.org_id, tx.customer_id)
        email = cust.email if cust is not None else None
        return email or f"customer-{tx.customer_id}@org-{tx.org_id}.invalid"

    def build(self, org: orgs.Org, name: str, st: store.GatewaySettings) -> Gateway:
        """Org ``org``'s gateway ``name`` with its secrets (GatewayError for an unknown name)."""
        if name == test_gw.NAME:
            return test_gw.TestGateway(self.db, org.id, org.slug, test_gw.key_of(st.secrets), self.clock)
        if name == paystack.NAME:
            key, base_url = paystack.settings_of(st.secrets)
            return paystack.PaystackGateway(key, org_slug=org.slug, email_of=self._email_of, http=self.http(),
                                            reactor=self.clock, base_url=base_url)
        raise GatewayError(f"no gateway {name!r}")

    @defer.inlineCallbacks
    def gateway(self, org: orgs.Org, name: str) -> Generator[Any, Any, Gateway]:
        """Org ``org``'s gateway ``name`` (its settings created on first use)."""
        st = yield self.db.write(store.ensure_settings, self.box, org.id, utcnow(self.clock))
        return self.build(org, name, st)

    @defer.inlineCallbacks
    def existing(self, org: orgs.Org, name: str) -> Generator[Any, Any, Gateway]:
        """Like :meth:`gateway` without writing: NotFound if the org never used a gateway
        (for pages anyone may load, such as the test gateway's hosted page)."""
        st = yield self.db.read(store.gateway_settings_of, self.box, org.id)
        if st is None:
            raise NotFound("gateway", name)
        return self.build(org, name, st)

    @defer.inlineCallbacks
    def start_balance(self, org: orgs.Org, customer_id: int,
                      return_url: Any) -> Generator[Any, Any, tuple[Transaction, Started]]:
        """Open a payment of the customer's outstanding balance with the org's gateway;
        ``return_url(reference)`` is where the gateway sends the customer back (absolute).
        ValidationError when nothing is owed; GatewayError when the gateway refused (the
        transaction is then failed and logged)."""
        now = utcnow(self.clock)
        tx = yield self.db.write(store.create_for_balance, self.box, org.id, customer_id, now)
        result: tuple[Transaction, Started] = yield self._open(org, tx, return_url)
        return result

    @defer.inlineCallbacks
    def _open(self, org: orgs.Org, tx: Transaction,
              return_url: Any) -> Generator[Any, Any, tuple[Transaction, Started]]:
        """Start the committed pending ``tx`` at its gateway (failed and logged if the gateway refuses)."""
        try:
            gw = yield self.gateway(org, tx.gateway)
            started = yield gw.start(tx, return_url(tx.reference))
        except Exception as e:
            yield self.db.write(store.start_failed, org.id, tx.reference, f"{type(e).__name__}: {e}",
                                utcnow(self.clock))
            raise GatewayError(str(e)) from e
        tx = yield self.db.write(store.started, org.id, tx.reference, started.provider_ref, utcnow(self.clock))
        return tx, started

    @defer.inlineCallbacks
    def start_order(self, org: orgs.Org, customer_id: int, order_id: int,
                    return_url: Any) -> Generator[Any, Any, tuple[Transaction, Started]]:
        """Open a payment of the customer's order ``order_id`` (its total) with the org's gateway;
        like :meth:`start_balance` otherwise.  Once credited, the order's services start
        (:func:`billing.orders.orders.paid`)."""
        tx = yield self.db.write(store.create_for_order, self.box, org.id, customer_id, order_id,
                                 utcnow(self.clock))
        result: tuple[Transaction, Started] = yield self._open(org, tx, return_url)
        return result

    @defer.inlineCallbacks
    def start_voucher(self, org: orgs.Org, customer_id: int, package_id: int,
                      return_url: Any) -> Generator[Any, Any, tuple[Transaction, Started]]:
        """Open a payment buying one voucher of ``package_id`` (its price) with the org's gateway; like
        :meth:`start_balance` otherwise.  Once paid, the voucher is sold (:mod:`billing.voucher_sales`)."""
        tx = yield self.db.write(store.create_for_voucher, self.box, org.id, customer_id, package_id,
                                 utcnow(self.clock))
        result: tuple[Transaction, Started] = yield self._open(org, tx, return_url)
        return result

    @defer.inlineCallbacks
    def check(self, org: orgs.Org, tx: Transaction, source: str = "verify") -> Generator[Any, Any, Transaction]:
        """Ask the gateway about a pending transaction and settle what it says; the
        transaction as it is after (unchanged if the gateway could not be asked: logged)."""
        if tx.status != PENDING:
            return tx
        try:
            gw = yield self.gateway(org, tx.gateway)
            ev = yield gw.verify(tx)
        except Exception as e:
            yield self.db.write(store.note_error, org.id, tx.reference, tx.gateway, source,
                                f"{type(e).__name__}: {e}", utcnow(self.clock))
            return tx
        now = utcnow(self.clock)
        if ev.reference != tx.reference:
            yield self.db.write(store.note_error, org.id, tx.reference, tx.gateway, source,
                                f"the gateway answered about {ev.reference!r}", now)
            return tx
        if ev.status == PENDING and now - tx.created_at >= EXPIRE_AFTER:
            settled = yield self.db.write(store.settle, self.writer, org.id, tx.reference, FAILED, ev.amount,
                                          ev.currency, ev.provider_ref, now, source="expire", gateway=tx.gateway)
        else:
            settled = yield self.db.write(store.settle, self.writer, org.id, tx.reference, ev.status, ev.amount,
                                          ev.currency, ev.provider_ref, now, source=source, gateway=tx.gateway)
        return settled.transaction or tx

    @defer.inlineCallbacks
    def receive_webhook(self, name: str, org_slug: str | None, headers: Mapping[str, str],
                        body: bytes) -> Generator[Any, Any, store.Settled]:
        """A webhook from gateway ``name`` for org ``org_slug``: authenticated (BadSignature
        otherwise, nothing written), then settled.  Safe to deliver any number of times."""
        org = None if not org_slug else (yield self.db.read(orgs.get_by_slug, org_slug))
        if org is None:
            log.warn("gateway {gateway} webhook for an unknown org {org!r}: refused", gateway=name, org=org_slug)
            raise BadSignature("unknown org")
        st = yield self.db.read(store.gateway_settings_of, self.box, org.id)
        if st is None:
            log.warn("gateway {gateway} webhook for org {org}, which never used a gateway: refused", gateway=name,
                     org=org.slug)
            raise BadSignature("no gateway key")
        try:
            ev = self.build(org, name, st).parse_webhook({k.lower(): v for k, v in headers.items()}, body)
        except paystack.NotACharge as e:
            log.info("gateway {gateway} webhook for org {org}: {what}, not a charge: acknowledged", gateway=name,
                     org=org.slug, what=str(e))
            return store.Settled(store.IGNORED, None)
        except (BadSignature, GatewayError, KeyError, ValueError) as e:
            log.warn("gateway {gateway} webhook for org {org} refused: {error}", gateway=name, org=org.slug,
                     error=str(e))
            raise BadSignature(str(e)) from None
        settled: store.Settled = yield self.db.write(
            store.settle, self.writer, org.id, ev.reference, ev.status, ev.amount, ev.currency, ev.provider_ref,
            utcnow(self.clock), source="webhook", gateway=name)
        return settled

    @defer.inlineCallbacks
    def recheck(self, org_id: int) -> Generator[Any, Any, int]:
        """Check every pending transaction of the org with its gateway; how many were decided."""
        org = yield self.db.read(orgs.get, org_id)
        if org is None:
            raise NotFound("org", org_id)
        after, decided = 0, 0
        while True:
            chunk = yield self.db.read(store.pending, org_id, after_id=after, limit=_CHUNK)
            for tx in chunk:
                after = tx.id
                done = yield self.check(org, tx, source="recheck")
                decided += done.status != PENDING
            if len(chunk) < _CHUNK:
                break
        if decided:
            log.info("gateway re-check decided {n} pending payments (org {org})", n=decided, org=org_id)
        return decided

    def job(self) -> Job:
        """``billing.gateway_recheck``: every 30 minutes per org, pending payments re-checked."""
        def run(ctx: JobContext) -> defer.Deferred[int]:
            d: defer.Deferred[int] = self.recheck(ctx.org_id)

            def failed(f: Failure) -> Failure:
                log.failure("gateway re-check failed (org {org})", f, org=ctx.org_id)
                return f
            return d.addErrback(failed)
        return Job(RECHECK_JOB, RECHECK_SECONDS, run, per_org=True)
