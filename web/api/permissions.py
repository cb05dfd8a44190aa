"""The permission (``aaad.authz``) each API route needs: one table, reviewed in one place.

A route's permission is its area's (the router's tag) for reading (GET) or
writing (anything else), unless :data:`BY_OPERATION` names the route (its
operationId) with another.  ``tests/web/api/test_roles.py`` checks that every
route resolves to a permission ``aaad.authz`` knows, so a new area cannot
ship unclassified.
"""
from __future__ import annotations

from aaad import authz

#: tag -> (the permission to read, the permission to write); None: the area has no such routes.
BY_TAG: dict[str, tuple[str, str | None]] = {
    "orgs": ("system.read", "system.write"),               # platform tokens only, besides
    "tokens": ("accounts.manage", "accounts.manage"),
    "audit": ("audit.read", None),
    "customers": ("customers.read", "customers.write"),
    "billing-settings": ("settings.read", "settings.write"),
    "products": ("catalogue.read", "catalogue.write"),
    "services": ("customers.read", "services.write"),
    "ledger": ("billing.read", None),
    "invoices": ("billing.read", "invoices.write"),
    "credit-notes": ("billing.read", "credit_notes.write"),
    "payments": ("billing.read", "payments.record"),
    "refunds": ("billing.read", "refunds.write"),
    "gateways": ("billing.read", "settings.write"),
    "reports": ("reports.read", None),
    "nas": ("network.read", "network.write"),
    "profiles": ("network.read", "network.write"),
    "logins": ("network.read", "network.write"),
    "auth-log": ("network.read", None),
    "job-runs": ("system.read", None),
    "events": ("system.read", "system.write"),
    "sessions": ("sessions.read", None),
    "usage": ("customers.read", None),
    "enforcement": ("network.read", "network.write"),
    "notifications": ("settings.read", "settings.write"),
    "registrations": ("customers.read", "registrations.write"),
    "orders": ("customers.read", "orders.write"),
    "tickets": ("customers.read", "tickets.write"),
    "coverage": ("catalogue.read", "settings.write"),
    "contracts": ("catalogue.read", "settings.write"),
    "hotspot": ("network.read", None),
    "vouchers": ("vouchers.read", "vouchers.write"),
}

#: operationId -> permission, where a route differs from its area.
BY_OPERATION: dict[str, str] = {
    # gateway settings are settings; their transactions are money
    "get_gateway_settings": "settings.read",
    # the support desk disconnects
    "disconnect_login": "sessions.disconnect",
    # messages are about customers; the templates, channels and rules are settings
    "list_messages": "customers.read",
    "get_message": "customers.read",
    "retry_message": "customers.write",
    "cancel_message": "customers.write",
    "set_marketing_opt_out": "customers.write",
    "preview_template": "settings.read",
    # the sign-up form and the shop's checkout are settings
    "get_signup_settings": "settings.read",
    "update_signup_settings": "settings.write",
    "list_form_fields": "settings.read",
    "get_form_field": "settings.read",
    "create_form_field": "settings.write",
    "update_form_field": "settings.write",
    "delete_form_field": "settings.write",
    "get_shop_settings": "settings.read",
    "update_shop_settings": "settings.write",
    # leads and signatures are people, not the catalogue
    "list_leads": "customers.read",
    "get_lead": "customers.read",
    "update_lead": "customers.write",
    "list_contract_signatures": "customers.read",
    "get_contract_signature": "customers.read",
    "get_contract_signature_pdf": "customers.read",
    # the cashier sells vouchers at the counter (generating batches and packages stay vouchers.write)
    "sell_voucher": "vouchers.sell",
}


def permission(tag: str, method: str, operation_id: str) -> str:
    """The permission a route needs.  KeyError for an area missing from :data:`BY_TAG`;
    ValueError for a write in an area without writes (say it in :data:`BY_OPERATION`)."""
    if operation_id in BY_OPERATION:
        return BY_OPERATION[operation_id]
    read, write = BY_TAG[tag]
    if method == "GET":
        return read
    if write is None:
        raise ValueError(f"{operation_id}: a {method} in area {tag!r}, which has no write permission")
    return write


def check_known() -> None:
    """Every permission in the tables is one ``aaad.authz`` knows."""
    named = {p for pair in BY_TAG.values() for p in pair if p} | set(BY_OPERATION.values())
    unknown = named - set(authz.PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown permissions: {sorted(unknown)}")
