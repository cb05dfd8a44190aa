#!/usr/bin/env python3
"""nullserver — the smallest RADIUS responder, to measure radload's own ceiling.

Answers every Access-Request with an Access-Accept that carries a valid
Message-Authenticator as its first attribute and a valid Response
Authenticator, and every Accounting-Request with an Accounting-Response.
It does not look users up, so it costs little more than the two hashes per
reply.  With ``--mschap-users N`` it also answers MS-CHAPv2 requests with the
MS-CHAP2-Success authenticator response (RFC 2759 §8.7) for users named by
``--user-format`` / ``--password-format`` (cached per challenge).

``--verify`` checks each request's Message-Authenticator (and the Accounting
Request Authenticator) and silently drops failures, counting them.

    taskset -c 0 python bench/nullserver.py --port 18120 --secret S

It stops after ``--max-seconds`` (default 3600) or on SIGINT/SIGTERM and
prints its counters to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import socket
import struct
import sys
import time

from radload import (  # same directory: bench/ is sys.path[0] when run as a script
    MS_CHAP2_RESPONSE,
    MS_CHAP2_SUCCESS,
    VENDOR_MICROSOFT,
    HmacMd5,
    find_ms_vsa,
    mschapv2_authenticator_response,
    parse_attrs,
    vsa,
)

MA_ZERO = b"\x50\x12" + bytes(16)
ZERO16 = bytes(16)


class _Stop(Exception):
    """Raised from the signal handlers to leave the receive loop."""


def _stop(_signum: int, _frame: object) -> None:
    """Signal handler: leave the receive loop."""
    raise _Stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until stopped; print counters."""
    p = argparse.ArgumentParser(description="Null RADIUS server: accepts everything, correctly signed.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18120, help="UDP port (auth and acct on the same port)")
    p.add_argument("--secret", default="testing123")
    p.add_argument("--max-seconds", type=int, default=3600, help="exit after this many seconds")
    p.add_argument("--verify", action="store_true", help="verify request authenticators; drop failures")
    p.add_argument("--mschap-users", type=int, default=0,
                   help="answer MS-CHAPv2 with MS-CHAP2-Success for this many users (0: plain Accept)")
    p.add_argument("--user-format", default="user%06d")
    p.add_argument("--password-format", default="pass%06d")
    o = p.parse_args(argv)

    secret = o.secret.encode()
    hm = HmacMd5(secret)
    md5 = hashlib.md5
    pack_hdr = struct.Struct(">BBH").pack
    passwords = {(o.user_format % i).encode(): o.password_format % i for i in range(o.mschap_users)}
    ms_cache: dict[bytes, bytes] = {}
    verify = o.verify
    mschap = bool(passwords)
    # marker of a MS-CHAP2-Response VSA: type 26, len 58, vendor 311, vtype 25, vlen 52
    ms_marker = b"\x1a\x3a\x00\x00\x01\x37\x19\x34"

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for force, opt in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
        try:
            s.setsockopt(socket.SOL_SOCKET, force, 8 << 20)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
    s.bind((o.bind, o.port))
    print(f"nullserver listening on {o.bind}:{s.getsockname()[1]}", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGALRM, _stop)
    signal.alarm(max(1, o.max_seconds))

    recvfrom = s.recvfrom
    sendto = s.sendto
    n_auth = n_acct = n_drop = 0
    t0 = time.monotonic()
    accept_hdr = [pack_hdr(2, i, 38) for i in range(256)]
    acct_hdr = [pack_hdr(5, i, 20) for i in range(256)]

    def mschap_success(data: bytes) -> bytes | None:
        """The MS-CHAP2-Success VSA for this request, or None if not computable."""
        attrs = parse_attrs(data)
        if attrs is None:
            return None
        name = next((data[off:off - 2 + data[off - 1]] for t, off in attrs if t == 1), None)
        resp = find_ms_vsa(data, attrs, MS_CHAP2_RESPONSE)
        chal = find_ms_vsa(data, attrs, 11)
        if name is None or resp is None or chal is None or len(resp) != 50 or name not in passwords:
            return None
        key = name + chal + resp
        v = ms_cache.get(key)
        if v is None:
            s_str = mschapv2_authenticator_response(passwords[name], resp[26:50], resp[2:18], chal, name)
            v = vsa(VENDOR_MICROSOFT, MS_CHAP2_SUCCESS, resp[:1] + s_str)
            if len(ms_cache) < 1_000_000:
                ms_cache[key] = v
        return v

    try:
        while True:  # bounded by SIGALRM after --max-seconds
            data, addr = recvfrom(8192)
            if len(data) < 20:
                n_drop += 1
                continue
            code = data[0]
            if code == 1:
                ra = data[4:20]
                # Message-Authenticator must be present and valid (Blast-RADIUS rules):
                # first as the first attribute, else wherever it is.
                if verify and (data[20] != 0x50 or data[21] != 18
                               or hm(data[:22] + ZERO16 + data[38:]) != data[22:38]):
                    i = data.find(b"\x50\x12", 20)
                    if i < 0 or hm(data[:i + 2] + ZERO16 + data[i + 18:]) != data[i + 2:i + 18]:
                        n_drop += 1
                        continue
                if mschap and ms_marker in data:
                    extra = mschap_success(data)
                    if extra is None:
                        n_drop += 1
                        continue
                    hdr = pack_hdr(2, data[1], 38 + len(extra))
                    body = b"\x50\x12" + hm(hdr + ra + MA_ZERO + extra) + extra
                else:
                    hdr = accept_hdr[data[1]]
                    body = b"\x50\x12" + hm(hdr + ra + MA_ZERO)
                sendto(hdr + md5(hdr + ra + body + secret).digest() + body, addr)
                n_auth += 1
            elif code == 4:
                ra = data[4:20]
                if verify and md5(data[:4] + ZERO16 + data[20:] + secret).digest() != ra:
                    n_drop += 1
                    continue
                hdr = acct_hdr[data[1]]
                sendto(hdr + md5(hdr + ra + secret).digest(), addr)
                n_acct += 1
            else:
                n_drop += 1
    except _Stop:
        pass
    dt = time.monotonic() - t0
    print(f"nullserver: {n_auth} accepts, {n_acct} accounting-responses, {n_drop} dropped in {dt:.1f}s",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
