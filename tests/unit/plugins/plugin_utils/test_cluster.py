"""Clustering from the inventory (plugins/plugin_utils/cluster.py) and its preflight rules."""
from __future__ import annotations

from typing import Any, Dict, List

from ansible_collections.fleet.alloy.plugins.plugin_utils import cluster
from ansible_collections.fleet.alloy.plugins.plugin_utils import rulebook as rb

# What hostvars gives for each host: the inventory's variables (never a role's defaults).
HOSTVARS: Dict[str, Dict[str, Any]] = {
    "web-01": {"alloy_install_cluster_enabled": True, "ansible_host": "10.0.0.1"},
    "web-02": {"alloy_install_cluster_enabled": "yes", "alloy_install_listen_address": "0.0.0.0:9000"},
    "web-03": {"alloy_install_cluster_enabled": True, "alloy_install_cluster_advertise_address": "192.0.2.3:12345"},
    "web-04": {"alloy_install_cluster_enabled": True, "ansible_host": "2001:db8::4"},
    "db-01": {"alloy_install_cluster_enabled": False},
    "app-01": {},   # the role's default: not a member
}
GROUPS = {"all": ["web-01", "web-02", "web-03", "web-04", "db-01", "app-01"], "scrapers": ["web-02", "web-03"]}
CHECKED = {"cluster_enabled": True, "listen_address": "0.0.0.0:12345", "cluster_name": "", "cluster_wait_for_size": 0}


def _vars(host: str) -> Dict[str, Any]:
    return HOSTVARS.get(host, {})


def test_members_are_the_inventory_hosts_that_turn_it_on() -> None:
    described = cluster.describe(CHECKED, "web-01", GROUPS, _vars)
    assert described["members"] == ["web-01", "web-02", "web-03", "web-04"]
    # web-02: its inventory name and its own listen port; web-03: the address it advertises;
    # web-04: an IPv6 ansible_host in brackets.
    assert described["join_addresses"] == ["web-02:9000", "192.0.2.3:12345", "[2001:db8::4]:12345"]
    # web-01's ansible_host is an IP address: it advertises it (Alloy would look at eth0/en0 only).
    assert described["flags"] == ["--cluster.enabled=true", "--cluster.node-name=web-01",
                                  "--cluster.join-addresses=web-02:9000,192.0.2.3:12345,[2001:db8::4]:12345",
                                  "--cluster.advertise-address=10.0.0.1:12345"]


def test_a_group_limits_the_members_and_a_name_is_not_advertised() -> None:
    checked = dict(CHECKED, cluster_group="scrapers")
    described = cluster.describe(checked, "web-02", GROUPS, _vars)
    assert described["members"] == ["web-02", "web-03"]
    assert described["flags"] == ["--cluster.enabled=true", "--cluster.node-name=web-02",
                                  "--cluster.join-addresses=192.0.2.3:12345"]
    assert cluster.describe(CHECKED, "web-04", GROUPS, _vars)["flags"][-1] == \
        "--cluster.advertise-address=[2001:db8::4]:12345"


def test_the_optional_flags() -> None:
    checked = dict(CHECKED, cluster_name="prod", cluster_advertise_address="10.9.9.9:12345", cluster_wait_for_size=3,
                   cluster_wait_timeout="5m")
    flags = cluster.describe(checked, "web-01", {"all": ["web-01"]}, _vars)["flags"]
    assert flags == ["--cluster.enabled=true", "--cluster.node-name=web-01", "--cluster.name=prod",
                     "--cluster.advertise-address=10.9.9.9:12345", "--cluster.wait-for-size=3",
                     "--cluster.wait-timeout=5m"]


def test_alone_without_clustering() -> None:
    assert cluster.describe(dict(CHECKED, cluster_enabled=False), "web-01", GROUPS, _vars) == cluster.ALONE


def _problems(values: Dict[str, Any], host: str = "web-01") -> List[str]:
    context = {"facts": {}, "groups": [], "host": host, "peer_vars": _vars, "inventory_groups": GROUPS}
    base = {"alloy_install_cluster_enabled": True, "alloy_install_listen_address": "0.0.0.0:12345"}
    return rb.check_values("alloy_install", dict(base, **values), context)[1]


def test_a_loopback_listen_address_is_refused_with_clustering_on() -> None:
    assert _problems({}) == []
    for address in ("127.0.0.1:12345", "[::1]:12345", "localhost:12345", "127.0.1.1:12345"):
        assert _problems({"alloy_install_listen_address": address}) == [
            "alloy_install_cluster_enabled needs alloy_install_listen_address on an address the other members reach "
            "(peers talk over Alloy's HTTP server), not the loopback %s: for example 0.0.0.0:12345, with a firewall "
            "that lets only the members in" % address]
    assert _problems({"alloy_install_listen_address": "127.0.0.1:12345", "alloy_install_cluster_enabled": False}) == []


def test_what_cannot_form_the_cluster_is_refused() -> None:
    assert _problems({"alloy_install_cluster_group": "scrapers"}) == [
        "alloy_install_cluster_enabled is true but this host is not in alloy_install_cluster_group (scrapers): "
        "add it to the group, or turn clustering off for it"]
    assert _problems({"alloy_install_cluster_wait_for_size": 5}) == [
        "alloy_install_cluster_wait_for_size is 5 but the inventory has 4 members"]
    for advertised in ("0.0.0.0:12345", ":12345", "127.0.0.1:12345"):
        assert _problems({"alloy_install_cluster_advertise_address": advertised}) == [
            "alloy_install_cluster_advertise_address must be an address the other members reach, got " + advertised]
    assert _problems({"alloy_install_extra_args": ["--cluster.name=x", "--disable-reporting"]}) == [
        "alloy_install_extra_args sets --cluster.name=x while alloy_install_cluster_enabled writes the cluster flags: "
        "use the alloy_install_cluster_* variables"]
