"""The HTTP access log: left out for /api/ (the API logs its own line) and, when ``[server] log_level``
drops info lines, not formatted at all."""
from __future__ import annotations

from typing import Any

import pytest
from twisted.web import http
from twisted.web.resource import Resource

from aaad.site import ApiQuietSite, logs_info


class _Request:
    def __init__(self, path: bytes):
        self.path = path


@pytest.fixture
def formatted(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []

    def log(self: Any, request: Any) -> None:
        seen.append(request.path)
    monkeypatch.setattr(http.HTTPFactory, "log", log)
    return seen


@pytest.mark.parametrize(("level", "expected"), [("debug", True), ("info", True), ("warn", False),
                                                 ("error", False)])
def test_logs_info_follows_the_level(level: str, expected: bool) -> None:
    assert logs_info(level) is expected


def test_pages_are_logged_and_the_api_is_not(formatted: list[bytes]) -> None:
    site = ApiQuietSite(Resource())
    for path in (b"/bench/portal/", b"/api/v1/customers", b"/healthz"):
        site.log(_Request(path))
    assert formatted == [b"/bench/portal/", b"/healthz"]


def test_no_line_is_formatted_when_the_level_drops_it(formatted: list[bytes]) -> None:
    site = ApiQuietSite(Resource())
    site.access_log = False
    site.log(_Request(b"/bench/portal/"))
    assert formatted == []
