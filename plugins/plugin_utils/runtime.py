# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runtime contract: one description of how Alloy runs on a host, written by the runtime
role that owns it (alloy_install for systemd, alloy_docker for Compose) and read by the pipeline
role (alloy_config) and by alloy_verify. Built here, on the controller, from the runtime role's
checked variables; published as the fact alloy_runtime by that role's preflight and kept on the
host as a local fact by its alloy_env task (/etc/ansible/facts.d/alloy_runtime.fact), so a later play
(fleet.alloy.verify, --tags verify) reads the same description. No secrets in it: facts may be
cached on disk."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleet.alloy.plugins.module_utils.runtime_fact import FACT

# Each key of the contract and what it holds (docs/architecture.md shows them with values).
KEYS = {
    "kind": "systemd or compose",
    "service": "the systemd unit or the container name",
    "config_dir": "the host directory Alloy loads (alloy_config writes its files there)",
    "config_group": "the group that reads the configuration and the env file",
    "env_file": "the env file Alloy starts with (alloy_config keeps its secrets in a section of it)",
    "alloy_command": "the words that run Alloy's CLI on the host ({staging} is the staging directory); "
                     "empty when it cannot run yet (check mode on a Compose host without the image)",
    "api_url": "Alloy's HTTP server as seen from the host (reload, health, metrics); https:// when it serves TLS",
    "instance": "the name Alloy's host goes by (the default instance label)",
    "host_paths": "where Alloy sees the host's procfs, sysfs, root and udev data",
}
# Keys a runtime kept by an earlier release may lack, and what they mean then.
OPTIONAL = {
    "cluster": "Alloy's cluster (plugin_utils/cluster.py): enabled, name, node_name, members, join_addresses, "
               "advertise_address, tls (the cluster_tls files, server_name and client_auth_type; {} without TLS) and "
               "the --cluster.* flags; enabled false when Alloy runs alone",
    "http_tls": "the tls block of Alloy's http block, which alloy_config writes (cert_file, key_file; client_ca_file "
                "and client_auth_type when Alloy asks clients for certificates); {} when the HTTP server is plain",
    "api_tls": "how a process on the host checks Alloy's HTTPS server at api_url: ca_file, server_name (the name the "
               "certificate carries), cert_file and key_file when Alloy asks clients for certificates; {} for plain "
               "HTTP",
}
# No client certificate asked for: Alloy's default client_auth_type.
NO_CLIENT_CERT = ("", "NoClientCert")
_HOST_PATHS = {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}
_CONTAINER_PATHS = {"procfs": "/host/proc", "sysfs": "/host/sys", "rootfs": "/host/root",
                    "udev_data": "/run/udev/data"}
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
ALONE = {"enabled": False, "name": "", "node_name": "", "members": [], "join_addresses": [], "advertise_address": "",
         "tls": {}, "flags": []}


class RuntimeMissing(Exception):
    """No runtime described for the host."""


def local_url(address, port=None, scheme="http"):
    """The http:// (or https://) URL a process on the host uses to reach an address Alloy listens
    on (host:port, [ipv6]:port, or an address and port); wildcards become the loopback."""
    text = str(address).strip()
    if port is None:
        host, sep, port = text.rpartition(":")
        if not sep or not str(port).isdigit():
            raise ValueError("expected host:port or [ipv6]:port, got %r" % text)
    else:
        host = text
    host = _WILDCARDS.get(host.strip("[]"), host.strip("[]"))
    return "%s://%s:%d" % (scheme, "[%s]" % host if ":" in host else host, int(port))


def http_tls(cluster):
    """The tls block of Alloy's http block for a cluster over TLS (Alloy's http service: a
    certificate and key, read at every handshake; the CA checks clients only when asked to):
    the member's certificate and key, with client_ca_file when it asks for client certificates;
    {} when the HTTP server is plain."""
    tls = (cluster or {}).get("tls") or {}
    if not tls:
        return {}
    block = {"cert_file": tls["cert_file"], "key_file": tls["key_file"]}
    if tls.get("client_auth_type", "") not in NO_CLIENT_CERT:
        block.update(client_ca_file=tls["ca_file"], client_auth_type=tls["client_auth_type"])
    return block


def api_tls(cluster):
    """How a process on the host checks Alloy's HTTPS server at api_url (127.0.0.1 for a wildcard
    listener, which its certificate need not name): the cluster's CA, and the name the certificate
    carries for the other members - the server name, else the address this member advertises; its
    own certificate when Alloy asks clients for one. {} for plain HTTP."""
    tls = (cluster or {}).get("tls") or {}
    if not tls:
        return {}
    advertised = (cluster.get("advertise_address") or "").rpartition(":")[0].strip("[]")
    found = {"ca_file": tls["ca_file"], "server_name": tls.get("server_name") or advertised}
    if tls.get("client_auth_type", "") not in NO_CLIENT_CERT:
        found.update(cert_file=tls["cert_file"], key_file=tls["key_file"])
    return found


def _scheme(cluster):
    return "https" if http_tls(cluster) else "http"


def host_name(facts, inventory_hostname):
    """The host's short name as Alloy's unit sees it (HOSTNAME=%H), else the inventory name."""
    return facts.get("hostname") or inventory_hostname


def systemd(checked, facts, inventory_hostname, cluster=None):
    """The runtime of alloy_install (its checked variables, without the role's prefix; cluster:
    plugin_utils/cluster.describe)."""
    debian = facts.get("os_family") == "Debian"
    return {
        "kind": "systemd",
        "service": "alloy.service",
        "config_dir": checked["config_path"],
        "config_group": checked["group"],
        "env_file": "/etc/default/alloy" if debian else "/etc/sysconfig/alloy",
        "alloy_command": ["/usr/bin/alloy"],
        "api_url": local_url(checked["listen_address"], scheme=_scheme(cluster)),
        "instance": host_name(facts, inventory_hostname),
        "host_paths": dict(_HOST_PATHS),
        "cluster": dict(cluster or ALONE),
        "http_tls": http_tls(cluster),
        "api_tls": api_tls(cluster),
    }


def compose(checked, cluster=None):
    """The runtime of alloy_docker (its checked variables, without the role's prefix; cluster:
    plugin_utils/cluster.describe with its COMPOSE shape). The same in check mode, so that a check
    run compares like with like; alloy_docker empties alloy_command there when the image is not on
    the host yet."""
    pull = "never" if checked["pull"] == "never" else "missing"
    return {
        "kind": "compose",
        "service": checked["container_name"],
        "config_dir": checked["config_dir"],
        "config_group": "root",
        "env_file": checked["project_dir"] + "/alloy.env",
        "alloy_command": ["docker", "run", "--rm", "--pull=" + pull, "--network=none", "--entrypoint=/bin/alloy",
                          "--volume={staging}:{staging}:ro", checked["image"]],
        "api_url": local_url(checked["publish_address"], checked["port"], scheme=_scheme(cluster)),
        "instance": checked["hostname"],
        # Without alloy_docker_host_metrics nothing of the host is mounted: Alloy sees its container's own.
        "host_paths": dict(_CONTAINER_PATHS if checked.get("host_metrics", True) else _HOST_PATHS),
        "cluster": dict(cluster or ALONE),
        # The TLS files are mounted into the container at the same paths (alloy_docker's vars).
        "http_tls": http_tls(cluster),
        "api_tls": api_tls(cluster),
    }


def from_facts(facts, kept=True):
    """The host's runtime: the fact a runtime role's preflight published, else (with kept) the
    one kept on the host (gathered as ansible_local); RuntimeMissing when there is none.
    alloy_config takes only the published one (kept=False): a runtime role in the same play
    also brings the handlers that restart Alloy."""
    facts = facts or {}
    found = facts.get(FACT) or (kept and (facts.get("ansible_local") or {}).get(FACT))
    if not isinstance(found, dict) or not found:
        raise RuntimeMissing(
            "no Alloy runtime is described for this host (the fact %s): run the role that runs Alloy here - "
            "fleet.alloy.alloy_install (systemd; at least its preflight, tasks_from: preflight, which also brings "
            "the handlers that restart Alloy) or fleet.alloy.alloy_docker (Compose, which runs alloy_config "
            "itself) - before this, in the same play%s" % (FACT, "" if not kept else "; or once before, so that it is kept on the host as a local fact"))
    missing = sorted(set(KEYS) - set(found))
    if missing:
        raise RuntimeMissing("the fact %s lacks %s: it was written by another version of fleet.alloy; run "
                             "fleet.alloy.alloy_install or fleet.alloy.alloy_docker again" % (FACT, ", ".join(missing)))
    return found
