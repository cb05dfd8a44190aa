"""/gateway-transactions and /gateway-settings: payments through gateways, their log, the org's gateway."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from billing.gateways import store
from web.api.declare import Call, Id, In, ListQuery, Out, Page, Router
from web.api.resources._billing import Text

router = Router("gateways", "Payment gateways: the payments made through them (with their log) and the org's "
                            "choice of gateway")

Status = Literal["pending", "success", "failed"]


class GatewayTransactionOut(Out):
    id: int
    customer_id: int
    reference: str = Field(description="Ours, random, sent to the gateway; also the billing payment's reference.")
    gateway: str = Field(description="test (the built-in test gateway), ...; also the payment's method.")
    purpose: str = Field(description="balance (the outstanding balance), order, or voucher (a voucher package "
                                     "bought on the portal).")
    amount: int = Field(description="Minor units.")
    currency: str
    status: Status
    provider_ref: str | None = Field(description="The gateway's own id of the payment.")
    payment_id: int | None = Field(description="The billing payment, once credited (none for a voucher: it is "
                                               "booked as the sale).")
    package_id: int | None = Field(None, description="purpose voucher: the voucher package bought.")
    voucher_id: int | None = Field(None, description="purpose voucher: the voucher sold once paid.")
    error: str | None = Field(description="The last problem: a refused report, an unreachable gateway.")
    created_at: datetime
    updated_at: datetime
    last_checked_at: datetime | None


class GatewayEventOut(Out):
    id: int
    source: str = Field(description="start, verify, webhook, return, recheck or expire.")
    outcome: str = Field(description="started, credited, duplicate, failed, ignored, pending, mismatch, "
                                     "unknown or error.")
    detail: str
    created_at: datetime


class GatewayTransactionDetailOut(GatewayTransactionOut):
    events: list[GatewayEventOut] = Field(description="Every gateway call and webhook about it, oldest first.")


class GatewayTransactionQuery(ListQuery):
    customer_id: Id | None = None
    status: Status | None = None
    reference: Text | None = Field(None, max_length=64)
    sort: Literal["-id", "id", "-created_at", "created_at", "-amount", "amount"] = "-id"


class GatewayTransactionPath(In):
    gateway_transaction_id: Id


GatewayName = Literal["test", "paystack", "none"]


class GatewaySettingsOut(Out):
    gateway: GatewayName = Field(description="The gateway the portal's pay-now uses: test (the built-in test "
                                             "gateway: no money moves), paystack, or none.")
    paystack_key_set: bool = Field(False, description="Whether the org's Paystack secret key is set (the key "
                                                      "itself is never shown).")
    paystack_mode: Literal["test", "live"] | None = Field(None, description="test or live, by the key's prefix "
                                                                           "(sk_test_ / sk_live_).")


class GatewaySettingsIn(In):
    gateway: GatewayName | None = Field(None, description="Choose the gateway (paystack needs its secret key, "
                                                          "set now or before).")
    paystack_secret_key: Text | None = Field(None, max_length=200, description="Write-only: the org's Paystack "
                                             "secret key (sk_test_... or sk_live_...), stored encrypted.")


@dataclass(frozen=True)
class _Detail:
    tx: Any
    events: list[store.Event]


def _detail(conn: Any, org_id: int, transaction_id: int) -> _Detail:
    return _Detail(store.get_by_id(conn, org_id, transaction_id),
                   store.events_of_transaction(conn, org_id, transaction_id))


def _public(st: store.GatewaySettings | None) -> dict[str, Any]:
    pub = store.public(st)
    return {k: pub[k] for k in ("gateway", "paystack_key_set", "paystack_mode")}


def _gateway_of(conn: Any, box: Any, org_id: int) -> dict[str, Any]:
    return _public(store.gateway_settings_of(conn, box, org_id))


def _set(conn: Any, box: Any, org_id: int, gateway: str | None, paystack_key: str | None,
         now: datetime) -> dict[str, Any]:
    # Only the public view comes back (and goes to the audit log): the gateway's secrets never leave billing.
    return _public(store.configure(conn, box, org_id, now, gateway=gateway, paystack_key=paystack_key))


@router.get("/gateway-transactions", summary="List gateway transactions")
async def list_gateway_transactions(call: Call, query: GatewayTransactionQuery) -> Page[GatewayTransactionOut]:
    """Payments started through a gateway, newest first unless asked; by customer, status or reference."""
    p = await call.read(store.page, call.org_id, customer_id=query.customer_id, status=query.status,
                        reference=query.reference, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[GatewayTransactionOut](items=[GatewayTransactionOut.model_validate(x) for x in p.items],
                                       next_cursor=p.next_cursor)


@router.get("/gateway-transactions/{gateway_transaction_id}", summary="A gateway transaction and its log")
async def get_gateway_transaction(call: Call, path: GatewayTransactionPath) -> GatewayTransactionDetailOut:
    """A payment through a gateway with every call and webhook about it and what each did."""
    d = await call.read(_detail, call.org_id, path.gateway_transaction_id)
    return GatewayTransactionDetailOut.model_validate({
        **{k: getattr(d.tx, k) for k in GatewayTransactionOut.model_fields},
        "events": [GatewayEventOut.model_validate(e) for e in d.events]})


@router.get("/gateway-settings", summary="The org's payment gateway")
async def get_gateway_settings(call: Call) -> GatewaySettingsOut:
    """Which gateway the portal's pay-now uses (the test gateway until chosen)."""
    return GatewaySettingsOut.model_validate(await call.read(_gateway_of, call.deps.box, call.org_id))


@router.patch("/gateway-settings", summary="Choose the org's payment gateway")
async def set_gateway_settings(call: Call, body: GatewaySettingsIn) -> GatewaySettingsOut:
    """Choose the gateway the portal's pay-now uses: test, paystack, or none (no online payment); set the
    org's Paystack secret key (write-only; 422 naming ``paystack_secret_key`` for one that is not a Paystack
    secret key, or when choosing paystack without one).  Paystack's webhook URL for the org's dashboard is
    ``{public URL}/gateway/paystack/{org slug}/webhook``."""
    got = await call.write(_set, call.deps.box, call.org_id, body.gateway, body.paystack_secret_key, call.now,
                           target="gateway settings")
    return GatewaySettingsOut.model_validate(got)
