"""What the roles emit exists in Grafana Alloy, with the types Alloy expects.

shared/docs/alloy-components.json holds the arguments of the components and blocks the
collection writes, read from Alloy's Go sources. Here:
- the stand-in's generated schema module (tools/alloy_schemas.py) is the JSON,
  and components.py builds its schemas from it faithfully;
- the alloy_config role is rendered on the controller (the machinery and cases of
  test_alloy_config_render.py, plus cases that use every option the role has; each host's
  runtime, the fact alloy_runtime, published by that test's playbook), each
  rendered file parsed with the stand-in's parser and walked: every component, block and
  attribute must exist in the JSON, blocks that are not lists appear once, required
  attributes are there, and literal values have the JSON's type (checked here
  independently of the stand-in's own type checker, which must accept the files too).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set

import pytest
import yaml
from alloy_standin import schema_data
from alloy_standin.components import COMPONENTS, CONFIG_BLOCKS, Schema
from alloy_standin.syntax import (Access, ArrayExpr, Attribute, Block, Call, Expr, Ident, Literal, ObjectExpr,
                                  Statement, Unary, chain_name, parse)
from alloy_standin.validate import load
from tools.alloy_schemas import PRODUCT_TARGET, TARGET, json_path, render, render_product

sys.path.insert(0, str(Path(__file__).parent))  # the render test's cases, whatever pytest's import mode
from test_alloy_config_render import CASES, FAILING, PLAYBOOK, REPO, STANDINS  # noqa: E402

JSON_FILE = json_path()


def schemas() -> Dict[str, Any]:
    """alloy-components.json, or the generated module when the JSON is not on this machine
    (test_generated_module_is_the_json proves them equal where it is)."""
    if JSON_FILE is not None:
        return json.loads(JSON_FILE.read_bytes())
    return {"components": schema_data.COMPONENTS, "blocks": schema_data.BLOCKS}


SCHEMAS = schemas()


def _need_json() -> Path:
    if JSON_FILE is None:
        pytest.skip("alloy-components.json not found (set ALLOY_COMPONENTS_JSON)")
    return JSON_FILE


# ---- the generated module and components.py


def test_generated_module_is_the_json() -> None:
    raw = _need_json().read_bytes()
    data = json.loads(raw)
    assert schema_data.JSON_SHA256 == hashlib.sha256(raw).hexdigest()
    assert schema_data.ALLOY_COMMIT == data["alloy"]["commit"]
    assert (schema_data.COMPONENTS, schema_data.BLOCKS) == (data["components"], data["blocks"])
    assert TARGET.read_text() == render(raw), "run python3 -m tools.alloy_schemas --write"


def test_the_rule_books_schema_is_the_json() -> None:
    raw = _need_json().read_bytes()
    assert PRODUCT_TARGET.read_text() == render_product(raw), \
        "run python3 -m tools.alloy_schemas --write"


def _compare(args: Dict[str, Any], schema: Schema, path: str, enum: Optional[Dict[str, Any]] = None) -> List[str]:
    """Differences between one JSON arguments object and the stand-in's Schema of it."""
    problems: List[str] = []
    attrs = {n: a for n, a in args.items() if not a.get("block")}
    if set(attrs) != set(schema.attributes) or {n for n, a in attrs.items() if a["required"]} != schema.required:
        problems.append(f"{path}: attributes {sorted(attrs)} vs {sorted(schema.attributes)}")
    problems += [f"{path}.{n}: type {a['type']} vs {schema.types.get(n)}" for n, a in attrs.items()
                 if schema.types.get(n) != a["type"]]
    for name, arg in ((n, a) for n, a in args.items() if a.get("block")):
        kinds = arg["body"] if _is_enum(arg) else (enum or {}).get(name) if not arg["body"] else None
        if kinds is not None:  # an enum: stage.json, ...; or the enum again inside one of its kinds
            for kind, body in kinds.items():
                child = schema.blocks.get(f"{name}.{kind}")
                if child is None or not child.repeatable:
                    problems.append(f"{path}/{name}.{kind}: missing or not repeatable")
                elif _is_enum(arg):
                    problems += _compare(body["body"], child, f"{path}/{name}.{kind}", {name: kinds})
            continue
        child = schema.blocks.get(name)
        if child is None or (child.repeatable, child.block_required) != (arg["repeatable"], arg["required"]):
            problems.append(f"{path}/{name}: block missing or repeatable/required differ")
        else:
            problems += _compare(arg["body"], child, f"{path}/{name}", enum)
    return problems


def _is_enum(arg: Dict[str, Any]) -> bool:
    return bool(arg.get("repeatable") and arg["body"] and all(a.get("block") for a in arg["body"].values()))


def test_components_py_builds_its_schemas_from_the_json() -> None:
    problems: List[str] = []
    for name, entry in SCHEMAS["components"].items():
        problems += _compare(entry["arguments"], COMPONENTS[name], name)
        assert COMPONENTS[name].stability == entry["stability"], name
    for name, entry in SCHEMAS["blocks"].items():
        problems += _compare(entry["arguments"], CONFIG_BLOCKS[name], name)
    assert problems == []
    # What the JSON does not say stays hand-written, for the components telemetry.py mimics.
    assert COMPONENTS["loki.write"].endpoint_block == COMPONENTS["prometheus.remote_write"].endpoint_block == "endpoint"
    assert "receiver" in COMPONENTS["loki.process"].exports and "targets" in COMPONENTS["local.file_match"].exports


# ---- what the role renders

ALL_STAGES = [
    {"static_labels": {"values": {"team": "ops"}}},
    {"json": {"expressions": {"msg": "message", "lvl": ""}, "source": "line", "drop_malformed": True}},
    {"logfmt": {"mapping": {"extracted_level": "level"}, "source": "line"}},
    {"regex": {"expression": "^(?P<word>\\w+)", "source": "msg", "labels_from_groups": False}},
    {"replace": {"expression": "password=(\\S+)", "replace": "****", "source": "msg"}},
    {"template": {"source": "msg", "template": "upper .Value"}},  # no braces: Ansible would template them
    {"timestamp": {"source": "ts", "format": "RFC3339", "fallback_formats": ["UnixMs"], "location": "UTC",
                   "action_on_failure": "skip"}},
    {"labels": {"values": {"lvl": ""}}},
    {"label_drop": {"values": ["filename"]}},
    {"label_keep": {"values": ["unit", "lvl"]}},
    {"output": {"source": "msg"}},
    {"drop": {"expression": ".*healthcheck.*", "older_than": "24h", "drop_counter_reason": "noise",
              "source": "msg", "separator": ";", "value": "x"}},
    {"match": {"selector": '{unit="cron.service"}', "action": "drop", "drop_counter_reason": "cron",
               "pipeline_name": "cron"}},
]
TLS = {"ca_file": "/etc/ssl/ca.pem", "ca_pem": "", "cert_file": "/etc/ssl/c.pem", "key_file": "/etc/ssl/c.key",
       "insecure_skip_verify": False, "server_name": "backend", "min_version": "TLS12"}
QUEUE = {"capacity": 10000, "max_shards": 50, "min_shards": 1, "max_samples_per_send": 2000,
         "batch_send_deadline": "5s", "min_backoff": "30ms", "max_backoff": "5s", "retry_on_http_429": True,
         "sample_age_limit": "0s"}
RICH: Dict[str, Dict[str, Any]] = {
    # Every stage type, every Loki endpoint option and each of the exclusive ways to authenticate.
    "rich_loki": {
        "alloy_config_unix_enabled": False,
        "alloy_config_journal_stages": ALL_STAGES,
        "alloy_config_journal_max_age": "24h", "alloy_config_journal_path": "/var/log/journal",
        "alloy_config_journal_matches": "_SYSTEMD_UNIT=sshd.service", "alloy_config_journal_format_as_json": True,
        "alloy_config_journal_extra_relabel_rules": [
            {"action": "hashmod", "source_labels": ["unit", "hostname"], "separator": ";", "regex": "(.*)",
             "target_label": "shard", "replacement": "$1", "modulus": 8}],
        "alloy_config_loki_endpoints": [
            {"url": "https://loki-a.example.com/loki/api/v1/push", "name": "primary", "tenant_id": "team-a",
             "headers": {"X-Source": "fleet"}, "remote_timeout": "20s", "batch_size": "2MiB", "batch_wait": "2s",
             "basic_auth": {"username": "alloy", "password": "s3cret"}, "tls": TLS},
            {"url": "https://loki-c.example.com/loki/api/v1/push",
             "basic_auth": {"username": "u", "password_file": "/run/secrets/loki"}},
            {"url": "https://loki-d.example.com/loki/api/v1/push", "bearer_token": "tok"},
            {"url": "https://loki-e.example.com/loki/api/v1/push", "bearer_token_file": "/run/secrets/t"},
        ],
        "alloy_config_loki_external_labels": {"cluster": "c1", "env": "prod"},
    },
    # Every Prometheus endpoint and queue option, the unix exporter's and the WAL's.
    "rich_prometheus": {
        "alloy_config_journal_enabled": False, "alloy_config_self_metrics": True,
        "alloy_config_unix_enable_collectors": ["systemd", "processes"],
        "alloy_config_unix_disable_collectors": ["mdadm"],
        "alloy_config_unix_job_name": "node", "alloy_config_unix_scrape_interval": "30s",
        "alloy_config_unix_scrape_timeout": "10s",
        "alloy_config_prometheus_relabel_rules": [
            {"target_label": "instance", "replacement": "web-01"},
            {"action": "labeldrop", "regex": "tmp_.*"},
            {"action": "keep", "source_labels": ["job"], "separator": ";", "regex": "node|alloy"}],
        "alloy_config_prometheus_endpoints": [
            {"url": "https://mimir.example.com/api/v1/push", "name": "mimir", "headers": {"X-Scope-OrgID": "t"},
             "remote_timeout": "30s", "basic_auth": {"username": "u", "password": "p"}, "queue_config": QUEUE,
             "tls": TLS},
            {"url": "https://prom-b.example.com/api/v1/write", "basic_auth": {"username": "u",
                                                                             "password_file": "/run/p"}},
            {"url": "https://prom-c.example.com/api/v1/write", "bearer_token": "tok"},
            {"url": "https://prom-d.example.com/api/v1/write", "bearer_token_file": "/run/secrets/t"},
        ],
        "alloy_config_prometheus_external_labels": {"cluster": "c1"},
        "alloy_config_prometheus_remote_write_name": "central",
        "alloy_config_prometheus_wal": {"truncate_frequency": "1h", "min_keepalive_time": "5m",
                                        "max_keepalive_time": "8h"},
    },
    # Every option of a scrape job of shared targets and each way to authenticate, clustered.
    "rich_scrape": {
        "alloy_config_journal_enabled": False, "alloy_config_unix_enabled": False,
        "alloy_config_scrape_jobs": [
            {"name": "prometheus", "targets": ["prom-1.example:9090", {"__address__": "prom-2.example:9090",
                                                                       "__metrics_path__": "/federate", "az": "b"}],
             "labels": {"env": "prod"}, "metrics_path": "/metrics", "scheme": "https", "scrape_interval": "30s",
             "scrape_timeout": "10s", "tls": TLS, "basic_auth": {"username": "u", "password": "p"},
             "clustering": True},
            {"name": "b", "targets": ["b.example:1"], "basic_auth": {"username": "u", "password_file": "/run/p"}},
            {"name": "c", "targets": ["c.example:1"], "bearer_token": "tok"},
            {"name": "d", "targets": ["d.example:1"], "bearer_token_file": "/run/secrets/t"},
        ],
    },
}
# Snippets are the user's text, not what the role emits.
RENDERED_CASES = {name: case for name, case in CASES.items() if name not in FAILING}
RENDERED_CASES.update(RICH)
# What the rich cases must reach (paths as the walk records them), so that the walk covers
# everything the templates can write.
MUST_EMIT = {
    "logging/level", "logging/format",
    "loki.relabel/rule/modulus", "loki.relabel/rule/separator", "loki.source.journal/matches",
    "loki.source.journal/relabel_rules", "loki.source.journal/format_as_json",
    *(f"loki.process/stage.{next(iter(stage))}" for stage in ALL_STAGES),
    "loki.write/endpoint/tenant_id", "loki.write/endpoint/batch_size", "loki.write/endpoint/batch_wait",
    "loki.write/endpoint/basic_auth/password", "loki.write/endpoint/basic_auth/password_file",
    "loki.write/endpoint/bearer_token", "loki.write/endpoint/bearer_token_file",
    "loki.write/endpoint/tls_config/min_version", "loki.write/external_labels",
    "prometheus.exporter.unix/enable_collectors", "prometheus.exporter.unix/udev_data_path",
    "prometheus.scrape/scrape_timeout", "prometheus.exporter.self",
    *(f"prometheus.remote_write/endpoint/queue_config/{key}" for key in QUEUE),
    "prometheus.remote_write/endpoint/bearer_token_file", "prometheus.remote_write/endpoint/tls_config/ca_file",
    "prometheus.remote_write/wal/max_keepalive_time", "prometheus.remote_write/external_labels",
    *(f"prometheus.scrape/{key}" for key in ("targets", "job_name", "metrics_path", "scheme", "scrape_interval",
                                             "bearer_token", "bearer_token_file")),
    "prometheus.scrape/basic_auth/password", "prometheus.scrape/basic_auth/password_file",
    "prometheus.scrape/tls_config/min_version", "prometheus.scrape/clustering/enabled",
}


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """case name -> its conf.d, rendered without validation (so every file is written)."""
    root = tmp_path_factory.mktemp("emitted")
    for name in RENDERED_CASES:
        (root / name).mkdir()
    hosts = {name: dict(case, fleet_test_dir=str(root / name), fleet_test_runtime=runtime(root / name),
                        alloy_config_validate="none")
             for name, case in RENDERED_CASES.items()}
    common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = root / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": common}}))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               PYTHONPATH=str(STANDINS), ANSIBLE_FORKS="8")
    out = subprocess.run(["ansible-playbook", "-i", str(inventory), str(PLAYBOOK)], capture_output=True, text=True,
                         env=env, cwd=REPO, check=False)
    report = json.loads(out.stdout[out.stdout.index("{"):])
    failed = [f"{host}: {res.get('msg')}" for play in report["plays"] for task in play["tasks"]
              for host, res in task["hosts"].items() if res.get("failed")]
    assert failed == [], out.stderr[-2000:]
    return {name: root / name / "conf.d" for name in RENDERED_CASES}


def runtime(folder: Path) -> Dict[str, Any]:
    """The runtime the render playbook publishes for a host (alloy_install's, in folder); no Alloy
    answers its api_url: the written files stay, the runtime is asked to restart."""
    return {"kind": "systemd", "service": "alloy.service", "config_dir": str(folder / "conf.d"), "config_group": "root",
            "env_file": str(folder / "alloy.env"), "alloy_command": [sys.executable, "-m", "alloy_standin"],
            "api_url": "http://127.0.0.1:9", "instance": "web-01",
            "host_paths": {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/", "udev_data": "/run/udev/data"}}


def role_files(conf: Path) -> Iterator[Path]:
    return (p for p in sorted(conf.glob("*.alloy")) if not p.name.startswith("fleet_snippet_"))


# ---- the walk, written apart from the stand-in's validator


DURATION = re.compile(r"^[-+]?(0|((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$")
NUMBERS = {"int", "int64", "uint", "uint32", "uint64", "float64"}


def value_problem(expr: Expr, kind: str) -> Optional[str]:
    """Why expr cannot be a value of the JSON type kind, or None."""
    if kind in ("opaque", "object"):
        return None
    if isinstance(expr, Call) and chain_name(expr.target) == "sys.env":
        return None if kind in ("string", "secret", "text") else f"sys.env(...) for a {kind}"
    if isinstance(expr, (Ident, Access)):
        return None if kind in ("list(object)", "list(opaque)") else f"a reference for a {kind}"
    if isinstance(expr, ArrayExpr):
        if not kind.startswith("list("):
            return f"a list for a {kind}"
        return next((p for p in (value_problem(item, kind[5:-1]) for item in expr.items) if p), None)
    if isinstance(expr, ObjectExpr):
        if not kind.startswith("map(string,"):
            return f"an object for a {kind}"
        return next((p for p in (value_problem(v, kind[11:-1]) for _, v in expr.fields) if p), None)
    if isinstance(expr, Unary) and isinstance(expr.operand, Literal):
        return value_problem(expr.operand, kind)
    if not isinstance(expr, Literal):
        return f"{type(expr).__name__} for a {kind}"
    return literal_problem(expr.value, kind)


def literal_problem(value: object, kind: str) -> Optional[str]:
    if kind in ("string", "secret", "text"):
        return None if isinstance(value, str) else f"{value!r} for a {kind}"
    if kind == "duration":
        return None if isinstance(value, str) and DURATION.match(value) else f"{value!r} is no duration"
    if kind == "bool":
        return None if isinstance(value, bool) else f"{value!r} for a bool"
    if kind in NUMBERS:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else f"{value!r} for a {kind}"
    return f"{value!r} for a {kind}"


class Walk:
    """The statements of rendered files against the JSON's arguments."""

    def __init__(self) -> None:
        self.problems: List[str] = []
        self.paths: Set[str] = set()

    def file(self, path: Path) -> None:
        for stmt in parse(path.read_bytes(), path.name):
            where = f"{path.name}:{stmt.line}:{stmt.col}"
            entry = SCHEMAS["components"].get(stmt.name) or SCHEMAS["blocks"].get(stmt.name)
            if not isinstance(stmt, Block) or entry is None:
                self.problems.append(f"{where}: {stmt.name} is not a component or block of alloy-components.json")
                continue
            self.paths.add(stmt.name)
            self.body(stmt.body, entry["arguments"], stmt.name, path.name, {})

    def body(self, body: List[Statement], args: Dict[str, Any], path: str, file: str,
             enums: Dict[str, Any]) -> None:
        counts: Dict[str, int] = {}
        for stmt in body:
            where = f"{file}:{stmt.line}:{stmt.col}: {path}/{stmt.name}"
            counts[stmt.name] = counts.get(stmt.name, 0) + 1
            if isinstance(stmt, Attribute):
                self.attribute(stmt, args, where, f"{path}/{stmt.name}")
            else:
                self.block(stmt, args, where, f"{path}/{stmt.name}", file, enums)
        for name, count in counts.items():
            arg = args.get(name)
            if arg and arg.get("block") and not arg["repeatable"] and count > 1:
                self.problems.append(f"{file}: {path}/{name} is given {count} times")
        for name, arg in args.items():
            if arg.get("required") and name not in counts:
                self.problems.append(f"{file}: {path} lacks its required {name}")

    def attribute(self, attr: Attribute, args: Dict[str, Any], where: str, path: str) -> None:
        arg = args.get(attr.name)
        if arg is None or arg.get("block"):
            self.problems.append(f"{where}: no such attribute")
            return
        self.paths.add(path)
        problem = value_problem(attr.value, arg["type"])
        if problem:
            self.problems.append(f"{where}: {problem}")

    def block(self, block: Block, args: Dict[str, Any], where: str, path: str, file: str,
              enums: Dict[str, Any]) -> None:
        head, _, kind = block.name.partition(".")
        arg = args.get(block.name)
        if arg is None and kind and head in args:
            enum = args[head] if args[head]["body"] else enums.get(head)
            kinds = enum["body"] if enum else {}
            if kind in kinds:
                self.paths.add(path)
                self.body(block.body, kinds[kind]["body"], path, file, dict(enums, **{head: enum}))
                return
        if arg is None or not arg.get("block"):
            self.problems.append(f"{where}: no such block")
            return
        self.paths.add(path)
        self.body(block.body, arg["body"], path, file, enums)


def test_every_rendered_component_block_and_attribute_exists_in_alloy(emitted: Dict[str, Path]) -> None:
    walk = Walk()
    for name, conf in emitted.items():
        files = list(role_files(conf))
        assert files, f"{name}: nothing rendered"
        for path in files:
            walk.file(path)
    assert walk.problems == []
    assert MUST_EMIT - walk.paths == set()


@pytest.mark.parametrize("case", sorted(RICH))
def test_the_stand_in_validates_what_the_role_renders(emitted: Dict[str, Path], case: str) -> None:
    loaded = load(emitted[case], run=False)
    assert [d.render() for d in loaded.diagnostics] == []
