#!/usr/bin/env python3
"""radblast.py — builds and drives ``bench/radblast.c``, the C RADIUS load generator and null server.

``radblast`` sends the same requests as ``radload.py`` and verifies every reply the same way,
at a fraction of the CPU per request, so that a benchmark measures the server and not the
generator.  This module is what scripts use:

- :func:`ensure_built` compiles ``build/radblast`` with gcc if it is missing or older than
  the source (the same flags as ``make radblast``);
- :func:`run` runs ``radblast client`` and returns its JSON summary (the keys of radload's);
- :func:`table_for` writes (once, cached under ``build/``) the per-user MS-CHAPv2 table that
  the C client and null server read: MS-CHAP-Challenge and MS-CHAP2-Response attributes and
  the expected MS-CHAP2-Success, computed with radload's own RFC 2759 encoders, so that the C
  code needs no MD4, DES or SHA-1;
- :class:`NullServer` starts ``radblast null`` and reads the port it bound.

    from radblast import run, NullServer
    with NullServer(cpu=0) as null:
        print(run(port=null.port, mode="pap", duration=5, inflight=64, cpu=1)["ok_per_s"])

Run as a script it passes its arguments to the binary after building it:
``python bench/radblast.py client --port 1812 --mode mschapv2 ...`` (writing the table first
when mschapv2 is asked for without ``--table``).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SOURCE = BENCH / "radblast.c"
BINARY = ROOT / "build" / "radblast"
TABLES = ROOT / "build" / "radblast-tables"
# Keep in step with the Makefile's RADBLAST_CFLAGS.
CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra"]


def ensure_built(binary: Path = BINARY, source: Path = SOURCE) -> Path:
    """Compile *source* into *binary* if it is missing or older than the source; return its path."""
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("radblast: no C compiler (gcc) found; `make venv-test` installs it")
    binary.parent.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(f".{binary.name}.{os.getpid()}.tmp")
    r = subprocess.run([cc, *CFLAGS, "-o", str(tmp), str(source)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"radblast: {cc} failed:\n{r.stderr}")
    os.replace(tmp, binary)  # atomic: a concurrent build or run never sees half a binary
    return binary


# ---- the MS-CHAPv2 table -----------------------------------------------------------------

def write_table(path: Path, users: int, user_offset: int = 0, user_format: str = "user%06d",
                password_format: str = "pass%06d") -> Path:
    """Write the per-user MS-CHAPv2 table for users user_offset .. user_offset+users-1.

    One line per user: index, User-Name, the credential attributes (MS-CHAP-Challenge and
    MS-CHAP2-Response, vendor 311) and the expected MS-CHAP2-Success value (ident + "S=..."),
    all hex.  Random challenges, computed with radload's RFC 2759 encoders (radload's self-test
    checks them against RFC 2759 §9.2)."""
    sys.path.insert(0, str(BENCH))
    import radload as rl

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        f.write(f"# radblast table v1: mschapv2 users={users} offset={user_offset} "
                f"user_format={user_format} password_format={password_format}\n")
        for u in range(user_offset, user_offset + users):
            name = (user_format % u).encode()
            pw = password_format % u
            ac, pc = os.urandom(16), os.urandom(16)
            ident = u & 0xFF
            nt = rl.mschapv2_nt_response(ac, pc, name, pw)
            resp = bytes((ident, 0)) + pc + bytes(8) + nt
            cred = rl.vsa(rl.VENDOR_MICROSOFT, rl.MS_CHAP_CHALLENGE, ac) + rl.vsa(
                rl.VENDOR_MICROSOFT, rl.MS_CHAP2_RESPONSE, resp)
            expect = bytes((ident,)) + rl.mschapv2_authenticator_response(pw, nt, pc, ac, name)
            f.write(f"{u} {name.hex()} {cred.hex()} {expect.hex()}\n")
    os.replace(tmp, path)
    return path


def table_for(users: int, user_offset: int = 0, user_format: str = "user%06d",
              password_format: str = "pass%06d") -> Path:
    """The cached table for these users (written on first use, under build/radblast-tables/)."""
    key = hashlib.sha256(f"{users}|{user_offset}|{user_format}|{password_format}".encode()).hexdigest()[:16]
    path = TABLES / f"mschapv2-{users}-{key}.tab"
    if not path.exists():
        write_table(path, users, user_offset, user_format, password_format)
    return path


# ---- running the client -------------------------------------------------------------------

def _argv(args: tuple[str, ...], options: dict[str, Any]) -> list[str]:
    """Positional CLI words plus keyword options (inflight=64 -> --inflight 64; True -> a flag)."""
    out = [str(a) for a in args]
    for k, v in options.items():
        if v is None or v is False:
            continue
        opt = "--" + k.replace("_", "-")
        out += [opt] if v is True else [opt, str(v)]
    return out


def _get(argv: list[str], opt: str, default: str) -> str:
    """The value of --opt in argv (``--opt V`` or ``--opt=V``), the last one winning."""
    val = default
    for i, a in enumerate(argv):
        if a == opt and i + 1 < len(argv):
            val = argv[i + 1]
        elif a.startswith(opt + "="):
            val = a[len(opt) + 1:]
    return val


def with_table(argv: list[str]) -> list[str]:
    """argv plus ``--table`` for mschapv2 when it has none (the table for its users)."""
    if _get(argv, "--mode", "pap") != "mschapv2" or any(a == "--table" or a.startswith("--table=") for a in argv):
        return argv
    t = table_for(int(_get(argv, "--users", "1000")), int(_get(argv, "--user-offset", "0")),
                  _get(argv, "--user-format", "user%06d"), _get(argv, "--password-format", "pass%06d"))
    return [*argv, "--table", str(t)]


def run(*args: str, limit: float | None = None, binary: Path | None = None, **options: Any) -> dict[str, Any]:
    """Run ``radblast client`` with these arguments and return its JSON summary.

    Arguments are CLI words (``run("--mode", "pap", "--port", "1812")``) and/or keywords
    (``run(mode="pap", port=1812, inflight=64, no_message_authenticator=True)``).  ``--json``
    and ``--quiet`` are added; so is ``--table`` in mschapv2 mode.  A run whose replies are
    not all ok still returns its summary (its exit status is 1); a usage error raises.  *limit*
    bounds the subprocess in seconds (default: duration + timeout + 60)."""
    argv = with_table(_argv(args, options))
    for flag in ("--json", "--quiet"):
        if flag not in argv:
            argv.append(flag)
    exe = binary or ensure_built()
    if limit is None:
        limit = float(_get(argv, "--duration", "10")) + float(_get(argv, "--timeout", "2")) + 60
    r = subprocess.run([str(exe), "client", *argv], capture_output=True, text=True, timeout=limit)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise RuntimeError(f"radblast client failed ({r.returncode}): {r.stderr.strip()}")
    summary: dict[str, Any] = json.loads(r.stdout)
    return summary


# ---- the null server ---------------------------------------------------------------------

class NullServer:
    """``radblast null`` as a subprocess: answers every request at once, correctly signed.

    ``port=0`` binds a free port (read back from its first line); ``cpu`` pins it with
    ``--cpu``; ``table`` (for mschapv2) makes it answer with the table's MS-CHAP2-Success;
    ``verify`` makes it drop requests whose Message-Authenticator or accounting authenticator
    is wrong.  :meth:`stop` ends it and returns its counters line."""

    def __init__(self, port: int = 0, secret: str = "testing123", bind: str = "127.0.0.1",
                 table: Path | None = None, verify: bool = False, cpu: int | None = None,
                 max_seconds: int = 3600, binary: Path | None = None) -> None:
        """Start it and wait (at most 10 s) for the line that gives its port."""
        cmd = [str(binary or ensure_built()), "null", "--bind", bind, "--port", str(port), "--secret", secret,
               "--max-seconds", str(max_seconds)]
        if table is not None:
            cmd += ["--table", str(table)]
        if verify:
            cmd.append("--verify")
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        ready, _, _ = select.select([self.proc.stderr], [], [], 10)
        line = self.proc.stderr.readline() if ready else ""
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait(5)
            raise RuntimeError(f"radblast null did not start: {line.strip()}")
        self.port = int(line.rsplit(":", 1)[1])
        self.counters = ""

    def stop(self) -> str:
        """SIGTERM, wait, and return its counters line ("N accepts, ... dropped ...")."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        self.counters = (err or "").strip()
        return self.counters

    def __enter__(self) -> NullServer:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """``python bench/radblast.py client|null|selftest ...``: build, add the table if needed, exec."""
    exe = ensure_built()
    if argv and argv[0] in ("client", "null"):
        t0 = time.perf_counter()
        argv = [argv[0], *with_table(argv[1:])]
        if time.perf_counter() - t0 > 1:
            print(f"radblast.py: table written in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    os.execv(str(exe), [str(exe), *argv])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
