"""End to end: sessions, usage graphs and enforcement through the admin API of the real
daemon over real HTTP: a session opened with radclient is listed; the traffic graph is
drawn by the accounting service's rrdtool pool; a disconnect is sent at once (the API
kicks the sender: its poll interval here is a minute); the router's status and its
provisioning go through the enforcement service's RouterOS pool to the fake router."""
from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twisted.internet import defer

from tests.conftest import Daemon, DaemonFactory
from tests.e2e.test_accounting_e2e import acct
from tests.fake_routeros import FakeRouterOS

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")

CONF = "[enforcement]\ncoa_timeout = 0.2\ncoa_attempts = 2\ncoa_max_time = 1.0\npoll_interval = 60\n"


def call(d: Daemon, token: str, method: str, path: str, body: Any = None) -> tuple[int, str, bytes]:
    """One request to /api/v1: status, content type, body."""
    req = urllib.request.Request(d.url("/api/v1" + path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def run_now(fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    return defer.maybeDeferred(fn, *args)


def test_sessions_graph_disconnect_and_router_over_http(daemon_factory: DaemonFactory) -> None:
    """The accounting and enforcement routes against the running daemon and its services."""
    d = daemon_factory(extra=CONF)
    token = json.loads(d.cli("token", "create", "--org", "demo", "--name", "e2e", "--json").stdout)["token"]
    r = acct(d, 'User-Name = "alice"\nAcct-Session-Id = "e2e-1"\nFramed-IP-Address = 10.9.0.7\n'
                'Acct-Status-Type = Start\n')
    assert "Accounting-Response" in r.stdout, r.stdout + r.stderr

    code, _, body = call(d, token, "GET", "/sessions?open=true&username=alice")
    assert code == 200, body
    [s] = json.loads(body)["items"]
    assert s["acct_session_id"] == "e2e-1" and s["open"] and s["framed_ip"] == "10.9.0.7"
    login_id, nas_id = s["login_id"], s["nas_id"]

    # The graph: none before the login's RRD file exists, a PNG from the service's pool after.
    code, _, body = call(d, token, "GET", f"/logins/{login_id}/usage.png")
    assert code == 404 and "No traffic graph" in json.loads(body)["error"]["message"]
    from accounting.graphs import RrdStore
    org_id = next(o["id"] for o in json.loads(d.cli("org", "list", "--json").stdout) if o["slug"] == "demo")
    slot = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=60)
    slot -= timedelta(minutes=slot.minute % 5)
    RrdStore(str(d.data_dir / "rrd"), None, run_now).update_many(
        [(org_id, login_id, slot + timedelta(minutes=5 * i), 3_000_000, 300_000) for i in range(6)])
    code, ctype, body = call(d, token, "GET", f"/logins/{login_id}/usage.png")
    assert code == 200 and ctype == "image/png" and body.startswith(b"\x89PNG"), body[:200]
    code, _, body = call(d, token, "GET", f"/logins/{login_id}/usage?resolution=5m")
    assert code == 200 and json.loads(body)["login_id"] == login_id

    # Disconnect now: the action leaves "pending" long before the sender's next poll.
    code, _, body = call(d, token, "POST", "/disconnect", {"login_id": login_id, "reason": "e2e"})
    assert code == 202, body
    [action] = json.loads(body)["actions"]
    deadline = time.monotonic() + 10
    while True:
        got = json.loads(call(d, token, "GET", f"/actions/{action['id']}")[2])
        if got["state"] != "pending":
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    assert got["outcome"] and got["sent_at"]

    # The router through its API: status now, then provisioning.
    with FakeRouterOS(password="pw", identity="e2e-router") as fake:
        d.cli("nas", "set", "loopback", "--api-host", "127.0.0.1", "--api-port", str(fake.port),
              "--api-username", "admin", "--api-password", "pw")
        code, _, body = call(d, token, "GET", f"/nas/{nas_id}/status?live=true")
        assert code == 200, body
        st = json.loads(body)
        assert st["reachable"] and st["identity"] == "e2e-router" and st["checked"]
        code, _, body = call(d, token, "POST", f"/nas/{nas_id}/provision", {"radius_address": "127.0.0.1"})
        assert code == 200, body
        assert json.loads(body)["changed"] > 0 and fake.table("/radius")[0]["address"] == "127.0.0.1"
    code, _, body = call(d, token, "GET", f"/nas/{nas_id}/status")
    assert json.loads(body)["identity"] == "e2e-router"
