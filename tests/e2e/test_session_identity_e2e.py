"""End to end: Class in Access-Accept, a NAS reboot reusing an Acct-Session-Id (radclient),
and poisoned values on PostgreSQL (raw UDP), against the real daemon."""
from __future__ import annotations

import json
import re
import shutil
import socket
import time

import pytest
import sqlalchemy as sa

from aaad.radius import codec
from tests.conftest import Daemon, DaemonFactory
from tests.e2e.test_accounting_e2e import SECRET, acct, auth, sessions

pytestmark = pytest.mark.skipif(shutil.which("radclient") is None,
                                reason="freeradius-utils missing: run the README's test command")


def ok(r: object) -> None:
    out = r.stdout + r.stderr  # type: ignore[attr-defined]
    assert "Received Accounting-Response" in out, out


def test_accept_carries_a_class_that_accounting_stores(daemon: Daemon) -> None:
    """Each Access-Accept has its own Class; echoed in accounting, it is stored on the session."""
    classes = []
    for _ in range(2):
        r = auth(daemon, "alice", "alice-pass")
        assert "Received Access-Accept" in r.stdout, r.stdout
        classes.append(re.search(r"Class = 0x([0-9a-f]+)", r.stdout).group(1))  # type: ignore[union-attr]
    assert classes[0] != classes[1]
    value = bytes.fromhex(classes[0]).decode()
    assert value.startswith("aaad:")
    ok(acct(daemon, f'User-Name = "alice"\nAcct-Session-Id = "e2e-class-1"\nClass = 0x{classes[0]}\n'
                    "Acct-Status-Type = Start\nMessage-Authenticator = 0x00\n"))
    (s,) = [s for s in sessions(daemon, "--user", "alice") if s["session_id"] == "e2e-class-1"]
    assert s["class"] == value


def test_reboot_with_reused_session_id_opens_a_new_counted_session(daemon: Daemon) -> None:
    """Start/Stop X, Accounting-On, Start X again (no Class): a second open session, counted."""
    base = 'User-Name = "bob"\nAcct-Session-Id = "e2e-reboot-X"\nMessage-Authenticator = 0x00\n'
    ok(acct(daemon, base + "Acct-Status-Type = Start\n"))
    ok(acct(daemon, base + "Acct-Status-Type = Stop\nAcct-Input-Octets = 5000000\n"
                           "Acct-Output-Octets = 6000000\nAcct-Session-Time = 600\n"))
    assert "Received Access-Accept" in auth(daemon, "bob", "bob-pass").stdout
    ok(acct(daemon, "Acct-Status-Type = Accounting-On\nMessage-Authenticator = 0x00\n"))
    ok(acct(daemon, base + "Acct-Status-Type = Start\n"))
    ok(acct(daemon, base + "Acct-Status-Type = Interim-Update\nAcct-Input-Octets = 100\n"
                           "Acct-Output-Octets = 200\nAcct-Session-Time = 60\n"))
    got = [s for s in sessions(daemon, "--all", "--user", "bob") if s["session_id"] == "e2e-reboot-X"]
    assert len(got) == 2
    new, old = got  # newest start first
    assert old["stop"] is not None and (old["input_octets"], old["output_octets"]) == (5000000, 6000000)
    assert new["stop"] is None and (new["input_octets"], new["output_octets"]) == (100, 200)
    # simultaneous-use counts it: bob (limit 1) is refused while it is open
    r = auth(daemon, "bob", "bob-pass")
    assert "Received Access-Reject" in r.stdout and "simultaneous-use" in r.stdout, r.stdout
    # and its traffic is counted: it waits for aggregation on top of the old session's
    usage = json.loads(daemon.cli("usage", "bob", "--json").stdout)
    assert usage["not_yet_aggregated"]["in"] >= 5000100
    ok(acct(daemon, base + "Acct-Status-Type = Stop\nAcct-Input-Octets = 100\n"
                           "Acct-Output-Octets = 200\nAcct-Session-Time = 61\n"))
    assert "Received Access-Accept" in auth(daemon, "bob", "bob-pass").stdout


def _udp(port: int, data: bytes, timeout: float = 5.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None


def _acct_request(*attrs: bytes) -> bytes:
    return codec.encode_request(codec.ACCOUNTING_REQUEST, 7, b"".join(attrs), SECRET.encode(),
                                authenticator=None, message_authenticator=True)


def test_poisoned_values_are_acknowledged_and_stored_on_postgresql(
        daemon_factory: DaemonFactory, pg_cluster: object) -> None:
    """Each poisoned value is answered and stored on PostgreSQL; a NUL User-Name keeps its auth-log batch."""
    url = pg_cluster.new_database()  # type: ignore[attr-defined]
    d = daemon_factory(db_url=url)
    poisons = {
        "delay": codec.encode_int(codec.ACCT_DELAY_TIME, 0xFFFFFFF0),
        "gigawords": codec.encode_int(codec.ACCT_INPUT_GIGAWORDS, 0xFFFFFFFF),
        "int32": codec.encode_int(codec.ACCT_TERMINATE_CAUSE, 0xFFFFFFFF)
                 + codec.encode_int(codec.ACCT_INTERIM_INTERVAL, 0x80000000),
        "session_time": codec.encode_int(codec.ACCT_SESSION_TIME, 0xFFFFFFFF),
        "nul": codec.encode_attr(codec.CALLING_STATION_ID, b"aa\x00bb")
               + codec.encode_attr(codec.NAS_PORT_ID, b"\x00"),
    }
    for name, attr in poisons.items():
        req = _acct_request(codec.encode_int(codec.ACCT_STATUS_TYPE, 2),
                            codec.encode_attr(codec.ACCT_SESSION_ID, f"poison-{name}".encode()),
                            codec.encode_attr(codec.USER_NAME, b"alice\x00" if name == "nul" else b"alice"),
                            codec.encode_int(codec.ACCT_INPUT_OCTETS, 10), attr)
        reply = _udp(d.acct_port, req)
        assert reply is not None and reply[0] == codec.ACCOUNTING_RESPONSE, name
    stored = {s["session_id"]: s for s in sessions(d, "--all")}
    assert set(stored) >= {f"poison-{n}" for n in poisons}
    assert stored["poison-nul"]["username"] == "alice\ufffd"
    assert stored["poison-gigawords"]["input_octets"] == (1 << 62) - 1
    assert stored["poison-int32"]["terminate_cause"] == (1 << 31) - 1
    assert d.metric("acct_anomalies_total", 'kind="delay_clamped"') == 1
    assert d.metric("acct_anomalies_total", 'kind="nul_replaced"') >= 1
    # the auth log: a NUL User-Name among ordinary requests, all rows kept
    for user in (b"mallory\x00x", b"alice"):
        body = (codec.encode_attr(codec.USER_NAME, user)
                + codec.encode_attr(codec.USER_PASSWORD, codec.pap_hide(b"x", SECRET.encode(), b"\x01" * 16)))
        req = codec.encode_request(codec.ACCESS_REQUEST, 9, body, SECRET.encode(),
                                   authenticator=b"\x01" * 16, message_authenticator=True)
        assert _udp(d.auth_port, req) is not None
    engine = sa.create_engine(url)
    try:
        deadline = time.monotonic() + 15
        names: list[str] = []
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                names = list(conn.execute(sa.text("SELECT username FROM auth_log")).scalars())
            if len(names) >= 2:
                break
            time.sleep(0.1)
        assert sorted(names) == ["alice", "mallory\ufffdx"]
    finally:
        engine.dispose()
