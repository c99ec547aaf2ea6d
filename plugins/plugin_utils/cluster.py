# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alloy clustering from the inventory: who the members are, and one member's --cluster.* flags.

Clustering is flags of `alloy run`, not a configuration block (docs/clustering.md), for both
runtime roles; a Shape says where each one's Alloy is reached from other hosts (alloy_install:
its listen address; alloy_docker: the host address its port is published on, and that port).
The members are the hosts of <prefix>cluster_group (default: every inventory host) whose
inventory sets <prefix>cluster_enabled: the inventory, not the play, so that --limit, job slices
and batches see the same cluster. Each runs under its inventory name as node name (so that the
rollout gate knows whom to expect) and joins the others at their address: their
<prefix>cluster_advertise_address, else (Compose) the IP address their port is published on,
else their ansible_host (or inventory name), with their port (listen port, published port). A
member advertises the same when it is an IP address (Alloy would otherwise take eth0's or en0's
address, and 127.0.0.1 on hosts without them; in a container, the container's own address, which
no other host reaches: refused). Peers talk over the HTTP server, so it must not be reached on
loopback only. With <prefix>cluster_tls the members gossip over TLS (--cluster.enable-tls and its
files, each member's certificate checked for the server name, else for the address it is dialed
at), and Alloy's HTTP server must serve TLS with the same certificate: the runtime contract says
so (runtime.py: http_tls, written by alloy_config as `http { tls { } }`, and api_tls, how a
process on the host checks it). Built on the controller by the preflight (action
alloy_preflight) and published in the runtime contract (runtime.py, key cluster).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
from collections import namedtuple

from ansible.errors import AnsibleError

from ansible_collections.fleet.alloy.plugins.plugin_utils.runtime import ALONE

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


def _own_ip(host):
    """host, when it is an IP address other hosts can reach (not loopback, not every interface)."""
    found = _ip(host)
    return str(host).strip("[]") if found and not (found.is_loopback or found.is_unspecified) else ""


def is_loopback(address):
    """Whether a listen address is reachable from this host only (Go's "" and 0.0.0.0 are every
    interface)."""
    host = split_listen(address)[0].lower()
    if host == "localhost" or host.startswith("localhost."):
        return True
    found = _ip(host)
    return bool(found and found.is_loopback)


class Shape(namedtuple("Shape", "prefix host_var names reached example container")):
    """Where one runtime role's Alloy is reached from other hosts, in its variables (without the
    prefix): host_var names the one that holds the host part, names the ones read from the
    other members' inventory, reached(values) is the host:port the others connect to,
    example(values) what to set instead of a loopback host_var. container: Alloy runs in a
    container whose port Docker publishes on the host: an IP address host_var is the host's (the
    one address the port is published on, so the one the others reach), and Alloy's own look at
    eth0/en0 would find the container's address, which no other host reaches."""
    __slots__ = ()


# systemd: Alloy listens on the host itself; the others reach it at ansible_host.
INSTALL = Shape("alloy_install_", "listen_address", ("listen_address",), lambda values: values["listen_address"],
                lambda values: "0.0.0.0:" + split_listen(values["listen_address"])[1], False)
# Compose: Alloy listens inside the container (0.0.0.0:<port>); the others reach the port Docker
# publishes on the host's publish address.
COMPOSE = Shape("alloy_docker_", "publish_address", ("publish_address", "port"),
                lambda values: join(values["publish_address"], values["port"]),
                lambda values: "this host's IP address or 0.0.0.0", True)
SHAPES = {"alloy_install": INSTALL, "alloy_docker": COMPOSE}


def _on(value):
    return value is True or str(value).strip().lower() in _TRUE


def _given(variables, name):
    """A host's inventory variable, None when unset or when it cannot be templated for that host
    (a value that reads facts the play has not gathered there)."""
    try:
        return variables.get(name)
    except AnsibleError:
        return None


def candidates(checked, inventory_groups):
    """The hosts clustering takes members from: the group named, else the whole inventory."""
    group = checked.get("cluster_group")
    return list(inventory_groups.get(group or "all", []))


def members(host, candidate_hosts, peer_vars, shape=INSTALL):
    """The candidates whose inventory turns clustering on (this host, which does, included)."""
    return [name for name in candidate_hosts
            if name == host or _on(_given(peer_vars(name), shape.prefix + "cluster_enabled") or False)]


def _reached_at(reached, own, fallback):
    """host:port the others reach a member at (reached: where it publishes its port): that IP
    address when it is the member's own (own), else fallback (its ansible_host or name), with
    the port; "" without either."""
    host, port = split_listen(reached)
    host = (own and _own_ip(host)) or fallback
    return join(host, port) if host else ""


def address(name, variables, checked, shape=INSTALL):
    """Where the other members reach one member (variables: its inventory's; checked: this host's
    checked variables, whose values stand in for those it does not set)."""
    given = _given(variables, shape.prefix + "cluster_advertise_address")
    if given:
        return str(given)
    own = dict((key, _given(variables, shape.prefix + key)) for key in shape.names)
    own = dict((key, value) for key, value in own.items() if value not in (None, ""))
    return _reached_at(shape.reached(dict(checked, **own)), shape.container and shape.host_var in own,
                       _given(variables, "ansible_host") or name)


def advertise(checked, host, variables, shape=INSTALL):
    """This member's --cluster.advertise-address: the one given, else (in a container) the IP
    address its port is published on, else its ansible_host when that is an IP address (Alloy
    takes only an address there); "" lets Alloy look at eth0 and en0."""
    if checked.get("cluster_advertise_address"):
        return checked["cluster_advertise_address"]
    return _reached_at(shape.reached(checked), shape.container, _own_ip(_given(variables, "ansible_host") or ""))


# grafana/alloy: --cluster.enable-tls and its files since 1.5.0; 1.16.2's HTTP server does not offer
# HTTP/2 over TLS, which the members' transport needs (grafana/alloy#6436, fixed in 1.16.3 and 1.17.0).
TLS_SINCE = (1, 5, 0)
TLS_BROKEN = ((1, 16, 2),)


def tls_flags(tls):
    """The --cluster.* TLS flags of a cluster_tls value ({} or its checked keys)."""
    if not tls:
        return []
    flags = ["--cluster.enable-tls=true", "--cluster.tls-ca-path=" + tls["ca_file"],
             "--cluster.tls-cert-path=" + tls["cert_file"], "--cluster.tls-key-path=" + tls["key_file"]]
    if tls.get("server_name"):
        flags.append("--cluster.tls-server-name=" + tls["server_name"])
    return flags


def describe(checked, host, inventory_groups, peer_vars, shape=INSTALL):
    """The cluster of one host (checked: the runtime role's checked variables without the prefix;
    peer_vars(host): a host's inventory variables, as hostvars gives them; shape: the runtime's,
    SHAPES[role])."""
    if not checked.get("cluster_enabled"):
        return dict(ALONE)
    names = members(host, candidates(checked, inventory_groups), peer_vars, shape)
    addresses = [address(name, peer_vars(name), checked, shape) for name in names if name != host]
    flags = ["--cluster.enabled=true", "--cluster.node-name=" + host]
    if addresses:
        flags.append("--cluster.join-addresses=" + ",".join(addresses))
    if checked.get("cluster_name"):
        flags.append("--cluster.name=" + checked["cluster_name"])
    advertised = advertise(checked, host, peer_vars(host), shape)
    if advertised:
        flags.append("--cluster.advertise-address=" + advertised)
    if checked.get("cluster_wait_for_size"):
        flags.append("--cluster.wait-for-size=%d" % checked["cluster_wait_for_size"])
        flags.append("--cluster.wait-timeout=" + checked.get("cluster_wait_timeout", "0s"))
    tls = dict(checked.get("cluster_tls") or {})
    return {"enabled": True, "name": checked.get("cluster_name", ""), "node_name": host, "members": names,
            "join_addresses": addresses, "advertise_address": advertised, "tls": tls,
            "flags": flags + tls_flags(tls)}


def _version(text):
    try:
        return tuple(int(part) for part in str(text).partition("-")[0].split(".")[:3])
    except ValueError:
        return None


def tls_problems(checked, host, peer_vars, shape=INSTALL):
    """Why this member cannot gossip over TLS as configured (<prefix>cluster_tls), naming the variables."""
    tls, prefix = checked.get("cluster_tls") or {}, shape.prefix
    if not tls:
        return []
    found = []
    if not tls.get("server_name") and not advertise(checked, host, peer_vars(host), shape):
        found.append("%scluster_tls needs server_name (a name every member's certificate carries) or an address this "
                     "host advertises: without either Alloy advertises an address of eth0 or en0, which the other "
                     "members check its certificate for, and which the role cannot tell: set %scluster_tls.server_name, "
                     "%scluster_advertise_address, or an IP address as ansible_host" % (prefix, prefix, prefix))
    version = _version(checked.get("version") or "")
    if version and version < TLS_SINCE:
        found.append("%scluster_tls needs Alloy 1.5.0 or later (--cluster.enable-tls), %sversion is %s"
                     % (prefix, prefix, checked["version"]))
    elif version in TLS_BROKEN:
        found.append("%scluster_tls: Alloy %s does not form a cluster over TLS (its HTTP server offers no HTTP/2 over "
                     "TLS, grafana/alloy#6436): use 1.16.3 or later" % (prefix, checked["version"]))
    return found


def problems(checked, host, inventory_groups, peer_vars, shape=INSTALL):
    """Why this host cannot cluster as configured, naming the variables."""
    if not checked.get("cluster_enabled"):
        return []
    found, prefix = [], shape.prefix
    try:
        reached = shape.reached(checked)
    except KeyError:
        reached = None   # their own rules reported them (or the role's defaults were not given)
    if reached is not None and is_loopback(reached):
        found.append("%scluster_enabled needs %s%s on an address the other members reach (peers talk over Alloy's "
                     "HTTP server), not the loopback %s: for example %s, with a firewall that lets only the members "
                     "in" % (prefix, prefix, shape.host_var, checked[shape.host_var], shape.example(checked)))
    elif reached is not None and shape.container and not advertise(checked, host, peer_vars(host), shape):
        found.append("%scluster_enabled needs the address the other members reach this host at (Alloy in the "
                     "container would advertise the container's own): set %s%s to this host's IP address, give the "
                     "host an IP address as ansible_host, or set %scluster_advertise_address"
                     % (prefix, prefix, shape.host_var, prefix))
    advertised = checked.get("cluster_advertise_address") or ""
    if advertised and (not split_listen(advertised)[0] or is_loopback(advertised)
                       or (_ip(split_listen(advertised)[0]) and _ip(split_listen(advertised)[0]).is_unspecified)):
        found.append("%scluster_advertise_address must be an address the other members reach, got %s"
                     % (prefix, advertised))
    in_group = candidates(checked, inventory_groups)
    if host not in in_group:
        found.append("%scluster_enabled is true but this host is not in %scluster_group (%s): add it to the group, "
                     "or turn clustering off for it" % (prefix, prefix, checked.get("cluster_group")))
    flags = [arg for arg in checked.get("extra_args") or [] if str(arg).startswith("--cluster.")]
    if flags:
        found.append("%sextra_args sets %s while %scluster_enabled writes the cluster flags: use the %scluster_* "
                     "variables" % (prefix, ", ".join(flags), prefix, prefix))
    size = checked.get("cluster_wait_for_size") or 0
    names = members(host, in_group, peer_vars, shape)
    count = len(names) + (0 if host in in_group else 1)
    if size > count:
        found.append("%scluster_wait_for_size is %d but the inventory has %d members" % (prefix, size, count))
    secure = bool(checked.get("cluster_tls"))
    other = sorted(name for name in names if name != host and "cluster_tls" in checked   # (else its rule said why)
                   and bool(_given(peer_vars(name), prefix + "cluster_tls")) != secure)
    if other:
        found.append("%scluster_tls is %s here but %s on %s: a member with TLS and one without cannot join each "
                     "other; set it for the whole group" % (prefix, "set" if secure else "not set",
                                                            "not set" if secure else "set", ", ".join(other)))
    return found + tls_problems(checked, host, peer_vars, shape)
