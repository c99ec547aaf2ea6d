# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alloy clustering from the inventory: who the members are, and one member's --cluster.* flags.

Clustering is flags of `alloy run`, not a configuration block (docs/clustering.md). The members
are the hosts of alloy_install_cluster_group (default: every inventory host) whose inventory
sets alloy_install_cluster_enabled: the inventory, not the play, so that --limit, job slices and
batches see the same cluster. Each runs under its inventory name as node name (so that the
rollout gate knows whom to expect) and joins the others at their address: their
alloy_install_cluster_advertise_address, else their ansible_host (or inventory name) and the
port of their listen address. A member whose ansible_host is an IP address advertises it (Alloy
would otherwise take eth0's or en0's address, and 127.0.0.1 on hosts without them). Peers talk
over the HTTP listen address, so it must not be loopback. Built on the controller by the
preflight (action alloy_preflight) and published in the runtime contract (runtime.py, key
cluster).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.fleet.alloy.plugins.plugin_utils.runtime import ALONE

PREFIX = "alloy_install_"
_TRUE = ("true", "yes", "on", "1")


def split_listen(address):
    """(host, port) of host:port or [ipv6]:port."""
    host, dummy, port = str(address).rpartition(":")
    return host.strip("[]"), port


def join(host, port):
    """host:port, with an IPv6 address in brackets."""
    return "[%s]:%s" % (host, port) if ":" in str(host) else "%s:%s" % (host, port)


def _ip(host):
    try:
        return ipaddress.ip_address(str(host).strip("[]"))
    except ValueError:
        return None


def is_loopback(address):
    """Whether a listen address is reachable from this host only (Go's "" and 0.0.0.0 are every
    interface)."""
    host = split_listen(address)[0].lower()
    if host == "localhost" or host.startswith("localhost."):
        return True
    found = _ip(host)
    return bool(found and found.is_loopback)


def _on(value):
    return value is True or str(value).strip().lower() in _TRUE


def candidates(checked, inventory_groups):
    """The hosts clustering takes members from: the group named, else the whole inventory."""
    group = checked.get("cluster_group")
    return list(inventory_groups.get(group or "all", []))


def members(host, candidate_hosts, peer_vars):
    """The candidates whose inventory turns clustering on (this host, which does, included)."""
    return [name for name in candidate_hosts
            if name == host or _on(peer_vars(name).get(PREFIX + "cluster_enabled", False))]


def address(name, variables, default_listen):
    """Where the other members reach one member."""
    given = variables.get(PREFIX + "cluster_advertise_address")
    if given:
        return str(given)
    port = split_listen(variables.get(PREFIX + "listen_address") or default_listen)[1]
    return join(variables.get("ansible_host") or name, port)


def advertise(checked, host, variables):
    """This member's --cluster.advertise-address: the one given, else its ansible_host when that
    is an IP address (Alloy takes only an address there); "" lets Alloy look at eth0 and en0."""
    if checked.get("cluster_advertise_address"):
        return checked["cluster_advertise_address"]
    given = variables.get("ansible_host")
    if given and _ip(given) and not _ip(given).is_loopback:
        return join(str(given).strip("[]"), split_listen(checked["listen_address"])[1])
    return ""


def describe(checked, host, inventory_groups, peer_vars):
    """The cluster of one host (checked: alloy_install's checked variables without the prefix;
    peer_vars(host): a host's inventory variables, as hostvars gives them)."""
    if not checked.get("cluster_enabled"):
        return dict(ALONE)
    names = members(host, candidates(checked, inventory_groups), peer_vars)
    addresses = [address(name, peer_vars(name), checked["listen_address"]) for name in names if name != host]
    flags = ["--cluster.enabled=true", "--cluster.node-name=" + host]
    if addresses:
        flags.append("--cluster.join-addresses=" + ",".join(addresses))
    if checked.get("cluster_name"):
        flags.append("--cluster.name=" + checked["cluster_name"])
    advertised = advertise(checked, host, peer_vars(host))
    if advertised:
        flags.append("--cluster.advertise-address=" + advertised)
    if checked.get("cluster_wait_for_size"):
        flags.append("--cluster.wait-for-size=%d" % checked["cluster_wait_for_size"])
        flags.append("--cluster.wait-timeout=" + checked.get("cluster_wait_timeout", "0s"))
    return {"enabled": True, "name": checked.get("cluster_name", ""), "node_name": host, "members": names,
            "join_addresses": addresses, "flags": flags}


def problems(checked, host, inventory_groups, peer_vars):
    """Why this host cannot cluster as configured, naming the variables."""
    if not checked.get("cluster_enabled"):
        return []
    found = []
    if is_loopback(checked.get("listen_address", "")):
        found.append("alloy_install_cluster_enabled needs alloy_install_listen_address on an address the other "
                     "members reach (peers talk over Alloy's HTTP server), not the loopback %s: for example "
                     "0.0.0.0:%s, with a firewall that lets only the members in"
                     % (checked["listen_address"], split_listen(checked["listen_address"])[1]))
    advertised = checked.get("cluster_advertise_address") or ""
    if advertised and (not split_listen(advertised)[0] or is_loopback(advertised)
                       or (_ip(split_listen(advertised)[0]) and _ip(split_listen(advertised)[0]).is_unspecified)):
        found.append("alloy_install_cluster_advertise_address must be an address the other members reach, got %s"
                     % advertised)
    in_group = candidates(checked, inventory_groups)
    if host not in in_group:
        found.append("alloy_install_cluster_enabled is true but this host is not in alloy_install_cluster_group "
                     "(%s): add it to the group, or turn clustering off for it" % checked.get("cluster_group"))
    flags = [arg for arg in checked.get("extra_args") or [] if str(arg).startswith("--cluster.")]
    if flags:
        found.append("alloy_install_extra_args sets %s while alloy_install_cluster_enabled writes the cluster flags: "
                     "use the alloy_install_cluster_* variables" % ", ".join(flags))
    size = checked.get("cluster_wait_for_size") or 0
    count = len(members(host, in_group, peer_vars)) + (0 if host in in_group else 1)
    if size > count:
        found.append("alloy_install_cluster_wait_for_size is %d but the inventory has %d members" % (size, count))
    return found
