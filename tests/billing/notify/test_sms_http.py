"""The SMS/WhatsApp channels over real HTTP (treq on a real reactor, in a subprocess) against the threaded fakes."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fake_sms import FakeGateway, FakeTwilio

ROOT = Path(__file__).resolve().parents[3]
TEXT = "Olá Ama, your bill of GH₵ 120.00 is due on 3 Dec."      # ₵ is not GSM-7: UCS-2 on the air


def run_jobs(*jobs: dict[str, Any], parallel: bool = False, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run tests/billing/notify/sms_run.py with ``jobs``; each job's outcome."""
    spec = json.dumps({"jobs": jobs, "parallel": parallel})
    p = subprocess.run([sys.executable, "-m", "tests.billing.notify.sms_run"], input=spec,
                       capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    assert p.returncode == 0, p.stdout + p.stderr
    out: list[dict[str, Any]] = json.loads(p.stdout.strip().splitlines()[-1])["jobs"]
    return out


def twilio_job(tw: FakeTwilio, messages: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    settings, secrets = tw.channel_settings(**over.pop("settings", {}))
    if "auth_token" in over:
        secrets = {"auth_token": over.pop("auth_token")}
    return {"settings": settings, "secrets": secrets, "messages": messages, "timeout": 2.0, **over}


def test_twilio_over_http() -> None:
    """Twilio: the documented request on the wire; 400/401 final with Twilio's code; 500, 429, a dropped
    connection and no answer retryable; the same outbox row twice is one Twilio message; WhatsApp prefixed."""
    with FakeTwilio() as tw:
        tw.callback_statuses = []
        tw.modes.extend(["ok", "ok", "500", "429", "drop", "silent"])
        to = "+233540000001"
        sms, bad_auth, wa = run_jobs(
            twilio_job(tw, [{"to": to, "text": TEXT, "message_id": 1}, {"to": "+1", "text": "x"},
                            {"to": to, "text": "a"}, {"to": to, "text": "b"}, {"to": to, "text": "c"},
                            {"to": to, "text": "d", "message_id": 1}, {"to": to, "text": TEXT, "message_id": 1}],
                       timeout=1.0),
            twilio_job(tw, [{"to": to, "text": "x"}], auth_token="wrong"),
            twilio_job(tw, [{"to": to, "text": "Karibu 👋"}], channel="whatsapp"))
        ok, invalid, e500, e429, dropped, silent, again = sms["results"]
        assert ok["provider_id"].startswith("SM") and len(ok["provider_id"]) == 34 and ok["detail"] == "HTTP 201 queued"
        assert invalid["retryable"] is False and "21211" in invalid["error"] and "Invalid 'To'" in invalid["error"]
        assert e500["retryable"] and "HTTP 500" in e500["error"]
        assert e429["retryable"] and "HTTP 429" in e429["error"] and "retry after 7 s" in e429["error"]
        assert dropped["retryable"] and "connection" in dropped["error"], dropped
        assert silent["retryable"] and "no answer within 1 s" in silent["error"] and 0.9 < silent["elapsed"] < 3
        assert again["provider_id"] == ok["provider_id"]          # the idempotency token of message 1 again
        assert bad_auth["results"][0]["retryable"] is False and "20003" in bad_auth["results"][0]["error"]
        assert wa["results"][0]["provider_id"].startswith("SM")

        first = tw.requests()[0]
        assert first.method == "POST" and first.path == f"/2010-04-01/Accounts/{tw.account_sid}/Messages.json"
        assert first.headers["authorization"] == \
            "Basic " + base64.b64encode(f"{tw.account_sid}:{tw.auth_token}".encode()).decode()
        assert first.headers["content-type"] == "application/x-www-form-urlencoded"
        assert first.headers["i-twilio-idempotency-token"] == "aaad-sms-1-1"
        assert first.form == {"To": [to], "From": ["+15005550006"], "Body": [TEXT]}
        assert "Body=Ol%C3%A1+Ama" in first.body.decode("ascii")        # UTF-8, percent-encoded
        msg = tw.messages[ok["provider_id"]]
        assert (msg["body"], msg["num_segments"], msg["status"]) == (TEXT, "1", "queued")
        wa_req = tw.requests()[-1]
        assert (wa_req.one("To"), wa_req.one("From"), wa_req.one("Body")) == \
            (f"whatsapp:{to}", "whatsapp:+14155238886", "Karibu 👋")
        assert len(tw.messages) == 2


CONTENT_SID = "HX" + "b5" * 16
APPROVED = "Hello {{1}}, invoice {{2}} for {{3}} is due on {{4}}. Pay: {{5}}"


def test_whatsapp_content_template_over_http() -> None:
    """A kind with a WhatsApp Content template goes as ContentSid and ContentVariables (its placeholders
    rendered from the message's variables; an empty one as "-"), not Body, and Twilio fills the
    approved text in; a kind without one still goes as Body."""
    from billing.notify import kinds
    sample = kinds.get("invoice.issued").sample_vars()
    sample["customer"]["first_name"] = ""
    content = {"invoice.issued": {"content_sid": CONTENT_SID, "variables": {
        "1": "{{ customer.first_name }}", "2": "{{ invoice.number }}", "3": "{{ invoice.total }}",
        "4": "{{ invoice.due_date }}", "5": "{{ portal_url }}"}}}
    with FakeTwilio() as tw:
        tw.callback_statuses = []
        tw.content[CONTENT_SID] = APPROVED
        to = "+233540000001"
        [job] = run_jobs(twilio_job(tw, [
            {"to": to, "text": "the rendered text", "kind": "invoice.issued", "variables": sample},
            {"to": to, "text": "Karibu", "kind": "customer.welcome", "variables": sample}],
            channel="whatsapp", settings={"whatsapp_templates": content}))
        templated, plain = job["results"]
        assert templated["provider_id"].startswith("SM") and plain["provider_id"].startswith("SM"), job
        first, second = tw.requests()
        assert "Body" not in first.form and first.one("ContentSid") == CONTENT_SID
        assert json.loads(first.one("ContentVariables")) == {
            "1": "-", "2": "INV-000123", "3": "GH₵120.00", "4": "Dec 14, 2026", "5": "https://isp.example/demo/portal"}
        assert tw.messages[templated["provider_id"]]["body"] == \
            "Hello -, invoice INV-000123 for GH₵120.00 is due on Dec 14, 2026. Pay: https://isp.example/demo/portal"
        assert second.one("Body") == "Karibu" and "ContentSid" not in second.form


def test_slow_gateway_does_not_stall_the_others() -> None:
    """While sends wait on a slow gateway, other sends complete at once; the slow ones time out, retryable."""
    with FakeTwilio() as tw, FakeGateway() as slow:
        tw.callback_statuses = []
        slow.delay = 10.0          # answers, but long after the timeout
        to = "+233540000001"
        settings, secrets = slow.channel_settings()
        slow_job = {"settings": settings, "secrets": secrets,
                    "messages": [{"to": to, "text": "slow 1"}, {"to": to, "text": "slow 2"}],
                    "concurrent": True, "timeout": 1.5}
        fast_job = twilio_job(tw, [{"to": to, "text": "fast 1"}, {"to": to, "text": "fast 2"}])
        out = run_jobs(slow_job, fast_job, parallel=True)
        slow_results, fast_results = out[0]["results"], out[1]["results"]
        assert all(r["retryable"] and "no answer within 1.5 s" in r["error"] for r in slow_results)
        assert all(r["elapsed"] < 3 for r in slow_results)      # both waited together, not one after the other
        assert all(r["provider_id"].startswith("SM") and r["elapsed"] < 0.5 for r in fast_results), fast_results
        assert len(slow.requests()) == 2


def test_generic_gateway_over_http() -> None:
    """The generic gateway: POST form with basic auth, GET with a query key, POST JSON with a bearer token and a
    header key; the success rule and id path; a refusal, a 400, bad credentials; the balance check."""
    to = "+233540000001"
    with FakeGateway(auth=("basic", "isp", "s3cret")) as basic, FakeGateway(auth=("query", "key", "k1")) as query, \
            FakeGateway(auth=("bearer", "t0k")) as bearer, FakeGateway(auth=("header", "X-Api-Key", "k2")) as header:
        basic.reply = {"status": "ok", "data": {"messageId": "{id}"}}
        basic.modes.extend(["ok", "refuse", "400", "no-length"])
        basic.error_message = "insufficient credit"
        query.balance = "17.25"
        header.balance = 3
        rule = {"success_path": "status", "success_value": "ok"}
        jobs: list[dict[str, Any]] = [
            {"settings": {"provider": "generic", "url": basic.url + "/api/send", "sender": "AcmeNet",
                          "params": {"to": "{to_digits}", "msg": "{text}", "from": "{sender}"}, "auth": "basic",
                          "auth_username": "isp", "id_path": "data.messageId", **rule},
             "secrets": {"password": "s3cret"},
             "messages": [{"to": to, "text": TEXT}, {"to": to, "text": "b"}, {"to": to, "text": "c"},
                          {"to": to, "text": "d"}]},
            {"settings": {"provider": "generic", "url": query.url + "/cgi-bin/sendsms?smsc=mtn", "method": "GET",
                          "params": {"to": "{to_local}", "text": "{text}"}, "auth": "query", "auth_name": "key",
                          "id_path": "id", "balance_url": query.url + "/balance", "balance_path": "balance.amount"},
             "secrets": {"api_key": "k1"}, "messages": [{"to": to, "text": TEXT}], "balance": True},
            {"settings": {"provider": "generic", "url": bearer.url + "/v1/sms", "body": "json",
                          "params": {"recipient": "{to}", "message": "{text}", "ref": "{message_id}"},
                          "auth": "bearer", "id_path": "id", **rule},
             "secrets": {"token": "t0k"}, "messages": [{"to": to, "text": TEXT, "message_id": 55}]},
            {"settings": {"provider": "generic", "url": header.url + "/send", "params": {"to": "{to}", "m": "{text}"},
                          "auth": "header", "auth_name": "X-Api-Key", "balance_url": header.url + "/balance",
                          "balance_path": "balance.amount", "balance_threshold": 5},
             "secrets": {"api_key": "wrong"}, "messages": [{"to": to, "text": "x"}], "balance": True},
        ]
        b, q, j, h = run_jobs(*jobs)
        assert b["results"][0]["provider_id"] == "gw-1"
        assert not b["results"][1]["retryable"] and "status is error, not ok" in b["results"][1]["error"]
        assert "insufficient credit" in b["results"][1]["error"]
        assert not b["results"][2]["retryable"] and "HTTP 400" in b["results"][2]["error"]
        assert b["results"][3]["provider_id"] == "gw-2"       # no Content-Length: the body ends at the close
        assert q["results"][0]["provider_id"] == "gw-1" and q["balance"] == 17.25
        assert j["results"][0]["provider_id"] == "gw-1"
        assert not h["results"][0]["retryable"] and "HTTP 401" in h["results"][0]["error"]
        assert "HTTP 401" in h["balance"]["error"]

        sent = basic.requests()[0]
        assert (sent.method, sent.path, sent.headers["content-type"]) == \
            ("POST", "/api/send", "application/x-www-form-urlencoded")
        assert sent.form == {"to": ["233540000001"], "msg": [TEXT], "from": ["AcmeNet"]}
        got = query.requests()
        assert got[0].method == "GET" and got[0].path == "/cgi-bin/sendsms"
        assert got[0].query == {"smsc": ["mtn"], "to": ["0540000001"], "text": [TEXT], "key": ["k1"]}
        assert (got[1].path, got[1].query) == ("/balance", {"key": ["k1"]})
        js = bearer.requests()[0]
        assert js.headers["content-type"].startswith("application/json")
        assert js.json == {"recipient": to, "message": TEXT, "ref": "55"}
