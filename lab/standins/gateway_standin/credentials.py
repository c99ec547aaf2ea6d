"""TEST FIXTURE (gateway stand-in): the throwaway lab credentials, read from
lab_credentials.json (one file, shared with the lab inventory through
ALLOY_LAB_CREDENTIALS)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

DEFAULT_PATH = Path(__file__).resolve().with_name("lab_credentials.json")


@dataclass(frozen=True)
class LokiCredential:
    username: str
    password: str
    tenants: Tuple[str, ...]


@dataclass(frozen=True)
class PrometheusCredential:
    username: str
    password: str
    bearer_token: str


@dataclass(frozen=True)
class CloudMetricsCredential:
    username: str  # the metrics instance ID
    rw_token: str
    write_only_token: str


@dataclass(frozen=True)
class CloudLogsCredential:
    username: str  # the logs instance ID, also the tenant
    token: str


@dataclass(frozen=True)
class Credentials:
    loki: LokiCredential
    prometheus: PrometheusCredential
    cloud_metrics: CloudMetricsCredential
    cloud_logs: CloudLogsCredential


def _string(section: Dict[str, object], name: str) -> str:
    value = section[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"lab credentials: {name} must be a non-empty string")
    return value


def _tenants(section: Dict[str, object]) -> Tuple[str, ...]:
    tenants = section["tenants"]
    if not isinstance(tenants, list) or not all(isinstance(t, str) and t for t in tenants):
        raise ValueError("lab credentials: loki.tenants must be a list of tenant IDs")
    return tuple(tenants)


def _instance_id(section: Dict[str, object]) -> str:
    user = _string(section, "username")
    if not user.isdigit():
        raise ValueError(f"lab credentials: a Grafana Cloud user is a numeric instance ID, not {user!r}")
    return user


def parse(data: Dict[str, Dict[str, object]]) -> Credentials:
    loki, prom = data["loki"], data["prometheus"]
    metrics, logs = data["cloud_metrics"], data["cloud_logs"]
    return Credentials(
        loki=LokiCredential(_string(loki, "username"), _string(loki, "password"), _tenants(loki)),
        prometheus=PrometheusCredential(_string(prom, "username"), _string(prom, "password"),
                                        _string(prom, "bearer_token")),
        cloud_metrics=CloudMetricsCredential(_instance_id(metrics), _string(metrics, "rw_token"),
                                             _string(metrics, "write_only_token")),
        cloud_logs=CloudLogsCredential(_instance_id(logs), _string(logs, "token")),
    )


def load(path: Path = DEFAULT_PATH) -> Credentials:
    return parse(json.loads(path.read_text()))
