"""The accounting package's declaration (see aaad.component)."""
from __future__ import annotations

from pathlib import Path

from aaad.component import Package
from accounting.cli import register
from accounting.config import AccountingConfig

PACKAGE = Package(
    name="accounting",
    config={"accounting": AccountingConfig},
    migrations=str(Path(__file__).resolve().parent / "migrations" / "versions"),
    cli=register,
)
