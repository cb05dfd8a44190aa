"""Registers each channel provider with :mod:`billing.notify.providers`."""
from __future__ import annotations

from typing import Any

from billing.notify import email
from billing.notify.providers import Spec, register


def _email(reactor: Any, s: email.SmtpSettings, http: Any) -> email.EmailChannel:
    return email.EmailChannel(reactor, s)


register(Spec("email", "smtp", email.SECRET_FIELDS, email.parse_settings, email.public_settings, _email))
