"""/registrations, /signup-settings, /form-fields: self-provisioning with approval.

Applicants register on the portal (``/{org}/portal/register``); admins list the registrations,
approve them (one or many: customer, service and login in one transaction), reject them with a
reason the applicant is told, or ask for more information (the applicant gets a secret link back to
the prefilled form).  The ID document an applicant uploaded is served only here.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from aaad import orgs, urls
from aaad.errors import NotFound
from billing.signup import forms, notices, registrations, uploads
from web.api.declare import Call, Day, Deleted, Id, In, Instant, ListQuery, Out, Page, Raw, Router

router = Router("registrations", "Self-provisioning: registrations from the portal, their approval, the "
                                 "sign-up settings and the registration form's fields")

Status = Literal["pending", "info_requested", "approved", "rejected"]
Requirement = Literal["required", "optional", "hidden"]
FieldKind = Literal["text", "number", "choice", "checkbox", "date"]


class RegistrationOut(Out):
    id: int
    status: Status = Field(description="pending → approved | rejected; info_requested while the applicant "
                                       "is asked for more information.")
    name: str
    email: str | None
    phone: str | None = Field(description="E.164.")
    address: str | None
    fields: dict[str, Any] = Field(description="The custom fields' values by key.")
    product_id: int | None = Field(description="Chosen during sign-up, or the one approved.")
    zone: str | None
    customer_id: int | None = Field(description="Once approved (or at once when a product was chosen).")
    order_id: int | None = Field(description="The order placed when a product was chosen during sign-up.")
    service_id: int | None
    has_document: bool = Field(description="An ID document was uploaded: GET .../document.")
    document_type: str | None
    document_size: int | None
    document_name: str | None
    ip: str = Field(description="The address the form came from.")
    user_agent: str
    question: str = Field(description="The last request for more information.")
    reason: str = Field(description="Why it was rejected (the applicant is told).")
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


class RegistrationQuery(ListQuery):
    status: Status | None = None
    q: str | None = Field(None, max_length=100, description="Part of the name, e-mail or phone.")
    since: Instant | None = Field(None, description="Sent at or after this time.")
    has_document: bool | None = None
    sort: Literal["id", "-id", "created_at", "-created_at", "name", "-name"] = "-id"


class RegistrationPath(In):
    registration_id: Id


class ApproveIn(In):
    product_id: Id | None = Field(None, description="Default: the product chosen during sign-up, else the "
                                                   "sign-up settings' default product.")
    zone: str | None = Field(None, max_length=100, description="Default: the registration's zone, else the "
                                                              "settings' default zone.")
    start: Day | None = Field(None, description="The service's start (default: the org's today).")


class BulkApproveIn(ApproveIn):
    ids: list[Id] = Field(min_length=1, max_length=500, description="The registrations to approve.")


class BulkResultOut(Out):
    registration_id: int
    ok: bool
    error: str = Field(description="Why it was not approved (empty when ok).")
    registration: RegistrationOut | None


class BulkOut(Out):
    approved: int
    failed: int
    results: list[BulkResultOut]


class RejectIn(In):
    reason: str = Field(min_length=1, max_length=1000, description="The applicant is told.")


class InfoIn(In):
    question: str = Field(min_length=1, max_length=2000, description="Shown above the applicant's form.")
    days: int = Field(registrations.INFO_DAYS, ge=1, le=90, description="How long the link works.")


def out(r: registrations.Registration) -> RegistrationOut:
    return RegistrationOut.model_validate(r)


@router.get("/registrations", summary="List registrations")
async def list_registrations(call: Call, query: RegistrationQuery) -> Page[RegistrationOut]:
    """The org's registrations, newest first unless asked; filtered by status, text, time and document."""
    p = await call.read(registrations.page, call.org_id, status=query.status, q=query.q, since=query.since,
                        has_document=query.has_document, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[RegistrationOut](items=[out(r) for r in p.items], next_cursor=p.next_cursor)


@router.get("/registrations/{registration_id}", summary="A registration")
async def get_registration(call: Call, path: RegistrationPath) -> RegistrationOut:
    r = await call.read(registrations.get, call.org_id, path.registration_id)
    if r is None:
        raise NotFound("registration", path.registration_id)
    return out(r)


@router.get("/registrations/{registration_id}/document", summary="A registration's ID document",
            media="application/octet-stream")
async def get_registration_document(call: Call, path: RegistrationPath) -> Raw:
    """The uploaded ID document as it was sent (PDF, JPEG or PNG: the Content-Type says which).  404 when
    the registration has none."""
    found = await call.read(registrations.document_of, call.org_id, path.registration_id)
    if found is None:
        raise NotFound("document of registration", path.registration_id)
    rel, kind, name = found
    try:
        body = uploads.read(call.deps.conf.server.data_dir, call.org_id, rel)
    except (OSError, ValueError):
        raise NotFound("document of registration", path.registration_id) from None
    return Raw(body, kind, name.replace('"', ""))


def _before(call: Call, registration_id: int) -> Any:
    return lambda conn: registrations.get(conn, call.org_id, registration_id)


@router.post("/registrations/{registration_id}/approve", summary="Approve a registration", status=200)
async def approve_registration(call: Call, path: RegistrationPath, body: ApproveIn) -> RegistrationOut:
    """Create the customer (the applicant's password becomes their portal password), the service of the
    product in the zone, active from ``start``, and its login, in one transaction; a registration with an
    order (a product chosen during sign-up) has its order approved from ``start``.  422 naming product_id
    when no product is given and the settings have no default; 422 status when already decided."""
    r = await call.write(registrations.approve, call.deps.login_writer, call.org_id, path.registration_id, call.now,
                         product_id=body.product_id, zone=body.zone, start=body.start,
                         target=f"registration {path.registration_id}", before=_before(call, path.registration_id))
    return out(r)


@router.post("/registrations/bulk-approve", summary="Approve many registrations", status=200)
async def approve_registrations(call: Call, body: BulkApproveIn) -> BulkOut:
    """Approve each registration as one approval would, each on its own: one that cannot be approved (unknown,
    decided already, a duplicate customer meanwhile) is reported and the others are approved."""
    res = await call.write(registrations.approve_many, call.deps.login_writer, call.org_id, body.ids, call.now,
                           product_id=body.product_id, zone=body.zone, start=body.start,
                           target=f"registrations {','.join(map(str, body.ids[:20]))}")
    items = [BulkResultOut(registration_id=x.registration_id, ok=x.ok, error=x.error,
                           registration=out(x.registration) if x.registration else None) for x in res]
    return BulkOut(approved=sum(1 for x in res if x.ok), failed=sum(1 for x in res if not x.ok), results=items)


@router.post("/registrations/{registration_id}/reject", summary="Reject a registration", status=200)
async def reject_registration(call: Call, path: RegistrationPath, body: RejectIn) -> RegistrationOut:
    """Reject with a reason the applicant is told (a customer created during sign-up is closed and its order
    cancelled)."""
    r = await call.write(registrations.reject, call.deps.login_writer, call.org_id, path.registration_id, call.now,
                         reason=body.reason, target=f"registration {path.registration_id}",
                         before=_before(call, path.registration_id))
    return out(r)


@router.post("/registrations/{registration_id}/request-info", summary="Ask the applicant for more information",
             status=200)
async def request_registration_info(call: Call, path: RegistrationPath, body: InfoIn) -> RegistrationOut:
    """The applicant gets a message with a secret link back to the registration form, prefilled, with the
    question shown above it; the link works for ``days`` days and until the applicant answers (a new request
    replaces it).  The registration is info_requested until then."""
    billing = call.deps.services.get("billing")
    base = billing.notify.base_url() if billing is not None else ""
    base = base or urls.public_url(call.deps.conf.web)
    box = call.deps.box

    def ask(conn: Any, org_id: int, registration_id: int, question: str, now: datetime,
            days: int) -> registrations.Registration:
        org = orgs.get(conn, org_id)
        assert org is not None

        def send(reg: registrations.Registration, token: str) -> None:
            notices.send_info_link(conn, box, reg, urls.portal_url(base, org.slug, f"register/more/{token}"),
                                   days, now)
        return registrations.request_info(conn, org_id, registration_id, question, now, days=days, send=send)
    r = await call.write(ask, call.org_id, path.registration_id, body.question, call.now, body.days,
                         target=f"registration {path.registration_id}", before=_before(call, path.registration_id))
    return out(r)


# -- sign-up settings ------------------------------------------------------------------------------

class SignupSettingsOut(Out):
    enabled: bool = Field(description="The portal's registration form is open.")
    approval: Literal["required", "automatic"] = Field(
        description="required: nothing is active until an admin approves; automatic: approved as it arrives "
                    "(with the default product).")
    default_product_id: int | None
    default_zone: str | None
    email_field: Requirement
    phone_field: Requirement
    address_field: Requirement
    document_field: Requirement = Field(description="The ID document upload (PDF, JPEG or PNG).")
    document_max_kb: int
    max_per_hour: int = Field(description="Registration forms one address may send an hour.")
    mode: Literal["isp", "hotspot"] = Field(
        description="isp: registrations as approval says; hotspot: the account is made at once, signed in and "
                    "welcomed by e-mail (customers buy vouchers on the portal).")
    updated_at: datetime | None
    register_url: str = Field(description="The public registration page.")


class SignupSettingsPatch(In):
    enabled: bool | None = None
    approval: Literal["required", "automatic"] | None = None
    default_product_id: Id | None = None
    default_zone: str | None = Field(None, max_length=100)
    email_field: Requirement | None = None
    phone_field: Requirement | None = None
    address_field: Requirement | None = None
    document_field: Requirement | None = None
    document_max_kb: int | None = Field(None, ge=1, le=20480)
    max_per_hour: int | None = Field(None, ge=1, le=1000)
    mode: Literal["isp", "hotspot"] | None = None


async def _settings_out(call: Call, s: forms.SignupSettings) -> SignupSettingsOut:
    org = await call.read(orgs.get, call.org_id)
    url = urls.portal_url(urls.public_url(call.deps.conf.web), org.slug if org else "", "register")
    return SignupSettingsOut(**{k: getattr(s, k) for k in forms.EDITABLE}, updated_at=s.updated_at,
                             register_url=url)


@router.get("/signup-settings", summary="The sign-up settings")
async def get_signup_settings(call: Call) -> SignupSettingsOut:
    """Whether the registration form is open, approval, the defaults an approval uses, which built-in fields
    the form asks for."""
    return await _settings_out(call, await call.read(forms.get_settings, call.org_id))


@router.patch("/signup-settings", summary="Change the sign-up settings")
async def update_signup_settings(call: Call, body: SignupSettingsPatch) -> SignupSettingsOut:
    """Change the settings sent (default_product_id and default_zone take null to clear them).  The e-mail and
    the phone field cannot both be hidden: customers sign in with one of them."""
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items()
              if v is not None or k in ("default_product_id", "default_zone")}
    s = await call.write(forms.update_settings, call.org_id, call.now, **values, target="signup settings",
                         before=lambda conn: forms.get_settings(conn, call.org_id))
    return await _settings_out(call, s)


# -- the form's custom fields ----------------------------------------------------------------------

class FormFieldOut(Out):
    id: int
    key: str = Field(description="The value's key in the registration's (and the customer's) custom fields.")
    label: str
    kind: FieldKind
    required: bool
    choices: list[str]
    help: str
    position: int = Field(description="The form shows fields by position, then id.")
    created_at: datetime
    updated_at: datetime


class FormFieldQuery(ListQuery):
    sort: Literal["position", "-position", "id", "-id"] = "position"


class FormFieldPath(In):
    form_field_id: Id


class FormFieldIn(In):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=200)
    kind: FieldKind
    required: bool = False
    choices: list[str] = Field(default_factory=list, max_length=50, description="For a choice field.")
    help: str = Field("", max_length=500)
    position: int | None = Field(None, ge=0, le=10_000, description="Default: after the last field.")


class FormFieldPatch(In):
    label: str | None = Field(None, min_length=1, max_length=200)
    kind: FieldKind | None = None
    required: bool | None = None
    choices: list[str] | None = Field(None, max_length=50)
    help: str | None = Field(None, max_length=500)
    position: int | None = Field(None, ge=0, le=10_000)


def field_out(f: forms.Field) -> FormFieldOut:
    return FormFieldOut.model_validate(f)


@router.get("/form-fields", summary="List the registration form's custom fields")
async def list_form_fields(call: Call, query: FormFieldQuery) -> Page[FormFieldOut]:
    """The custom fields in the form's order."""
    p = await call.read(forms.field_page, call.org_id, sort=query.sort, cursor=query.cursor, limit=query.limit)
    return Page[FormFieldOut](items=[field_out(f) for f in p.items], next_cursor=p.next_cursor)


@router.get("/form-fields/{form_field_id}", summary="A custom field")
async def get_form_field(call: Call, path: FormFieldPath) -> FormFieldOut:
    f = await call.read(forms.get_field, call.org_id, path.form_field_id)
    if f is None:
        raise NotFound("form field", path.form_field_id)
    return field_out(f)


@router.post("/form-fields", summary="Add a custom field")
async def create_form_field(call: Call, body: FormFieldIn) -> FormFieldOut:
    """A text, number, choice, checkbox or date field on the registration form; its key is unique and never
    changes."""
    f = await call.write(forms.add_field, call.org_id, call.now, **body.model_dump(), target="form field")
    return field_out(f)


@router.patch("/form-fields/{form_field_id}", summary="Change a custom field")
async def update_form_field(call: Call, path: FormFieldPath, body: FormFieldPatch) -> FormFieldOut:
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    f = await call.write(forms.update_field, call.org_id, path.form_field_id, call.now, **values,
                         target=f"form field {path.form_field_id}",
                         before=lambda conn: forms.get_field(conn, call.org_id, path.form_field_id))
    return field_out(f)


@router.delete("/form-fields/{form_field_id}", summary="Remove a custom field")
async def delete_form_field(call: Call, path: FormFieldPath) -> Deleted:
    """The field leaves the form; values already given stay with their registrations and customers."""
    await call.write(forms.remove_field, call.org_id, path.form_field_id, target=f"form field {path.form_field_id}",
                     before=lambda conn: forms.get_field(conn, call.org_id, path.form_field_id))
    return Deleted(id=path.form_field_id)
