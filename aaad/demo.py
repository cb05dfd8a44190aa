"""Demo data: an org, a NAS on 127.0.0.1, profiles and users (idempotent)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from aaad import nas, orgs, trial
from aaad.crypto import SecretBox
from aaad.view import store
from aaad.view.write import LoginWriter

DEMO_SECRET = "testing123"

PROFILES: list[tuple[str, dict[str, Any]]] = [
    ("home-10M", dict(rate_limit="10M/10M", interim_interval=300, pool="pppoe-pool",
                      fup_rate_limit="1M/1M")),
    ("home-50M", dict(rate_limit="50M/50M", interim_interval=300, pool="pppoe-pool",
                      address_list="premium", fup_tiers=[(200 * 10**9, "10M/10M"), (400 * 10**9, "2M/2M")],
                      free_hours="00:00-06:00")),
    ("hotspot-1h", dict(rate_limit="2M/2M", session_timeout=3600, interim_interval=60,
                        address_list="hotspot-users", block_when_exhausted=True)),
]

USERS: list[tuple[str, str, str | None, dict[str, Any]]] = [
    ("alice", "alice-pass", "home-10M", {}),
    ("bob", "bob-pass", "home-50M", {"framed_ip": "10.10.0.20", "simultaneous_use": 1}),
    ("carol", "carol-pass", "hotspot-1h", {"validity_seconds": 3600}),
    ("dave", "dave-pass", "home-10M", {"state": "disabled"}),
    ("erin", "erin-pass", "home-10M", {"state": "suspended", "suspend_mode": "walled_garden"}),
    ("frank", "frank-pass", "home-10M", {"state": "suspended", "suspend_mode": "reject"}),
    ("grace", "grace-pass", "hotspot-1h", {"data_cap": 100 * 1024 * 1024}),
]


def seed(engine: Engine, box: SecretBox, now: datetime) -> Iterator[str]:
    w = LoginWriter(box)
    with engine.begin() as conn:
        org = orgs.get_by_slug(conn, "demo")
        if org is None:
            org = orgs.add(conn, "demo", "Demo ISP", now, "UTC", "USD")
            yield f"org demo (id {org.id}) added"
        if not any(n.name == "loopback" for n in nas.list_all(conn, box, org.id)):
            try:
                nas.add(conn, box, org.id, "loopback", "127.0.0.1", DEMO_SECRET, now)
                yield f"NAS loopback 127.0.0.1 added, secret {DEMO_SECRET}"
            except orgs.ValidationError as e:
                yield f"NAS loopback not added: {e}"
        pids = {}
        for name, values in PROFILES:
            p = store.profile_by_name(conn, org.id, name)
            if p is None:
                p = w.create_profile(conn, org.id, name, now, **values)
                yield f"profile {name} added"
            pids[name] = p.id
        for username, password, profile, extra in USERS:
            if store.login_by_name(conn, box, org.id, username) is None:
                fields = dict(extra)
                if profile:
                    fields["profile_id"] = pids[profile]
                w.create(conn, org.id, username, password, now, **fields)
                yield f"user {username} / {password} added ({extra.get('state', 'active')})"
        if store.login_by_name(conn, box, org.id, "henry") is None:
            w.create(conn, org.id, "henry", "henry-pass", now,
                             profile_id=pids["home-10M"], expires_at=now - timedelta(days=1))
            yield "user henry / henry-pass added (expired yesterday)"
        if trial.get_trial(conn, box, org.id) is None:
            trial.set_trial(conn, w, org.id, 15, pids["hotspot-1h"], now)
            yield "free trial: 15 minutes per device per day at hotspot-1h (log in as T-<MAC>)"
