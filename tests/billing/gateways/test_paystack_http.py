"""The Paystack gateway over real sockets (treq on a real reactor, in a subprocess) against the threaded
fake: the documented exchange, and Paystack failing: 5xx, an answer that is not JSON, slowness past
the timeout — each a GatewayError saying why, none hanging."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fake_paystack import FakePaystack

ROOT = Path(__file__).resolve().parents[3]


def run(fake: FakePaystack, steps: list[str], timeout: float = 2.0) -> list[dict[str, Any]]:
    spec = json.dumps({"base_url": fake.url, "secret_key": fake.secret_key, "timeout": timeout, "steps": steps})
    p = subprocess.run([sys.executable, "-m", "tests.billing.gateways.paystack_run"], input=spec,
                       capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout + p.stderr
    out: list[dict[str, Any]] = json.loads(p.stdout.strip().splitlines()[-1])["results"]
    return out


def test_over_http_and_failures() -> None:
    """start + verify over HTTP; then 500, 503, a body that is not JSON, and an answer 3 s late with a
    1 s timeout: GatewayErrors with the reason, the slow one after about the timeout."""
    with FakePaystack() as fake:
        fake.modes.extend(["ok", "ok", "500", "503", "badjson"])
        ok, verified, e500, e503, bad = run(fake, ["start", "verify:0", "start", "start", "start"])
        code = fake.payment("ref-0").access_code
        assert ok["redirect_url"] == f"{fake.url}/checkout/{code}" and ok["provider_ref"] == code
        assert (verified["status"], verified["amount"], verified["currency"]) == ("pending", 115_00, "GHS")
        assert "HTTP 500" in e500["error"] and "GatewayError" in e500["error"]
        assert "HTTP 503" in e503["error"]
        assert "not JSON" in bad["error"]
        assert all(fake.secret_key not in r.get("error", "") for r in (e500, e503, bad))
        fake.delay = 3.0
        (slow,) = run(fake, ["start"], timeout=1.0)
        assert "no answer within 1 s" in slow["error"] and 0.9 < slow["elapsed"] < 2.9
