"""The providers each channel can use, and how to check their settings and build them.

``email``: ``smtp``; ``sms``: ``generic`` (an operator's local HTTP gateway) or
``twilio``; ``whatsapp``: ``twilio``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aaad.errors import ValidationError
from billing.notify.channels import CHANNELS, Channel


@dataclass(frozen=True)
class Spec:
    channel: str
    provider: str
    secret_fields: tuple[str, ...]
    parse: Callable[[dict[str, Any], dict[str, str]], Any]       # -> the provider's settings object
    public: Callable[[Any], dict[str, Any]]                      # settings object -> storable dict (no secrets)
    build: Callable[[Any, Any, Any, float], Channel]   # (reactor, settings object, http, timeout) -> Channel

    def check(self, settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
        """Parse (ValidationError naming the field); the settings as stored."""
        return {k: v for k, v in self.public(self.parse(settings, secrets)).items() if not k.startswith("has_")}


_SPECS: dict[tuple[str, str], Spec] = {}


def register(spec: Spec) -> None:
    _SPECS[(spec.channel, spec.provider)] = spec


def spec(channel: str, provider: str) -> Spec:
    _load()
    s = _SPECS.get((channel, provider))
    if s is None:
        if channel not in CHANNELS:
            raise ValidationError("channel", f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
        known = sorted(p for c, p in _SPECS if c == channel)
        raise ValidationError("provider", f"{channel} has no provider {provider!r} (one of {', '.join(known)})")
    return s


_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from billing.notify import wiring  # noqa: F401 - registers the providers
