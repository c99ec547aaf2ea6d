#!/usr/bin/env python3
"""Benchmark (not a test): site.yml on N fresh lab hosts, then again with nothing to do.

For each N (default 1, 5, 10, 20) it starts N Debian 12 lab hosts (systemd containers
on the lab network, removed first so the run is fresh), runs playbooks/site.yml with
the lab's group_vars, then runs it again, and prints per run: wall time, tasks executed
per host (ok + changed + failed, from the play recap; skipped tasks not counted),
changed tasks in total and the most on one host. The second run must change nothing:
the script exits 1 if any no-op run reports a change or a failure.

Run it through ./dev so that the lab and its environment are there:
    ./dev bench [N ...] [--forks 20] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from labtool import images, lab  # noqa: E402


@dataclass
class Run:
    wall: float
    tasks_per_host: float
    changed: int
    max_changed: int
    failed: int


def start_hosts(n: int) -> List[str]:
    names = [f"fleet-alloy-lab-bench-{i:02d}" for i in range(n)]
    subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda name: lab.start_host("debian12", name), names))


def remove_hosts(names: List[str]) -> None:
    subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=False)


def run_site(inventory: Path, forks: int) -> Run:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_FORKS=str(forks),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    start = time.monotonic()
    out = subprocess.run(["ansible-playbook", "-i", str(inventory), "playbooks/site.yml"],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    wall = time.monotonic() - start
    stats: Dict[str, Dict[str, int]] = json.loads(out.stdout[out.stdout.index("{"):])["stats"]
    executed = [s["ok"] + s["failures"] for s in stats.values()]
    changed = [s["changed"] for s in stats.values()]
    failed = sum(s["failures"] + s["unreachable"] for s in stats.values())
    return Run(wall, sum(executed) / len(executed), sum(changed), max(changed), failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1, 5, 10, 20])
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="leave the last hosts running")
    args = parser.parse_args()
    images.ensure(["debian12", *images.LAB_IMAGES])
    lab.up_services()
    rows = []
    ok = True
    for n in args.sizes:
        hosts = start_hosts(n)
        with tempfile.TemporaryDirectory() as tmp:
            inventory = lab.write_inventory(Path(tmp), {"alloy": {h: {} for h in hosts}})
            fresh = run_site(inventory, args.forks)
            noop = run_site(inventory, args.forks)
        if not args.keep or n != args.sizes[-1]:
            remove_hosts(hosts)
        ok = ok and fresh.failed == 0 and noop.failed == 0 and noop.changed == 0
        rows.append((n, fresh, noop))
        print(f"N={n}: fresh {fresh.wall:.0f}s, no-op {noop.wall:.0f}s, no-op changed={noop.changed}", flush=True)
    print(f"\nsite.yml on N Debian 12 lab hosts (forks {args.forks}, serial 1 / 25% / 100%, "
          f"{os.cpu_count()} CPUs)")
    print("| N | fresh wall | fresh tasks/host | fresh changed (max/host) | no-op wall | no-op tasks/host "
          "| no-op changed | failed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, fresh, noop in rows:
        print(f"| {n} | {fresh.wall:.1f} s | {fresh.tasks_per_host:.1f} | {fresh.changed} ({fresh.max_changed}) "
              f"| {noop.wall:.1f} s | {noop.tasks_per_host:.1f} | {noop.changed} | {fresh.failed + noop.failed} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
