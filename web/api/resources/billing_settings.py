"""/billing-settings: the org's billing settings (VAT, billing day, dunning, numbering, branding)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from billing import settings
from web.api.declare import Call, In, Out, Router

router = Router("billing-settings", "The org's billing settings: VAT, billing day, payment terms, grace, "
                                    "suspension, document numbering and branding")

SuspendMode = Literal["reject", "walled_garden"]
_PREFIX = r"^[A-Za-z0-9/_.-]{0,20}$"


class BillingSettingsOut(Out):
    currency: str = Field(description="The org's currency (ISO 4217): every amount is in its minor units. "
                                      "Set on the org, not here.")
    timezone: str = Field(description="The org's time zone: billing periods and due dates are its dates.")
    country: str = Field(description="Default phone region (ISO 3166 alpha-2).")
    vat_bp: int = Field(description="VAT rate in basis points (1500 = 15 %).")
    prices_include_vat: bool = Field(description="Catalogue prices include VAT (else VAT is added).")
    billing_day: int = Field(description="Day of the month (1-28) monthly periods start on.")
    payment_terms_days: int = Field(description="Days from an invoice's issue to its due date.")
    grace_days: int = Field(description="Days after the due date before dunning suspends.")
    suspend_mode: SuspendMode = Field(description="How a suspended login is answered: rejected with the "
                                                  "reason, or let into the walled garden.")
    auto_resume: bool = Field(description="A payment that clears the arrears resumes suspended services.")
    invoice_prefix: str
    credit_note_prefix: str
    receipt_prefix: str
    brand_name: str | None = Field(description="Name printed on documents (null: the org's name).")
    brand_logo: str | None = Field(description="Logo on documents: a data: URL.")
    brand_colour: str | None = Field(description="Accent colour on documents, like #0a7cff.")
    brand_address: str | None
    brand_tax_id: str | None
    locale: str = Field(description="Money and date format on documents (en_US, fr_FR, en_GH...).")
    hotspot_login_url: str = Field(description="The hotspot's login page; voucher cards' QR codes open it.")


class BillingSettingsPatch(In):
    """The settings to change; those not sent stay.  The brand_* fields take null to clear them; null for a
    setting that cannot be empty leaves it as it is."""
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2, e.g. GH.")
    vat_bp: int | None = Field(None, ge=0, le=10_000, description="Basis points (1500 = 15 %).")
    prices_include_vat: bool | None = Field(None)
    billing_day: int | None = Field(None, ge=1, le=28)
    payment_terms_days: int | None = Field(None, ge=0, le=365)
    grace_days: int | None = Field(None, ge=0, le=365)
    suspend_mode: SuspendMode | None = Field(None)
    auto_resume: bool | None = Field(None)
    invoice_prefix: str | None = Field(None, pattern=_PREFIX)
    credit_note_prefix: str | None = Field(None, pattern=_PREFIX)
    receipt_prefix: str | None = Field(None, pattern=_PREFIX)
    brand_name: str | None = Field(None, max_length=200)
    brand_logo: str | None = Field(None, max_length=1_000_000, description="A data: URL.")
    brand_colour: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    brand_address: str | None = Field(None, max_length=2000)
    brand_tax_id: str | None = Field(None, max_length=64)
    locale: str | None = Field(None, min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
    hotspot_login_url: str | None = Field(None, max_length=490, pattern=r"^https?://[^\s?#]+$")


def out(s: settings.Settings) -> BillingSettingsOut:
    return BillingSettingsOut.model_validate(s)


@router.get("/billing-settings", summary="The billing settings")
async def get_billing_settings(call: Call) -> BillingSettingsOut:
    """The org's billing settings (the defaults until first changed)."""
    return out(await call.read(settings.get, call.org_id))


@router.patch("/billing-settings", summary="Change billing settings")
async def update_billing_settings(call: Call, body: BillingSettingsPatch) -> BillingSettingsOut:
    """Change the settings sent, all checked together first.  New numbering prefixes apply to documents
    issued from now on; a new VAT rate, billing day or terms to invoices issued from now on."""
    values: dict[str, Any] = {k: v for k, v in body.model_dump(exclude_unset=True).items()
                              if v is not None or k.startswith("brand_")}
    s = await call.write(settings.update, call.org_id, call.now, **values, target="billing settings",
                         before=lambda conn: settings.get(conn, call.org_id))
    return out(s)
