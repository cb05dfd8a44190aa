"""The billing package's declaration (see aaad.component)."""
from __future__ import annotations

from pathlib import Path

from aaad.component import Package
from billing.cli import register
from billing.config import BillingConfig
from billing.notify.config import NotifyConfig

PACKAGE = Package(
    name="billing",
    config={"billing": BillingConfig, "notify": NotifyConfig},
    migrations=str(Path(__file__).resolve().parent / "migrations" / "versions"),
    cli=register,
)
