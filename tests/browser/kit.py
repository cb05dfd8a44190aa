"""What a browser test does with a page: screenshots, axe-core, forms found by their labels, waits.

The tests drive Debian's ``/usr/bin/chromium`` through ``/usr/bin/chromedriver`` with Selenium;
nothing is downloaded (Selenium Manager never runs: the driver's path is given, and
``SE_OFFLINE`` is set).  axe-core is the ``axe.min.js`` shipped inside axe-selenium-python.

- ``shot(driver, "name")``: a PNG of the page into the current test's artefact folder
  (``tests/browser/artifacts/<module>/<test>/NN-name.png``, or under ``$AAAD_BROWSER_ARTIFACTS``).
- ``axe(driver)``: runs axe-core on the page; fails listing every serious or critical violation.
- ``audit(driver, "name")``: axe and a screenshot at phone width and at desktop width.
- ``field(driver, "password")``: the input named so, or the one whose ``<label>`` says so.
- ``submit(field)``, ``click(driver, "Pay now")``: act, and wait for the next page.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, TypeVar, cast

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.paths import ARTIFACTS, SIZES

WAIT = 15.0                        # seconds any wait for the page may take before the test fails
BLOCKING = ("serious", "critical")  # axe impacts that fail a test

T = TypeVar("T")


# -- artefacts ---------------------------------------------------------------------------------------------------

@dataclass
class Artefacts:
    """Where the running test's screenshots go (set by the ``driver`` fixture for each test)."""
    folder: Path = ARTIFACTS
    n: int = 0
    written: list[Path] = dc_field(default_factory=list)

    def start(self, nodeid: str) -> None:
        """A fresh folder for the test ``nodeid`` (module path and test name, parameters included)."""
        module, _, name = nodeid.partition("::")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "test"
        self.folder = ARTIFACTS / Path(module).stem / safe
        shutil.rmtree(self.folder, ignore_errors=True)
        self.n = 0

    def path(self, name: str, suffix: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "page"
        p = self.folder / f"{self.n:02d}-{safe}{suffix}"
        self.written.append(p)
        return p


ARTEFACTS = Artefacts()


def shot(driver: WebDriver, name: str) -> Path:
    """A screenshot of the page (the window's size) saved as a test artefact; its path."""
    p = ARTEFACTS.path(name, ".png")
    driver.save_screenshot(str(p))
    return p


def keep_page(driver: WebDriver, name: str) -> Path:
    """The page's HTML as the browser has it now, saved beside the screenshots."""
    p = ARTEFACTS.path(name, ".html")
    p.write_text(f"<!-- {driver.current_url} -->\n" + driver.page_source)
    return p


def size(driver: WebDriver, which: str) -> None:
    """Resize the window to ``phone`` (390x844) or ``desktop`` (1280x900)."""
    w, h = SIZES[which]
    driver.set_window_size(w, h)
    # The window's size includes the browser's own frame: grow it so the page's viewport is w x h.
    iw, ih = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    if (iw, ih) != (w, h):
        driver.set_window_size(w + (w - iw), h + (h - ih))


# -- axe-core ----------------------------------------------------------------------------------------------------

def axe_script() -> str:
    """axe-core as shipped in axe-selenium-python (read from the package, never fetched)."""
    import axe_selenium_python  # type: ignore[import-untyped]
    p = Path(axe_selenium_python.__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
    return p.read_text(encoding="utf-8")


def axe_results(driver: WebDriver) -> dict[str, Any]:
    """axe-core's results for the page as it is now."""
    driver.execute_script(axe_script())
    res: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r), e => done({error: String(e)}));")
    if "error" in res:
        raise AssertionError(f"axe-core failed on {driver.current_url}: {res['error']}")
    return res


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations as lines: impact, rule, what it asks, and each element with axe's summary."""
    out = []
    for v in violations:
        out.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            summary = " ".join((node.get("failureSummary") or "").split())
            out.append(f"    {' '.join(map(str, node['target']))}: {node.get('html', '')[:160]}"
                       + (f"\n      {summary}" if summary else ""))
    return "\n".join(out)


def axe(driver: WebDriver, name: str | None = None) -> list[dict[str, Any]]:
    """Run axe-core on the page; fail listing every serious or critical violation.  The
    minor and moderate ones are returned (and saved as JSON when any, named ``name``)."""
    res = axe_results(driver)
    violations = res["violations"]
    if violations:
        p = ARTEFACTS.path(f"axe-{name or 'page'}", ".json")
        p.write_text(json.dumps({"url": driver.current_url, "violations": violations}, indent=1))
    blocking = [v for v in violations if v.get("impact") in BLOCKING]
    assert not blocking, (f"axe-core: {len(blocking)} serious or critical violation(s) on {driver.current_url}:\n"
                          + describe(blocking))
    return [v for v in violations if v.get("impact") not in BLOCKING]


def overflow(driver: WebDriver) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(driver.execute_script(
        "return Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth);"))


def broken_images(driver: WebDriver) -> list[str]:
    """The images of the page that did not load (their ``src``): a graph with no data must not
    show as a broken image."""
    found: list[str] = driver.execute_script(
        "return Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0)"
        ".map(i => i.getAttribute('src'));")
    return found


def audit(driver: WebDriver, name: str, sizes: tuple[str, ...] = ("phone", "desktop")) -> None:
    """The page at each width: no sideways scrolling, no broken image, axe finds nothing serious or
    critical, a screenshot.  The window is left at the first size."""
    for el in driver.find_elements(By.CSS_SELECTOR, "img[loading=lazy]"):
        driver.execute_script("arguments[0].loading = 'eager';", el)   # load them all, seen or not
    wait(driver, lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete);"),
         "the page's images to load")
    broken = broken_images(driver)
    assert not broken, f"images that do not load on {driver.current_url}: {broken}"
    for which in sizes:
        size(driver, which)
        shot(driver, f"{name}-{which}")
        assert overflow(driver) == 0, f"{driver.current_url} scrolls sideways at {which} width"
        axe(driver, f"{name}-{which}")
    size(driver, sizes[0])


def console_errors(driver: WebDriver) -> list[str]:
    """The browser console's errors since the last call (a CSP refusal, a missing file)."""
    log: list[dict[str, Any]] = cast(Any, driver).get_log("browser")  # Chromium's, not in WebDriver's type
    return [e["message"] for e in log if e.get("level") == "SEVERE"]


# -- waits -------------------------------------------------------------------------------------------------------

def wait(driver: WebDriver, until: Callable[[WebDriver], T], what: str, timeout: float = WAIT) -> T:
    """``until(driver)`` once it is truthy; fails with ``what`` and the page's text after ``timeout``."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                             ).until(until)
    except Exception as e:
        raise AssertionError(f"waited {timeout:g} s for {what} on {driver.current_url}; the page says:\n"
                             + body_text(driver)[:2000]) from e


def body_text(driver: WebDriver) -> str:
    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    except Exception:
        return ""


def wait_text(driver: WebDriver, pattern: str, timeout: float = WAIT) -> str:
    """Wait until the page's visible text matches ``pattern`` (a regex, case-insensitive); the text."""
    rx = re.compile(pattern, re.I)
    return wait(driver, lambda d: (lambda t: t if rx.search(t) else "")(body_text(d)),
                f"text matching {pattern!r}", timeout)


def wait_url(driver: WebDriver, pattern: str, timeout: float = WAIT) -> str:
    """Wait until the address matches ``pattern`` (a regex); the address."""
    rx = re.compile(pattern)
    return wait(driver, lambda d: d.current_url if rx.search(d.current_url) else "", f"an address like {pattern!r}",
                timeout)


def go(driver: WebDriver, url: str) -> None:
    """Open ``url`` and wait for its ``<h1>``."""
    driver.get(url)
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "h1"), "the page's <h1>")


# -- forms -------------------------------------------------------------------------------------------------------

_INPUTS = "input:not([type=hidden]), select, textarea"


def labelled(driver: WebDriver, el: WebElement) -> str:
    """The text of ``el``'s label(s): ``<label for=id>`` or a wrapping ``<label>``."""
    texts = []
    eid = el.get_attribute("id")
    if eid:
        texts += [lb.text for lb in driver.find_elements(By.CSS_SELECTOR, f'label[for="{eid}"]')]
    texts += [lb.text for lb in el.find_elements(By.XPATH, "ancestor::label")]
    return " ".join(texts).strip()


def field(driver: WebDriver, *keys: str, scope: WebElement | None = None) -> WebElement:
    """The first visible form field whose ``name`` is one of ``keys``, else whose label's text
    contains one of them (case-insensitive): forms are plain HTML, found the way a person would."""
    root: Any = scope or driver
    els = [e for e in root.find_elements(By.CSS_SELECTOR, _INPUTS) if e.is_displayed()]
    for k in keys:
        for e in els:
            if (e.get_attribute("name") or "") == k:
                return e
    for k in keys:
        for e in els:
            if k.lower() in labelled(driver, e).lower():
                return e
    raise AssertionError(f"no field named or labelled {keys} on {driver.current_url}; fields: "
                         + ", ".join(f"{e.get_attribute('name')!r} ({labelled(driver, e)!r})" for e in els))


def fill(el: WebElement, value: str) -> WebElement:
    el.clear()
    el.send_keys(value)
    return el


def form_of(el: WebElement) -> WebElement:
    return el.find_element(By.XPATH, "ancestor::form")


def submit(driver: WebDriver, el: WebElement) -> None:
    """Press the submit button of ``el``'s form and wait for the next page."""
    form = form_of(el)
    mark = _mark_page(driver)
    form.find_element(By.CSS_SELECTOR, "button:not([type=button]):not([type=reset]), input[type=submit]").click()
    _wait_next_page(driver, mark, "the next page after submitting the form")


def clickable(driver: WebDriver, pattern: str) -> WebElement:
    """The visible link, button or summary whose text (or value) matches ``pattern`` (regex, case-insensitive)."""
    rx = re.compile(pattern, re.I)

    def find(d: WebDriver) -> WebElement | None:
        for e in d.find_elements(By.CSS_SELECTOR, "a, button, input[type=submit], summary, [role=button]"):
            text = e.text or e.get_attribute("value") or e.get_attribute("aria-label") or ""
            if e.is_displayed() and rx.search(text):
                return e
        return None
    found = wait(driver, find, f"a link or button saying {pattern!r}")
    assert found is not None
    return found


def click(driver: WebDriver, pattern: str, navigates: bool = True) -> None:
    """Click the link or button saying ``pattern``; with ``navigates``, wait for the next page."""
    el = clickable(driver, pattern)
    mark = _mark_page(driver) if navigates else ""
    el.click()
    if navigates:
        _wait_next_page(driver, mark, f"the page after clicking {pattern!r}")


_MARKS = iter(range(1, 1 << 62))


def _mark_page(driver: WebDriver) -> str:
    """Tag the current document with a fresh token: a new page has none.  (Waiting for the old
    ``<html>`` element to go stale races Chromium, whose inspector may answer "Node with given id
    does not belong to the document" mid-navigation instead of "stale".)"""
    mark = f"m{next(_MARKS)}"
    driver.execute_script("window.__aaadPage = arguments[0];", mark)
    return mark


def _wait_next_page(driver: WebDriver, mark: str, what: str) -> None:
    """Until the document tagged ``mark`` is replaced by a loaded one."""
    def arrived(d: WebDriver) -> bool:
        try:
            return bool(d.execute_script(
                "return window.__aaadPage !== arguments[0] && document.readyState === 'complete';", mark))
        except WebDriverException:          # mid-navigation: no document to ask yet
            return False
    wait(driver, arrived, what)


def message_for(driver: WebDriver, el: WebElement) -> str:
    """The error message shown next to the field ``el``: the text its ``aria-describedby`` names,
    else an ``.error``/``[role=alert]`` element inside the field's own container (its label's
    or its parent element); '' if none."""
    texts = []
    for ref in (el.get_attribute("aria-describedby") or "").split():
        texts += [e.text for e in driver.find_elements(By.ID, ref) if e.is_displayed()]
    if not any(t.strip() for t in texts):
        box = el.find_element(By.XPATH, "..")
        texts += [e.text for e in box.find_elements(
            By.CSS_SELECTOR, "[class*=error], [role=alert], .message, .invalid") if e.is_displayed()]
    return " ".join(t.strip() for t in texts if t.strip())
