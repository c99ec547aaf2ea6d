#!/usr/bin/env python3
"""Benchmark (not a test): site.yml on N fresh lab hosts, then again with nothing to do.

For each N (default 1, 5, 10, 20) it starts N Debian 12 lab hosts (systemd containers
on the lab network, removed first so the run is fresh), runs playbooks/site.yml with
the lab's group_vars, then runs it again, and prints per run: wall time, tasks executed
per host (ok + changed + failed, from the play recap; skipped tasks not counted),
changed tasks in total and the most on one host.

In the same run and on the same hosts it also measures Ansible's floor: a playbook
written to the temp dir with one play on the same hosts (become, gather_subset min)
and one task that makes a round trip to each host (command /bin/true). The floor runs
twice, after the fresh run and after the no-op run, and the lower of the two wall times
is the floor. Each fresh and no-op wall time is printed as a ratio to it, next to its
target: no-op <= 2.5x the floor at N = 1 and N = 10, fresh <= 5x the floor; and the
no-op's tasks executed per host next to its budget (<= 10). These figures are printed
("ok" / "over"), never asserted.

The second run must change nothing: the script exits 1 if any no-op run reports a
change or any run (fresh, no-op, floor) a failure.

With --host-work it also measures, for each N, the work a new host does itself, without Ansible:
what the fresh run left on its first host (/etc/apt, the env file, /etc/alloy) is copied onto N new
hosts, then, by docker exec on all N at once, apt's lists are refreshed, the same alloy version is
installed and the service is enabled and started. Printed as a ratio to the floor: the part of the
fresh run's time that no task layout can take away.

Run it through ./dev so that the lab and its environment are there:
    ./dev bench [N ...] [--forks 20] [--keep] [--host-work]
(--keep with --host-work keeps the last N hosts of the host work, not those of the Ansible runs.)
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
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from labtool import images, lab  # noqa: E402

# Ansible's floor: the same hosts, become, min facts and one task with a round trip.
FLOOR_PLAYBOOK = """---
- name: Ansible's floor (min facts and one task)
  hosts: alloy:alloy_docker
  become: true
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Make a round trip to the host
      ansible.builtin.command: /bin/true
      changed_when: false
"""
# The host's own work on a new host (--host-work): the files the fresh run wrote, then apt, dpkg, systemd.
HOST_WORK_FILES = ("etc/apt", "etc/default/alloy", "etc/alloy")
HOST_WORK_SCRIPT = """set -e
tar -xzf /tmp/host-work.tgz -C / --overwrite etc/apt
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "alloy=$1" >/dev/null
tar -xzf /tmp/host-work.tgz -C / --overwrite etc/default/alloy etc/alloy
systemctl enable --now alloy.service
"""
# Targets, as ratios to the floor's wall time (printed, never asserted).
FRESH_TARGET = 5.0
NOOP_TARGET = 2.5
NOOP_TARGET_SIZES = (1, 10)
NOOP_TASK_BUDGET = 10.0  # tasks executed per host in a no-op run


@dataclass
class Run:
    wall: float
    tasks_per_host: float
    changed: int
    max_changed: int
    failed: int


@dataclass
class Size:
    """The runs on N hosts: fresh, no-op and the floor (run twice)."""
    n: int
    fresh: Run
    noop: Run
    floors: List[Run]
    host_work: Optional[float] = None   # seconds (--host-work)

    @property
    def floor(self) -> float:
        return min(run.wall for run in self.floors)

    @property
    def fresh_ratio(self) -> float:
        return self.fresh.wall / self.floor

    @property
    def noop_ratio(self) -> float:
        return self.noop.wall / self.floor

    @property
    def failed(self) -> int:
        return self.fresh.failed + self.noop.failed + sum(run.failed for run in self.floors)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.noop.changed == 0


def start_hosts(n: int) -> List[str]:
    names = [f"fleet-alloy-lab-bench-{i:02d}" for i in range(n)]
    subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda name: lab.start_host("debian12", name), names))


def remove_hosts(names: List[str]) -> None:
    subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=False)


def run_playbook(inventory: Path, playbook: Path, forks: int) -> Run:
    """Run playbook on inventory (the lab's environment, forks, ansible.cfg) and read the recap."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_FORKS=str(forks),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    start = time.monotonic()
    out = subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook)],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    wall = time.monotonic() - start
    stats: Dict[str, Dict[str, int]] = json.loads(out.stdout[out.stdout.index("{"):])["stats"]
    executed = [s["ok"] + s["failures"] for s in stats.values()]
    changed = [s["changed"] for s in stats.values()]
    failed = sum(s["failures"] + s["unreachable"] for s in stats.values())
    return Run(wall, sum(executed) / len(executed), sum(changed), max(changed), failed)


def run_site(inventory: Path, forks: int) -> Run:
    return run_playbook(inventory, REPO / "playbooks" / "site.yml", forks)


def write_floor_playbook(folder: Path) -> Path:
    path = folder / "floor.yml"
    path.write_text(FLOOR_PLAYBOOK)
    return path


def measure(hosts: List[str], forks: int) -> Size:
    """Fresh run, floor, no-op run, floor again: all on hosts, in one temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = lab.write_inventory(Path(tmp), {"alloy": {h: {} for h in hosts}})
        floor_playbook = write_floor_playbook(Path(tmp))
        fresh = run_site(inventory, forks)
        floors = [run_playbook(inventory, floor_playbook, forks)]
        noop = run_site(inventory, forks)
        floors.append(run_playbook(inventory, floor_playbook, forks))
    return Size(len(hosts), fresh, noop, floors)


def docker_exec(host: str, *command: str) -> str:
    """command's output on host; its error output in the exception when it fails."""
    out = subprocess.run(["docker", "exec", host, *command], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{host}: {' '.join(command[:3])} exited {out.returncode}: {out.stderr[-2000:]}")
    return out.stdout


def capture_host_files(host: str, folder: Path) -> Tuple[Path, str]:
    """The files site.yml wrote on host (a tarball in folder) and the alloy version it installed."""
    version = docker_exec(host, "dpkg-query", "-W", "-f", "${Version}", "alloy")
    docker_exec(host, "tar", "-czf", "/tmp/host-work.tgz", "-C", "/", *HOST_WORK_FILES)
    tarball = folder / "host-work.tgz"
    subprocess.run(["docker", "cp", f"{host}:/tmp/host-work.tgz", str(tarball)], capture_output=True, check=True)
    return tarball, version


def measure_host_work(n: int, tarball: Path, version: str) -> float:
    """Wall time of the host's own work (HOST_WORK_SCRIPT) on n new hosts at once (the names of
    start_hosts: the hosts of the Ansible runs are replaced); the hosts stay."""
    hosts = start_hosts(n)
    for host in hosts:
        subprocess.run(["docker", "cp", str(tarball), f"{host}:/tmp/host-work.tgz"], capture_output=True, check=True)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(lambda host: docker_exec(host, "sh", "-c", HOST_WORK_SCRIPT, "host-work", version), hosts))
    wall = time.monotonic() - start
    for host in hosts:
        docker_exec(host, "systemctl", "is-active", "--quiet", "alloy.service")
    return wall


def host_work_ratio(size: Size) -> str:
    """'1.5 s (1.4×)', or '-' without --host-work."""
    return "-" if size.host_work is None else f"{size.host_work:.1f} s ({size.host_work / size.floor:.1f}×)"


def verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "over"


def against(value: float, limit: Optional[float], unit: str = "") -> str:
    """value, and its target with the verdict when there is one: "2.1× (≤ 2.5×: ok)"."""
    if limit is None:
        return f"{value:.1f}{unit}"
    return f"{value:.1f}{unit} (≤ {limit:g}{unit}: {verdict(value, limit)})"


def noop_target(n: int) -> Optional[float]:
    return NOOP_TARGET if n in NOOP_TARGET_SIZES else None


def summary(size: Size) -> str:
    fresh, noop = size.fresh, size.noop
    host_work = "" if size.host_work is None else f"; host work alone {host_work_ratio(size)}"
    return (f"N={size.n}: fresh {fresh.wall:.0f}s, no-op {noop.wall:.0f}s, no-op changed={noop.changed}; "
            f"floor {size.floor:.1f}s, fresh {against(size.fresh_ratio, FRESH_TARGET, '×')}, "
            f"no-op {against(size.noop_ratio, noop_target(size.n), '×')}, "
            f"no-op tasks/host {against(noop.tasks_per_host, NOOP_TASK_BUDGET)}{host_work}")


def table_row(size: Size) -> str:
    fresh, noop = size.fresh, size.noop
    return (f"| {size.n} | {size.floor:.1f} s | {fresh.wall:.1f} s | {against(size.fresh_ratio, FRESH_TARGET, '×')} "
            f"| {fresh.tasks_per_host:.1f} | {fresh.changed} ({fresh.max_changed}) "
            f"| {noop.wall:.1f} s | {against(size.noop_ratio, noop_target(size.n), '×')} "
            f"| {against(noop.tasks_per_host, NOOP_TASK_BUDGET)} | {noop.changed} | {size.failed} "
            f"| {host_work_ratio(size)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1, 5, 10, 20])
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="leave the last hosts running")
    parser.add_argument("--host-work", action="store_true",
                        help="also time the host's own work on N new hosts, without Ansible")
    args = parser.parse_args()
    images.ensure(["debian12", *images.LAB_IMAGES])
    lab.up_services()
    sizes: List[Size] = []
    for n in args.sizes:
        hosts = start_hosts(n)
        size = measure(hosts, args.forks)
        try:
            if args.host_work:
                with tempfile.TemporaryDirectory() as tmp:
                    size.host_work = measure_host_work(n, *capture_host_files(hosts[0], Path(tmp)))
        finally:   # with --keep and --host-work, the hosts kept are the host work's
            if not args.keep or n != args.sizes[-1]:
                remove_hosts(hosts)
        sizes.append(size)
        print(summary(size), flush=True)
    print(f"\nsite.yml on N Debian 12 lab hosts (forks {args.forks}, serial 1 / 25% / 100%, "
          f"{os.cpu_count()} CPUs); floor: min facts and one task on the same hosts, the lower of two runs")
    print("| N | floor wall | fresh wall | fresh ×floor | fresh tasks/host | fresh changed (max/host) | no-op wall "
          "| no-op ×floor | no-op tasks/host | no-op changed | failed | host work alone (×floor) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        print(table_row(size))
    ok = all(size.ok for size in sizes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
