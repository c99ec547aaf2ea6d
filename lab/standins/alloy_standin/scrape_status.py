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
prometheus.exporter.*.targets, discovery.relabel outputs: scrape_loop.targets), each
distinct one once. Per target: job (the job_name, else the component's ID: the scrape pool's
name, whatever job label the target carries), url (__scheme__ or scheme, __address__,
__metrics_path__ or metrics_path, __param_* as the query), health (after the stand-in's round
scraped it: up when it answered, down when not, with last_error, as scrape_loop.py; unknown
before), labels (the target's labels less the reserved "__" ones, with instance = __address__
and job unless the target has them: Prometheus' PopulateLabels, so an exporter's target shows
its own job="integrations/<name>"), last_scrape (Go's zero time before) and
last_scrape_duration (whole milliseconds, at least 1ms).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Dict, List, Tuple

from .remotecfg import go_duration
from .scrape_loop import series_labels, target_url
from .telemetry import Labels, TargetScrape, Telemetry, _text

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
Key = Tuple[Tuple[str, str], ...]  # a target's labels, sorted


def _value(kind: str, value: object) -> Dict[str, object]:
    return {"type": kind, "value": value}


def _attr(name: str, value: Dict[str, object]) -> Dict[str, object]:
    return {"name": name, "type": "attr", "value": value}


def _rfc3339(seconds: float) -> str:
    """Go's time.Time.MarshalText (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC."""
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc)
    fraction = f"{stamp.microsecond:06d}".rstrip("0")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _key(target: Labels) -> Key:
    return tuple(sorted(target.items()))


def debug_info(telemetry: Telemetry, cid: str) -> List[Dict[str, object]]:
    """The component's debugInfo body: a prometheus.scrape's target blocks, [] for the others."""
    producer, last = telemetry.scrape_view(cid)
    block = producer.blocks.get(cid)
    if block is None or block.name != "prometheus.scrape":
        return []
    job = _text(block, "job_name", block.id)
    when, scraped = last if last else (0.0, [])
    results: Dict[Key, TargetScrape] = {_key(done.target): done for done in scraped}
    body = []
    for target in producer.active_targets(block):
        done = results.get(_key(target))
        health = "unknown" if done is None else "down" if done.error else "up"
        fields = [  # TargetStatus' fields in their order, last_error only when there is one
            _attr("job", _value("string", job)),
            _attr("url", _value("string", target_url(block, target))),
            _attr("health", _value("string", health)),
            _attr("labels", _value("object", [{"key": key, "value": _value("string", value)}
                                              for key, value in sorted(series_labels(job, target).items())])),
            *([_attr("last_error", _value("string", done.error))] if done and done.error else []),
            _attr("last_scrape", _value("string", _rfc3339(when) if done else GO_ZERO_TIME)),
        ]
        if done:
            fields.append(_attr("last_scrape_duration", _value("string", go_duration(max(done.seconds, 0.001)))))
        body.append({"name": "target", "type": "block", "body": fields})
    return body
