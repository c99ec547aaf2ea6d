"""TEST FIXTURE (stand-in for Grafana Alloy): what GET /api/v0/web/components/<id> shows as
`debugInfo` for a prometheus.scrape - its ScraperStatus, one `target` block per target the
component's scrape manager has (internal/component/prometheus/scrape/scrape.go DebugInfo,
BuildTargetStatuses over scraper.TargetsActive()), in alloyjson's body shape
(syntax/encoding/alloyjson: blocks {"name","type":"block","body"}, attributes
{"name","type":"attr","value":{"type","value"}}, a map as an object of sorted
{"key","value"} fields, a time as its RFC 3339 text, a duration as Go prints it, the optional
last_error left out when empty).

The targets are those the scrape manager was given: with clustering, only the ones the hash
ring gives this node (cluster.py), else all of them (targets written inline,
prometheus.exporter.*.targets, discovery.relabel outputs: cluster_targets.resolve), each
distinct one once. Per target: job (the job_name, else the component's ID), url
(__scheme__ or scheme, __address__, __metrics_path__ or metrics_path, __param_* as the query),
health (up once the stand-in's round scraped it, unknown before; the stand-in never reaches
the target itself), labels (the target's labels less the reserved "__" ones, with instance =
__address__ and job unless the target has them: Prometheus' PopulateLabels), last_scrape (Go's
zero time before) and last_scrape_duration.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlencode

from . import cluster_targets
from .cluster_ring import target_key
from .syntax import Block
from .telemetry import Labels, Telemetry, _text, attr

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
SCRAPE_DURATION = "1ms"  # what the stand-in reports for a round (it scrapes nothing over the network)


def _value(kind: str, value: object) -> Dict[str, object]:
    return {"type": kind, "value": value}


def _attr(name: str, value: Dict[str, object]) -> Dict[str, object]:
    return {"name": name, "type": "attr", "value": value}


def _rfc3339(seconds: float) -> str:
    """Go's time.Time.MarshalText (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC."""
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    fraction = f"{stamp.microsecond:06d}".rstrip("0")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def target_url(scrape: Block, target: Labels) -> str:
    """The URL a scrape loop fetches (Prometheus scrape.Target.URL)."""
    scheme = target.get("__scheme__") or _text(scrape, "scheme", "http")
    path = target.get("__metrics_path__") or _text(scrape, "metrics_path", "/metrics")
    params = sorted((name[len("__param_"):], value) for name, value in target.items() if name.startswith("__param_"))
    return f"{scheme}://{target.get('__address__', '')}{path}" + (f"?{urlencode(params)}" if params else "")


def public_labels(job: str, target: Labels) -> Labels:
    """The labels a scrape target shows: instance and job filled in, the reserved ones left out."""
    labels = {"job": job, "instance": target.get("__address__", "")}
    labels.update((name, value) for name, value in target.items() if not name.startswith("__"))
    return labels


Round = Optional[Tuple[float, List[Labels]]]  # a scrape's last round: (wall time, its targets)


def _targets(telemetry: Telemetry, cid: str) -> Optional[Tuple[Block, List[Labels], Round]]:
    producer, last = telemetry.scrape_view(cid)
    block = producer.blocks.get(cid)
    if block is None or block.name != "prometheus.scrape":
        return None
    active = producer.active_targets(block)
    if active is None:  # unclustered references: all of them
        distinct: Dict[int, Labels] = {}
        for target in cluster_targets.resolve(attr(block, "targets"), producer.blocks):
            distinct.setdefault(target_key(target), target)
        active = list(distinct.values())
    return block, active, last


def debug_info(telemetry: Telemetry, cid: str) -> List[Dict[str, object]]:
    """The component's debugInfo body: a prometheus.scrape's target blocks, [] for the others."""
    found = _targets(telemetry, cid)
    if found is None:
        return []
    block, active, last = found
    job = _text(block, "job_name", block.id)
    scraped = {tuple(sorted(t.items())) for t in last[1]} if last else set()
    body = []
    for target in active:
        done = last is not None and tuple(sorted(target.items())) in scraped
        fields = [
            _attr("job", _value("string", job)),
            _attr("url", _value("string", target_url(block, target))),
            _attr("health", _value("string", "up" if done else "unknown")),
            _attr("labels", _value("object", [{"key": key, "value": _value("string", value)}
                                              for key, value in sorted(public_labels(job, target).items())])),
            _attr("last_scrape", _value("string", _rfc3339(last[0]) if done and last else GO_ZERO_TIME)),
        ]
        if done:
            fields.append(_attr("last_scrape_duration", _value("string", SCRAPE_DURATION)))
        body.append({"name": "target", "type": "block", "body": fields})
    return body
