"""Browser tests: one headless Chromium for the session, one demo daemon per module.

- ``browser`` (session): Debian's ``/usr/bin/chromium`` through ``/usr/bin/chromedriver``
  (``--headless=new --no-sandbox --disable-gpu``: the tests run as root); nothing is
  downloaded, Selenium Manager never runs.  Without chromium, chromedriver or selenium every
  test here is skipped with the reason (``make test`` installs them, so in CI they run).
- ``driver`` (each test): that browser with its cookies cleared, at phone width, and the test's
  artefact folder ready for ``kit.shot``; on failure a screenshot and the page's HTML are kept.
- ``demo_daemon`` (module): ``aaad serve`` on SQLite with the whole demo (``aaad demo``: the
  RADIUS side, billing, notifications to the ``file`` provider in ``{data_dir}/outbox``),
  jobs on; see :class:`Site` for what the tests do to it from outside.

Artefacts (screenshots, page HTML, axe reports): ``tests/browser/artifacts/`` (git-ignored),
or ``$AAAD_BROWSER_ARTIFACTS``; the path is printed at the end of the run.
"""
from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser import paths
from tests.conftest import Daemon, DaemonFactory

os.environ.setdefault("SE_OFFLINE", "true")        # Selenium Manager: never fetch anything
os.environ.setdefault("SE_AVOID_STATS", "true")    # ... nor report usage


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Generator[None, Any, None]:
    """Keep each phase's report on the test, so ``driver`` knows whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    kit = sys.modules.get("tests.browser.kit")
    if kit is not None and kit.ARTEFACTS.written:
        terminalreporter.write_line(f"browser test artefacts (screenshots, axe reports): {paths.ARTIFACTS}")


# -- the browser -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    paths.require()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(paths.CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-features=Translate,MediaRouter",
                "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-US",
                f"--window-size={paths.SIZES['phone'][0]},{paths.SIZES['phone'][1]}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(paths.CHROMEDRIVER))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(30)
    d.set_script_timeout(60)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture
def driver(browser: Any, request: Any) -> Iterator[Any]:
    """The session's browser for one test: no cookies, phone width, an artefact folder; a
    screenshot and the page's HTML kept if the test fails."""
    from tests.browser import kit
    kit.ARTEFACTS.start(request.node.nodeid)
    browser.delete_all_cookies()
    kit.size(browser, "phone")
    browser.get("about:blank")
    browser.get_log("browser")           # drop the previous test's console messages
    yield browser
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        try:
            kit.shot(browser, "FAILED")
            kit.keep_page(browser, "FAILED")
        except Exception as e:  # the browser itself may be what failed
            print(f"no failure screenshot: {e}", file=sys.stderr)
        print(f"browser artefacts of this test: {kit.ARTEFACTS.folder}", file=sys.stderr)


# -- the daemon --------------------------------------------------------------------------------------------------

class Site:
    """The demo daemon seen from outside: its pages' addresses, the database for setting a
    customer's password, the file outbox."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self.outbox = daemon.data_dir / "outbox"

    def url(self, path: str = "/") -> str:
        return self.daemon.url(path)

    def engine(self) -> Any:
        from aaad import app
        from aaad.db import sync_engine
        conf = app.load_config(str(self.daemon.config_path))
        return sync_engine(app.database_url(conf), conf.database.busy_timeout_ms)

    def customer(self, key: str, org: str = "demo") -> tuple[int, int]:
        """(org id, customer id) of the customer with this e-mail, phone or username."""
        from aaad import orgs
        from billing import customers
        e = self.engine()
        try:
            with e.connect() as c:
                o = orgs.get_by_slug(c, org)
                assert o is not None, org
                cust = customers.find(c, o.id, key)
                assert cust is not None, key
                return o.id, cust.id
        finally:
            e.dispose()

    def set_password(self, key: str, password: str, org: str = "demo") -> int:
        """Give a demo customer a portal password (billing.customers.set_password); the customer's id."""
        from billing import customers
        org_id, cid = self.customer(key, org)
        e = self.engine()
        try:
            with e.begin() as c:
                customers.set_password(c, org_id, cid, password, datetime.now(UTC))
        finally:
            e.dispose()
        return cid

    def password_is(self, key: str, password: str, org: str = "demo") -> bool:
        from billing import customers
        org_id, cid = self.customer(key, org)
        e = self.engine()
        try:
            with e.connect() as c:
                return customers.verify_password(c, org_id, cid, password)
        finally:
            e.dispose()

    def balance(self, key: str, org: str = "demo") -> int:
        """What the customer owes, in minor units (the ledger's balance)."""
        from billing import ledger
        org_id, cid = self.customer(key, org)
        e = self.engine()
        try:
            with e.connect() as c:
                return int(ledger.balance(c, org_id, cid))
        finally:
            e.dispose()

    def mails(self, to: str) -> list[Any]:
        """The e-mails the file provider has written to ``to`` so far, oldest first."""
        out = []
        for p in sorted(self.outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            if to.lower() in str(msg.get("To", "")).lower():
                out.append(msg)
        return out


def mail_text(msg: Any) -> str:
    """The plain-text body of an e-mail."""
    part = msg.get_body(preferencelist=("plain", "html"))
    return str(part.get_content()) if part is not None else ""


def links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"']+", text)


def start_demo_daemon(folder: Path, extra: str = "") -> tuple[DaemonFactory, Daemon]:
    """``aaad demo`` (everything: billing and notifications too) into a fresh SQLite database,
    then ``aaad serve`` with jobs on."""
    f = DaemonFactory(folder)
    conf, data_dir = f.configure(extra=extra, demo=False)
    r = subprocess.run([sys.executable, "-m", "aaad", "-c", str(conf), "demo"], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return f, f.start(conf, data_dir)


@pytest.fixture(scope="module")
def demo_daemon(tmp_path_factory: Any) -> Iterator[Site]:
    """One demo daemon on SQLite for a module, with the billing demo (customers ama, yaw, ...)
    and jobs on (notifications go out to ``{data_dir}/outbox``)."""
    f, d = start_demo_daemon(tmp_path_factory.mktemp("browser-daemon"), "[jobs]\nenabled = true")
    try:
        yield Site(d)
    finally:
        f.close()
