"""The CLI does not import the web app: ``aaad jobs run``, ``aaad user suspend`` and the rest build
an App without serving it, and importing the admin console, the portal and the API at
``aaad.app``'s top cost each command about 0.5 s of its 1.8 s start (1.3 s without; a billing run
under RADIUS load paid over a second of it)."""
from __future__ import annotations

import subprocess
import sys


def test_aaad_app_does_not_import_the_web_app() -> None:
    code = ("import sys, aaad.app, aaad.cli\n"
            "print(sorted(m for m in ('web.root', 'web.admin.app', 'web.portal', 'web.service') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_cli_does_not_import_what_only_serving_needs() -> None:
    """Nor Twisted's web server and HTTP client (with pyOpenSSL), treq or Alembic: together about 0.2 s
    of each command's start (0.97 s for ``aaad --help`` before, 0.78 s after).  The daemon imports
    them where it serves, talks to a gateway, or upgrades a schema."""
    heavy = ("twisted.web.server", "twisted.web.client", "treq", "OpenSSL", "alembic")
    code = ("import sys, aaad.app, aaad.cli\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
