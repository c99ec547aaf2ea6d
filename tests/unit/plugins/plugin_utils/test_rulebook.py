"""The hostile-input suite of the rule book (plugins/plugin_utils/rulebook.py), on the
controller without containers: unusual but possible values of every class a careful reviewer
tries (typos, AWX survey strings, values templated from other systems, values a hostile
survey user could type), each either refused with the message that names the variable and
what was expected, or converted to exactly what the role then renders.
The roles' own tests (test_alloy_*_role*.py, test_alloy_config_render.py) show that each
role runs these rules before anything on the host changes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from ansible_collections.fleet.alloy.plugins.filter.alloy_checked import alloy_checked
from ansible_collections.fleet.alloy.plugins.filter.alloy_runtime import alloy_runtime
from ansible_collections.fleet.alloy.plugins.plugin_utils import rulebook as rb
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime
from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[4]
PW = "s3cr3t-Pa55"
# A minimal OpenPGP v4 public key packet (fingerprint 02F5887ABBC0681DDBA97A5AE10176D76933EDE3).
KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQAJBAAAAAAWAAj/\n-----END PGP PUBLIC KEY BLOCK-----\n"
# What alloy_install describes with its defaults on a Debian host (plugin_utils/runtime.py): alloy_config's
# variables are judged on a host that has a runtime, as the role's preflight sees it (the fact alloy_runtime).
RUNTIME: Dict[str, Any] = {
    "kind": "systemd", "service": "alloy.service", "config_dir": "/etc/alloy/conf.d", "config_group": "alloy",
    "env_file": "/etc/default/alloy", "alloy_command": ["/usr/bin/alloy"], "api_url": "http://127.0.0.1:12345",
    "instance": "web-01",
    "host_paths": {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}}
WITH_RUNTIME: Dict[str, Any] = {"facts": {"alloy_runtime": RUNTIME}}


class Ok:
    """The value passes and becomes `value`."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Ok(%r)" % (self.value,)


# (table, variable, value, Ok(converted) or the whole message)
CASES: List[Tuple[str, str, Any, Any]] = [
    # --- a trailing line break slips through no pattern
    ("alloy_install", "alloy_install_version", "1.10.0\n",
     "alloy_install_version: expected a version such as 1.10.0 (no v prefix, no package release) on one line, "
     "without control characters, got '1.10.0\\n'"),
    ("alloy_install", "alloy_install_version", "1.10.0\nTrusted: yes",
     "alloy_install_version: expected a version such as 1.10.0 (no v prefix, no package release) on one line, "
     "without control characters, got '1.10.0\\nTrusted: yes'"),
    ("alloy_install", "alloy_install_apt_url", "https://apt.grafana.com\nTrusted: yes",
     "alloy_install_apt_url: expected a URL (http:// or https://) on one line, without control characters, "
     "got 'https://apt.grafana.com\\nTrusted: yes'"),
    ("alloy_install", "alloy_install_package_release", "1\n",
     "alloy_install_package_release: expected a package release such as 1 on one line, without control "
     "characters, got '1\\n'"),
    ("alloy_install", "alloy_install_listen_address", "127.0.0.1:12345\n",
     "alloy_install_listen_address: expected host:port or [ipv6]:port with a port from 1 to 65535 on one line, "
     "without control characters, got '127.0.0.1:12345\\n'"),
    ("alloy_install", "alloy_install_user", "alloy\nExecStartPre=/bin/sh",
     "alloy_install_user: expected a user name such as alloy on one line, without control characters, "
     "got 'alloy\\nExecStartPre=/bin/sh'"),
    ("alloy_install", "alloy_install_extra_args", ["--x=1\n--y"],
     "alloy_install_extra_args[0]: expected one flag such as --cluster.enabled=true (no spaces) on one line, "
     "without control characters, got '--x=1\\n--y'"),
    ("alloy_install", "alloy_install_env", {"A\n": "1"},
     "alloy_install_env: a key: expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*) on one line, "
     "without control characters, got 'A\\n'"),
    ("alloy_install", "alloy_install_config_path", "/etc/alloy\n",
     "alloy_install_config_path: expected an absolute path without blanks on one line, without control characters, "
     "got '/etc/alloy\\n'"),
    ("alloy_docker", "alloy_docker_image", "grafana/alloy:v1.10.0\n",
     "alloy_docker_image: expected an image reference such as grafana/alloy:v1.10.0 or grafana/alloy@sha256:<digest> "
     "on one line, without control characters, got 'grafana/alloy:v1.10.0\\n'"),
    ("alloy_docker", "alloy_docker_version", "1.10.0\r",
     "alloy_docker_version: expected a version such as 1.10.0 (no v prefix) on one line, without control "
     "characters, got '1.10.0\\r'"),
    ("alloy_docker", "alloy_docker_port", "12345\n", Ok(12345)),   # digits from a survey, trimmed
    ("alloy_docker", "alloy_docker_network", "net\n",
     "alloy_docker_network: expected a Docker network name on one line, without control characters, "
     "got 'net\\n'"),
    ("alloy_docker", "alloy_docker_extra_hosts", {"loki\n": "10.0.0.1"},
     "alloy_docker_extra_hosts: a key: expected a host name on one line, without control characters, got 'loki\\n'"),
    ("alloy_config", "alloy_config_journal_labels", {"env\n": "prod"},
     "alloy_config_journal_labels: a key: expected a label name ([A-Za-z_][A-Za-z0-9_]*) on one line, "
     "without control characters, got 'env\\n'"),
    ("alloy_config", "alloy_config_prometheus_remote_write_name", "default\n",
     "alloy_config_prometheus_remote_write_name: expected an identifier ([A-Za-z_][A-Za-z0-9_]*) on one line, "
     "without control characters, got 'default\\n'"),
    ("alloy_config", "alloy_config_snippets", {"x\n": "logging {}"},
     "alloy_config_snippets: a key: expected a snippet name (letters, digits, _ and -) on one line, "
     "without control characters, got 'x\\n'"),
    ("site", "alloy_site_version", "1.10.0\n",
     "alloy_site_version: expected a version such as 1.10.0 (no v prefix) on one line, without control "
     "characters, got '1.10.0\\n'"),
    # --- user mapping keys that would close the block and add components
    ("alloy_config", "alloy_config_journal_stages",
     [{"json": {'expressions = {}\n}\nprometheus.remote_write "x" {\n\tendpoint { url = "http://evil" }\n} //': ""}}],
     "alloy_config_journal_stages[0].json: 'expressions = {}\\n}\\nprometheus.remote_write \"x\" {\\n\\tendpoint "
     "{ url = \"http://evil\" }\\n} //' is not an attribute of loki.process stage.json (Alloy has drop_malformed, "
     "expressions, regex, source)"),
    ("alloy_config", "alloy_config_journal_stages", [{"drop": {"expresion": ".*"}}],
     "alloy_config_journal_stages[0].drop: 'expresion' is not an attribute of loki.process stage.drop (Alloy has "
     "drop_counter_reason, expression, longer_than, older_than, separator, source, value)"),
    ("alloy_config", "alloy_config_prometheus_wal", {"truncate_frequency": "2h", "} x {": 1},
     "alloy_config_prometheus_wal: '} x {' is not an attribute of prometheus.remote_write wal (Alloy has "
     "max_keepalive_time, min_keepalive_time, truncate_frequency)"),
    ("alloy_config", "alloy_config_journal_extra_relabel_rules", [{"action": "drop", "regxe": "x"}],
     "alloy_config_journal_extra_relabel_rules[0]: 'regxe' is not an attribute of loki.relabel rule (Alloy has "
     "action, modulus, regex, replacement, separator, source_labels, target_label)"),
    ("alloy_config", "alloy_config_prometheus_relabel_rules", [{"target_label": "instance", "replacement": 5}],
     Ok([{"target_label": "instance", "replacement": "5"}])),
    ("alloy_config", "alloy_config_prometheus_endpoints",
     [{"url": "http://m/api/v1/push", "queue_config": {"capacity": 10, "} evil {": 1}}],
     "alloy_config_prometheus_endpoints[0].queue_config: '} evil {' is not an attribute of prometheus.remote_write "
     "queue_config (Alloy has batch_send_deadline, capacity, max_backoff, max_samples_per_send, max_shards, "
     "min_backoff, min_shards, retry_on_http_429, sample_age_limit)"),
    ("alloy_config", "alloy_config_prometheus_endpoints",
     [{"url": "http://m/api/v1/push", "queue_config": {"capacity": "10", "retry_on_http_429": "no"}}],
     Ok([{"url": "http://m/api/v1/push", "queue_config": {"capacity": 10, "retry_on_http_429": False}}])),
    ("alloy_config", "alloy_config_prometheus_endpoints",
     [{"url": "http://m/api/v1/push", "name": "a b"}],
     "alloy_config_prometheus_endpoints[0].name must be an identifier (letters, digits, _), got 'a b'"),
    ("alloy_config", "alloy_config_journal_stages", [{"static_labels": {"values": {"team": "ops"}}, "json": {}}],
     "alloy_config_journal_stages[0]: expected a mapping with one key, the stage type (one of static_labels, labels, "
     "label_drop, label_keep, json, regex, drop, timestamp, output, template, logfmt, replace, match), "
     "got {'static_labels': {'values': {'team': 'ops'}}, 'json': {}}"),
    ("alloy_config", "alloy_config_journal_stages", [{"exec": {"command": "rm"}}],
     "alloy_config_journal_stages[0]: unknown stage type 'exec' (one of static_labels, labels, label_drop, "
     "label_keep, json, regex, drop, timestamp, output, template, logfmt, replace, match), got {'exec': "
     "{'command': 'rm'}}"),
    # map keys Alloy reads as written are kept exactly (to_alloy refuses the ones it cannot write)
    ("alloy_config", "alloy_config_journal_stages", [{"json": {"expressions": {"user-agent": "headers.ua"}}}],
     Ok([{"json": {"expressions": {"user-agent": "headers.ua"}}}])),
    # --- values used raw after a type check: YAML booleans, numbers, lists where strings go
    ("alloy_config", "alloy_config_journal_stages", [{"static_labels": {"values": {"debug": True}}}],
     "alloy_config_journal_stages[0].static_labels.values.debug: expected a string, got a boolean (quote it: "
     "YAML reads yes/no/true/false as booleans)"),
    ("alloy_config", "alloy_config_journal_stages", [{"static_labels": {"values": {"port": 8080}}}],
     Ok([{"static_labels": {"values": {"port": "8080"}}}])),
    ("alloy_config", "alloy_config_journal_stages", [{"drop": {"value": float("nan")}}],
     "alloy_config_journal_stages[0].drop.value: expected a string (Alloy string), got nan"),
    ("alloy_config", "alloy_config_journal_stages", [{"json": {"source": ["a", "b"]}}],
     "alloy_config_journal_stages[0].json.source: expected a string (Alloy string), got a list"),
    ("alloy_config", "alloy_config_journal_stages", [{"json": {"drop_malformed": "yes"}}],
     Ok([{"json": {"drop_malformed": True}}])),
    ("alloy_config", "alloy_config_journal_stages", [{"drop": {"older_than": "1 day"}}],
     "alloy_config_journal_stages[0].drop.older_than: expected an Alloy duration such as 30s, 5m or 1h30m, "
     "got '1 day'"),
    ("alloy_config", "alloy_config_journal_labels", {"env": True},
     "alloy_config_journal_labels.env: expected a string, got a boolean (quote it: YAML reads yes/no/true/false as "
     "booleans)"),
    ("alloy_config", "alloy_config_prometheus_external_labels", {"cluster": ["a"]},
     "alloy_config_prometheus_external_labels.cluster: expected a string, got a list"),
    ("alloy_config", "alloy_config_journal_max_age", "12 hours",
     "alloy_config_journal_max_age: expected an Alloy duration such as 30s, 5m or 1h30m, got '12 hours'"),
    ("alloy_config", "alloy_config_journal_max_age", "1h30m", Ok("1h30m")),
    ("alloy_config", "alloy_config_unix_scrape_interval", "1d",
     "alloy_config_unix_scrape_interval: expected an Alloy duration such as 30s, 5m or 1h30m, got '1d'"),
    ("alloy_config", "alloy_config_unix_job_name", ["integrations/unix"],
     "alloy_config_unix_job_name: expected a job name such as integrations/unix, got a list"),
    ("alloy_config", "alloy_config_instance", {"__alloy_expr__": 'sys.env("HOSTOS_HOSTNAME")'},
     Ok({"__alloy_expr__": 'sys.env("HOSTOS_HOSTNAME")'})),
    ("alloy_config", "alloy_config_instance", 'web-01 "quoted" }', Ok('web-01 "quoted" }')),
    ("alloy_config", "alloy_config_instance", "web\n01",
     "alloy_config_instance: expected a string on one line, without control characters, got 'web\\n01'"),
    ("alloy_install", "alloy_install_version", 1.1,
     "alloy_install_version: expected a version such as 1.10.0 (no v prefix, no package release), got 1.1"),
    ("alloy_install", "alloy_install_package_release", 1, Ok("1")),
    ("alloy_install", "alloy_install_apt_components", "main",
     "alloy_install_apt_components: expected a non-empty list of a component such as main, got a string"),
    ("alloy_install", "alloy_install_env", {"GOMAXPROCS": 2}, Ok({"GOMAXPROCS": "2"})),
    ("alloy_install", "alloy_install_env", {"DEBUG": True},
     "alloy_install_env.DEBUG: expected a string or number without line breaks, got a boolean (quote it: YAML reads yes/no/true/false "
     "as booleans)"),
    ("alloy_docker", "alloy_docker_restart_policy", False, Ok("no")),   # restart_policy: no, unquoted
    ("alloy_docker", "alloy_docker_log_max_file", "3", Ok(3)),
    ("alloy_docker", "alloy_docker_log_max_file", 0,
     "alloy_docker_log_max_file: expected a whole number from 1 up, got 0"),
    ("alloy_docker", "alloy_docker_port", True,
     "alloy_docker_port: expected a whole number from 1 to 65535, got True"),
    ("alloy_docker", "alloy_docker_port", "12345abc",
     "alloy_docker_port: expected a whole number from 1 to 65535, got '12345abc'"),
    # --- AWX survey strings
    ("alloy_install", "alloy_install_hold", "no", Ok(False)),
    ("alloy_install", "alloy_install_hold", "No", Ok(False)),
    ("alloy_install", "alloy_install_hold", "false", Ok(False)),
    ("alloy_install", "alloy_install_hold", "off", Ok(False)),
    ("alloy_install", "alloy_install_hold", "0", Ok(False)),
    ("alloy_install", "alloy_install_hold", "yes", Ok(True)),
    ("alloy_install", "alloy_install_hold", "TRUE", Ok(True)),
    ("alloy_install", "alloy_install_hold", 1, Ok(True)),
    ("alloy_install", "alloy_install_hold", 0, Ok(False)),
    ("site", "alloy_site_verify", "no", Ok(False)),
    ("site", "alloy_site_prometheus_url", "", Ok("")),
    ("site", "alloy_verify_alloy_url", "", Ok("")),
    ("alloy_install", "alloy_install_proxy", "", Ok("")),
    ("alloy_install", "alloy_install_apt_key_url", "", Ok("")),
    ("alloy_install", "alloy_install_rpm_key_url", "", Ok("")),
    ("alloy_config", "alloy_config_snippets", {"mine": "logging {}\0"},
     "alloy_config_snippets.mine: expected Alloy configuration text without NUL characters, got 'logging {}\\x00'"),
    ("alloy_install", "alloy_install_hold", "maybe",
     "alloy_install_hold: expected a boolean (true/false; yes/no, on/off, 1/0 as strings), got 'maybe'"),
    ("alloy_install", "alloy_install_hold", "",
     "alloy_install_hold: expected a boolean (true/false; yes/no, on/off, 1/0 as strings), got ''"),
    ("alloy_install", "alloy_install_hold", 2,
     "alloy_install_hold: expected a boolean (true/false; yes/no, on/off, 1/0 as strings), got 2"),
    ("alloy_install", "alloy_install_service_enabled", "no", Ok(False)),
    ("alloy_docker", "alloy_docker_remove_data", "false", Ok(False)),
    ("alloy_config", "alloy_config_journal_enabled", "no", Ok(False)),
    ("site", "alloy_uninstall_remove_data", "false", Ok(False)),
    ("site", "alloy_verify_data_flow", "no", Ok(False)),
    ("site", "alloy_site_serial", "1,25%,100%", Ok([1, "25%", "100%"])),
    ("site", "alloy_site_serial", " 2 , 50% ", Ok([2, "50%"])),
    ("site", "alloy_site_serial", 3, Ok([3])),
    ("site", "alloy_site_serial", "1,,100%",
     "alloy_site_serial[1]: expected a whole number from 1 up, got ''"),
    ("site", "alloy_site_serial", "0",
     "alloy_site_serial[0]: expected a whole number from 1 up, got '0'"),
    ("site", "alloy_site_serial", "150%",
     "alloy_site_serial[0]: expected a whole number from 1 up, got '150%'"),
    ("site", "alloy_site_max_fail_percentage", "10", Ok(10)),
    ("site", "alloy_site_max_fail_percentage", "101",
     "alloy_site_max_fail_percentage: expected a whole number from 0 to 100, got '101'"),
    ("site", "alloy_site_max_fail_percentage", "-1",
     "alloy_site_max_fail_percentage: expected a whole number from 0 to 100, got '-1'"),
    ("site", "alloy_site_version", "", Ok("")),
    ("site", "alloy_site_version", "latest",
     "alloy_site_version: expected a version such as 1.10.0 (no v prefix), got 'latest'"),
    ("site", "alloy_site_version", "1.10.0; rm -rf /",
     "alloy_site_version: expected a version such as 1.10.0 (no v prefix), got '1.10.0; rm -rf /'"),
    ("site", "alloy_upgrade_version", "v1.10.0",
     "alloy_upgrade_version: expected a version such as 1.10.0 (no v prefix), got 'v1.10.0'"),
    ("site", "alloy_verify_delivery_window", "0",
     "alloy_verify_delivery_window: expected a whole number from 1 to 300, got '0'"),
    ("site", "alloy_site_loki_url", "", Ok("")),
    ("site", "alloy_site_loki_url", "javascript:alert(1)",
     "alloy_site_loki_url: expected a URL (http:// or https://), got 'javascript:alert(1)'"),
    ("site", "alloy_site_loki_url", "https://loki example.com/push",
     "alloy_site_loki_url: expected a URL (http:// or https://) made of the characters URLs may hold (no blanks, "
     "quotes or backslashes), got 'https://loki example.com/push'"),
    # a quote would end apt.conf's Acquire::http::Proxy "..." string and add a directive
    ("alloy_install", "alloy_install_proxy", 'http://proxy:3128/";Acquire::https::Verify-Peer "false',
     "alloy_install_proxy: expected a URL (http:// or https://) made of the characters URLs may hold (no blanks, "
     "quotes or backslashes), got 'http://proxy:3128/\";Acquire::https::Verify-Peer \"false'"),
    # credentials are named before any other problem of the URL, and never quoted
    ("site", "alloy_site_loki_url", "https://u:%s@h/x\n" % PW,
     "alloy_site_loki_url: the URL carries credentials (user:password@), which would be written to files readable "
     "on the host and shown in logs; credentials belong in the endpoint's basic_auth or bearer_token (inventory "
     "or vault)"),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://u:%s@h/x\n" % PW}],
     "alloy_config_loki_endpoints[0].url carries credentials (user:password@): put them in basic_auth or "
     "bearer_token, which reach Alloy through the env file only"),
    ("alloy_config", "alloy_config_prometheus_endpoints",
     [{"url": "https://m/api/v1/push", "verify": {"query_url": "https://u:%s@m/api/v1/query" % PW}}],
     "alloy_config_prometheus_endpoints[0].verify.query_url carries credentials (user:password@): the endpoint's "
     "own basic_auth or bearer_token is used"),
    ("site", "alloy_verify_alloy_url", "http://127.0.0.1:12345", Ok("http://127.0.0.1:12345")),
    # endpoint attributes are typed by Alloy's schema too
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://l/p", "remote_timeout": 30}],
     "alloy_config_loki_endpoints[0].remote_timeout: expected an Alloy duration such as 30s, 5m or 1h30m, got 30"),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://l/p", "tenant_id": 42, "batch_wait": "1s"}],
     Ok([{"url": "https://l/p", "tenant_id": "42", "batch_wait": "1s"}])),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://l/p", "tls": {"server_name": True}}],
     "alloy_config_loki_endpoints[0].tls.server_name: expected a string (Alloy string), got a boolean (quote it: "
     "YAML reads yes/no/true/false as booleans)"),
    # values real systems use
    ("alloy_docker", "alloy_docker_extra_hosts", {"host.docker.internal": "host-gateway"},
     Ok({"host.docker.internal": "host-gateway"})),
    ("alloy_docker", "alloy_docker_image", "registry.example:5000/grafana/alloy:v1.10.0-RC1",
     Ok("registry.example:5000/grafana/alloy:v1.10.0-RC1")),
    ("alloy_install", "alloy_install_user", "svc.alloy", Ok("svc.alloy")),
    ("alloy_docker", "alloy_docker_log_max_size", "100M", Ok("100M")),
    ("alloy_config", "alloy_config_journal_max_age", ".5h", Ok(".5h")),
    ("alloy_install", "alloy_install_config_path", "/etc/alloy/my dir",
     "alloy_install_config_path: expected an absolute path without blanks, got '/etc/alloy/my dir'"),
    ("site", "alloy_site_prometheus_url", "https://m:99999/api/v1/push",
     "alloy_site_prometheus_url: expected a URL (http:// or https://) with a port from 1 to 65535, "
     "got 'https://m:99999/api/v1/push'"),
    # --- secrets outside the env file: credentials in URLs, credential headers
    ("site", "alloy_site_loki_url", "https://123456:%s@logs.grafana.net/loki/api/v1/push" % PW,
     "alloy_site_loki_url: the URL carries credentials (user:password@), which would be written to files readable "
     "on the host and shown in logs; credentials belong in the endpoint's basic_auth or bearer_token (inventory "
     "or vault)"),
    ("alloy_install", "alloy_install_apt_url", "https://user:%s@mirror.example/grafana" % PW,
     "alloy_install_apt_url: the URL carries credentials (user:password@), which would be written to files readable "
     "on the host and shown in logs; mirror credentials are not supported in URLs: let the mirror trust the hosts "
     "by address or network"),
    ("alloy_install", "alloy_install_rpm_url", "https://%s@mirror.example/rpm" % PW,
     "alloy_install_rpm_url: the URL carries credentials (user:password@), which would be written to files readable "
     "on the host and shown in logs; mirror credentials are not supported in URLs: let the mirror trust the hosts "
     "by address or network"),
    ("alloy_install", "alloy_install_proxy", "http://proxy:%s@proxy.example:3128" % PW,
     "alloy_install_proxy: the URL carries credentials (user:password@), which would be written to files readable "
     "on the host and shown in logs; a proxy that needs credentials is not supported: let it trust the hosts by "
     "address"),
    ("alloy_install", "alloy_install_apt_key_url", "file:///etc/grafana.key",
     "alloy_install_apt_key_url: expected a URL (http:// or https://) (a local key file goes in "
     "alloy_install_key_content, e.g. with lookup('file', ...)), got 'file:///etc/grafana.key'"),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://u:%s@loki/loki/api/v1/push" % PW}],
     "alloy_config_loki_endpoints[0].url carries credentials (user:password@): put them in basic_auth or "
     "bearer_token, which reach Alloy through the env file only"),
    ("alloy_config", "alloy_config_loki_endpoints",
     [{"url": "https://loki/loki/api/v1/push", "headers": {"Authorization": "Basic " + PW}}],
     "alloy_config_loki_endpoints[0].headers.Authorization carries credentials, which would be written to the "
     "configuration file: use basic_auth or bearer_token (written to the env file only)"),
    ("alloy_config", "alloy_config_prometheus_endpoints",
     [{"url": "https://m/api/v1/push", "headers": {"X-API-Key": PW}}],
     "alloy_config_prometheus_endpoints[0].headers.X-API-Key carries credentials, which would be written to the "
     "configuration file: use basic_auth or bearer_token (written to the env file only)"),
    ("alloy_config", "alloy_config_loki_endpoints",
     [{"url": "https://loki/loki/api/v1/push", "basic_auth": {"username": "u", "password": PW + "\n"}}],
     "alloy_config_loki_endpoints[0].basic_auth.password holds a line break or control character (a trailing "
     "newline from a vault block scalar?): remove it"),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://loki/p", "basic_auth": "u:" + PW}],
     "alloy_config_loki_endpoints[0].basic_auth must be a mapping, got str"),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://loki/p", "tls": "/etc/ca.pem"}],
     "alloy_config_loki_endpoints[0].tls must be a mapping, got str"),
    ("alloy_config", "alloy_config_loki_endpoints", [{"url": "https://loki/p", "basic_auth": {"password": PW}}],
     Ok([{"url": "https://loki/p", "basic_auth": {"password": PW}}])),   # Alloy's username is optional
    ("alloy_config", "alloy_config_loki_endpoints",
     [{"url": "https://loki/p", "tls": {"insecure_skip_verify": "no"}}],
     Ok([{"url": "https://loki/p", "tls": {"insecure_skip_verify": False}}])),
    ("alloy_docker", "alloy_docker_env", {"TOKEN": PW + "\n"},
     "alloy_docker_env.TOKEN: expected a string or number without line breaks"),
    ("alloy_docker", "alloy_docker_env", {"TOKEN": "tab\there"}, Ok({"TOKEN": "tab\there"})),
    ("alloy_install", "alloy_install_env", {"TOKEN": "a'b\"c$d\\f #g"}, Ok({"TOKEN": "a'b\"c$d\\f #g"})),
    ("alloy_install", "alloy_install_env", {"TOKEN": "a`b\"c$d\\f #g"}, Ok({"TOKEN": "a`b\"c$d\\f #g"})),
    ("alloy_install", "alloy_install_env", {"TOKEN": "a`b'c"},
     "alloy_install_env.TOKEN: a value with a backtick can hold no single quote and cannot end with a backslash (no "
     "quoting of it reads the same in systemd, sh and Compose's env_file)"),
    ("alloy_config", "alloy_config_loki_endpoints",
     [{"url": "https://loki/p", "bearer_token": "tok`en\\"}],
     "alloy_config_loki_endpoints[0].bearer_token: a value with a backtick can hold no single quote and cannot end "
     "with a backslash (no quoting of it reads the same in systemd, sh and Compose's env_file)"),
    # --- errors that name the variable instead of a traceback
    ("alloy_install", "alloy_install_key_fingerprints", "B53AE77BADB630A683046005963FA27710458545",
     "alloy_install_key_fingerprints: expected a non-empty list of 40 or 64 hex digit fingerprints (spaces "
     "allowed, any case), got a string"),
    ("alloy_install", "alloy_install_key_fingerprints", ["b53a e77b adb6 30a6 8304  6005 963f a277 1045 8545"],
     Ok(["B53AE77BADB630A683046005963FA27710458545"])),
    ("alloy_install", "alloy_install_key_fingerprints", ["B53AE77BADB630A6"],
     "alloy_install_key_fingerprints[0]: expected a 40 or 64 hex digit fingerprint, got 'B53AE77BADB630A6'"),
    ("alloy_install", "alloy_install_key_fingerprints", [],
     "alloy_install_key_fingerprints: expected a non-empty list of 40 or 64 hex digit fingerprints (spaces "
     "allowed, any case), got []"),
    ("alloy_install", "alloy_install_key_content", "https://apt.grafana.com/gpg.key",
     "alloy_install_key_content: expected an ASCII-armored OpenPGP public key (no '-----BEGIN PGP PUBLIC KEY "
     "BLOCK-----' armor found), got 'https://apt.grafana.com/gpg.key'"),
    ("alloy_install", "alloy_install_key_content",
     "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
     "alloy_install_key_content: expected an ASCII-armored OpenPGP public key (not an OpenPGP packet at offset 0), "
     "got '-----BEGIN PGP PUBLIC KEY BLOCK-----\\n\\nAAAA\\n-----END PGP PUBLIC KEY BLOCK-----\\n'"),
    ("alloy_install", "alloy_install_key_content", KEY, Ok(KEY)),
    ("alloy_install", "alloy_install_state", "installed",
     "alloy_install_state: expected one of present, absent, got 'installed'"),
    ("alloy_install", "alloy_install_listen_address", "127.0.0.1:0",
     "alloy_install_listen_address: expected host:port or [ipv6]:port with a port from 1 to 65535, "
     "got '127.0.0.1:0'"),
    ("alloy_install", "alloy_install_listen_address", "[::1]:12345", Ok("[::1]:12345")),
    ("alloy_install", "alloy_install_extra_args", "--cluster.enabled=true",
     "alloy_install_extra_args: expected a list of one flag such as --cluster.enabled=true (no spaces), "
     "got a string"),
    ("alloy_install", "alloy_install_user_groups", ["adm", "Root Users"],
     "alloy_install_user_groups[1]: expected a group name such as adm, got 'Root Users'"),
    ("alloy_docker", "alloy_docker_publish_address", "localhost",
     "alloy_docker_publish_address: expected an IP address of this host (127.0.0.1 by default, 0.0.0.0 for all), "
     "got 'localhost'"),
    ("alloy_docker", "alloy_docker_project_name", "Alloy",
     "alloy_docker_project_name: expected a Compose project name (lowercase letters, digits, _ and -), got 'Alloy'"),
    ("alloy_docker", "alloy_docker_storage_volume", "../x",
     "alloy_docker_storage_volume: expected a Docker volume name, got '../x'"),
    ("alloy_docker", "alloy_docker_timezone", "Asia/Tokyo; rm",
     "alloy_docker_timezone: expected a zone name such as Asia/Tokyo, got 'Asia/Tokyo; rm'"),
    # (alloy_config_dir and alloy_config_reload_url, gone in 0.2.0: where their rules went)
    ("alloy_install", "alloy_install_config_path", "etc/alloy",
     "alloy_install_config_path: expected an absolute path without blanks, got 'etc/alloy'"),
    ("site", "alloy_verify_alloy_url", "127.0.0.1:12345/-/reload",
     "alloy_verify_alloy_url: expected a URL (http:// or https://), got '127.0.0.1:12345/-/reload'"),
    ("alloy_config", "alloy_config_validate", "yes",
     "alloy_config_validate: expected one of auto, validate, fmt, none, got 'yes'"),
    # Log files: the entry's keys, absolute globs, label names Alloy keeps; defaults filled in.
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/var/log/**/*.log"]}],
     Ok([{"paths": ["/var/log/**/*.log"], "exclude": "", "labels": {}}])),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/var/log/a.log"], "excludes": "/var/log/*.gz"}],
     "alloy_config_log_files[0]: 'excludes' is not a key of a log file entry (paths, exclude, labels)"),
    ("alloy_config", "alloy_config_log_files", [{"labels": {"job": "x"}}],
     "alloy_config_log_files[0]: paths is required: a non-empty list of absolute path globs"),
    ("alloy_config", "alloy_config_log_files", [{"paths": "/var/log/a.log"}],
     "alloy_config_log_files[0].paths: expected a non-empty list of absolute path globs such as "
     "/var/log/nginx/*.log, got a string"),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/var/log/a.log\n"]}],
     "alloy_config_log_files[0].paths[0]: expected an absolute path or glob such as /var/log/nginx/*.log on one "
     "line, without control characters, got '/var/log/a.log\\n'"),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/x"], "exclude": "*.gz"}],
     "alloy_config_log_files[0].exclude: expected an absolute glob such as /var/log/nginx/*.gz ({a,b} for "
     "alternatives), got '*.gz'"),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/x"], "labels": {"__path__": "/y"}}],
     "alloy_config_log_files[0].labels: a key: expected a label name ([A-Za-z_][A-Za-z0-9_]*) other than filename, "
     "which Alloy sets, and not starting with __, which Alloy drops, got '__path__'"),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/x"], "labels": {"filename": "/y"}}],
     "alloy_config_log_files[0].labels: a key: expected a label name ([A-Za-z_][A-Za-z0-9_]*) other than filename, "
     "which Alloy sets, and not starting with __, which Alloy drops, got 'filename'"),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/x"], "labels": {"filenames": "/y"}}],
     Ok([{"paths": ["/x"], "exclude": "", "labels": {"filenames": "/y"}}])),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/var/log/*.{log,txt}", "/srv/[ab]*/x.log"]}],
     Ok([{"paths": ["/var/log/*.{log,txt}", "/srv/[ab]*/x.log"], "exclude": "", "labels": {}}])),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/var/log/*.{log,txt"]}],
     "alloy_config_log_files[0].paths[0]: expected an absolute path or glob such as /var/log/nginx/*.log with "
     "every [ and { closed, got '/var/log/*.{log,txt'"),
    ("alloy_config", "alloy_config_log_files", [{"paths": ["/x"], "exclude": "/x/[ab"}],
     "alloy_config_log_files[0].exclude: expected an absolute glob such as /var/log/nginx/*.gz ({a,b} for "
     "alternatives) with every [ and { closed, got '/x/[ab'"),
    ("alloy_config", "alloy_config_log_files", {"paths": ["/x"]},
     "alloy_config_log_files: expected a list of log file entries: paths (a non-empty list of absolute path "
     "globs, ** for any depth), exclude (one absolute glob, {a,b} for alternatives) and labels (a mapping of "
     "label names to strings), got a mapping"),
    # Scrape jobs of shared targets: targets become label maps, clustering auto unless given (survey
    # strings converted); Alloy's own refusals named before any host is touched; secrets never quoted.
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "node", "targets": ["h:9100", {"__address__": "[::1]:9100",
                                                                                       "az": "a"}]},
                                                  {"name": "b", "targets": ["b:1"], "clustering": "no",
                                                   "scrape_interval": "5s", "scrape_timeout": "5s"}],
     Ok([{"name": "node", "targets": [{"__address__": "h:9100"}, {"__address__": "[::1]:9100", "az": "a"}],
          "labels": {}, "clustering": "auto"},
         {"name": "b", "targets": [{"__address__": "b:1"}], "labels": {}, "clustering": False,
          "scrape_interval": "5s", "scrape_timeout": "5s"}])),
    ("alloy_config", "alloy_config_scrape_jobs", {"name": "node", "targets": ["h:9100"]},
     "alloy_config_scrape_jobs: expected a list of scrape jobs (name, targets ...), got a mapping"),
    # a target with credentials is refused without being quoted
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "node", "targets": ["scraper:hunter2@app:8080"]}],
     "alloy_config_scrape_jobs[0].targets[0]: the target carries credentials (user:password@), which would be "
     "written to files readable on the host and shown in logs; give them as the job's basic_auth"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "node", "targets": ["h:9100"], "interval": "5s"}],
     "alloy_config_scrape_jobs[0]: 'interval' is not a key of a scrape job (name, targets, labels, metrics_path, "
     "scheme, scrape_interval, scrape_timeout, tls, basic_auth, bearer_token, bearer_token_file, clustering)"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"targets": ["h:9100"]}],
     "alloy_config_scrape_jobs[0]: name is required"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "node exporter", "targets": ["h:9100"]}],
     "alloy_config_scrape_jobs[0].name: expected a job name (letters, digits, _, ., :, / and -), got 'node exporter'"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"], "scrape_interval": "0s"}],
     "alloy_config_scrape_jobs[0].scrape_interval: expected an Alloy duration greater than zero, such as 30s, "
     "got '0s'"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"], "scrape_timeout": "90s"}],
     "alloy_config_scrape_jobs[0]: scrape_timeout (90s) is greater than scrape_interval (60s, Alloy's default), "
     "which Alloy refuses: set scrape_timeout to at most the interval"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"], "bearer_token": PW + "\n"}],
     "alloy_config_scrape_jobs[0].bearer_token: expected a string or number without line breaks"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"],
                                                   "basic_auth": {"password": PW, "password_file": "/p"}}],
     "alloy_config_scrape_jobs[0].basic_auth: needs exactly one of password and password_file"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"], "tls": {"key_pem": PW}}],
     "alloy_config_scrape_jobs[0].tls: 'key_pem' is not a tls option (ca_file, ca_pem, cert_file, key_file, "
     "insecure_skip_verify, server_name, min_version)"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"], "scheme": "ftp"}],
     "alloy_config_scrape_jobs[0].scheme: expected one of http, https, got 'ftp'"),
    ("alloy_config", "alloy_config_scrape_jobs", [{"name": "n", "targets": ["h:9100"], "metrics_path": "metrics"}],
     "alloy_config_scrape_jobs[0].metrics_path: expected an absolute URL path such as /metrics, got 'metrics'"),
]


# The setup in which the role reads the variable (rulebook.UNUSED_UNLESS).
SETUP = {"alloy_docker_storage_volume": {"alloy_docker_storage_type": "volume"}}


def context(table: str) -> Dict[str, Any]:
    """The host as the table's preflight sees it: alloy_config's has a runtime."""
    return WITH_RUNTIME if table == "alloy_config" else {}


def outcome(table: str, name: str, value: Any) -> Any:
    checked, problems = rb.check_values(table, dict(SETUP.get(name, {}), **{name: value}), context(table))
    if problems:
        assert len(problems) == 1, problems
        return problems[0]
    return Ok(checked[name])


@pytest.mark.parametrize("table,name,value,expected", CASES, ids=["%d-%s" % (i, c[1]) for i, c in enumerate(CASES)])
def test_hostile_input(table: str, name: str, value: Any, expected: Any) -> None:
    got = outcome(table, name, value)
    if isinstance(expected, Ok):
        assert isinstance(got, Ok), got
        assert got.value == expected.value and type(got.value) is type(expected.value)
    else:
        assert got == expected
        assert got.startswith(name)


def test_the_docs_say_when_empty_is_allowed() -> None:
    assert rb.RULES["alloy_install"]["alloy_install_apt_url"].doc == "a URL (http:// or https://), without credentials"
    assert rb.RULES["alloy_install"]["alloy_install_proxy"].doc == \
        "a URL (http:// or https://), without credentials, or empty"


def test_the_suite_covers_every_class_and_every_table() -> None:
    assert len(CASES) >= 80
    assert {case[0] for case in CASES} == set(rb.RULES)


@pytest.mark.parametrize("table,name,value,expected", [c for c in CASES if PW in repr(c[2])])
def test_no_message_quotes_a_secret(table: str, name: str, value: Any, expected: Any) -> None:
    got = outcome(table, name, value)
    assert PW not in repr(got) or isinstance(expected, Ok)


def argspec_options(role: str) -> Dict[str, Any]:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ["alloy_install", "alloy_config", "alloy_docker"])
def test_every_role_variable_has_exactly_one_rule(role: str) -> None:
    assert sorted(rb.RULES[role]) == sorted(argspec_options(role))


@pytest.mark.parametrize("role", ["alloy_install", "alloy_config", "alloy_docker"])
def test_every_default_passes_its_rule(role: str) -> None:
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    plain = {name: value for name, value in defaults.items() if "{{" not in repr(value)}
    assert rb.check_values(role, plain, context(role))[1] == []


def test_several_problems_are_all_named_at_once() -> None:
    problems = rb.check_values("alloy_docker", {"alloy_docker_port": 0, "alloy_docker_pull": "sometimes"})[1]
    assert problems == ["alloy_docker_pull: expected one of missing, always, never, got 'sometimes'",
                        "alloy_docker_port: expected a whole number from 1 to 65535, got 0"]


@pytest.mark.parametrize("facts,expected", [
    ({"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "12"}, []),
    ({"os_family": "RedHat", "distribution": "Rocky", "distribution_major_version": "8"}, []),
    ({"os_family": "RedHat", "distribution": "CentOS", "distribution_major_version": "7"},
     ["unsupported OS: CentOS 7; alloy_install needs EL 8 or later"]),
    ({"os_family": "Suse", "distribution": "SLES"},
     ["unsupported OS: SLES (os_family Suse); alloy_install supports the Debian family and the RHEL family 8 or "
      "later"]),
    ({"os_family": "Debian", "distribution": "Debian", "service_mgr": "sysvinit"},
     ["alloy_install needs systemd (found sysvinit); use alloy_docker instead"]),
])
def test_the_platform(facts: Dict[str, str], expected: List[str]) -> None:
    assert rb.check_values("alloy_install", {}, {"facts": facts})[1] == expected


def test_a_key_is_needed_from_somewhere() -> None:
    debian = {"facts": {"os_family": "Debian", "distribution": "Debian"}}
    values = {"alloy_install_key_content": "", "alloy_install_apt_key_url": "", "alloy_install_rpm_key_url": "x"}
    assert rb.check_values("alloy_install", dict(values, alloy_install_rpm_key_url="https://k"), debian)[1] == [
        "the repository key needs alloy_install_key_content or an http(s):// key URL (alloy_install_apt_key_url)"]
    assert rb.check_values("alloy_install", dict(values, alloy_install_rpm_key_url="https://k",
                                                 alloy_install_key_content=KEY), debian)[1] == []


def test_hold_and_absent_conflict_even_as_survey_strings() -> None:
    assert rb.check_values("alloy_install", {"alloy_install_state": "absent", "alloy_install_hold": "yes"})[1] == [
        "alloy_install_hold cannot be true with alloy_install_state absent"]
    assert rb.check_values("alloy_install", {"alloy_install_state": "absent", "alloy_install_hold": "no"})[1] == []


@pytest.mark.parametrize("groups,expected", [
    (["alloy"], []), (["alloy_docker", "web"], []),
    (["alloy", "alloy_docker"], ["the host is in both groups alloy and alloy_docker; put it in one"]),
])
def test_a_host_runs_alloy_one_way(groups: List[str], expected: List[str]) -> None:
    assert rb.check_values("site", {}, {"groups": groups})[1] == expected


def test_the_filter_checks_values_read_before_any_task() -> None:
    assert alloy_checked("1, 25%", "alloy_site_serial") == [1, "25%"]
    with pytest.raises(AnsibleFilterError) as err:
        alloy_checked("none", "alloy_site_serial")
    assert str(err.value) == "alloy_site_serial[0]: expected a whole number from 1 up, got 'none'"
    with pytest.raises(AnsibleFilterError) as err:
        alloy_checked("", "alloy_upgrade_version")
    assert str(err.value) == "alloy_upgrade_version: expected a version such as 1.10.0 (no v prefix), got ''"
    with pytest.raises(AnsibleFilterError, match="no rule for alloy_nope"):
        alloy_checked(1, "alloy_nope")


def test_schema_blocks_come_from_alloy() -> None:
    # the product's table is generated from alloy-components.json (tools.alloy_schemas checks it)
    assert rb.BLOCKS["prometheus.remote_write wal"] == {
        "max_keepalive_time": "duration", "min_keepalive_time": "duration", "truncate_frequency": "duration"}


@pytest.mark.parametrize("values", [
    {"alloy_config_journal_enabled": "no", "alloy_config_loki_endpoints": [{"url": "bad"}]},
    {"alloy_config_unix_enabled": False, "alloy_config_self_metrics": "false",
     "alloy_config_prometheus_endpoints": "bad"},
])
def test_endpoints_of_a_disabled_pipeline_are_not_judged(values: Dict[str, Any]) -> None:
    assert rb.check_values("alloy_config", values, WITH_RUNTIME)[1] == []
    assert rb.check_values("alloy_config", dict(values, alloy_config_journal_enabled=True,
                                                alloy_config_self_metrics=True), WITH_RUNTIME)[1] != []


def test_the_storage_variable_of_the_other_storage_type_is_not_judged() -> None:
    assert rb.check_values("alloy_docker", {"alloy_docker_storage_type": "volume",
                                            "alloy_docker_storage_path": "relative"})[1] == []
    assert rb.check_values("alloy_docker", {"alloy_docker_storage_type": "bind",
                                            "alloy_docker_storage_path": "relative"})[1] == [
        "alloy_docker_storage_path: expected an absolute path other than /, without blanks, got 'relative'"]


class AnsibleVaultEncryptedUnicode:   # the shape ansible-core 2.16 hands vaulted strings over in
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class AnsibleUnicode(str):
    """How ansible-core 2.16 hands over strings read from YAML."""


def test_messages_name_types_in_words_for_ansibles_own_subclasses() -> None:
    assert rb.check_values("alloy_install", {"alloy_install_extra_args": AnsibleUnicode("--x")})[1] == [
        "alloy_install_extra_args: expected a list of one flag such as --cluster.enabled=true (no spaces), "
        "got a string"]


def test_the_action_decrypts_vaulted_values_before_the_rules() -> None:
    from ansible_collections.fleet.alloy.plugins.action.alloy_preflight import _plain
    value = {"endpoints": [{"password": AnsibleVaultEncryptedUnicode(PW + "\n")}], "n": 1}
    assert _plain(value) == {"endpoints": [{"password": PW + "\n"}], "n": 1}
    assert type(_plain(value)["endpoints"][0]["password"]) is str


# ---- the runtime contract of 0.2.0: the variables alloy_config no longer reads, and its cross check

REMOVED = ["alloy_config_alloy_command", "alloy_config_dir", "alloy_config_env_file", "alloy_config_group",
           "alloy_config_manage_service", "alloy_config_reload_url", "alloy_config_unix_procfs_path",
           "alloy_config_unix_rootfs_path", "alloy_config_unix_sysfs_path", "alloy_config_unix_udev_data_path"]


def test_the_removed_variables_are_moved_and_nowhere_else() -> None:
    assert sorted(rb.MOVED["alloy_config"]) == REMOVED
    defaults = yaml.safe_load((REPO / "roles" / "alloy_config" / "defaults" / "main.yml").read_text())
    for name in REMOVED:
        assert all(name not in rules for rules in rb.RULES.values()), name
        assert name not in argspec_options("alloy_config") and name not in defaults, name


def test_a_removed_variable_is_named_with_where_its_value_goes_now() -> None:
    task_vars = {"alloy_config_reload_url": "", "alloy_config_dir": "/etc/alloy", "alloy_config_validate": "auto",
                 "alloy_config_unix_udev_data_path": "/run/udev/data", "alloy_install_config_path": "/etc/alloy"}
    assert rb.moved_problems("alloy_config", task_vars) == [
        "alloy_config_dir is no longer read (the runtime contract of 0.2.0): set alloy_install_config_path "
        "(systemd) or alloy_docker_config_dir (Compose)",
        "alloy_config_reload_url is no longer read (the runtime contract of 0.2.0): the runtime role gives Alloy's "
        "URL: set alloy_install_listen_address, or alloy_docker_publish_address and alloy_docker_port",
        "alloy_config_unix_udev_data_path is no longer read (the runtime contract of 0.2.0): the runtime role says "
        "where Alloy sees the host's paths"]


@pytest.mark.parametrize("name,advice", [
    ("alloy_config_group", "set alloy_install_group (the group of a Compose host's files is root)"),
    ("alloy_config_env_file", "the runtime role's env file receives the secrets"),
    ("alloy_config_alloy_command", "the runtime role gives the command that runs Alloy's CLI"),
    ("alloy_config_manage_service", "the runtime role restarts Alloy, on the handler topic 'alloy pipelines changed'"),
])
def test_each_removed_variable_says_what_to_do(name: str, advice: str) -> None:
    assert rb.moved_problems("alloy_config", [name]) == [
        "%s is no longer read (the runtime contract of 0.2.0): %s" % (name, advice)]


def test_every_removed_variable_is_named_at_once_in_name_order() -> None:
    problems = rb.moved_problems("alloy_config", dict.fromkeys(reversed(REMOVED), "x"))
    assert [problem.split(" ", 1)[0] for problem in problems] == REMOVED


def test_only_the_table_that_no_longer_reads_a_variable_names_it() -> None:
    assert rb.moved_problems("alloy_install", {"alloy_config_dir": "/etc/alloy"}) == []
    assert rb.moved_problems("alloy_config", {"alloy_config_validate": "auto", "alloy_install_group": "g"}) == []


def test_alloy_config_needs_a_runtime() -> None:
    for where in ({}, {"facts": {}}, {"facts": {"alloy_runtime": {}}}, {"facts": {"ansible_local": {}}}):
        problems = rb.check_values("alloy_config", {"alloy_config_validate": "auto"}, where)[1]
        assert len(problems) == 1, (where, problems)
        assert problems[0].startswith("no Alloy runtime is described for this host (the fact alloy_runtime): ")
        assert "fleet.alloy.alloy_install" in problems[0] and "fleet.alloy.alloy_docker" in problems[0]


def test_a_runtime_written_by_another_version_is_named_by_its_missing_keys() -> None:
    old = {key: value for key, value in RUNTIME.items() if key not in ("host_paths", "api_url")}
    assert rb.check_values("alloy_config", {}, {"facts": {"alloy_runtime": old}})[1] == [
        "the fact alloy_runtime lacks api_url, host_paths: it was written by another version of fleet.alloy; run "
        "fleet.alloy.alloy_install or fleet.alloy.alloy_docker again"]


def test_log_files_on_a_compose_host_need_the_hosts_root() -> None:
    files = {"alloy_config_log_files": [{"paths": ["/var/log/nginx/*.log"]}]}
    # as runtime.compose describes a Compose host with and without alloy_docker_host_metrics (test_runtime.py)
    mounted = dict(RUNTIME, kind="compose", host_paths=dict(RUNTIME["host_paths"], rootfs="/host/root"))
    unmounted = dict(RUNTIME, kind="compose")
    assert rb.check_values("alloy_config", files, {"facts": {"alloy_runtime": mounted}})[1] == []
    assert rb.check_values("alloy_config", {"alloy_config_log_files": []},
                           {"facts": {"alloy_runtime": unmounted}})[1] == []
    assert rb.check_values("alloy_config", files, {"facts": {"alloy_runtime": RUNTIME}})[1] == []   # systemd: "/"
    assert rb.check_values("alloy_config", files, {"facts": {"alloy_runtime": unmounted}})[1] == [
        "alloy_config_log_files: Alloy runs in a container here without the host's root mounted "
        "(alloy_docker_host_metrics is false), so it would find none of the host's files: set "
        "alloy_docker_host_metrics to true (a read-only mount under /host/root)"]


def test_a_runtime_kept_on_the_host_is_not_enough() -> None:
    # alloy_config takes only the runtime a runtime role's preflight published in this play: that
    # role also brings the handlers that restart Alloy. The verify filter still reads the kept one.
    kept = {"ansible_local": {"alloy_runtime": RUNTIME}}
    with pytest.raises(runtime.RuntimeMissing) as err:
        runtime.from_facts({}, kept=False)
    assert rb.check_values("alloy_config", {}, {"facts": kept})[1] == [str(err.value)]
    assert alloy_runtime(kept) == RUNTIME
    assert runtime.from_facts(kept, kept=True) == RUNTIME
    # published and kept: the published one is judged (a kept one that loads a file does not matter)
    both = {"alloy_runtime": RUNTIME,
            "ansible_local": {"alloy_runtime": dict(RUNTIME, config_dir="/etc/alloy/x.alloy")}}
    assert rb.check_values("alloy_config", {}, {"facts": both})[1] == []


@pytest.mark.parametrize("config_dir,expected", [
    ("/etc/alloy/config.alloy",
     ["alloy_config writes its pipelines into a directory, and Alloy loads the file /etc/alloy/config.alloy here: "
      "set alloy_install_config_path to a directory (its default, /etc/alloy/conf.d)"]),
    ("/etc/alloy/conf.d", []),
    ("/etc/alloy", []),
    ("/etc/alloy/config.alloy.d", []),
])
def test_alloy_config_writes_into_a_directory(config_dir: str, expected: List[str]) -> None:
    facts = {"alloy_runtime": dict(RUNTIME, config_dir=config_dir)}
    assert rb.check_values("alloy_config", {}, {"facts": facts})[1] == expected


def test_the_runtime_problem_comes_after_the_variables_own() -> None:
    assert rb.check_values("alloy_config", {"alloy_config_validate": "yes"})[1][0] == \
        "alloy_config_validate: expected one of auto, validate, fmt, none, got 'yes'"
    assert len(rb.check_values("alloy_config", {"alloy_config_validate": "yes"})[1]) == 2


# ---- OTLP (alloy_config_otlp_*): a way in, a way out, names that name components ----

def _otlp(**values: Any) -> List[str]:
    base = {"alloy_config_otlp_enabled": True, "alloy_config_otlp_grpc_listen": "127.0.0.1:4317",
            "alloy_config_otlp_http_listen": "127.0.0.1:4318", "alloy_config_otlp_metrics_to_prometheus": False,
            "alloy_config_otlp_logs_to_loki": False,
            "alloy_config_otlp_exporters": [{"name": "cloud", "url": "https://otlp.example/otlp"}]}
    return rb.check_values("alloy_config", dict(base, **values), {"facts": {"alloy_runtime": RUNTIME}})[1]


def test_an_otlp_pipeline_with_a_way_in_and_out_passes() -> None:
    assert _otlp() == []
    assert _otlp(alloy_config_otlp_grpc_listen="") == []
    assert _otlp(alloy_config_otlp_exporters=[], alloy_config_otlp_logs_to_loki="yes",
                 alloy_config_loki_endpoints=[{"url": "http://loki:3100/loki/api/v1/push"}]) == []


def test_an_otlp_pipeline_without_a_listen_address_or_a_destination_is_refused() -> None:
    assert _otlp(alloy_config_otlp_grpc_listen="", alloy_config_otlp_http_listen="") == [
        "alloy_config_otlp_enabled needs a listen address: alloy_config_otlp_grpc_listen or "
        "alloy_config_otlp_http_listen"]
    assert _otlp(alloy_config_otlp_exporters=[]) == [
        "alloy_config_otlp_enabled needs somewhere to send: alloy_config_otlp_exporters, "
        "alloy_config_otlp_metrics_to_prometheus or alloy_config_otlp_logs_to_loki"]


def test_otlp_conversions_need_the_pipeline_they_feed() -> None:
    assert _otlp(alloy_config_otlp_metrics_to_prometheus=True, alloy_config_prometheus_endpoints=[]) == [
        "alloy_config_otlp_metrics_to_prometheus needs alloy_config_prometheus_endpoints"]
    assert _otlp(alloy_config_otlp_logs_to_loki=True, alloy_config_loki_endpoints=[]) == [
        "alloy_config_otlp_logs_to_loki needs alloy_config_loki_endpoints"]


def test_otlp_exporter_names_are_unique_identifiers() -> None:
    twice = [{"name": "a", "url": "https://x.example"}, {"name": "a", "url": "https://y.example"}]
    assert _otlp(alloy_config_otlp_exporters=twice) == [
        "alloy_config_otlp_exporters: the name a is given twice (it names components)"]
    assert _otlp(alloy_config_otlp_exporters=[{"url": "https://x.example"}]) == [
        "alloy_config_otlp_exporters[0].name is required: it names the exporter's components (an identifier)"]


def test_otlp_variables_are_not_read_while_otlp_is_off() -> None:
    assert rb.check_values("alloy_config", {"alloy_config_otlp_enabled": False, "alloy_config_otlp_http_listen": "x",
                                            "alloy_config_otlp_exporters": "nonsense"},
                           {"facts": {"alloy_runtime": RUNTIME}})[1] == []


def test_otlp_exporter_options_are_checked_per_protocol() -> None:
    grpc = {"name": "t", "url": "https://tempo.example:4317/otlp/", "protocol": "grpc", "compression": "brotli"}
    assert _otlp(alloy_config_otlp_exporters=[grpc]) == [
        "alloy_config_otlp_exporters[0].url: a gRPC exporter dials host:port only, got a path "
        "(https://tempo.example:4317/otlp/); the OTLP/HTTP exporter (protocol http) takes a URL with a path; "
        "alloy_config_otlp_exporters[0].compression must be one of gzip, zlib, deflate, snappy, zstd, lz4, none, "
        "got 'brotli'"]
    # gRPC's timeout is the exporter's own attribute, still a duration.
    assert _otlp(alloy_config_otlp_exporters=[dict(grpc, url="https://tempo.example:4317", compression="zstd",
                                                   timeout="5s")]) == []
    assert _otlp(alloy_config_otlp_exporters=[dict(grpc, url="https://tempo.example:4317", compression="zstd",
                                                   timeout="soon")])[0].startswith(
        "alloy_config_otlp_exporters[0].timeout: expected an Alloy duration")
    password_file = {"name": "c", "url": "https://x.example", "basic_auth": {"username": "u", "password_file": "/p"}}
    assert _otlp(alloy_config_otlp_exporters=[password_file]) == [
        "alloy_config_otlp_exporters[0].basic_auth.password_file: otelcol.auth.basic reads a password file only from "
        "Alloy 1.13 on (its client_auth block), which the role does not write yet: give password (it reaches Alloy "
        "through the env file)"]


def test_otlp_processors_are_checked_as_alloy_checks_them_when_it_loads_them() -> None:
    limiter = "alloy_config_otlp_memory_limiter"
    assert _otlp(**{limiter: {"check_interval": "1s", "limit": "1GiB"}}) == []
    assert _otlp(**{limiter: {"check_interval": "0s", "limit": "1GiB"}}) == [
        limiter + " needs check_interval greater than zero, such as 1s (the role's default is replaced, not merged)"]
    assert _otlp(**{limiter: {"check_interval": "1s", "limit": "1GiB", "limit_percentage": 80}}) == [
        limiter + " sets limit and limit_percentage: Alloy takes either, not both"]
    assert _otlp(**{limiter: {"check_interval": "1s"}}) == [
        limiter + " needs limit (such as 1GiB) or limit_percentage (with spike_limit_percentage)"]
    assert _otlp(**{limiter: {"check_interval": "500ms", "limit_percentage": 80, "spike_limit_percentage": 20}}) == []
    assert _otlp(alloy_config_otlp_batch={"send_batch_size": 3000}) == []
    assert _otlp(alloy_config_otlp_batch={"send_batch_size": 5000, "send_batch_max_size": 0}) == []
    assert _otlp(alloy_config_otlp_batch={"send_batch_size": 5000, "send_batch_max_size": 4000}) == [
        "alloy_config_otlp_batch: send_batch_max_size (4000) must be at least send_batch_size (5000), or 0"]


def test_a_secret_typed_block_attribute_is_refused_without_its_value() -> None:
    with pytest.raises(rb.Problem) as err:
        rb.check_value("alloy_config_otlp_receiver_tls", {"key_pem": "-----BEGIN PRIVATE KEY-----\nMIIEsecret"})
    assert "MIIEsecret" not in str(err.value) and "key_pem" in str(err.value)
    assert "key_pem" not in rb.RULES["alloy_config"]["alloy_config_otlp_receiver_tls"].doc


# ---- Fleet Management (alloy_config_fleet_management_*): one connection, attributes, poll ----

def _fleet(**values: Any) -> List[str]:
    base = {"alloy_config_fleet_management_endpoint": {"url": "https://fm.example", "basic_auth": {
        "username": "400001", "password": "tok"}}, "alloy_config_fleet_management_id": "web-01",
        "alloy_config_fleet_management_attributes": {"env": "prod"},
        "alloy_config_fleet_management_poll_frequency": "1m"}
    return rb.check_values("alloy_config", dict(base, **values), {"facts": {"alloy_runtime": RUNTIME}})[1]


def test_a_fleet_management_connection_passes_and_is_named_without_an_index() -> None:
    assert _fleet() == []
    assert _fleet(alloy_config_fleet_management_poll_frequency="10s") == []
    assert _fleet(alloy_config_fleet_management_endpoint={"url": "ftp://fm"}) == [
        "alloy_config_fleet_management_endpoint.url must be an http:// or https:// URL, got 'ftp://fm'"]
    assert _fleet(alloy_config_fleet_management_endpoint={"url": "https://fm", "headers": {"X-A": "b"}}) == [
        "alloy_config_fleet_management_endpoint.headers is not an option of the Fleet Management connection (url, "
        "basic_auth, bearer_token, bearer_token_file, tls)"]


def test_fleet_management_ids_attributes_and_poll_frequency_follow_alloy() -> None:
    assert _fleet(alloy_config_fleet_management_id="web 01")[0].startswith(
        "alloy_config_fleet_management_id: expected a collector ID without spaces")
    assert _fleet(alloy_config_fleet_management_attributes={"collector.version": "1"})[0].startswith(
        "alloy_config_fleet_management_attributes: a key: expected an attribute name without spaces, quotes or "
        "backslashes, outside collector.")
    assert _fleet(alloy_config_fleet_management_poll_frequency="9s")[0].startswith(
        "alloy_config_fleet_management_poll_frequency: expected an Alloy duration of at least 10s")
    # Off ({}): the other variables are not read, so not checked.
    assert _fleet(alloy_config_fleet_management_endpoint={}, alloy_config_fleet_management_poll_frequency="1s") == []


def test_options_the_remotecfg_block_does_not_have_are_refused() -> None:
    assert _fleet(alloy_config_fleet_management_endpoint={"url": "https://fm", "remote_timeout": "5s"}) == [
        "alloy_config_fleet_management_endpoint.remote_timeout is not an option of the Fleet Management connection "
        "(url, basic_auth, bearer_token, bearer_token_file, tls)"]


# ---- one authentication method, basic_auth's password from one source: one rule (module_utils/alloy_endpoints.py)
# for the endpoints and the scrape jobs, placed after the variable path each names ----

AUTH_CASES: List[Tuple[Dict[str, Any], Any]] = [
    ({"bearer_token": PW}, None),
    ({"basic_auth": {"username": "u", "password_file": "/p"}}, None),
    ({"basic_auth": {"password": PW}}, None),                                     # Alloy's username is optional
    ({"bearer_token": PW, "bearer_token_file": ""}, None),                        # empty is not set
    ({"basic_auth": {}, "bearer_token_file": "/t"}, None),
    ({"basic_auth": {"username": "u", "password": PW}, "bearer_token": PW},
     ("", "sets basic_auth and bearer_token: use only one authentication method")),
    ({"bearer_token": PW, "bearer_token_file": "/t"},
     ("", "sets bearer_token and bearer_token_file: use only one authentication method")),
    ({"basic_auth": {"password_file": "/p"}, "bearer_token": PW, "bearer_token_file": "/t"},
     ("", "sets basic_auth and bearer_token and bearer_token_file: use only one authentication method")),
    ({"basic_auth": {"username": "u"}}, (".basic_auth", "needs exactly one of password and password_file")),
    ({"basic_auth": {"username": ""}}, (".basic_auth", "needs exactly one of password and password_file")),
    ({"basic_auth": {"username": "u", "password": PW, "password_file": "/p"}},
     (".basic_auth", "needs exactly one of password and password_file")),
]


def _refusal(name: str, value: Any) -> Any:
    """The message check_value refuses the value of the variable with, or None (as the preflight reads it)."""
    try:
        rb.check_value(name, value)
    except rb.Problem as err:
        return str(err)
    return None


@pytest.mark.parametrize("endpoints,path", [("alloy_config_loki_endpoints", "alloy_config_loki_endpoints[0]"),
                                            ("alloy_config_prometheus_endpoints",
                                             "alloy_config_prometheus_endpoints[0]"),
                                            ("alloy_config_fleet_management_endpoint",
                                             "alloy_config_fleet_management_endpoint")])
@pytest.mark.parametrize("auth,verdict", AUTH_CASES)
def test_an_endpoint_and_a_scrape_job_get_the_same_verdict_on_authentication(endpoints: str, path: str,
                                                                             auth: Dict[str, Any],
                                                                             verdict: Any) -> None:
    endpoint = dict(auth, url="https://b.example/push")
    endpoint_refused = _refusal(endpoints, endpoint if endpoints.endswith("_endpoint") else [endpoint])
    job_refused = _refusal("alloy_config_scrape_jobs", [dict(auth, name="n", targets=["h:9100"])])
    if verdict is None:
        assert endpoint_refused is None and job_refused is None
        return
    where, what = verdict
    # The endpoints' messages follow the path with a blank, the rule book's with a colon (both pinned by
    # tests/unit/roles/test_alloy_config_render.py): the words of the rule are the same.
    assert endpoint_refused == "%s%s %s" % (path, where, what)
    assert job_refused == "alloy_config_scrape_jobs[0]%s: %s" % (where, what)
    assert PW not in endpoint_refused + job_refused
