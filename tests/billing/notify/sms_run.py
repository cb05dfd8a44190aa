"""Run the SMS/WhatsApp channels on a real reactor with treq: the messages in a JSON spec, one after another.

pytest runs no reactor, so the real-socket tests run the channels here, in a
subprocess: ``python -m tests.billing.notify.sms_run < SPEC_JSON``. The spec:
``{"channel": "sms"|"whatsapp", "settings": {...}, "secrets": {...}, "timeout": seconds,
"messages": [{"to", "text", "message_id"?, "org_id"?}, ...], "balance": bool}``.
Prints one JSON line: ``{"results": [{"provider_id", "detail", "elapsed"} |
{"error", "retryable", "elapsed"} | {"unexpected", "elapsed"}], "balance": number | {"error"}}``.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

from twisted.internet import defer, task

from billing.notify.channels import Outgoing, SendError
from billing.notify.sms import BalanceError, GenericSettings, TreqHttp, build_channel, check_balance, parse_sms_settings


async def run(reactor: Any, spec: dict[str, Any]) -> dict[str, Any]:
    settings = parse_sms_settings(spec["settings"], spec.get("secrets", {}))
    http = TreqHttp(reactor)
    timeout = float(spec.get("timeout", 5.0))
    channel = build_channel(spec.get("channel", "sms"), settings, http=http, reactor=reactor, timeout=timeout)
    results: list[dict[str, Any]] = []
    for i, m in enumerate(spec.get("messages", [])):
        msg = Outgoing(message_id=m.get("message_id", 100 + i), org_id=m.get("org_id", 1), channel=channel.name,
                       to=m["to"], subject="", text=m["text"])
        t0 = time.monotonic()
        try:
            sent = await channel.send(msg)
            out: dict[str, Any] = {"provider_id": sent.provider_id, "detail": sent.detail}
        except SendError as e:
            out = {"error": e.detail, "retryable": e.retryable}
        except Exception as e:  # the contract says SendError only: show anything else
            out = {"unexpected": f"{type(e).__name__}: {e}"}
        out["elapsed"] = time.monotonic() - t0
        results.append(out)
    result: dict[str, Any] = {"results": results}
    if spec.get("balance"):
        assert isinstance(settings, GenericSettings)
        try:
            result["balance"] = await check_balance(settings, http, reactor=reactor, timeout=timeout)
        except BalanceError as e:
            result["balance"] = {"error": e.detail}
    await http.close()
    return result


def main(reactor: Any, spec_json: str) -> defer.Deferred[None]:
    spec = json.loads(spec_json)

    async def go() -> None:
        out = await run(reactor, spec)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return defer.ensureDeferred(go())


if __name__ == "__main__":
    task.react(main, [sys.stdin.read()])
