"""End to end: the owner rule on the CLI, and a CLI change reaching the running
daemon through the change feed (radclient sees it)."""
from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.e2e.test_auth_e2e import radclient

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


def pap(user: str, password: str) -> str:
    return f'User-Name = "{user}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n'


def until(check: Any, timeout: float = 10.0) -> Any:
    """Poll a real condition with a deadline (the daemon applies the feed within a second)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def add_owned_login(d: Daemon, username: str) -> None:
    """What billing will do: a login owned by service 7, written through the write path."""
    from aaad import app, orgs
    from aaad.db import sync_engine
    from aaad.view.write import Actor, LoginWriter
    conf = app.load_config(str(d.config_path))
    engine = sync_engine(app.database_url(conf))
    with engine.begin() as c:
        org = orgs.get_by_slug(c, "demo")
        assert org is not None
        LoginWriter(app.secret_box(conf)).create(c, org.id, username, "pw-1", datetime.now(UTC),
                                                 actor=Actor.owner("service", 7))
    engine.dispose()


def test_owned_login_needs_force_on_the_cli(daemon: Daemon) -> None:
    """The CLI refuses to change a login billing owns (exit 2, naming the owner); --force does it,
    and the running daemon rejects the login within the change-feed interval."""
    add_owned_login(daemon, "owned")
    assert until(lambda: "Access-Accept" in radclient(daemon, pap("owned", "pw-1")).stdout)
    r = daemon.cli("user", "disable", "owned", check=False)
    assert r.returncode == 2 and "managed by service 7" in r.stderr and "--force" in r.stderr
    assert "Access-Accept" in radclient(daemon, pap("owned", "pw-1")).stdout
    daemon.cli("user", "disable", "owned", "--force", "--reason", "fraud check")
    out = until(lambda: (lambda o: o if "Access-Reject" in o else "")(radclient(daemon, pap("owned", "pw-1")).stdout))
    assert 'Reply-Message = "account disabled"' in out
    r = daemon.cli("user", "list", "--json")
    assert '"owner": "service 7"' in r.stdout


def test_user_set_changes_profile_and_name(daemon: Daemon) -> None:
    """user set changes the rate limit and renames; radclient sees both."""
    daemon.cli("user", "add", "sam", "--password", "sam-pass", "--profile", "home-10M")
    daemon.cli("user", "set", "sam", "--rate-limit", "3M/3M", "--rename", "samuel")
    out = until(lambda: (lambda o: o if "3M/3M" in o else "")(radclient(daemon, pap("samuel", "sam-pass")).stdout))
    assert 'Mikrotik-Rate-Limit = "3M/3M"' in out
    assert "Access-Reject" in radclient(daemon, pap("sam", "sam-pass")).stdout


def test_postgresql_notify_wakes_the_follower(daemon_factory: Any, pg_cluster: Any) -> None:
    """On PostgreSQL a CLI change reaches the daemon through LISTEN/NOTIFY, long before
    the (here 60 s) poll would have found it."""
    d = daemon_factory(db_url=pg_cluster.new_database(), extra="[database]\nchange_poll_interval = 60.0\n")
    assert until(lambda: "Access-Accept" in radclient(d, pap("alice", "alice-pass")).stdout)
    t0 = time.monotonic()
    d.cli("user", "passwd", "alice", "--password", "changed-pass")
    assert until(lambda: "Access-Accept" in radclient(d, pap("alice", "changed-pass")).stdout, timeout=20)
    assert time.monotonic() - t0 < 30


def test_quota_exhausts_and_the_new_cycle_lets_radclient_back_in(daemon_factory: Any) -> None:
    """Traffic past the cap (radclient accounting) and the daemon's aggregation pass make the
    login exhausted (rejected); at its next cycle boundary the cycle job makes it active again."""
    import sqlite3

    from tests.e2e.test_accounting_e2e import acct
    # aggregate and check cycles every 2 s
    d = daemon_factory(extra="[accounting]\naggregation_interval = 2\n[jobs]\ncycle_check_interval = 2\n")
    d.cli("profile", "add", "capped", "--rate-limit", "5M/5M", "--block-when-exhausted")
    d.cli("user", "add", "capper", "--password", "cap-pass", "--profile", "capped", "--data-cap", "1000")
    assert until(lambda: "Access-Accept" in radclient(d, pap("capper", "cap-pass")).stdout)
    base = 'User-Name = "capper"\nAcct-Session-Id = "cap-1"\nMessage-Authenticator = 0x00\n'
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Start\n").stdout
    assert "Accounting-Response" in acct(d, base + "Acct-Status-Type = Interim-Update\n"
                                                "Acct-Input-Octets = 4000\nAcct-Session-Time = 60\n").stdout
    out = until(lambda: (lambda o: o if "Access-Reject" in o else "")(radclient(d, pap("capper", "cap-pass")).stdout))
    assert 'Reply-Message = "data quota exhausted"' in out
    # A month passes: the login's recorded cycle is the previous one.
    with sqlite3.connect(d.data_dir / "data" / "aaad.db" if (d.data_dir / "data").exists()
                         else d.data_dir / "aaad.db") as db:
        n = db.execute("UPDATE logins SET cycle_start = datetime(cycle_start, '-40 days') "
                       "WHERE username = 'capper'").rowcount
    assert n == 1
    assert until(lambda: "Access-Accept" in radclient(d, pap("capper", "cap-pass")).stdout)
