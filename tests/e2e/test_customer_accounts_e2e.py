"""End to end, the admin's way of making a hotspot customer: over the API a customer with "send credentials"
→ the login details arrive at a real SMTP server on loopback → the customer signs in to the portal with them."""
from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from typing import Any

from tests.conftest import DaemonFactory
from tests.e2e.test_acct_api_e2e import call
from tests.e2e.test_auth_e2e import radclient
from tests.e2e.test_notify_e2e import NO_JOBS, configure
from tests.e2e.test_write_path_e2e import pap
from tests.smtp_server import SmtpServer


def _portal_login(base: str, identifier: str, password: str) -> tuple[int, str]:
    """Sign in on demo's portal as a browser does (cookie, CSRF token from the form); the dashboard."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/demo/portal/login", timeout=30) as r:
        page = r.read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, page[:500]
    form = urllib.parse.urlencode({"csrf": token.group(1), "identifier": identifier, "password": password,
                                   "next": ""}).encode()
    with opener.open(f"{base}/demo/portal/login", data=form, timeout=30) as r:
        return r.status, r.read().decode()


def test_customer_with_credentials_gets_the_email_and_signs_in(daemon_factory: DaemonFactory) -> None:
    """POST /customers with a voucher package and send_credentials: one e-mail to the customer with their
    username, the portal's sign-in link, a password that signs them in and the voucher's code and password,
    which RADIUS accepts; no second, plain welcome."""
    with SmtpServer(tls="none") as smtp:
        d = daemon_factory(extra=NO_JOBS)
        settings, secrets = smtp.settings(from_address="hello@demo-isp.example")
        configure(d, "email", "smtp", settings, secrets, {"customer.credentials": ["email"],
                                                          "customer.welcome": ["email"]})
        token = json.loads(d.cli("token", "create", "--org", "demo", "--name", "e2e", "--json").stdout)["token"]
        pkg = json.loads(d.cli("voucher", "package", "add", "E2E hour", "--price", "1.00", "--time", "1h",
                                "--rate-limit", "2M/2M", "--org", "demo", "--json").stdout)
        code, _, body = call(d, token, "POST", "/customers",
                             {"name": "Akua Mensah", "email": "akua@example.com", "send_credentials": True,
                              "package_id": pkg["id"]})
        assert code == 201, body
        customer: dict[str, Any] = json.loads(body)
        (got,) = smtp.wait_for(1, timeout=20)
        m = got.parsed()
        assert got.rcpt_tos == ["akua@example.com"] and "login details" in m["Subject"]
        plain = m.get_body(("plain",))
        assert plain is not None
        text = plain.get_content()
        assert customer["username"] in text and "/demo/portal/login" in text
        password = re.search(r"Password: (\S+)", text)
        assert password, text
        status, page = _portal_login(d.url(""), "akua@example.com", password.group(1))
        assert status == 200 and "Hello, Akua Mensah" in page
        voucher = re.search(r"E2E hour voucher for the WiFi:\s+Code: (\S+)\s+Password: (\S+)", text)
        assert voucher, text
        assert voucher.group(1) in page                     # the dashboard's active voucher
        out = radclient(d, pap(voucher.group(1), voucher.group(2))).stdout
        assert "Access-Accept" in out and "Session-Timeout = 3600" in out, out
        assert 'Mikrotik-Rate-Limit = "2M/2M"' in out, out
        assert len(smtp.messages) == 1          # the credentials are the welcome: no second e-mail
