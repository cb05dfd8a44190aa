"""The web package's declaration (see aaad.component): the admin API's and the portal's config, tables and CLI."""
from __future__ import annotations

from pathlib import Path

from aaad.component import Package
from web.cli import register
from web.config import AdminConfig, ApiConfig, PortalConfig

PACKAGE = Package(
    name="web",
    config={"api": ApiConfig, "portal": PortalConfig, "admin": AdminConfig},
    migrations=str(Path(__file__).resolve().parent / "migrations" / "versions"),
    cli=register,
)
