"""Helpers for the billing resources' tests: walk a listing, add a customer, issue a one-off invoice."""
from __future__ import annotations

from typing import Any

from tests.web.api.conftest import ApiClient


def all_items(api: ApiClient, path: str) -> list[dict[str, Any]]:
    """Every item of a listing, following next_cursor."""
    out: list[dict[str, Any]] = []
    sep = "&" if "?" in path else "?"
    page = api.get(path).json()
    while True:
        out += page["items"]
        if page["next_cursor"] is None:
            return out
        page = api.get(f"{path}{sep}cursor={page['next_cursor']}").json()


def customer(api: ApiClient, name: str) -> int:
    """A new customer of the client's org: its id."""
    r = api.post("/customers", {"name": name})
    assert r.code == 201
    return int(r.json()["id"])


def one_off(api: ApiClient, customer_id: int, price: int = 10_000, **kw: Any) -> dict[str, Any]:
    """A one-off invoice of one line of ``price`` (before 15 % VAT)."""
    r = api.post("/invoices", {"customer_id": customer_id,
                               "lines": [{"description": "Router installation", "unit_price": price}], **kw})
    assert r.code == 201, r.text
    return dict(r.json())
