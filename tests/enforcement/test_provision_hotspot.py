"""Provisioning with --hotspot: the org's hotspot pages fetched by the router (/tool fetch in the fake
RouterOS) from aaad's portal, and the portal's host in the hotspot walled garden."""
from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aaad.urls import HOTSPOT_FILES
from enforcement import provision, routeros
from enforcement.provision import Fetch, Step
from tests.conftest import DaemonFactory, free_port
from tests.enforcement.test_provision import GOLD, SETTINGS, TIMEOUTS, access, nas
from tests.fake_routeros import FakeRouterOS

HOTSPOT = replace(SETTINGS, hotspot=True)


class Files:
    """A tiny HTTP server on loopback serving ``pages`` at /acme/portal/hotspot/NAME (404 otherwise)."""

    def __init__(self, pages: dict[str, bytes]):
        files = self.pages = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                name = urllib.parse.urlsplit(self.path).path.removeprefix("/acme/portal/hotspot/")
                body = files.get(name)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *a: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeRouterOS]:
    with FakeRouterOS(password="pw") as f:
        yield f


@pytest.fixture
def files() -> Iterator[Files]:
    f = Files({name: f"<!-- {name} of acme -->".encode() for name in HOTSPOT_FILES})
    yield f
    f.close()


def test_plan_without_hotspot_has_none_of_it() -> None:
    """Without --hotspot nothing of the hotspot pages is planned (provisioning stays as it was)."""
    steps = provision.plan(nas(), "acme", [GOLD], SETTINGS)
    assert not any(isinstance(s, Fetch) for s in steps)
    assert not any(isinstance(s, Step) and s.menu.startswith("/ip/hotspot/walled-garden") for s in steps)


def test_plan_with_hotspot_fetches_every_page_and_opens_the_portal() -> None:
    """One fetch per file from the portal's hotspot route into the hotspot directory; the portal's host let through."""
    steps = provision.plan(nas(), "acme", [GOLD], HOTSPOT)
    fetches = [s for s in steps if isinstance(s, Fetch)]
    assert fetches == [Fetch(f"https://portal.example.net/acme/portal/hotspot/{n}", f"hotspot/{n}")
                       for n in HOTSPOT_FILES]
    garden = {s.menu: s for s in steps if isinstance(s, Step) and "walled-garden" in s.menu}
    assert garden["/ip/hotspot/walled-garden"].attrs == {"dst-host": "portal.example.net", "action": "allow"}
    assert garden["/ip/hotspot/walled-garden/ip"].attrs == {"dst-host": "portal.example.net", "action": "accept"}
    by_ip = provision.plan(nas(), "acme", [GOLD], replace(HOTSPOT, public_url="http://192.0.2.7:8080",
                                                           hotspot_directory="flash/hotspot"))
    ip_rule = next(s for s in by_ip if isinstance(s, Step) and s.menu == "/ip/hotspot/walled-garden/ip")
    assert ip_rule.attrs == {"dst-address": "192.0.2.7", "action": "accept"}
    assert next(s for s in by_ip if isinstance(s, Fetch)).dst_path == "flash/hotspot/login.html"


def test_the_hotspot_server_profile_is_set_to_ask_aaad(fake: FakeRouterOS, files: Files) -> None:
    """The server profile /ip hotspot setup made (use-radius=false) is set to use RADIUS for authentication and
    accounting with the pages' directory; its other settings (login-by) stay; a second run sends nothing to it;
    a named profile that does not exist is added."""
    fake.seed("/ip/hotspot/profile", name="hsprof1", use_radius="false", login_by="cookie,http-chap",
              html_directory="flash/hotspot", radius_interim_update="received")
    settings = replace(HOTSPOT, public_url=files.url)
    first = routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], settings), TIMEOUTS)
    assert first.ok, first.errors
    prof = {r["name"]: r for r in fake.table("/ip/hotspot/profile")}
    assert {k: prof["hsprof1"][k] for k in ("use-radius", "radius-accounting", "radius-interim-update",
                                             "html-directory", "login-by")} == {
        "use-radius": "true", "radius-accounting": "true", "radius-interim-update": "5m", "html-directory": "hotspot",
        "login-by": "cookie,http-chap"}
    assert prof["default"]["use-radius"] == "false"     # the router's own default profile: untouched
    fake.clear_received()
    second = routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], settings), TIMEOUTS)
    assert second.ok and not [c for c in second.commands if c.menu == "/ip/hotspot/profile"]
    named = replace(settings, hotspot_profile="aaad-hs")
    assert routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], named), TIMEOUTS).ok
    assert {r["name"]: r.get("use-radius") for r in fake.table("/ip/hotspot/profile")} == {
        "default": "false", "hsprof1": "true", "aaad-hs": "true"}


def test_script_lists_the_fetches_in_terminal_syntax() -> None:
    """Without API credentials the script shows each /tool fetch as an operator would type it."""
    lines = [c.cli() for c in provision.script(provision.plan(nas(), "acme", [GOLD], HOTSPOT))]
    assert "/tool fetch url=https://portal.example.net/acme/portal/hotspot/login.html dst-path=hotspot/login.html" \
        in lines
    assert ('/ip hotspot walled-garden add comment="aaad: hotspot: portal.example.net" dst-host=portal.example.net '
            'action=allow') in lines


def test_router_fetches_every_page(fake: FakeRouterOS, files: Files) -> None:
    """The router downloads each file into hotspot/; a second run fetches again and changes nothing else."""
    settings = replace(HOTSPOT, public_url=files.url)
    first = routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], settings), TIMEOUTS)
    assert first.ok, first.errors
    assert fake.files == {f"hotspot/{n}": files.pages[n] for n in HOTSPOT_FILES}
    assert {r["name"] for r in fake.table("/file")} == {f"hotspot/{n}" for n in HOTSPOT_FILES}
    garden = fake.table("/ip/hotspot/walled-garden")
    assert [(g["dst-host"], g["comment"]) for g in garden] == [("127.0.0.1", "aaad: hotspot: 127.0.0.1")]
    assert fake.table("/ip/hotspot/walled-garden/ip")[0]["dst-address"] == "127.0.0.1"
    fake.clear_received()
    files.pages["login.html"] = b"<!-- changed brand -->"
    second = routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], settings), TIMEOUTS)
    assert second.ok and {c.action for c in second.commands} == {"fetch"}
    assert fake.writes() == []
    assert fake.files["hotspot/login.html"] == b"<!-- changed brand -->"


def test_extra_walled_garden_hosts_added_and_pruned(fake: FakeRouterOS, files: Files) -> None:
    """Extra hosts (a gateway's checkout) join the portal's; one no longer given is removed, the operator's own
    entries stay."""
    fake.seed("/ip/hotspot/walled-garden", dst_host="operator.example", comment="mine")
    settings = replace(HOTSPOT, public_url=files.url, hotspot_hosts=("checkout.pay.example", "js.pay.example"))
    assert routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], settings), TIMEOUTS).ok
    hosts = lambda menu: sorted(r.get("dst-host", r.get("dst-address", "")) for r in fake.table(menu))  # noqa: E731
    assert hosts("/ip/hotspot/walled-garden") == ["127.0.0.1", "checkout.pay.example", "js.pay.example",
                                                  "operator.example"]
    assert hosts("/ip/hotspot/walled-garden/ip") == ["127.0.0.1", "checkout.pay.example", "js.pay.example"]
    fewer = replace(settings, hotspot_hosts=("checkout.pay.example",))
    result = routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], fewer), TIMEOUTS)
    assert [c.cli() for c in result.commands if c.action == "remove"] == [
        '/ip hotspot walled-garden remove [find comment="aaad: hotspot: js.pay.example"]',
        '/ip hotspot walled-garden ip remove [find comment="aaad: hotspot: js.pay.example"]']
    assert hosts("/ip/hotspot/walled-garden") == ["127.0.0.1", "checkout.pay.example", "operator.example"]


def test_failed_fetch_is_recorded_and_the_rest_installed(fake: FakeRouterOS, files: Files) -> None:
    """A page the router cannot download is an error naming it; the other pages are still fetched."""
    del files.pages["status.html"]
    result = routeros.apply(access(fake), provision.plan(nas(), "acme", [GOLD], replace(HOTSPOT, public_url=files.url)),
                            TIMEOUTS)
    assert len(result.errors) == 1 and "status.html" in result.errors[0] and "404" in result.errors[0]
    assert "hotspot/status.html" not in fake.files and "hotspot/login.html" in fake.files


def test_nas_provision_hotspot_installs_the_daemons_pages(daemon_factory: DaemonFactory, tmp_path: Path,
                                                          fake: FakeRouterOS) -> None:
    """End to end: `aaad nas provision --hotspot` makes the (fake) router fetch the demo org's pages from the
    running daemon's public URL: byte for byte what `aaad hotspot bundle` writes."""
    port = free_port()
    d = daemon_factory(extra=f'[web]\nport = {port}\npublic_url = "http://127.0.0.1:{port}"\n')
    d.cli("nas", "set", "loopback", "--api-host", "127.0.0.1", "--api-port", str(fake.port),
          "--api-username", "admin", "--api-password", "pw")
    r = d.cli("nas", "provision", "loopback", "--hotspot", "--walled-garden", "checkout.pay.example")
    assert f"/tool fetch url=http://127.0.0.1:{port}/demo/portal/hotspot/login.html dst-path=hotspot/login.html" \
        in r.stdout
    d.cli("hotspot", "bundle", "--org", "demo", str(tmp_path / "bundle"))
    assert fake.files == {f"hotspot/{n}": (tmp_path / "bundle" / n).read_bytes() for n in HOTSPOT_FILES}
    assert b"/demo/portal/vouchers" in fake.files["hotspot/login.html"]
    assert [g["dst-host"] for g in fake.table("/ip/hotspot/walled-garden")] == ["127.0.0.1", "checkout.pay.example"]
