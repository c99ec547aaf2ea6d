"""TEST FIXTURE (stand-in for Grafana Alloy): what a prometheus.scrape does to its targets in one
round, as the Prometheus scrape loops Alloy runs do it (grafana/alloy
internal/component/prometheus/scrape/scrape.go; prometheus/prometheus scrape/target.go
PopulateLabels, scrape/scrape.go targetScraper.scrape and readResponse).

- Its targets: a clustered scrape's own (cluster.py), else all those it references
  (cluster_targets.resolve: written inline, prometheus.exporter.*.targets, discovery.relabel
  outputs), each distinct one once (a scrape pool keeps one loop per target).
- The labels of a target's series (PopulateDiscoveredLabels, PopulateLabels): the target's own
  less the reserved "__" ones, with job = the job_name (else the component's ID) and instance =
  __address__ only where the target has none. An exporter's target already carries
  job="integrations/<name>" (prometheus/exporter/exporter.go), which job_name does not change.
- A target of a prometheus.exporter.* (__address__ the in-memory address,
  cluster_targets.MEMORY_ADDR) is the stand-in's own built-in exporter: it always answers.
- Any other target is a real URL: GET <__scheme__>://<__address__><__metrics_path__>?<__param_*>
  with the scrape's basic_auth, bearer_token, authorization and tls_config, within its
  scrape_timeout (10s by default). It is up when it answers 200, else down, with last_error in
  Alloy's words: "server returned HTTP status 404 Not Found" (readResponse) or, without an
  answer, Go's *url.Error (`Get "<url>": dial tcp 127.0.0.1:1: connect: connection refused`,
  `Get "<url>": context deadline exceeded`, crypto/tls's words: http_tls.transport_error).
  A round scrapes its targets at once, each in a thread, as each has its own loop.

What a target answers is not parsed: one that answered gives the stand-in's usual series
(telemetry.Producer), one that did not only up = 0 (the report Prometheus appends for a failed
scrape).
"""
from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Dict, List
from urllib.parse import urlencode, urlsplit

from . import cluster_targets
from .cluster_ring import target_key
from .http_tls import transport_error
from .syntax import Block
from .telemetry import Labels, TargetScrape, _text, attr, duration, endpoint, exchange, request_headers

MAX_THREADS = 32


def targets(scrape: Block, blocks: Dict[str, Block]) -> List[Labels]:
    """Every target an unclustered prometheus.scrape references, each distinct one once."""
    distinct: Dict[int, Labels] = {}
    for target in cluster_targets.resolve(attr(scrape, "targets"), blocks):
        distinct.setdefault(target_key(target), target)
    return list(distinct.values())


def target_url(scrape: Block, target: Labels) -> str:
    """The URL a scrape loop fetches (Prometheus scrape.Target.URL)."""
    scheme = target.get("__scheme__") or _text(scrape, "scheme", "http")
    path = target.get("__metrics_path__") or _text(scrape, "metrics_path", "/metrics")
    params = sorted((name[len("__param_"):], value) for name, value in target.items() if name.startswith("__param_"))
    return f"{scheme}://{target.get('__address__', '')}{path}" + (f"?{urlencode(params)}" if params else "")


def series_labels(job: str, target: Labels) -> Labels:
    """The labels a target's series and status show: the target's own less the reserved ones,
    job and instance filled in where it has none."""
    labels = {"job": job, "instance": target.get("__address__", "")}
    labels.update((name, value) for name, value in target.items() if not name.startswith("__"))
    return labels


def _failure(url: str, timeout: float, server_name: str, err: Exception) -> str:
    """last_error of a scrape that got no answer: Go's *url.Error."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f'Get "{url}": ' + transport_error(err, host, port, server_name or host, timeout)


def scrape_target(scrape: Block, target: Labels) -> TargetScrape:
    """One scrape of target by the prometheus.scrape scrape (see the module docstring)."""
    if target.get("__address__") == cluster_targets.MEMORY_ADDR:
        return TargetScrape(target)
    timeout = duration(_text(scrape, "scrape_timeout"), 10.0)
    ep = replace(endpoint("scrape", scrape), url=target_url(scrape, target), timeout=timeout)
    started = time.monotonic()
    try:
        headers = request_headers(ep, {"X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}"})
        status, reason, _ = exchange(ep, "GET", None, headers)
        error = "" if status == 200 else f"server returned HTTP status {status} {reason}".rstrip()
    except (OSError, http.client.HTTPException, ValueError) as err:
        error = _failure(ep.url, timeout, str(ep.tls.get("server_name") or ""), err)
    return TargetScrape(target, error, time.monotonic() - started)


def scrape_round(scrape: Block, found: List[Labels]) -> List[TargetScrape]:
    """One scrape of each of found, all at once; in found's order."""
    if not found:
        return []
    with ThreadPoolExecutor(max_workers=min(len(found), MAX_THREADS)) as pool:
        return list(pool.map(lambda target: scrape_target(scrape, target), found))
