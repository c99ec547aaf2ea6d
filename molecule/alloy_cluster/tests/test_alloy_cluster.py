"""alloy_install's clustering on three lab hosts: the --cluster.* flags in CUSTOM_ARGS from the
inventory (node name, the other two members as join addresses), the members see each other as
participants, and the rollout gate's cluster check passes with the three."""
from __future__ import annotations

import json
import shlex
import time
from typing import Any, Dict, List

MEMBERS = ["cluster-debian12-1", "cluster-debian12-2", "cluster-debian12-3"]


def _name(host) -> str:
    return host.backend.host


def _custom_args(host) -> List[str]:
    """CUSTOM_ARGS of the env file, as the unit's ExecStart splits it."""
    for line in host.file("/etc/default/alloy").content_string.splitlines():
        if line.startswith("CUSTOM_ARGS="):
            return [word for token in shlex.split(line[len("CUSTOM_ARGS="):]) for word in token.split()]
    raise AssertionError("no CUSTOM_ARGS in /etc/default/alloy")


def _peers(host) -> List[Dict[str, Any]]:
    return json.loads(host.check_output("curl -fsS http://127.0.0.1:12345/api/v0/web/peers"))


def test_custom_args_hold_the_cluster_flags_from_the_inventory(host) -> None:
    args = _custom_args(host)
    others = [m for m in MEMBERS if m != _name(host)]
    assert "--cluster.enabled=true" in args
    assert "--cluster.node-name=%s" % _name(host) in args
    joins = [a for a in args if a.startswith("--cluster.join-addresses=")]
    assert len(joins) == 1
    assert sorted(joins[0].split("=", 1)[1].split(",")) == ["%s:12345" % m for m in others]
    # No IP ansible_host here (the docker connection): Alloy picks eth0's address itself.
    assert not any(a.startswith("--cluster.advertise-address=") for a in args)


def test_alloy_listens_on_every_interface_and_runs_with_the_flags(host) -> None:
    pid = host.check_output("systemctl show -p MainPID --value alloy")
    cmdline = host.check_output("tr '\\0' ' ' < /proc/%s/cmdline" % pid)
    assert "--server.http.listen-addr=0.0.0.0:12345" in cmdline
    assert "--cluster.node-name=%s" % _name(host) in cmdline


def test_each_member_sees_the_three_as_participants(host) -> None:
    deadline = time.monotonic() + 60
    while True:
        peers = _peers(host)
        if sorted(p["name"] for p in peers) == MEMBERS or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(p["name"] for p in peers) == MEMBERS
    assert {p["state"] for p in peers} == {"participant"}
    assert [p["name"] for p in peers if p["isSelf"]] == [_name(host)]


def test_the_other_members_reach_this_one(host) -> None:
    """The gossip goes over the HTTP listen address: the others must reach it at the address it
    advertises."""
    me = next(p for p in _peers(host) if p["isSelf"])
    assert not me["addr"].startswith("127."), me
    assert host.run("curl -fsS http://%s/-/ready" % me["addr"]).rc == 0


def test_alloy_verify_sees_the_cluster_whole(host) -> None:
    result = host.ansible("fleet.alloy.alloy_verify", "cluster_peers=%s wait=true wait_timeout=90" % ",".join(MEMBERS),
                          become=True, check=False)
    assert result.get("healthy") is True, result.get("summary") or result
    cluster = next(c for c in result["checks"] if c["name"] == "cluster")
    assert cluster["ok"], cluster
    assert result["changed"] is False
