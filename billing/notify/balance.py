"""The daily SMS-balance check: a generic gateway whose settings name a balance URL is
asked for its balance; below the threshold (the org's ``sms_balance_threshold``, else
the gateway's own ``balance_threshold``) the org's admins get
``admin.sms_balance_low`` (once per day: the job's period is the key)."""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

from twisted.internet import defer

from aaad.clock import utcnow
from aaad.component import Core
from aaad.jobs import JobContext
from billing.notify import outbox
from billing.notify import settings as ns
from billing.notify.channels import SMS


def _queue_alert(conn: Any, box: Any, org_id: int, period: str, value: float, threshold: float, now: Any) -> int:
    d = outbox.Draft("admin.sms_balance_low", f"balance:{period}", None,
                     {"balance": f"{value:g}", "threshold": f"{threshold:g}"})
    return len(outbox.queue(conn, box, org_id, [d], now))


@defer.inlineCallbacks
def check(ctx: JobContext, core: Core, channels: Any) -> Generator[Any, Any, str]:
    s = yield ctx.db.read(ns.get, ctx.org_id)
    cfg = yield ctx.db.read(ns.get_channel, core.box, ctx.org_id, SMS)
    threshold = s.sms_balance_threshold
    if threshold is None and cfg is not None and cfg.settings.get("balance_threshold") is not None:
        threshold = float(cfg.settings["balance_threshold"])
    if threshold is None:
        return "no threshold set"
    ch = yield channels.get(ctx.org_id, SMS)
    ask = getattr(ch, "balance", None)
    if ask is None:
        return "the SMS channel has no balance check"
    value = float((yield ask()))
    if value >= threshold:
        return f"balance {value:g} (threshold {threshold:g})"
    n = yield ctx.db.write(_queue_alert, core.box, ctx.org_id, ctx.period, value, threshold, utcnow(core.clock))
    return f"balance {value:g} below {threshold:g}: {n} alert(s) queued"
