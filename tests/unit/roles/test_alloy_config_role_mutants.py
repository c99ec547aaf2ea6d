"""alloy_config's preflight (roles/alloy_config/tasks/preflight.yml: the rule book run by the
fleet.alloy.alloy_preflight action) on its own, through include_role tasks_from: every rule
refuses its bad value with the message that names the variable, good values pass, and the
endpoints of a disabled pipeline are not judged. alloy_config reads the runtime alloy_install
describes (the fact alloy_runtime): alloy_install's preflight runs first on every host but one,
which has none; a variable alloy_config no longer reads is named with where its value goes.
One ansible-playbook run, local connection, one inventory host per case. (What the templates
render is test_alloy_config_render.py's.) Written against the survivors of ./dev mutate
(docs/testing.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from ansible.release import __version__ as ansible_version

REPO = Path(__file__).resolve().parents[3]
BAD_URL = [{"url": "ftp://nowhere"}]
# The variables 0.2.0 removed, with what to do instead (the whole text, as the preflight says it).
REMOVED = {
    "alloy_config_dir": "set alloy_install_config_path (systemd) or alloy_docker_config_dir (Compose)",
    "alloy_config_group": "set alloy_install_group (the group of a Compose host's files is root)",
    "alloy_config_env_file": "the runtime role's env file receives the secrets",
    "alloy_config_alloy_command": "the runtime role gives the command that runs Alloy's CLI",
    "alloy_config_reload_url": "the runtime role gives Alloy's URL: set alloy_install_listen_address, or "
                               "alloy_docker_publish_address and alloy_docker_port",
    "alloy_config_manage_service": "the runtime role restarts Alloy, on the handler topic 'alloy pipelines changed'",
    **{"alloy_config_unix_%s_path" % name: "the runtime role says where Alloy sees the host's paths"
       for name in ("procfs", "sysfs", "rootfs", "udev_data")},
}
CONFIG_FILE = ("alloy_config writes its pipelines into a directory, and Alloy loads the file /etc/alloy/config.alloy "
               "here: set alloy_install_config_path to a directory (its default, /etc/alloy/conf.d)")
# alloy_config takes only a runtime published in this play (runtime.from_facts(kept=False)): no "once before" tail.
NO_RUNTIME = ("no Alloy runtime is described for this host (the fact alloy_runtime): run the role that runs Alloy here "
              "- fleet.alloy.alloy_install (systemd; at least its preflight, tasks_from: preflight, which also brings "
              "the handlers that restart Alloy) or fleet.alloy.alloy_docker (Compose, which runs alloy_config "
              "itself) - before this, in the same play")
STAGE_TYPES = ("(one of static_labels, labels, label_drop, label_keep, json, regex, drop, timestamp, output, template, "
               "logfmt, replace, match)")

# name: (case variables, the problems the preflight names; [] when it must pass). The preflight
# is one action, fleet.alloy.alloy_preflight with the rule book's alloy_config table; it fails
# with "alloy_config: " and the problems joined by "; ".
CASES: Dict[str, Any] = {
    "defaults": ({}, []),
    "fine": ({"alloy_config_journal_labels": {"_a": "x", "Team9": "y"},
              "alloy_config_snippets": {"my-extra_1": "// x\n"},
              "alloy_config_journal_stages": [{"json": {"expressions": {"a": ""}}},
                                              {"match": {"selector": "{a=\"b\"}"}}],
              "alloy_config_loki_endpoints": [{"url": "http://l/loki/api/v1/push", "bearer_token": "plain"}]}, []),
    # By design: AWX survey answers are strings; Alloy does not require basic_auth.username.
    "survey_booleans": ({"alloy_config_journal_enabled": "false", "alloy_config_self_metrics": "yes"}, []),
    "basic_auth_without_username": ({"alloy_config_prometheus_endpoints": [
        {"url": "http://p/api/v1/write", "basic_auth": {"password": "pw"}}]}, []),
    "journal_off_ignores_loki": ({"alloy_config_journal_enabled": False, "alloy_config_loki_endpoints": BAD_URL}, []),
    "metrics_off_ignore_prometheus": ({"alloy_config_unix_enabled": False, "alloy_config_self_metrics": False,
                                       "alloy_config_prometheus_endpoints": BAD_URL}, []),
    "self_metrics_judge_prometheus": ({"alloy_config_unix_enabled": False, "alloy_config_self_metrics": True,
                                       "alloy_config_prometheus_endpoints": BAD_URL},
                                      ["alloy_config_prometheus_endpoints[0].url must be an http:// or https:// URL, "
                                       "got 'ftp://nowhere'"]),
    "loki_judged": ({"alloy_config_loki_endpoints": BAD_URL},
                    ["alloy_config_loki_endpoints[0].url must be an http:// or https:// URL, got 'ftp://nowhere'"]),
    "url_credentials": ({"alloy_config_loki_endpoints": [{"url": "https://user:pw@l/loki/api/v1/push"}]},
                        ["alloy_config_loki_endpoints[0].url carries credentials (user:password@): put them in "
                         "basic_auth or bearer_token, which reach Alloy through the env file only"]),
    "credential_header": ({"alloy_config_prometheus_endpoints": [{"url": "http://p/api/v1/write",
                                                                  "headers": {"X-API-Key": "k"}}]},
                          ["alloy_config_prometheus_endpoints[0].headers.X-API-Key carries credentials, which would "
                           "be written to the configuration file: use basic_auth or bearer_token (written to the env "
                           "file only)"]),
    # The runtime contract of 0.2.0: the variables it replaced are named, whatever their value.
    "relative_dir": ({"alloy_config_dir": "etc/alloy/conf.d"},
                     ["alloy_config_dir is no longer read (the runtime contract of 0.2.0): set "
                      "alloy_install_config_path (systemd) or alloy_docker_config_dir (Compose)"]),
    "reload_url": ({"alloy_config_reload_url": "https://127.0.0.1:12345/-/reload"},
                   ["alloy_config_reload_url is no longer read (the runtime contract of 0.2.0): the runtime role gives "
                    "Alloy's URL: set alloy_install_listen_address, or alloy_docker_publish_address and "
                    "alloy_docker_port"]),
    "removed_after_a_refused_value": ({"alloy_config_unix_procfs_path": "/host/proc", "alloy_config_validate": "yes"},
                                      ["alloy_config_validate: expected one of auto, validate, fmt, none, got 'yes'",
                                       "alloy_config_unix_procfs_path is no longer read (the runtime contract of "
                                       "0.2.0): the runtime role says where Alloy sees the host's paths"]),
    "every_removed_variable": (dict.fromkeys(REMOVED, "x"), ["%s is no longer read (the runtime contract of 0.2.0): %s"
                                                             % (name, REMOVED[name]) for name in sorted(REMOVED)]),
    # The runtime alloy_install describes: Alloy must load a directory, whoever named the file.
    "runtime_loads_a_file": ({"alloy_install_config_path": "/etc/alloy/config.alloy"}, [CONFIG_FILE]),
    "seed_config_file": ({"alloy_config_file": "/etc/alloy/config.alloy"}, [CONFIG_FILE]),
    "runtime_directory": ({"alloy_install_config_path": "/srv/alloy.d"}, []),
    # No runtime role ran on the host (its instance given, so that nothing else needs the runtime).
    "no_runtime": ({"fleet_test_no_runtime": True, "alloy_config_instance": "web-01"}, [NO_RUNTIME]),
    "labels": ({"alloy_config_journal_labels": {"ok": "1", "bad-name": "x"},
                "alloy_config_loki_external_labels": {"9lives": "y"},
                "alloy_config_prometheus_external_labels": {"a.b": "z"}},
               ["alloy_config_journal_labels: a key: expected a label name ([A-Za-z_][A-Za-z0-9_]*), got 'bad-name'",
                "alloy_config_loki_external_labels: a key: expected a label name ([A-Za-z_][A-Za-z0-9_]*), "
                "got '9lives'",
                "alloy_config_prometheus_external_labels: a key: expected a label name ([A-Za-z_][A-Za-z0-9_]*), "
                "got 'a.b'"]),
    "snippet_name": ({"alloy_config_snippets": {"ok": "", "my file": "// x\n"}},
                     ["alloy_config_snippets: a key: expected a snippet name (letters, digits, _ and -), "
                      "got 'my file'"]),
    "stage_not_a_mapping": ({"alloy_config_journal_stages": [{"json": {}}, "drop"]},
                            ["alloy_config_journal_stages[1]: expected a mapping with one key, the stage type "
                             + STAGE_TYPES + ", got 'drop'"]),
    "stage_two_keys": ({"alloy_config_journal_stages": [{"json": {}, "drop": {}}]},
                       ["alloy_config_journal_stages[0]: expected a mapping with one key, the stage type "
                        + STAGE_TYPES + ", got {'drop': {}, 'json': {}}"]),
    "stage_unknown": ({"alloy_config_journal_stages": [{"labels": {}}, {"jsonn": {}}]},
                      ["alloy_config_journal_stages[1]: unknown stage type 'jsonn' " + STAGE_TYPES
                       + ", got {'jsonn': {}}"]),
    "secret_carriage_return": ({"alloy_config_loki_endpoints": [{"url": "http://l/loki/api/v1/push",
                                                                 "bearer_token": "tok\r"}]},
                               ["alloy_config_loki_endpoints[0].bearer_token holds a line break or control character "
                                "(a trailing newline from a vault block scalar?): remove it"]),
    "secret_newline": ({"alloy_config_prometheus_endpoints": [{"url": "http://p/api/v1/write", "basic_auth": {
        "username": "u", "password": "pw\n"}}]},
                       ["alloy_config_prometheus_endpoints[0].basic_auth.password holds a line break or control "
                        "character (a trailing newline from a vault block scalar?): remove it"]),
}

# Vaulted secrets (host_vars with !vault): one with the newline of a block scalar, one fine.
# The rule book sees them decrypted on every core; ansible-core 2.16 hands the action the
# vault object instead of the str (reported as a product bug: "must be a string").
VAULTED = {"vaulted_secret": "tok\n", "vaulted_secret_fine": "tok"}
CASES["vaulted_secret"] = ({}, ["alloy_config_loki_endpoints[0].bearer_token holds a line break or control character "
                                "(a trailing newline from a vault block scalar?): remove it"])
CASES["vaulted_secret_fine"] = ({}, [])


def vaulted_host_vars(secret: str) -> str:
    vault = VaultLib([("default", VaultSecret(b"test-vault-password"))])
    block = vault.encrypt(secret).decode()
    return ("alloy_config_loki_endpoints:\n  - url: http://l/loki/api/v1/push\n    bearer_token: !vault |\n%s"
            % "".join("      %s\n" % line for line in block.splitlines()))


PLAYBOOK = """
- name: The preflight of alloy_config for every case
  hosts: all
  gather_facts: false
  tasks:
    - name: Describe the runtime, as alloy_install's preflight does (the fact alloy_runtime)
      ansible.builtin.include_role:
        name: fleet.alloy.alloy_install
        tasks_from: preflight.yml
      when: not fleet_test_no_runtime | default(false)

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
    for host, secret in VAULTED.items():
        (root / "host_vars" / f"{host}.yml").write_text(vaulted_host_vars(secret))
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


KNOWN_BUGS: Set[str] = set()   # product bugs, recorded as strict xfails (docs/testing.md)


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason="product bug"))
                                  if c in KNOWN_BUGS else c for c in sorted(CASES)])
def test_the_preflight_names_every_problem_and_only_those(failures: Dict[str, List[str]], case: str) -> None:
    expected = CASES[case][1]
    assert failures.get(case, []) == (["alloy_config: " + "; ".join(expected)] if expected else [])
