"""The hotspot login page bundle (billing.vouchers.hotspot): rendering in the org's branding, RouterOS's
variables left for the router, and the CHAP login the page computes (md5.js run under node)."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aaad.urls import HOTSPOT_FILES
from billing.vouchers import hotspot
from tests.billing.vouchers.routeros_pages import chap_literals, fill, js_string, octal, router_values
from tests.dbtemplate import migrated

HERE = Path(__file__).resolve().parent
BRAND = hotspot.HotspotBrand("cafe", "Kofi's Café", "#0a7cff", None, "https://wifi.example.net")
node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the JavaScript is not run")
CHAP_ID = b"\xf9"
CHALLENGE = bytes.fromhex("ef0dd80b119c65a5c3ab62a65b7dfdce")


def served(page: str, **values: str) -> str:
    """A page as the router serves it to a device (chap on, the usual links)."""
    base = dict(link_login_only="http://10.5.50.1/login", link_orig="http://example.com/",
                link_login="http://10.5.50.1/login?dst=http%3A%2F%2Fexample.com%2F",
                link_logout="http://10.5.50.1/logout", link_status="http://10.5.50.1/status",
                mac="01:23:45:67:89:AB", ip="10.5.50.2", chap_id=octal(CHAP_ID), chap_challenge=octal(CHALLENGE))
    base.update(values)
    return fill(page, router_values(**base))


def run_page(page: str, **given: Any) -> dict[str, Any]:
    """The served login page's inline script run under node (see run_login_page.js)."""
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(inline) == 1
    md5 = hotspot.render(BRAND)["md5.js"].decode() if '<script src="/md5.js">' in page else None
    payload = {"md5": md5, "script": inline[0], "sendin": 'id="sendin"' in page, **given}
    r = subprocess.run(["node", str(HERE / "run_login_page.js")], input=json.dumps(payload), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_bundle_has_every_file_routeros_needs() -> None:
    """render() gives every file of the hotspot directory, HTML ones as complete pages in UTF-8."""
    files = hotspot.render(BRAND)
    assert list(files) == list(HOTSPOT_FILES)
    for name, data in files.items():
        text = data.decode("utf-8")
        if name.endswith(".html"):
            assert "<!DOCTYPE html>" in text and text.rstrip().endswith("</html>"), name
            assert "{{" not in text and "{%" not in text, name
    assert "function hexMD5" in files["md5.js"].decode()


def test_pages_carry_the_brand_and_the_portal_links() -> None:
    """The org's name, colour (with readable text on it) and the portal's Register and Buy links."""
    login = hotspot.render(BRAND)["login.html"].decode()
    assert "Kofi&#39;s Café" in login
    assert "--accent: #0a7cff" in login and "--on-accent: #000000" in login
    assert 'href="https://wifi.example.net/cafe/portal/register"' in login
    assert 'href="https://wifi.example.net/cafe/portal/vouchers"' in login
    dark = hotspot.render(hotspot.HotspotBrand("x", "X", "#1f4e79", None, "http://h"))["login.html"].decode()
    assert "--on-accent: #ffffff" in dark


def test_routeros_variables_are_left_for_the_router() -> None:
    """login.html posts to $(link-login-only) with RouterOS's fields; CHAP only when the router offers it."""
    login = hotspot.render(BRAND)["login.html"].decode()
    assert 'action="$(link-login-only)"' in login and 'value="$(link-orig)"' in login
    assert 'value="$(username)"' in login and "$(if chap-id)" in login
    assert "var chap = {id: '$(chap-id)', challenge: '$(chap-challenge)'}" in login
    without_chap = served(login, chap_id="", chap_challenge="")
    assert "md5.js" not in without_chap and 'id="sendin"' not in without_chap
    assert '<script src="/md5.js"></script>' in served(login)


def test_operator_text_cannot_become_a_routeros_variable() -> None:
    """A '$(...)' or markup in the brand's name is escaped: the router sees no variable, the browser no tag."""
    evil = hotspot.HotspotBrand("x", "$(link-login) <b>", "#000000", None, "http://h")
    for name, data in hotspot.render(evil).items():
        text = data.decode()
        assert "$(link-login) " not in text and "<b>" not in text, name
    assert "&#36;(link-login) &lt;b&gt;" in hotspot.render(evil)["login.html"].decode()


def test_logo_only_from_safe_sources(tmp_path: Path) -> None:
    """A data: logo is kept, a path on aaad becomes a public URL, anything else is left out."""
    from aaad import orgs
    from aaad.db import sync_engine
    from billing import settings
    e = sync_engine(migrated(f"sqlite:///{tmp_path / 'h.db'}"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with e.begin() as conn:
        org = orgs.add(conn, "cafe", "Cafe Org", now)
        b = hotspot.brand_of(conn, org.id, "http://aaad.lan:8080/")
        assert (b.name, b.colour, b.logo, b.public_url) == ("Cafe Org", hotspot.DEFAULT_COLOUR, None,
                                                            "http://aaad.lan:8080")
        for logo, want in (("data:image/png;base64,AAAA", "data:image/png;base64,AAAA"),
                           ("/static/logo.png", "http://aaad.lan:8080/static/logo.png"),
                           ("javascript:alert(1)", None)):
            settings.update(conn, org.id, now, brand_logo=logo, brand_name="Cafe", brand_colour="#112233")
            b = hotspot.brand_of(conn, org.id, "http://aaad.lan:8080")
            assert (b.name, b.colour, b.logo) == ("Cafe", "#112233", want)
        files = hotspot.bundle(conn, org.id, "http://aaad.lan:8080")
        assert b'<img src="' not in files["login.html"]       # the last logo was refused
        assert hotspot.file_of(conn, "cafe", "md5.js", "http://x") == files["md5.js"]
        from aaad.errors import NotFound
        with pytest.raises(NotFound):
            hotspot.file_of(conn, "cafe", "../secret", "http://x")
        with pytest.raises(NotFound):
            hotspot.file_of(conn, "nope", "login.html", "http://x")
    e.dispose()


def test_trial_link_only_where_the_org_has_a_trial() -> None:
    """'Free trial' (aaad's, through RADIUS) logs in as T-<MAC> with that as its password, shown only
    for an org with a trial, whatever the router's own trial says."""
    assert 'id="trial"' not in served(hotspot.render(BRAND)["login.html"].decode(), trial="yes")
    on = served(hotspot.render(replace(BRAND, trial_minutes=15))["login.html"].decode(), trial="no")
    assert ('href="http://10.5.50.1/login?dst=http%3A%2F%2Fexample.com%2F&amp;'
            'username=T-01%3A23%3A45%3A67%3A89%3AAB&amp;codeonly=1"') in on
    assert "Free trial (15 minutes a day)" in on


def test_zip_is_deterministic_and_complete() -> None:
    """The zip holds hotspot/<file> for every file, and the same pages give the same bytes."""
    files = hotspot.render(BRAND)
    z = hotspot.zip_bytes(files)
    assert z == hotspot.zip_bytes(hotspot.render(BRAND))
    with zipfile.ZipFile(io.BytesIO(z)) as zf:
        assert zf.namelist() == [f"hotspot/{n}" for n in HOTSPOT_FILES]
        assert zf.read("hotspot/login.html") == files["login.html"]


def test_chap_response_is_md5_of_id_password_challenge() -> None:
    """From the served page's literals (octal-escaped bytes), the CHAP response is MD5(id + password + challenge)."""
    page = served(hotspot.render(BRAND)["login.html"].decode())
    id_lit, ch_lit = chap_literals(page)
    assert id_lit == "\\371" and js_string(id_lit).encode("latin-1") == CHAP_ID
    assert js_string(ch_lit).encode("latin-1") == CHALLENGE


@node
def test_md5_js_matches_hashlib() -> None:
    """md5.js under node gives hashlib's MD5 for bytes of every value and lengths around the block edges."""
    md5 = hotspot.render(BRAND)["md5.js"].decode()
    cases = [bytes(range(256)), b"", b"abc"]
    cases += [bytes((i * 7 + n) % 256 for i in range(n)) for n in (55, 56, 63, 64, 65, 200)]
    literals = ["'" + octal(c) + "'" for c in cases]
    script = md5 + "\nconsole.log(JSON.stringify([" + ",".join(f"hexMD5({x})" for x in literals) + "]));"
    r = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [hashlib.md5(c).hexdigest() for c in cases]


@node
def test_page_logs_in_with_chap_when_submitted() -> None:
    """Connect: the hidden form gets the username and hexMD5(chap-id + password + chap-challenge)."""
    page = served(hotspot.render(BRAND)["login.html"].decode())
    out = run_page(page, submit={"username": "carol", "password": "carol-pass"})
    want = hashlib.md5(CHAP_ID + b"carol-pass" + CHALLENGE).hexdigest()
    assert out["submitted"] == [{"form": "sendin", "username": "carol", "password": want}]


@node
def test_empty_password_is_the_code() -> None:
    """A code-only voucher typed with no password logs in with the code as its password."""
    page = served(hotspot.render(BRAND)["login.html"].decode())
    out = run_page(page, submit={"username": "K7PX9Q", "password": ""})
    assert out["submitted"][0]["password"] == hashlib.md5(CHAP_ID + b"K7PX9Q" + CHALLENGE).hexdigest()


@node
def test_query_fills_the_code_and_logs_in_when_told() -> None:
    """?username= fills the code and waits for the password; &codeonly=1 or &password= log in by themselves."""
    page = served(hotspot.render(BRAND)["login.html"].decode(), error="invalid username or password")
    waits = run_page(page, search="?username=K7PX9Q")
    assert waits["submitted"] == [] and waits["focused"] == ["login.password"]
    code_only = run_page(page, search="?username=K7PX9Q&codeonly=1")
    assert code_only["submitted"] == [{"form": "sendin", "username": "K7PX9Q",
                                       "password": hashlib.md5(CHAP_ID + b"K7PX9Q" + CHALLENGE).hexdigest()}]
    assert code_only["error_hidden"] is True
    with_pw = run_page(page, search="?username=AB+CD&password=p%40ss")
    assert with_pw["submitted"][0]["username"] == "AB CD"
    assert with_pw["submitted"][0]["password"] == hashlib.md5(CHAP_ID + b"p@ss" + CHALLENGE).hexdigest()


@node
def test_without_chap_the_page_sends_the_password_plain() -> None:
    """A router offering only HTTP-PAP gets the login form itself, password as typed."""
    page = served(hotspot.render(BRAND)["login.html"].decode(), chap_id="", chap_challenge="")
    out = run_page(page, submit={"username": "carol", "password": "carol-pass"})
    assert out["submitted"] == [{"form": "login", "username": "carol", "password": "carol-pass"}]


def test_pages_load_nothing_from_elsewhere() -> None:
    """Before login a device reaches nothing but the router: the pages load only /md5.js (and a data: logo)."""
    logo = "data:image/png;base64,iVBORw0KGgo="
    for name, data in hotspot.render(replace(BRAND, logo=logo)).items():
        text = data.decode()
        loads = re.findall(r'(?:src|href)="([^"]*)"', text)
        stylesheets = re.findall(r'<link rel="stylesheet"', text)
        assert not stylesheets and "@import" not in text and "url(" not in text, name
        for url in re.findall(r'src="([^"]*)"', text):
            assert url in ("/md5.js", logo), (name, url)
        assert all(not u.startswith("//") for u in loads), name
