"""Run the Paystack gateway on a real reactor with treq (pytest runs no reactor): ``python -m
tests.billing.gateways.paystack_run < SPEC_JSON``.  The spec: ``{"base_url", "secret_key", "timeout",
"steps": ["start" | "verify", ...]}``: each step initialises (or verifies) one payment of 115.00 GHS
with reference ``ref-<n>``.  Prints one JSON line: ``{"results": [{"redirect_url", "provider_ref"} |
{"status", "amount", "currency", "provider_ref"} | {"error"}, each with "elapsed"]}``."""
from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer, task

from billing.gateways.base import Transaction
from billing.gateways.paystack import PaystackGateway
from billing.notify.sms import TreqHttp


def tx(n: int) -> Transaction:
    now = datetime.now(UTC)
    return Transaction(n, 1, 7, f"ref-{n}", "paystack", "balance", 115_00, "GHS", "pending", None, None, None, now,
                       now, None)


def main(reactor: Any, spec_json: str) -> defer.Deferred[None]:
    spec = json.loads(spec_json)

    async def go() -> None:
        http = TreqHttp(reactor)
        gw = PaystackGateway(spec["secret_key"], org_slug="isp", email_of=lambda t: "ann@example.com", http=http,
                             reactor=reactor, base_url=spec["base_url"], timeout=float(spec.get("timeout", 5)))
        results = []
        for i, step in enumerate(spec["steps"]):
            t0 = time.monotonic()
            out: dict[str, Any]
            try:
                if step == "start":
                    s = await gw.start(tx(i), "http://aaad.test/return")
                    out = {"redirect_url": s.redirect_url, "provider_ref": s.provider_ref}
                else:
                    ev = await gw.verify(tx(int(step.split(":")[1])))
                    out = {"status": ev.status, "amount": ev.amount, "currency": ev.currency,
                           "provider_ref": ev.provider_ref}
            except Exception as e:
                out = {"error": f"{type(e).__name__}: {e}"}
            out["elapsed"] = time.monotonic() - t0
            results.append(out)
        await http.close()
        sys.stdout.write(json.dumps({"results": results}) + "\n")
        sys.stdout.flush()
    return defer.ensureDeferred(go())


if __name__ == "__main__":
    task.react(main, [sys.stdin.read()])
