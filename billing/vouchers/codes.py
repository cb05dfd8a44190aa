"""Voucher codes and passwords, and writing vouchers with their logins in bulk.

Codes are drawn with :mod:`secrets` from an alphabet without look-alikes (no
0/O, 1/I/L), upper case, so a code read off a card is typed right.  A code is
unique in its org among vouchers and logins (it is the login's username).
Generating is a few statements whatever the count: one INSERT of the vouchers
(:func:`aaad.bulk.insert_rows`; ids read back by code), one :meth:`LoginWriter.create_many`, one executemany
UPDATE naming each voucher's login, plus the collision checks.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad import bulk
from aaad.schema import logins
from aaad.view.write import LoginWriter
from billing.vouchers.packages import Package
from billing.vouchers.schema import vouchers

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PASSWORD_LENGTH = 6
_IN_MAX = 5000
_LIMIT = 256 - 256 % len(ALPHABET)     # bytes at or above it are dropped: every character equally likely


def _draw(n: int, length: int) -> list[str]:
    """``n`` random strings of ``length`` characters of the alphabet, from one :func:`secrets.token_bytes`
    call per round (rejection sampling keeps them uniform)."""
    chars: list[str] = []
    need = n * length
    while len(chars) < need:
        chars += [ALPHABET[b % len(ALPHABET)] for b in secrets.token_bytes(need - len(chars) + 16) if b < _LIMIT]
    return ["".join(chars[i:i + length]) for i in range(0, need, length)]


def new_code(length: int, prefix: str = "") -> str:
    return prefix + _draw(1, length)[0]


def new_codes(n: int, length: int, prefix: str = "") -> list[str]:
    return [prefix + c for c in _draw(n, length)]


def normalise(code: str) -> str:
    """A code as typed (spaces, dashes between groups, lower case) as stored."""
    return "".join(code.split()).upper()


def _taken(conn: Connection, org_id: int, codes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(codes), _IN_MAX):
        part = list(codes[i:i + _IN_MAX])
        found.update(conn.execute(sa.select(vouchers.c.code).where(vouchers.c.org_id == org_id,
                                                                    vouchers.c.code.in_(part))).scalars())
        found.update(conn.execute(sa.select(logins.c.username).where(logins.c.org_id == org_id,
                                                                      logins.c.username.in_(part))).scalars())
    return found


def unique_codes(conn: Connection, org_id: int, n: int, length: int, prefix: str = "") -> list[str]:
    """``n`` new codes, distinct and unused in the org (vouchers and logins)."""
    codes: dict[str, None] = {}
    fresh: list[str] = []
    while len(codes) < n:
        batch = new_codes(n - len(codes), length, prefix)
        batch = [c for c in dict.fromkeys(batch) if c not in codes]
        taken = _taken(conn, org_id, batch)
        for c in batch:
            if c not in taken:
                codes[c] = None
                fresh.append(c)
    return fresh


def generate(conn: Connection, writer: LoginWriter, org_id: int, package: Package, n: int, now: datetime, *,
             batch_id: int | None = None, code_length: int | None = None, prefix: str | None = None,
             customer_id: int | None = None, sold_at: datetime | None = None,
             transaction_id: int | None = None, price: int | None = None) -> list[tuple[int, str, str]]:
    """Write ``n`` vouchers of ``package`` and their logins (state ``unused``, owned by the voucher)
    in the caller's transaction: [(voucher id, code, password)] in order."""
    codes = unique_codes(conn, org_id, n, code_length or package.code_length,
                         package.prefix if prefix is None else prefix)
    passwords = codes if package.code_only else _draw(len(codes), PASSWORD_LENGTH)
    bulk.insert_rows(conn, vouchers, ("code",), [(c,) for c in codes], org_id=org_id, package_id=package.id,
                     batch_id=batch_id, customer_id=customer_id, transaction_id=transaction_id,
                     price=package.price if price is None else price, sold_at=sold_at, created_at=now)
    # Ids back by code (unique in the org): RETURNING in parameter order is one row per statement on SQLite.
    by_code: dict[str, int] = {}
    for i in range(0, len(codes), _IN_MAX):
        by_code.update((r.code, int(r.id)) for r in conn.execute(sa.select(vouchers.c.code, vouchers.c.id).where(
            vouchers.c.org_id == org_id, vouchers.c.code.in_(codes[i:i + _IN_MAX]))))
    ids = [by_code[c] for c in codes]
    login_ids = writer.create_many(conn, org_id, list(zip(codes, passwords, ids, strict=True)), now,
                                   owner_type="voucher", **package.login_values())
    # Each voucher names its login: one UPDATE per chunk, the login found by its name (the code).
    login_of = (sa.select(logins.c.id).where(logins.c.org_id == vouchers.c.org_id,
                                              logins.c.username == vouchers.c.code).scalar_subquery())
    for i in range(0, len(ids), _IN_MAX):
        conn.execute(vouchers.update().where(vouchers.c.org_id == org_id, vouchers.c.id.in_(ids[i:i + _IN_MAX]))
                     .values(login_id=login_of))
    assert len(login_ids) == len(ids)
    return list(zip(ids, codes, passwords, strict=True))
