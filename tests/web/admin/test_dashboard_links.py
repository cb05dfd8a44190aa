"""The dashboard's figures lead to their lists: every figure of billing.console.figures links the console list
that shows its rows, the link answers 200 and the list shows the figure's filter chosen; a role that may not
open a list sees that figure without a link (never a link to the 403 page)."""
from __future__ import annotations

import html
import urllib.parse
from html.parser import HTMLParser
from typing import Any

import pytest

from aaad import authz
from billing import console
from tests.web.api.conftest import NOW, World
from web.admin import sections


class Controls(HTMLParser):
    """The values a page's form controls show: an input's value, a select's chosen option."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.values.setdefault(str(a["name"]), []).append(a.get("value") or "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values.setdefault(self._select, []).append(a.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def controls(page: str) -> dict[str, list[str]]:
    p = Controls()
    p.feed(page)
    return p.values


def figure_links(page: str) -> dict[str, str | None]:
    """Each figure's key and the href of its link (None: shown without a link)."""
    out: dict[str, str | None] = {}
    for part in page.split('<li class="figure" id="figure-')[1:]:
        key, _, rest = part.partition('"')
        body = rest.split("</li>")[0]
        out[key] = html.unescape(body.split('<a href="')[1].split('"')[0]) if '<a href="' in body else None
    return out


def the_figures(world: World) -> list[console.Figure]:
    with world.db.engine.connect() as c:
        return console.figures(c, world.demo, NOW).all()


def test_every_figures_list_is_shown_by_a_section_with_a_menu_entry(world: World) -> None:
    """A figure whose list no section shows would be a dead number; a list no menu entry opens would be
    linked for every role."""
    for f in the_figures(world):
        assert f.list in sections.lists(), f"no console section lists {f.list} (figure {f.key})"
        assert sections.list_permission(f.list) is not None, f.list


def test_each_figure_links_its_list_with_its_filter_applied(world: World, console_as: Any) -> None:
    b = console_as("owner")
    links = figure_links(b.get("/admin/").text)
    figures = the_figures(world)
    assert set(links) == {f.key for f in figures}
    for f in figures:
        href = links[f.key]
        assert href is not None, f"figure {f.key} has no link"
        u = urllib.parse.urlsplit(urllib.parse.urljoin("/admin/", href))
        assert u.path == f"/admin/{f.list}", (f.key, href)
        assert urllib.parse.parse_qsl(u.query) == list(f.filter), (f.key, href)
        r = b.get(u.path + ("?" + u.query if u.query else ""))
        assert r.code == 200, (f.key, href, r.code, r.text[:300])
        shown = controls(r.text)
        for k, v in f.filter:
            assert v in shown.get(k, []), f"{href}: the list does not show {k}={v!r} (it shows {shown.get(k)})"


@pytest.mark.parametrize("role", ["admin", "cashier", "support"])
def test_a_role_sees_links_only_to_lists_it_may_open(world: World, console_as: Any, role: str) -> None:
    """Every link answers 200; a figure whose list needs a permission the role lacks has no link (the cashier:
    routers and router actions need network.read)."""
    b = console_as(role)
    links = figure_links(b.get("/admin/").text)
    for f in the_figures(world):
        may = authz.allowed(role, sections.list_permission(f.list) or "")
        href = links[f.key]
        assert (href is not None) == may, (role, f.key, href)
        if href is not None:
            r = b.get(urllib.parse.urljoin("/admin/", href))
            assert r.code == 200, (role, f.key, href, r.code)
        else:
            path = f.href
            assert b.get(path).code == 403, (role, path)


def test_the_cashier_has_unlinked_figures() -> None:
    """The role table still refuses the cashier some list (else the test above proves nothing for it)."""
    assert {n for n in sections.lists() if not authz.allowed("cashier", sections.list_permission(n) or "")} \
        == {"routers", "actions"}
