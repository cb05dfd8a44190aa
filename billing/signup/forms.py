"""Per-org sign-up settings and the registration form: which built-in fields it asks for
(required, optional or hidden), the admin's custom fields in their order, and the pure
validation of what an applicant typed.

Built-in fields: ``name`` (always required), ``email``, ``phone``, ``address``, ``password``
(always required: it is the portal password) and the ID ``document`` (an upload; see
:mod:`billing.signup.uploads`).  An applicant signs in later with the e-mail address or the
phone number, so at least one of them is asked for, and at least one is given.  Custom fields
are text, number, choice, checkbox or date; their values are kept as the customer's
``custom_fields``; on the form their inputs are named ``f_<key>``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from aaad import orgs, paging
from aaad.errors import NotFound, ValidationError
from billing import catalogue, customers
from billing.schema import SIGNUP_FIELD_KINDS, signup_fields, signup_settings

REQUIREMENTS = ("required", "optional", "hidden")
APPROVALS = ("required", "automatic")
#: isp: registrations as above (approval, a service); hotspot: the account is made at once, signed in
#: (the WiFi hotspot's way: customers buy vouchers, nobody approves them; billing.customer_accounts)
MODES = ("isp", "hotspot")
PASSWORD_MIN = 8
TEXT_MAX = 500
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
TRUE = ("on", "1", "true", "yes")
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2100, 12, 31)


@dataclass(frozen=True)
class SignupSettings:
    org_id: int
    enabled: bool = False
    approval: str = "required"              # required: an admin approves; automatic: approved at once
    default_product_id: int | None = None
    default_zone: str | None = None
    email_field: str = "required"
    phone_field: str = "optional"
    address_field: str = "optional"
    document_field: str = "hidden"
    document_max_kb: int = 5120
    max_per_hour: int = 10                  # registration forms one address may send an hour
    mode: str = "isp"                       # isp | hotspot (see MODES)
    updated_at: datetime | None = None


EDITABLE = ("enabled", "approval", "default_product_id", "default_zone", "email_field", "phone_field",
            "address_field", "document_field", "document_max_kb", "max_per_hour", "mode")


def get_settings(conn: Connection, org_id: int) -> SignupSettings:
    """The org's sign-up settings (the defaults until changed: closed, approval required)."""
    if orgs.get(conn, org_id) is None:
        raise NotFound("org", org_id)
    r = conn.execute(sa.select(signup_settings).where(signup_settings.c.org_id == org_id)).first()
    if r is None:
        return SignupSettings(org_id)
    return SignupSettings(org_id, **{k: getattr(r, k) for k in EDITABLE}, updated_at=r.updated_at)


def _check_settings(conn: Connection, org_id: int, merged: SignupSettings, values: Mapping[str, Any]) -> None:
    for k, v in values.items():
        if k not in EDITABLE:
            raise ValidationError(k, "not a sign-up setting")
        if k == "enabled" and not isinstance(v, bool):
            raise ValidationError(k, "true or false")
        if k == "approval" and v not in APPROVALS:
            raise ValidationError(k, "required or automatic")
        if k == "mode" and v not in MODES:
            raise ValidationError(k, "isp or hotspot")
        if k.endswith("_field") and v not in REQUIREMENTS:
            raise ValidationError(k, "required, optional or hidden")
        if k == "document_max_kb" and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 20480):
            raise ValidationError(k, "from 1 to 20480 (kB)")
        if k == "max_per_hour" and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 1000):
            raise ValidationError(k, "from 1 to 1000")
        if k == "default_zone" and v is not None and (not isinstance(v, str) or len(v) > 100):
            raise ValidationError(k, "at most 100 characters")
    if "default_product_id" in values and values["default_product_id"] is not None:
        p = catalogue.get_product(conn, org_id, values["default_product_id"])
        if p is None or not p.active:
            raise ValidationError("default_product_id", "a product of this org that is still sold")
    if merged.email_field == "hidden" and merged.phone_field == "hidden":
        raise ValidationError("email_field", "the e-mail address or the phone number must be asked for "
                                             "(customers sign in with one of them)")


def update_settings(conn: Connection, org_id: int, now: datetime, **values: Any) -> SignupSettings:
    """Change some sign-up settings (validated together; ValidationError naming the field)."""
    if isinstance(values.get("default_zone"), str):
        values["default_zone"] = values["default_zone"].strip() or None
    old = get_settings(conn, org_id)
    merged = SignupSettings(**{**old.__dict__, **values})
    _check_settings(conn, org_id, merged, values)
    if old.updated_at is None:
        conn.execute(signup_settings.insert().values(org_id=org_id, updated_at=now,
                                                     **{k: getattr(merged, k) for k in EDITABLE}))
    elif values:
        conn.execute(signup_settings.update().where(signup_settings.c.org_id == org_id)
                     .values(updated_at=now, **values))
    return get_settings(conn, org_id)


# -- custom fields -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    id: int
    org_id: int
    key: str
    label: str
    kind: str
    required: bool
    choices: list[str]
    help: str
    position: int
    created_at: datetime
    updated_at: datetime

    @property
    def input_name(self) -> str:
        return f"f_{self.key}"


def _field(r: Any) -> Field:
    m = r._mapping
    return Field(m["id"], m["org_id"], m["key"], m["label"], m["kind"], bool(m["required"]),
                 json.loads(m["choices"] or "[]"), m["help"], m["position"], m["created_at"], m["updated_at"])


def _check_field(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "key" in out and (not isinstance(out["key"], str) or not _KEY.fullmatch(out["key"])):
        raise ValidationError("key", "a lower-case letter, then up to 39 letters, digits or _")
    if "label" in out:
        if not isinstance(out["label"], str) or not out["label"].strip() or len(out["label"]) > 200:
            raise ValidationError("label", "1 to 200 characters")
        out["label"] = out["label"].strip()
    if "kind" in out and out["kind"] not in SIGNUP_FIELD_KINDS:
        raise ValidationError("kind", "one of " + ", ".join(SIGNUP_FIELD_KINDS))
    if "required" in out and not isinstance(out["required"], bool):
        raise ValidationError("required", "true or false")
    if "help" in out and (not isinstance(out["help"], str) or len(out["help"]) > 500):
        raise ValidationError("help", "at most 500 characters")
    if "position" in out and (not isinstance(out["position"], int) or not 0 <= out["position"] <= 10_000):
        raise ValidationError("position", "from 0 to 10000")
    if "choices" in out:
        ch = out["choices"] or []
        if (not isinstance(ch, list) or len(ch) > 50
                or not all(isinstance(c, str) and c.strip() and len(c) <= 100 for c in ch)
                or len({c.strip() for c in ch}) != len(ch)):
            raise ValidationError("choices", "up to 50 different texts of 1 to 100 characters")
        out["choices"] = json.dumps([c.strip() for c in ch])
    return out


def list_fields(conn: Connection, org_id: int) -> list[Field]:
    """The org's custom fields in the form's order."""
    q = sa.select(signup_fields).where(signup_fields.c.org_id == org_id).order_by(
        signup_fields.c.position, signup_fields.c.id)
    return [_field(r) for r in conn.execute(q)]


FIELD_SORTS = {"id": signup_fields.c.id, "position": signup_fields.c.position}


def field_page(conn: Connection, org_id: int, *, sort: str = "position", cursor: str | None = None,
               limit: int = 50) -> paging.Page[Field]:
    q = sa.select(signup_fields).where(signup_fields.c.org_id == org_id)
    return paging.page(conn, q, sort=sort, columns=FIELD_SORTS, id_col=signup_fields.c.id, cursor=cursor,
                       limit=limit, row=_field)


def get_field(conn: Connection, org_id: int, field_id: int) -> Field | None:
    r = conn.execute(sa.select(signup_fields).where(signup_fields.c.org_id == org_id,
                                                    signup_fields.c.id == field_id)).first()
    return None if r is None else _field(r)


def _require_field(conn: Connection, org_id: int, field_id: int) -> Field:
    f = get_field(conn, org_id, field_id)
    if f is None:
        raise NotFound("form field", field_id)
    return f


def add_field(conn: Connection, org_id: int, now: datetime, *, key: str, label: str, kind: str,
              required: bool = False, choices: list[str] | None = None, help: str = "",
              position: int | None = None) -> Field:
    """A custom field at ``position`` (default: last).  A choice field needs its choices."""
    if position is None:
        last = conn.execute(sa.select(sa.func.max(signup_fields.c.position)).where(
            signup_fields.c.org_id == org_id)).scalar()
        position = 10 if last is None else min(int(last) + 10, 10_000)
    v = _check_field({"key": key, "label": label, "kind": kind, "required": required, "choices": choices or [],
                      "help": help, "position": position})
    if kind == "choice" and not json.loads(v["choices"]):
        raise ValidationError("choices", "a choice field needs its choices")
    try:
        with conn.begin_nested():
            key_ = conn.execute(signup_fields.insert().values(org_id=org_id, created_at=now, updated_at=now, **v)
                                ).inserted_primary_key
    except IntegrityError:
        raise ValidationError("key", f"the form already has a field {key!r}") from None
    assert key_ is not None
    return _require_field(conn, org_id, key_[0])


def update_field(conn: Connection, org_id: int, field_id: int, now: datetime, **values: Any) -> Field:
    """Change a custom field's label, kind, requirement, choices, help or position (not its key)."""
    old = _require_field(conn, org_id, field_id)
    if "key" in values:
        raise ValidationError("key", "a field's key does not change (values are kept under it)")
    v = _check_field(values)
    kind = v.get("kind", old.kind)
    choices = json.loads(v["choices"]) if "choices" in v else old.choices
    if kind == "choice" and not choices:
        raise ValidationError("choices", "a choice field needs its choices")
    if v:
        conn.execute(signup_fields.update().where(signup_fields.c.org_id == org_id, signup_fields.c.id == field_id)
                     .values(updated_at=now, **v))
    return _require_field(conn, org_id, field_id)


def remove_field(conn: Connection, org_id: int, field_id: int) -> Field:
    """Remove a custom field from the form (values already given stay with their registrations)."""
    f = _require_field(conn, org_id, field_id)
    conn.execute(signup_fields.delete().where(signup_fields.c.org_id == org_id, signup_fields.c.id == field_id))
    return f


# -- the form and its validation (pure) --------------------------------------------------------

@dataclass(frozen=True)
class FormSpec:
    """What the registration form asks for."""
    settings: SignupSettings
    fields: list[Field]
    country: str                        # the org's phone region


def spec(conn: Connection, org_id: int) -> FormSpec:
    from billing import settings as billing_settings
    return FormSpec(get_settings(conn, org_id), list_fields(conn, org_id), billing_settings.get(conn, org_id).country)


@dataclass(frozen=True)
class Clean:
    """A form that passed validation, normalised."""
    name: str
    email: str | None
    phone: str | None
    address: str | None
    password: str
    custom: dict[str, Any] = field(default_factory=dict)


def parse_value(f: Field, raw: str | None) -> Any:
    """A custom field's typed value from the text sent (None: left empty); ValueError with the message
    the applicant sees for anything else."""
    if f.kind == "checkbox":
        return (raw or "").strip().lower() in TRUE
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) > TEXT_MAX:
        raise ValueError(f"At most {TEXT_MAX} characters.")
    if f.kind == "text":
        return text
    if f.kind == "number":
        try:
            d = Decimal(text.replace(",", "."))
        except InvalidOperation:
            raise ValueError("Type a number, e.g. 3 or 2.5.") from None
        if not d.is_finite() or abs(d) >= Decimal(10) ** 12:
            raise ValueError("Type a number, e.g. 3 or 2.5.")
        return int(d) if d == d.to_integral_value() else float(d)
    if f.kind == "choice":
        if text not in f.choices:
            raise ValueError("Pick one of the choices.")
        return text
    if f.kind == "date":
        try:
            d_ = date.fromisoformat(text)
        except ValueError:
            raise ValueError("Give a date as YYYY-MM-DD.") from None
        if not EARLIEST_DATE <= d_ <= LATEST_DATE:
            raise ValueError("Give a date between 1900 and 2100.")
        return d_.isoformat()
    raise ValueError("Unknown field.")


def validate(s: FormSpec, data: Mapping[str, str], *, has_document: bool) -> tuple[Clean | None, dict[str, str]]:
    """The normalised form and no errors, or None and a message per field (the keys are the inputs'
    names; ``form`` for the form as a whole).  Never raises for what an applicant types."""
    errors: dict[str, str] = {}
    st = s.settings

    def text(name: str, limit: int) -> str:
        return (data.get(name) or "").strip()[:limit + 1]

    name = text("name", 200)
    if not name:
        errors["name"] = "Type your full name."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    email: str | None = None
    phone: str | None = None
    raw_email, raw_phone = text("email", 254), text("phone", 40)
    if st.email_field != "hidden" and raw_email:
        try:
            email = customers.normalise_email(raw_email)
        except ValidationError:
            errors["email"] = "Type an e-mail address like name@example.com."
    elif st.email_field == "required":
        errors["email"] = "Type your e-mail address."
    if st.phone_field != "hidden" and raw_phone:
        try:
            phone = customers.normalise_phone(raw_phone, s.country)
        except ValidationError:
            errors["phone"] = "Type a phone number (with the country code if it is not a local number)."
    elif st.phone_field == "required":
        errors["phone"] = "Type your phone number."
    if not raw_email and not raw_phone and "email" not in errors and "phone" not in errors:
        errors["email" if st.email_field != "hidden" else "phone"] = \
            "Give an e-mail address or a phone number: you sign in with it."
    address: str | None = None
    if st.address_field != "hidden":
        address = text("address", 1000) or None
        if address and len(address) > 1000:
            errors["address"] = "At most 1000 characters."
        elif address is None and st.address_field == "required":
            errors["address"] = "Type your address."
    password, confirm = data.get("password") or "", data.get("confirm") or ""
    if not PASSWORD_MIN <= len(password) <= 200:
        errors["password"] = f"Choose a password of {PASSWORD_MIN} to 200 characters."
    elif password != confirm:
        errors["confirm"] = "The two passwords differ."
    if st.document_field == "required" and not has_document:
        errors["document"] = "Add a photo or scan of your ID document."
    custom: dict[str, Any] = {}
    for f in s.fields:
        try:
            v = parse_value(f, data.get(f.input_name))
        except ValueError as e:
            errors[f.input_name] = str(e)
            continue
        if f.required and (v is None or v is False):
            errors[f.input_name] = "Tick this box." if f.kind == "checkbox" else "This field is required."
            continue
        if v is not None:
            custom[f.key] = v
    if errors:
        return None, errors
    return Clean(name, email, phone, address, password, custom), {}
