"""bench_billing.Load, the RADIUS load every bench beside auth shares: radblast (the default) and
radload take the same options and their summaries read the same (bench_billing.summary), and a
load stopped early (SIGUSR1, as the benches do when the measured work ends) still reports."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_billing as bb  # noqa: E402
import radblast  # noqa: E402


@pytest.mark.parametrize("generator", bb.GENERATORS)
def test_load_runs_each_generator_against_a_null_server(generator: str) -> None:
    o = argparse.Namespace(generator=generator, load_cpu=None, customers=50)
    with radblast.NullServer(secret=bb.SECRET) as null:
        ld = bb.Load(o, null.port, "pap", ["--rate", "400", "--expect", "accept"], duration=0.5)
        ld.proc.wait(timeout=60)            # runs its half second out
        sm = bb.summary(ld.stop())
    assert any(a.endswith("radblast") for a in ld.cmd) == (generator == "radblast")
    assert sm["sent"] > 0
    assert sm["ok"] == sm["answered"] == sm["sent"]
    assert sm["lost"] == sm["bad"] == 0
    assert 0 < sm["p50_ms"] <= sm["p99_ms"] <= sm["max_ms"]


@pytest.mark.parametrize("generator", bb.GENERATORS)
def test_a_load_stopped_early_still_reports(generator: str) -> None:
    """SIGUSR1 (what the benches send when the measured work ends) ends an hour-long load at once
    with its summary of what it sent so far."""
    o = argparse.Namespace(generator=generator, load_cpu=None, customers=50)
    with radblast.NullServer(secret=bb.SECRET) as null:
        ld = bb.Load(o, null.port, "pap", ["--rate", "400", "--expect", "accept"], duration=3600)
        ld.wait_started()
        sm = bb.summary(ld.stop())          # communicate() gives up after 60 s: a hang fails
    assert ld.proc.returncode is not None
    assert sm["ok"] == sm["answered"] == sm["sent"]
    assert sm["lost"] == sm["bad"] == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("chrt"),
                    reason="SCHED_FIFO needs root and chrt")
@pytest.mark.parametrize(("priority", "extra", "fifo"), [
    ("rt", ["--rate", "400"], True), ("normal", ["--rate", "400"], False), ("rt", ["--inflight", "4"], False)])
def test_an_open_loop_radblast_runs_under_sched_fifo_unless_asked(priority: str, extra: list[str],
                                                                   fifo: bool) -> None:
    """--load-priority rt (the default): an open-loop radblast is SCHED_FIFO, so nothing else on its CPU
    delays its sends into bursts; normal, or a closed loop (paced by the server anyway): the default
    policy."""
    p = argparse.ArgumentParser()
    bb.add_generator_arg(p)
    o = p.parse_args([] if priority == "rt" else ["--load-priority", priority])
    o.load_cpu, o.customers = None, 50
    with radblast.NullServer(secret=bb.SECRET) as null:
        ld = bb.Load(o, null.port, "pap", [*extra, "--expect", "accept"], duration=3600)
        ld.wait_started()
        try:
            policy = os.sched_getscheduler(ld.proc.pid)
        finally:
            sm = bb.summary(ld.stop())
    assert (policy == os.SCHED_FIFO) == fifo
    assert sm["ok"] == sm["answered"] == sm["sent"]


def test_generator_is_radblast_unless_asked() -> None:
    p = argparse.ArgumentParser()
    bb.add_generator_arg(p)
    assert p.parse_args([]).generator == "radblast"
    assert p.parse_args(["--generator", "radload"]).generator == "radload"
    with pytest.raises(SystemExit):
        p.parse_args(["--generator", "other"])


def test_the_cluster_goes_off_the_daemons_core_unless_asked() -> None:
    """--pg-cpu: the load's CPU by default (as the README tells operators who pin the daemon), 'none'
    unpinned (the default of the benches whose work is a job pinned to the load's CPU); the tables
    say which."""
    p = argparse.ArgumentParser()
    p.add_argument("--load-cpu", default="1")
    bb.add_pg_cpu_arg(p)
    assert bb.pg_cpus(p.parse_args([])) == "1"
    assert bb.pg_cpus(p.parse_args(["--load-cpu", "2-3"])) == "2-3"
    assert bb.pg_cpus(p.parse_args(["--pg-cpu", "none"])) == ""
    assert bb.pg_cpus(p.parse_args(["--pg-cpu", "0,1"])) == "0,1"
    jobs = argparse.ArgumentParser()        # billing's and notify's: the job is on the load's CPU
    bb.add_pg_cpu_arg(jobs, default="none")
    assert bb.pg_cpus(jobs.parse_args([])) == ""
    assert bb.pg_cpus(bb.parse_args([])) == ""
    assert bb.db_label({"database": "postgresql", "pg_cpu": "1"}) == "postgresql (cluster on CPU 1)"
    assert bb.db_label({"database": "postgresql", "pg_cpu": "unpinned"}) == "postgresql (unpinned)"
    assert bb.db_label({"database": "sqlite"}) == "sqlite"
