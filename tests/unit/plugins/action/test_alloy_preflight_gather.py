"""alloy_preflight with gather_subset: the host's facts gathered (ansible.builtin.setup, mocked
here) and the variables checked with them in one task, as site.yml runs it. alloy_config's
variables need a runtime published in this play by a runtime role's preflight (the fact
alloy_runtime, already in the host's facts); the one an earlier run kept on the host (a local fact,
gathered with the others) is not enough for alloy_config, though the verify filter reads it."""
from __future__ import annotations

from typing import Any, Dict, List
from unittest import mock

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.fleet.alloy.plugins.action.alloy_preflight import ActionModule
from ansible_collections.fleet.alloy.plugins.filter.alloy_runtime import alloy_runtime
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime

try:   # ansible-core 2.19 templates only strings marked as coming from a template source
    from ansible.template import trust_as_template
except ImportError:   # 2.16 templates every string
    def trust_as_template(value: str) -> str:  # type: ignore[misc]
        return value

RUNTIME: Dict[str, Any] = {
    "kind": "systemd", "service": "alloy.service", "config_dir": "/etc/alloy/conf.d", "config_group": "alloy",
    "env_file": "/etc/default/alloy", "alloy_command": ["/usr/bin/alloy"], "api_url": "http://127.0.0.1:12345",
    "instance": "web-01",
    "host_paths": {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}}
SETUP: Dict[str, Any] = {"ansible_facts": {"ansible_hostname": "web-01", "ansible_os_family": "Debian",
                                           "ansible_local": {"lab": {"address": "10.0.0.7"}, "alloy_runtime": RUNTIME}},
                         "warnings": ["a local fact file could not be read"]}
INSTANCE = trust_as_template("{{ ansible_facts['hostname'] | default(inventory_hostname) }}")
# The runtime a runtime role's preflight published earlier in the play (already in the host's facts).
PUBLISHED: Dict[str, Any] = {"alloy_runtime": RUNTIME}


def missing() -> str:
    """RuntimeMissing's message as alloy_config reads the runtime (only the one published in this play)."""
    try:
        runtime.from_facts({}, kept=False)
    except runtime.RuntimeMissing as err:
        return str(err)
    raise AssertionError("from_facts accepted facts without a runtime")


def run(args: Dict[str, Any], task_vars: Dict[str, Any], setup: Dict[str, Any]) -> tuple[Dict[str, Any], List[Any]]:
    task = mock.MagicMock(args=args, async_val=0)
    templar = Templar(loader=DataLoader(), variables=task_vars)
    action = ActionModule(task, mock.MagicMock(), mock.MagicMock(check_mode=False), DataLoader(), templar, None)
    with mock.patch.object(ActionModule, "_execute_module", return_value=dict(setup)) as execute:
        result = action.run(task_vars=task_vars)
    return result, execute.call_args_list


def host_vars(**more: Any) -> Dict[str, Any]:
    return dict({"inventory_hostname": "inventory-name", "group_names": ["alloy"],
                 "alloy_config_instance": INSTANCE}, **more)


def test_the_variables_are_checked_with_the_facts_just_gathered() -> None:
    result, calls = run({"rules": "site", "roles": ["alloy_config"], "gather_subset": ["min"]},
                        host_vars(ansible_facts=PUBLISHED), SETUP)
    assert not result.get("failed"), result
    assert [(c.kwargs["module_name"], c.kwargs["module_args"]) for c in calls] == [
        ("ansible.builtin.setup", {"gather_subset": ["min"]})]
    assert result["roles"]["alloy_config"]["instance"] == "web-01"
    assert result["ansible_facts"]["ansible_hostname"] == "web-01"
    assert result["ansible_facts"]["_ansible_facts_gathered"] is True
    assert result["_ansible_verbose_override"] is True
    assert result["warnings"] == SETUP["warnings"]
    assert "alloy_runtime" not in result["ansible_facts"]   # no runtime role checked: nothing published (again)


def test_alloy_config_refuses_the_runtime_kept_on_the_host() -> None:
    args = {"rules": "site", "roles": ["alloy_config"], "gather_subset": ["min"]}
    facts = dict(SETUP["ansible_facts"], ansible_local={"lab": {"address": "10.0.0.7"}})
    result, dummy = run(args, host_vars(), dict(SETUP, ansible_facts=facts))
    assert result["failed"] is True
    assert result["msg"] == "alloy_config: " + missing(), result["msg"]
    assert "ansible_facts" not in result
    # Kept on the host by an earlier run (gathered now as ansible_local) but not published in this
    # play: no runtime role here brings the handlers that restart Alloy, so alloy_config is refused,
    # with the same message ...
    result, dummy = run(args, host_vars(), SETUP)
    assert result["failed"] is True
    assert result["msg"] == "alloy_config: " + missing(), result["msg"]
    assert "ansible_facts" not in result
    assert "once before" not in result["msg"] and "tasks_from: preflight" in result["msg"]
    # ... while the verify play's reading (the filter, from_facts with kept) takes that kept runtime.
    gathered = {"ansible_local": SETUP["ansible_facts"]["ansible_local"]}
    assert alloy_runtime(gathered) == RUNTIME
    assert runtime.from_facts(gathered, kept=True) == RUNTIME
    # The runtime published in this play is what alloy_config is judged with, not the kept one.
    kept = dict(SETUP["ansible_facts"], ansible_local={"alloy_runtime": RUNTIME})
    published = {"alloy_runtime": dict(RUNTIME, config_dir="/etc/alloy/x.alloy")}
    result, dummy = run({"rules": "alloy_config", "gather_subset": ["min"]}, host_vars(ansible_facts=published),
                        dict(SETUP, ansible_facts=kept))
    assert result.get("msg") == ("alloy_config: alloy_config writes its pipelines into a directory, and Alloy loads "
                                 "the file /etc/alloy/x.alloy here: set alloy_install_config_path to a directory (its "
                                 "default, /etc/alloy/conf.d)")
    kept = dict(SETUP["ansible_facts"], ansible_local={"alloy_runtime": dict(RUNTIME, config_dir="/etc/alloy/x.alloy")})
    result, dummy = run({"rules": "alloy_config", "gather_subset": ["min"]}, host_vars(ansible_facts=PUBLISHED),
                        dict(SETUP, ansible_facts=kept))
    assert not result.get("failed"), result


def test_a_variable_reading_a_local_fact_sees_it() -> None:
    variables = host_vars(ansible_facts=PUBLISHED,
                          alloy_config_instance=trust_as_template("{{ ansible_local.lab.address }}"))
    result, dummy = run({"rules": "alloy_config", "gather_subset": ["min"]}, variables, SETUP)
    assert result["checked"]["instance"] == "10.0.0.7", result


def test_without_gather_subset_nothing_runs_on_the_host() -> None:
    result, calls = run({"rules": "site", "roles": ["alloy_config"]},
                        host_vars(ansible_facts=PUBLISHED), SETUP)
    assert calls == []
    assert not result.get("failed"), result
    assert result["roles"]["alloy_config"]["instance"] == "inventory-name"
    assert "ansible_facts" not in result


def test_a_failed_gathering_is_the_failure() -> None:
    result, dummy = run({"rules": "site", "gather_subset": ["min"]}, host_vars(),
                        {"failed": True, "msg": "Timeout (12s) waiting for privilege escalation prompt"})
    assert result["failed"] is True and "privilege escalation" in result["msg"]


def test_setup_without_facts_fails_clearly() -> None:
    result, dummy = run({"rules": "site", "gather_subset": ["min"]}, host_vars(), {"changed": False})
    assert result["failed"] is True and result["msg"] == "ansible.builtin.setup returned no facts"


def test_a_refused_variable_fails_with_its_message_and_without_the_facts() -> None:
    result, dummy = run({"rules": "site", "gather_subset": ["min"]}, host_vars(alloy_site_verify="maybe"), SETUP)
    assert result["failed"] is True
    assert "alloy_site_verify" in result["msg"]
    assert "ansible_facts" not in result and "_ansible_verbose_override" not in result
