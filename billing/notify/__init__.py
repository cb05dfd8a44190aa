"""Notifications: the message outbox, its channels (email, SMS, WhatsApp), templates,
the event messages, reminder rules and one-time codes (issue 12).  See
:mod:`billing.notify.outbox` for the exactly-once rules."""
