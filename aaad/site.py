"""The daemon's HTTP server (Twisted's ``Site``) as the web root is served.

Imported where the daemon starts serving, not with :mod:`aaad.app`: Twisted's web server costs
every CLI command some 0.06 s to import, and the CLI builds an App without serving it.
"""
from __future__ import annotations

from typing import Any

from twisted.logger import LogLevel
from twisted.web.server import Site


class ApiQuietSite(Site):
    """The web root's HTTP server. A request under /api/ is logged by the API itself (one line with
    the token's name, the route, the status and the latency), not again in the access-log format.
    The access log is an info line: with ``access_log`` false (``[server] log_level`` warn or error,
    which would drop it) it is not formatted at all (about 3% of a portal page's CPU)."""

    access_log = True

    def log(self, request: Any) -> None:
        if not self.access_log or request.path.startswith(b"/api/"):
            return
        super().log(request)


def logs_info(level: str) -> bool:
    """True if ``[server] log_level`` lets info lines (the access log) through."""
    return bool(LogLevel.levelWithName(level) <= LogLevel.info)
