"""Where the browser tests find Chromium and put their artefacts; whether they can run here.

No Selenium import here: a test module calls :func:`require` first, so that without the
browser or the packages it is skipped with the reason instead of failing to import.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")          # Debian's chromium
CHROMEDRIVER = Path("/usr/bin/chromedriver")  # Debian's chromium-driver
ARTIFACTS = Path(os.environ.get("AAAD_BROWSER_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts")
SIZES = {"phone": (390, 844), "desktop": (1280, 900)}


def missing() -> str:
    """Why the browser tests cannot run here ('' if they can)."""
    why = [f"{p} not found" for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    why += [f"python package {m} not installed" for m in ("selenium", "axe_selenium_python")
            if importlib.util.find_spec(m) is None]
    if why:
        return ("browser tests need Debian's chromium and chromium-driver and the test extras: "
                + "; ".join(why) + " (the README's test command, make test, installs them)")
    return ""


def require() -> None:
    """Skip the calling test module, saying why, unless Chromium, its driver and Selenium are here."""
    why = missing()
    if why:
        pytest.skip(why, allow_module_level=True)
