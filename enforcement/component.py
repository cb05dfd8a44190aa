"""The enforcement package's declaration (see aaad.component)."""
from __future__ import annotations

from pathlib import Path

from aaad.component import Package
from enforcement.cli import register
from enforcement.config import EnforcementConfig

PACKAGE = Package(
    name="enforcement",
    config={"enforcement": EnforcementConfig},
    migrations=str(Path(__file__).resolve().parent / "migrations" / "versions"),
    cli=register,
)
