"""The free trial (aaad.trial): the org's setting, once per device per local day on
SQLite and PostgreSQL (concurrent claims: one day), and the auth listener's rules."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twisted.internet import defer

from aaad import orgs, trial
from aaad.changes import Change
from aaad.orgs import ValidationError
from aaad.radius import codec
from aaad.view.model import Login
from aaad.view.write import LoginWriter
from tests.radius.test_server import NAS_ADDR, SECRET, make, request, text

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)   # 11:00 in Lagos (UTC+1)
MAC = "AA:BB:CC:DD:EE:01"


@pytest.fixture
def w(box: Any) -> LoginWriter:
    return LoginWriter(box)


@pytest.fixture
def org(engine: Any, w: LoginWriter) -> tuple[int, int]:
    with engine.begin() as c:
        o = orgs.add(c, "cafe", "Cafe", T0, "Africa/Lagos")
        p = w.create_profile(c, o.id, "trial-1M", T0, rate_limit="1M/1M")
    return o.id, p.id


def test_setting_on_change_and_off(engine: Any, w: LoginWriter, box: Any, org: tuple[int, int]) -> None:
    """set_trial makes the template, changes it in place, trial_off removes it."""
    oid, pid = org
    with engine.begin() as c:
        a = trial.set_trial(c, w, oid, 30, pid, T0)
        b = trial.set_trial(c, w, oid, 45, None, T0)
        assert (a.id, a.time_limit, a.profile_id) == (b.id, 30 * 60, pid)
        assert (b.time_limit, b.profile_id, b.owner) == (45 * 60, None, ("trial", oid))
        assert trial.get_trial(c, box, oid) is not None
        assert trial.trial_off(c, w, oid, T0)
        assert trial.get_trial(c, box, oid) is None
        assert not trial.trial_off(c, w, oid, T0)
    with pytest.raises(ValidationError) as e, engine.begin() as c:
        trial.set_trial(c, w, oid, 0, None, T0)
    assert e.value.field == "minutes"


def test_an_operators_login_named_like_the_template_is_refused(engine: Any, w: LoginWriter,
                                                               org: tuple[int, int]) -> None:
    """A login 'T-' of the operator's is never taken over."""
    oid, _ = org
    with engine.begin() as c:
        w.create(c, oid, trial.TEMPLATE, "pw", T0)
    with pytest.raises(ValidationError), engine.begin() as c:
        trial.set_trial(c, w, oid, 30, None, T0)


def test_one_trial_per_device_per_local_day(engine: Any, org: tuple[int, int]) -> None:
    """The day's first claim starts it; later claims that day read it back; the org's local
    midnight (23:00 UTC in Lagos) starts a new day."""
    oid, _ = org
    with engine.begin() as c:
        first = trial.claim(c, oid, MAC, T0)
        again = trial.claim(c, oid, MAC, T0 + timedelta(hours=5))
        other = trial.claim(c, oid, "AA:BB:CC:DD:EE:02", T0 + timedelta(hours=1))
        tomorrow = trial.claim(c, oid, MAC, datetime(2026, 11, 30, 23, 0, tzinfo=UTC))
        live = trial.current(c, T0 + timedelta(hours=6))
    assert again == first and first.started == T0.timestamp()
    assert first.resets == datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()
    assert other.started == (T0 + timedelta(hours=1)).timestamp()
    assert tomorrow.started > first.resets - 1 and tomorrow.resets == first.resets + 86400
    assert len(live) == 3
    with engine.begin() as c:
        assert trial.prune(c, datetime(2026, 12, 1, tzinfo=UTC)) == 2


def test_concurrent_claims_start_one_trial(engine: Any, org: tuple[int, int]) -> None:
    """Six connections claim one device's day at once: all read the same start."""
    oid, _ = org
    gate = threading.Barrier(6)
    got: list[trial.TrialUse] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            gate.wait()
            with engine.begin() as c:
                got.append(trial.claim(c, oid, MAC, T0 + timedelta(seconds=i)))
        except BaseException as e:  # pragma: no cover
            errors.append(e)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert len(got) == 6 and len({u.started for u in got}) == 1


# -- at the auth listener -----------------------------------------------------------------

def trial_req(name: str, calling: str | None, ident: int = 1) -> bytes:
    attrs: list[tuple[str, Any]] = [("User-Name", name)]
    if calling:
        attrs.append(("Calling-Station-Id", calling))
    return request(attrs, pap=name.encode(), ident=ident)


def reply_to(tr: Any, r: bytes) -> codec.Packet:
    for data, _ in tr.sent:
        p = codec.decode(data)
        if p.ident == r[1]:
            assert codec.verify_response_authenticator(p, SECRET, r[4:20])
            return p
    raise AssertionError("no reply")


def listener(minutes: int = 30) -> tuple[Any, Any, Any, list[tuple[str, defer.Deferred]]]:
    proto, tr, clock, _, view = make()
    tpl = Login(90, 1, trial.TEMPLATE, b"secret-template-pw", profile_id=1, owner_type="trial", owner_id=1,
                time_limit=minutes * 60)
    view.apply_local([(Change(500, 1, "login", 90, "upsert"), tpl)])
    claims: list[tuple[str, defer.Deferred]] = []

    def claim(org_id: int, mac: str, now: float) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        claims.append((mac, d))
        return d
    proto.trial_claim = claim
    return proto, tr, clock, claims


def test_first_trial_of_the_day_is_claimed_then_counts_down() -> None:
    """T-<MAC> from that MAC: claimed, accepted with the minutes (capped by the profile's
    2 h Session-Timeout is not hit); later that day what is left; then refused."""
    proto, tr, clock, claims = listener(30)
    name = "T-" + MAC.lower().replace(":", "-")
    r = trial_req(name, MAC)
    proto.datagramReceived(r, NAS_ADDR)
    assert tr.sent == [] and [m for m, _ in claims] == [MAC]
    now = clock.seconds()
    claims[0][1].callback(trial.TrialUse(1, MAC, now, now + 3600 * 10))
    p = reply_to(tr, r)
    assert p.code == 2 and text(p, "Session-Timeout") == 1800 and text(p, "Mikrotik-Rate-Limit") == "10M/10M"
    clock.advance(600)
    r2 = trial_req(name, MAC, ident=2)
    proto.datagramReceived(r2, NAS_ADDR)
    assert len(claims) == 1 and text(reply_to(tr, r2), "Session-Timeout") == 1200
    clock.advance(1200)
    r3 = trial_req(name, MAC, ident=3)
    proto.datagramReceived(r3, NAS_ADDR)
    p3 = reply_to(tr, r3)
    assert (p3.code, text(p3, "Reply-Message")) == (3, trial.USED)


def test_a_day_started_elsewhere_counts_from_its_start() -> None:
    """The claim returns a trial another instance started 25 minutes ago: 5 minutes left."""
    proto, tr, clock, claims = listener(30)
    r = trial_req("T-AABBCCDDEE01", MAC)
    proto.datagramReceived(r, NAS_ADDR)
    now = clock.seconds()
    claims[0][1].callback(trial.TrialUse(1, MAC, now - 1500, now + 3600))
    assert text(reply_to(tr, r), "Session-Timeout") == 300


@pytest.mark.parametrize("name, calling", [("T-AABBCCDDEE01", "AA:BB:CC:DD:EE:02"),   # another device's name
                                           ("T-AABBCCDDEE01", None),                  # no Calling-Station-Id
                                           ("T-not-a-mac", MAC)])
def test_a_trial_name_must_be_the_callers_own_mac(name: str, calling: str | None) -> None:
    """Anything but T-<the caller's MAC> is an unknown user; nothing is claimed."""
    proto, tr, _, claims = listener()
    r = trial_req(name, calling)
    proto.datagramReceived(r, NAS_ADDR)
    p = reply_to(tr, r)
    assert p.code == 3 and not claims


def test_no_trial_in_the_org_means_unknown_user() -> None:
    """Without a template the T- name is just an unknown user."""
    proto, tr, _, _, view = make()
    r = trial_req("T-AABBCCDDEE01", MAC)
    proto.datagramReceived(r, NAS_ADDR)
    assert text(reply_to(tr, r), "Reply-Message") == "unknown user"


def test_the_template_itself_never_authenticates_by_its_name() -> None:
    """'T-' with a guessed password is rejected (its password is random)."""
    proto, tr, _, _ = listener()
    r = request([("User-Name", "T-")], pap=b"T-")
    proto.datagramReceived(r, NAS_ADDR)
    assert reply_to(tr, r).code == 3

