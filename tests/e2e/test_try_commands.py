"""`make run`'s promise: every command scripts/start-demo.sh prints works right there.

The script is run as `make run` runs it (after `aaad db upgrade` and `aaad demo`), on a
private config with free ports; the commands it prints under "Try:" are then run one by one
in one bash session, in order, as a user pasting them would.  A command "works" when it ran
(no 'command not found', no traceback, no usage error) and exited as it should: 0, or 1 for
the RADIUS clients whose request is meant to be rejected.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[2]
# Commands that wait for a router the demo does not have (8 s timeouts each): run elsewhere.
SLOW = ("disconnect alice",)


def printed_commands(output: str) -> list[str]:
    """The commands between 'Try:' and 'In a browser', continuation lines joined, comments cut."""
    body = output.split("Try:", 1)[1].split("In a browser", 1)[0]
    cmds: list[str] = []
    pending = ""
    for line in body.splitlines():
        if not line.startswith("  "):
            continue
        text = pending + line.strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        text = re.sub(r"\s+#\s.*$", "", text)      # a trailing comment (after at least one space)
        cmds.append(text)
    return cmds


@pytest.mark.skipif(not os.access("/usr/bin/radtest", os.X_OK), reason="needs freeradius-utils (make test)")
def test_every_printed_command_works(tmp_path: Path) -> None:
    """Run start-demo.sh, then each printed command in order: none fails, none is unknown."""
    data = tmp_path / "demo"
    data.mkdir()
    conf = data / "aaad.toml"
    write_config(conf, data)
    aaad = [sys.executable, "-m", "aaad", "-c", str(conf)]
    for args in (["db", "upgrade"], ["demo"]):
        r = subprocess.run(aaad + args, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
    # start-demo.sh runs "$AAAD -c $CONF ..." and prints that long form (no wrapper for this config).
    shim = tmp_path / "aaad"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m aaad \"$@\"\n")
    shim.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(["bash", "scripts/start-demo.sh", str(shim), str(conf), str(data)], capture_output=True,
                       text=True, timeout=120, cwd=ROOT, env=env)
    pid = int((data / "aaad.pid").read_text())
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        cmds = [c for c in printed_commands(r.stdout) if not any(s in c for s in SLOW)]
        assert len(cmds) > 30, r.stdout
        ready = json.loads((data / "ready.json").read_text())
        assert f"127.0.0.1:{ready['auth']}" in r.stdout
        script = ["set -o pipefail"]
        for i, c in enumerate(cmds):
            # RADIUS clients exit 1 on Access-Reject; dave (disabled) is meant to be rejected.
            allowed = "0|1" if c.startswith(("radtest", "printf")) else "0"
            script.append(f"echo '### {i}'; {{ {c} ; }} > try.out 2>&1; rc=$?; cat try.out; "
                          f"case $rc in {allowed}) ;; *) echo \"### FAILED {i} rc=$rc\";; esac")
        run = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=600,
                             cwd=tmp_path, env=env)
        out = run.stdout + run.stderr
        failed = re.findall(r"### FAILED (\d+) rc=(\d+)", out)
        assert not failed, "\n".join(f"{cmds[int(i)]} -> rc {rc}" for i, rc in failed) + "\n" + out[-4000:]
        assert "command not found" not in out and "Traceback" not in out, out[-4000:]
        assert "aaad: error" not in out, out[-4000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
