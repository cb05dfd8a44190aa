"""The web side's pages in real headless Chromium at phone and desktop width: each loads with its
stylesheet, scrolls no sideways, logs no console error (a CSP refusal, a missing file) and axe-core
finds nothing serious or critical; a screenshot of each is kept."""
from __future__ import annotations

from typing import Any

import pytest

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402

PAGES = [
    ("landing", "/", "aaad"),
    ("portal", "/demo/portal/", "Demo ISP"),
    ("suspended", "/demo/portal/suspended?reason=unpaid", "suspended"),
    ("vouchers", "/demo/portal/vouchers", "WiFi vouchers"),
    ("not-found", "/demo/portal/no-such-page", "not found"),
    ("unknown-org", "/no-such-org/portal/", "not found"),
]


@pytest.mark.parametrize("width", ["phone", "desktop"])
@pytest.mark.parametrize("name,path,says", PAGES, ids=[p[0] for p in PAGES])
def test_page_is_readable_and_accessible(driver: Any, demo_daemon: Site, name: str, path: str, says: str,
                                         width: str) -> None:
    """The page loads, is styled by aaad.css, fits the width, says what it is for, logs no
    console error, and axe-core finds no serious or critical violation."""
    kit.size(driver, width)
    kit.go(driver, demo_daemon.url(path))
    kit.wait_text(driver, says)
    header = driver.find_element(By.CSS_SELECTOR, "header.brand")
    assert header.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "transparent"), \
        "aaad.css did not load"
    kit.shot(driver, f"{name}-{width}")
    assert kit.overflow(driver) == 0, f"{path} scrolls sideways at {width} width"
    errors = [m for m in kit.console_errors(driver) if not (name in ("not-found", "unknown-org") and " 404 " in m)]
    assert not errors, errors
    kit.axe(driver, f"{name}-{width}")


def test_the_landing_page_leads_to_the_portal(driver: Any, demo_daemon: Site) -> None:
    """From the landing page, the org's link opens its portal (links are relative: they work
    wherever the web side is mounted)."""
    kit.go(driver, demo_daemon.url("/"))
    kit.click(driver, "^Demo ISP$")
    kit.wait_url(driver, r"/demo/portal/$")
    kit.wait_text(driver, "customer portal of Demo ISP")
    kit.shot(driver, "portal-from-landing")


def test_axe_catches_a_serious_violation(driver: Any, demo_daemon: Site) -> None:
    """The check itself: a page with an unlabelled input and an image without alt text fails it."""
    kit.go(driver, demo_daemon.url("/"))
    driver.execute_script(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<form><input type=text name=q></form><img src=static/favicon.svg>');")
    with pytest.raises(AssertionError) as e:
        kit.axe(driver, "planted")
    assert "label" in str(e.value) and "image-alt" in str(e.value)
