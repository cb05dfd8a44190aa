"""Run EmailChannel.send on a real reactor: the sends in a JSON spec, all at once; print the results.

pytest runs no reactor, so the SMTP tests run the real client here, in a subprocess:
``python -m tests.billing.notify.email_run < SPEC_JSON``. The spec: ``{"sends": [{"settings": {...},
"secrets": {...}, "message": {Outgoing fields; "attachments": [{"filename", "content_type",
"data_b64"}]}}, ...], "shared": bool, "sequential": bool, "linger": seconds}``: with ``shared`` every send
goes through one channel (the first send's settings), with ``sequential`` each after the previous one's
outcome, and ``linger`` keeps the reactor running that long after the last. Prints one JSON line:
``{"results": [{"provider_id", "detail", "elapsed"} | {"error", "retryable", "elapsed"}, ...],
"connections": [per channel]}`` (elapsed: seconds from the send to its outcome).
"""
from __future__ import annotations

import base64
import json
import sys
from typing import Any

from twisted.internet import defer, task
from twisted.python.failure import Failure

from billing.notify.channels import Attachment, Outgoing, SendError, Sent
from billing.notify.email import EmailChannel, parse_settings


def outgoing(m: dict[str, Any]) -> Outgoing:
    atts = tuple(Attachment(a["filename"], a["content_type"], base64.b64decode(a["data_b64"]))
                 for a in m.get("attachments", ()))
    fields = {k: v for k, v in m.items() if k != "attachments"}
    fields.setdefault("channel", "email")
    return Outgoing(attachments=atts, **fields)


async def run(reactor: Any, spec: dict[str, Any]) -> dict[str, Any]:
    channels: list[EmailChannel] = []

    def channel_for(send: dict[str, Any]) -> EmailChannel:
        if not (spec.get("shared") and channels):
            channels.append(EmailChannel(reactor, parse_settings(send["settings"], send.get("secrets", {}))))
        return channels[-1]

    def one(send: dict[str, Any]) -> defer.Deferred[dict[str, Any]]:
        channel = channel_for(send)
        start = reactor.seconds()

        def outcome(r: Sent | Failure) -> dict[str, Any]:
            elapsed = reactor.seconds() - start
            if isinstance(r, Sent):
                return {"provider_id": r.provider_id, "detail": r.detail, "elapsed": elapsed}
            e = r.value
            if isinstance(e, SendError):
                return {"error": e.detail, "retryable": e.retryable, "elapsed": elapsed}
            return {"error": f"not a SendError: {r.type.__name__ if r.type else r}: {r.getErrorMessage()}",
                    "retryable": None, "elapsed": elapsed}
        return channel.send(outgoing(send["message"])).addBoth(outcome)
    if spec.get("sequential"):
        results = [await one(s) for s in spec["sends"]]
    else:
        results = await defer.gatherResults([one(s) for s in spec["sends"]])
    if spec.get("linger"):
        await task.deferLater(reactor, float(spec["linger"]), lambda: None)
    return {"results": results, "connections": [c.connections for c in channels]}


def main(reactor: Any, spec_json: str) -> defer.Deferred[None]:
    spec = json.loads(spec_json)

    async def go() -> None:
        out = await run(reactor, spec)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return defer.ensureDeferred(go())


if __name__ == "__main__":
    task.react(main, [sys.stdin.read()])
