"""The message sender: takes due outbox rows, renders them and hands them to the org's
channels, and writes the outcome back (see :mod:`billing.notify.outbox`).

Runs on the leader.  It is woken after a delivery transaction that queued
messages, by a wake-up from another process (``aaad notify retry``), and polls
every ``poll_interval``.  A row is in flight in memory from when it is taken to
when its outcome is committed, so one process never sends it twice; outcomes
are committed in small batches.  Preparing a message (its template, the org's
branding, the invoice or receipt PDF, the secrets decrypted) runs on the
database's read threads, so neither a slow PDF nor a slow gateway holds up the
reactor and RADIUS; each channel has its own cap on messages in flight, so a
slow SMS gateway delays only SMS.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from aaad.clock import utcnow
from aaad.crypto import SecretBox
from aaad.faults import fault_point
from aaad.pacing import TokenBucket
from aaad.timer import Timer
from billing import documents
from billing import settings as billing_settings
from billing.notify import kinds, outbox, providers, segments, templates
from billing.notify import settings as ns
from billing.notify.channels import EMAIL, WHATSAPP, Attachment, Channel, Outgoing, SendError, Sent

log = Logger()
T = TypeVar("T")


@dataclass(frozen=True)
class Prepared:
    out: Outgoing
    shown: str                 # subject + text with the secrets masked (what the row keeps)
    segments: int | None


def preview(conn: Connection, org_id: int, kind: str, channel: str, given: dict[str, Any] | None = None
            ) -> templates.Rendered:
    """A template rendered with the kind's sample data and the org's branding: the stored one, or with
    ``given`` (body, subject, html) an unsaved draft of it, checked as when it is saved (the API's and the
    console's preview)."""
    unsaved = None
    if given:
        t = templates.get(conn, org_id, kind, channel)
        unsaved = templates.draft(kind, channel, **{"body": t.body, "subject": t.subject, "html": t.html, **given})
    return templates.preview(conn, org_id, kind, channel, brand(conn, org_id), unsaved=unsaved)


def brand(conn: Connection, org_id: int) -> templates.Branding:
    """The org's branding for messages (billing settings' brand, else the org's name)."""
    from aaad import orgs
    bs = billing_settings.get(conn, org_id)
    org = orgs.get(conn, org_id)
    return templates.Branding(bs.brand_name or (org.name if org else ""), bs.brand_colour or "#1d4ed8",
                              bs.brand_logo if (bs.brand_logo or "").startswith(("https:", "http:", "data:"))
                              else None, bs.brand_address)


def _attachment(conn: Connection, org_id: int, spec: dict[str, Any]) -> Attachment:
    doc, ident = spec.get("doc"), int(spec.get("id", 0))
    if doc == "invoice":
        inv = documents.invoice_doc(conn, org_id, ident)
        return Attachment(f"{inv.number or 'invoice'}.pdf", "application/pdf",
                          documents.render_invoice_pdf(conn, org_id, ident))
    if doc == "receipt":
        r = documents.receipt_doc(conn, org_id, ident)
        return Attachment(f"{r.number or 'receipt'}.pdf", "application/pdf",
                          documents.render_receipt_pdf(conn, org_id, ident))
    raise ValueError(f"unknown attachment {spec!r}")


class Looks:
    """Each org's templates and branding for messages, read at most once per ``ttl`` seconds: four
    queries a message otherwise, the larger part of preparing an SMS.  A template saved in this
    process (the API, the console) is used by the next message; a change made elsewhere (another
    process, the branding) within ``ttl``.  Shared by the read threads (plain dict operations)."""

    GRACE = 1.0        # seconds after a local template edit in which what is read is not trusted

    def __init__(self, ttl: float = 2.0, now: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._now = now
        self._templates: dict[Any, tuple[float, templates.Template]] = {}
        self._brands: dict[Any, tuple[float, templates.Branding]] = {}

    def template(self, conn: Connection, org_id: int, kind: str, channel: str) -> templates.Template:
        # What was read this soon after a local edit may predate its commit: read again.
        return self._cached(self._templates, (org_id, kind, channel), templates.edited_at + self.GRACE,
                            lambda: templates.get(conn, org_id, kind, channel))

    def brand(self, conn: Connection, org_id: int) -> templates.Branding:
        return self._cached(self._brands, org_id, float("-inf"), lambda: brand(conn, org_id))

    def _cached(self, store: dict[Any, tuple[float, T]], key: Any, not_before: float, read: Callable[[], T]) -> T:
        """``store[key]`` if read within ``ttl`` and after ``not_before``, else ``read()`` kept there."""
        now = self._now()
        hit = store.get(key)
        if hit is not None and now - hit[0] < self.ttl and hit[0] > not_before:
            return hit[1]
        value = read()
        store[key] = (now, value)
        return value


#: What the CLI's preview uses: nothing kept (a ttl of 0 never hits).
UNCACHED = Looks(ttl=0.0)


def prepare(conn: Connection, due: outbox.Due, *, pdf: bool = True, looks: Looks = UNCACHED) -> Prepared:
    """Render a due row (on a read thread): the message to send and what the row keeps."""
    m = due.message
    t = looks.template(conn, m.org_id, m.kind, m.channel)
    branding = looks.brand(conn, m.org_id)
    full = {**m.vars, **due.secrets}
    r = templates.render(t, full, branding)
    masked = templates.render(t, templates.redacted(m.kind, full), branding) if kinds.get(m.kind).secrets else r
    shown = (f"Subject: {masked.subject}\n\n" if masked.subject else "") + masked.text
    atts = tuple(_attachment(conn, m.org_id, a) for a in m.attachments) if (pdf and m.channel == EMAIL) else ()
    seg = None if m.channel == EMAIL else segments.segments(r.text).segments
    return Prepared(Outgoing(m.id, m.org_id, m.channel, m.recipient, r.subject, r.text, r.html, atts,
                             from_name=branding.name, kind=m.kind,
                             variables=full if m.channel == WHATSAPP else None), shown, seg)


class ChannelCache:
    """Each org's configured channels, built once and rebuilt when their settings change."""

    def __init__(self, db: Any, box: SecretBox, reactor: Any, http: Any = None, ttl: float = 10.0,
                 timeout: float = 15.0,
                 extra: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None = None):
        self.db = db
        self.box = box
        self.reactor = reactor
        self.http = http
        self.ttl = ttl
        self.timeout = timeout               # HTTP gateways (SMTP has its own per-channel setting)
        self.extra = extra               # e.g. the status callback URL for Twilio
        self._cache: dict[tuple[int, str], tuple[float, Any, Channel | None]] = {}
        self.override: dict[tuple[int, str], Channel] = {}     # tests

    @defer.inlineCallbacks
    def get(self, org_id: int, channel: str):  # type: ignore[no-untyped-def]
        if (org_id, channel) in self.override:
            return self.override[(org_id, channel)]
        now = self.reactor.seconds()
        hit = self._cache.get((org_id, channel))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[2]
        cfg = yield self.db.read(ns.get_channel, self.box, org_id, channel)
        stamp = (cfg.provider, cfg.updated_at, cfg.enabled) if cfg is not None else None
        if hit is not None and hit[1] == stamp:
            self._cache[(org_id, channel)] = (now, stamp, hit[2])
            return hit[2]
        built: Channel | None = None
        if cfg is not None and cfg.enabled:
            spec = providers.spec(channel, cfg.provider)
            settings = dict(cfg.settings)
            if self.extra is not None:
                settings.update(self.extra(channel, cfg.provider, settings))
            built = spec.build(self.reactor, spec.parse(settings, cfg.secrets), self.http, self.timeout)
        self._cache[(org_id, channel)] = (now, stamp, built)
        return built


class MessageSender:
    def __init__(self, db: Any, box: SecretBox, clock: Any, channels: ChannelCache, *,
                 poll_interval: float = 5.0, batch: int = 200, per_channel: int = 8, max_attempts: int = 8,
                 backoff: float = 30.0, backoff_max: float = 3600.0, stats: Any = None, max_rate: float = 0.0):
        self.db = db
        self.box = box
        self.clock = clock
        self.channels = channels
        self.batch = batch
        self.per_channel = per_channel
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.enabled = False                # True once started on the leader (never in a CLI process)
        self.stop_timeout = 30.0            # seconds stop() waits for sends the providers have not answered
        self.timer = Timer(self.pump, poll_interval, clock, "notify sender")
        self.looks = Looks()
        self.in_flight: set[int] = set()
        self._busy: dict[str, int] = {}
        self._waiting: dict[str, list[outbox.Due]] = {}
        self._outcomes: list[outbox.Outcome] = []
        self._flush_call: Any = None
        self._flushing: defer.Deferred[Any] | None = None
        self._sending: set[defer.Deferred[Any]] = set()
        # Pacing (a token bucket over all channels): 10,000 reminders are spread so RADIUS keeps its
        # latency; 0 sends as fast as the per-channel caps allow.
        self._bucket = TokenBucket(clock, max_rate, 0.05)
        self._drain_call: Any = None
        self._more = False                  # the last pump filled its batch: more rows may be due
        from aaad.metrics import Stats
        s = stats if stats is not None else Stats()
        self._results = s.counter("aaad_notify_messages_total",
                                  "Messages finished or retried, by channel and result (sent, retry, failed).",
                                  "result")
        s.gauge("aaad_notify_in_flight", "Messages taken and not yet recorded.", lambda: len(self.in_flight))

    def start(self) -> None:
        self.timer.start()

    @defer.inlineCallbacks
    def stop(self):  # type: ignore[no-untyped-def]
        """Stop taking rows; wait (at most ``stop_timeout``) for the sends in flight to be answered,
        and record their outcomes, so a message a provider took is not sent again after a restart."""
        self.enabled = False
        yield self.timer.stop()
        for waiting in self._waiting.values():          # taken, not yet handed over: they stay pending
            for d in waiting:
                self.in_flight.discard(d.message.id)
            waiting.clear()
        if self._sending:
            done = defer.DeferredList(list(self._sending), consumeErrors=True)
            bound = self.clock.callLater(self.stop_timeout, done.cancel)
            try:
                yield done
            except defer.CancelledError:
                log.warn("{n} message send(s) not answered within {t} s of stopping: they will be sent again "
                         "after the restart", n=len(self._sending), t=self.stop_timeout)
            finally:
                if bound.active():
                    bound.cancel()
        yield self.flush()

    def kick(self) -> None:
        if self.enabled:
            self.timer.kick()

    @defer.inlineCallbacks
    def pump(self):  # type: ignore[no-untyped-def]
        """Take due rows not in flight; each channel at most ``per_channel`` at once."""
        if not self.enabled:
            return 0
        room = self.batch - len(self.in_flight)
        if room <= 0:
            return 0
        rows = yield self.db.read(outbox.due, self.box, utcnow(self.clock), room, frozenset(self.in_flight))
        self._more = len(rows) >= room
        for d in rows:
            self.in_flight.add(d.message.id)
            waiting = self._waiting.setdefault(d.message.channel, [])
            if d.message.urgent:        # a code or a receipt goes before the reminders already waiting
                waiting.insert(sum(1 for w in waiting if w.message.urgent), d)
            else:
                waiting.append(d)
        self._drain()
        return len(rows)

    def _drain(self) -> None:
        if self._drain_call is not None and self._drain_call.active():
            self._drain_call.cancel()
        self._drain_call = None
        for channel, waiting in self._waiting.items():
            while waiting and self._busy.get(channel, 0) < self.per_channel:
                wait = self._bucket.take()
                if wait:
                    self._drain_call = self.clock.callLater(wait, self._drain)
                    return
                d = waiting.pop(0)
                self._busy[channel] = self._busy.get(channel, 0) + 1
                sending = self._send(d)
                self._sending.add(sending)
                sending.addBoth(self._freed, channel, sending)

    def _freed(self, _: Any, channel: str, sending: defer.Deferred[Any]) -> None:
        self._sending.discard(sending)
        self._busy[channel] -= 1
        if self.enabled:
            self._drain()

    @defer.inlineCallbacks
    def _send(self, d: outbox.Due):  # type: ignore[no-untyped-def]
        m = d.message
        try:
            p: Prepared = yield self.db.read(prepare, d, looks=self.looks)
        except Exception as e:  # noqa: BLE001 - a broken template or document fails the message
            log.failure("preparing message {id} ({kind}) failed", id=m.id, kind=m.kind)
            self._done(outbox.Outcome(m.id, False, False, detail=f"could not render: {type(e).__name__}: {e}"))
            return
        try:
            ch = yield self.channels.get(m.org_id, m.channel)
        except Exception as e:  # noqa: BLE001 - settings that no longer parse: retried after a fix
            self._done(outbox.Outcome(m.id, False, True, detail=f"{m.channel} settings: {e}", rendered=p.shown))
            return
        if ch is None:
            self._done(outbox.Outcome(m.id, False, True, detail=f"the org has no enabled {m.channel} channel",
                                      rendered=p.shown))
            return
        fault_point("notify_before_send")
        try:
            sent: Sent = yield ch.send(p.out)
        except SendError as e:
            self._done(outbox.Outcome(m.id, False, e.retryable, detail=e.detail, rendered=p.shown))
            return
        except Exception as e:  # noqa: BLE001 - anything unexpected is retried (bounded)
            self._done(outbox.Outcome(m.id, False, True, detail=f"{type(e).__name__}: {e}", rendered=p.shown))
            return
        self._done(outbox.Outcome(m.id, True, provider_id=sent.provider_id, detail=sent.detail, rendered=p.shown,
                                  segments=p.segments))

    def _done(self, o: outbox.Outcome) -> None:
        self._outcomes.append(o)
        if self._flush_call is None and self._flushing is None:
            self._flush_call = self.clock.callLater(0, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_call = None
        self.flush()

    @defer.inlineCallbacks
    def flush(self):  # type: ignore[no-untyped-def]
        """Commit the outcomes gathered so far; their rows leave the in-flight set after."""
        if self._flushing is not None:
            yield self._flushing
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            self._flushing = self.db.write(outbox.record, batch, utcnow(self.clock), max_attempts=self.max_attempts,
                                           backoff=self.backoff, backoff_max=self.backoff_max)
            try:
                counts = yield self._flushing
            except Exception:  # noqa: BLE001 - the rows stay pending in the table: sent again later
                log.failure("recording {n} message outcome(s) failed; they will be sent again", n=len(batch))
                counts = {}
            finally:
                self._flushing = None
            for o in batch:
                self.in_flight.discard(o.message_id)
            for k, n in counts.items():
                self._results[k] += n
            if self._more and len(self.in_flight) <= self.batch // 2:
                self._more = False
                self.kick()                 # a full batch went out: the next is likely due already
            if counts.get("retry"):
                log.info("{n} message(s) will be retried after a back-off", n=counts["retry"])
