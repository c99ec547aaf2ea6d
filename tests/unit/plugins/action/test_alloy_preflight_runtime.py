"""alloy_preflight and the runtime contract: once the role that runs Alloy (alloy_install,
alloy_docker) is checked without problems, the action describes its runtime, returns it as the
fact alloy_runtime and lets the tables checked after it in the same task see it, as alloy_config's
default instance does ({{ ansible_facts | fleet.alloy.alloy_runtime('instance') }}).
alloy_config without a runtime published in this play (one only kept on the host is not enough: a
runtime role in the play also brings the handlers that restart Alloy), or with a variable it no
longer reads, is refused.

The action is driven as in test_alloy_preflight_gather.py (a mocked task, a real Templar, setup
mocked), with the roles' own defaults as task variables, but in a child Python whose collection
loader is set up before the collection is imported: the defaults call fleet.alloy filters, which
this process cannot resolve (conftest imports the collection as a plain package). One child runs
every case."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
import yaml
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime
from templating_child import run_child

REPO = Path(__file__).resolve().parents[4]
DRIVER = r"""
import json, sys
from unittest import mock
from templating_child import start, templar, trusted
start()
from ansible.parsing.dataloader import DataLoader
from ansible_collections.fleet.alloy.plugins.action.alloy_preflight import ActionModule

results = {"__calls__": {}}
TLS_FILES = ("/etc/alloy/tls/ca.pem", "/etc/alloy/tls/member.pem", "/etc/alloy/tls/member.key")
for name, case in json.load(sys.stdin).items():
    task_vars = trusted(case["task_vars"])
    task = mock.MagicMock(args=case["args"], async_val=0, check_mode=case["check_mode"])
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(check_mode=case["check_mode"]), DataLoader(),
                          templar(task_vars), None)
    calls = results["__calls__"][name] = []
    def echo(module_args):
        # alloy_host_state echoes what it was asked (its arguments), one extra key
        return {"changed": False, "files": module_args["files"], "invocation": {},
                "rpm_keys": dict((key, False) for key in module_args["rpm_keys"]),
                "package": {"name": module_args["package"], "manager": module_args["package_manager"]},
                "service": {"name": module_args["service"]}, "exists": module_args["exists"],
                "env": dict({"path": module_args["env_file"], "section": module_args["env_section"]},
                            **({"secret_section": module_args["env_secret_section"]}
                               if module_args.get("env_secret_section") else {})),
                "config": {"path": module_args["config_dir"]} if module_args.get("config_dir") else {},
                "download": {"url": module_args["url"], "proxy": module_args["proxy"]} if "url" in module_args else {}}
    def execute(module_name, module_args=None, task_vars=None, case=case, calls=calls):
        # setup answers the case's facts; stat finds the case's files (the host's, for the TLS check)
        calls.append([module_name, sorted(module_args)])
        if "digest_key" in module_args:   # this run's key, the same for every read (a file of the run)
            results.setdefault("__keys__", {}).setdefault(name, []).append(module_args["digest_key"])
        if module_name == "ansible.builtin.stat":
            found = module_args["path"] in case.get("files", TLS_FILES)
            return {"stat": {"exists": found, "isreg": found}}
        if module_name == "fleet.alloy.alloy_host_state" and "for_family" in module_args:
            # the facts gathered (the case's setup) and the read given for their family, if any
            if case["setup"].get("failed"):
                return dict(case["setup"])
            facts = case["setup"]["ansible_facts"]
            family = facts.get("ansible_os_family", "")
            chosen = module_args["for_family"].get(family)
            if case.get("read_error"):
                return {"ansible_facts": facts, "family": family, "read": False, "read_error": case["read_error"]}
            return dict(echo(chosen) if chosen is not None else {}, ansible_facts=facts, family=family,
                        read=chosen is not None, _asked=module_args["for_family"])
        if module_name == "fleet.alloy.alloy_host_state":
            return echo(module_args)
        return dict(case.get("setup", {}))
    with mock.patch.object(ActionModule, "_execute_module", side_effect=execute):
        results[name] = action.run(task_vars=task_vars)
json.dump(results, sys.stdout, default=str)
"""


def defaults(*roles: str) -> Dict[str, Any]:
    """The roles' defaults, as the tasks of a play that imports them see them."""
    found: Dict[str, Any] = {}
    for role in roles:
        found.update(yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()))
    return found


DEBIAN = {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "12",
          "service_mgr": "systemd", "hostname": "web-01"}
ROCKY = {"os_family": "RedHat", "distribution": "Rocky", "distribution_major_version": "9", "service_mgr": "systemd"}
HOST_PATHS = {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}
# What alloy_install's defaults describe on DEBIAN.
SYSTEMD = {"kind": "systemd", "service": "alloy.service", "config_dir": "/etc/alloy/conf.d", "config_group": "alloy",
           "env_file": "/etc/default/alloy", "alloy_command": ["/usr/bin/alloy"], "api_url": "http://127.0.0.1:12345",
           "instance": "web-01", "host_paths": HOST_PATHS, "cluster": runtime.ALONE, "http_tls": {}, "api_tls": {}}
# A runtime described earlier, on another host name (published earlier in the play, or kept on the host).
KEPT = dict(SYSTEMD, instance="kept-name")
SITE = {"rules": "alloy_install", "roles": ["alloy_install", "alloy_config"]}


def case(args: Dict[str, Any], facts: Dict[str, Any], check_mode: bool = False, roles: Tuple[str, ...] = (),
         **variables: Any) -> Dict[str, Any]:
    """One run of the action: its arguments, and task variables of the roles' defaults, the host's facts and
    the case's variables."""
    task_vars = dict(defaults(*roles), inventory_hostname="inventory-name", group_names=["alloy"],
                     ansible_facts=facts, **variables)
    return {"args": args, "task_vars": task_vars, "check_mode": check_mode}


BOTH = ("alloy_install", "alloy_config")
TLS = {"ca_file": "/etc/alloy/tls/ca.pem", "cert_file": "/etc/alloy/tls/member.pem",
       "key_file": "/etc/alloy/tls/member.key"}
# The inventory's variables of the Compose cluster's hosts (hostvars): this host, another member that
# publishes on its own address, a systemd member of alloy_install's cluster (not of this one).
COMPOSE_PEERS = {"inventory-name": {"alloy_docker_cluster_enabled": True, "ansible_host": "10.0.0.7"},
                 "box-8": {"alloy_docker_cluster_enabled": True, "alloy_docker_publish_address": "10.0.0.8"},
                 "web-01": {"alloy_install_cluster_enabled": True, "ansible_host": "10.0.0.1"}}
CASES: Dict[str, Dict[str, Any]] = {
    "systemd": case(SITE, DEBIAN, roles=BOTH),
    "systemd_elsewhere": case(SITE, ROCKY, roles=BOTH, alloy_install_listen_address="0.0.0.0:9000",
                              alloy_install_config_path="/srv/alloy", alloy_install_group="grafana",
                              alloy_install_proxy="http://proxy.example:3128"),
    "systemd_no_key": case(dict(SITE, download_key=False), DEBIAN, roles=BOTH),
    "install_alone": case({"rules": "alloy_install"}, DEBIAN, roles=("alloy_install",)),
    "replaces_a_kept_runtime": case(SITE, dict(DEBIAN, alloy_runtime=KEPT), roles=BOTH),
    # the reader named first: the runtime role is checked before it all the same
    "config_named_before_install": case({"rules": "alloy_config", "roles": ["alloy_install"]}, DEBIAN, roles=BOTH),
    "install_refused": case(SITE, DEBIAN, roles=BOTH, alloy_install_version="v1.10.0"),
    "config_file_not_dir": case(SITE, DEBIAN, roles=BOTH, alloy_config_file="/etc/alloy/config.alloy"),
    "site_gathers": dict(case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]},
                              {}, roles=BOTH),
                         setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}}),
    # A variable that reads a fact (it cannot be templated before the facts), one whose value changes with them,
    # and a RedHat-family host: the read follows the variables as checked with the facts.
    "site_gathers_fact_variable": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH,
             alloy_install_config_path="/etc/alloy/{{ ansible_facts['hostname'] }}"),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}}),
    "site_gathers_fact_default": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH,
             alloy_install_config_path="/etc/alloy/{{ ansible_facts['hostname'] | default('any') }}"),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}}),
    "site_gathers_rocky": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in ROCKY.items()}}),
    "site_gathers_refused": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH,
             alloy_install_version="v1.10.0"),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}}),
    # Passes without the facts, refused with them: one round trip (the facts and a read), then the refusal.
    "site_gathers_el7": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in dict(ROCKY, distribution="CentOS",
                                                                               distribution_major_version="7").items()}}),
    # A launch variable refused: no read before the check.
    "site_gathers_site_refused": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH,
             alloy_site_verify="maybe"),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}}),
    "site_gathers_no_key": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"],
              "download_key": False}, {}, roles=BOTH),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}}),
    # The record alloy_config kept on the host (ansible_local): published as this run's, with the read of the apply.
    "site_gathers_kept_record": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH),
        setup={"ansible_facts": dict({"ansible_" + key: value for key, value in DEBIAN.items()},
                                     ansible_local={"alloy_pipelines": {"instance": "web-01", "pipelines": ["journal"]}})}),
    # Uninstalling: nothing of alloy_config's is read (its apply is never skipped on a read that uninstall makes stale).
    "site_gathers_absent": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH,
             alloy_install_state="absent"),
        setup={"ansible_facts": dict({"ansible_" + key: value for key, value in DEBIAN.items()},
                                     ansible_local={"alloy_pipelines": {"instance": "web-01", "pipelines": ["journal"]}})}),
    "site_gathers_unreachable": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH),
        setup={"failed": True, "msg": "Timeout (12s) waiting for privilege escalation prompt"}),
    "site_gathers_read_error": dict(
        case({"rules": "site", "roles": ["alloy_install", "alloy_config"], "gather_subset": ["min"]}, {}, roles=BOTH),
        setup={"ansible_facts": {"ansible_" + key: value for key, value in DEBIAN.items()}},
        read_error="[Errno 13] Permission denied: '/etc/default/alloy'"),
    "compose_gathers": dict(case({"rules": "site", "roles": [], "gather_subset": ["min"]}, {"hostname": "box-7"},
                                 roles=("alloy_docker", "alloy_config")),
                            setup={"ansible_facts": {"ansible_hostname": "box-7", "ansible_os_family": "Debian"}}),
    "compose_check_mode": case({"rules": "alloy_docker", "roles": ["alloy_config"]}, {"hostname": "box-7"},
                               check_mode=True, roles=("alloy_docker", "alloy_config")),
    "compose": case({"rules": "alloy_docker", "roles": ["alloy_config"]}, {"hostname": "box-7"},
                    roles=("alloy_docker", "alloy_config")),
    "compose_check_mode_pull_never": case({"rules": "alloy_docker", "roles": ["alloy_config"]}, {"hostname": "box-7"},
                                          check_mode=True, roles=("alloy_docker", "alloy_config"),
                                          alloy_docker_pull="never"),
    # Clustering a Compose service: the members from the inventory (hostvars), each at its host's address and
    # published port; a loopback publish address (the role's default) refused.
    "compose_cluster": case({"rules": "alloy_docker", "roles": ["alloy_config"]}, {"hostname": "box-7"},
                            roles=("alloy_docker", "alloy_config"), alloy_docker_cluster_enabled=True,
                            alloy_docker_publish_address="0.0.0.0", ansible_host="10.0.0.7",
                            groups={"all": ["inventory-name", "box-8", "web-01"]},
                            hostvars=COMPOSE_PEERS),
    # TLS between the members: the flags, Alloy's HTTP server over TLS (http_tls) and how the host reaches it
    "systemd_cluster_tls": case(SITE, DEBIAN, roles=BOTH, alloy_install_cluster_enabled=True,
                                alloy_install_listen_address="0.0.0.0:12345", ansible_host="10.0.0.1",
                                alloy_install_cluster_tls=dict(TLS, client_auth_type="RequireAndVerifyClientCert"),
                                groups={"all": ["inventory-name", "web-02"]},
                                hostvars={"inventory-name": {"alloy_install_cluster_enabled": True,
                                                             "ansible_host": "10.0.0.1",
                                                             "alloy_install_cluster_tls": TLS},
                                          "web-02": {"alloy_install_cluster_enabled": True, "ansible_host": "10.0.0.2",
                                                     "alloy_install_cluster_tls": TLS}}),
    "compose_cluster_loopback": case({"rules": "alloy_docker", "roles": ["alloy_config"]}, {"hostname": "box-7"},
                                     roles=("alloy_docker", "alloy_config"), alloy_docker_cluster_enabled="yes",
                                     ansible_host="10.0.0.7", groups={"all": ["inventory-name", "box-8"]},
                                     hostvars=COMPOSE_PEERS),
    "config_alone": case({"rules": "alloy_config"}, {"alloy_runtime": KEPT}, roles=("alloy_config",)),
    "config_kept_on_host": case({"rules": "alloy_config"}, {"ansible_local": {"alloy_runtime": KEPT}},
                                roles=("alloy_config",)),
    "config_kept_on_host_named_instance": case({"rules": "alloy_config"}, {"ansible_local": {"alloy_runtime": KEPT}},
                                               roles=("alloy_config",), alloy_config_instance="web-01"),
    "config_published_and_kept": case({"rules": "alloy_config"},
                                      {"alloy_runtime": KEPT, "ansible_local": {"alloy_runtime": SYSTEMD}},
                                      roles=("alloy_config",)),
    "config_without_runtime": case({"rules": "alloy_config"}, DEBIAN, roles=("alloy_config",)),
    "config_without_runtime_named_instance": case({"rules": "alloy_config"}, DEBIAN, roles=("alloy_config",),
                                                  alloy_config_instance="web-01"),
    "removed_variable": case({"rules": "alloy_config"}, {"alloy_runtime": KEPT}, roles=("alloy_config",),
                             alloy_config_dir="/etc/alloy/conf.d"),
    "removed_variable_in_site": case(SITE, DEBIAN, roles=BOTH, alloy_config_manage_service=False,
                                     alloy_config_reload_url="http://127.0.0.1:12345/-/reload"),
}

# The same member whose certificate and key are not on the host: refused before any change (in check mode a
# warning: a task of the play before the role may be the one that puts them there).
CASES["systemd_cluster_tls_missing"] = dict(CASES["systemd_cluster_tls"], files=["/etc/alloy/tls/ca.pem"])
CASES["systemd_cluster_tls_missing_check"] = dict(CASES["systemd_cluster_tls_missing"], check_mode=True)


@pytest.fixture(scope="module")
def results() -> Dict[str, Dict[str, Any]]:
    found, _ = run_child(DRIVER, CASES)
    return found


def missing() -> str:
    """RuntimeMissing's message for a host without a runtime, as alloy_config reads it (only the one
    published in this play)."""
    with pytest.raises(runtime.RuntimeMissing) as err:
        runtime.from_facts({}, kept=False)
    return str(err.value)


def refusal(result: Dict[str, Any]) -> str:
    """The failure message of a refused host, which publishes no runtime."""
    assert result.get("failed") is True, result
    assert "ansible_facts" not in result
    return str(result["msg"])


def test_alloy_install_publishes_its_runtime(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["systemd"]
    assert not result.get("failed"), result
    assert result["ansible_facts"] == {"alloy_runtime": SYSTEMD}
    assert result["checked"] == result["roles"]["alloy_install"]


def test_alloy_configs_default_instance_is_the_runtimes(results: Dict[str, Dict[str, Any]]) -> None:
    config = results["systemd"]["roles"]["alloy_config"]
    assert config["instance"] == "web-01"
    assert {"target_label": "instance", "replacement": "web-01"} in config["journal_relabel_rules"]
    assert config["prometheus_relabel_rules"] == [{"target_label": "instance", "replacement": "web-01"}]


def test_the_runtime_follows_alloy_installs_variables_and_the_platform(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["systemd_elsewhere"]
    assert not result.get("failed"), result
    assert result["ansible_facts"]["alloy_runtime"] == dict(
        SYSTEMD, config_dir="/srv/alloy", config_group="grafana", env_file="/etc/sysconfig/alloy",
        api_url="http://127.0.0.1:9000", instance="inventory-name")
    assert result["roles"]["alloy_config"]["instance"] == "inventory-name"


def test_the_runtime_described_now_replaces_a_kept_one(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["replaces_a_kept_runtime"]
    assert result["ansible_facts"]["alloy_runtime"]["instance"] == "web-01"
    assert result["roles"]["alloy_config"]["instance"] == "web-01"


def test_problems_in_alloy_install_publish_no_runtime(results: Dict[str, Dict[str, Any]]) -> None:
    message = refusal(results["install_refused"])
    # alloy_config, which would read the runtime alloy_install did not describe, is not checked:
    # the refusal is alloy_install's alone
    assert message == ("alloy_install: alloy_install_version: expected a version such as 1.10.0 (no v prefix, "
                       "no package release), got 'v1.10.0'"), message
    assert "ansible_facts" not in results["install_refused"]


def test_a_runtime_that_loads_a_file_refuses_alloy_config(results: Dict[str, Dict[str, Any]]) -> None:
    assert refusal(results["config_file_not_dir"]) == (
        "alloy_config: alloy_config writes its pipelines into a directory, and Alloy loads the file "
        "/etc/alloy/config.alloy here: set alloy_install_config_path to a directory (its default, /etc/alloy/conf.d)")


def test_the_runtime_is_described_with_the_facts_just_gathered(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["site_gathers"]
    assert not result.get("failed"), result
    assert result["ansible_facts"]["alloy_runtime"] == SYSTEMD
    assert result["ansible_facts"]["ansible_hostname"] == "web-01"
    assert result["ansible_facts"]["_ansible_facts_gathered"] is True
    assert result["roles"]["alloy_config"]["instance"] == "web-01"
    assert result["checked"] == {}   # the site table: none of its variables set


def test_alloy_docker_publishes_a_compose_runtime(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["compose_check_mode"]
    assert not result.get("failed"), result
    assert result["ansible_facts"] == {"alloy_runtime": {
        "kind": "compose", "service": "alloy", "config_dir": "/opt/alloy/config", "config_group": "root",
        "env_file": "/opt/alloy/alloy.env",
        "alloy_command": ["docker", "run", "--rm", "--pull=missing", "--network=none", "--entrypoint=/bin/alloy",
                          "--volume={staging}:{staging}:ro", "grafana/alloy:v1.10.0"],
        "api_url": "http://127.0.0.1:12345", "instance": "box-7",
        "host_paths": {"procfs": "/host/proc", "sysfs": "/host/sys", "rootfs": "/host/root",
                       "udev_data": "/run/udev/data"}, "cluster": runtime.ALONE, "http_tls": {}, "api_tls": {}}}
    assert result["roles"]["alloy_config"]["instance"] == "box-7"


def test_the_compose_runtime_is_the_same_in_check_mode(results: Dict[str, Dict[str, Any]]) -> None:
    # alloy_docker, not the description, empties alloy_command in check mode when the image is absent
    assert not results["compose"].get("failed"), results["compose"]
    assert results["compose"]["ansible_facts"] == results["compose_check_mode"]["ansible_facts"]
    never = results["compose_check_mode_pull_never"]
    assert not never.get("failed"), never
    assert never["ansible_facts"]["alloy_runtime"] == dict(
        results["compose_check_mode"]["ansible_facts"]["alloy_runtime"],
        alloy_command=["docker", "run", "--rm", "--pull=never", "--network=none", "--entrypoint=/bin/alloy",
                       "--volume={staging}:{staging}:ro", "grafana/alloy:v1.10.0"])


def test_alloy_docker_publishes_its_cluster(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["compose_cluster"]
    assert not result.get("failed"), result
    assert result["ansible_facts"]["alloy_runtime"]["cluster"] == {
        "enabled": True, "name": "", "node_name": "inventory-name", "members": ["inventory-name", "box-8"],
        "join_addresses": ["10.0.0.8:12345"], "advertise_address": "10.0.0.7:12345", "tls": {},
        "flags": ["--cluster.enabled=true", "--cluster.node-name=inventory-name",
                  "--cluster.join-addresses=10.0.0.8:12345", "--cluster.advertise-address=10.0.0.7:12345"]}
    # the rest of the runtime is as without clustering (Alloy's URL from the host: the wildcard's loopback)
    assert dict(result["ansible_facts"]["alloy_runtime"], cluster=runtime.ALONE) == \
        results["compose"]["ansible_facts"]["alloy_runtime"]


def test_alloy_docker_refuses_a_loopback_publish_address_with_clustering_on(results: Dict[str, Dict[str, Any]]) -> None:
    assert refusal(results["compose_cluster_loopback"]) == (
        "alloy_docker: alloy_docker_cluster_enabled needs alloy_docker_publish_address on an address the other "
        "members reach (peers talk over Alloy's HTTP server), not the loopback 127.0.0.1: for example this host's IP "
        "address or 0.0.0.0, with a firewall that lets only the members in")


@pytest.mark.parametrize("name", ["config_alone", "config_published_and_kept"])
def test_alloy_config_reads_the_runtime_published_in_the_play_and_publishes_none(results: Dict[str, Dict[str, Any]],
                                                                                 name: str) -> None:
    result = results[name]
    assert not result.get("failed"), result
    assert result["checked"]["instance"] == "kept-name"   # the published runtime's, not the kept one's (web-01)
    assert "ansible_facts" not in result


@pytest.mark.parametrize("name", ["config_kept_on_host", "config_kept_on_host_named_instance"])
def test_alloy_config_refuses_a_runtime_only_kept_on_the_host(results: Dict[str, Dict[str, Any]], name: str) -> None:
    # no runtime role's preflight in this play: nothing would bring the handlers that restart Alloy
    assert refusal(results[name]) == "alloy_config: " + missing()
    # the verify play's reading (the filter's default, kept) takes the same facts
    assert runtime.from_facts(CASES[name]["task_vars"]["ansible_facts"], kept=True) == KEPT


def test_alloy_config_without_a_runtime_fails_naming_the_roles_to_run(results: Dict[str, Dict[str, Any]]) -> None:
    assert refusal(results["config_without_runtime_named_instance"]) == "alloy_config: " + missing()
    # once, not again for each default that reads the runtime (alloy_config_instance, the relabel rules)
    assert refusal(results["config_without_runtime"]) == "alloy_config: " + missing()


def test_a_removed_variable_fails_naming_it(results: Dict[str, Dict[str, Any]]) -> None:
    assert refusal(results["removed_variable"]) == (
        "alloy_config: alloy_config_dir is no longer read (the runtime contract of 0.2.0): set "
        "alloy_install_config_path (systemd) or alloy_docker_config_dir (Compose)")
    assert refusal(results["removed_variable_in_site"]) == (
        "alloy_config: alloy_config_manage_service is no longer read (the runtime contract of 0.2.0): the runtime "
        "role restarts Alloy, on the handler topic 'alloy pipelines changed'; alloy_config_reload_url is no longer "
        "read (the runtime contract of 0.2.0): the runtime role gives Alloy's URL: set alloy_install_listen_address, "
        "or alloy_docker_publish_address and alloy_docker_port")


def test_the_runtime_role_is_checked_first_whatever_the_order(results: Dict[str, Dict[str, Any]]) -> None:
    named_first, site = results["config_named_before_install"], results["systemd"]
    assert not named_first.get("failed"), named_first
    assert named_first["ansible_facts"]["alloy_runtime"] == site["ansible_facts"]["alloy_runtime"]
    assert named_first["checked"] == site["roles"]["alloy_config"]


def test_alloy_install_publishes_its_cluster_over_tls(results: Dict[str, Dict[str, Any]]) -> None:
    result = results["systemd_cluster_tls"]
    assert not result.get("failed"), result
    found = result["ansible_facts"]["alloy_runtime"]
    assert found["cluster"]["flags"] == [
        "--cluster.enabled=true", "--cluster.node-name=inventory-name", "--cluster.join-addresses=10.0.0.2:12345",
        "--cluster.advertise-address=10.0.0.1:12345", "--cluster.enable-tls=true",
        "--cluster.tls-ca-path=/etc/alloy/tls/ca.pem", "--cluster.tls-cert-path=/etc/alloy/tls/member.pem",
        "--cluster.tls-key-path=/etc/alloy/tls/member.key"]
    assert found["cluster"]["tls"] == dict(TLS, server_name="", client_auth_type="RequireAndVerifyClientCert")
    assert found["api_url"] == "https://127.0.0.1:12345"
    assert found["http_tls"] == {"cert_file": "/etc/alloy/tls/member.pem", "key_file": "/etc/alloy/tls/member.key",
                                 "client_ca_file": "/etc/alloy/tls/ca.pem",
                                 "client_auth_type": "RequireAndVerifyClientCert"}
    assert found["api_tls"] == dict(TLS, server_name="10.0.0.1")


def test_cluster_tls_files_missing_on_the_host_are_refused_before_any_change(
        results: Dict[str, Dict[str, Any]]) -> None:
    assert refusal(results["systemd_cluster_tls_missing"]) == (
        "alloy_install: alloy_install_cluster_tls names files that are not on this host: /etc/alloy/tls/member.pem, "
        "/etc/alloy/tls/member.key (your PKI puts them there; Alloy does not start without them)")
    assert not results["systemd_cluster_tls"].get("failed"), results["systemd_cluster_tls"].get("msg")
    checked = results["systemd_cluster_tls_missing_check"]
    assert not checked.get("failed") and checked["warnings"] == [
        results["systemd_cluster_tls_missing"]["msg"]], checked


def test_alloy_install_reads_the_host_once_its_variables_passed(results: Dict[str, Dict[str, Any]]) -> None:
    """The same task asks the host (alloy_host_state) for the role's files, package and service:
    apt's files on Debian, the rpm key on Rocky (at the paths the variables give), the runtime's unit."""
    debian, rocky = results["systemd"]["host_state"], results["systemd_elsewhere"]["host_state"]
    assert debian == {
        "files": {"unit": "/usr/lib/systemd/system/alloy.service", "keyring": "/etc/apt/keyrings/grafana.asc",
                  "sources": "/etc/apt/sources.list.d/grafana.sources", "proxy": "/etc/apt/apt.conf.d/80grafana-proxy",
                  "dropin": "/etc/systemd/system/alloy.service.d/fleet-alloy.conf",
                  "runtime_fact": "/etc/ansible/facts.d/alloy_runtime.fact",
                  # alloy_config runs after it: what its apply leaves (the record; the directory, the section below)
                  "pipelines_fact": "/etc/ansible/facts.d/alloy_pipelines.fact"},
        # whether they exist only (the configuration may be the user's file, with secrets)
        "exists": {"config": "/etc/alloy/conf.d", "dropin": "/etc/systemd/system/alloy.service.d/fleet-alloy.conf"},
        "rpm_keys": {}, "package": {"name": "alloy", "manager": "dpkg"}, "service": {"name": "alloy.service"},
        # the runtime's env file, the role's section of it (read without its values), alloy_config's (an HMAC)
        "env": {"path": "/etc/default/alloy", "section": "alloy_install", "secret_section": "alloy_config"},
        "config": {"path": "/etc/alloy/conf.d"},   # the runtime's configuration directory
        "download": {"url": "https://apt.grafana.com/gpg-full.key", "proxy": ""}}   # the key asked of the host
    assert rocky["download"] == {"url": "https://rpm.grafana.com/gpg.key", "proxy": "http://proxy.example:3128"}
    assert rocky["files"] == {"unit": "/usr/lib/systemd/system/alloy.service", "key_dir": "/etc/pki/rpm-gpg",
                              "key": "/etc/pki/rpm-gpg/RPM-GPG-KEY-grafana",
                              "dropin": "/etc/systemd/system/alloy.service.d/fleet-alloy.conf",
                              "runtime_fact": "/etc/ansible/facts.d/alloy_runtime.fact",
                              "pipelines_fact": "/etc/ansible/facts.d/alloy_pipelines.fact"}
    assert rocky["exists"] == {"config": "/srv/alloy", "dropin": "/etc/systemd/system/alloy.service.d/fleet-alloy.conf"}
    assert rocky["env"] == {"path": "/etc/sysconfig/alloy", "section": "alloy_install", "secret_section": "alloy_config"}
    assert rocky["config"] == {"path": "/srv/alloy"}
    assert rocky["rpm_keys"] == {"10458545": False}   # Grafana's key, B53A...10458545 (the defaults' pin)
    assert rocky["package"] == {"name": "alloy", "manager": "rpm"}
    # a play whose tags leave the repository tasks out: the same read, without the download
    assert results["systemd_no_key"]["host_state"] == dict(debian, download={})


@pytest.mark.parametrize("name", ["install_refused", "compose", "config_alone"])
def test_the_host_is_not_read_for_a_refused_or_another_role(results: Dict[str, Dict[str, Any]], name: str) -> None:
    assert "host_state" not in results[name]


HOST_STATE, SETUP_MODULE = "fleet.alloy.alloy_host_state", "ansible.builtin.setup"


def test_one_round_trip_gathers_the_facts_and_reads_the_host(results: Dict[str, Dict[str, Any]]) -> None:
    """With alloy_install's variables checked before the facts (none reads one), its read for each family
    goes with the facts' gathering: one module run, and the read kept is the one the variables checked
    with the facts ask for, for the host's family."""
    calls = results["__calls__"]
    assert calls["site_gathers"] == [[HOST_STATE, ["digest_key", "for_family", "gather_subset"]]]
    assert calls["site_gathers_rocky"] == [[HOST_STATE, ["digest_key", "for_family", "gather_subset"]]]
    debian, rocky = results["site_gathers"]["host_state"], results["site_gathers_rocky"]["host_state"]
    assert debian == dict(results["systemd"]["host_state"]), debian
    assert rocky["package"] == {"name": "alloy", "manager": "rpm"} and rocky["env"]["path"] == "/etc/sysconfig/alloy"
    assert rocky["download"]["url"] == "https://rpm.grafana.com/gpg.key"
    assert results["site_gathers_rocky"]["ansible_facts"]["alloy_runtime"]["env_file"] == "/etc/sysconfig/alloy"


def test_a_variable_reading_a_fact_is_read_again_once_the_facts_are_in(results: Dict[str, Dict[str, Any]]) -> None:
    """A variable that needs the facts to be templated: no read before them (setup, then the read); one whose
    value changes with them: the read made before is not the one asked for, so the host is read again."""
    calls = results["__calls__"]
    assert calls["site_gathers_fact_variable"] == [[SETUP_MODULE, ["gather_subset"]], [HOST_STATE, ANY_READ]]
    assert results["site_gathers_fact_variable"]["host_state"]["exists"]["config"] == "/etc/alloy/web-01"
    assert calls["site_gathers_fact_default"] == [[HOST_STATE, ["digest_key", "for_family", "gather_subset"]],
                                                  [HOST_STATE, ANY_READ]]
    assert results["site_gathers_fact_default"]["host_state"]["exists"]["config"] == "/etc/alloy/web-01"


def test_no_read_before_the_facts_for_refused_variables_or_another_role(results: Dict[str, Dict[str, Any]]) -> None:
    calls = results["__calls__"]
    assert calls["site_gathers_refused"] == [[SETUP_MODULE, ["gather_subset"]]]
    assert results["site_gathers_refused"]["failed"] is True
    assert calls["site_gathers_site_refused"] == [[SETUP_MODULE, ["gather_subset"]]]
    assert "alloy_site_verify" in results["site_gathers_site_refused"]["msg"]
    assert calls["compose_gathers"] == [[SETUP_MODULE, ["gather_subset"]]]


def test_a_platform_refused_with_the_facts_is_refused_after_the_one_round_trip(
        results: Dict[str, Dict[str, Any]]) -> None:
    assert results["__calls__"]["site_gathers_el7"] == [[HOST_STATE, ["digest_key", "for_family", "gather_subset"]]]
    assert refusal(results["site_gathers_el7"]) == "alloy_install: unsupported OS: CentOS 7; alloy_install needs EL 8 or later"
    assert "host_state" not in results["site_gathers_el7"]


def test_the_reads_before_the_facts_follow_download_key(results: Dict[str, Dict[str, Any]]) -> None:
    assert results["site_gathers_no_key"]["host_state"]["download"] == {}
    assert results["site_gathers"]["host_state"]["download"]["url"] == "https://apt.grafana.com/gpg-full.key"
    assert results["__calls__"]["site_gathers_no_key"] == [[HOST_STATE, ["digest_key", "for_family", "gather_subset"]]]


def test_a_failed_gathering_fails_and_a_failed_read_is_made_again(results: Dict[str, Dict[str, Any]]) -> None:
    unreachable = results["site_gathers_unreachable"]
    assert unreachable["failed"] is True and "privilege escalation" in unreachable["msg"]
    # the read failed, the facts came: the variables are checked with them and the host read on its own
    assert results["__calls__"]["site_gathers_read_error"] == [[HOST_STATE, ["digest_key", "for_family", "gather_subset"]],
                                                               [HOST_STATE, ANY_READ]]
    assert results["site_gathers_read_error"]["host_state"] == results["site_gathers"]["host_state"]


ANY_READ = sorted(["files", "rpm_keys", "package", "package_manager", "service", "exists", "env_file", "env_section",
                   "env_secret_section", "config_dir", "digest_key", "url", "proxy"])


def test_alloy_configs_secret_section_is_read_under_one_key_of_the_run_that_no_result_holds(
        results: Dict[str, Dict[str, Any]]) -> None:
    """alloy_config runs after alloy_install: the reads ask for the HMAC of its secret section, under one
    random key of this run (the same for the read with the facts and a second read), which the action's
    result does not hold."""
    keys = results["__keys__"]
    assert len(keys["site_gathers_read_error"]) == 2 and len(set(keys["site_gathers_read_error"])) == 1
    every = set(key for found in keys.values() for key in found)
    assert len(every) == 1, "one key per run (the child is one run)"
    key = every.pop()
    assert len(key) == 64 and int(key, 16) >= 0
    for name, result in results.items():
        if not name.startswith("__"):
            assert key not in str(result), name
    # alloy_install alone, or Compose: alloy_config's apply is not read, no key is sent
    assert "install_alone" not in keys and "compose_gathers" not in keys
    alone = results["install_alone"]["host_state"]
    assert alone["config"] == {} and "secret_section" not in alone["env"] and "pipelines_fact" not in alone["files"]


def test_the_record_kept_on_the_host_is_this_runs_fact_when_the_apply_is_read(results: Dict[str, Dict[str, Any]]) -> None:
    """A skipped apply returns no record: the preflight that read it publishes the host's (an older fact, from a
    fact cache, would otherwise stand); none when the apply is not read (uninstalling) or none is kept."""
    kept = results["site_gathers_kept_record"]
    assert kept["ansible_facts"]["alloy_pipelines"] == {"instance": "web-01", "pipelines": ["journal"]}
    assert kept["host_state"]["config"] == {"path": "/etc/alloy/conf.d"}
    absent = results["site_gathers_absent"]
    assert "alloy_pipelines" not in absent["ansible_facts"] and absent["host_state"]["config"] == {}
    assert "pipelines_fact" not in absent["host_state"]["files"] and "secret_section" not in absent["host_state"]["env"]
    assert "alloy_pipelines" not in results["site_gathers"]["ansible_facts"]
