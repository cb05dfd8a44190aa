"""/{org}/portal/hotspot/FILE: the org's hotspot pages, for the router's /tool fetch."""
from __future__ import annotations

from aaad.urls import HOTSPOT_FILES
from tests.web.portal.conftest import Browser


def test_every_file_is_served_as_a_download(browser: Browser) -> None:
    """Each file of the bundle, as an attachment that never renders on aaad's origin."""
    for name in HOTSPOT_FILES:
        r = browser.get(f"/demo/portal/hotspot/{name}")
        assert r.code == 200, name
        assert r.required_header("Content-Disposition") == f'attachment; filename="{name}"'
        assert r.required_header("Content-Security-Policy").startswith("sandbox")
        assert r.required_header("X-Content-Type-Options") == "nosniff"
    login = browser.get("/demo/portal/hotspot/login.html")
    assert login.required_header("Content-Type") == "text/html; charset=utf-8"
    assert "$(link-login-only)" in login.text and "/demo/portal/vouchers" in login.text
    assert browser.get("/demo/portal/hotspot/md5.js").required_header("Content-Type").startswith(
        "application/javascript")
    assert not browser.set_cookies            # no portal session for a router


def test_each_org_gets_its_own_pages(browser: Browser) -> None:
    """The other org's login page links to its own portal."""
    r = browser.get("/other/portal/hotspot/login.html")
    assert r.code == 200 and "/other/portal/register" in r.text and "/demo/portal/" not in r.text


def test_unknown_file_or_org_is_404(browser: Browser) -> None:
    """Only the bundle's file names; an unknown org is 404 too."""
    for path in ("/demo/portal/hotspot/secret.txt", "/demo/portal/hotspot/..%2Faaad.toml",
                 "/demo/portal/hotspot/", "/nosuchorg/portal/hotspot/login.html"):
        assert browser.get(path).code == 404, path
