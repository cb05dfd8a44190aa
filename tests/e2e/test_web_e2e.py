"""End to end: the web root of the real daemon over real HTTP on loopback."""
from __future__ import annotations

import json

from tests.conftest import Daemon


def test_every_part_of_the_web_root_answers(daemon: Daemon) -> None:
    """/, /healthz, /metrics, /api/v1/, the suspension page and a static file, each with its type."""
    code, body = daemon.get("/")
    assert code == 200 and "aaad" in body and '<a href="demo/portal/">Demo ISP</a>' in body
    code, body = daemon.get("/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    code, body = daemon.get("/metrics")
    assert code == 200 and "aaad_uptime_seconds" in body
    code, body = daemon.get("/api/v1/")
    assert code == 200 and json.loads(body)["api_version"] == "v1"
    code, body = daemon.get("/demo/portal/suspended?reason=unpaid")
    assert code == 200 and "Demo ISP" in body and "unpaid balance" in body
    code, body = daemon.get("/static/aaad.css")
    assert code == 200 and "body" in body


def test_errors_are_json_in_the_api_and_html_elsewhere(daemon: Daemon) -> None:
    """Unknown API paths are JSON 404s; an unknown org's portal and unknown paths are HTML 404s."""
    code, body = daemon.get("/api/v1/nothing")
    assert code == 404 and json.loads(body)["error"]["code"] == "not_found"
    for path in ("/no-such-org/portal/suspended", "/nothing"):
        code, body = daemon.get(path)
        assert code == 404 and body.startswith("<!doctype html>") and "Traceback" not in body


def test_portal_of_one_org_never_shows_another(daemon: Daemon) -> None:
    """With two orgs, each one's suspension page names only itself; the landing page lists both."""
    daemon.cli("org", "add", "other", "--name", "Other Net")
    _, demo = daemon.get("/demo/portal/suspended")
    _, other = daemon.get("/other/portal/suspended")
    assert "Demo ISP" in demo and "Other Net" not in demo
    assert "Other Net" in other and "Demo ISP" not in other
    _, landing = daemon.get("/")
    assert 'href="other/portal/"' in landing and 'href="demo/portal/"' in landing
