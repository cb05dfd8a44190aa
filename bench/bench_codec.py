"""Micro-benchmark of the hot-path codec: decodes/s and encode_reply/s.

Run: ``python bench/bench_codec.py [seconds]``. Figures, not a test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aaad.radius import codec  # noqa: E402

SECRET = b"testing123"


def typical_access_request() -> bytes:
    """A MikroTik PPPoE Access-Request as RouterOS sends it."""
    auth = bytes(range(16))
    attrs = b"".join([
        codec.encode_attr(codec.USER_NAME, b"customer0042@isp"),
        codec.encode_attr(codec.USER_PASSWORD, codec.pap_hide(b"s3cretpass", SECRET, auth)),
        codec.encode_int(codec.NAS_PORT_TYPE, 15),
        codec.encode_attr(codec.CALLING_STATION_ID, b"4C:5E:0C:11:22:33"),
        codec.encode_attr(codec.CALLED_STATION_ID, b"pppoe-service1"),
        codec.encode_attr(codec.NAS_PORT_ID, b"vlan120-ether2"),
        codec.encode_attr(codec.NAS_IDENTIFIER, b"core-router-01"),
        codec.encode_attr(codec.NAS_IP_ADDRESS, bytes((10, 0, 0, 1))),
        codec.encode_int(codec.SERVICE_TYPE, 2),
        codec.encode_int(codec.FRAMED_PROTOCOL, 1),
    ])
    return codec.encode_request(codec.ACCESS_REQUEST, 7, attrs, SECRET, authenticator=auth)


def accept_attrs() -> bytes:
    """Four pre-encoded Access-Accept attributes."""
    return b"".join([
        codec.encode_vsa(codec.VENDOR_MIKROTIK, 8, b"10M/20M"),
        codec.encode_int(codec.SESSION_TIMEOUT, 86400),
        codec.encode_int(codec.ACCT_INTERIM_INTERVAL, 300),
        codec.encode_attr(codec.FRAMED_POOL, b"pool-residential"),
    ])


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn, measured over about ``seconds``."""
    batch = 10_000
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def main(argv: list[str]) -> None:
    """Print the rates."""
    seconds = float(argv[1]) if len(argv) > 1 else 2.0
    request = typical_access_request()
    decode = codec.decode
    verify = codec.verify_message_authenticator
    packet = decode(request)
    assert verify(packet, SECRET)
    attrs = accept_attrs()
    encode_reply = codec.encode_reply
    auth = packet.authenticator

    hidden = packet.get(codec.USER_PASSWORD) or b""
    pap_unhide = codec.pap_unhide

    print(f"implementation: {codec.IMPLEMENTATION} (AAAD_PURE_PYTHON=1 selects the Python one)")
    print(f"request: {len(request)} octets, {len(packet.attrs)} attributes")
    print(f"decode:               {rate(lambda: decode(request), seconds):>12,.0f} /s")
    print(f"decode + verify MA:   {rate(lambda: verify(decode(request), SECRET), seconds):>12,.0f} /s")
    print(f"encode_reply (4 attrs, MA): "
          f"{rate(lambda: encode_reply(2, 7, auth, attrs, SECRET), seconds):>12,.0f} /s")
    print(f"pap_unhide:           {rate(lambda: pap_unhide(hidden, SECRET, auth), seconds):>12,.0f} /s")


if __name__ == "__main__":
    main(sys.argv)
