"""The stand-in Alloy under systemd in a lab host: ready, components, reload semantics."""
from __future__ import annotations

import json
import re
import time

from conftest import Host
from test_lab_repositories import _apt_source

PIPELINE = """loki.write "default" {
  endpoint {
    url = "http://loki:3100/loki/api/v1/push"
  }
}

loki.source.journal "read" {
  forward_to = [loki.write.default.receiver]
}
"""

BROKEN = 'loki.write "default" {\n  endpoint {\n    url = [\n      "x"\n    ]\n  }\n'


def _get(host: Host, path: str, method: str = "GET") -> tuple[int, str]:
    out = host.sh(f"curl -s -X {method} -o /tmp/body -w '%{{http_code}}' http://127.0.0.1:12345{path}; echo; cat /tmp/body")
    code, _, body = out.stdout.partition("\n")
    return int(code), body


def _wait_ready(host: Host) -> None:
    for _ in range(60):
        if host.sh("curl -fs http://127.0.0.1:12345/-/ready", check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(host.sh("journalctl -u alloy --no-pager | tail -20", check=False).stdout)


def _components(host: Host) -> dict[str, str]:
    code, body = _get(host, "/api/v0/web/components")
    assert code == 200
    return {c["localID"]: c["health"]["state"] for c in json.loads(body)}


def _main_pid(host: Host) -> str:
    return host.sh("systemctl show -p MainPID --value alloy").stdout.strip()


def test_standin_service_serves_reloads_and_keeps_the_old_config_on_a_bad_one(new_host) -> None:
    host = new_host("debian12")
    _apt_source(host, "lab")
    host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq alloy=1.10.0-1")
    host.sh(f"cat > /etc/alloy/config.alloy <<'EOF'\n{PIPELINE}EOF")
    host.sh("systemctl enable --now alloy")
    _wait_ready(host)
    assert _get(host, "/-/ready") == (200, "Alloy is ready.\n")
    assert _components(host) == {"loki.write.default": "healthy", "loki.source.journal.read": "healthy"}
    pid = _main_pid(host)
    assert host.sh("ls /var/lib/alloy/data").stdout.split() == ["alloy_seed.json"]

    host.sh(f"cat > /etc/alloy/config.alloy <<'EOF'\n{BROKEN}EOF")
    code, body = _get(host, "/-/reload", "POST")
    assert code == 400 and "config.alloy" in body, body
    assert _get(host, "/-/ready")[0] == 200
    assert set(_components(host)) == {"loki.write.default", "loki.source.journal.read"}

    host.sh("systemctl reload alloy")  # SIGHUP with the same broken file: logged, never fatal
    time.sleep(1)
    assert _main_pid(host) == pid
    assert "failed to reload config" in host.sh("journalctl -u alloy --no-pager").stdout

    host.sh("""cat > /etc/alloy/config.alloy <<'EOF'
prometheus.remote_write "default" {
  endpoint {
    url = "http://127.0.0.1:9/api/v1/write"
  }
}
EOF""")
    assert _get(host, "/-/reload")[0] == 200
    # As real Alloy: a writer whose backend refuses stays healthy; only its metrics tell.
    assert _components(host) == {"prometheus.remote_write.default": "healthy"}
    assert _get(host, "/-/healthy")[0] == 200
    code, metrics = _get(host, "/metrics")
    assert code == 200 and re.search(r'prometheus_remote_storage_samples_pending\{[^}]*'
                                     r'component_id="prometheus.remote_write.default"', metrics), metrics[-2000:]
    assert host.sh("ls /var/lib/alloy/data/prometheus.remote_write.default/wal").stdout.split() == ["00000000"]
    assert _main_pid(host) == pid
