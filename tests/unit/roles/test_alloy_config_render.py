"""The alloy_config role rendered for a matrix of variable sets, without containers.

One ansible-playbook run (local connection, one inventory host per case) applies the
role after publishing the host's runtime contract as a runtime role does (the fact
alloy_runtime, through fleet.alloy.alloy_env): the stand-in's CLI as `alloy validate`, a
temporary directory as /etc/alloy/conf.d; each result is then parsed with the stand-in's
parser and checked.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest
import yaml
from alloy_standin import cluster_targets
from alloy_standin.scrape_loop import series_labels
from alloy_standin.syntax import Attribute, Block, chain_name, evaluate_literal, parse
from alloy_standin.validate import load
from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime
from local_http import LocalServer

REPO = Path(__file__).resolve().parents[3]
STANDINS = REPO / "lab" / "standins"
PLAYBOOK = Path(__file__).resolve().parents[1] / "data" / "render_alloy_config.yml"
SECRETS = {"loki_pw": "s3cr3t-l0ki-\"pass'", "loki_token": "tok-loki-$HOME", "prom_pw": "prom`pw\\x",
           "otlp_pw": "glc_otlp$tok\"en'", "tls_key": "-----BEGIN PRIVATE KEY-----\nMIIEsecret",
           "fleet_pw": "glc_fleet$tok'en\"x", "scrape_token": "scr4pe-t0ken$'\"x", "scrape_pw": "scr4pe\\pw`x"}
EXPR = "__alloy_expr__"
STANDIN = ["env", "ALLOY_STANDIN_VERSION=1.10.0", sys.executable, "-m", "alloy_standin"]
OLD_STANDIN = ["env", "ALLOY_STANDIN_VERSION=1.8.3", sys.executable, "-m", "alloy_standin"]
NOWHERE = "http://127.0.0.1:9"   # the render's api_url: no Alloy answers the reload, the files stay
HOST_PATHS = {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}
# The runtime's cluster key (plugin_utils/cluster.describe) of a member of a two-node cluster, and of
# a host whose Alloy runs alone.
CLUSTER = {"enabled": True, "name": "prod", "node_name": "scrape-01", "members": ["scrape-01", "scrape-02"],
           "join_addresses": ["10.0.1.12:12345"], "flags": ["--cluster.enabled=true"]}
ALONE = {"enabled": False, "name": "", "node_name": "", "members": [], "join_addresses": [], "flags": []}
# Shared targets: labels for all (a target's own win), a path and scheme, a token through the env
# file, and a job that stays unclustered whatever the runtime says.
SCRAPE_JOBS = [
    {"name": "prometheus", "targets": ["prometheus-1.example:9090",
                                       {"__address__": "prometheus-2.example:9090", "replica": "b", "env": "stg"}],
     "labels": {"env": "prod", "team": 'ops "x" }'}, "scrape_interval": "30s", "scrape_timeout": "15s"},
    {"name": "integrations/blackbox", "targets": ["[2001:db8::1]:9115"], "metrics_path": "/probe",
     "scheme": "https", "bearer_token": SECRETS["scrape_token"], "tls": {"ca_file": "/etc/ssl/ca.pem"}},
    {"name": "unshared", "targets": ["x.example:1"], "clustering": "false"},
]
SCRAPE_ONLY = {"alloy_config_journal_enabled": False, "alloy_config_unix_enabled": False,
               "alloy_config_prometheus_endpoints": [{"url": "http://prometheus.example:9090/api/v1/write"}],
               "alloy_config_prometheus_remote_write_name": "central"}

CASES: Dict[str, Dict[str, Any]] = {
    # Seed 002: the hand-written role's journal pipeline from alloy_loki_hostname alone.
    "seed002": {"alloy_loki_hostname": "loki.example.com", "alloy_config_unix_enabled": False},
    # Seed 000: the container's unix pipeline, WAL name and cluster label kept.
    "seed000": {
        "alloy_config_journal_enabled": False, "alloy_config_unix_scrape_interval": "15s",
        "alloy_config_prometheus_relabel_rules": [{
            "source_labels": ["instance"], "target_label": "instance",
            "replacement": {EXPR: 'sys.env("HOSTOS_HOSTNAME")'}}],
        "alloy_config_prometheus_remote_write_name": "stg_prometheus",
        "alloy_config_prometheus_endpoints": [{"url": "http://prometheus.example:9090/api/v1/write"}],
        "alloy_config_prometheus_wal": {"truncate_frequency": "1h"},
        "alloy_config_prometheus_external_labels": {"cluster": "external"},
    },
    # Every option at least once.
    "everything": {
        "alloy_config_logging_level": "debug", "alloy_config_logging_format": "json",
        "alloy_config_instance": 'web-01 "quoted" }',
        "alloy_config_journal_max_age": "24h", "alloy_config_journal_path": "/var/log/journal",
        "alloy_config_journal_matches": "_SYSTEMD_UNIT=nginx.service",
        "alloy_config_journal_format_as_json": True,
        "alloy_config_journal_labels": {"component": "loki.source.journal", "env": "prod"},
        "alloy_config_journal_extra_relabel_rules": [
            {"action": "drop", "source_labels": ["unit"], "regex": "session-.*\\.scope"}],
        "alloy_config_journal_stages": [
            {"static_labels": {"values": {"team": "ops"}}},
            {"json": {"expressions": {"msg": "message", "lvl": ""}}},
            {"drop": {"expression": ".*healthcheck.*"}},
            {"labels": {"values": {"lvl": ""}}},
        ],
        "alloy_config_loki_endpoints": [
            {"url": "https://loki-a.example.com/loki/api/v1/push", "tenant_id": "team-a",
             "basic_auth": {"username": "alloy", "password": SECRETS["loki_pw"]},
             "headers": {"X-Source": "fleet"}, "batch_wait": "2s", "batch_size": "2MiB",
             "remote_timeout": "20s", "name": "primary",
             "tls": {"ca_file": "/etc/ssl/ca.pem", "cert_file": "/etc/ssl/c.pem", "key_file": "/etc/ssl/c.key",
                     "server_name": "loki", "min_version": "TLS12"}},
            {"url": "http://loki-b.example.com:3100/loki/api/v1/push", "bearer_token": SECRETS["loki_token"]},
        ],
        "alloy_config_loki_external_labels": {"cluster": "c1"},
        "alloy_config_unix_enable_collectors": ["systemd"], "alloy_config_unix_disable_collectors": ["mdadm"],
        "alloy_config_unix_job_name": "node", "alloy_config_unix_scrape_timeout": "5s",
        "alloy_config_self_metrics": True,
        "alloy_config_prometheus_endpoints": [
            {"url": "https://mimir.example.com/api/v1/push",
             "basic_auth": {"username": "u", "password": SECRETS["prom_pw"]},
             "queue_config": {"capacity": 5000, "max_shards": 10, "retry_on_http_429": True},
             "tls": {"insecure_skip_verify": True}},
            {"url": "http://prom.example.com:9090/api/v1/write", "bearer_token_file": "/run/secrets/t"},
        ],
        "alloy_config_prometheus_external_labels": {"cluster": "c1", "region": "eu"},
        "alloy_config_prometheus_wal": {"truncate_frequency": "30m", "min_keepalive_time": "1m",
                                        "max_keepalive_time": "4h"},
        "alloy_config_snippets": {"echo": 'loki.echo "debug" {\n}\n'},
    },
    # By design: survey answers are strings; Alloy's basic_auth needs no username.
    "survey_strings": {"alloy_config_journal_format_as_json": "yes", "alloy_config_self_metrics": "true",
                       "alloy_config_unix_enabled": "false"},
    "basic_auth_without_username": {"alloy_config_prometheus_endpoints": [
        {"url": "https://mimir.example.com/api/v1/push", "basic_auth": {"password": "pw"}}]},
    "bad_scheme": {"alloy_config_loki_endpoints": [{"url": "ftp://loki/push"}]},
    "url_credentials": {"alloy_config_loki_endpoints": [{"url": "https://u:pw@loki/loki/api/v1/push"}]},
    "credential_header": {"alloy_config_loki_endpoints": [{"url": "https://loki/loki/api/v1/push",
                                                           "headers": {"Authorization": "Basic dTpwdw=="}}]},
    "two_auth": {"alloy_config_prometheus_endpoints": [
        {"url": "http://p/api/v1/write", "bearer_token": "x", "basic_auth": {"username": "u", "password": "p"}}]},
    "bad_label": {"alloy_config_prometheus_external_labels": {"bad-label": "x"}},
    "bad_stage": {"alloy_config_journal_stages": [{"nonsense": {}}]},
    "typo_in_endpoint": {"alloy_config_loki_endpoints": [{"url": "http://l/p", "tenant": "x"}]},
    "invalid_snippet": {"alloy_config_snippets": {"broken": 'prometheus.scrape "x" {\n\ttargets = [\n}\n'}},
    "unknown_reference": {"alloy_config_snippets": {"dangling": 'loki.source.journal "more" {\n'
                                                               '\tforward_to = [loki.write.nowhere.receiver]\n}\n'}},
    # Alloy before 1.9 has no `validate`: `alloy fmt` checks each file's syntax only.
    "old_alloy_fmt_only": {"alloy_config_snippets": {"dangling": 'loki.source.journal "more" {\n'
                                                                 '\tforward_to = [loki.write.nowhere.receiver]\n}\n'}},
    "old_alloy_syntax_error": {"alloy_config_snippets": {"broken": 'x "y" {\n\ta = [\n}\n'}},
    # Log files without the journal (the writer stays), in a container: under the host's root mount.
    "log_files": {
        "alloy_config_journal_enabled": False, "alloy_config_unix_enabled": False,
        "alloy_config_loki_external_labels": {"cluster": "c1"},
        "alloy_config_log_files": [
            {"paths": ["/var/log/nginx/*.log", "/srv/app/**/*.log"], "exclude": "/var/log/nginx/*.{gz,1}",
             "labels": {"job": "nginx", "instance": "web-01"}},
            {"paths": ["/var/log/app.log"]},
        ],
    },
    "bad_log_files": {"alloy_config_log_files": [{"paths": ["var/log/*.log"], "labels": {"job": "x"}}]},
    # OTLP from applications: two exporters (HTTP with basic auth and TLS; gRPC without TLS, traces
    # only), metrics converted into the Prometheus pipeline; logs only to the first exporter.
    "otlp": {
        "alloy_config_journal_enabled": False, "alloy_config_unix_enabled": False,
        "alloy_config_otlp_enabled": "yes", "alloy_config_otlp_grpc_listen": "",
        "alloy_config_otlp_http_listen": "0.0.0.0:4318",
        "alloy_config_otlp_receiver_tls": {"cert_file": "/etc/alloy/otlp.pem", "key_file": "/etc/alloy/otlp.key"},
        "alloy_config_otlp_batch": {"timeout": "1s", "send_batch_size": "512"},
        "alloy_config_otlp_metrics_to_prometheus": True,
        "alloy_config_prometheus_endpoints": [{"url": "http://prometheus.example:9090/api/v1/write"}],
        "alloy_config_otlp_exporters": [
            {"name": "cloud", "url": "https://otlp-gateway.example.net/otlp",
             "basic_auth": {"username": "123456", "password": SECRETS["otlp_pw"]},
             "headers": {"X-Scope-OrgID": "team-a"}, "tls": {"ca_file": "/etc/ssl/lab-ca.pem"}, "timeout": "10s"},
            {"name": "tempo", "protocol": "grpc", "url": "http://tempo.example:4317", "signals": ["traces"],
             "timeout": "5s", "compression": "zstd"},
        ],
    },
    "otlp_nowhere": {"alloy_config_otlp_enabled": True},
    "otlp_bad_exporter": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_exporters": [
        {"name": "a b", "url": "https://x.example", "basic_auth": {"username": "u", "password": "p"}},
        {"name": "c", "url": "grpc://x.example:4317", "protocol": "grpc"}]},
    "otlp_password_file": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_exporters": [
        {"name": "a", "url": "https://x.example", "basic_auth": {"username": "u", "password_file": "/p"}}]},
    "otlp_grpc_path": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_exporters": [
        {"name": "a", "url": "https://x.example:4317/otlp/", "protocol": "grpc"}]},
    # Rules Alloy checks only when it loads the component (a restart would stop every pipeline).
    "otlp_processors": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_metrics_to_prometheus": True,
                        "alloy_config_otlp_memory_limiter": {"limit_percentage": 80, "check_interval": "1s"},
                        "alloy_config_otlp_batch": {"send_batch_size": 5000}},
    "otlp_limiter_interval": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_metrics_to_prometheus": True,
                              "alloy_config_otlp_memory_limiter": {"limit": "1GiB"}},
    # A secret-typed attribute is refused, and its value never shown.
    "otlp_secret_tls": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_metrics_to_prometheus": True,
                        "alloy_config_otlp_receiver_tls": {"cert_file": "/etc/alloy/otlp.pem",
                                                           "key_pem": SECRETS["tls_key"]}},
    "otlp_unknown_key": {"alloy_config_otlp_enabled": True, "alloy_config_otlp_exporters": [
        {"name": "a", "url": "https://x.example", "bearer_token": "t"}]},
    # Grafana Fleet Management only (a collector whose pipelines all come from the server), Grafana
    # Cloud's shape: instance ID and token, the host's OS from its facts beside the user's attributes.
    "fleet": {
        "alloy_config_journal_enabled": False, "alloy_config_unix_enabled": False, "fleet_test_gather": True,
        "alloy_config_fleet_management_endpoint": {
            "url": "https://fleet-management-prod-011.grafana.net",
            "basic_auth": {"username": "400001", "password": SECRETS["fleet_pw"]},
            "tls": {"ca_file": "/etc/ssl/lab-ca.pem"}},
        "alloy_config_fleet_management_attributes": {"env": "prod", "role": "web", "os": "custom"},
        "alloy_config_fleet_management_poll_frequency": "30s",
    },
    "fleet_bad": {
        "alloy_config_fleet_management_endpoint": {"url": "https://fm.example", "bearer_token": "t",
                                                   "basic_auth": {"username": "1", "password": "p"}},
        "alloy_config_fleet_management_attributes": {"collector.os": "linux"},
        "alloy_config_fleet_management_poll_frequency": "5s",
    },
    # Shared targets (alloy_config_scrape_jobs): clustered by themselves on a member of a cluster (the
    # runtime's cluster), not on a host whose Alloy runs alone (or whose runtime predates clustering),
    # unless forced; refused with the variable named.
    "scrape_clustered": dict(SCRAPE_ONLY, alloy_config_scrape_jobs=SCRAPE_JOBS),
    "scrape_alone": dict(SCRAPE_ONLY, alloy_config_scrape_jobs=SCRAPE_JOBS),
    "scrape_forced": dict(SCRAPE_ONLY, alloy_config_scrape_jobs=[
        {"name": "forced", "targets": ["a.example:1"], "clustering": True,
         "basic_auth": {"username": "u", "password": SECRETS["scrape_pw"]}},
        {"name": "auto", "targets": ["b.example:1"]}]),
    "scrape_bad": {"alloy_config_scrape_jobs": [
        {"name": "web", "targets": []},
        {"name": "db", "targets": ["db.example:9104"], "scrape_interval": "5s"},
        {"name": "x", "targets": ["http://x.example:1/metrics"]},
        {"name": "y", "targets": ["y.example:1"], "labels": {"job": "z"}},
        {"name": "p.q", "targets": ["p.example:1"]},
        {"name": "t", "targets": ["t.example:1"], "bearer_token": SECRETS["scrape_token"] + "\n"},
        {"name": "u", "targets": ["u.example:1"], "bearer_token_file": "/run/t", "basic_auth": {"password": "x"}},
        {"name": "v", "targets": [{"instance": "v"}]},
        {"name": "p/q", "targets": ["q.example:1"]},
        {"name": "s", "targets": ["s.example:1"]}, {"name": "s", "targets": ["s.example:2"]}]},
    "scrape_no_prometheus": {"alloy_config_unix_enabled": False, "alloy_config_prometheus_endpoints": [],
                             "alloy_config_scrape_jobs": [{"name": "a", "targets": ["a.example:1"]}]},
    # A cluster over TLS (alloy_install_cluster_tls): the runtime says Alloy's HTTP server serves TLS.
    "http_tls": {"alloy_config_journal_enabled": False, "alloy_config_unix_enabled": False},
    # The runtime contract of 0.2.0: a variable it replaced, and a host no runtime role described.
    "removed_variable": {},
    "no_runtime": {},
    "no_runtime_instance_set": {"alloy_config_instance": "web-01"},
}
# The tls block of Alloy's http block a runtime with cluster TLS gives (runtime.http_tls).
HTTP_TLS = {"cert_file": "/etc/alloy/tls/member.pem", "key_file": "/etc/alloy/tls/member.key",
            "client_ca_file": "/etc/alloy/tls/ca.pem", "client_auth_type": "RequireAndVerifyClientCert"}
# What a case's runtime says differently from _runtime's (None: the host has no runtime fact).
RUNTIMES: Dict[str, Optional[Dict[str, Any]]] = {
    # Seed 000 ran in a container: the runtime (alloy_docker's) says where Alloy sees the host.
    "seed000": {"host_paths": {"procfs": "/host/proc", "sysfs": "/host/sys", "rootfs": "/rootfs",
                               "udev_data": "/run/udev/data"}},
    "log_files": {"host_paths": {"procfs": "/host/proc", "sysfs": "/host/sys", "rootfs": "/host/root/",
                                 "udev_data": "/run/udev/data"}},
    "old_alloy_fmt_only": {"alloy_command": OLD_STANDIN},
    "old_alloy_syntax_error": {"alloy_command": OLD_STANDIN},
    "no_runtime": None,
    "no_runtime_instance_set": None,
    "http_tls": {"api_url": "https://127.0.0.1:9", "http_tls": HTTP_TLS,
                 "api_tls": {"ca_file": "/etc/alloy/tls/ca.pem", "server_name": "alloy.cluster.example",
                             "cert_file": "/etc/alloy/tls/member.pem", "key_file": "/etc/alloy/tls/member.key"}},
    "scrape_clustered": {"cluster": CLUSTER},
    "scrape_forced": {"cluster": ALONE},
}
# A variable alloy_config no longer reads, set by a case (to a path in its temporary folder).
REMOVED = {"removed_variable": "alloy_config_dir"}
# Refused by the preflight (the rule book, fleet.alloy.alloy_preflight): the whole message.
REFUSED = {
    "bad_scheme": "alloy_config: alloy_config_loki_endpoints[0].url must be an http:// or https:// URL, "
                  "got 'ftp://loki/push'",
    "url_credentials": "alloy_config: alloy_config_loki_endpoints[0].url carries credentials (user:password@): put "
                       "them in basic_auth or bearer_token, which reach Alloy through the env file only",
    "credential_header": "alloy_config: alloy_config_loki_endpoints[0].headers.Authorization carries credentials, "
                         "which would be written to the configuration file: use basic_auth or bearer_token (written "
                         "to the env file only)",
    "two_auth": "alloy_config: alloy_config_prometheus_endpoints[0] sets basic_auth and bearer_token: use only one "
                "authentication method",
    "bad_label": "alloy_config: alloy_config_prometheus_external_labels: a key: expected a label name "
                 "([A-Za-z_][A-Za-z0-9_]*), got 'bad-label'",
    "bad_stage": "alloy_config: alloy_config_journal_stages[0]: unknown stage type 'nonsense' (one of static_labels, "
                 "labels, label_drop, label_keep, json, regex, drop, timestamp, output, template, logfmt, replace, "
                 "match), got {'nonsense': {}}",
    "otlp_nowhere": "alloy_config: alloy_config_otlp_enabled needs somewhere to send: alloy_config_otlp_exporters, "
                    "alloy_config_otlp_metrics_to_prometheus or alloy_config_otlp_logs_to_loki",
    "otlp_bad_exporter": "alloy_config: alloy_config_otlp_exporters[0].name must be an identifier (letters, digits, "
                         "_), got 'a b'; alloy_config_otlp_exporters[1].url must be an http:// or https:// URL, got "
                         "'grpc://x.example:4317'",
    "otlp_grpc_path": "alloy_config: alloy_config_otlp_exporters[0].url: a gRPC exporter dials host:port only, got a "
                      "path (https://x.example:4317/otlp/); the OTLP/HTTP exporter (protocol http) takes a URL with a "
                      "path",
    "otlp_processors": "alloy_config: alloy_config_otlp_memory_limiter: limit_percentage and spike_limit_percentage "
                       "must both be from 1 to 100 (Alloy refuses a limit_percentage without spike_limit_percentage); "
                       "alloy_config_otlp_batch: send_batch_max_size (3000, Alloy's default) must be at least "
                       "send_batch_size (5000), or 0",
    "otlp_limiter_interval": "alloy_config: alloy_config_otlp_memory_limiter needs check_interval greater than zero, "
                             "such as 1s (the role's default is replaced, not merged)",
    "otlp_secret_tls": "alloy_config: alloy_config_otlp_receiver_tls.key_pem: an attribute of Alloy type secret cannot "
                       "be set from a variable (a secret would be written to the configuration file: give a file "
                       "path, such as key_file)",
    "bad_log_files": "alloy_config: alloy_config_log_files[0].paths[0]: expected an absolute path or glob such as "
                     "/var/log/nginx/*.log, got 'var/log/*.log'",
    "fleet_bad": "alloy_config: alloy_config_fleet_management_endpoint sets basic_auth and bearer_token: use only one "
                 "authentication method; alloy_config_fleet_management_attributes: a key: expected an attribute name "
                 "without spaces, quotes or backslashes, outside collector. (Alloy's own namespace, which it refuses), got "
                 "'collector.os'; "
                 "alloy_config_fleet_management_poll_frequency: expected an Alloy duration of at least 10s (Alloy "
                 "refuses less: poll_frequency must be at least \"10s\"), got '5s'",
    "scrape_bad": "alloy_config: alloy_config_scrape_jobs[0].targets: expected a non-empty list of \"host:port\" "
                  "strings or mappings of labels with __address__, got []; alloy_config_scrape_jobs[1]: scrape_timeout "
                  "(10s, Alloy's default) is greater than scrape_interval (5s), which Alloy refuses: set scrape_timeout "
                  "to at most the interval; alloy_config_scrape_jobs[2].targets[0]: expected host:port or [ipv6]:port "
                  "(no scheme, no path), got 'http://x.example:1/metrics'; alloy_config_scrape_jobs[3].labels: a key: "
                  "expected a label name ([A-Za-z_][A-Za-z0-9_]*) other than job (the entry's name is the job) and not "
                  "starting with __, got 'job'; alloy_config_scrape_jobs[5].bearer_token: expected a string or number "
                  "without line breaks; alloy_config_scrape_jobs[6]: sets basic_auth and bearer_token_file: use only "
                  "one authentication method; alloy_config_scrape_jobs[7].targets[0]: expected __address__ (host:port "
                  "or [ipv6]:port (no scheme, no path)) among the target's labels, got {'instance': 'v'}; "
                  "alloy_config_scrape_jobs: the names p.q and p/q make one component, prometheus.scrape.job_p_q: "
                  "rename all but one; alloy_config_scrape_jobs: the name s is given 2 times",
    "scrape_no_prometheus": "alloy_config: alloy_config_scrape_jobs needs alloy_config_prometheus_endpoints (the jobs "
                            "forward to this role's prometheus.remote_write)",
    "removed_variable": "alloy_config: alloy_config_dir is no longer read (the runtime contract of 0.2.0): set "
                        "alloy_install_config_path (systemd) or alloy_docker_config_dir (Compose)",
}


def _runtime_missing(kept: bool = False) -> str:
    """The message of runtime.RuntimeMissing for a host without the fact, as alloy_config reads it
    (kept=False: only the runtime published in this run, whose role brings the restart handlers),
    or as the default of alloy_config_instance reads it (kept=True: the verify play reads it too)."""
    try:
        runtime.from_facts({}, kept=kept)
    except runtime.RuntimeMissing as err:
        return str(err)
    raise AssertionError("from_facts accepted facts without a runtime")


# Refused by the argument specs or by Alloy: a part of the message (the rest holds temporary paths).
FAILING = dict(REFUSED, **{
    "typo_in_endpoint": "alloy_config_loki_endpoints.tenant. Supported parameters include",
    "otlp_unknown_key": "alloy_config_otlp_exporters.bearer_token. Supported parameters include",
    "otlp_password_file": "alloy_config_otlp_exporters.basic_auth.password_file. Supported parameters include: "
                          "password, username",
    "invalid_snippet": "fleet_snippet_broken.alloy:3:1",
    "unknown_reference": "loki.write.nowhere",
    "old_alloy_syntax_error": "alloy fmt refused the new configuration",
    "no_runtime": _runtime_missing(),
    "no_runtime_instance_set": _runtime_missing()})
RESTART_HANDLER = "Restart Alloy, as the runtime role's handler would"
# The role's checks, which run before it writes anything (the json callback names role tasks "role : task").
ARGUMENT_SPECS = "fleet.alloy.alloy_config : Validating arguments against arg spec 'main'"
PREFLIGHT = "fleet.alloy.alloy_config : Check the alloy_config variables"
# Hosts without a runtime fact, and the check that stops each: the default of alloy_config_instance
# reads the runtime (any: kept=True), so the argument specs (which template the defaults) fail first
# unless it is set; the preflight takes only a published one (kept=False).
NO_RUNTIME = {"no_runtime": ARGUMENT_SPECS, "no_runtime_instance_set": PREFLIGHT}
NO_RUNTIME_KEPT = {"no_runtime": True, "no_runtime_instance_set": False}


def _runtime(folder: Path, name: str, api_url: str) -> Dict[str, Any]:
    """A systemd runtime contract whose files are in folder (the role writes nowhere else)."""
    return {"kind": "systemd", "service": "alloy.service", "config_dir": str(folder / "conf.d"),
            "config_group": "root", "env_file": str(folder / "alloy.env"), "alloy_command": STANDIN,
            "api_url": api_url, "instance": "runtime-" + name, "host_paths": dict(HOST_PATHS)}


def _render_host(folder: Path, name: str) -> Dict[str, Any]:
    """A case's host variables: its role variables, its folder and its runtime (if any)."""
    host = dict(CASES[name], fleet_test_dir=str(folder))
    changes = RUNTIMES.get(name, {})
    if changes is not None:
        host["fleet_test_runtime"] = dict(_runtime(folder, name, NOWHERE), **changes)
    if name in REMOVED:
        host[REMOVED[name]] = str(folder / "removed")
    return host


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Dict[str, Any]]:
    root = tmp_path_factory.mktemp("render")
    hosts = {}
    for name in CASES:
        (root / name).mkdir()
        hosts[name] = _render_host(root / name, name)
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = root / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": common}}))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               PYTHONPATH=str(STANDINS), ANSIBLE_FORKS="8")
    out = subprocess.run(["ansible-playbook", "-v", "--diff", "-i", str(inventory), str(PLAYBOOK)],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    OUTPUT["stdout"], OUTPUT["stderr"] = out.stdout, out.stderr
    report = json.loads(out.stdout[out.stdout.index("{"):])
    results: Dict[str, Dict[str, Any]] = {name: {"failed": [], "failed_tasks": [], "restarts": 0, "dir": root / name}
                                          for name in CASES}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    results[host]["failed"].append(res.get("msg") or json.dumps(res)[:2000])
                    results[host]["failed_tasks"].append(task["task"]["name"])
                if task["task"]["name"] == RESTART_HANDLER and not res.get("skipped"):
                    results[host]["restarts"] += 1
    return results


OUTPUT: Dict[str, str] = {}   # what ansible-playbook -v --diff printed (the json callback: every result)


def test_no_secret_in_the_verbose_diff_output(rendered: Dict[str, Dict[str, Any]]) -> None:
    printed = OUTPUT["stdout"] + OUTPUT["stderr"]
    # the diffs were printed (the config's, which names the secret's variable), the secrets not
    assert rendered["everything"]["failed"] == [] and 'sys.env(\\"FLEET_ALLOY_LOKI_0_PASSWORD\\")' in printed
    for secret in SECRETS.values():
        assert secret not in printed and json.dumps(secret)[1:-1] not in printed


def _env_file(result: Dict[str, Any]) -> Dict[str, str]:
    """The pipeline secrets as the service reads them (the env file sourced by a shell)."""
    env = result["dir"] / "alloy.env"
    if not env.exists():
        return {}
    out = subprocess.run(["sh", "-c", f"set -a; . {env}; env -0"], capture_output=True, text=True, check=True,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    pairs = (item.split("=", 1) for item in out.stdout.split("\0") if item.startswith("FLEET_ALLOY_"))
    return {name: value for name, value in pairs}


def _files(result: Dict[str, Any]) -> Dict[str, str]:
    conf = result["dir"] / "conf.d"
    return {p.name: p.read_text() for p in sorted(conf.glob("*.alloy"))}


def _blocks(text: str) -> Dict[str, Block]:
    return {b.id: b for b in parse(text) if isinstance(b, Block)}


def _attrs(block: Block) -> Dict[str, Any]:
    return {s.name: s.value for s in block.body if isinstance(s, Attribute)}


def _value(block: Block, name: str) -> Any:
    return evaluate_literal(_attrs(block)[name])


def _children(block: Block, name: str) -> List[Block]:
    return [s for s in block.body if isinstance(s, Block) and s.name == name]


KNOWN_BUGS: Set[str] = set()   # product bugs, recorded as strict xfails (docs/testing.md)
BUG = pytest.mark.xfail(strict=True, reason="product bug")


@pytest.mark.parametrize("case", [pytest.param(c, marks=BUG) if c in KNOWN_BUGS else c
                                  for c in CASES if c not in FAILING])
def test_good_cases_render_files_alloy_accepts(rendered: Dict[str, Dict[str, Any]], case: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    result = rendered[case]
    assert result["failed"] == []
    files = _files(result)
    assert files, "nothing rendered"
    for name, value in _env_file(result).items():   # `alloy run` evaluates sys.env with the env file loaded
        monkeypatch.setenv(name, value)
    if case != "old_alloy_fmt_only":
        loaded = load(result["dir"] / "conf.d")
        assert [d.render() for d in loaded.diagnostics] == []
    for name in files:
        mode = (result["dir"] / "conf.d" / name).stat().st_mode & 0o777
        assert mode == 0o640, name
    # No Alloy answered the reload (NOWHERE): the files stay, the runtime is asked to restart once.
    assert result["restarts"] == 1


@pytest.mark.parametrize("case", [c for c in CASES if c not in FAILING])
def test_the_one_render_writes_what_a_lookup_of_each_template_gives(rendered: Dict[str, Dict[str, Any]],
                                                                    case: str) -> None:
    """The role renders its pipelines in one lookup (templates/_pipelines.j2): byte for byte what a lookup of
    each template gives, its last newline included (an include drops it), so no host sees a change."""
    one_by_one = json.loads((rendered[case]["dir"] / "one_lookup_each.json").read_text())
    assert one_by_one, "no pipeline rendered"
    written = {p.name: p.read_bytes().decode() for p in sorted((rendered[case]["dir"] / "conf.d").glob("fleet_*"))
               if not p.name.startswith("fleet_snippet_")}
    assert written == one_by_one


def test_every_pipeline_template_ends_with_exactly_one_newline() -> None:
    """What templates/_pipelines.j2's newline rule assumes: it puts back the one newline an include drops."""
    role_vars = yaml.safe_load((REPO / "roles" / "alloy_config" / "vars" / "main.yml").read_text())
    templates = [item["template"] for item in role_vars["__alloy_config_pipelines"]]
    assert len(templates) == len(set(templates)) > 1
    for name in templates:
        text = (REPO / "roles" / "alloy_config" / "templates" / name).read_bytes()
        assert text.endswith(b"\n") and not text.endswith(b"\n\n"), name


@pytest.mark.parametrize("case", sorted(FAILING))
def test_bad_input_fails_with_the_variable_named_and_changes_nothing(
        rendered: Dict[str, Dict[str, Any]], case: str) -> None:
    result = rendered[case]
    assert result["failed"], f"{case} did not fail"
    if case in REFUSED:
        assert result["failed"] == [REFUSED[case]]
    else:
        assert FAILING[case] in " ".join(result["failed"])
    assert not (result["dir"] / "conf.d").exists() or not _files(result)
    # The secrets go in with the configuration Alloy accepted, not before it is checked.
    assert not (result["dir"] / "alloy.env").exists()
    assert result["restarts"] == 0


def test_a_removed_variable_fails_the_preflight_naming_it(rendered: Dict[str, Dict[str, Any]]) -> None:
    result = rendered["removed_variable"]
    assert result["failed_tasks"] == [PREFLIGHT]
    assert result["failed"] == [REFUSED["removed_variable"]]
    assert not (result["dir"] / "conf.d").exists() and not (result["dir"] / "removed").exists()
    assert not (result["dir"] / "alloy.env").exists()


@pytest.mark.parametrize("case", sorted(NO_RUNTIME))
def test_a_host_without_a_runtime_fails_before_writing_anything(
        rendered: Dict[str, Dict[str, Any]], case: str) -> None:
    result = rendered[case]
    assert len(result["failed_tasks"]) == 1 and result["failed_tasks"][0].startswith(NO_RUNTIME[case])
    assert _runtime_missing().startswith("no Alloy runtime is described for this host (the fact alloy_runtime)")
    assert len(result["failed"]) == 1 and result["failed"][0].endswith(_runtime_missing(NO_RUNTIME_KEPT[case]))
    assert sorted(p.name for p in result["dir"].iterdir()) == []


def test_the_preflight_names_a_missing_runtime_like_any_problem(rendered: Dict[str, Dict[str, Any]]) -> None:
    assert rendered["no_runtime_instance_set"]["failed"] == ["alloy_config: " + _runtime_missing()]


# What alloy_config recorded on the host (the fact alloy_pipelines, kept in the case's folder), which the
# verify play checks the endpoints by: the pipelines, and per backend kind query, delivery only or quiet.
RECORDED = {
    "seed002": (["journal"], {"loki": "query"}),
    "seed000": (["unix"], {"prometheus": "query"}),
    "log_files": (["log_files"], {"loki": "delivery"}),
    "otlp": (["otlp_to_prometheus", "otlp"], {"prometheus": "quiet"}),
    "scrape_alone": (["scrape_jobs"], {"prometheus": "delivery"}),
    "fleet": (["fleet_management"], {}),
    "everything": (["journal", "unix", "self_metrics"], {"loki": "query", "prometheus": "query"}),
}


def _record(result: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    fact = result["dir"] / "alloy_pipelines.fact"
    return json.loads(fact.read_text()) if fact.exists() else None


def test_the_record_says_what_runs_and_what_the_backends_can_tell(rendered: Dict[str, Dict[str, Any]]) -> None:
    for case, (pipelines, backends) in RECORDED.items():
        record = _record(rendered[case])
        assert record is not None and (record["pipelines"], record["backends"]) == (pipelines, backends), case
    assert _record(rendered["seed002"])["instance"] == "runtime-seed002"       # the default: the runtime's name
    assert _record(rendered["everything"])["instance"] == 'web-01 "quoted" }'


@pytest.mark.parametrize("case", [c for c in CASES if c not in FAILING])
def test_the_writers_run_where_the_record_says(rendered: Dict[str, Dict[str, Any]], case: str) -> None:
    files, record = _files(rendered[case]), _record(rendered[case])
    assert record is not None
    assert ("fleet_loki.alloy" in files) == ("loki" in record["backends"])
    assert ("fleet_prometheus.alloy" in files) == ("prometheus" in record["backends"])


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_refused_configuration_records_nothing(rendered: Dict[str, Dict[str, Any]], case: str) -> None:
    assert _record(rendered[case]) is None


def test_seed002_journal_pipeline(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["seed002"])
    assert set(files) == {"fleet_00_logging.alloy", "fleet_journal.alloy", "fleet_loki.alloy"}
    blocks = dict(_blocks(files["fleet_journal.alloy"]), **_blocks(files["fleet_loki.alloy"]))
    relabel, source, write = (blocks["loki.relabel.journal"], blocks["loki.source.journal.read"],
                              blocks["loki.write.endpoint"])
    rules = [(_value(r, "source_labels"), _value(r, "target_label")) for r in _children(relabel, "rule")
             if "source_labels" in _attrs(r)]
    assert rules[:3] == [(["__journal__systemd_unit"], "unit"), (["__journal__hostname"], "hostname"),
                         (["__journal_priority"], "priority")]
    assert chain_name(_attrs(source)["relabel_rules"]) == "loki.relabel.journal.rules"
    assert _value(_children(relabel, "rule")[4], "replacement") == "runtime-seed002"  # the runtime's instance
    assert _value(source, "labels") == {"component": "loki.source.journal"}
    endpoint = _children(write, "endpoint")[0]
    assert _value(endpoint, "url") == "http://loki.example.com:3100/loki/api/v1/push"


def test_seed000_unix_pipeline(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["seed000"])
    unix = _blocks(files["fleet_unix.alloy"])
    exporter = unix["prometheus.exporter.unix.default"]
    assert (_value(exporter, "procfs_path"), _value(exporter, "sysfs_path"), _value(exporter, "rootfs_path")) == \
        ("/host/proc", "/host/sys", "/rootfs")
    assert _value(unix["prometheus.scrape.unix"], "scrape_interval") == "15s"
    prom = _blocks(files["fleet_prometheus.alloy"])
    rule = _children(prom["prometheus.relabel.instance"], "rule")[0]
    replacement = _attrs(rule)["replacement"]
    assert chain_name(replacement.target) == "sys.env" and evaluate_literal(replacement.args[0]) == "HOSTOS_HOSTNAME"
    write = prom["prometheus.remote_write.stg_prometheus"]
    assert _value(_children(write, "wal")[0], "truncate_frequency") == "1h"
    assert _value(write, "external_labels") == {"cluster": "external"}


def test_secrets_live_in_the_env_file_only(rendered: Dict[str, Dict[str, Any]]) -> None:
    result = rendered["everything"]
    for name, text in _files(result).items():
        for secret in SECRETS.values():
            assert secret not in text, name
    env = result["dir"] / "alloy.env"
    assert env.stat().st_mode & 0o777 == 0o640
    out = subprocess.run(["sh", "-c", f". {env}; printf '%s\\n' \"$FLEET_ALLOY_LOKI_0_PASSWORD\" "
                                      "\"$FLEET_ALLOY_LOKI_1_BEARER_TOKEN\" \"$FLEET_ALLOY_PROMETHEUS_0_PASSWORD\""],
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [SECRETS["loki_pw"], SECRETS["loki_token"], SECRETS["prom_pw"]]


def test_secrets_are_read_with_sys_env(rendered: Dict[str, Dict[str, Any]]) -> None:
    write = _blocks(_files(rendered["everything"])["fleet_loki.alloy"])["loki.write.endpoint"]
    first, second = _children(write, "endpoint")
    password = _attrs(_children(first, "basic_auth")[0])["password"]
    assert chain_name(password.target) == "sys.env"
    assert evaluate_literal(password.args[0]) == "FLEET_ALLOY_LOKI_0_PASSWORD"
    assert evaluate_literal(_attrs(second)["bearer_token"].args[0]) == "FLEET_ALLOY_LOKI_1_BEARER_TOKEN"


def test_every_option_reaches_the_config(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["everything"])
    assert set(files) == {"fleet_00_logging.alloy", "fleet_journal.alloy", "fleet_loki.alloy", "fleet_prometheus.alloy",
                          "fleet_unix.alloy", "fleet_self.alloy", "fleet_snippet_echo.alloy"}
    logging = _blocks(files["fleet_00_logging.alloy"])["logging"]
    assert (_value(logging, "level"), _value(logging, "format")) == ("debug", "json")
    journal = _blocks(files["fleet_journal.alloy"])
    source = journal["loki.source.journal.read"]
    assert (_value(source, "max_age"), _value(source, "path"), _value(source, "matches"),
            _value(source, "format_as_json")) == ("24h", "/var/log/journal", "_SYSTEMD_UNIT=nginx.service", True)
    assert [chain_name(x) for x in _attrs(source)["forward_to"].items] == ["loki.process.journal.receiver"]
    stages = [s.name for s in journal["loki.process.journal"].body if isinstance(s, Block)]
    assert stages == ["stage.static_labels", "stage.json", "stage.drop", "stage.labels"]
    rules = _children(journal["loki.relabel.journal"], "rule")
    assert _value(rules[-1], "action") == "drop"
    assert _value(rules[4], "replacement") == 'web-01 "quoted" }'
    writer = _blocks(files["fleet_loki.alloy"])["loki.write.endpoint"]
    first = _children(writer, "endpoint")[0]
    assert (_value(first, "tenant_id"), _value(first, "headers"), _value(first, "name")) == \
        ("team-a", {"X-Source": "fleet"}, "primary")
    assert _value(_children(first, "tls_config")[0], "min_version") == "TLS12"
    assert _value(writer, "external_labels") == {"cluster": "c1"}
    prom = _blocks(files["fleet_prometheus.alloy"])["prometheus.remote_write.default"]
    p_first, p_second = _children(prom, "endpoint")
    assert _value(_children(p_first, "queue_config")[0], "max_shards") == 10
    assert _value(_children(p_first, "tls_config")[0], "insecure_skip_verify") is True
    assert _value(p_second, "bearer_token_file") == "/run/secrets/t"
    assert _value(_children(prom, "wal")[0], "max_keepalive_time") == "4h"
    unix = _blocks(files["fleet_unix.alloy"])
    assert _value(unix["prometheus.exporter.unix.default"], "disable_collectors") == ["mdadm"]
    assert _value(unix["prometheus.scrape.unix"], "job_name") == "node"
    assert "prometheus.scrape.alloy" in _blocks(files["fleet_self.alloy"])


# ---- what the templates leave out, and the references between components ----------------
# (Written against the survivors of ./dev mutate, docs/testing.md: unset options rendered as
# null or "", guards around optional blocks dropped, references that must stay expressions.)


def _nulls(node: Any, where: str) -> List[str]:
    """Where a null literal appears in statements or expressions."""
    if isinstance(node, list):
        return [found for item in node for found in _nulls(item, where)]
    if isinstance(node, Block):
        return _nulls(node.body, node.id)
    if isinstance(node, Attribute):
        return _nulls(node.value, "%s.%s" % (where, node.name))
    kind = type(node).__name__
    if kind == "Literal":
        return [where] if node.value is None else []
    if kind == "ArrayExpr":
        return _nulls(node.items, where)
    if kind == "ObjectExpr":
        return [found for _key, value in node.fields for found in _nulls(value, where)]
    return []


@pytest.mark.parametrize("case", ["seed002", "seed000", "everything", "old_alloy_fmt_only", "log_files", "otlp"])
def test_no_attribute_is_rendered_as_null(rendered: Dict[str, Dict[str, Any]], case: str) -> None:
    for name, text in _files(rendered[case]).items():
        assert _nulls(parse(text), name) == [], name


def test_unset_journal_options_are_left_out(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["seed002"])
    journal = _blocks(files["fleet_journal.alloy"])
    source = journal["loki.source.journal.read"]
    assert sorted(_attrs(source)) == ["format_as_json", "forward_to", "labels", "max_age", "relabel_rules"]
    assert [chain_name(x) for x in _attrs(source)["forward_to"].items] == ["loki.write.endpoint.receiver"]
    assert "loki.process.journal" not in journal  # no stages, no process component
    assert list(journal) == ["loki.relabel.journal", "loki.source.journal.read"]  # the writer is apart
    assert "external_labels" not in _attrs(_blocks(files["fleet_loki.alloy"])["loki.write.endpoint"])


def test_stages_get_a_process_component_between_source_and_writer(rendered: Dict[str, Dict[str, Any]]) -> None:
    process = _blocks(_files(rendered["everything"])["fleet_journal.alloy"])["loki.process.journal"]
    assert [chain_name(x) for x in _attrs(process)["forward_to"].items] == ["loki.write.endpoint.receiver"]


def test_unset_metrics_options_are_left_out(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["old_alloy_fmt_only"])  # the role's defaults
    exporter = _blocks(files["fleet_unix.alloy"])["prometheus.exporter.unix.default"]
    assert sorted(_attrs(exporter)) == ["procfs_path", "rootfs_path", "sysfs_path", "udev_data_path"]
    assert {name: _value(exporter, name + "_path") for name in HOST_PATHS} == HOST_PATHS  # the runtime's
    write = _blocks(files["fleet_prometheus.alloy"])["prometheus.remote_write.default"]
    assert "external_labels" not in _attrs(write)
    assert [(_value(e, "url"), _children(e, "tls_config")) for e in _children(write, "endpoint")] == \
        [("http://localhost:9090/api/v1/write", [])]


def test_scrapes_feed_the_instance_relabel_which_feeds_the_writer(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["everything"])
    unix = _blocks(files["fleet_unix.alloy"])["prometheus.scrape.unix"]
    own = _blocks(files["fleet_self.alloy"])["prometheus.scrape.alloy"]
    for scrape, targets in ((unix, "discovery.relabel.unix.output"), (own, "discovery.relabel.alloy.output")):
        assert chain_name(_attrs(scrape)["targets"]) == targets
        assert [chain_name(x) for x in _attrs(scrape)["forward_to"].items] == ["prometheus.relabel.instance.receiver"]
    assert (_value(own, "job_name"), _value(own, "scrape_interval")) == ("alloy", "60s")
    assert (_value(unix, "scrape_interval"), _value(unix, "scrape_timeout")) == ("60s", "5s")
    relabel = _blocks(files["fleet_prometheus.alloy"])["prometheus.relabel.instance"]
    assert [chain_name(x) for x in _attrs(relabel)["forward_to"].items] == ["prometheus.remote_write.default.receiver"]
    seed = _blocks(_files(rendered["seed000"])["fleet_prometheus.alloy"])["prometheus.relabel.instance"]
    assert [chain_name(x) for x in _attrs(seed)["forward_to"].items] == \
        ["prometheus.remote_write.stg_prometheus.receiver"]


@pytest.mark.parametrize("case, job", [("everything", "node"), ("seed000", "integrations/unix")])
def test_the_host_metrics_get_the_job_asked_for(rendered: Dict[str, Dict[str, Any]], case: str, job: str) -> None:
    """The exporter's target carries job="integrations/unix" (Alloy's exporter.go) and job_name
    labels only targets without a job (Prometheus' PopulateDiscoveredLabels): the scrape reads a
    discovery.relabel that sets alloy_config_unix_job_name, the job its series get."""
    unix = _blocks(_files(rendered[case])["fleet_unix.alloy"])
    scrape = unix["prometheus.scrape.unix"]
    targets = cluster_targets.resolve(_attrs(scrape)["targets"], unix)
    assert [series_labels(_value(scrape, "job_name"), target)["job"] for target in targets] == [job]
    assert _value(scrape, "job_name") == job


def test_alloys_own_metrics_get_the_job_alloy(rendered: Dict[str, Dict[str, Any]]) -> None:
    """The same for prometheus.exporter.self, whose targets carry job="integrations/self"."""
    own = _blocks(_files(rendered["everything"])["fleet_self.alloy"])
    scrape = own["prometheus.scrape.alloy"]
    targets = cluster_targets.resolve(_attrs(scrape)["targets"], own)
    assert [series_labels(_value(scrape, "job_name"), target)["job"] for target in targets] == ["alloy"]


def test_log_files_are_matched_under_the_runtime_root_and_read_into_the_writer(
        rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["log_files"])
    assert set(files) == {"fleet_00_logging.alloy", "fleet_loki.alloy", "fleet_files.alloy"}
    blocks = _blocks(files["fleet_files.alloy"])
    assert list(blocks) == ["local.file_match.files", "loki.source.file.files", "loki.relabel.files"]
    assert _value(blocks["local.file_match.files"], "path_targets") == [
        {"__path__": "/host/root/var/log/nginx/*.log", "__path_exclude__": "/host/root/var/log/nginx/*.{gz,1}",
         "instance": "web-01", "job": "nginx"},
        {"__path__": "/host/root/srv/app/**/*.log", "__path_exclude__": "/host/root/var/log/nginx/*.{gz,1}",
         "instance": "web-01", "job": "nginx"},
        {"__path__": "/host/root/var/log/app.log", "instance": "runtime-log_files"},
    ]
    source = _attrs(blocks["loki.source.file.files"])
    assert chain_name(source["targets"]) == "local.file_match.files.targets"
    # In a container, filename is relabelled to the host's path before the writer.
    assert [chain_name(x) for x in source["forward_to"].items] == ["loki.relabel.files.receiver"]
    relabel = blocks["loki.relabel.files"]
    assert [chain_name(x) for x in _attrs(relabel)["forward_to"].items] == ["loki.write.endpoint.receiver"]
    rule = _children(relabel, "rule")[0]
    assert (_value(rule, "source_labels"), _value(rule, "target_label"), _value(rule, "replacement")) == \
        (["filename"], "filename", "$1")
    assert re.fullmatch(_value(rule, "regex"), "/host/root/var/log/app.log").group(1) == "/var/log/app.log"
    writer = _blocks(files["fleet_loki.alloy"])["loki.write.endpoint"]
    assert _value(writer, "external_labels") == {"cluster": "c1"}


def test_survey_strings_are_booleans(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["survey_strings"])
    assert set(files) == {"fleet_00_logging.alloy", "fleet_journal.alloy", "fleet_loki.alloy", "fleet_prometheus.alloy",
                          "fleet_self.alloy"}
    source = _blocks(files["fleet_journal.alloy"])["loki.source.journal.read"]
    assert _value(source, "format_as_json") is True


def test_basic_auth_without_a_username(rendered: Dict[str, Dict[str, Any]]) -> None:
    prom = _blocks(_files(rendered["basic_auth_without_username"])["fleet_prometheus.alloy"])
    basic = _children(_children(prom["prometheus.remote_write.default"], "endpoint")[0], "basic_auth")[0]
    assert sorted(_attrs(basic)) == ["password"]
    assert evaluate_literal(_attrs(basic)["password"].args[0]) == "FLEET_ALLOY_PROMETHEUS_0_PASSWORD"


# ---- two runs in a row: secrets and pipelines, reload or restart ---------------------------
# The role after a published runtime whose api_url is a reload endpoint per host, with the
# runtime role's handler (alloy_install's: systemd_service restarted, on the topic
# 'alloy pipelines changed') and a fake systemctl (first on PATH, logging to the host's file
# through the play's environment): a changed secret restarts Alloy and is not reloaded, a
# changed pipeline alone is reloaded, a run with nothing new does neither; a refused
# pipeline leaves the env file as it was.

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
case "$1" in
  show) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\n' ;;
esac
exit 0
"""
ROUND_PLAYBOOK = """
- name: Run alloy_config as a play would
  hosts: all
  gather_facts: false
  environment:
    FAKE_SYSTEMCTL_LOG: "{{ systemctl_log }}"
  module_defaults:
    fleet.alloy.alloy_config_apply:
      record_path: "{{ fleet_test_dir }}/alloy_pipelines.fact"
  tasks:
    - name: Publish the host's runtime, as a runtime role does
      fleet.alloy.alloy_env:
        path: "{{ fleet_test_dir }}/runtime.env"
        section: fleet_test
        runtime: "{{ fleet_test_runtime }}"
        runtime_path: "{{ fleet_test_dir }}/alloy_runtime.fact"

    - name: Run the role
      ansible.builtin.include_role:
        name: fleet.alloy.alloy_config

  handlers:
    - name: Restart Alloy, as alloy_install's handler does
      ansible.builtin.systemd_service:
        name: "{{ fleet_test_runtime.service }}"
        state: restarted
      listen: alloy pipelines changed
"""
ROTATED = "r0tated-\"secret'$x"
SECRET = "first-s3cret"
BROKEN = {"broken": 'prometheus.scrape "x" {\n\ttargets = [\n}\n'}
# host: (variables of the first run, of the second run)
ROUNDS: Dict[str, Any] = {
    "rotate": ({}, {"secret": ROTATED}),
    "reconfigure": ({}, {"alloy_config_logging_level": "debug"}),
    "both": ({}, {"secret": ROTATED, "alloy_config_logging_level": "debug"}),
    "same": ({}, {}),
    "refused": ({}, {"secret": ROTATED, "alloy_config_snippets": BROKEN}),
}


def _round_vars(root: Path, server: LocalServer, host: str, extra: Dict[str, Any]) -> Dict[str, Any]:
    extra = dict(extra)
    secret = extra.pop("secret", SECRET)
    return dict({
        "fleet_test_dir": str(root / host),
        "fleet_test_runtime": _runtime(root / host, host, "%s/%s" % (server.url, host)),   # reloads <api_url>/-/reload
        "systemctl_log": str(root / host / "systemctl.log"),
        "alloy_config_unix_enabled": False,
        "alloy_config_loki_endpoints": [{"url": "http://loki.example.com:3100/loki/api/v1/push",
                                         "basic_auth": {"username": "u", "password": secret}}],
    }, **extra)


def _sourced(path: Path) -> str:
    return subprocess.run(["sh", "-c", '. "$1"; printf %s "$FLEET_ALLOY_LOKI_0_PASSWORD"', "sh", str(path)],
                          capture_output=True, text=True, check=True).stdout


def _round(root: Path, env: Dict[str, str], server: LocalServer, inventory: Path) -> Dict[str, Any]:
    """One ansible-playbook run of ROUND_PLAYBOOK: what it did to each host."""
    def env_files() -> Dict[str, bytes]:
        return {host: (root / host / "alloy.env").read_bytes() for host in ROUNDS
                if (root / host / "alloy.env").exists()}
    for host in ROUNDS:
        (root / host / "systemctl.log").unlink(missing_ok=True)
    before = env_files()
    server.requests.clear()
    out = subprocess.run(["ansible-playbook", "-v", "--diff", "-i", str(inventory), str(root / "playbook.yml")],
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    applied = {}
    failed: Dict[str, List[str]] = {host: [] for host in ROUNDS}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    failed[host].append(res.get("msg") or json.dumps(res)[:2000])
                if task["task"]["name"].endswith("Install the configuration if Alloy accepts it, then reload"):
                    applied[host] = res
    logs = {host: root / host / "systemctl.log" for host in ROUNDS}
    return {"applied": applied, "failed": failed, "printed": out.stdout + out.stderr,
            "reloads": sorted(r.path.split("/")[1] for r in server.requests),
            "systemctl": {host: [line for line in log.read_text().splitlines() if not line.startswith("show")]
                          if log.exists() else [] for host, log in logs.items()},
            "env_before": before, "env_after": env_files(),
            "sourced": {host: _sourced(root / host / "alloy.env") for host in env_files()}}


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> List[Dict[str, Any]]:
    root = tmp_path_factory.mktemp("rounds")
    (root / "bin").mkdir()
    (root / "bin" / "systemctl").write_text(FAKE_SYSTEMCTL)
    (root / "bin" / "systemctl").chmod(0o755)
    (root / "playbook.yml").write_text(ROUND_PLAYBOOK)
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               PYTHONPATH=str(STANDINS), ANSIBLE_FORKS="8",
               PATH="%s%s%s" % (root / "bin", os.pathsep, os.environ["PATH"]))
    server = LocalServer()
    try:
        for host in ROUNDS:
            (root / host).mkdir()
            server.routes["/%s/-/reload" % host] = (200, "config reloaded")
        runs = []
        for number in (0, 1):
            hosts = {host: _round_vars(root, server, host, both[number]) for host, both in ROUNDS.items()}
            inventory = root / ("inventory%d.yml" % number)
            inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": common}}))
            runs.append(_round(root, env, server, inventory))
        return runs
    finally:
        server.close()


def test_the_first_run_writes_secrets_and_files_and_restarts_instead_of_reloading(
        rounds: List[Dict[str, Any]]) -> None:
    first = rounds[0]
    assert first["failed"] == {host: [] for host in ROUNDS}
    for host in ROUNDS:
        applied = first["applied"][host]
        assert applied["changed"] is True and applied["env_changed"] is True and applied["reloaded"] is False, host
        assert first["systemctl"][host] == ["restart alloy.service"], host
        assert first["sourced"][host] == SECRET
    assert first["reloads"] == []


def test_a_rotated_secret_restarts_alloy_without_a_reload(rounds: List[Dict[str, Any]]) -> None:
    second = rounds[1]
    for host in ("rotate", "both"):
        applied = second["applied"][host]
        assert second["failed"][host] == [] and applied["env_changed"] is True and applied["reloaded"] is False
        assert second["systemctl"][host] == ["restart alloy.service"], host
        assert second["sourced"][host] == ROTATED
    assert second["applied"]["rotate"]["written"] == [] and second["applied"]["both"]["written"] == [
        "fleet_00_logging.alloy"]
    assert "rotate" not in second["reloads"] and "both" not in second["reloads"]


def test_a_changed_pipeline_with_the_same_secrets_is_reloaded(rounds: List[Dict[str, Any]]) -> None:
    second = rounds[1]
    applied = second["applied"]["reconfigure"]
    assert applied["changed"] is True and applied["env_changed"] is False and applied["reloaded"] is True
    assert applied["written"] == ["fleet_00_logging.alloy"]
    assert second["reloads"] == ["reconfigure"] and second["systemctl"]["reconfigure"] == []
    assert second["env_after"]["reconfigure"] == second["env_before"]["reconfigure"]


def test_a_second_run_with_nothing_new_changes_nothing(rounds: List[Dict[str, Any]]) -> None:
    second = rounds[1]
    applied = second["applied"]["same"]
    assert applied["changed"] is False and applied["env_changed"] is False and applied["reloaded"] is False
    assert second["systemctl"]["same"] == [] and second["env_after"]["same"] == second["env_before"]["same"]


def test_a_refused_pipeline_leaves_the_old_secrets(rounds: List[Dict[str, Any]]) -> None:
    second = rounds[1]
    assert "fleet_snippet_broken.alloy:3:1" in " ".join(second["failed"]["refused"])
    assert second["env_after"]["refused"] == second["env_before"]["refused"]
    assert second["sourced"]["refused"] == SECRET
    assert second["systemctl"]["refused"] == [] and "refused" not in second["reloads"]


def test_no_secret_in_the_output_of_the_rounds(rounds: List[Dict[str, Any]]) -> None:
    for run in rounds:
        assert "FLEET_ALLOY_LOKI_0_PASSWORD=********" in run["printed"]  # the env file's diff, masked
        for secret in (SECRET, ROTATED):
            assert secret not in run["printed"] and json.dumps(secret)[1:-1] not in run["printed"]


def _refs(block: Block, name: str) -> List[str]:
    return [chain_name(item) for item in _attrs(block)[name].items]


def test_otlp_runs_receiver_limiter_batch_then_the_exporters(rendered: Dict[str, Dict[str, Any]]) -> None:
    files = _files(rendered["otlp"])
    assert set(files) == {"fleet_00_logging.alloy", "fleet_prometheus.alloy", "fleet_otlp.alloy"}
    blocks = _blocks(files["fleet_otlp.alloy"])
    assert list(blocks) == ["otelcol.receiver.otlp.default", "otelcol.processor.memory_limiter.default",
                            "otelcol.processor.batch.default", "otelcol.auth.basic.cloud",
                            "otelcol.exporter.otlphttp.cloud", "otelcol.exporter.otlp.tempo",
                            "otelcol.exporter.prometheus.default"]
    receiver = blocks["otelcol.receiver.otlp.default"]
    assert _children(receiver, "grpc") == []     # "" turns gRPC off
    http = _children(receiver, "http")[0]
    assert _value(http, "endpoint") == "0.0.0.0:4318"
    assert _attrs(_children(http, "tls")[0]) and _value(_children(http, "tls")[0], "cert_file") == "/etc/alloy/otlp.pem"
    limiter = "otelcol.processor.memory_limiter.default.input"
    for signal in ("metrics", "logs", "traces"):
        assert _refs(_children(receiver, "output")[0], signal) == [limiter]
    limiter_block = blocks["otelcol.processor.memory_limiter.default"]
    assert (_value(limiter_block, "check_interval"), _value(limiter_block, "limit_percentage"),
            _value(limiter_block, "spike_limit_percentage")) == ("1s", 80, 20)
    assert _refs(_children(limiter_block, "output")[0], "traces") == ["otelcol.processor.batch.default.input"]
    batch = blocks["otelcol.processor.batch.default"]
    assert (_value(batch, "timeout"), _value(batch, "send_batch_size")) == ("1s", 512)   # a survey's string, as a number
    out = _children(batch, "output")[0]
    assert _refs(out, "metrics") == ["otelcol.exporter.otlphttp.cloud.input", "otelcol.exporter.prometheus.default.input"]
    assert _refs(out, "logs") == ["otelcol.exporter.otlphttp.cloud.input"]
    assert _refs(out, "traces") == ["otelcol.exporter.otlphttp.cloud.input", "otelcol.exporter.otlp.tempo.input"]


def test_otlp_exporters_take_their_credentials_from_the_env_file(rendered: Dict[str, Dict[str, Any]]) -> None:
    result = rendered["otlp"]
    blocks = _blocks(_files(result)["fleet_otlp.alloy"])
    assert _value(blocks["otelcol.auth.basic.cloud"], "username") == "123456"
    assert 'sys.env("FLEET_ALLOY_OTLP_0_PASSWORD")' in _files(result)["fleet_otlp.alloy"]
    for text in _files(result).values():
        assert SECRETS["otlp_pw"] not in text
    out = subprocess.run(["sh", "-c", f". {result['dir'] / 'alloy.env'}; printf '%s' \"$FLEET_ALLOY_OTLP_0_PASSWORD\""],
                         capture_output=True, text=True, check=True)
    assert out.stdout == SECRETS["otlp_pw"]
    client = _children(blocks["otelcol.exporter.otlphttp.cloud"], "client")[0]
    assert _value(client, "endpoint") == "https://otlp-gateway.example.net/otlp"
    assert chain_name(_attrs(client)["auth"]) == "otelcol.auth.basic.cloud.handler"
    assert _value(client, "headers") == {"X-Scope-OrgID": "team-a"}
    assert _value(_children(client, "tls")[0], "ca_file") == "/etc/ssl/lab-ca.pem"
    # gRPC takes host:port; http:// means no TLS on that connection.
    grpc = _children(blocks["otelcol.exporter.otlp.tempo"], "client")[0]
    assert _value(grpc, "endpoint") == "tempo.example:4317" and "auth" not in _attrs(grpc)
    # The timeout where each exporter has it: gRPC's beside its client, HTTP's in it.
    assert _value(blocks["otelcol.exporter.otlp.tempo"], "timeout") == "5s" and "timeout" not in _attrs(grpc)
    assert _value(grpc, "compression") == "zstd" and _value(client, "timeout") == "10s"
    assert _value(_children(grpc, "tls")[0], "insecure") is True
    converted = blocks["otelcol.exporter.prometheus.default"]
    assert _refs(converted, "forward_to") == ["prometheus.remote_write.default.receiver"]


def test_fleet_management_registers_the_host_with_its_attributes(rendered: Dict[str, Dict[str, Any]]) -> None:
    result = rendered["fleet"]
    files = _files(result)
    assert set(files) == {"fleet_00_logging.alloy", "fleet_remotecfg.alloy"}
    block = _blocks(files["fleet_remotecfg.alloy"])["remotecfg"]
    assert _value(block, "url") == "https://fleet-management-prod-011.grafana.net"
    # The inventory name, stable across runs; the user's os wins over the facts', os_version from them.
    assert _value(block, "id") == "fleet" and _value(block, "name") == "fleet"
    attributes = _value(block, "attributes")
    assert attributes["env"] == "prod" and attributes["role"] == "web" and attributes["os"] == "custom"
    assert attributes["os_version"].isdigit()
    assert _value(block, "poll_frequency") == "30s"
    basic = _children(block, "basic_auth")[0]
    assert _value(basic, "username") == "400001"
    assert 'sys.env("FLEET_ALLOY_FLEET_0_PASSWORD")' in files["fleet_remotecfg.alloy"]
    assert SECRETS["fleet_pw"] not in files["fleet_remotecfg.alloy"]
    assert _env_file(result)["FLEET_ALLOY_FLEET_0_PASSWORD"] == SECRETS["fleet_pw"]
    assert _value(_children(block, "tls_config")[0], "ca_file") == "/etc/ssl/lab-ca.pem"


def _scrapes(result: Dict[str, Any]) -> Dict[str, Block]:
    return _blocks(_files(result)["fleet_scrape.alloy"])


def _clustered(block: Block) -> bool:
    found = _children(block, "clustering")
    return bool(found) and _value(found[0], "enabled") is True


def test_shared_targets_are_scraped_as_given_into_the_remote_write(rendered: Dict[str, Dict[str, Any]]) -> None:
    result = rendered["scrape_clustered"]
    assert set(_files(result)) == {"fleet_00_logging.alloy", "fleet_prometheus.alloy", "fleet_scrape.alloy"}
    scrapes = _scrapes(result)
    assert list(scrapes) == ["prometheus.scrape.job_prometheus", "prometheus.scrape.job_integrations_blackbox",
                             "prometheus.scrape.job_unshared"]
    prom = scrapes["prometheus.scrape.job_prometheus"]
    # The job's labels on every target, a target's own winning; no instance: each keeps its address.
    assert _value(prom, "targets") == [
        {"env": "prod", "team": 'ops "x" }', "__address__": "prometheus-1.example:9090"},
        {"env": "stg", "team": 'ops "x" }', "__address__": "prometheus-2.example:9090", "replica": "b"}]
    assert _value(prom, "job_name") == "prometheus"
    assert (_value(prom, "scrape_interval"), _value(prom, "scrape_timeout")) == ("30s", "15s")
    # Straight into the remote_write: the instance relabelling is this host's, not a shared target's.
    for block in scrapes.values():
        assert _refs(block, "forward_to") == ["prometheus.remote_write.central.receiver"]
    blackbox = scrapes["prometheus.scrape.job_integrations_blackbox"]
    assert _value(blackbox, "targets") == [{"__address__": "[2001:db8::1]:9115"}]
    assert (_value(blackbox, "job_name"), _value(blackbox, "metrics_path"), _value(blackbox, "scheme")) == \
        ("integrations/blackbox", "/probe", "https")
    assert _value(_children(blackbox, "tls_config")[0], "ca_file") == "/etc/ssl/ca.pem"


def test_scrape_jobs_opt_in_to_clustering_when_the_runtime_is_clustered(rendered: Dict[str, Dict[str, Any]]) -> None:
    clustered = _scrapes(rendered["scrape_clustered"])
    assert [_clustered(b) for b in clustered.values()] == [True, True, False]   # auto, auto, false
    alone = _scrapes(rendered["scrape_alone"])     # a runtime without a cluster key: Alloy alone
    assert list(alone) == list(clustered) and [_clustered(b) for b in alone.values()] == [False, False, False]
    forced = _scrapes(rendered["scrape_forced"])   # a runtime whose Alloy runs alone: true forces it
    assert {cid: _clustered(b) for cid, b in forced.items()} == {"prometheus.scrape.job_forced": True,
                                                                  "prometheus.scrape.job_auto": False}


def test_scrape_credentials_reach_alloy_through_the_env_file_only(rendered: Dict[str, Dict[str, Any]]) -> None:
    for case, name, env in (("scrape_clustered", "integrations_blackbox", "FLEET_ALLOY_SCRAPE_1_BEARER_TOKEN"),
                            ("scrape_forced", "forced", "FLEET_ALLOY_SCRAPE_0_PASSWORD")):
        result = rendered[case]
        text = _files(result)["fleet_scrape.alloy"]
        assert f'sys.env("{env}")' in text
        secret = SECRETS["scrape_token" if "TOKEN" in env else "scrape_pw"]
        assert all(secret not in content for content in _files(result).values())
        assert _env_file(result) == {env: secret}
        block = _scrapes(result)["prometheus.scrape.job_" + name]
        auth = block if "TOKEN" in env else _children(block, "basic_auth")[0]
        assert chain_name(_attrs(auth)["bearer_token" if "TOKEN" in env else "password"].target) == "sys.env"


def test_the_http_block_serves_tls_when_the_runtime_says_so(rendered: Dict[str, Dict[str, Any]]) -> None:
    result = rendered["http_tls"]
    files = _files(result)
    assert set(files) == {"fleet_00_logging.alloy", "fleet_http.alloy"}
    tls = _children(_blocks(files["fleet_http.alloy"])["http"], "tls")
    assert len(tls) == 1 and {name: _value(tls[0], name) for name in HTTP_TLS} == HTTP_TLS
    # a change of it is applied by a restart (the handler, once), not by a reload over the listener it changes
    assert result["restarts"] == 1
    plain = [case for case in CASES if case not in FAILING and case != "http_tls"]
    assert not [case for case in plain if "fleet_http.alloy" in _files(rendered[case])]
