"""The accounting package's declaration (see aaad.component)."""
from __future__ import annotations

from aaad.component import Package
from accounting.cli import register
from accounting.config import AccountingConfig

PACKAGE = Package(
    name="accounting",
    config={"accounting": AccountingConfig},
    migrations=None,
    cli=register,
)
