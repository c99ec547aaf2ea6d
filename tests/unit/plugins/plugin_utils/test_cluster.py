"""Clustering from the inventory (plugins/plugin_utils/cluster.py) and its preflight rules, for both
runtimes: alloy_install (systemd) and alloy_docker (Compose)."""
from __future__ import annotations

from typing import Any, Dict, List

from ansible.errors import AnsibleUndefinedVariable
from ansible_collections.fleet.alloy.plugins.plugin_utils import cluster, runtime
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


# ---------------------------------------------------------------- Compose (alloy_docker)
# Alloy listens inside the container; the others reach the port Docker publishes on the host. So a
# member is joined, and advertises itself, at its host's address (its IP publish address, else its
# ansible_host) and its published port (alloy_docker_port), never at the container's address.
DOCKER_HOSTVARS: Dict[str, Dict[str, Any]] = {
    "box-01": {"alloy_docker_cluster_enabled": True, "ansible_host": "10.0.1.1", "alloy_docker_publish_address": "0.0.0.0"},
    # published on one address of the host only: that address, whatever ansible_host says
    "box-02": {"alloy_docker_cluster_enabled": True, "ansible_host": "box-02.example.com",
               "alloy_docker_publish_address": "10.0.1.2", "alloy_docker_port": "9000"},
    "box-03": {"alloy_docker_cluster_enabled": "yes", "ansible_host": "fd00::3"},
    "box-04": {"alloy_docker_cluster_enabled": True, "alloy_docker_cluster_advertise_address": "192.0.2.4:12345"},
    "box-05": {"alloy_docker_publish_address": "0.0.0.0"},                    # not a member
    "web-01": {"alloy_install_cluster_enabled": True, "ansible_host": "10.0.0.1"},   # alloy_install's cluster
}
DOCKER_GROUPS = {"all": list(DOCKER_HOSTVARS), "boxes": ["box-01", "box-02"]}
DOCKER_CHECKED = {"cluster_enabled": True, "publish_address": "0.0.0.0", "port": 12345, "cluster_name": "",
                  "cluster_wait_for_size": 0}


def _docker_vars(host: str) -> Dict[str, Any]:
    return DOCKER_HOSTVARS.get(host, {})


def test_compose_members_are_joined_at_their_hosts_address_and_published_port() -> None:
    described = cluster.describe(DOCKER_CHECKED, "box-01", DOCKER_GROUPS, _docker_vars, cluster.COMPOSE)
    assert described["members"] == ["box-01", "box-02", "box-03", "box-04"]   # not web-01: another runtime's
    # box-02: its publish address (the only one its port is on) and its port; box-03: its ansible_host and
    # the port this host publishes (it sets none); box-04: the address it advertises
    assert described["join_addresses"] == ["10.0.1.2:9000", "[fd00::3]:12345", "192.0.2.4:12345"]
    # box-01 publishes on every address: it advertises its ansible_host and the published port
    assert described["flags"] == ["--cluster.enabled=true", "--cluster.node-name=box-01",
                                  "--cluster.join-addresses=10.0.1.2:9000,[fd00::3]:12345,192.0.2.4:12345",
                                  "--cluster.advertise-address=10.0.1.1:12345"]
    assert described["node_name"] == "box-01" and described["enabled"] is True


def test_compose_advertises_the_host_address_its_port_is_published_on() -> None:
    checked = dict(DOCKER_CHECKED, publish_address="10.0.1.2", port=9000, cluster_group="boxes", cluster_name="lab",
                   cluster_wait_for_size=2, cluster_wait_timeout="1m")
    described = cluster.describe(checked, "box-02", DOCKER_GROUPS, _docker_vars, cluster.COMPOSE)
    assert described["members"] == ["box-01", "box-02"]
    # box-01's inventory sets no port: as for alloy_install's listen port, a member is taken to publish
    # the port this host does (a play's variable, which the inventory does not show)
    assert described["flags"] == ["--cluster.enabled=true", "--cluster.node-name=box-02",
                                  "--cluster.join-addresses=10.0.1.1:9000", "--cluster.name=lab",
                                  "--cluster.advertise-address=10.0.1.2:9000", "--cluster.wait-for-size=2",
                                  "--cluster.wait-timeout=1m"]
    given = dict(DOCKER_CHECKED, cluster_advertise_address="203.0.113.9:12345")
    assert cluster.describe(given, "box-01", DOCKER_GROUPS, _docker_vars, cluster.COMPOSE)["flags"][-1] == \
        "--cluster.advertise-address=203.0.113.9:12345"


def test_compose_without_clustering_is_alone_and_publishes_it() -> None:
    off = dict(DOCKER_CHECKED, cluster_enabled=False)
    assert cluster.describe(off, "box-05", DOCKER_GROUPS, _docker_vars, cluster.COMPOSE) == cluster.ALONE
    assert cluster.problems(dict(off, publish_address="127.0.0.1"), "box-05", DOCKER_GROUPS, _docker_vars,
                            cluster.COMPOSE) == []


def test_the_compose_runtime_publishes_its_cluster() -> None:
    checked = dict(DOCKER_CHECKED, pull="missing", container_name="alloy", config_dir="/opt/alloy/config",
                   project_dir="/opt/alloy", image="grafana/alloy:v1.10.0", hostname="box-01")
    described = cluster.describe(checked, "box-01", DOCKER_GROUPS, _docker_vars, cluster.COMPOSE)
    assert runtime.compose(checked, described)["cluster"] == described
    assert runtime.compose(checked)["cluster"] == runtime.ALONE


class _Unreadable(dict):   # type: ignore[type-arg]
    """A host's variables where one cannot be templated (it reads facts not gathered there)."""

    def get(self, key: str, default: Any = None) -> Any:
        if key == "alloy_docker_publish_address":
            raise AnsibleUndefinedVariable("'ansible_local' is undefined")
        return super().get(key, default)


def test_a_peer_variable_that_cannot_be_templated_is_taken_as_unset() -> None:
    peers = dict(DOCKER_HOSTVARS, **{"box-02": _Unreadable(DOCKER_HOSTVARS["box-02"])})
    described = cluster.describe(dict(DOCKER_CHECKED, cluster_group="boxes"), "box-01", DOCKER_GROUPS,
                                 lambda host: peers.get(host, {}), cluster.COMPOSE)
    assert described["join_addresses"] == ["box-02.example.com:9000"]


def _docker_problems(values: Dict[str, Any], host: str = "box-01") -> List[str]:
    context = {"facts": {}, "groups": [], "host": host, "peer_vars": _docker_vars, "inventory_groups": DOCKER_GROUPS}
    base = {"alloy_docker_cluster_enabled": True, "alloy_docker_publish_address": "0.0.0.0", "alloy_docker_port": 12345}
    return rb.check_values("alloy_docker", dict(base, **values), context)[1]


def test_a_loopback_publish_address_is_refused_with_clustering_on() -> None:
    assert _docker_problems({}) == []
    for address in ("127.0.0.1", "::1", "127.0.1.1"):
        assert _docker_problems({"alloy_docker_publish_address": address}) == [
            "alloy_docker_cluster_enabled needs alloy_docker_publish_address on an address the other members reach "
            "(peers talk over Alloy's HTTP server), not the loopback %s: for example this host's IP address or "
            "0.0.0.0, with a firewall that lets only the members in" % address]
    # the role's default, and a survey's "no": not clustered, nothing to refuse
    assert _docker_problems({"alloy_docker_publish_address": "127.0.0.1", "alloy_docker_cluster_enabled": "no"}) == []


def test_compose_needs_an_address_to_advertise() -> None:
    # box-04 has no ansible_host: on every address, nothing tells the host's address (Alloy would take the
    # container's eth0)
    message = ("alloy_docker_cluster_enabled needs the address the other members reach this host at (Alloy in the "
               "container would advertise the container's own): set alloy_docker_publish_address to this host's IP "
               "address, give the host an IP address as ansible_host, or set alloy_docker_cluster_advertise_address")
    assert _docker_problems({}, host="box-05") == [message]
    assert _docker_problems({"alloy_docker_publish_address": "10.0.1.5"}, host="box-05") == []
    assert _docker_problems({"alloy_docker_cluster_advertise_address": "10.0.1.5:12345"}, host="box-05") == []


def test_what_cannot_form_a_compose_cluster_is_refused() -> None:
    assert _docker_problems({"alloy_docker_cluster_group": "boxes"}, host="box-03") == [
        "alloy_docker_cluster_enabled is true but this host is not in alloy_docker_cluster_group (boxes): "
        "add it to the group, or turn clustering off for it"]
    assert _docker_problems({"alloy_docker_cluster_wait_for_size": "5"}) == [
        "alloy_docker_cluster_wait_for_size is 5 but the inventory has 4 members"]
    assert _docker_problems({"alloy_docker_cluster_advertise_address": "0.0.0.0:12345"}) == [
        "alloy_docker_cluster_advertise_address must be an address the other members reach, got 0.0.0.0:12345"]
    assert _docker_problems({"alloy_docker_extra_args": ["--cluster.name=x"]}) == [
        "alloy_docker_extra_args sets --cluster.name=x while alloy_docker_cluster_enabled writes the cluster flags: "
        "use the alloy_docker_cluster_* variables"]
    # the cluster variables are not checked while clustering is off (the role does not read them)
    assert _docker_problems({"alloy_docker_cluster_enabled": False, "alloy_docker_cluster_group": "no group!"}) == []
    assert _docker_problems({"alloy_docker_cluster_group": "no group!"}) == [
        "alloy_docker_cluster_group: expected an inventory group name, got 'no group!'"]


# ---------------------------------------------------------------- TLS between the members (cluster_tls)
TLS = {"ca_file": "/etc/alloy/tls/ca.pem", "cert_file": "/etc/alloy/tls/member.pem",
       "key_file": "/etc/alloy/tls/member.key"}
TLS_FLAGS = ["--cluster.enable-tls=true", "--cluster.tls-ca-path=/etc/alloy/tls/ca.pem",
             "--cluster.tls-cert-path=/etc/alloy/tls/member.pem", "--cluster.tls-key-path=/etc/alloy/tls/member.key"]


def _with_tls(hostvars: Dict[str, Dict[str, Any]], prefix: str) -> Dict[str, Dict[str, Any]]:
    """hostvars where every member sets <prefix>cluster_tls (as group_vars would)."""
    return {host: dict(values, **{prefix + "cluster_tls": TLS}) if values.get(prefix + "cluster_enabled") else values
            for host, values in hostvars.items()}


TLS_HOSTVARS = _with_tls(HOSTVARS, "alloy_install_")
TLS_DOCKER_HOSTVARS = _with_tls(DOCKER_HOSTVARS, "alloy_docker_")


def _tls_problems(values: Dict[str, Any], host: str = "web-01", hostvars: Any = None) -> List[str]:
    hostvars = TLS_HOSTVARS if hostvars is None else hostvars
    context = {"facts": {}, "groups": [], "host": host, "peer_vars": lambda name: hostvars.get(name, {}),
               "inventory_groups": GROUPS}
    base = {"alloy_install_cluster_enabled": True, "alloy_install_listen_address": "0.0.0.0:12345",
            "alloy_install_cluster_tls": TLS}
    return rb.check_values("alloy_install", dict(base, **values), context)[1]


def test_tls_adds_the_enable_tls_flags_and_describes_them() -> None:
    checked = dict(CHECKED, cluster_tls=rb.check_value("alloy_install_cluster_tls", TLS))
    described = cluster.describe(checked, "web-01", GROUPS, _vars)
    assert described["flags"][-4:] == TLS_FLAGS
    assert described["flags"][:4] == cluster.describe(CHECKED, "web-01", GROUPS, _vars)["flags"]
    assert described["tls"] == dict(TLS, server_name="", client_auth_type="")
    assert described["advertise_address"] == "10.0.0.1:12345"
    named = dict(checked, cluster_tls=dict(checked["cluster_tls"], server_name="alloy.cluster.example"))
    assert cluster.describe(named, "web-01", GROUPS, _vars)["flags"][-5:] == TLS_FLAGS + [
        "--cluster.tls-server-name=alloy.cluster.example"]
    assert cluster.describe(CHECKED, "web-01", GROUPS, _vars)["tls"] == {}


def test_compose_tls_flags_go_into_the_command_as_well() -> None:
    checked = dict(DOCKER_CHECKED, cluster_tls=dict(TLS, server_name="", client_auth_type=""))
    described = cluster.describe(checked, "box-01", DOCKER_GROUPS, _docker_vars, cluster.COMPOSE)
    assert described["flags"][-4:] == TLS_FLAGS
    assert described["advertise_address"] == "10.0.1.1:12345"


def test_the_tls_variable_is_checked_and_named() -> None:
    assert _tls_problems({}) == []
    assert rb.check_value("alloy_install_cluster_tls", {}) == {}
    assert rb.check_value("alloy_install_cluster_tls", dict(TLS, client_auth_type="RequireAndVerifyClientCert")) == \
        dict(TLS, server_name="", client_auth_type="RequireAndVerifyClientCert")
    cases = {
        "ca.pem": "alloy_install_cluster_tls: expected {} (off), or a mapping of ca_file, cert_file, key_file "
                  "(absolute paths on the host) and optionally server_name and client_auth_type (NoClientCert, "
                  "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert), "
                  "got a string",
        **{repr(dict(TLS, cafile="x")): "alloy_install_cluster_tls: unknown key 'cafile' (the keys are ca_file, "
                                        "cert_file, key_file, server_name, client_auth_type)"},
    }
    assert _tls_problems({"alloy_install_cluster_tls": "ca.pem"}) == [cases["ca.pem"]]
    assert _tls_problems({"alloy_install_cluster_tls": dict(TLS, cafile="x")}) == [cases[repr(dict(TLS, cafile="x"))]]
    assert _tls_problems({"alloy_install_cluster_tls": {"ca_file": "/ca.pem"}}) == [
        "alloy_install_cluster_tls: cert_file and key_file are required: the CA that signed the members' "
        "certificates, this member's certificate and its key"]
    assert _tls_problems({"alloy_install_cluster_tls": dict(TLS, key_file="tls/member.key")}) == [
        "alloy_install_cluster_tls.key_file: expected an absolute path other than /, without blanks, got "
        "'tls/member.key'"]
    assert _tls_problems({"alloy_install_cluster_tls": dict(TLS, client_auth_type="Always")}) == [
        "alloy_install_cluster_tls.client_auth_type: expected one of NoClientCert, RequestClientCert, "
        "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert, got 'Always'"]
    assert _tls_problems({"alloy_install_cluster_tls": dict(TLS, server_name="a name")}) == [
        "alloy_install_cluster_tls.server_name: expected a DNS name or IP address that every member's certificate "
        "carries, got 'a name'"]
    # not read while clustering is off
    assert _tls_problems({"alloy_install_cluster_enabled": False, "alloy_install_cluster_tls": "x"}) == []


def test_tls_needs_a_name_the_certificate_carries() -> None:
    # web-02 has no IP address to advertise: Alloy would take eth0's, which the role cannot tell
    message = ("alloy_install_cluster_tls needs server_name (a name every member's certificate carries) or an address "
               "this host advertises: without either Alloy advertises an address of eth0 or en0, which the other "
               "members check its certificate for, and which the role cannot tell: set "
               "alloy_install_cluster_tls.server_name, alloy_install_cluster_advertise_address, or an IP address as "
               "ansible_host")
    assert _tls_problems({}, host="web-02") == [message]
    assert _tls_problems({"alloy_install_cluster_tls": dict(TLS, server_name="alloy.cluster.example")},
                         host="web-02") == []
    assert _tls_problems({"alloy_install_cluster_advertise_address": "10.0.0.2:12345"}, host="web-02") == []


def test_tls_needs_an_alloy_that_forms_a_tls_cluster() -> None:
    assert _tls_problems({"alloy_install_version": "1.4.3"}) == [
        "alloy_install_cluster_tls needs Alloy 1.5.0 or later (--cluster.enable-tls), alloy_install_version is 1.4.3"]
    assert _tls_problems({"alloy_install_version": "1.16.2"}) == [
        "alloy_install_cluster_tls: Alloy 1.16.2 does not form a cluster over TLS (its HTTP server offers no HTTP/2 "
        "over TLS, grafana/alloy#6436): use 1.16.3 or later"]
    assert _tls_problems({"alloy_install_version": "1.16.3"}) == _tls_problems({"alloy_install_version": ""}) == []


def test_members_with_and_without_tls_are_refused() -> None:
    assert _tls_problems({}, hostvars=HOSTVARS) == [
        "alloy_install_cluster_tls is set here but not set on web-02, web-03, web-04: a member with TLS and one "
        "without cannot join each other; set it for the whole group"]
    assert _problems({}, host="web-01") == []   # none has it
    mixed = dict(HOSTVARS, **{"web-03": TLS_HOSTVARS["web-03"]})
    context = {"facts": {}, "groups": [], "host": "web-01", "peer_vars": lambda name: mixed.get(name, {}),
               "inventory_groups": GROUPS}
    assert rb.check_values("alloy_install", {"alloy_install_cluster_enabled": True, "alloy_install_cluster_tls": {},
                                             "alloy_install_listen_address": "0.0.0.0:12345"}, context)[1] == [
        "alloy_install_cluster_tls is not set here but set on web-03: a member with TLS and one without cannot join "
        "each other; set it for the whole group"]


def test_compose_tls_is_checked_the_same_way() -> None:
    context = {"facts": {}, "groups": [], "host": "box-01", "inventory_groups": DOCKER_GROUPS,
               "peer_vars": lambda name: TLS_DOCKER_HOSTVARS.get(name, {})}
    base = {"alloy_docker_cluster_enabled": True, "alloy_docker_publish_address": "0.0.0.0", "alloy_docker_port": 12345,
            "alloy_docker_cluster_tls": TLS}
    assert rb.check_values("alloy_docker", base, context)[1] == []
    assert rb.check_values("alloy_docker", dict(base, alloy_docker_version="1.16.2"), context)[1] == [
        "alloy_docker_cluster_tls: Alloy 1.16.2 does not form a cluster over TLS (its HTTP server offers no HTTP/2 "
        "over TLS, grafana/alloy#6436): use 1.16.3 or later"]
