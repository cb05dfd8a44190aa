"""An org's notification settings: admin contacts, quiet hours and the reminder time
(``notify_settings``); its channels, each a provider with settings and encrypted
secrets (``notify_channels``); which channels each kind goes out on
(``notify_routes``); and customers' opt-outs of optional messages."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aaad.crypto import SecretBox
from aaad.errors import NotFound, ValidationError
from billing import customers as cust
from billing import settings as billing_settings
from billing.notify import kinds, providers
from billing.notify.channels import CHANNELS
from billing.notify.schema import channels as ch_t
from billing.notify.schema import optouts as opt_t
from billing.notify.schema import routes as route_t
from billing.notify.schema import settings as set_t

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


@dataclass(frozen=True)
class NotifySettings:
    org_id: int
    admin_email: str | None = None
    admin_phone: str | None = None
    quiet_start: str | None = None      # local "21:00"
    quiet_end: str | None = None        # local "07:00"
    reminders_at: str = "09:00"
    sms_balance_threshold: float | None = None


EDITABLE = tuple(f.name for f in fields(NotifySettings) if f.name != "org_id")


def get(conn: Connection, org_id: int) -> NotifySettings:
    r = conn.execute(sa.select(set_t).where(set_t.c.org_id == org_id)).first()
    if r is None:
        return NotifySettings(org_id)
    return NotifySettings(org_id, r.admin_email, r.admin_phone, r.quiet_start, r.quiet_end, r.reminders_at,
                          r.sms_balance_threshold)


def update(conn: Connection, org_id: int, now: datetime, **values: Any) -> NotifySettings:
    """Change some settings (None clears an optional one); ValidationError naming the field."""
    for k in values:
        if k not in EDITABLE:
            raise ValidationError(k, f"unknown setting (one of {', '.join(EDITABLE)})")
    v = dict(values)
    if v.get("admin_email"):
        try:
            v["admin_email"] = cust.normalise_email(v["admin_email"])
        except ValidationError as e:
            raise ValidationError("admin_email", e.message) from None
    if v.get("admin_phone"):
        country = billing_settings.get(conn, org_id).country
        try:
            v["admin_phone"] = cust.normalise_phone(v["admin_phone"], country)
        except ValidationError as e:
            raise ValidationError("admin_phone", e.message) from None
    for k in ("quiet_start", "quiet_end", "reminders_at"):
        if v.get(k) is not None and not _HHMM.fullmatch(str(v[k])):
            raise ValidationError(k, f"{v[k]!r} is not a local time HH:MM (e.g. 21:00)")
    if "reminders_at" in v and v["reminders_at"] is None:
        raise ValidationError("reminders_at", "required (a local time HH:MM)")
    if v.get("sms_balance_threshold") is not None and float(v["sms_balance_threshold"]) < 0:
        raise ValidationError("sms_balance_threshold", "must be 0 or more")
    merged = {**get(conn, org_id).__dict__, **v}
    if (merged["quiet_start"] is None) != (merged["quiet_end"] is None):
        field = "quiet_end" if merged["quiet_end"] is None else "quiet_start"
        raise ValidationError(field, "quiet hours need both a start and an end")
    if merged["quiet_start"] is not None and merged["quiet_start"] == merged["quiet_end"]:
        raise ValidationError("quiet_end", "must differ from quiet_start")
    row = {k: merged[k] for k in EDITABLE} | {"updated_at": now}
    if conn.execute(set_t.update().where(set_t.c.org_id == org_id).values(**row)).rowcount == 0:
        conn.execute(set_t.insert().values(org_id=org_id, **row))
    return get(conn, org_id)


def quiet_until(s: NotifySettings, tz: str, now: datetime) -> datetime | None:
    """The end of the quiet hours ``now`` falls in (UTC), or None outside them."""
    if not s.quiet_start or not s.quiet_end:
        return None
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    start, end = time.fromisoformat(s.quiet_start), time.fromisoformat(s.quiet_end)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        end_day = local.date()
    else:                                   # across midnight: 21:00 - 07:00
        inside = t >= start or t < end
        end_day = local.date() + timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end, zone).astimezone(now.tzinfo)


# -- channels ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelConfig:
    org_id: int
    channel: str
    provider: str
    enabled: bool
    settings: dict[str, Any]
    secrets: dict[str, str]
    updated_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """Settings without secrets, with ``has_<secret>`` for each secret field."""
        spec = providers.spec(self.channel, self.provider)
        return {**self.settings, **{f"has_{k}": bool(self.secrets.get(k)) for k in spec.secret_fields}}


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValidationError("channel", f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")


def get_channel(conn: Connection, box: SecretBox, org_id: int, channel: str) -> ChannelConfig | None:
    _check_channel(channel)
    r = conn.execute(sa.select(ch_t).where(ch_t.c.org_id == org_id, ch_t.c.channel == channel)).first()
    if r is None:
        return None
    secrets = json.loads(box.decrypt(r.secrets_enc)) if r.secrets_enc else {}
    return ChannelConfig(org_id, r.channel, r.provider, bool(r.enabled), json.loads(r.settings), secrets,
                         r.updated_at)


def list_channels(conn: Connection, box: SecretBox, org_id: int) -> list[ChannelConfig]:
    out = []
    for c in CHANNELS:
        cfg = get_channel(conn, box, org_id, c)
        if cfg is not None:
            out.append(cfg)
    return out


def enabled_channels(conn: Connection, org_id: int) -> set[str]:
    return {r[0] for r in conn.execute(sa.select(ch_t.c.channel).where(ch_t.c.org_id == org_id,
                                                                       ch_t.c.enabled.is_(True)))}


def set_channel(conn: Connection, box: SecretBox, org_id: int, channel: str, now: datetime, *, provider: str,
                settings: dict[str, Any], secrets: Mapping[str, str | None] | None = None,
                enabled: bool = True) -> ChannelConfig:
    """Configure a channel.  Secrets are write-only: a secret left out keeps its stored
    value, one given as "" or None is removed.  The provider's parser checks the whole
    (ValidationError naming the field) before anything is stored."""
    _check_channel(channel)
    spec = providers.spec(channel, provider)
    old = get_channel(conn, box, org_id, channel)
    kept = dict(old.secrets) if old is not None and old.provider == provider else {}
    for k, val in (secrets or {}).items():
        if k not in spec.secret_fields:
            raise ValidationError(f"secrets.{k}", f"not a secret of {provider} (those are: "
                                                  f"{', '.join(spec.secret_fields) or 'none'})")
        if val:
            kept[k] = val
        else:
            kept.pop(k, None)
    for k in settings:
        if k in spec.secret_fields:
            raise ValidationError(k, "a secret: give it under secrets")
    clean = spec.check(settings, kept)
    row = {"provider": provider, "enabled": enabled, "settings": json.dumps(clean, sort_keys=True),
           "secrets_enc": box.encrypt(json.dumps(kept)) if kept else None, "updated_at": now}
    if conn.execute(ch_t.update().where(ch_t.c.org_id == org_id, ch_t.c.channel == channel)
                    .values(**row)).rowcount == 0:
        conn.execute(ch_t.insert().values(org_id=org_id, channel=channel, **row))
    cfg = get_channel(conn, box, org_id, channel)
    assert cfg is not None
    return cfg


def remove_channel(conn: Connection, org_id: int, channel: str) -> None:
    _check_channel(channel)
    if conn.execute(ch_t.delete().where(ch_t.c.org_id == org_id, ch_t.c.channel == channel)).rowcount == 0:
        raise NotFound("channel", channel)


# -- routes --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    kind: str
    channels: tuple[str, ...]
    custom: bool


def routes(conn: Connection, org_id: int) -> dict[str, Route]:
    own = {r.kind: tuple(json.loads(r.channels))
           for r in conn.execute(sa.select(route_t).where(route_t.c.org_id == org_id))}
    return {k.name: Route(k.name, own.get(k.name, k.channels), k.name in own) for k in kinds.KINDS.values()}


def set_route(conn: Connection, org_id: int, kind: str, chans: list[str] | None, now: datetime) -> Route:
    """The channels ``kind`` goes out on ([] = none; None = back to the default)."""
    if kind not in kinds.KINDS:
        raise NotFound("message kind", kind)
    conn.execute(route_t.delete().where(route_t.c.org_id == org_id, route_t.c.kind == kind))
    if chans is not None:
        for c in chans:
            if c not in CHANNELS:
                raise ValidationError("channels", f"unknown channel {c!r}: one of {', '.join(CHANNELS)}")
        ordered = [c for c in CHANNELS if c in chans]
        conn.execute(route_t.insert().values(org_id=org_id, kind=kind, channels=json.dumps(ordered),
                                             updated_at=now))
    return routes(conn, org_id)[kind]


# -- opt-outs ------------------------------------------------------------------------------

def set_opt_out(conn: Connection, org_id: int, customer_id: int, opted_out: bool, now: datetime) -> None:
    """A customer opts out of (or back into) optional, marketing-type messages."""
    if cust.get(conn, org_id, customer_id) is None:
        raise NotFound("customer", customer_id)
    conn.execute(opt_t.delete().where(opt_t.c.org_id == org_id, opt_t.c.customer_id == customer_id))
    if opted_out:
        conn.execute(opt_t.insert().values(org_id=org_id, customer_id=customer_id, at=now))


def opted_out(conn: Connection, org_id: int, customer_ids: list[int]) -> set[int]:
    out: set[int] = set()
    for i in range(0, len(customer_ids), 500):
        out |= {r[0] for r in conn.execute(sa.select(opt_t.c.customer_id).where(
            opt_t.c.org_id == org_id, opt_t.c.customer_id.in_(customer_ids[i:i + 500])))}
    return out
