"""Who may do what: the roles of people and API tokens, and the permission each action needs.

One table for every front end.  An API route names the permission it needs
(``web.api.declare``: by its area, read or write, or said on the route), and
a console action names the same one, so a cashier refused a plan change in
the console is refused it over the API too.  The CLI is the machine's
operator and is not checked.

Roles (issue 15):

- ``owner``: everything, including settings and the org's accounts and tokens;
- ``admin``: everything but accounts and tokens;
- ``cashier``: reads customers and their money, records payments, sells vouchers;
- ``support``: reads customers and their money, answers tickets, disconnects sessions,
  reads the network side (NAS, logins, the auth log).

A read-only API token is refused every write whatever its role.
"""
from __future__ import annotations

ROLES = ("owner", "admin", "cashier", "support")

_ALL = frozenset(ROLES)
_ADMINS = frozenset({"owner", "admin"})
_OWNER = frozenset({"owner"})

#: permission -> the roles that have it.
PERMISSIONS: dict[str, frozenset[str]] = {
    # reading customers and their money: everyone at the desk
    "customers.read": _ALL,
    "billing.read": _ALL,
    "sessions.read": _ALL,
    "catalogue.read": _ALL,
    "vouchers.read": _ALL,
    # the cashier's work
    "payments.record": _ADMINS | {"cashier"},
    "vouchers.sell": _ADMINS | {"cashier"},
    # the support desk's work
    "tickets.write": _ADMINS | {"support"},
    "sessions.disconnect": _ADMINS | {"support"},
    "network.read": _ADMINS | {"support"},
    # changing customers, services, money and the catalogue
    "customers.write": _ADMINS,
    "services.write": _ADMINS,
    "invoices.write": _ADMINS,
    "credit_notes.write": _ADMINS,
    "refunds.write": _ADMINS,
    "orders.write": _ADMINS,
    "registrations.write": _ADMINS,
    "catalogue.write": _ADMINS,
    "vouchers.write": _ADMINS,
    "network.write": _ADMINS,
    # the org's settings, reports and the machinery
    "settings.read": _ADMINS,
    "settings.write": _ADMINS,
    "reports.read": _ADMINS,
    "system.read": _ADMINS,
    "system.write": _ADMINS,
    "audit.read": _ADMINS,
    # people and tokens
    "accounts.manage": _OWNER,
}


class Forbidden(Exception):
    """A role without the permission an action needs."""

    def __init__(self, permission: str, role: str):
        self.permission = permission
        self.role = role
        super().__init__(f"the {role} role may not do this ({permission})")


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` has ``permission`` (an unknown permission: nobody has it)."""
    roles = PERMISSIONS.get(permission)
    return roles is not None and role in roles


def check(role: str, permission: str) -> None:
    """Raise :class:`Forbidden` unless ``role`` has ``permission``."""
    if not allowed(role, permission):
        raise Forbidden(permission, role)


def permissions_of(role: str) -> list[str]:
    """The permissions ``role`` has, sorted (for listings and the console's menus)."""
    return sorted(p for p, roles in PERMISSIONS.items() if role in roles)
