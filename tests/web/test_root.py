"""The web root: each route, each sub-application's error mapping, static
files, the landing page, and tenant isolation in the portal."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from twisted.internet import defer
from twisted.logger import ILogObserver, globalLogPublisher
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from aaad import orgs
from aaad.errors import NotFound, ValidationError
from tests.helpers import result_of
from tests.web.conftest import STARTED, Client, RootFactory
from web.api.app import Api
from web.pages import Pages
from web.portal.app import Portal
from web.root import Root, format_uptime, load_static

SECRET = "db password is hunter2"


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    """Log events emitted during the test."""
    events: list[dict[str, Any]] = []
    # a callable taking an event is an ILogObserver (zope's interfaces are invisible to mypy)
    observer = cast(ILogObserver, events.append)
    globalLogPublisher.addObserver(observer)
    yield events
    globalLogPublisher.removeObserver(observer)


def failing_read(fn: Any, *a: Any, **kw: Any) -> defer.Deferred[Any]:
    """A database reader whose every query fails with an internal detail."""
    return defer.fail(RuntimeError(SECRET))


def assert_no_leak(body: str) -> None:
    assert "Traceback" not in body and SECRET not in body and "RuntimeError" not in body


# -- routes ------------------------------------------------------------------

def test_landing_says_what_runs_and_links_each_portal(client: Client, clock: Any) -> None:
    """/ shows the version, the uptime and every org with a link to its portal."""
    clock.advance(3 * 3600 + 125)
    r = client.get("/")
    assert r.code == 200 and r.header("Content-Type") == "text/html; charset=utf-8"
    assert re.search(r"aaad \d", r.text) and "3 h 2 min" in r.text
    assert '<a href="isp-a/portal/">Alpha &lt;Net&gt;</a>' in r.text
    assert '<a href="isp-b/portal/">Bravo Wireless</a>' in r.text
    assert 'href="api/v1/"' in r.text and 'href="static/aaad.css"' in r.text
    assert "API documentation" not in r.text  # none yet


def test_landing_links_api_docs_once_they_exist(client: Client, monkeypatch: Any) -> None:
    """When the API advertises its documentation, the landing page links it."""
    monkeypatch.setattr(Api, "docs_path", "api/v1/docs")
    assert 'href="api/v1/docs">API documentation</a>' in client.get("/").text


def test_uptime_format() -> None:
    """Uptime reads as seconds, then minutes, hours and days."""
    assert format_uptime(42) == "42 s"
    assert format_uptime(3600) == "1 h 0 min"
    assert format_uptime(2 * 86400 + 61) == "2 d 0 h 1 min"


def test_healthz_and_metrics_are_the_cores(client: Client) -> None:
    """/healthz and /metrics answer from CoreWeb: JSON status and Prometheus text."""
    h = client.get("/healthz")
    assert h.code == 200 and h.header("Content-Type") == "application/json"
    assert h.json()["status"] == "ok"
    m = client.get("/metrics")
    assert m.code == 200 and m.required_header("Content-Type").startswith("text/plain")


def test_api_index_names_itself(client: Client) -> None:
    """GET /api/v1/ answers the API's name and version as JSON."""
    r = client.get("/api/v1/")
    assert r.code == 200 and r.header("Content-Type") == "application/json"
    body = r.json()
    assert body["name"] == "aaad admin API" and body["api_version"] == "v1"
    assert body["aaad_version"] and body["docs"] is None


def test_api_unknown_path_is_json_404(client: Client) -> None:
    """An unknown path under /api/v1/ is a JSON 404 in the error shape."""
    r = client.get("/api/v1/no/such/thing")
    assert r.code == 404 and r.header("Content-Type") == "application/json"
    assert r.json() == {"error": {"code": "not_found", "message": "Nothing is at this address.",
                                  "field": None}}


def test_api_wrong_method_is_json_405(client: Client) -> None:
    """A method the route does not take is a JSON 405 with an Allow header."""
    r = client.request("DELETE", "/api/v1/")
    assert r.code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in r.required_header("Allow")


def test_missing_slash_redirects_relative(client: Client) -> None:
    """/api/v1 and /ORG/portal redirect to the slashed path, relative and keeping the query."""
    r = client.get("/api/v1")
    assert r.code == 308 and r.header("Location") == "v1/"
    r = client.get("/isp-a/portal?x=1")
    assert r.code == 308 and r.header("Location") == "portal/?x=1"


def test_portal_index_is_the_orgs(client: Client) -> None:
    """/ORG/portal/ is a page branded with that org's name, linking the CSS from the root."""
    r = client.get("/isp-a/portal/")
    assert r.code == 200 and "Alpha &lt;Net&gt;" in r.text
    assert 'href="../../static/aaad.css"' in r.text


def test_suspension_page_with_known_reason(client: Client) -> None:
    """/ORG/portal/suspended names the org, says why for a known reason code, links back."""
    r = client.get("/isp-b/portal/suspended?reason=unpaid")
    assert r.code == 200
    assert "Bravo Wireless" in r.text and "is suspended" in r.text
    assert "unpaid balance" in r.text and '<a href="./">' in r.text


def test_suspension_page_ignores_unknown_reason_text(client: Client) -> None:
    """A reason that is not a known code is not shown at all (no free text on the branded page)."""
    r = client.get("/isp-b/portal/suspended?reason=%3Cscript%3Ecall+555-0100")
    assert r.code == 200 and "is suspended" in r.text
    assert "555-0100" not in r.text and "<script>" not in r.text
    assert 'class="reason"' not in client.get("/isp-b/portal/suspended").text


def test_unknown_org_is_html_404(client: Client) -> None:
    """A slug no org has gives the portal's HTML 404, unbranded."""
    r = client.get("/nobody/portal/suspended")
    assert r.code == 404 and r.header("Content-Type") == "text/html; charset=utf-8"
    assert "No such org." in r.text and "Alpha" not in r.text and "Bravo" not in r.text


def test_unknown_portal_page_is_branded_html_404(client: Client) -> None:
    """An unknown page of a real org's portal is a 404 page branded with that org, linking its start page."""
    r = client.get("/isp-a/portal/no/such/page")
    assert r.code == 404 and "Alpha &lt;Net&gt;" in r.text
    assert 'href="../../../../isp-a/portal/"' in r.text


def test_unknown_top_level_path_is_html_404(client: Client) -> None:
    """A path outside every route is the root's HTML 404."""
    for path in ("/nope", "/isp-a/", "/isp-a/other/"):
        r = client.get(path)
        assert r.code == 404 and r.header("Content-Type") == "text/html; charset=utf-8", path


# -- tenant isolation --------------------------------------------------------

@pytest.mark.parametrize("page", ["", "suspended", "suspended?reason=quota", "nope"])
def test_portal_of_one_org_never_names_another(client: Client, page: str) -> None:
    """Every portal page of org A names A and never B (and the other way round)."""
    a = client.get(f"/isp-a/portal/{page}").text
    b = client.get(f"/isp-b/portal/{page}").text
    assert "Alpha &lt;Net&gt;" in a and "Bravo" not in a
    assert "Bravo Wireless" in b and "Alpha" not in b


# -- static files ------------------------------------------------------------

def test_static_files_have_content_types(client: Client) -> None:
    """/static/ serves the package's CSS and icon with their content types."""
    css = client.get("/static/aaad.css")
    assert css.code == 200 and css.header("Content-Type") == "text/css; charset=utf-8"
    assert b"body" in css.body and b"http" not in css.body  # nothing fetched from elsewhere
    svg = client.get("/static/favicon.svg")
    assert svg.code == 200 and svg.required_header("Content-Type").startswith("image/svg+xml")


@pytest.mark.parametrize("path", ["/static/", "/static/missing.css", "/static/../root.py",
                                  "/static/%2e%2e/root.py", "/static/..%2froot.py",
                                  "/static/%2e%2e/%2e%2e/aaad/config.py", "/static/./aaad.css",
                                  "/static/x/../aaad.css"])
def test_static_serves_nothing_outside_its_folder(client: Client, path: str) -> None:
    """A missing file, a listing or a path out of web/static is an HTML 404."""
    r = client.get(path)
    assert r.code == 404 and b"import" not in r.body


def test_static_files_are_known_by_relative_path(tmp_path: Any) -> None:
    """Static files are read once by their path under the folder, subfolders included."""
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / "site.js").write_text("x = 1")
    files = load_static(tmp_path)
    assert files == {"img/logo.png": (b"\x89PNG", "image/png"),
                     "site.js": (b"x = 1", "text/javascript; charset=utf-8")}


# -- errors: one place per sub-application, never a stack trace --------------

def test_root_500_is_generic_html_and_logged(make_client: RootFactory,
                                             logged: list[dict[str, Any]]) -> None:
    """A failure on the landing page is a generic HTML 500; the traceback goes to the log only."""
    r = make_client(failing_read).get("/")
    assert r.code == 500 and r.header("Content-Type") == "text/html; charset=utf-8"
    assert "Something went wrong" in r.text
    assert_no_leak(r.text)
    assert any(e.get("log_failure") is not None and SECRET in str(e["log_failure"].value)
               for e in logged)


def test_portal_500_is_generic_html(make_client: RootFactory, logged: list[dict[str, Any]]) -> None:
    """A failure in the portal is a generic HTML 500, unbranded when the org cannot be read."""
    r = make_client(failing_read).get("/isp-a/portal/suspended")
    assert r.code == 500 and "Something went wrong" in r.text
    assert_no_leak(r.text)


class _PathRequest(DummyRequest):
    """A DummyRequest with the ``path`` a real request has (DummyRequest sets none)."""
    path: bytes


def _request(path: bytes = b"/x") -> _PathRequest:
    req = _PathRequest(path.strip(b"/").split(b"/"))
    req.path = req.uri = path
    return req


@pytest.mark.parametrize("exc, status, code, field", [
    (ValidationError("slug", "bad slug"), 400, "invalid", "slug"),
    (NotFound("login", 7), 404, "not_found", None),
    (RuntimeError(SECRET), 500, "internal", None),
])
def test_api_maps_domain_errors_to_json(exc: Exception, status: int, code: str, field: str | None,
                                        logged: list[dict[str, Any]]) -> None:
    """The API's one error handler: ValidationError 400 with the field, NotFound 404, else a generic 500."""
    req = _request(b"/api/v1/x")
    body = Api("1").error(req, Failure(exc))
    assert req.responseCode == status
    assert req.responseHeaders.getRawHeaders("content-type") == ["application/json"]
    err = json.loads(body)["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert_no_leak(body.decode())
    assert (status == 500) == any(e.get("log_failure") for e in logged)


@pytest.mark.parametrize("exc, status, text", [
    (ValidationError("email", "not an address"), 400, "not an address"),
    (NotFound("invoice", 3), 404, "No such invoice."),
    (RuntimeError(SECRET), 500, "Something went wrong"),
])
def test_portal_maps_domain_errors_to_html(db: Any, exc: Exception, status: int, text: str,
                                           logged: list[dict[str, Any]]) -> None:
    """The portal's one error handler: the same mapping as HTML pages branded with the org."""
    req = _request(b"/isp-a/portal/x")
    body = result_of(Portal(db.read, Pages(), "isp-a").error(req, Failure(exc))).decode()
    assert req.responseCode == status and text in body and "Alpha &lt;Net&gt;" in body
    if isinstance(exc, ValidationError):
        assert '<span class="field">email</span>' in body
    assert_no_leak(body)


def test_root_maps_domain_errors_to_html(client: Client) -> None:
    """The root's one error handler renders a domain NotFound as an HTML 404 page."""
    r = client.get("/static/missing.css")
    assert r.code == 404 and "No such file." in r.text and "<h1>Not found</h1>" in r.text


# -- reserved slugs -----------------------------------------------------------

def test_every_top_level_route_is_a_reserved_slug() -> None:
    """No org slug can equal a top-level path of the root (each is reserved or not a valid slug)."""
    firsts = {rule.rule.strip("/").split("/")[0] for rule in Root.app.url_map.iter_rules()}
    fixed = {f for f in firsts if f and not f.startswith("<")}
    assert fixed, "the root has top-level routes"
    for segment in fixed:
        assert segment in orgs.RESERVED_SLUGS or not orgs.SLUG_RE.match(segment), segment
    assert {"api", "static", "healthz", "metrics", "admin"} <= orgs.RESERVED_SLUGS


def test_started_is_the_clock_time(client: Client, clock: Any) -> None:
    """Uptime counts from the clock's time at start-up, not the wall clock."""
    assert clock.seconds() == STARTED
    assert '<span class="uptime">0 s</span>' in client.get("/").text
