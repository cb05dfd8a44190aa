"""Every console page, found by crawling, in headless Chromium against the real demo daemon: axe-core finds
nothing serious or critical at phone and desktop width, no page scrolls sideways, no image is broken.

The demo owner signs in and the test follows every same-origin link under /admin/ (GET only; documents
— .pdf, .csv, .png, .html —, CSV exports and downloads are not pages).  Each address is reduced to its route
pattern (a number in a path segment is ``<id>``, the cursor ``after=`` dropped) and ONE example of each
pattern is audited, plus each page once with a query (a filtered list: a link's, or its filter form sent,
a search box with "a" in it).  Every POST form that is not a
destructive action (judged by its button: disable, revoke, remove, ...) is sent once with its text fields
empty (the browser's own checks off) and the page that answers — the form with its errors — is audited too.
The crawl must reach every section of web/admin/sections.SECTIONS (a section no page links fails here)."""
from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

from tests.browser.paths import require

require()

from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import kit  # noqa: E402
from tests.browser.conftest import Site  # noqa: E402
from tests.browser.test_admin_login import sign_in  # noqa: E402

#: links that are not pages: documents and downloads
NOT_PAGES = re.compile(r"\.(pdf|csv|png|html|svg|jpe?g)$|/document$")
#: buttons whose form is never sent empty: it would destroy or end something rather than show errors
DESTRUCTIVE = re.compile(r"disable|revoke|remove|disconnect|cancel|reject|close|delete|retire|suspend|"
                         r"sign out|reset|end\b|retry|resend", re.I)
#: route parameters that are not numbers: one example of each is enough
WORDS = [(re.compile(r"^(/admin/settings/notifications/templates)/[^/]+/[^/]+$"), r"\1/<kind>/<channel>")]
#: time the whole crawl may take (seconds) before the test says it is too slow
BUDGET = 240

_LINKS = """return Array.from(document.querySelectorAll('a[href]'))
  .filter(a => !a.hasAttribute('download')).map(a => a.href);"""
_POST_FORMS = """return Array.from(document.forms)
  .filter(f => (f.getAttribute('method') || '').toLowerCase() === 'post')
  .map(f => [Array.prototype.indexOf.call(document.forms, f),
             new URL(f.getAttribute('action') || '', document.baseURI).href,
                  Array.from(f.querySelectorAll('button:not([type=button]):not([type=reset]), input[type=submit]'))
                    .map(b => (b.textContent || b.value || '').trim()).join(' | '),
                  f.querySelectorAll('input[type=text], input[type=email], input[type=tel], input[type=number],'
                                     + 'input[type=password], input[type=date], input[type=search],'
                                     + 'input[type=url], input[type=datetime-local], textarea').length]);"""
_GET_FORMS = """return Array.from(document.forms)
  .filter(f => (f.getAttribute('method') || 'get').toLowerCase() === 'get')
  .map(f => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(f)) {
      const el = f.querySelector('[name="' + k + '"]');
      q.append(k, v || (el && el.type === 'search' ? 'a' : v));
    }
    return new URL(f.getAttribute('action') || '', document.baseURI).href.split('?')[0] + '?' + q.toString();
  });"""
_SEND_EMPTY = """const f = document.forms[arguments[0]];
f.noValidate = true;
f.querySelectorAll('input[type=text], input[type=email], input[type=tel], input[type=number], input[type=password],'
                   + 'input[type=date], input[type=search], input[type=url], input[type=datetime-local], textarea')
  .forEach(e => { e.value = ''; });
const b = f.querySelector('button:not([type=button]):not([type=reset]), input[type=submit]');
if (b) { b.click(); } else { HTMLFormElement.prototype.submit.call(f); }"""


def pattern(url: str) -> tuple[str, bool] | None:
    """(route pattern, has a filter query) of a console address; None if it is not a console page."""
    u = urllib.parse.urlsplit(url)
    if not u.path.startswith("/admin/") or NOT_PAGES.search(u.path):
        return None
    query = [(k, v) for k, v in urllib.parse.parse_qsl(u.query) if k != "after"]
    if any(k == "format" for k, _ in query):
        return None
    path = "/".join("<id>" if re.fullmatch(r"\d+", s) else s for s in u.path.split("/"))
    for rx, repl in WORDS:
        path = rx.sub(repl, path)
    return path, bool(query)


def same_origin(url: str, base: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def test_every_console_page_is_accessible(driver: Any, demo_daemon: Site) -> None:
    from web.admin import sections
    started = time.monotonic()
    problems: list[str] = []

    def audit(name: str) -> None:
        try:
            kit.audit(driver, name)
        except AssertionError as e:
            problems.append(f"{driver.current_url}:\n{e}")

    kit.go(driver, demo_daemon.url("/admin/login"))
    driver.delete_all_cookies()                 # the session cookie is Path=/admin/: cleared from an /admin/ page
    kit.go(driver, demo_daemon.url("/admin/login"))
    audit("login")
    sign_in(driver, demo_daemon, "owner@demo.example", "owner-pass")
    kit.wait_text(driver, "Dashboard")
    start = demo_daemon.url("/admin/")
    driver.get(demo_daemon.url("/admin/no-such-page/1"))          # the console's 404 page
    audit("not-found")

    seen: set[tuple[str, bool]] = set()         # patterns queued or done
    queue: list[str] = [start]
    seen.add(pattern(start) or ("/admin/", False))
    visited: list[str] = []                     # the patterns audited, in order
    linked: set[str] = set()                    # every console path linked (documents too)
    sent: set[str] = set()                      # POST form actions sent empty

    def discover() -> None:
        """Queue the page's links and what its GET forms (filters, search) ask for, when their pattern is new."""
        for href in driver.execute_script(_LINKS) + driver.execute_script(_GET_FORMS):
            href = urllib.parse.urldefrag(href)[0]
            if not same_origin(href, start):
                continue
            path = urllib.parse.urlsplit(href).path
            if path.startswith("/admin/"):
                linked.add(path)
            p = pattern(href)
            if p is None or p in seen or p[0] in ("/admin/logout",):
                continue
            seen.add(p)
            queue.append(href)

    def send_forms(page_url: str) -> None:
        for index, action, buttons, texts in driver.execute_script(_POST_FORMS):
            p = pattern(action)
            if p is None or p[0] in sent or not texts or DESTRUCTIVE.search(buttons) or "/logout" in action:
                continue
            sent.add(p[0])
            mark = kit._mark_page(driver)
            driver.execute_script(_SEND_EMPTY, index)
            kit._wait_next_page(driver, mark, f"the answer to the form {action} sent empty")
            audit(f"form-{p[0]}")
            discover()
            driver.get(page_url)

    while queue:
        url = queue.pop(0)
        driver.get(url)
        kit.wait(driver, lambda d: d.execute_script("return document.readyState === 'complete';"), "the page")
        if not driver.find_elements(By.TAG_NAME, "h1"):
            problems.append(f"{url}: no <h1>; the page says: {kit.body_text(driver)[:300]}")
            continue
        p = pattern(driver.current_url) or pattern(url)
        visited.append(p[0] + ("?…" if p[1] else "") if p else url)
        audit(p[0].strip("/").replace("/", "-") if p else "page")
        discover()
        send_forms(url)

    took = time.monotonic() - started
    print(f"\n{len(visited)} console pages and {len(sent)} forms sent empty audited in {took:.0f} s:")
    print("\n".join(f"  {v}" for v in visited))
    print("forms sent empty:\n" + "\n".join(f"  {s}" for s in sorted(sent)))

    reached = {seg for path in linked for seg in [path.split("/")[2]] if seg}
    unreached = [f"{s.__name__}: /admin/{p}" for s in sections.SECTIONS for p in s.paths if p not in reached]
    assert not unreached, f"no console page links these sections' pages: {unreached}"
    assert not problems, f"{len(problems)} page(s) fail the audit:\n\n" + "\n\n".join(problems)
    assert took < BUDGET, f"the crawl took {took:.0f} s"
