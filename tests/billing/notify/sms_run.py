"""Run the SMS/WhatsApp channels on a real reactor with treq: the jobs in a JSON spec, one after another.

pytest runs no reactor, so the real-socket tests run the channels here, in a
subprocess: ``python -m tests.billing.notify.sms_run < SPEC_JSON``. The spec:
``{"jobs": [{"channel": "sms"|"whatsapp", "settings": {...}, "secrets": {...}, "timeout": seconds,
"concurrent": bool, "messages": [{"to", "text", "message_id"?, "org_id"?, "kind"?, "variables"?}, ...],
"balance": bool}, ...],
"parallel": bool}``;
a job's messages go one after another, or all at once when ``concurrent``; the jobs likewise, or all at
once when ``parallel``. Prints one JSON line:
``{"jobs": [{"results": [{"provider_id", "detail", "elapsed"} | {"error", "retryable", "elapsed"} |
{"unexpected", "elapsed"}, ...], "balance": number | {"error"}}, ...]}``.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

from twisted.internet import defer, task

from billing.notify.channels import Outgoing, SendError
from billing.notify.sms import BalanceError, GenericSettings, TreqHttp, build_channel, check_balance, parse_sms_settings


async def send_one(channel: Any, msg: Outgoing) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        sent = await channel.send(msg)
        out: dict[str, Any] = {"provider_id": sent.provider_id, "detail": sent.detail}
    except SendError as e:
        out = {"error": e.detail, "retryable": e.retryable}
    except Exception as e:  # the contract allows SendError only: show anything else
        out = {"unexpected": f"{type(e).__name__}: {e}"}
    out["elapsed"] = time.monotonic() - t0
    return out


async def run_job(reactor: Any, http: TreqHttp, job: dict[str, Any]) -> dict[str, Any]:
    settings = parse_sms_settings(job["settings"], job.get("secrets", {}))
    timeout = float(job.get("timeout", 5.0))
    channel = build_channel(job.get("channel", "sms"), settings, http=http, reactor=reactor, timeout=timeout)
    msgs = [Outgoing(message_id=m.get("message_id", 100 + i), org_id=m.get("org_id", 1), channel=channel.name,
                     to=m["to"], subject="", text=m["text"], kind=m.get("kind", ""), variables=m.get("variables"))
            for i, m in enumerate(job.get("messages", []))]
    if job.get("concurrent"):
        results = list(await defer.gatherResults([defer.ensureDeferred(send_one(channel, m)) for m in msgs]))
    else:
        results = [await send_one(channel, m) for m in msgs]
    out: dict[str, Any] = {"results": results}
    if job.get("balance"):
        assert isinstance(settings, GenericSettings)
        try:
            out["balance"] = await check_balance(settings, http, reactor=reactor, timeout=timeout)
        except BalanceError as e:
            out["balance"] = {"error": e.detail}
    return out


async def run(reactor: Any, spec: dict[str, Any]) -> dict[str, Any]:
    http = TreqHttp(reactor)
    if spec.get("parallel"):
        jobs = list(await defer.gatherResults([defer.ensureDeferred(run_job(reactor, http, job))
                                               for job in spec["jobs"]]))
    else:
        jobs = [await run_job(reactor, http, job) for job in spec["jobs"]]
    await http.close()
    return {"jobs": jobs}


def main(reactor: Any, spec_json: str) -> defer.Deferred[None]:
    spec = json.loads(spec_json)

    async def go() -> None:
        out = await run(reactor, spec)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return defer.ensureDeferred(go())


if __name__ == "__main__":
    task.react(main, [sys.stdin.read()])
