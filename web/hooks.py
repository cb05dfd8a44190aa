"""Callbacks from providers (outside the API: they authenticate with their own signatures).

``POST /hooks/notify/twilio``: Twilio's message status callbacks (SMS and
WhatsApp), checked against the org's auth token (:mod:`billing.notify.receipts`).
Twilio retries a callback that is not answered 2xx, so a callback we cannot
use (unknown SID, bad signature) is answered 4xx once and logged, not retried
forever by us.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any, cast

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from aaad import urls
from aaad.clock import utcnow
from aaad.errors import NotFound, ValidationError
from billing.notify import receipts
from web.api.app import Deps

log = Logger()

RACE_TRIES = 20          # x RACE_WAIT: how long a callback waits for its message's SID to be recorded
RACE_WAIT = 0.15


def _form(request: IRequest) -> dict[str, str]:
    args = cast(Any, request).args or {}
    out: dict[str, str] = {}
    for k, vs in args.items():
        if vs:
            out[k.decode("utf-8", "replace")] = vs[-1].decode("utf-8", "replace")
    return out


@defer.inlineCallbacks
def twilio_status(deps: Deps | None, request: IRequest) -> Generator[Any, Any, bytes]:
    if deps is None:
        raise NotFound("page", receipts.HOOK_PATH)
    sig = (cast(Any, request).getHeader(b"X-Twilio-Signature") or b"").decode("latin-1")
    req = cast(Any, request)
    here = f"{'https' if req.isSecure() else 'http'}://{(req.getHeader(b'host') or b'').decode('latin-1')}" \
        f"{receipts.HOOK_PATH}"
    candidates = [here]
    if deps.conf.web.public_url:
        candidates.insert(0, receipts.callback_url(urls.public_url(deps.conf.web)))
    form = _form(request)
    try:
        for attempt in range(RACE_TRIES):
            try:
                changed = yield deps.db.write(receipts.twilio_status, deps.box, form, sig, candidates,
                                              utcnow(deps.clock))
                break
            except NotFound:
                # Twilio can call back before our sender has recorded the SID it was just given:
                # wait a little for that record rather than drop the receipt.
                if attempt == RACE_TRIES - 1:
                    raise
                yield task.deferLater(deps.clock, RACE_WAIT, lambda: None)
    except (NotFound, ValidationError) as e:
        log.warn("Twilio status callback refused: {error}", error=str(e))
        request.setResponseCode(403 if isinstance(e, ValidationError) else 404)
        return b""
    request.setResponseCode(204 if not changed else 200)
    return b""
