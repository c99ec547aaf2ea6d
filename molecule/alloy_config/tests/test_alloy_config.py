"""alloy_config on a lab host: files, modes, secrets only in the env file, the running
Alloy loaded our pipelines and they reach the lab's Loki stand-in and Prometheus."""
from __future__ import annotations

import json
import shlex
import time
from typing import Any, Dict, List

import pytest

SECRETS = ["lab-loki-password-9f3a", "lab-prometheus-token-5d1e", "lab-loki-password-rotated-77c1"]
FILES = ["fleet_00_logging.alloy", "fleet_files.alloy", "fleet_journal.alloy", "fleet_loki.alloy",
         "fleet_otlp.alloy", "fleet_prometheus.alloy", "fleet_unix.alloy"]


def _env_path(host) -> str:
    return "/etc/default/alloy" if host.system_info.distribution == "debian" else "/etc/sysconfig/alloy"


def test_config_directory_holds_exactly_our_files(host) -> None:
    conf = host.file("/etc/alloy/conf.d")
    assert (conf.user, conf.group, conf.mode) == ("root", "alloy", 0o750)
    assert sorted(conf.listdir()) == FILES


@pytest.mark.parametrize("name", FILES)
def test_config_files_are_readable_by_alloy_only(host, name: str) -> None:
    f = host.file(f"/etc/alloy/conf.d/{name}")
    assert (f.user, f.group, f.mode) == ("root", "alloy", 0o640)


def test_no_secret_in_any_config_file(host) -> None:
    for secret in SECRETS:
        found = host.run(f"grep -rl -- {secret} /etc/alloy")
        assert found.rc == 1, f"{secret} found in {found.stdout}"


def test_config_reads_the_secrets_from_the_environment(host) -> None:
    loki = host.file("/etc/alloy/conf.d/fleet_loki.alloy").content_string
    assert 'password = sys.env("FLEET_ALLOY_LOKI_0_PASSWORD")' in loki
    prom = host.file("/etc/alloy/conf.d/fleet_prometheus.alloy").content_string
    assert 'bearer_token = sys.env("FLEET_ALLOY_PROMETHEUS_0_BEARER_TOKEN")' in prom


def test_env_file_holds_the_secrets_and_the_directory(host) -> None:
    env = host.file(_env_path(host))
    assert (env.user, env.group, env.mode) == ("root", "alloy", 0o640)
    text = env.content_string
    assert 'FLEET_ALLOY_LOKI_0_PASSWORD="lab-loki-password-9f3a"' in text
    assert 'FLEET_ALLOY_PROMETHEUS_0_BEARER_TOKEN="lab-prometheus-token-5d1e"' in text
    assert 'CONFIG_FILE="/etc/alloy/conf.d"' in text
    assert "# BEGIN fleet.alloy alloy_config (secret)" in text


def test_the_running_process_has_the_secret(host) -> None:
    pid = host.check_output("systemctl show -p MainPID --value alloy")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    assert "FLEET_ALLOY_LOKI_0_PASSWORD=lab-loki-password-9f3a" in environ.splitlines()


def test_no_staging_directory_is_left_behind(host) -> None:
    assert host.run("ls -a /etc/alloy | grep -c fleet-alloy-staging").stdout.strip() == "0"


def test_alloy_runs_our_pipelines_and_they_are_healthy(host) -> None:
    assert host.service("alloy").is_running
    components = json.loads(host.check_output("curl -fsS http://127.0.0.1:12345/api/v0/web/components"))
    states = {c["localID"]: c["health"]["state"] for c in components}
    for cid in ("loki.source.journal.read", "loki.relabel.journal", "loki.write.endpoint",
                "local.file_match.files", "loki.source.file.files",
                "prometheus.exporter.unix.default", "prometheus.scrape.unix", "prometheus.relabel.instance",
                "prometheus.remote_write.default", "otelcol.receiver.otlp.default",
                "otelcol.processor.memory_limiter.default", "otelcol.processor.batch.default",
                "otelcol.auth.basic.lab", "otelcol.exporter.otlphttp.lab", "otelcol.exporter.prometheus.default"):
        assert states.get(cid) == "healthy", (cid, states)
    assert "prometheus.scrape.alloy" not in states  # side_effect's change was reverted by a reload


def test_wal_of_the_remote_write(host) -> None:
    assert host.file("/var/lib/alloy/data/prometheus.remote_write.default/wal").is_directory


def test_alloy_verify_reports_the_host_healthy(host) -> None:
    result = host.ansible("fleet.alloy.alloy_verify",
                          "loki_endpoints={{ alloy_config_loki_endpoints }} "
                          "prometheus_endpoints={{ alloy_config_prometheus_endpoints }} "
                          "data_flow=true wait=true wait_timeout=60 require_enabled=true",
                          become=True, check=False)
    assert result.get("healthy") is True, result.get("msg") or result
    names = [c["name"] for c in result["checks"]]
    assert names[:4] == ["service", "alloy ready", "alloy healthy", "components"]
    assert {"delivery loki", "delivery prometheus", "data prometheus http://prometheus:9090",
            "data loki http://loki:3100 tenant lab"} <= set(names)
    assert result["changed"] is False


# ---- log files -> Loki (alloy_config_log_files; prepare.yml wrote the files, root:adm 0640) ----

def _file_streams(host) -> List[Dict[str, Any]]:
    """This host's streams of the scenario's log files (tenant lab) since the host started: the
    lab's Loki keeps what earlier runs of the scenario sent, under the same host names."""
    started = host.check_output('date -d "$(ps -o lstart= -p 1)" +%s')
    selector = '{job="fleet-lab-files",instance="%s"}' % host.check_output("hostname -s")
    out = host.check_output("curl -fsS -G -H 'X-Scope-OrgID: lab' --data-urlencode %s --data-urlencode limit=5000 "
                            "--data-urlencode start=%s000000000 http://loki:3100/loki/api/v1/query_range"
                            % (shlex.quote("query=" + selector), started))
    return json.loads(out)["data"]["result"]


def _lines(streams: List[Dict[str, Any]], filename: str) -> List[str]:
    return [line for s in streams if s["stream"].get("filename") == filename for _ts, line in s["values"]]


def _wait_for(host, filename: str, line: str) -> List[Dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        streams = _file_streams(host)
        if line in _lines(streams, filename) or time.monotonic() > deadline:
            return streams
        time.sleep(1)


def test_a_line_appended_to_a_log_file_reaches_loki_with_its_labels(host) -> None:
    line = "appended by the test %d" % time.time_ns()
    host.run_expect([0], "echo '%s' >> /var/log/fleet-lab/app.log" % line)
    streams = _wait_for(host, "/var/log/fleet-lab/app.log", line)
    lines = _lines(streams, "/var/log/fleet-lab/app.log")
    assert line in lines
    assert lines.count("written before Alloy started") == 1  # read from the start once, not again
    stream = next(s["stream"] for s in streams if s["stream"].get("filename") == "/var/log/fleet-lab/app.log")
    assert stream["instance"] == host.check_output("hostname -s")
    assert "__path__" not in stream


def test_globs_reach_nested_files_and_leave_out_the_excluded_ones(host) -> None:
    streams = _wait_for(host, "/var/log/fleet-lab/nested/worker.log", "written in a nested directory")
    assert _lines(streams, "/var/log/fleet-lab/nested/worker.log") == ["written in a nested directory"]
    assert _lines(streams, "/var/log/fleet-lab/app.old.log") == []


def test_positions_are_kept_under_the_storage_path(host) -> None:
    positions = host.file("/var/lib/alloy/data/loki.source.file.files/positions.yml")
    assert positions.user == "alloy"
    assert "/var/log/fleet-lab/app.log" in positions.content_string


# ---- OTLP from an application -> Alloy -> the lab's OTLP backend and Prometheus ----

def _otlp_send(host, instance: str) -> None:
    """The application side: one span, one gauge and one log record over OTLP/HTTP to the agent."""
    host.run_expect([0], "PYTHONPATH=/opt/fleet-lab/standins python3 -m otlp_sink.client "
                         "--endpoint http://127.0.0.1:4318 --signal all --service-name fleet-lab-app "
                         "--service-instance-id %s --name fleet_lab_otlp_gauge --value 7" % instance)


def _received(host, instance: str) -> List[Dict[str, Any]]:
    """What the lab's OTLP backend accepted for this instance (its lab-only view, read from the host)."""
    out = json.loads(host.check_output("curl -fsS -k https://otlp:4318/lab/received"))
    return [r for r in out["requests"] if instance in json.dumps(r["resources"])]


def test_otlp_from_an_application_reaches_the_backend_with_the_configured_auth(host) -> None:
    instance = "%s-%d" % (host.check_output("hostname -s"), time.time_ns())
    _otlp_send(host, instance)
    deadline = time.monotonic() + 60
    while {r["signal"] for r in _received(host, instance)} != {"traces", "metrics", "logs"}:
        assert time.monotonic() < deadline, _received(host, instance)
        time.sleep(1)
    for record in _received(host, instance):
        assert (record["user"], record["tenant"], record["path"]) == ("300001", "lab", "/v1/" + record["signal"])
        assert "fleet-lab-app" in json.dumps(record["resources"])


def test_otlp_metrics_are_converted_into_prometheus(host, lab_prometheus) -> None:
    instance = "%s-prom-%d" % (host.check_output("hostname -s"), time.time_ns())
    _otlp_send(host, instance)
    found = lab_prometheus(host, 'fleet_lab_otlp_gauge{job="fleet-lab-app",instance="%s"}' % instance)
    assert [float(r["value"][1]) for r in found] == [7.0]


def test_the_otlp_password_is_only_in_the_env_file(host) -> None:
    otlp = host.file("/etc/alloy/conf.d/fleet_otlp.alloy").content_string
    assert 'password = sys.env("FLEET_ALLOY_OTLP_0_PASSWORD")' in otlp
    assert "FLEET_ALLOY_OTLP_0_PASSWORD=" in host.file(_env_path(host)).content_string
    assert host.run("grep -rl -- lab-throwaway-glc-otlp /etc/alloy").rc == 1
