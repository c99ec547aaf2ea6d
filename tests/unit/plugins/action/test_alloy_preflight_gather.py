"""alloy_preflight with gather_subset: the host's facts gathered (ansible.builtin.setup, mocked
here) and the variables checked with them in one task, as site.yml runs it."""
from __future__ import annotations

from typing import Any, Dict, List
from unittest import mock

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.fleet.alloy.plugins.action.alloy_preflight import ActionModule

try:   # ansible-core 2.19 templates only strings marked as coming from a template source
    from ansible.template import trust_as_template
except ImportError:   # 2.16 templates every string
    def trust_as_template(value: str) -> str:  # type: ignore[misc]
        return value

SETUP = {"ansible_facts": {"ansible_hostname": "web-01", "ansible_os_family": "Debian",
                           "ansible_local": {"lab": {"address": "10.0.0.7"}}},
         "warnings": ["a local fact file could not be read"]}
INSTANCE = trust_as_template("{{ ansible_facts['hostname'] | default(inventory_hostname) }}")


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
    result, calls = run({"rules": "site", "roles": ["alloy_config"], "gather_subset": ["min"]}, host_vars(), SETUP)
    assert not result.get("failed"), result
    assert [(c.kwargs["module_name"], c.kwargs["module_args"]) for c in calls] == [
        ("ansible.builtin.setup", {"gather_subset": ["min"]})]
    assert result["roles"]["alloy_config"]["instance"] == "web-01"
    assert result["ansible_facts"]["ansible_hostname"] == "web-01"
    assert result["ansible_facts"]["_ansible_facts_gathered"] is True
    assert result["_ansible_verbose_override"] is True
    assert result["warnings"] == SETUP["warnings"]


def test_a_variable_reading_a_local_fact_sees_it() -> None:
    variables = host_vars(alloy_config_instance=trust_as_template("{{ ansible_local.lab.address }}"))
    result, dummy = run({"rules": "alloy_config", "gather_subset": ["min"]}, variables, SETUP)
    assert result["checked"]["instance"] == "10.0.0.7", result


def test_without_gather_subset_nothing_runs_on_the_host() -> None:
    result, calls = run({"rules": "site", "roles": ["alloy_config"]}, host_vars(), SETUP)
    assert calls == []
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
