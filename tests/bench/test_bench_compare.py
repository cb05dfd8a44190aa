"""bench/freeradius_conf.py's FreeRADIUS configs with a real client (pyrad), and a smoke run of bench_compare.

The configs are what ``make bench-compare`` measures FreeRADIUS with, so each
must accept PAP, CHAP and MS-CHAPv2 for its users (the reply verified: Response
Authenticator, Message-Authenticator first, MS-CHAP2-Success per RFC 2759
§8.7), reject a wrong password, drop a request without Message-Authenticator,
and answer accounting (the SQLite one storing it in radacct).
"""
from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_compare as bc  # noqa: E402
import freeradius_conf as frc  # noqa: E402
from radload import mschapv2_authenticator_response, mschapv2_nt_response  # noqa: E402

from tests.nas_freeradius import free_udp_port, freeradius_binary  # noqa: E402

SECRET = "bench-S3cret"
USERS = 10


@pytest.fixture(scope="module", params=frc.BACKENDS)
def fr(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[frc.FreeRadiusServer]:
    """FreeRADIUS with one of bench_compare's configs and USERS logins, on free loopback ports."""
    if freeradius_binary() is None:
        pytest.fail("freeradius not installed: run the README's test command (make test) to install it")
    d = tmp_path_factory.mktemp(f"fr-{request.param}")
    auth_port, acct_port = free_udp_port(), free_udp_port()
    frc.write_raddb(d, backend=request.param, pairs=frc.logins(USERS), auth_port=auth_port, acct_port=acct_port,
                    secret=SECRET)
    with frc.FreeRadiusServer(d, auth_port=auth_port, acct_port=acct_port, name=request.param) as server:
        yield server


def client(fr: frc.FreeRadiusServer, timeout: float = 2.0) -> Any:
    from pyrad.client import Client
    from pyrad.dictionary import Dictionary

    from aaad.radius.dictionary import default_dictionary_path
    c = Client(server="127.0.0.1", authport=fr.auth_port, acctport=fr.acct_port, secret=SECRET.encode(),
               dict=Dictionary(str(default_dictionary_path())))
    c.timeout, c.retries = timeout, 1
    return c


def send_auth(fr: frc.FreeRadiusServer, req: Any) -> Any:
    """Send with Message-Authenticator; the reply verified as radload does (MA present, first, correct)."""
    req.add_message_authenticator()
    reply = client(fr).SendPacket(req)
    assert req.VerifyReply(reply, reply.raw_packet, enforce_ma=True)
    assert reply.raw_packet[20:22] == b"\x50\x12", "Message-Authenticator is not the first attribute"
    return reply


def test_users_file_has_every_login_with_its_cleartext_password() -> None:
    text = frc.users_file_text(frc.logins(3))
    assert text.splitlines() == [f'user{i:06d}\tCleartext-Password := "pass{i:06d}"' for i in range(3)]


def test_pap_chap_and_mschapv2_accepted(fr: frc.FreeRadiusServer) -> None:
    from pyrad import packet
    c = client(fr)
    req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name="user000007")
    req["User-Password"] = req.PwCrypt("pass000007")
    assert send_auth(fr, req).code == packet.AccessAccept

    req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name="user000003")
    challenge, ident = os.urandom(16), 42
    req["CHAP-Challenge"] = challenge
    req["CHAP-Password"] = bytes([ident]) + hashlib.md5(bytes([ident]) + b"pass000003" + challenge).digest()
    assert send_auth(fr, req).code == packet.AccessAccept

    name, password = b"user000009", "pass000009"
    auth_challenge, peer_challenge, ident = os.urandom(16), os.urandom(16), 7
    nt = mschapv2_nt_response(auth_challenge, peer_challenge, name, password)
    req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name=name.decode())
    req["MS-CHAP-Challenge"] = auth_challenge
    req["MS-CHAP2-Response"] = bytes([ident, 0]) + peer_challenge + bytes(8) + nt
    reply = send_auth(fr, req)
    assert reply.code == packet.AccessAccept
    expected = bytes([ident]) + mschapv2_authenticator_response(password, nt, peer_challenge, auth_challenge, name)
    assert reply["MS-CHAP2-Success"] == [expected]


def test_wrong_password_rejected(fr: frc.FreeRadiusServer) -> None:
    from pyrad import packet
    req = client(fr).CreateAuthPacket(code=packet.AccessRequest, User_Name="user000001")
    req["User-Password"] = req.PwCrypt("pass000002")
    assert send_auth(fr, req).code == packet.AccessReject


def test_request_without_message_authenticator_dropped(fr: frc.FreeRadiusServer) -> None:
    from pyrad import packet
    from pyrad.client import Timeout
    c = client(fr, timeout=0.5)
    req = c.CreateAuthPacket(code=packet.AccessRequest, User_Name="user000001", message_authenticator=False)
    req["User-Password"] = req.PwCrypt("pass000001")
    with pytest.raises(Timeout):
        c.SendPacket(req)


def test_accounting_answered(fr: frc.FreeRadiusServer) -> None:
    from pyrad import packet
    c = client(fr)
    for status in ("Start", "Interim-Update", "Stop"):
        req = c.CreateAcctPacket(User_Name="user000004", Acct_Status_Type=status, Acct_Session_Id="bench-t1",
                                 NAS_IP_Address="127.0.0.1", Acct_Session_Time=0 if status == "Start" else 60)
        reply = c.SendPacket(req)
        assert reply.code == packet.AccountingResponse
        assert req.VerifyReply(reply, reply.raw_packet)
    if fr.name == "sqlite":
        with sqlite3.connect(fr.dir / "radius.db") as db:
            rows = db.execute("SELECT username, acctsessionid, acctsessiontime, acctstoptime IS NOT NULL "
                              "FROM radacct").fetchall()
        assert rows == [("user000004", "bench-t1", 60, 1)]


def test_bench_compare_smoke() -> None:
    """A whole (tiny) run: every figure of every server, the ratios and the ceilings, all non-zero."""
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_compare.py"), "--logins", "200",
                        "--duration", "0.5", "--rounds", "1", "--open-rate", "1000"],
                       capture_output=True, text=True, timeout=240, cwd=str(ROOT),
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line for line in r.stdout.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    labels = [row.split(" | ")[0] for row in rows]
    for want in ("PAP Access-Requests/s", "CHAP", "MS-CHAPv2", "durable accounting requests/s", "accounting p99",
                 "open-loop PAP p99", "open-loop PAP p50", "generator ceiling vs null server, PAP",
                 "generator ceiling vs null server, accounting"):
        assert any(want in label for label in labels), (want, r.stdout)
    for row in rows:
        cells = [c.strip() for c in row.strip("| ").split(" | ")][1:]
        assert len(cells) == 4, row
        for c in cells:
            number = re.match(r"(?:ceiling )?([0-9][0-9,]*(?:\.[0-9]+)?)", c)
            assert number and float(number.group(1).replace(",", "")) > 0, (c, row)
    assert "The generator alone (null server), open loop at 1,000/s" in r.stdout
    assert "[pap round 1] FreeRADIUS + SQLite" in r.stderr


def fake(figure: str, server: str, ok_per_s: float, rnd: int = 1, **kw: Any) -> bc.Measurement:
    """A measurement with a generator summary's keys: sent = answered = ok over 1 s unless ``kw`` says otherwise."""
    sm: dict[str, Any] = {"sent": int(ok_per_s), "answered": int(ok_per_s), "ok": int(ok_per_s), "lost": 0, "bad": 0,
                          "bad_reasons": {}, "ok_per_s": ok_per_s, "elapsed_seconds": 1.0,
                          "generator_cpu_seconds": 0.5, "requests_per_generator_cpu_second": 90_000.0,
                          "max_send_lag_ms": 1.0, "latency_ms": {"p50": 1.0, "p99": 4.0}}
    sm.update(kw)
    return bc.Measurement(figure, server, rnd, sm, 0.5, problems=bc.problems(sm, server != "null"))


def test_problems_flag_what_the_brief_says() -> None:
    assert bc.problems(fake("pap", "aaad", 1000).summary) == []
    assert "3 lost of 1000" in bc.problems(fake("pap", "aaad", 1000, lost=3).summary)[0]
    assert bc.problems(fake("pap", "aaad", 1000, lost=1).summary) == []          # within 0.1%
    assert "2 bad (unexpected_reject 2)" in bc.problems(
        fake("pap", "aaad", 1000, bad=2, bad_reasons={"unexpected_reject": 2}).summary)[0]
    busy = fake("pap", "aaad", 1000, generator_cpu_seconds=0.95).summary
    assert "on CPU 95%" in bc.problems(busy)[0] and bc.problems(busy, generator_bound=False) == []
    assert "fell behind" in bc.problems(fake("open", "aaad", 900).summary, rate=1000)[0]


def test_table_medians_ratios_ceiling_and_notes() -> None:
    o = bc.parse_args(["--only", "pap,acct,ceiling", "--rounds", "3"])
    results = [fake("pap", "aaad", v, r) for r, v in enumerate((20_000, 22_000, 30_000), 1)]
    results += [fake("pap", "fr_files", v, r) for r, v in enumerate((40_000, 44_000, 10_000), 1)]
    results += [fake("pap", "fr_sqlite", 5_000, 1, lost=500, sent=5_500), fake("pap", "null", 30_000)]
    results += [fake("acct", s, 1_000) for s in ("aaad", "fr_files", "fr_sqlite", "null")]
    table = bc.render(results, o, None, {})
    assert "| PAP Access-Requests/s | 22,000 | 40,000 | 5,000 [1] | 0.55x |" in table
    assert "[1] FreeRADIUS + SQLite, pap round 1: 500 lost of 5500 (9.1%)" in table
    assert ("| generator ceiling vs null server, PAP (cells: ceiling ÷ that figure) | 4.1x | 2.2x (<3x) | 18.0x | "
            "ceiling 90,000/s per generator CPU-s (null server: 30,000/s) |") in table
    assert "| durable accounting p99, ms (closed loop, 64 in flight) | 4.00 | 4.00 | 4.00 | 1.00x |" in table
    assert "accounting aaad 500 / FreeRADIUS files 500 / FreeRADIUS + SQLite 500." in table   # 0.5 s CPU / 1000
    assert bc.half_max(results, "fr_files") == 20_000
