"""The runtime contract (plugins/plugin_utils/runtime.py): the URL a process on the host reaches
Alloy at, the description alloy_install (systemd) and alloy_docker (Compose) publish as the fact
alloy_runtime, and how alloy_config and alloy_verify read it back (from_facts, the filter
fleet.alloy.alloy_runtime): alloy_verify also the one kept on the host (kept=True), alloy_config
only the one a runtime role's preflight published in this play (kept=False)."""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.filter.alloy_local_url import alloy_local_url
from ansible_collections.fleet.alloy.plugins.filter.alloy_runtime import alloy_runtime
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime
from ansible_collections.fleet.alloy.plugins.plugin_utils.runtime import RuntimeMissing

HOST_PATHS = {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}
CONTAINER_PATHS = {"procfs": "/host/proc", "sysfs": "/host/sys", "rootfs": "/host/root", "udev_data": "/run/udev/data"}
# alloy_install's and alloy_docker's checked variables (without the role's prefix), as the preflight has them.
INSTALL: Dict[str, Any] = {"state": "present", "config_path": "/etc/alloy/conf.d", "group": "alloy",
                           "listen_address": "127.0.0.1:12345", "user": "alloy"}
DOCKER: Dict[str, Any] = {"state": "present", "container_name": "alloy", "config_dir": "/opt/alloy/config",
                          "project_dir": "/opt/alloy", "image": "grafana/alloy:v1.10.0", "pull": "missing",
                          "publish_address": "127.0.0.1", "port": 12345, "hostname": "web-01"}
DEBIAN = {"os_family": "Debian", "hostname": "web-01"}
REDHAT = {"os_family": "RedHat", "hostname": "db-02"}


# ---- local_url

@pytest.mark.parametrize("address,port,expected", [
    ("127.0.0.1:12345", None, "http://127.0.0.1:12345"),
    ("10.0.0.7:9090", None, "http://10.0.0.7:9090"),
    ("alloy.example:80", None, "http://alloy.example:80"),
    (" 10.0.0.7:12345\n", None, "http://10.0.0.7:12345"),
    # wildcards: the host reaches them on the loopback of the same family
    ("0.0.0.0:12345", None, "http://127.0.0.1:12345"),
    (":12345", None, "http://127.0.0.1:12345"),
    ("[::]:12345", None, "http://[::1]:12345"),
    ("[::1]:12345", None, "http://[::1]:12345"),
    ("[fd00::7]:8080", None, "http://[fd00::7]:8080"),
    # an address and a port apart (alloy_docker_publish_address, alloy_docker_port)
    ("127.0.0.1", 12345, "http://127.0.0.1:12345"),
    ("0.0.0.0", "12345", "http://127.0.0.1:12345"),
    ("", 12345, "http://127.0.0.1:12345"),
    ("::", 12345, "http://[::1]:12345"),
    ("fd00::7", 8080, "http://[fd00::7]:8080"),
    ("[fd00::7]", 8080, "http://[fd00::7]:8080"),
])
def test_local_url(address: str, port: Optional[Union[int, str]], expected: str) -> None:
    assert runtime.local_url(address, port) == expected


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:http", "[::1]", "127.0.0.1:", ""])
def test_local_url_needs_a_port(address: str) -> None:
    with pytest.raises(ValueError) as err:
        runtime.local_url(address)
    assert str(err.value) == "expected host:port or [ipv6]:port, got %r" % address.strip()


def test_the_filter_names_itself_when_the_address_has_no_port() -> None:
    assert alloy_local_url("0.0.0.0:12345") == "http://127.0.0.1:12345"
    with pytest.raises(AnsibleFilterError) as err:
        alloy_local_url("localhost")
    assert str(err.value) == "alloy_local_url: expected host:port or [ipv6]:port, got 'localhost'"


# ---- systemd (alloy_install)

def test_systemd_on_debian() -> None:
    assert runtime.systemd(INSTALL, DEBIAN, "inventory-name") == {
        "kind": "systemd", "service": "alloy.service", "config_dir": "/etc/alloy/conf.d", "config_group": "alloy",
        "env_file": "/etc/default/alloy", "alloy_command": ["/usr/bin/alloy"], "api_url": "http://127.0.0.1:12345",
        "instance": "web-01", "host_paths": HOST_PATHS, "cluster": runtime.ALONE, "http_tls": {}, "api_tls": {}}


def test_systemd_on_redhat_reads_sysconfig() -> None:
    found = runtime.systemd(INSTALL, REDHAT, "inventory-name")
    assert found["env_file"] == "/etc/sysconfig/alloy"
    assert found["instance"] == "db-02"


def test_systemd_follows_the_checked_variables() -> None:
    checked = dict(INSTALL, config_path="/srv/alloy", group="grafana", listen_address="0.0.0.0:9000")
    found = runtime.systemd(checked, DEBIAN, "inventory-name")
    assert (found["config_dir"], found["config_group"], found["api_url"]) == (
        "/srv/alloy", "grafana", "http://127.0.0.1:9000")
    assert runtime.systemd(dict(INSTALL, listen_address="[::]:12345"), DEBIAN, "x")["api_url"] == "http://[::1]:12345"
    assert runtime.systemd(dict(INSTALL, listen_address="[fd00::1]:1"), DEBIAN, "x")["api_url"] == "http://[fd00::1]:1"


@pytest.mark.parametrize("facts", [{"os_family": "Debian"}, {"os_family": "Debian", "hostname": ""}, {}])
def test_systemd_instance_without_a_host_name_is_the_inventory_name(facts: Dict[str, str]) -> None:
    assert runtime.systemd(INSTALL, facts, "inventory-name")["instance"] == "inventory-name"


def test_systemd_without_the_roles_variables_is_a_key_error() -> None:
    # the preflight action relies on it: a play that checks alloy_install outside the role publishes nothing
    with pytest.raises(KeyError):
        runtime.systemd({"state": "present"}, DEBIAN, "x")


def test_each_description_has_its_own_host_paths() -> None:
    first = runtime.systemd(INSTALL, DEBIAN, "x")
    first["host_paths"]["procfs"] = "/elsewhere"
    assert runtime.systemd(INSTALL, DEBIAN, "x")["host_paths"] == HOST_PATHS
    other = runtime.compose(DOCKER)
    other["host_paths"]["rootfs"] = "/elsewhere"
    assert runtime.compose(DOCKER)["host_paths"] == CONTAINER_PATHS


# ---- compose (alloy_docker)

def test_compose() -> None:
    assert runtime.compose(DOCKER) == {
        "kind": "compose", "service": "alloy", "config_dir": "/opt/alloy/config", "config_group": "root",
        "env_file": "/opt/alloy/alloy.env",
        "alloy_command": ["docker", "run", "--rm", "--pull=missing", "--network=none", "--entrypoint=/bin/alloy",
                          "--volume={staging}:{staging}:ro", "grafana/alloy:v1.10.0"],
        "api_url": "http://127.0.0.1:12345", "instance": "web-01", "host_paths": CONTAINER_PATHS,
        "cluster": runtime.ALONE, "http_tls": {}, "api_tls": {}}


def test_compose_without_host_mounts_sees_the_containers_own_paths() -> None:
    assert runtime.compose(dict(DOCKER, host_metrics=False))["host_paths"] == HOST_PATHS
    assert runtime.compose(dict(DOCKER, host_metrics=True))["host_paths"] == CONTAINER_PATHS


@pytest.mark.parametrize("pull,expected", [
    ("missing", "--pull=missing"),
    ("always", "--pull=missing"),     # the role pulled already; the CLI run needs no second pull
    ("never", "--pull=never"),
])
def test_compose_pulls_only_what_is_missing_and_never_when_told_not_to(pull: str, expected: str) -> None:
    command = runtime.compose(dict(DOCKER, pull=pull))["alloy_command"]
    assert [word for word in command if word.startswith("--pull")] == [expected]


@pytest.mark.parametrize("address,port,expected", [
    ("127.0.0.1", 12345, "http://127.0.0.1:12345"),
    ("0.0.0.0", 9999, "http://127.0.0.1:9999"),
    ("10.1.2.3", 80, "http://10.1.2.3:80"),
    ("::", 12345, "http://[::1]:12345"),
])
def test_compose_api_url_is_the_published_port(address: str, port: int, expected: str) -> None:
    assert runtime.compose(dict(DOCKER, publish_address=address, port=port))["api_url"] == expected


def test_compose_follows_the_checked_variables() -> None:
    checked = dict(DOCKER, project_dir="/srv/obs", config_dir="/srv/obs/conf", container_name="obs-alloy",
                   image="registry.local:5000/alloy@sha256:" + "a" * 64, hostname="edge-3")
    found = runtime.compose(checked)
    assert found["env_file"] == "/srv/obs/alloy.env"
    assert (found["config_dir"], found["service"], found["instance"]) == ("/srv/obs/conf", "obs-alloy", "edge-3")
    assert found["alloy_command"][-1] == "registry.local:5000/alloy@sha256:" + "a" * 64


def test_every_description_has_exactly_the_keys_of_the_contract() -> None:
    assert set(runtime.systemd(INSTALL, DEBIAN, "x")) == set(runtime.KEYS) | set(runtime.OPTIONAL)
    assert set(runtime.compose(DOCKER)) == set(runtime.KEYS) | set(runtime.OPTIONAL)


# ---- from_facts

def test_the_fact_of_this_run_wins_over_the_one_kept_on_the_host() -> None:
    now = runtime.systemd(INSTALL, DEBIAN, "x")
    kept = runtime.compose(DOCKER)
    assert runtime.from_facts({"alloy_runtime": now, "ansible_local": {"alloy_runtime": kept}}) is now
    assert runtime.from_facts({"ansible_local": {"alloy_runtime": kept}}) is kept


@pytest.mark.parametrize("kept", [True, False])
@pytest.mark.parametrize("facts", [None, {}, {"ansible_local": {}}, {"ansible_local": None},
                                   {"alloy_runtime": {}}, {"alloy_runtime": "systemd"},
                                   {"ansible_local": {"alloy_runtime": ["systemd"]}}])
def test_no_runtime_names_the_roles_that_describe_one(facts: Optional[Dict[str, Any]], kept: bool) -> None:
    with pytest.raises(RuntimeMissing) as err:
        runtime.from_facts(facts, kept=kept)
    message = str(err.value)
    assert message.startswith("no Alloy runtime is described for this host (the fact alloy_runtime): ")
    assert "fleet.alloy.alloy_install (systemd;" in message and "fleet.alloy.alloy_docker (Compose," in message


# What alloy_config is told when no runtime role's preflight ran in the play (kept=False), and what
# the verify play is told (kept=True: a runtime kept on the host by an earlier run is enough).
IN_THE_PLAY = ("no Alloy runtime is described for this host (the fact alloy_runtime): run the role that runs Alloy "
               "here - fleet.alloy.alloy_install (systemd; at least its preflight, tasks_from: preflight, which also "
               "brings the handlers that restart Alloy) or fleet.alloy.alloy_docker (Compose, which runs alloy_config "
               "itself) - before this, in the same play")
OR_KEPT = IN_THE_PLAY + "; or once before, so that it is kept on the host as a local fact"


def test_without_kept_the_runtime_kept_on_the_host_is_ignored() -> None:
    kept = runtime.compose(DOCKER)
    facts = {"ansible_local": {"alloy_runtime": kept}}
    assert runtime.from_facts(facts, kept=True) is kept
    assert runtime.from_facts(facts) is kept   # kept=True is the default (alloy_verify, the filter)
    assert alloy_runtime(facts, "service") == "alloy"
    for without in (facts, {}, {"ansible_local": {"alloy_runtime": {"kind": "systemd"}}}):   # not even looked at
        with pytest.raises(RuntimeMissing) as err:
            runtime.from_facts(without, kept=False)
        message = str(err.value)
        assert message == IN_THE_PLAY
        assert "tasks_from: preflight" in message and "once before" not in message
        with pytest.raises(AnsibleFilterError) as filter_err:
            alloy_runtime(without, "instance", kept=False)
        assert str(filter_err.value) == IN_THE_PLAY
    with pytest.raises(RuntimeMissing) as err:
        runtime.from_facts({}, kept=True)
    assert str(err.value) == OR_KEPT
    # the runtime published in this play is taken either way, and wins over a kept one
    now = runtime.systemd(INSTALL, DEBIAN, "x")
    assert runtime.from_facts({"alloy_runtime": now, "ansible_local": {"alloy_runtime": kept}}, kept=False) is now
    assert runtime.from_facts({"alloy_runtime": now}, kept=False) is now


def test_a_fact_lacking_keys_names_them() -> None:
    old = {key: value for key, value in runtime.systemd(INSTALL, DEBIAN, "x").items()
           if key not in ("host_paths", "api_url", "config_group")}
    with pytest.raises(RuntimeMissing) as err:
        runtime.from_facts({"ansible_local": {"alloy_runtime": old}})
    assert str(err.value) == (
        "the fact alloy_runtime lacks api_url, config_group, host_paths: it was written by another version of "
        "fleet.alloy; run fleet.alloy.alloy_install or fleet.alloy.alloy_docker again")


# ---- the filter fleet.alloy.alloy_runtime

def test_the_filter_gives_the_description_or_one_key() -> None:
    facts = {"alloy_runtime": runtime.compose(DOCKER)}
    assert alloy_runtime(facts) == facts["alloy_runtime"]
    assert alloy_runtime(facts, "instance") == "web-01"
    with pytest.raises(AnsibleFilterError) as err:
        alloy_runtime(facts, "reload_url")
    assert str(err.value) == ("alloy_runtime: no key 'reload_url'; the keys are alloy_command, api_tls, api_url, "
                              "cluster, config_dir, config_group, env_file, host_paths, http_tls, instance, kind, "
                              "service")


def test_the_filter_fails_with_the_message_of_from_facts() -> None:
    with pytest.raises(AnsibleFilterError) as err:
        alloy_runtime({}, "instance")
    assert str(err.value).startswith("no Alloy runtime is described for this host (the fact alloy_runtime)")


def test_a_runtime_kept_before_clustering_reads_as_alone() -> None:
    kept = runtime.systemd(INSTALL, DEBIAN, "x")
    del kept["cluster"]
    assert alloy_runtime({"ansible_local": {"alloy_runtime": kept}}, "cluster") == runtime.ALONE


def test_a_runtime_kept_before_tls_reads_as_plain_http() -> None:
    kept = runtime.systemd(INSTALL, DEBIAN, "x")
    del kept["http_tls"], kept["api_tls"]
    facts = {"ansible_local": {"alloy_runtime": kept}}
    assert alloy_runtime(facts, "http_tls") == {} and alloy_runtime(facts, "api_tls") == {}


# ---- TLS between the members (cluster_tls): Alloy's HTTP server serves TLS

TLS = {"ca_file": "/etc/alloy/tls/ca.pem", "cert_file": "/etc/alloy/tls/member.pem",
       "key_file": "/etc/alloy/tls/member.key", "server_name": "", "client_auth_type": ""}


def _cluster(tls: Dict[str, str], advertise: str = "10.0.1.11:12345") -> Dict[str, Any]:
    return dict(runtime.ALONE, enabled=True, node_name="web-01", advertise_address=advertise, tls=tls)


def test_tls_makes_the_api_https_and_checks_the_address_the_others_reach() -> None:
    found = runtime.systemd(dict(INSTALL, listen_address="0.0.0.0:12345"), DEBIAN, "web-01", _cluster(TLS))
    assert found["api_url"] == "https://127.0.0.1:12345"
    assert found["http_tls"] == {"cert_file": "/etc/alloy/tls/member.pem", "key_file": "/etc/alloy/tls/member.key"}
    # the certificate names what the other members dial (its advertise address), not 127.0.0.1
    assert found["api_tls"] == {"ca_file": "/etc/alloy/tls/ca.pem", "server_name": "10.0.1.11"}
    assert runtime.api_tls(_cluster(TLS, "[fd00::7]:12345"))["server_name"] == "fd00::7"


def test_tls_with_a_server_name_and_client_certificates() -> None:
    tls = dict(TLS, server_name="alloy.cluster.example", client_auth_type="RequireAndVerifyClientCert")
    found = runtime.compose(dict(DOCKER, publish_address="0.0.0.0"), _cluster(tls))
    assert found["api_url"] == "https://127.0.0.1:12345"
    # Alloy refuses a client CA with NoClientCert: written only with a type that asks for certificates
    assert found["http_tls"] == {"cert_file": "/etc/alloy/tls/member.pem", "key_file": "/etc/alloy/tls/member.key",
                                 "client_ca_file": "/etc/alloy/tls/ca.pem",
                                 "client_auth_type": "RequireAndVerifyClientCert"}
    assert found["api_tls"] == {"ca_file": "/etc/alloy/tls/ca.pem", "server_name": "alloy.cluster.example",
                                "cert_file": "/etc/alloy/tls/member.pem", "key_file": "/etc/alloy/tls/member.key"}
    plain = dict(tls, client_auth_type="NoClientCert")
    assert set(runtime.http_tls(_cluster(plain))) == {"cert_file", "key_file"}
    assert set(runtime.api_tls(_cluster(plain))) == {"ca_file", "server_name"}


def test_without_tls_the_api_stays_plain() -> None:
    found = runtime.systemd(INSTALL, DEBIAN, "web-01", _cluster({}))
    assert (found["api_url"], found["http_tls"], found["api_tls"]) == ("http://127.0.0.1:12345", {}, {})
