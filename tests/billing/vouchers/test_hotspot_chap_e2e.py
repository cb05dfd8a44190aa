"""End to end: the hotspot bundle's CHAP login against the running daemon.

`aaad hotspot bundle` writes the demo org's pages; login.html is filled in as a MikroTik router
fills it (chap-id and chap-challenge octal-escaped); what its JavaScript computes,
hexMD5(chap-id + password + chap-challenge), is computed in Python from the served literals and by
md5.js itself under node; then the router's Access-Request (CHAP-Password = chap-id + that digest,
CHAP-Challenge) goes to aaad with radclient and with pyrad's client.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.billing.vouchers.routeros_pages import chap_literals, fill, js_string, octal, router_values
from tests.conftest import Daemon

SECRET = "testing123"
CHALLENGE = bytes.fromhex("ef0dd80b119c65a5c3ab62a65b7dfdce")
pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


@pytest.fixture(scope="module")
def pages(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo org's bundle, written by the CLI against the daemon's database."""
    out = tmp_path_factory.mktemp("hotspot")
    daemon.cli("hotspot", "bundle", "--org", "demo", str(out))
    return out


def page_response(pages: Path, chap_id: bytes, password: str) -> tuple[bytes, str]:
    """(chap-id, hex response) as the served login page computes them for ``password``."""
    login = (pages / "login.html").read_text()
    served = fill(login, router_values(link_login_only="http://10.5.50.1/login", chap_id=octal(chap_id),
                                       chap_challenge=octal(CHALLENGE)))
    id_lit, ch_lit = chap_literals(served)
    chap_id_seen = js_string(id_lit).encode("latin-1")
    challenge_seen = js_string(ch_lit).encode("latin-1")
    assert (chap_id_seen, challenge_seen) == (chap_id, CHALLENGE)
    response = hashlib.md5(chap_id_seen + password.encode() + challenge_seen).hexdigest()
    if shutil.which("node"):
        script = (pages / "md5.js").read_text()
        script += f"\nprocess.stdout.write(hexMD5('{id_lit}' + {password!r} + '{ch_lit}'));"
        r = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == response, "md5.js computes something else than MD5(id + password + challenge)"
    return chap_id_seen, response


def radclient(d: Daemon, attrs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["radclient", "-x", "-r", "2", "-t", "2", f"127.0.0.1:{d.auth_port}", "auth", SECRET],
                          input=attrs, capture_output=True, text=True, timeout=30)


def chap_request(user: str, chap_id: bytes, response: str) -> str:
    # radclient re-encodes a CHAP-Password from the text before its first NUL byte; with chap-id 0
    # (one of the 256 a router picks) that text is empty and the router's CHAP-Password goes as is.
    return (f'User-Name = "{user}"\nCHAP-Password = 0x{(chap_id + bytes.fromhex(response)).hex()}\n'
            f"CHAP-Challenge = 0x{CHALLENGE.hex()}\nMessage-Authenticator = 0x00\n")


def test_page_chap_login_accepted_by_radclient(daemon: Daemon, pages: Path) -> None:
    """The page's CHAP response for the right password: Access-Accept with the hotspot profile's limits."""
    chap_id, response = page_response(pages, b"\x00", "carol-pass")
    r = radclient(daemon, chap_request("carol", chap_id, response))
    assert "Received Access-Accept" in r.stdout, r.stdout + r.stderr
    assert f"CHAP-Password = 0x00{response}" in r.stdout      # sent as the router would
    assert "Session-Timeout = " in r.stdout and 'Mikrotik-Rate-Limit = "2M/2M"' in r.stdout


def test_page_chap_login_wrong_password_rejected_by_radclient(daemon: Daemon, pages: Path) -> None:
    """The page's CHAP response for a wrong password: Access-Reject with the reason."""
    chap_id, response = page_response(pages, b"\x00", "not-carols")
    r = radclient(daemon, chap_request("carol", chap_id, response))
    assert "Received Access-Reject" in r.stdout, r.stdout + r.stderr
    assert 'Reply-Message = "wrong password"' in r.stdout


@pytest.mark.parametrize("password,accepted", [("carol-pass", True), ("carol-pas", False)])
def test_page_chap_login_with_any_chap_id_via_pyrad(daemon: Daemon, pages: Path, password: str,
                                                    accepted: bool) -> None:
    """With the router's usual non-zero chap-id (\\371), sent by pyrad's client: right accepted, wrong rejected."""
    from pyrad import packet
    from pyrad.client import Client
    from pyrad.dictionary import Dictionary

    from aaad.radius.dictionary import default_dictionary_path
    chap_id, response = page_response(pages, b"\xf9", password)
    c = Client(server="127.0.0.1", authport=daemon.auth_port, secret=SECRET.encode(),
               dict=Dictionary(str(default_dictionary_path())))
    c.timeout, c.retries = 2, 2
    req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name="carol")
    req["CHAP-Password"] = chap_id + bytes.fromhex(response)
    req["CHAP-Challenge"] = CHALLENGE
    req.add_message_authenticator()
    reply = c.SendPacket(req)
    assert reply.code == (packet.AccessAccept if accepted else packet.AccessReject)
