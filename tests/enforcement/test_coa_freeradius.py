"""The real DynAuthClient (on a real reactor, in a subprocess: pytest runs none) against
FreeRADIUS playing the NAS over loopback UDP; radclient cross-checks the NAS fixture."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.nas_freeradius import FreeRadiusNas

ROOT = Path(__file__).resolve().parents[2]
IDENTITY = [["User-Name", "alice"], ["Acct-Session-Id", "81a00001"], ["Framed-IP-Address", "10.0.0.7"],
            ["NAS-IP-Address", "127.0.0.1"]]


def run_client(nas: FreeRadiusNas, requests: list[dict[str, Any]], timeout: float = 30.0,
               **client: Any) -> dict[str, Any]:
    """Run tests/enforcement/coa_run.py with requests to ``nas`` (defaults: its address and secret)."""
    spec = {"client": client,
            "requests": [{"host": nas.host, "port": nas.port, "secret": nas.secret, **r} for r in requests]}
    p = subprocess.run([sys.executable, "-m", "tests.enforcement.coa_run"], input=json.dumps(spec),
                       capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout + p.stderr
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def test_disconnect_acked_and_seen(freeradius_nas: FreeRadiusNas) -> None:
    """A Disconnect-Request is ACK'd and FreeRADIUS saw its session identity and a Message-Authenticator."""
    out = run_client(freeradius_nas, [{"kind": "disconnect", "attrs": IDENTITY}])
    (r,) = out["results"]
    assert (r["outcome"], r["attempts"], r["reply_code"]) == ("ack", 1, 41)
    assert 0 <= r["rtt"] < 2
    (seen,) = freeradius_nas.received()
    assert seen["code"] == "Disconnect-Request"
    assert (seen["User-Name"], seen["Acct-Session-Id"], seen["Framed-IP-Address"], seen["NAS-IP-Address"]) == \
        ("alice", "81a00001", "10.0.0.7", "127.0.0.1")
    assert seen["Message-Authenticator"] and seen["answer"] == "ack"
    assert seen["id"] == r["reply_id"]
    assert seen["src"] == ("127.0.0.1", out["port"])
    assert out["stats"]["aaad_dynauth_results_total"] == {"disconnect_ack": 1}


def test_coa_rate_limit_seen(freeradius_nas: FreeRadiusNas) -> None:
    """A CoA-Request's Mikrotik-Rate-Limit (vendor 14988) reaches the NAS intact."""
    out = run_client(freeradius_nas, [{"kind": "coa", "attrs": IDENTITY[:2] + [["Mikrotik-Rate-Limit", "5M/5M"]]}])
    (r,) = out["results"]
    assert (r["outcome"], r["reply_code"]) == ("ack", 44)
    (seen,) = freeradius_nas.received()
    assert seen["code"] == "CoA-Request"
    assert seen["Mikrotik-Rate-Limit"] == "5M/5M"
    assert seen["User-Name"] == "alice" and seen["Framed-IP-Address"] is None


def test_naks_decoded(freeradius_nas: FreeRadiusNas) -> None:
    """NAKs from the NAS come back with their Error-Cause: 503 Session Context Not Found, 404, 506."""
    out = run_client(freeradius_nas, [
        {"kind": "disconnect", "attrs": [["User-Name", "gone"], ["Acct-Session-Id", "1"]]},
        {"kind": "coa", "attrs": [["User-Name", "invalid"], ["Mikrotik-Rate-Limit", "1M/1M"]]},
        {"kind": "disconnect", "attrs": [["User-Name", "busy"]]},
    ])
    got = [(r["outcome"], r["error_cause"], r["error_text"], r["reply_code"]) for r in out["results"]]
    assert got == [("nak", 503, "Session Context Not Found", 42),
                   ("nak", 404, "Invalid Request", 45),
                   ("nak", 506, "Resources Unavailable", 42)]
    assert sorted(s["answer"] for s in freeradius_nas.received()) == ["nak"] * 3


def test_no_answer_times_out_after_retransmissions(freeradius_nas: FreeRadiusNas) -> None:
    """A NAS that never answers: 3 sends of the same packet (id, authenticator, port), then timeout."""
    # max_time leaves room for a busy machine: the third send is due at 0.6 s, the bound only stops waiting
    out = run_client(freeradius_nas, [{"kind": "disconnect", "attrs": [["User-Name", "quiet"]]}],
                     initial_timeout=0.2, max_attempts=3, max_time=6.0)
    (r,) = out["results"]
    assert (r["outcome"], r["attempts"], r["rtt"]) == ("timeout", 3, None)
    seen = freeradius_nas.wait_received(3)
    assert len(seen) == 3
    assert {(s["id"], s["authenticator"], s["src"]) for s in seen} == {(seen[0]["id"], seen[0]["authenticator"],
                                                                        seen[0]["src"])}
    times = sorted(s["time"] for s in seen)
    # back-off: retransmissions due 0.2 s and 0.6 s after the first send (a busy machine only delays them)
    assert times[1] - times[0] > 0.18 and times[2] - times[0] > 0.58
    assert out["stats"]["aaad_dynauth_sent_total"] == {"first": 1, "retransmission": 2}


def test_wrong_secret_dropped_by_nas(freeradius_nas: FreeRadiusNas) -> None:
    """Signed with the wrong secret, the request is dropped by FreeRADIUS unanswered: timeout."""
    out = run_client(freeradius_nas, [{"kind": "disconnect", "secret": "not-the-secret",
                                       "attrs": [["User-Name", "alice"]]}],
                     initial_timeout=0.2, max_attempts=2, max_time=1.0)
    (r,) = out["results"]
    assert (r["outcome"], r["attempts"]) == ("timeout", 2)
    assert freeradius_nas.received() == []
    assert "Shared secret is incorrect" in freeradius_nas.log_text()


def test_more_than_256_in_flight_to_one_nas(freeradius_nas: FreeRadiusNas) -> None:
    """300 requests at once to one NAS: ids queue past 256 and every one is ACK'd exactly once."""
    reqs = [{"kind": "disconnect", "attrs": [["User-Name", f"u{i}"], ["Acct-Session-Id", str(i)]]}
            for i in range(300)]
    out = run_client(freeradius_nas, reqs)
    assert [r["outcome"] for r in out["results"]] == ["ack"] * 300
    seen = freeradius_nas.wait_received(300)
    assert {s["User-Name"] for s in seen} == {f"u{i}" for i in range(300)}
    assert len(seen) == 300 + out["stats"]["aaad_dynauth_sent_total"].get("retransmission", 0)
    assert out["stats"]["aaad_dynauth_queued_total"] == {"": 44}


def test_radclient_cross_check(freeradius_nas: FreeRadiusNas) -> None:
    """radclient's Disconnect-Request gets an ACK from the fixture and is recorded, and 'gone' a NAK 503."""
    p = freeradius_nas.radclient("disconnect", [("User-Name", '"bob"'), ("Acct-Session-Id", '"s-1"'),
                                                ("Framed-IP-Address", "10.0.0.9")])
    assert "Received Disconnect-ACK" in p.stdout, p.stdout + p.stderr
    p = freeradius_nas.radclient("disconnect", [("User-Name", '"gone"')])
    assert "Received Disconnect-NAK" in p.stdout and "Session-Context-Not-Found" in p.stdout
    seen = freeradius_nas.received()
    assert [(s["User-Name"], s["answer"]) for s in seen] == [("bob", "ack"), ("gone", "nak")]
    assert seen[0]["Framed-IP-Address"] == "10.0.0.9" and seen[0]["Acct-Session-Id"] == "s-1"


def test_factory_behaviour_by_kind(freeradius_nas_factory: Any) -> None:
    """coa_naks NAK only CoA-Requests (the plan-change fallback case); other secrets are honoured."""
    nas = freeradius_nas_factory(secret="s3cret-2", coa_naks={"carol": 404})
    out = run_client(nas, [{"kind": "coa", "attrs": [["User-Name", "carol"]]},
                           {"kind": "disconnect", "attrs": [["User-Name", "carol"]]}])
    assert [(r["outcome"], r["error_cause"]) for r in out["results"]] == [("nak", 404), ("ack", None)]
