"""alloy_config's preflight (roles/alloy_config/tasks/preflight.yml) on its own, through
include_role tasks_from: every rule refuses its bad value with the message that names the
variable, good values pass, and the endpoints of a disabled pipeline are not judged. One
ansible-playbook run, local connection, one inventory host per case. (What the templates
render is test_alloy_config_render.py's.) Written against the survivors of ./dev mutate
(docs/testing.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.release import __version__ as ansible_version

REPO = Path(__file__).resolve().parents[2]
BAD_URL = [{"url": "ftp://nowhere"}]

# name: (case variables, the problems the preflight names; [] when it must pass)
CASES: Dict[str, Any] = {
    "defaults": ({}, []),
    "fine": ({"alloy_config_reload_url": "", "alloy_config_dir": "/etc/alloy",
              "alloy_config_journal_labels": {"_a": "x", "Team9": "y"},
              "alloy_config_snippets": {"my-extra_1": "// x\n"},
              "alloy_config_journal_stages": [{"json": {"expressions": {"a": ""}}},
                                              {"match": {"selector": "{a=\"b\"}"}}],
              "alloy_config_loki_endpoints": [{"url": "http://l/loki/api/v1/push", "bearer_token": "plain"}]}, []),
    "https_reload": ({"alloy_config_reload_url": "https://127.0.0.1:12345/-/reload"}, []),
    "journal_off_ignores_loki": ({"alloy_config_journal_enabled": False, "alloy_config_loki_endpoints": BAD_URL}, []),
    "metrics_off_ignore_prometheus": ({"alloy_config_unix_enabled": False, "alloy_config_self_metrics": False,
                                       "alloy_config_prometheus_endpoints": BAD_URL}, []),
    "self_metrics_judge_prometheus": ({"alloy_config_unix_enabled": False, "alloy_config_self_metrics": True,
                                       "alloy_config_prometheus_endpoints": BAD_URL},
                                      ["alloy_config_prometheus_endpoints[0].url must be an http:// or https:// URL, "
                                       "got 'ftp://nowhere'"]),
    "loki_judged": ({"alloy_config_loki_endpoints": BAD_URL},
                    ["alloy_config_loki_endpoints[0].url must be an http:// or https:// URL, got 'ftp://nowhere'"]),
    "relative_dir": ({"alloy_config_dir": "etc/alloy/conf.d"},
                     ["alloy_config_dir must be an absolute path, got etc/alloy/conf.d"]),
    "reload_url": ({"alloy_config_reload_url": "127.0.0.1:12345/-/reload"},
                   ["alloy_config_reload_url must be an http(s) URL or empty, got 127.0.0.1:12345/-/reload"]),
    "labels": ({"alloy_config_journal_labels": {"ok": "1", "bad-name": "x"},
                "alloy_config_loki_external_labels": {"9lives": "y"},
                "alloy_config_prometheus_external_labels": {"a.b": "z"}},
               ["alloy_config_journal_labels: bad-name is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                "alloy_config_loki_external_labels: 9lives is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                "alloy_config_prometheus_external_labels: a.b is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)"]),
    "snippet_name": ({"alloy_config_snippets": {"ok": "", "my file": "// x\n"}},
                     ["alloy_config_snippets: the name my file must be letters, digits, _ and -"]),
    "stage_not_a_mapping": ({"alloy_config_journal_stages": [{"json": {}}, "drop"]},
                            ["alloy_config_journal_stages[1] must be a mapping with one key, the stage type"]),
    "stage_two_keys": ({"alloy_config_journal_stages": [{"json": {}, "drop": {}}]},
                       ["alloy_config_journal_stages[0] must be a mapping with one key, the stage type"]),
    "stage_unknown": ({"alloy_config_journal_stages": [{"labels": {}}, {"jsonn": {}}]},
                      ["alloy_config_journal_stages[1]: unknown stage type jsonn (one of static_labels, labels, "
                       "label_drop, label_keep, json, regex, drop, timestamp, output, template, logfmt, replace, "
                       "match)"]),
    "secret_carriage_return": ({"alloy_config_loki_endpoints": [{"url": "http://l/loki/api/v1/push",
                                                                 "bearer_token": "tok\r"}]},
                               ["alloy_config_loki_endpoints[0].bearer_token holds a line break or control character "
                                "(a trailing newline from a vault block scalar?): remove it"]),
    "secret_newline": ({"alloy_config_prometheus_endpoints": [{"url": "http://p/api/v1/write", "basic_auth": {
        "username": "u", "password": "pw\n"}}]},
                       ["alloy_config_prometheus_endpoints[0].basic_auth.password holds a line break or control "
                        "character (a trailing newline from a vault block scalar?): remove it"]),
}

# A vaulted secret with the newline of a block scalar. ansible-core 2.16 hands the filter a
# vault object, not a str, so only the preflight's own rule sees the line break there; later
# cores decrypt first and the endpoint rule names it.
VAULTED = {"url": "http://l/loki/api/v1/push", "bearer_token": "tok\n"}
if ansible_version.startswith("2.16."):
    VAULT_PROBLEMS = ["the secret behind FLEET_ALLOY_LOKI_0_BEARER_TOKEN contains a line break"]
else:
    VAULT_PROBLEMS = ["alloy_config_loki_endpoints[0].bearer_token holds a line break or control character (a "
                      "trailing newline from a vault block scalar?): remove it"]
CASES["vaulted_secret"] = ({}, VAULT_PROBLEMS)


def vaulted_host_vars() -> str:
    vault = VaultLib([("default", VaultSecret(b"test-vault-password"))])
    block = vault.encrypt(VAULTED["bearer_token"]).decode()
    return ("alloy_config_loki_endpoints:\n  - url: %s\n    bearer_token: !vault |\n%s"
            % (VAULTED["url"], "".join("      %s\n" % line for line in block.splitlines())))


PLAYBOOK = """
- name: The preflight of alloy_config for every case
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the role's preflight
      ansible.builtin.include_role:
        name: fleet.alloy.alloy_config
        tasks_from: preflight.yml
"""


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, List[str]]:
    root = tmp_path_factory.mktemp("alloy_config_preflight")
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "hosts": {name: case[0] for name, case in CASES.items()}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (root / "host_vars").mkdir()
    (root / "host_vars" / "vaulted_secret.yml").write_text(vaulted_host_vars())
    (root / "vault-password").write_text("test-vault-password\n")
    (root / "playbook.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORKS="8")
    out = subprocess.run(["ansible-playbook", "-i", str(root / "inventory.yml"), "--vault-password-file",
                          str(root / "vault-password"), str(root / "playbook.yml")],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    found: Dict[str, List[str]] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    found.setdefault(host, []).append(res.get("msg") or json.dumps(res)[:2000])
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_preflight_names_every_problem_and_only_those(failures: Dict[str, List[str]], case: str) -> None:
    expected = CASES[case][1]
    assert failures.get(case, []) == (["alloy_config: " + "; ".join(expected)] if expected else [])
