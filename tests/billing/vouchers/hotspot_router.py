"""A fake MikroTik hotspot for browser tests: it serves a hotspot bundle's pages as the router's
HTTP servlet does (variables filled by :mod:`tests.billing.vouchers.routeros_pages`, a fresh
chap-id and chap-challenge with each login page) and turns a login into the Access-Request a
MikroTik sends: HTTP-CHAP (the page's hex response becomes CHAP-Password = chap-id + digest, with
CHAP-Challenge) or, with ``chap=False``, PAP; sent to aaad with pyrad's client.

    GET  /login         login.html (``?username=`` etc. are left to the page's script)
    POST /login         the login: alogin.html on Access-Accept, login.html with $(error) = the
                        Reply-Message on Access-Reject
    GET  /status        status.html of the device's session; /logout ends it (logout.html)
    GET  /md5.js        the bundle's md5.js

Threaded, on 127.0.0.1, port 0 (``.url``); ``logins`` records (username, method, accepted).
"""
from __future__ import annotations

import http.server
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.billing.vouchers.routeros_pages import fill, octal, router_values


@dataclass
class Session:
    username: str
    reply: dict[str, Any] = field(default_factory=dict)


class FakeHotspot:
    def __init__(self, pages: dict[str, bytes], auth_port: int, secret: str = "testing123", *, chap: bool = True,
                 trial: bool = False, mac: str = "02:00:00:00:00:01"):
        self.pages = pages
        self.auth_port = auth_port
        self.secret = secret
        self.chap = chap
        self.trial = trial
        self.mac = mac
        self.logins: list[tuple[str, str, bool]] = []
        self.session: Session | None = None
        self._chap: tuple[bytes, bytes] | None = None
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake._get(self)

            def do_POST(self) -> None:  # noqa: N802
                fake._post(self)

            def log_message(self, *a: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @classmethod
    def from_dir(cls, folder: Path, auth_port: int, **kw: Any) -> FakeHotspot:
        return cls({p.name: p.read_bytes() for p in folder.iterdir()}, auth_port, **kw)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- pages -----------------------------------------------------------------------------------

    def _values(self, **extra: str) -> dict[str, str]:
        base = dict(link_login_only=f"{self.url}/login", link_login=f"{self.url}/login",
                    link_logout=f"{self.url}/logout", link_status=f"{self.url}/status", mac=self.mac,
                    ip="127.0.0.1", identity="fake-hotspot", trial="yes" if self.trial else "no")
        if self.chap:
            chap_id, challenge = secrets.token_bytes(1), secrets.token_bytes(16)
            self._chap = (chap_id, challenge)
            base.update(chap_id=octal(chap_id), chap_challenge=octal(challenge))
        base.update(extra)
        return router_values(**base)

    def _send(self, h: http.server.BaseHTTPRequestHandler, page: str, values: dict[str, str]) -> None:
        body = fill(self.pages[page].decode(), values).encode()
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8" if page.endswith(".html") else
                      "application/javascript")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _get(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = urllib.parse.urlsplit(h.path).path
        if path == "/md5.js":
            h.send_response(200)
            h.send_header("Content-Type", "application/javascript")
            h.end_headers()
            h.wfile.write(self.pages["md5.js"])
        elif path == "/login":
            self._send(h, "login.html", self._values())
        elif path == "/status" and self.session is not None:
            self._send(h, "status.html", self._values(username=self.session.username, uptime="1s",
                                                      bytes_in_nice="0 B", bytes_out_nice="0 B",
                                                      session_time_left=str(self.session.reply.get(
                                                          "Session-Timeout", [""])[0])))
        elif path == "/logout" and self.session is not None:
            user, self.session = self.session.username, None
            self._send(h, "logout.html", self._values(username=user, uptime="1s"))
        else:
            h.send_response(404)
            h.end_headers()

    def _post(self, h: http.server.BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length).decode()
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        user, password = form.get("username", ""), form.get("password", "")
        accepted, reply = self._radius(user, password)
        if accepted:
            self.session = Session(user, reply)
            self._send(h, "alogin.html", self._values(username=user, link_redirect=form.get("dst") or
                                                      f"{self.url}/status"))
        else:
            message = reply.get("Reply-Message", ["invalid username or password"])[0]
            self._send(h, "login.html", self._values(username=user, error=str(message)))

    # -- RADIUS ----------------------------------------------------------------------------------

    def _radius(self, user: str, password: str) -> tuple[bool, dict[str, Any]]:
        from pyrad import packet
        from pyrad.client import Client
        from pyrad.dictionary import Dictionary

        from aaad.radius.dictionary import default_dictionary_path
        c = Client(server="127.0.0.1", authport=self.auth_port, secret=self.secret.encode(),
                   dict=Dictionary(str(default_dictionary_path())))
        c.timeout, c.retries = 2, 2
        req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name=user)
        req["Calling-Station-Id"] = self.mac
        method = "pap"
        if self.chap and self._chap is not None and len(password) == 32:
            chap_id, challenge = self._chap
            try:
                req["CHAP-Password"] = chap_id + bytes.fromhex(password)
                req["CHAP-Challenge"] = challenge
                method = "chap"
            except ValueError:
                pass
        if method == "pap":
            req["User-Password"] = req.PwCrypt(password)
        req.add_message_authenticator()
        reply = c.SendPacket(req)
        accepted = reply.code == packet.AccessAccept
        self.logins.append((user, method, accepted))
        return accepted, {k: reply[k] for k in reply.keys()}  # noqa: SIM118 (pyrad's keys() are the names)
