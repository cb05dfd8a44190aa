"""The API's resources, one module per area, each with a ``router`` of declared routes.

:data:`MODULES` is the order they appear in the document and on the
reference page; a new area adds its module here.
"""
from __future__ import annotations

import importlib

from web.api.declare import Endpoint

MODULES = ("orgs", "tokens", "audit", "customers", "billing_settings", "products", "services", "ledger",
           "invoices", "credit_notes", "payments", "refunds", "gateways", "reports",
           "nas", "profiles", "logins", "authlog", "jobs", "events", "sessions", "usage", "enforcement", "notify",
           "registrations", "orders", "tickets", "coverage", "contracts", "hotspot", "vouchers")


def all_endpoints() -> list[Endpoint]:
    """Every declared route of every resource module."""
    out: list[Endpoint] = []
    for name in MODULES:
        out += importlib.import_module(f"web.api.resources.{name}").router.endpoints
    return out
