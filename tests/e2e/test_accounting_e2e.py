"""End to end: accounting over real UDP with radclient, checked through the CLI and metrics."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")

SECRET = "testing123"


def acct(d: Daemon, attrs: str, secret: str = SECRET) -> subprocess.CompletedProcess:
    return subprocess.run(["radclient", "-x", "-r", "1", "-t", "2", f"127.0.0.1:{d.acct_port}", "acct", secret],
                          input=attrs, capture_output=True, text=True, timeout=30)


def auth(d: Daemon, user: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run(["radclient", "-x", "-r", "1", "-t", "3", f"127.0.0.1:{d.auth_port}", "auth", SECRET],
                          input=f'User-Name = "{user}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n',
                          capture_output=True, text=True, timeout=30)


def sessions(d: Daemon, *args: str) -> list[dict]:
    return json.loads(d.cli("sessions", "--json", *args).stdout)


def test_start_interim_stop_recorded_exactly(daemon: Daemon) -> None:
    """Start, Interim and Stop (with Gigawords) are acknowledged and stored with exact counters."""
    base = ('User-Name = "alice"\nAcct-Session-Id = "e2e-alice-1"\nNAS-Port = 7\nFramed-IP-Address = 10.9.0.7\n'
            'Message-Authenticator = 0x00\n')
    r = acct(daemon, base + "Acct-Status-Type = Start\n")
    assert "Received Accounting-Response" in r.stdout, r.stdout + r.stderr
    open_ = [s for s in sessions(daemon, "--user", "alice") if s["session_id"] == "e2e-alice-1"]
    assert len(open_) == 1 and open_[0]["stop"] is None
    r = acct(daemon, base + "Acct-Status-Type = Interim-Update\nAcct-Input-Octets = 1000\n"
             "Acct-Output-Octets = 2000\nAcct-Session-Time = 60\n")
    assert "Received Accounting-Response" in r.stdout, r.stdout + r.stderr
    stop = (base + "Acct-Status-Type = Stop\nAcct-Input-Octets = 5000\nAcct-Input-Gigawords = 1\n"
            "Acct-Output-Octets = 7000\nAcct-Input-Packets = 11\nAcct-Output-Packets = 13\n"
            "Acct-Session-Time = 120\nAcct-Terminate-Cause = User-Request\n")
    r = acct(daemon, stop)
    assert "Received Accounting-Response" in r.stdout, r.stdout + r.stderr
    r = acct(daemon, stop.replace("Acct-Status-Type = Stop\n", "Acct-Status-Type = Stop\nAcct-Delay-Time = 5\n"))
    assert "Received Accounting-Response" in r.stdout  # a delayed duplicate: acknowledged, not counted twice
    (s,) = [s for s in sessions(daemon, "--all", "--user", "alice") if s["session_id"] == "e2e-alice-1"]
    assert s["input_octets"] == (1 << 32) + 5000 and s["output_octets"] == 7000
    assert (s["input_packets"], s["output_packets"], s["session_time"]) == (11, 13, 120)
    assert s["terminate_cause"] == 1 and s["stop"] is not None
    assert s["framed_ip"] == "10.9.0.7" and s["nas_port"] == 7
    assert not [x for x in sessions(daemon, "--user", "alice") if x["session_id"] == "e2e-alice-1"]


def test_batch_sizes_in_metrics(daemon: Daemon) -> None:
    """Each committed accounting batch is observed in acct_batch_size (after the start/stop test ran)."""
    assert daemon.metric("acct_batch_size_count") >= 1
    assert daemon.metric("acct_batch_size_sum") >= daemon.metric("acct_batch_size_count")


def test_wrong_secret_is_dropped_and_counted(daemon: Daemon) -> None:
    """A request signed with the wrong secret gets no answer and bumps the drop counter."""
    before = daemon.metric("acct_dropped_total", 'reason="bad_authenticator"')
    r = acct(daemon, 'User-Name = "alice"\nAcct-Session-Id = "x"\nAcct-Status-Type = Start\n', secret="wrong")
    assert "Received Accounting-Response" not in r.stdout
    assert daemon.metric("acct_dropped_total", 'reason="bad_authenticator"') == before + 1


def test_simultaneous_use_from_open_sessions(daemon: Daemon) -> None:
    """bob (simultaneous-use 1) is rejected while his session is open, accepted after its Stop."""
    assert "Received Access-Accept" in auth(daemon, "bob", "bob-pass").stdout
    base = 'User-Name = "bob"\nAcct-Session-Id = "e2e-bob-1"\n'
    assert "Received Accounting-Response" in acct(daemon, base + "Acct-Status-Type = Start\n").stdout
    r = auth(daemon, "bob", "bob-pass")
    assert "Received Access-Reject" in r.stdout and "simultaneous-use limit reached" in r.stdout, r.stdout
    assert "Received Accounting-Response" in acct(daemon, base + "Acct-Status-Type = Stop\n").stdout
    assert "Received Access-Accept" in auth(daemon, "bob", "bob-pass").stdout


def test_accounting_on_closes_the_nas_sessions(daemon: Daemon) -> None:
    """Accounting-On from the NAS closes its open sessions with NAS-Reboot."""
    assert "Received Accounting-Response" in acct(
        daemon, 'User-Name = "grace"\nAcct-Session-Id = "e2e-grace-1"\nAcct-Status-Type = Start\n').stdout
    assert "Received Accounting-Response" in acct(daemon, "Acct-Status-Type = Accounting-On\n").stdout
    assert sessions(daemon) == []
    (s,) = [s for s in sessions(daemon, "--all", "--user", "grace") if s["session_id"] == "e2e-grace-1"]
    assert s["terminate_cause"] == 11


def test_out_of_order_and_retransmitted_via_radclient(daemon: Daemon) -> None:
    """Stop before Start, an Interim after the Stop, a lower late Interim: totals stay the Stop's."""
    base = 'User-Name = "grace"\nAcct-Session-Id = "e2e-ooo-1"\nMessage-Authenticator = 0x00\n'
    stop = (base + "Acct-Status-Type = Stop\nAcct-Input-Octets = 9000\nAcct-Output-Octets = 9900\n"
            "Acct-Session-Time = 300\nAcct-Terminate-Cause = Lost-Carrier\n")
    for attrs in (stop,                                   # Stop first: creates the session
                  base + "Acct-Status-Type = Start\n",    # the Start arrives late
                  base + "Acct-Status-Type = Interim-Update\nAcct-Input-Octets = 4000\n"
                         "Acct-Output-Octets = 4400\nAcct-Session-Time = 120\n",  # late, lower counters
                  stop, stop):                            # NAS retransmissions
        r = acct(daemon, attrs)
        assert "Received Accounting-Response" in r.stdout, r.stdout + r.stderr
    (s,) = [s for s in sessions(daemon, "--all", "--user", "grace") if s["session_id"] == "e2e-ooo-1"]
    assert (s["input_octets"], s["output_octets"], s["session_time"]) == (9000, 9900, 300)
    assert s["stop"] is not None and s["terminate_cause"] == 2
