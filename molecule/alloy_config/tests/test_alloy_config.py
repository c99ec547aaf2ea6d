"""alloy_config on a lab host: files, modes, secrets only in the env file, the running
Alloy loaded our pipelines and they reach the lab's Loki stand-in and Prometheus."""
from __future__ import annotations

import json

import pytest

SECRETS = ["lab-loki-password-9f3a", "lab-prometheus-token-5d1e", "lab-loki-password-rotated-77c1"]
FILES = ["fleet_00_logging.alloy", "fleet_journal.alloy", "fleet_prometheus.alloy", "fleet_unix.alloy"]


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
    journal = host.file("/etc/alloy/conf.d/fleet_journal.alloy").content_string
    assert 'password = sys.env("FLEET_ALLOY_LOKI_0_PASSWORD")' in journal
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
                "prometheus.exporter.unix.default", "prometheus.scrape.unix", "prometheus.relabel.instance",
                "prometheus.remote_write.default"):
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
