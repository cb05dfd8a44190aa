"""The console's sections (web/admin/section.py): dispatch by the first path segment with whole-path routes,
the menu by permission, dashboard links once a section shows a figure's list, errors through the console's
error page; and the list helpers (web/admin/lists.py): filters, cursors, CSV."""
from __future__ import annotations

import csv
import io
from collections.abc import Generator
from typing import Any

import pytest
from klein import Klein
from twisted.internet import defer
from twisted.web.iweb import IRequest

from aaad import paging
from aaad.errors import NotFound, ValidationError
from tests.web.admin.conftest import Admin
from web.admin import lists, sections
from web.admin.lists import ListArgs
from web.admin.section import Nav, Section


class Things(Section):
    """A section for the tests: a list, a page per thing, a write needing customers.write."""
    app = Klein()
    paths = ("things", "stuff")
    nav = (Nav("things", "Things", "customers.read"), Nav("stuff", "Stuff", "accounts.manage"))
    lists = frozenset({"sessions"})

    @app.route("/things", methods=["GET"])
    @defer.inlineCallbacks
    def index(self, request: IRequest) -> Generator[Any, Any, bytes]:
        yield self.require(request, "customers.read")
        return b"things: " + self.base(request).encode()

    @app.route("/things/<int:thing_id>", methods=["GET"])
    @defer.inlineCallbacks
    def thing(self, request: IRequest, thing_id: int) -> Generator[Any, Any, bytes]:
        yield self.require(request, "customers.read")
        if thing_id != 7:
            raise NotFound("thing", thing_id)
        return b"thing 7 at " + self.base(request).encode()

    @app.route("/things/<int:thing_id>/poke", methods=["POST"])
    @defer.inlineCallbacks
    def poke(self, request: IRequest, thing_id: int) -> Generator[Any, Any, bytes]:
        who = yield self.require(request, "customers.read")
        self.check_csrf(request, who)
        result = yield self.write(request, who, "customers.write", lambda conn, n: n * 2, thing_id,
                                  target=f"thing {thing_id}")
        return self.see_other(request, f"{self.base(request)}things/{result}")

    @app.route("/stuff", methods=["GET"])
    @defer.inlineCallbacks
    def stuff(self, request: IRequest) -> Generator[Any, Any, bytes]:
        yield self.require(request, "accounts.manage")
        return b"stuff"


@pytest.fixture(autouse=True)
def things(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sections, "SECTIONS", (Things,))


def test_a_section_serves_its_segments_with_whole_paths(console_as: Any) -> None:
    b: Admin = console_as("owner")
    r = b.get("/admin/things")
    assert r.code == 200 and r.text == "things: ../admin/"
    r = b.get("/admin/things/7")
    assert r.code == 200 and r.text == "thing 7 at ../../admin/"
    assert b.get("/admin/stuff").text == "stuff"


def test_unknown_segments_and_ids_get_the_console_404(console_as: Any) -> None:
    b: Admin = console_as("owner")
    for path in ("/admin/nothing-here", "/admin/things/8", "/admin/things/7/nope"):
        r = b.get(path)
        assert r.code == 404, path
        assert "aaad console" in r.text, path


def test_a_stranger_is_sent_to_the_sign_in(browser: Admin) -> None:
    r = browser.get("/admin/things/7")
    assert r.code == 303 and (r.header("Location") or "").endswith("admin/login")


def test_a_role_without_the_permission_gets_the_403_page(console_as: Any) -> None:
    b: Admin = console_as("cashier")
    r = b.get("/admin/stuff")
    assert r.code == 403 and "accounts.manage" in r.text
    token = b.form_csrf("/admin/")
    r = b.post("/admin/things/7/poke", {"csrf": token})
    assert r.code == 403 and "customers.write" in r.text


def test_writes_need_the_csrf_token_and_are_audited(console_as: Any) -> None:
    b: Admin = console_as("owner")
    assert b.post("/admin/things/7/poke", {}).code == 403
    token = b.form_csrf("/admin/")
    r = b.post("/admin/things/7/poke", {"csrf": token})
    assert r.code == 303 and r.header("Location") == "../../../admin/things/14"
    audit = b.get("/admin/audit").text
    assert "thing 7" in audit and "admin:owner@demo.example" in audit


def test_the_menu_shows_what_the_role_may_see(console_as: Any) -> None:
    owner = console_as("owner").get("/admin/").text
    assert 'href="../admin/things">Things</a>' in owner and ">Stuff</a>" in owner
    cashier = console_as("cashier").get("/admin/").text
    assert ">Things</a>" in cashier and ">Stuff</a>" not in cashier


def test_the_dashboard_links_a_figure_once_a_section_lists_it(console_as: Any) -> None:
    page = console_as("owner").get("/admin/").text
    online = page.split('id="figure-online_sessions"')[1].split("</li>")[0]
    assert '<a href="../admin/sessions' in online
    revenue = page.split('id="figure-revenue_today"')[1].split("</li>")[0]
    assert "<a " not in revenue


def test_two_sections_on_one_segment_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    class Again(Section):
        app = Klein()
        paths = ("stuff",)
    monkeypatch.setattr(sections, "SECTIONS", (Things, Again))
    with pytest.raises(RuntimeError, match="/admin/stuff"):
        sections.by_path()


def test_a_section_needs_its_own_app() -> None:
    with pytest.raises(TypeError, match="own app"):
        class Shared(Things):
            pass


# -- lists ----------------------------------------------------------------------------------------

class _Req:
    def __init__(self, **args: str):
        self.args = {k.encode(): [v.encode()] for k, v in args.items()}


def test_list_args_keep_filters_and_build_links() -> None:
    a = ListArgs.from_request(_Req(state="open", q=" ", after="abc", format="csv", other="x"),  # type: ignore[arg-type]
                              filters=("state", "q"))
    assert a.filters == {"state": "open"} and a.cursor == "abc" and a.csv
    assert a.query(after="xyz") == "?state=open&after=xyz"
    assert a.query(state=None) == "" and ListArgs().query() == ""
    assert a.query(format="csv", q="a b") == "?state=open&format=csv&q=a+b"


def _numbers(n: int) -> Any:
    def page(*, cursor: str | None, limit: int = 3) -> paging.Page[int]:
        if cursor == "bad":
            raise ValidationError("cursor", "not ours")
        start = 0 if cursor is None else int(cursor)
        items = list(range(start, min(start + limit, n)))
        return paging.Page(items, str(start + limit) if start + limit < n else None)
    return page


def test_paged_gives_the_first_page_for_a_bad_cursor() -> None:
    fn = _numbers(10)
    assert lists.paged(fn, cursor="3").items == [3, 4, 5]
    assert lists.paged(fn, cursor="bad").items == [0, 1, 2]


def test_other_validation_errors_are_not_swallowed() -> None:
    def fn(*, cursor: str | None) -> paging.Page[int]:
        raise ValidationError("state", "no such state")
    with pytest.raises(ValidationError, match="state"):
        lists.paged(fn, cursor="x")


def test_every_pages_through_up_to_the_cap() -> None:
    assert list(lists.every(_numbers(2500))) == list(range(2500))
    assert list(lists.every(_numbers(2500), cap=1200)) == list(range(1200))
    assert list(lists.every(_numbers(0))) == []


def test_csv_defuses_formulas_and_writes_dates() -> None:
    from datetime import date
    text = lists.csv_text(["a", "b"], [["=1+1", date(2026, 1, 2)], ["@x", None], ["plain, with comma", 5]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["a", "b"], ["'=1+1", "2026-01-02"], ["'@x", ""], ["plain, with comma", "5"]]


def test_csv_body_sets_the_download_headers() -> None:
    headers: dict[str, str] = {}

    class R:
        def setHeader(self, k: str, v: str) -> None:
            headers[k] = v
    body = lists.csv_body(R(), 'payments "x"/y', ["n"], [[1]])  # type: ignore[arg-type]
    assert body == b"n\r\n1\r\n"
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="payments--x--y.csv"'


def test_the_form_macros_put_errors_next_to_fields_and_keep_values() -> None:
    from web.pages import Pages
    env = Pages().env
    t = env.from_string(
        '{% import "admin/_macros.html" as m %}'
        '{{ m.field("amount", "Amount", "12.5x", errors, required=True, hint="In GHS") }}'
        '{{ m.field("secret", "Secret", "hidden-value", errors, type="password") }}'
        '{{ m.select("kind", "Kind", [("a", "A"), ("b", "B")], "b", errors) }}'
        '{{ m.textarea("note", "Note", "<b>typed</b>", errors) }}'
        '{{ m.checkbox("on", "On", True, errors) }}{{ m.csrf("tok") }}{{ m.form_error(errors) }}'
        '{{ m.filters("list", [("state", "State", "open", [("", "Any"), ("open", "Open")]),'
        ' ("q", "Search", "x", none)]) }}'
        '{{ m.pager("n", "f", "c") }}{{ m.empty("Nothing yet.", "add", "Add one") }}')
    html = t.render(errors={"amount": "Type an amount like 12.50.", "kind": "Choose one."})
    assert 'value="12.5x"' in html and 'aria-describedby="amount-error amount-hint"' in html
    assert '<p class="error" id="amount-error">Type an amount like 12.50.</p>' in html
    assert "hidden-value" not in html
    assert '<option value="b" selected>B</option>' in html and 'id="kind-error"' in html
    assert "&lt;b&gt;typed&lt;/b&gt;</textarea>" in html and "checked" in html
    assert 'name="csrf" value="tok"' in html and "Please correct the fields marked below." in html
    assert '<option value="open" selected>Open</option>' in html and 'type="search" value="x"' in html
    assert 'rel="next"' in html and "Download CSV" in html and "Add one" in html
