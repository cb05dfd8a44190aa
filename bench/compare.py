#!/usr/bin/env python3
"""Throughput of this tree against a base revision, measured in the same run.

This machine's speed varies up to 2x between days, so only ratios taken in
one run mean anything.  ``compare.py BASE_REV`` exports BASE_REV with
``git archive`` into a temporary directory (the repository's worktrees and
refs are left alone), then alternates base and current, A B A B: the PAP auth
bench (``bench/bench_auth.py --modes pap``: closed loop, the daemon pinned to
one CPU, radload to the other) and the durable accounting bench on SQLite
(``bench/bench_acct.py --only server``).  Each tree runs with its own code
(``PYTHONPATH`` and the working directory at that tree, its own
``load_logins.py``); both are driven by this tree's ``radload.py``, so the
load generator is the same for both.  Prints every measurement, the medians
and the ratio current/base.

Run from the repository root with the venv's python:
``.venv/bin/python bench/compare.py e455d0d`` (about 4 minutes with the
defaults: 2 rounds, 10 s per measurement, 20,000 logins).  Exit status 1 if
a ratio is below ``--min-ratio``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(rev: str, dest: Path) -> str:
    """Write the tree of ``rev`` into ``dest``; return its short commit id."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{rev}^{{commit}}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"compare: git archive {rev} failed")
    # The same load generator for both trees: the measuring instrument must not differ.
    shutil.copy2(ROOT / "bench" / "radload.py", dest / "bench" / "radload.py")
    return commit


def last_json(text: str) -> dict:
    """The JSON object the bench scripts print last (it starts on a line of its own)."""
    start = text.rfind("\n{\n")
    if start < 0 and text.startswith("{\n"):
        start = 0
    if start < 0:
        raise ValueError("no JSON summary in the output")
    return json.loads(text[start:])


def run_bench(tree: Path, kind: str, o: argparse.Namespace) -> dict:
    """One measurement of ``kind`` (auth or acct) on ``tree``: {"req_s", "lost", "bad"}."""
    if kind == "auth":
        cmd = [sys.executable, "bench/bench_auth.py", "--modes", "pap", "--json",
               "--duration", str(o.duration), "--logins", str(o.logins)]
    else:
        cmd = [sys.executable, "bench/bench_acct.py", "--only", "server",
               "--duration", str(o.duration), "--logins", str(o.logins)]
    env = dict(os.environ, PYTHONPATH=str(tree))
    r = subprocess.run(cmd, cwd=str(tree), env=env, capture_output=True, text=True, timeout=o.duration + 300)
    if r.returncode != 0:
        raise SystemExit(f"compare: {' '.join(cmd)} in {tree} failed ({r.returncode}):\n"
                         f"{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    out = last_json(r.stdout)
    if kind == "auth":
        run = out["runs"][0]
        return {"req_s": float(run["req_s"]), "lost": run["lost"], "bad": run["bad"]}
    s = out["server"]
    return {"req_s": float(s["req_per_s"]), "lost": s["lost"], "bad": s["bad"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("base", metavar="BASE_REV", help="the revision to compare against, e.g. e455d0d")
    p.add_argument("--rounds", type=int, default=2, help="A B rounds per bench (medians are over these)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--logins", type=int, default=20_000)
    p.add_argument("--benches", default="auth,acct", help="comma separated: auth (PAP), acct (SQLite)")
    p.add_argument("--min-ratio", type=float, default=0.95, help="exit 1 if current/base is below this")
    o = p.parse_args(argv)
    if shutil.which("taskset") is None:
        raise SystemExit("compare: taskset (util-linux) is needed")
    benches = o.benches.split(",")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aaad-compare-") as tmp:
        base_tree = Path(tmp)
        base_id = export(o.base, base_tree)
        head = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip()
        trees = {"base": base_tree, "current": ROOT}
        print(f"base {o.base} ({base_id}) in {base_tree}; current {head} in {ROOT}")
        print(f"{o.rounds} rounds of A B per bench, {o.duration:g} s per measurement, {o.logins} logins; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        results: dict[str, dict[str, list[float]]] = {b: {"base": [], "current": []} for b in benches}
        for rnd in range(1, o.rounds + 1):
            for bench in benches:
                for side in ("base", "current"):
                    m = run_bench(trees[side], bench, o)
                    results[bench][side].append(m["req_s"])
                    print(f"  round {rnd} {bench:<4} {side:<7} {m['req_s']:>9.0f} req/s  lost {m['lost']}  "
                          f"bad {m['bad']}", flush=True)
    print()
    print(f"{'bench':<28} {'base req/s':>11} {'current req/s':>14} {'ratio':>7}")
    names = {"auth": "PAP auth (closed loop)", "acct": "accounting, durable, SQLite"}
    ok = True
    for bench in benches:
        b = statistics.median(results[bench]["base"])
        c = statistics.median(results[bench]["current"])
        ratio = c / b if b else float("nan")
        ok = ok and ratio >= o.min_ratio
        print(f"{names[bench]:<28} {b:>11.0f} {c:>14.0f} {ratio:>7.3f}")
    print(f"(medians of {o.rounds}; {time.monotonic() - t0:.0f} s in all; "
          f"load average now {os.getloadavg()[0]:.2f})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
