"""Start-up's objects are frozen out of the cycle collector's reach (``App.freeze_startup_objects``).

A full collection walks every tracked object outside the frozen generation while it holds the
GIL, so whatever start-up builds after the freeze is walked again on every full collection for
the daemon's whole life.  The web app's routes and OpenAPI schemas (about 50,000 objects) once
were: each full collection then paused RADIUS for 25-50 ms, a few times a minute under load.

The daemon is started for real in a child process (its own collector state, real sockets, a
SQLite database), which prints what the collector sees right after ``App.start()``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_config

PROBE = r"""
import gc, json, sys
from twisted.internet import reactor
from aaad import app
conf = app.load_config(sys.argv[1])
a = app.App(conf, reactor)
out = {}

def go():
    a.start()
    out.update(outside=len(gc.get_objects()), frozen=gc.get_freeze_count(), threshold=gc.get_threshold())
    a.stop().addBoth(lambda _: reactor.stop())

reactor.callWhenRunning(go)
reactor.run()
print(json.dumps(out))
"""


def test_start_up_objects_are_frozen(tmp_path: Path) -> None:
    conf = tmp_path / "aaad.toml"
    write_config(conf, tmp_path / "data")
    r = subprocess.run([sys.executable, "-c", PROBE, str(conf)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    # Everything start-up built is frozen: the modules, the view, the web app, every component.
    assert got["frozen"] > 100_000
    # What a full collection walks right after start-up is a small remainder (the start-up log
    # lines and the first timers), not the web app: it was 41,821 objects before.
    assert got["outside"] < 5_000, got
    assert tuple(got["threshold"]) == (700, 10, 10)
