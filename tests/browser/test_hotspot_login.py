"""The hotspot login pages in Chromium, served by a fake MikroTik hotspot (the router's servlet and its
RADIUS client) against the running daemon: typed login, the QR code's links, code-only vouchers, a wrong
password, the status page; axe-clean at phone and desktop width."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.billing.vouchers.hotspot_router import FakeHotspot
from tests.browser import kit
from tests.conftest import Daemon


@pytest.fixture(scope="module")
def bundle(daemon: Daemon, tmp_path_factory: Any) -> Path:
    out = tmp_path_factory.mktemp("hotspot")
    daemon.cli("trial", "set", "--org", "demo", "--minutes", "15", "--profile", "hotspot-1h")
    daemon.cli("hotspot", "bundle", "--org", "demo", str(out))
    daemon.cli("user", "add", "K7PX9Q", "--password", "K7PX9Q", "--profile", "hotspot-1h")
    return out


@pytest.fixture
def hotspot(daemon: Daemon, bundle: Path) -> Iterator[FakeHotspot]:
    h = FakeHotspot.from_dir(bundle, daemon.auth_port, trial=True)
    yield h
    h.close()


def test_login_page_is_accessible_and_logs_in_with_chap(driver: Any, hotspot: FakeHotspot) -> None:
    """Typed code and password: the page's CHAP response is accepted by aaad; the status page follows."""
    kit.go(driver, f"{hotspot.url}/login")
    kit.audit(driver, "hotspot-login")
    assert driver.find_element(By.ID, "buy").get_attribute("href").endswith("/demo/portal/vouchers")
    assert driver.find_element(By.ID, "register").get_attribute("href").endswith("/demo/portal/register")
    assert driver.find_element(By.ID, "trial").get_attribute("href").endswith(
        "username=T-02%3A00%3A00%3A00%3A00%3A01&codeonly=1")
    kit.fill(kit.field(driver, "username"), "carol")
    kit.fill(kit.field(driver, "password"), "carol-pass")
    kit.submit(driver, kit.field(driver, "password"))
    kit.wait_text(driver, "You are connected")
    assert hotspot.logins == [("carol", "chap", True)]
    kit.audit(driver, "hotspot-alogin")
    kit.wait_url(driver, r"/status$")
    kit.wait_text(driver, "Time left")
    kit.audit(driver, "hotspot-status")
    assert not kit.console_errors(driver)


def test_wrong_password_shows_the_reason(driver: Any, hotspot: FakeHotspot) -> None:
    """A wrong password: back on the login page with aaad's reason, the code kept."""
    kit.go(driver, f"{hotspot.url}/login")
    kit.fill(kit.field(driver, "username"), "carol")
    kit.fill(kit.field(driver, "password"), "nope")
    kit.submit(driver, kit.field(driver, "password"))
    kit.wait_text(driver, "wrong password")
    assert kit.field(driver, "username").get_attribute("value") == "carol"
    assert hotspot.logins == [("carol", "chap", False)]
    kit.audit(driver, "hotspot-login-error")


def test_qr_link_with_password_logs_in_by_itself(driver: Any, hotspot: FakeHotspot) -> None:
    """login?username=CODE&password=PW (a card's QR code) connects without a click."""
    driver.get(f"{hotspot.url}/login?username=carol&password=carol-pass")
    kit.wait_text(driver, "You are connected")
    assert hotspot.logins == [("carol", "chap", True)]


def test_code_only_voucher_link_and_empty_password(driver: Any, hotspot: FakeHotspot) -> None:
    """&codeonly=1 logs a code-only voucher in by itself; typed with no password it works too."""
    driver.get(f"{hotspot.url}/login?username=K7PX9Q&codeonly=1")
    kit.wait_text(driver, "You are connected")
    kit.go(driver, f"{hotspot.url}/login")
    kit.fill(kit.field(driver, "username"), "K7PX9Q")
    kit.submit(driver, kit.field(driver, "username"))
    kit.wait_text(driver, "You are connected")
    assert hotspot.logins == [("K7PX9Q", "chap", True), ("K7PX9Q", "chap", True)]


def test_free_trial_link_connects_through_radius(driver: Any, hotspot: FakeHotspot) -> None:
    """'Free trial' logs the device in as T-<its MAC> with aaad's trial (CHAP, password = the name)."""
    kit.go(driver, f"{hotspot.url}/login")
    kit.click(driver, "Free trial", navigates=False)
    kit.wait_text(driver, "You are connected")
    assert hotspot.logins == [("T-02:00:00:00:00:01", "chap", True)]


def test_qr_link_with_code_only_fills_it_in(driver: Any, hotspot: FakeHotspot) -> None:
    """login?username=CODE fills the code in and waits for the password."""
    kit.go(driver, f"{hotspot.url}/login?username=carol")
    assert kit.field(driver, "username").get_attribute("value") == "carol"
    assert driver.switch_to.active_element.get_attribute("id") == "password"
    assert hotspot.logins == []


def test_without_chap_the_router_gets_pap(driver: Any, daemon: Daemon, bundle: Path) -> None:
    """A hotspot offering only HTTP-PAP: the page posts the password itself; aaad accepts it."""
    h = FakeHotspot.from_dir(bundle, daemon.auth_port, chap=False)
    try:
        kit.go(driver, f"{h.url}/login")
        kit.fill(kit.field(driver, "username"), "carol")
        kit.fill(kit.field(driver, "password"), "carol-pass")
        kit.submit(driver, kit.field(driver, "password"))
        kit.wait_text(driver, "You are connected")
        assert h.logins == [("carol", "pap", True)]
    finally:
        h.close()


def _add_voucher_login(daemon: Daemon, code: str, **values: Any) -> None:
    """An unused code-only voucher login (password = code) written into the daemon's database as the
    voucher batches write them; returns once the running daemon has it (the change feed)."""
    import json
    import time
    from datetime import UTC, datetime

    from aaad import app, orgs
    from aaad.db import sync_engine
    from aaad.view import store as view_store
    from aaad.view.write import LoginWriter
    conf = app.load_config(str(daemon.config_path))
    e = sync_engine(app.database_url(conf), conf.database.busy_timeout_ms)
    before = json.loads(daemon.get("/healthz")[1])["last_change"]
    try:
        with e.begin() as c:
            org = orgs.get_by_slug(c, "demo")
            assert org is not None
            profile = next(p for p in view_store.list_profiles(c, org.id) if p.name == "hotspot-1h")
            LoginWriter(app.secret_box(conf)).create_many(c, org.id, [(code, code, 9001)], datetime.now(UTC),
                                                          owner_type="voucher", state="unused",
                                                          profile_id=profile.id, **values)
    finally:
        e.dispose()
    t0 = time.monotonic()
    while json.loads(daemon.get("/healthz")[1])["last_change"] <= before:
        assert time.monotonic() - t0 < 5.0, "the daemon did not follow the change feed"


def test_unused_voucher_claimed_through_the_pages_and_bound_to_the_device(driver: Any, daemon: Daemon,
                                                                          bundle: Path) -> None:
    """A card's code-only QR link on one device claims the unused voucher (time limit capping Session-Timeout);
    the same code on another device is rejected, the page showing why."""
    _add_voucher_login(daemon, "HS7QK4", time_limit=1800, bind_mac=True)
    first = FakeHotspot.from_dir(bundle, daemon.auth_port, mac="02:00:00:00:00:0A")
    second = FakeHotspot.from_dir(bundle, daemon.auth_port, mac="02:00:00:00:00:0B")
    try:
        driver.get(f"{first.url}/login?username=HS7QK4&codeonly=1")
        kit.wait_text(driver, "You are connected")
        assert first.logins == [("HS7QK4", "chap", True)]
        assert first.session is not None and first.session.reply["Session-Timeout"][0] <= 1800
        driver.get(f"{second.url}/login?username=HS7QK4&codeonly=1")
        kit.wait_text(driver, "bound to another device")
        assert second.logins == [("HS7QK4", "chap", False)]
        assert kit.field(driver, "username").get_attribute("value") == "HS7QK4"
    finally:
        first.close()
        second.close()
