"""The notify machinery in process: an org (Accra, GHS) with customers, a fake channel
provider registered for email, SMS and WhatsApp, the notify subscriber driven by
hand and the sender on a fake clock over SyncDB."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, task

from aaad import events
from billing import customers as cust
from billing.notify import outbox, providers
from billing.notify import settings as ns
from billing.notify.channels import CHANNELS, Outgoing, Sent
from billing.notify.schema import messages as msg_t
from billing.notify.sender import ChannelCache, MessageSender
from billing.notify.subscribers import Subscribers
from tests.billing import fixtures_c
from tests.helpers import SyncDB


@dataclass
class FakeChannel:
    """Records what it is given; fails as told (a SendError, or an exception)."""
    name: str
    sent: list[Outgoing] = field(default_factory=list)
    fail: list[BaseException] = field(default_factory=list)     # raised in order, then success
    hold: bool = False                                         # leave the Deferred unfired
    pending: list[defer.Deferred[Sent]] = field(default_factory=list)

    def send(self, msg: Outgoing) -> defer.Deferred[Sent]:
        if self.fail:
            return defer.fail(self.fail.pop(0))
        self.sent.append(msg)
        if self.hold:
            d: defer.Deferred[Sent] = defer.Deferred()
            self.pending.append(d)
            return d
        return defer.succeed(Sent(f"{self.name}-{msg.message_id}", "250 ok"))


BUILT: dict[str, FakeChannel] = {}


def _builder(ch: str) -> Any:
    def build(reactor: Any, s: Any, http: Any, timeout: float) -> FakeChannel:
        return BUILT[ch]
    return build


def _register() -> None:
    for ch in CHANNELS:
        providers.register(providers.Spec(ch, "fake", ("token",), lambda s, sec: dict(s), lambda s: dict(s),
                                          _builder(ch)))


_register()


@dataclass
class Notify:
    w: fixtures_c.World
    db: SyncDB
    clock: task.Clock
    subs: Subscribers
    sender: MessageSender
    channels: dict[str, FakeChannel]

    @property
    def org_id(self) -> int:
        return self.w.org_id

    def set_time(self, t: datetime) -> None:
        self.clock.advance(t.timestamp() - self.clock.seconds())

    def deliver(self) -> events.PassResult:
        """Deliver every published event to the notify subscriber (as the dispatcher would)."""
        handlers: dict[str, Any] = dict(self.subs.handlers())
        with self.w.engine.begin() as c:
            events.register_subscribers(c, {"notify": list(handlers)}, self.now)
        total = events.PassResult()
        while True:
            with self.w.engine.begin() as c:
                r = events.deliver_pass(c, "notify", handlers, self.now, events.RetryPolicy(), 500)
            total.delivered += r.delivered
            assert not r.errors, r.errors
            if not r.more:
                return total

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def messages(self, **where: Any) -> list[outbox.Message]:
        with self.w.engine.connect() as c:
            q = sa.select(msg_t.c.id).where(msg_t.c.org_id == self.org_id,
                                            *[getattr(msg_t.c, k) == v for k, v in where.items()])
            return [outbox.require(c, self.org_id, r.id) for r in c.execute(q.order_by(msg_t.c.id))]

    def raw(self, message_id: int) -> Any:
        with self.w.engine.connect() as c:
            return c.execute(sa.select(msg_t).where(msg_t.c.id == message_id)).first()

    def pump(self) -> None:
        """Send what is due now and commit the outcomes."""
        self.sender.pump()
        self.clock.advance(0)
        self.sender.flush()

    def contact(self, customer_id: int, email: str | None = None, phone: str | None = None) -> None:
        self.w.tx(cust.update, self.org_id, customer_id, fixtures_c.T0, email=email, phone=phone)


def make(engine: Any, channels: tuple[str, ...] = ("email", "sms"), start: datetime = fixtures_c.T0,
         **sender_kw: Any) -> Notify:
    w = fixtures_c.make_world(engine)
    clock = task.Clock()
    clock.advance(start.timestamp())
    db = SyncDB(engine)
    BUILT.clear()
    fakes = {ch: FakeChannel(ch) for ch in CHANNELS}
    BUILT.update(fakes)
    for ch in channels:
        w.tx(ns.set_channel, w.box, w.org_id, ch, start, provider="fake", settings={"x": 1},
             secrets={"token": "t0p"})
    cache = ChannelCache(db, w.box, clock)
    sender = MessageSender(db, w.box, clock, cache, **({"backoff": 30.0, "max_attempts": 3} | sender_kw))
    sender.enabled = True                    # as on the leader, started
    return Notify(w, db, clock, Subscribers(w.box, lambda: "https://isp.example"), sender, fakes)
