"""The test-only fault hook: SIGKILL at the named point, nothing anywhere else."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = ("from aaad.faults import fault_point\n"
          "fault_point('somewhere_else'); print('alive', flush=True)\n"
          "fault_point('after_commit_before_send'); print('not reached', flush=True)\n")


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30,
                          cwd=str(ROOT), env=env, check=False)


def test_named_point_kills_the_process() -> None:
    """With AAAD_FAULT naming a point, the process dies by SIGKILL there and only there."""
    r = run(dict(os.environ, AAAD_FAULT="after_commit_before_send"))
    assert r.returncode == -9 and r.stdout == "alive\n"


def test_unset_is_a_no_op() -> None:
    """Without AAAD_FAULT every fault point does nothing."""
    env = {k: v for k, v in os.environ.items() if k != "AAAD_FAULT"}
    r = run(env)
    assert r.returncode == 0 and r.stdout == "alive\nnot reached\n"
