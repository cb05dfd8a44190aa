"""Why an outgoing HTTP exchange failed, in words an admin can act on.

Shared by the clients that talk to outside services over HTTP (the SMS and
WhatsApp gateways, the payment gateways); their errors carry this text to the
logs, the outbox and the API, never to a customer (the portal says only that
the service did not answer).
"""
from __future__ import annotations

from twisted.internet import defer
from twisted.internet.error import ConnectError, ConnectionClosed, DNSLookupError
from twisted.python.failure import Failure


def describe(err: BaseException, timeout: float) -> str:
    """A short reason for a failed exchange: no answer within ``timeout``, the connection lost
    before a complete answer (with what lost it), a failed DNS lookup, no connection, or the
    exception itself."""
    from twisted.web.client import ResponseFailed  # not at the top: 0.1 s for every CLI command
    if isinstance(err, defer.CancelledError | defer.TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(err, ResponseFailed):
        reasons = [r.value for r in err.reasons if isinstance(r, Failure)]
        if any(isinstance(r, defer.CancelledError) for r in reasons):
            return f"no answer within {timeout:g} s"
        inner = "; ".join(f"{type(r).__name__}: {r}" for r in reasons) or type(err).__name__
        return f"connection lost before a complete answer ({inner})"
    if isinstance(err, DNSLookupError):
        return f"DNS lookup failed ({err})"
    if isinstance(err, ConnectError | ConnectionClosed):
        return f"cannot connect ({type(err).__name__}: {err})"
    return f"{type(err).__name__}: {err}"
