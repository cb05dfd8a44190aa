"""bench/radblast.c, the C load generator and null server: its RFC vectors, its verification of
replies (good and bad), its requests checked by independent implementations (radload's
nullserver.py with --verify, and the real daemon), and the JSON summary's contract."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, DaemonFactory, free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import radblast  # noqa: E402

SECRET = "testing123"
USERS = 200
MODES = ["pap", "chap", "mschapv2", "acct"]
# radload's summary keys (bench/radload.py summarize()), which bench_compare reads from either generator
SUMMARY_KEYS = {
    "mode", "server", "loop", "sent", "answered", "ok", "lost", "bad", "bad_reasons", "late_or_unmatched",
    "accepts", "rejects", "challenges", "accounting_responses", "send_seconds", "elapsed_seconds",
    "offered_per_s", "throughput_per_s", "ok_per_s", "generator_cpu_seconds", "latency_ms",
    "message_authenticator", "max_send_lag_ms", "not_sent_no_free_id", "requests_per_generator_cpu_second",
}


@pytest.fixture(scope="module")
def binary() -> Path:
    return radblast.ensure_built()


@pytest.fixture(scope="module")
def table(binary: Path) -> Path:
    return radblast.table_for(USERS)


@pytest.fixture(scope="module")
def null(binary: Path, table: Path) -> Iterator[radblast.NullServer]:
    """The C null server (with the MS-CHAPv2 table, verifying requests)."""
    with radblast.NullServer(table=table, verify=True, max_seconds=120) as n:
        yield n


def blast(port: int, mode: str, **kw: Any) -> dict[str, Any]:
    opts: dict[str, Any] = dict(port=port, mode=mode, secret=SECRET, users=USERS, duration=0.5, inflight=32,
                                timeout=2, run_id="t")
    opts.update(kw)
    return radblast.run(**opts)


def test_selftest_passes(binary: Path) -> None:
    """MD5 and HMAC-MD5 against RFC 1321/2202, PAP hiding and a Response Authenticator against RFC 2865 §7.1."""
    r = subprocess.run([str(binary), "selftest"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "selftest ok" in r.stdout


def test_ensure_built_rebuilds_an_older_binary(binary: Path, tmp_path: Path) -> None:
    """A binary older than its source is rebuilt; a current one is left as it is."""
    src = tmp_path / "radblast.c"
    src.write_bytes(radblast.SOURCE.read_bytes())
    exe = tmp_path / "radblast"
    exe.write_bytes(b"#!/bin/sh\nexit 3\n")  # a stale "binary", older than the source
    exe.chmod(0o755)
    old = src.stat().st_mtime_ns - 10 * 10**9
    os.utime(exe, ns=(old, old))
    assert radblast.ensure_built(exe, src) == exe
    built = exe.stat().st_mtime_ns
    assert built > src.stat().st_mtime_ns
    assert subprocess.run([str(exe), "selftest"], capture_output=True, timeout=10).returncode == 0
    radblast.ensure_built(exe, src)  # current: not rebuilt
    assert exe.stat().st_mtime_ns == built


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_against_the_c_null_server(null: radblast.NullServer, mode: str) -> None:
    """Every reply of the null server verifies: ok == answered == sent, nothing bad or lost."""
    s = blast(null.port, mode)
    assert s.keys() >= SUMMARY_KEYS
    assert s["ok"] == s["answered"] == s["sent"] > 0, s
    assert s["bad"] == 0 and s["lost"] == 0 and s["bad_reasons"] == {}, s
    assert s["mode"] == mode and s["message_authenticator"] is True
    key = "accounting_responses" if mode == "acct" else "accepts"
    assert s[key] == s["answered"]
    lat = s["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]


def test_wrong_secret_makes_every_reply_bad(binary: Path) -> None:
    """A null server signs with its secret, the client checks with another: nothing verifies."""
    with radblast.NullServer(secret="other-secret") as other:
        s = blast(other.port, "pap")
    assert s["answered"] > 0 and s["ok"] == 0
    assert s["bad"] == s["answered"]
    assert s["bad_reasons"] == {"bad_response_authenticator": s["answered"]}


def test_unexpected_code_and_wrong_mschap_success_are_bad(null: radblast.NullServer, table: Path,
                                                           tmp_path: Path) -> None:
    """--expect reject against an accepting server, and MS-CHAP2-Success for another table: all bad."""
    s = blast(null.port, "pap", expect="reject")
    assert s["ok"] == 0 and s["bad_reasons"] == {"unexpected_accept": s["answered"]} and s["answered"] > 0
    # the same users and challenges, but the client expects other authenticator responses
    lines = table.read_text().splitlines()
    forged = [ln if ln.startswith("#") else " ".join(ln.split()[:3] + ["00" + "41" * 42]) for ln in lines]
    bad_table = tmp_path / "forged.tab"
    bad_table.write_text("\n".join(forged) + "\n")
    s = blast(null.port, "mschapv2", table=bad_table)
    assert s["ok"] == 0 and s["bad_reasons"] == {"mschap2_success_mismatch": s["answered"]} and s["answered"] > 0
    # a null server without the table answers MS-CHAPv2 with a plain Accept
    with radblast.NullServer() as plain:
        s = blast(plain.port, "mschapv2")
    assert s["ok"] == 0 and s["bad_reasons"] == {"mschap2_success_missing": s["answered"]} and s["answered"] > 0


def test_open_loop_keeps_its_rate(null: radblast.NullServer) -> None:
    """--rate 2000 for 0.5 s sends 1000 requests on schedule, all answered."""
    s = blast(null.port, "pap", inflight=None, rate=2000)
    assert s["loop"] == "open 2000/s"
    assert 950 <= s["sent"] <= 1000, s
    assert s["ok"] == s["sent"] and s["bad"] == 0


def test_a_coarse_tick_still_sends_every_request_due(null: radblast.NullServer) -> None:
    """--tick-us 1000 (a wake-up every millisecond at most, the longest tick: the replies are
    collected at each wake-up): each wake-up sends the two that came due since the last, so 2000/s
    for 0.5 s is still about 1000 requests, all answered; the latest send is up to a tick late."""
    s = blast(null.port, "pap", inflight=None, rate=2000, tick_us=1000)
    assert 900 <= s["sent"] <= 1000, s
    assert s["ok"] == s["sent"] and s["bad"] == 0
    assert 0.4 <= s["max_send_lag_ms"] <= 50, s


def test_many_in_flight_use_several_sockets(null: radblast.NullServer) -> None:
    """Beyond 256 outstanding requests, one socket's IDs do not suffice: more source ports."""
    s = blast(null.port, "acct", inflight=600, users=2000)
    assert s["sockets"] >= 3
    assert s["ok"] == s["answered"] == s["sent"] > 0 and s["bad"] == 0


def test_unanswered_requests_are_lost() -> None:
    """Nothing listening: every request sent is lost, none ok."""
    s = blast(free_port(), "pap", duration=0.2, timeout=0.2, inflight=8)
    assert s["sent"] > 0 and s["ok"] == 0 and s["answered"] == 0
    assert s["lost"] == s["sent"]


def test_usage_errors_exit_2(binary: Path) -> None:
    """A bad option value is refused before anything is sent."""
    for args in (["--mode", "eap"], ["--mode", "mschapv2"], ["--user-format", "user%s"],
                 ["--inflight", "600", "--sockets", "1"], ["--acct-mix", "start,pause", "--mode", "acct"]):
        r = subprocess.run([str(binary), "client", "--duration", "0.1", *args], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stdout == ""


# ---- independent implementations check radblast's requests ---------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_requests_verify_against_radloads_null_server(mode: str, table: Path) -> None:
    """bench/nullserver.py --verify (radload's encoders) drops any request whose Message-Authenticator
    or accounting Request Authenticator is wrong, and computes MS-CHAP2-Success from the request."""
    cmd = [sys.executable, str(ROOT / "bench" / "nullserver.py"), "--port", "0", "--secret", SECRET, "--verify",
           "--mschap-users", str(USERS), "--max-seconds", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening on" in line, line
        s = blast(int(line.rsplit(":", 1)[1]), mode, duration=0.3, inflight=16)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert s["ok"] == s["answered"] == s["sent"] > 0, s
    assert s["bad"] == 0 and s["lost"] == 0
    assert " 0 dropped" in err, err


@pytest.fixture(scope="module")
def bench_daemon(tmp_path_factory: Any) -> Iterator[Daemon]:
    """The real daemon with USERS logins user%06d/pass%06d from bench/load_logins.py (NAS 127.0.0.1)."""
    f = DaemonFactory(tmp_path_factory.mktemp("radblast"))
    conf, data_dir = f.configure(demo=False)
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "load_logins.py"), "-c", str(conf), "--secret", SECRET,
                        "-n", str(USERS)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    d = f.start(conf, data_dir)
    yield d
    f.close()


@pytest.mark.parametrize("mode", MODES)
def test_against_the_real_daemon(bench_daemon: Daemon, mode: str) -> None:
    """The daemon decodes PAP (RFC 2865 §5.2), checks CHAP and MS-CHAPv2 and records accounting:
    every answered request is ok."""
    port = bench_daemon.acct_port if mode == "acct" else bench_daemon.auth_port
    s = blast(port, mode, duration=0.5, inflight=16, timeout=3)
    assert s["ok"] > 0 and s["bad"] == 0, s
    assert s["ok"] == s["answered"], s


def test_wrong_password_is_rejected_by_the_daemon(bench_daemon: Daemon) -> None:
    """The daemon really checks what radblast hides: another password gives Access-Reject, counted bad."""
    s = blast(bench_daemon.auth_port, "pap", duration=0.2, inflight=4, password_format="nope%06d", timeout=3)
    assert s["answered"] > 0 and s["ok"] == 0
    assert s["bad_reasons"] == {"unexpected_reject": s["answered"]}
