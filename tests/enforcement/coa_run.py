"""Run DynAuthClient on a real reactor: the requests in a JSON spec, all at once; print the results.

pytest runs no reactor, so the integration tests run the real client here, in a
subprocess: ``python -m tests.enforcement.coa_run < SPEC_JSON``. The spec:
``{"client": {DynAuthClient keyword arguments}, "requests": [{"kind": "disconnect"|"coa",
"host", "port", "secret", "attrs": [[name, value], ...]}, ...]}``. Prints one JSON line:
``{"port": local port, "results": [{"outcome", "error_cause", "error_text", "attempts",
"rtt", "reply_code", "reply_id"} | {"error": text}, ...], "stats": {counter: {label: n}}}``.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from twisted.internet import defer, task
from twisted.python.failure import Failure

from aaad.metrics import Stats
from enforcement.coa import DynAuthClient, Result, Target


def outcome(r: Result | Failure) -> dict[str, Any]:
    if isinstance(r, Failure):
        return {"error": f"{r.type.__name__ if r.type else r}: {r.getErrorMessage()}"}
    return {"outcome": r.outcome, "error_cause": r.error_cause, "error_text": r.error_text,
            "attempts": r.attempts, "rtt": r.rtt,
            "reply_code": r.reply.code if r.reply else None, "reply_id": r.reply.ident if r.reply else None}


async def run(reactor: Any, spec: dict[str, Any]) -> dict[str, Any]:
    stats = Stats()
    client = DynAuthClient(reactor, stats=stats, bind_address="127.0.0.1", **spec.get("client", {}))
    client.start()
    port = client.port
    ds = []
    for req in spec["requests"]:
        target = Target(req["host"], req["port"], req["secret"].encode())
        attrs = [(name, value) for name, value in req["attrs"]]
        send = client.disconnect if req["kind"] == "disconnect" else client.coa
        ds.append(send(target, attrs).addBoth(outcome))
    results = await defer.gatherResults(ds)
    await client.stop()
    return {"port": port, "results": results,
            "stats": {name: dict(values) for name, values in stats.counters.items()}}


def main(reactor: Any, spec_json: str) -> defer.Deferred[None]:
    spec = json.loads(spec_json)

    async def go() -> None:
        out = await run(reactor, spec)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return defer.ensureDeferred(go())


if __name__ == "__main__":
    task.react(main, [sys.stdin.read()])
