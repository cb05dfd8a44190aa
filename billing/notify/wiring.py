"""Registers each channel provider with :mod:`billing.notify.providers`."""
from __future__ import annotations

from typing import Any

from billing.notify import email, files, sms
from billing.notify.providers import Spec, register


def _email(reactor: Any, s: email.SmtpSettings, http: Any, timeout: float) -> email.EmailChannel:
    return email.EmailChannel(reactor, s)


register(Spec("email", "smtp", email.SECRET_FIELDS, email.parse_settings, email.public_settings, _email))


_SmsChannel = sms.GenericSmsChannel | sms.TwilioSmsChannel | sms.TwilioWhatsAppChannel


def _sms(reactor: Any, s: sms.GenericSettings | sms.TwilioSettings, http: Any, timeout: float) -> _SmsChannel:
    return sms.build_channel("sms", s, http=http, reactor=reactor, timeout=timeout)


def _whatsapp(reactor: Any, s: sms.TwilioSettings, http: Any, timeout: float) -> _SmsChannel:
    return sms.build_channel("whatsapp", s, http=http, reactor=reactor, timeout=timeout)


register(Spec("sms", "generic", sms.SECRET_FIELDS, sms.parse_generic, sms.public_settings, _sms))
register(Spec("sms", "twilio", sms.TWILIO_SECRET_FIELDS, sms.parse_twilio, sms.public_settings, _sms))
register(Spec("whatsapp", "twilio", sms.TWILIO_SECRET_FIELDS, sms.parse_twilio, sms.public_settings, _whatsapp))


def _file(channel: str) -> Any:
    def build(reactor: Any, s: files.FileSettings, http: Any, timeout: float) -> files.FileChannel:
        return files.FileChannel(channel, s, reactor)
    return build


for _channel in ("email", "sms", "whatsapp"):
    register(Spec(_channel, "file", files.SECRET_FIELDS, files.parse_settings, files.public_settings,
                  _file(_channel)))
