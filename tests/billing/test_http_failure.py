"""The reason an outgoing HTTP exchange failed, as the SMS and payment gateways' errors say it."""
from __future__ import annotations

from twisted.internet import defer
from twisted.internet.error import ConnectionLost, ConnectionRefusedError, DNSLookupError
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed

from billing.http_failure import describe


def test_each_kind_of_failure_has_its_reason() -> None:
    assert describe(defer.CancelledError(), 10) == "no answer within 10 s"
    assert describe(defer.TimeoutError(), 2.5) == "no answer within 2.5 s"
    cancelled = ResponseFailed([Failure(defer.CancelledError())])
    assert describe(cancelled, 10) == "no answer within 10 s"  # the timeout cancelled it mid-answer
    lost = ResponseFailed([Failure(ConnectionLost("reset by peer"))])
    assert describe(lost, 10).startswith("connection lost before a complete answer (ConnectionLost: ")
    assert "reset by peer" in describe(lost, 10)
    assert describe(DNSLookupError("sms.example"), 10).startswith("DNS lookup failed (")
    assert describe(ConnectionRefusedError(), 10).startswith("cannot connect (ConnectionRefusedError: ")
    assert describe(ValueError("odd"), 10) == "ValueError: odd"
