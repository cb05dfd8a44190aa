#!/bin/sh
# Auth server benchmark: 100,000 logins, the daemon pinned to CPU 0, radload to CPU 1,
# PAP and MS-CHAPv2 closed loop and PAP open loop at 10,000/s, 10 s each (about 1 minute).
# Extra arguments go to bench/bench_auth.py (e.g. --duration 5, --py-spy /tmp/flame, --json).
set -eu
cd "$(dirname "$0")/.."
exec timeout 600 .venv/bin/python bench/bench_auth.py "$@"
