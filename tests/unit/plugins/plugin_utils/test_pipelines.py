"""What alloy_config runs and what its backends can tell (plugins/plugin_utils/pipelines.py), decided
once from its checked variables: alloy_config turns the Loki and Prometheus pipelines on from it and
keeps it on the host (the fact alloy_pipelines), and playbooks/tasks/verify.yml checks the endpoints
by it (the filters fleet.alloy.alloy_pipelines and fleet.alloy.alloy_verify_endpoints) - the backend
asked for this host's data (query) where the journal or host series go, delivery only where log files,
scrape jobs alone go, nothing where nothing or only OTLP goes."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.filter import alloy_pipelines as flt
from ansible_collections.fleet.alloy.plugins.plugin_utils import pipelines
from templating_child import run_child

REPO = Path(__file__).resolve().parents[4]
# alloy_config's checked variables with the role's defaults (the journal and the unix exporter on).
DEFAULTS: Dict[str, Any] = {"journal_enabled": True, "log_files": [], "unix_enabled": True, "self_metrics": False,
                            "otlp_enabled": False, "otlp_metrics_to_prometheus": False, "otlp_logs_to_loki": False,
                            "instance": "web-01"}
NOTHING = dict(DEFAULTS, journal_enabled=False, unix_enabled=False)
LOG_FILES = [{"paths": ["/var/log/app.log"], "labels": {}, "exclude": ""}]
LOKI = [{"url": "https://loki.example/loki/api/v1/push", "tenant_id": "ops",
         "basic_auth": {"username": "u", "password": "pw"}}]
PROMETHEUS = [{"url": "https://mimir.example/api/v1/push", "verify": {"ready": False}},
              {"url": "http://prom.example:9090/api/v1/write", "verify": {"query": True}}]


def record(scrape_jobs: bool = False, fleet_management: bool = False, **checked: Any) -> Dict[str, Any]:
    return pipelines.describe(dict(NOTHING, **checked), scrape_jobs=scrape_jobs, fleet_management=fleet_management)


# ---- the decision

@pytest.mark.parametrize("checked,scrape_jobs,running,backends", [
    # the defaults: the host's journal and its series, both asked of the backends
    (DEFAULTS, False, ["journal", "unix"], {"loki": "query", "prometheus": "query"}),
    ({"journal_enabled": True}, False, ["journal"], {"loki": "query"}),
    ({"unix_enabled": True}, False, ["unix"], {"prometheus": "query"}),
    ({"self_metrics": True}, False, ["self_metrics"], {"prometheus": "query"}),
    # a quiet file sends nothing: delivery only
    ({"log_files": LOG_FILES}, False, ["log_files"], {"loki": "delivery"}),
    # shared targets carry their own instance: delivery only
    ({}, True, ["scrape_jobs"], {"prometheus": "delivery"}),
    # OTLP alone into Prometheus or Loki: the backend is written to (the pipeline is rendered), but
    # what goes there is the applications', when they send: quiet, nothing of it judged
    ({"otlp_enabled": True, "otlp_metrics_to_prometheus": True}, False, ["otlp_to_prometheus", "otlp"],
     {"prometheus": "quiet"}),
    ({"otlp_enabled": True, "otlp_logs_to_loki": True}, False, ["otlp_to_loki", "otlp"], {"loki": "quiet"}),
    ({"otlp_enabled": True, "otlp_logs_to_loki": True, "otlp_metrics_to_prometheus": True}, False,
     ["otlp_to_loki", "otlp_to_prometheus", "otlp"], {"loki": "quiet", "prometheus": "quiet"}),
    # a sender that can be judged wins over a quiet one
    ({"otlp_enabled": True, "otlp_metrics_to_prometheus": True}, True, ["scrape_jobs", "otlp_to_prometheus", "otlp"],
     {"prometheus": "delivery"}),
    # OTLP to its own exporters only: no backend of these two kinds
    ({"otlp_enabled": True}, False, ["otlp"], {}),
    # the conversions count only with OTLP on
    ({"otlp_metrics_to_prometheus": True, "otlp_logs_to_loki": True}, False, [], {}),
    # one pipeline of the host's own is enough for the query, whatever else goes there
    ({"journal_enabled": True, "log_files": LOG_FILES, "otlp_enabled": True, "otlp_logs_to_loki": True}, False,
     ["journal", "log_files", "otlp_to_loki", "otlp"], {"loki": "query"}),
    ({"self_metrics": True, "otlp_enabled": True, "otlp_metrics_to_prometheus": True}, True,
     ["self_metrics", "scrape_jobs", "otlp_to_prometheus", "otlp"], {"prometheus": "query"}),
    ({}, False, [], {}),
])
def test_the_backends_are_asked_only_for_the_hosts_own_data(checked: Dict[str, Any], scrape_jobs: bool,
                                                            running: List[str], backends: Dict[str, str]) -> None:
    found = record(scrape_jobs=scrape_jobs, **checked)
    assert found["pipelines"] == running
    assert found["backends"] == backends


def test_fleet_management_is_recorded_and_sends_to_no_backend() -> None:
    assert record(fleet_management=True) == {"pipelines": ["fleet_management"], "backends": {}, "instance": "web-01"}


def test_the_instance_is_recorded_unless_alloy_evaluates_it() -> None:
    assert record(instance="web-01 \"quoted\"")["instance"] == "web-01 \"quoted\""
    # an Alloy expression (sys.env(...)): the verify play falls back to the runtime's name
    assert record(instance={"__alloy_expr__": 'sys.env("HOSTNAME")'})["instance"] == ""


def test_every_pipeline_that_sends_names_a_kind_and_a_check() -> None:
    assert {kind for _name, kind, _check in pipelines.SENDS} == set(pipelines.KINDS)
    assert {check for _name, _kind, check in pipelines.SENDS} == set(pipelines.CHECKS)
    assert len(set(pipelines.NAMES)) == len(pipelines.NAMES)


def test_the_record_holds_no_secret_and_is_json() -> None:
    import json
    found = record(scrape_jobs=True, fleet_management=True, **DEFAULTS)
    assert json.loads(json.dumps(found)) == found
    assert set(found) == {"pipelines", "backends", "instance"}


# ---- read back: this run's record, else the one kept on the host

def test_this_runs_record_wins_over_the_kept_one() -> None:
    now, kept = record(journal_enabled=True), record(unix_enabled=True)
    assert pipelines.from_facts({"alloy_pipelines": now, "ansible_local": {"alloy_pipelines": kept}}) == now
    # verify.yml alone (fleet.alloy.verify, site.yml --tags verify): the kept one suffices
    assert pipelines.from_facts({"ansible_local": {"alloy_pipelines": kept}}) == kept
    assert pipelines.from_facts({"ansible_local": {"alloy_runtime": {}}}) is None
    assert pipelines.from_facts({}) is None and pipelines.from_facts(None) is None


@pytest.mark.parametrize("bad,message", [
    ({"pipelines": ["journal"]}, "is not one this version of fleet.alloy reads"),
    ({"pipelines": [], "backends": {"tempo": "query"}, "instance": ""}, "does not know (tempo)"),
    ({"pipelines": [], "backends": {"loki": "maybe"}, "instance": ""}, "does not know (loki)"),
])
def test_a_record_of_another_version_names_the_role_to_run_again(bad: Dict[str, Any], message: str) -> None:
    with pytest.raises(pipelines.RecordError, match=re.escape(message)):
        pipelines.from_facts({"ansible_local": {"alloy_pipelines": bad}})
    with pytest.raises(AnsibleFilterError, match=r"run fleet.alloy.alloy_config \(site.yml\) again"):
        flt.alloy_pipelines({"ansible_local": {"alloy_pipelines": bad}})


# ---- the endpoints alloy_verify checks

def test_query_passes_the_endpoints_as_given() -> None:
    found = record(journal_enabled=True, unix_enabled=True)
    assert flt.alloy_verify_endpoints(LOKI, found, "loki") == LOKI
    assert flt.alloy_verify_endpoints(PROMETHEUS, found, "prometheus") == PROMETHEUS


def test_delivery_only_turns_the_query_off_and_keeps_the_rest() -> None:
    found = record(scrape_jobs=True, log_files=LOG_FILES)
    assert flt.alloy_verify_endpoints(PROMETHEUS, found, "prometheus") == [
        {"url": "https://mimir.example/api/v1/push", "verify": {"ready": False, "query": False}},
        {"url": "http://prom.example:9090/api/v1/write", "verify": {"query": False}}]
    assert flt.alloy_verify_endpoints(LOKI, found, "loki") == [dict(LOKI[0], verify={"query": False})]
    assert "verify" not in LOKI[0] and PROMETHEUS[0]["verify"] == {"ready": False}   # the inventory's left alone


def test_otlp_only_gives_no_endpoint_to_judge() -> None:
    # A remote write that never received a sample is "nothing sent yet", a failure: an application
    # that sends no metrics must not stop a rollout.
    found = record(otlp_enabled=True, otlp_metrics_to_prometheus=True, otlp_logs_to_loki=True)
    assert flt.alloy_verify_endpoints(PROMETHEUS, found, "prometheus") == []
    assert flt.alloy_verify_endpoints(LOKI, found, "loki") == []


def test_no_pipeline_no_endpoint() -> None:
    assert flt.alloy_verify_endpoints(LOKI, record(unix_enabled=True), "loki") == []
    assert flt.alloy_verify_endpoints([], record(journal_enabled=True), "loki") == []


def test_the_endpoints_filter_refuses_what_it_cannot_judge() -> None:
    with pytest.raises(AnsibleFilterError, match="kind must be one of loki, prometheus, got 'otlp'"):
        flt.alloy_verify_endpoints([], record(), "otlp")
    with pytest.raises(AnsibleFilterError, match="the loki endpoints must be a list, got dict"):
        flt.alloy_verify_endpoints({"url": "x"}, record(), "loki")


# ---- a host where alloy_config recorded nothing

def test_no_record_reads_as_no_pipeline_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    warned: List[str] = []
    monkeypatch.setattr(flt.Display, "warning", lambda self, msg, *a, **k: warned.append(msg))
    found = flt.alloy_pipelines({"ansible_local": {}}, host="web-01")
    assert found == {"pipelines": [], "backends": {}, "instance": ""}
    assert warned == ["web-01: fleet.alloy.alloy_config has recorded no pipelines here (the fact alloy_pipelines): "
                      "Alloy is checked, and the delivery of whatever writers it runs, but no backend is asked for "
                      "this host's data and Fleet Management is not checked; run alloy_config (site.yml) once on "
                      "this host"]
    # nothing is checked at the backends: alloy_verify judges the delivery of the writers Alloy runs
    assert flt.alloy_verify_endpoints(LOKI, found, "loki") == []
    assert flt.alloy_verify_endpoints(PROMETHEUS, found, "prometheus") == []
    found["pipelines"].append("x")   # a copy: the next host's is empty again
    assert flt.alloy_pipelines({}, "pipelines") == []


def test_the_reader_gives_one_key_or_names_the_keys() -> None:
    facts = {"alloy_pipelines": record(journal_enabled=True)}
    assert flt.alloy_pipelines(facts) == facts["alloy_pipelines"]
    assert flt.alloy_pipelines(facts, "backends") == {"loki": "query"}
    with pytest.raises(AnsibleFilterError, match="no key 'kinds'; the keys are backends, instance, pipelines"):
        flt.alloy_pipelines(facts, "kinds")


def test_the_filters_are_registered_under_their_names() -> None:
    assert flt.FilterModule().filters() == {"alloy_pipelines": flt.alloy_pipelines,
                                            "alloy_pipelines_of": flt.alloy_pipelines_of,
                                            "alloy_verify_endpoints": flt.alloy_verify_endpoints}
    assert flt.alloy_pipelines_of(DEFAULTS, scrape_jobs=True) == pipelines.describe(DEFAULTS, scrape_jobs=True)


# ---- one place: neither the role nor the verify play judges the switches again

SWITCHES = re.compile(r"\balloy_config_(?!loki_endpoints\b|prometheus_endpoints\b)\w+")


def test_the_verify_play_reads_no_pipeline_switch_of_alloy_config() -> None:
    text = (REPO / "playbooks" / "tasks" / "verify.yml").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert SWITCHES.findall(code) == []
    assert "fleet.alloy.alloy_pipelines(" in code


def test_alloy_config_turns_its_writers_on_from_the_record() -> None:
    variables = yaml.safe_load((REPO / "roles" / "alloy_config" / "vars" / "main.yml").read_text())
    record_of = "__alloy_config_record"
    assert "fleet.alloy.alloy_pipelines_of(" in variables[record_of]
    for name in ("__alloy_config_loki_enabled", "__alloy_config_prometheus_enabled",
                 "__alloy_config_otlp_to_loki", "__alloy_config_otlp_to_prometheus"):
        assert record_of in variables[name], name
        assert "journal_enabled" not in variables[name] and "unix_enabled" not in variables[name], name
    task = yaml.safe_load((REPO / "roles" / "alloy_config" / "tasks" / "main.yml").read_text())[1]
    assert task["fleet.alloy.alloy_config_apply"]["record"] == "{{ %s }}" % record_of


# ---- the verify task itself (playbooks/tasks/verify.yml), its arguments templated as Ansible does, in a
# child Python whose collection loader resolves the fleet.alloy filters (as test_alloy_preflight_runtime.py)

DRIVER = r"""
import json, sys
import yaml
from templating_child import start, templar, trusted
start()

task = yaml.safe_load(open(sys.argv[1]))[0]
args = dict((key, task["fleet.alloy.alloy_verify"][key])
            for key in ("loki_endpoints", "prometheus_endpoints", "instance", "fleet_management"))
results = {}
for name, variables in json.load(sys.stdin).items():
    variables = dict(trusted(task["vars"]), inventory_hostname=name, **variables)
    results[name] = templar(variables).template(trusted(args))
json.dump(results, sys.stdout)
"""
RUNTIME = {"kind": "systemd", "service": "alloy.service", "config_dir": "/etc/alloy/conf.d", "config_group": "alloy",
           "env_file": "/etc/default/alloy", "alloy_command": ["/usr/bin/alloy"], "api_url": "http://127.0.0.1:12345",
           "instance": "web-01", "host_paths": {"procfs": "/proc", "sysfs": "/sys", "rootfs": "/",
                                                "udev_data": "/run/udev/data"}}
ENDPOINTS = {"alloy_config_loki_endpoints": LOKI, "alloy_config_prometheus_endpoints": PROMETHEUS}
# The pipeline switches a user's inventory may still set: the verify task no longer reads them.
STALE = {"alloy_config_journal_enabled": True, "alloy_config_unix_enabled": True,
         "alloy_config_fleet_management_endpoint": {"url": "https://fm.example"}, "alloy_config_instance": "stale"}


def kept(found: Dict[str, Any]) -> Dict[str, Any]:
    """Facts of a play that runs verify.yml alone: the runtime and the record kept on the host."""
    return {"ansible_facts": {"ansible_local": {"alloy_runtime": RUNTIME, "alloy_pipelines": found}}}


VERIFY_CASES: Dict[str, Dict[str, Any]] = {
    "alone_scrape_jobs": dict(ENDPOINTS, **STALE, **kept(record(scrape_jobs=True))),
    "alone_otlp": dict(ENDPOINTS, **kept(record(otlp_enabled=True, otlp_metrics_to_prometheus=True,
                                                otlp_logs_to_loki=True))),
    "alone_journal_fleet": dict(ENDPOINTS, **kept(record(journal_enabled=True, fleet_management=True,
                                                         instance="node-7"))),
    # site.yml: the record alloy_config returned in this run wins over the one kept by an earlier run
    "this_run": dict(ENDPOINTS, ansible_facts={"alloy_pipelines": record(unix_enabled=True),
                                               **kept(record(journal_enabled=True))["ansible_facts"]}),
    # alloy_config never ran here: no backend is checked (with a warning), whatever the inventory says
    "never_configured": dict(ENDPOINTS, **STALE, ansible_facts={"ansible_local": {"alloy_runtime": RUNTIME}}),
}


@pytest.fixture(scope="module")
def verify_args() -> Dict[str, Any]:
    found, stderr = run_child(DRIVER, VERIFY_CASES, str(REPO / "playbooks" / "tasks" / "verify.yml"))
    return dict(found, stderr=stderr)


def _queries(endpoints: List[Dict[str, Any]]) -> List[Any]:
    return [e.get("verify", {}).get("query", "as given") for e in endpoints]


def test_verify_alone_reads_the_kept_record_not_the_inventorys_switches(verify_args: Dict[str, Any]) -> None:
    args = verify_args["alone_scrape_jobs"]
    assert args["loki_endpoints"] == []                               # the journal switch in the inventory: ignored
    assert _queries(args["prometheus_endpoints"]) == [False, False]   # scrape jobs only: delivery
    assert args["fleet_management"] is False and args["instance"] == "web-01"


def test_verify_gives_otlp_only_hosts_no_endpoint(verify_args: Dict[str, Any]) -> None:
    args = verify_args["alone_otlp"]
    assert args["loki_endpoints"] == [] and args["prometheus_endpoints"] == []


def test_verify_queries_for_the_journal_and_checks_fleet_management(verify_args: Dict[str, Any]) -> None:
    args = verify_args["alone_journal_fleet"]
    assert args["loki_endpoints"] == LOKI and args["prometheus_endpoints"] == []
    assert args["fleet_management"] is True and args["instance"] == "node-7"


def test_verify_in_site_yml_reads_this_runs_record(verify_args: Dict[str, Any]) -> None:
    args = verify_args["this_run"]
    assert args["loki_endpoints"] == [] and args["prometheus_endpoints"] == PROMETHEUS


def test_verify_where_alloy_config_never_ran_checks_no_backend(verify_args: Dict[str, Any]) -> None:
    args = verify_args["never_configured"]
    assert args == {"loki_endpoints": [], "prometheus_endpoints": [], "instance": "", "fleet_management": False}
    # ansible-core 2.16 wraps warnings at 80 columns: the words are compared, not the line breaks
    assert ("never_configured: fleet.alloy.alloy_config has recorded no pipelines here"
            in " ".join(verify_args["stderr"].split()))
