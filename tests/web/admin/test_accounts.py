"""Admin accounts on both databases: adding, finding, roles, passwords, TOTP enrolment and codes that are
never accepted twice, recovery codes, disabling, org isolation, the sign-in throttle."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa

from aaad import orgs
from aaad.errors import NotFound, ValidationError
from web.admin import accounts, sessions
from web.portal import accounts as portal_accounts
from web.schema import admin_accounts

NOW = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)
PW = "a long password"
POLICY = sessions.Policy(timedelta(minutes=30), timedelta(hours=12))


@pytest.fixture
def two(engine: Any) -> tuple[int, int]:
    with engine.begin() as c:
        return orgs.add(c, "alpha", "Alpha", NOW).id, orgs.add(c, "beta", "Beta", NOW).id


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def test_add_find_case_insensitive_and_unique_per_org(engine: Any, two: tuple[int, int]) -> None:
    """An address is stored lower-cased, found in any case, unique per org but free in another org."""
    a, b = two
    with engine.begin() as c:
        acc = accounts.add(c, a, "  Owner@Alpha.Example ", "Olu", "owner", PW, NOW)
        assert acc.email == "owner@alpha.example" and acc.role == "owner" and not acc.totp_enabled
        assert accounts.find(c, a, "OWNER@alpha.example") == acc
        with pytest.raises(ValidationError) as e:
            accounts.add(c, a, "owner@ALPHA.example", "", "admin", PW, NOW)
        assert e.value.field == "email"
        other = accounts.add(c, b, "owner@alpha.example", "", "cashier", PW, NOW)
        assert other.org_id == b and other.name == "owner"
        platform = accounts.add(c, None, "root@aaad.example", "Root", "owner", PW, NOW)
        assert platform.org_id is None and accounts.find(c, None, "root@aaad.example") == platform


def test_add_validates_fields(engine: Any, two: tuple[int, int]) -> None:
    """A bad address, an unknown role and a short password are each refused naming the field."""
    with engine.begin() as c:
        for args, fld in ((("not-an-address", "owner", PW), "email"), (("x@a.example", "boss", PW), "role"),
                          (("x@a.example", "owner", "short"), "password")):
            with pytest.raises(ValidationError) as e:
                accounts.add(c, two[0], args[0], "", args[1], args[2], NOW)
            assert e.value.field == fld


def test_org_isolation(engine: Any, two: tuple[int, int]) -> None:
    """Org B's account is not found, changed, disabled or reset from org A."""
    a, b = two
    with engine.begin() as c:
        theirs = accounts.add(c, b, "b@beta.example", "", "admin", PW, NOW)
        assert accounts.get(c, a, theirs.id) is None and accounts.get(c, None, theirs.id) is None
        for fn, args in ((accounts.set_role, ("cashier",)), (accounts.disable, (NOW,)),
                         (accounts.reset_totp, ()), (accounts.set_password, ("another password",))):
            with pytest.raises(NotFound):
                fn(c, a, theirs.id, *args)
        assert [x.id for x in accounts.page(c, a).items] == []
        assert [x.id for x in accounts.page(c, b).items] == [theirs.id]
        assert accounts.get(c, b, theirs.id) == theirs


def test_check_password(engine: Any, two: tuple[int, int]) -> None:
    """The right password finds the account in its org; a wrong one, an unknown address and a disabled
    account find nothing."""
    a, b = two
    with engine.begin() as c:
        acc = accounts.add(c, a, "ann@alpha.example", "", "owner", PW, NOW)
        accounts.add(c, a, "second@alpha.example", "", "owner", PW, NOW)
        same = accounts.add(c, b, "ann@alpha.example", "", "support", "the beta password", NOW)
        assert accounts.check_password(c, "ANN@alpha.example", PW) == acc
        assert accounts.check_password(c, "ann@alpha.example", "the beta password") == same
        assert accounts.check_password(c, "ann@alpha.example", "wrong password") is None
        assert accounts.check_password(c, "nobody@alpha.example", PW) is None
        accounts.disable(c, a, acc.id, NOW)
        assert accounts.check_password(c, "ann@alpha.example", PW) is None


def test_last_owner_is_kept(engine: Any, two: tuple[int, int]) -> None:
    """The org's last active owner can be neither demoted nor disabled; with a second owner both work."""
    with engine.begin() as c:
        o = accounts.add(c, two[0], "o@alpha.example", "", "owner", PW, NOW)
        for fn, args in ((accounts.set_role, ("admin",)), (accounts.disable, (NOW,))):
            with pytest.raises(ValidationError):
                fn(c, two[0], o.id, *args)
        accounts.add(c, two[0], "p@alpha.example", "", "owner", PW, NOW)
        assert accounts.set_role(c, two[0], o.id, "cashier").role == "cashier"


def test_disable_and_new_password_end_sessions(engine: Any, two: tuple[int, int]) -> None:
    """A disabled account's session is no longer found; a new password ends the sessions too."""
    with engine.begin() as c:
        accounts.add(c, two[0], "keep@alpha.example", "", "owner", PW, NOW)
        acc = accounts.add(c, two[0], "x@alpha.example", "", "admin", PW, NOW)
        s1 = sessions.start(c, two[0], acc.id, True, NOW, POLICY)
        accounts.set_password(c, two[0], acc.id, "the new password")
        assert sessions.find(c, s1.secret, NOW, POLICY) is None
        assert accounts.check_password(c, "x@alpha.example", "the new password") == acc
        s2 = sessions.start(c, two[0], acc.id, True, NOW, POLICY)
        assert sessions.find(c, s2.secret, NOW, POLICY) is not None
        accounts.disable(c, two[0], acc.id, NOW)
        assert sessions.find(c, s2.secret, NOW, POLICY) is None


def test_totp_enrolment_and_codes_never_reused(engine: Any, box: Any, two: tuple[int, int]) -> None:
    """Enrolment: a wrong code is refused, the right one turns TOTP on and gives ten recovery codes; the
    secret is stored encrypted; a code is accepted once, never again in its window, nor an earlier one."""
    with engine.begin() as c:
        acc = accounts.add(c, two[0], "t@alpha.example", "", "owner", PW, NOW)
        secret, uri = accounts.begin_totp(c, box, two[0], acc.id)
        assert uri.startswith("otpauth://totp/") and secret in uri and "issuer=aaad" in uri
        stored = c.execute(sa.select(admin_accounts.c.totp_secret).where(admin_accounts.c.id == acc.id)).scalar_one()
        assert secret.encode() not in stored
        assert accounts.pending_totp(c, box, two[0], acc.id) == (secret, uri)
        with pytest.raises(ValidationError) as e:
            accounts.confirm_totp(c, box, two[0], acc.id, "000000" if code_at(secret, NOW) != "000000" else "111111",
                                  NOW)
        assert e.value.field == "code"
        codes = accounts.confirm_totp(c, box, two[0], acc.id, code_at(secret, NOW), NOW)
        assert len(codes) == 10 and len(set(codes)) == 10
        assert accounts.get(c, two[0], acc.id).totp_enabled  # type: ignore[union-attr]
        # the enrolment's code is used up: not accepted again for sign-in
        assert not accounts.verify_totp(c, box, acc.id, code_at(secret, NOW), NOW)
        later = NOW + timedelta(seconds=30)
        assert accounts.verify_totp(c, box, acc.id, code_at(secret, later), later)
        assert not accounts.verify_totp(c, box, acc.id, code_at(secret, later), later + timedelta(seconds=5))
        # a code of the previous step is in the window but older than the last used: refused
        assert not accounts.verify_totp(c, box, acc.id, code_at(secret, NOW), later)
        much_later = NOW + timedelta(minutes=5)
        assert accounts.verify_totp(c, box, acc.id, code_at(secret, much_later), much_later + timedelta(seconds=20))
        assert not accounts.verify_totp(c, box, acc.id, "12345", much_later)
        with pytest.raises(ValidationError):
            accounts.begin_totp(c, box, two[0], acc.id)


def test_recovery_codes_work_once(engine: Any, box: Any, two: tuple[int, int]) -> None:
    """A recovery code works once (in any case, spaces around it); an unknown one never; a reset voids them
    and turns TOTP off."""
    with engine.begin() as c:
        acc = accounts.add(c, two[0], "r@alpha.example", "", "owner", PW, NOW)
        secret, _ = accounts.begin_totp(c, box, two[0], acc.id)
        codes = accounts.confirm_totp(c, box, two[0], acc.id, code_at(secret, NOW), NOW)
        assert accounts.use_recovery_code(c, acc.id, f" {codes[0].upper()} ", NOW)
        assert not accounts.use_recovery_code(c, acc.id, codes[0], NOW)
        assert not accounts.use_recovery_code(c, acc.id, "00000-00000", NOW)
        assert accounts.recovery_codes_left(c, acc.id) == 9
        after = accounts.reset_totp(c, two[0], acc.id)
        assert not after.totp_enabled and accounts.recovery_codes_left(c, acc.id) == 0
        assert not accounts.use_recovery_code(c, acc.id, codes[1], NOW)
        assert accounts.pending_totp(c, box, two[0], acc.id) is None


def test_throttle_kinds_are_the_consoles_own(engine: Any, two: tuple[int, int]) -> None:
    """The console's sign-in failures wait after the limit and do not count against the portal's."""
    limits = portal_accounts.Limits(id_failures=3, ip_failures=100)
    with engine.begin() as c:
        for _ in range(3):
            assert portal_accounts.begin_attempt(c, 0, "a@alpha.example", "10.0.0.1", NOW, limits,
                                                 kinds=accounts.THROTTLE_KINDS) == 0
        assert portal_accounts.begin_attempt(c, 0, "a@alpha.example", "10.0.0.1", NOW, limits,
                                             kinds=accounts.THROTTLE_KINDS) > 0
        assert portal_accounts.begin_attempt(c, 0, "a@alpha.example", "10.0.0.1", NOW, limits) == 0


def test_sessions_expire_and_sign_in_replaces(engine: Any, two: tuple[int, int]) -> None:
    """A session ends after the idle period and the absolute lifetime; sign-in deletes the old one."""
    with engine.begin() as c:
        acc = accounts.add(c, two[0], "s@alpha.example", "", "owner", PW, NOW)
        visitor = sessions.start(c, None, None, False, NOW, POLICY)
        signed = sessions.sign_in(c, visitor.session.public_id, two[0], acc.id, True, NOW, POLICY)
        assert sessions.find(c, visitor.secret, NOW, POLICY) is None
        s = sessions.find(c, signed.secret, NOW, POLICY)
        assert s is not None and s.signed_in and s.org_id == two[0]
        assert sessions.find(c, signed.secret, NOW + timedelta(minutes=30), POLICY) is None
        t = NOW
        for _ in range(25):           # active every 29 minutes: still ends 12 hours after sign-in
            t += timedelta(minutes=29)
            if sessions.find(c, signed.secret, t, POLICY) is None:
                break
            sessions.touch(c, signed.session.public_id, t)
        assert NOW + timedelta(hours=11) < t <= NOW + timedelta(hours=12, minutes=29)


def test_last_owner_cannot_demote_themself_and_says_why(engine: Any, two: tuple[int, int]) -> None:
    """The org's only active owner asking for another role is refused on ``role`` with the reason; a
    disabled second owner does not count; once the other owner is enabled again it works."""
    with engine.begin() as c:
        keep = accounts.add(c, two[0], "keep@alpha.example", "", "owner", PW, NOW)
        me = accounts.add(c, two[0], "me@alpha.example", "", "owner", PW, NOW)
        accounts.disable(c, two[0], keep.id, NOW)
        with pytest.raises(ValidationError) as e:
            accounts.set_role(c, two[0], me.id, "admin")
        assert e.value.field == "role" and "last active owner" in e.value.message
        assert accounts.get(c, two[0], me.id).role == "owner"  # type: ignore[union-attr]
        assert accounts.enable(c, two[0], keep.id).active
        assert accounts.set_role(c, two[0], me.id, "admin").role == "admin"


def test_enable_brings_a_disabled_account_back(engine: Any, two: tuple[int, int]) -> None:
    """A disabled account signs in again once enabled; an account of another org is not found."""
    a, b = two
    with engine.begin() as c:
        acc = accounts.add(c, a, "back@alpha.example", "", "support", PW, NOW)
        accounts.disable(c, a, acc.id, NOW)
        assert accounts.check_password(c, "back@alpha.example", PW) is None
        with pytest.raises(NotFound):
            accounts.enable(c, b, acc.id)
        assert accounts.enable(c, a, acc.id).active
        assert accounts.check_password(c, "back@alpha.example", PW) == accounts.get(c, a, acc.id)


def test_change_own_password_keeps_this_session_only(engine: Any, two: tuple[int, int]) -> None:
    """A wrong current password, a short new one and two that differ are refused naming the field; the
    change keeps the session it was made in and ends the others."""
    with engine.begin() as c:
        acc = accounts.add(c, two[0], "self@alpha.example", "", "cashier", PW, NOW)
        here = sessions.start(c, two[0], acc.id, True, NOW, POLICY)
        there = sessions.start(c, two[0], acc.id, True, NOW, POLICY)
        for args, fld in ((("wrong one!", "new password 1", "new password 1"), "current"),
                          ((PW, "short", "short"), "password"), ((PW, "new password 1", "new password 2"), "again"),
                          ((PW, PW, PW), "password")):
            with pytest.raises(ValidationError) as e:
                accounts.change_own_password(c, two[0], acc.id, *args, here.session.public_id)
            assert e.value.field == fld
        with pytest.raises(NotFound):
            accounts.change_own_password(c, two[1], acc.id, PW, "new password 1", "new password 1", None)
        accounts.change_own_password(c, two[0], acc.id, PW, "new password 1", "new password 1",
                                     here.session.public_id)
        assert sessions.find(c, here.secret, NOW, POLICY) is not None
        assert sessions.find(c, there.secret, NOW, POLICY) is None
        assert accounts.check_password(c, "self@alpha.example", PW) is None
        assert accounts.check_password(c, "self@alpha.example", "new password 1") == acc
