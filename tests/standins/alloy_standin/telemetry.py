"""TEST FIXTURE (stand-in for Grafana Alloy): the telemetry the stand-in sends.

A mimic of the two pipelines' data flow, enough for a lab to see data arrive:
- every prometheus.scrape produces `up`, `node_load1` (the real load average) and
  `node_time_seconds` with job and instance labels, follows forward_to through
  prometheus.relabel rules (replace/keep/drop with regex) to prometheus.remote_write,
  adds its external_labels and POSTs a snappy protobuf WriteRequest to every endpoint
  (basic auth, bearer token and headers applied), appending the samples to its WAL;
- every loki.source.journal produces one heartbeat line from synthetic journal fields
  relabelled by its relabel_rules, adds its static labels, follows forward_to (through
  loki.process static_labels stages) to loki.write and pushes JSON to every endpoint.
It does not read the journal or /proc beyond the load average.
"""
from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from lab_wire import encode_write_request

from .syntax import Access, ArrayExpr, Attribute, Block, Call, Expr, Ident, ObjectExpr, chain_name, evaluate_literal

Labels = Dict[str, str]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(text: str, default: float) -> float:
    parts = _DURATION.findall(text or "")
    return sum(float(n) * _UNITS[u] for n, u in parts) if parts else default


def evaluate(expr: Optional[Expr]) -> object:
    """Constants, sys.env("X"), constants.hostname, arrays and objects of those."""
    if expr is None:
        return None
    if isinstance(expr, Call) and chain_name(expr.target) == "sys.env" and expr.args:
        return os.environ.get(str(evaluate(expr.args[0])), "")
    if isinstance(expr, (Access, Ident)) and chain_name(expr) == "constants.hostname":
        return socket.gethostname()
    if isinstance(expr, ArrayExpr):
        return [evaluate(item) for item in expr.items]
    if isinstance(expr, ObjectExpr):
        return {key: evaluate(value) for key, value in expr.fields}
    try:
        return evaluate_literal(expr)
    except ValueError:
        return None


def attr(block: Block, name: str) -> Optional[Expr]:
    for stmt in block.body:
        if isinstance(stmt, Attribute) and stmt.name == name:
            return stmt.value
    return None


def children(block: Block, name: str) -> List[Block]:
    return [s for s in block.body if isinstance(s, Block) and s.name == name]


def references(expr: Optional[Expr]) -> List[str]:
    """Component IDs referenced by a forward_to list (x.y.label.receiver -> x.y.label)."""
    if not isinstance(expr, ArrayExpr):
        return []
    names = [chain_name(item) for item in expr.items]
    return [name.rsplit(".", 1)[0] for name in names if name]


def relabel(labels: Labels, rules: List[Block]) -> Optional[Labels]:
    """Prometheus relabelling for replace, keep and drop; None when the series is dropped."""
    out = dict(labels)
    for rule in rules:
        action = str(evaluate(attr(rule, "action")) or "replace")
        sources = evaluate(attr(rule, "source_labels")) or []
        separator = str(evaluate(attr(rule, "separator")) or ";")
        value = separator.join(out.get(str(s), "") for s in sources)  # type: ignore[union-attr]
        match = re.fullmatch(str(evaluate(attr(rule, "regex")) or "(.*)"), value)
        if action == "keep" and not match or action == "drop" and match:
            return None
        target = evaluate(attr(rule, "target_label"))
        if action == "replace" and match and target:
            replacement = str(evaluate(attr(rule, "replacement")) if attr(rule, "replacement") else "$1")
            out[str(target)] = match.expand(re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", replacement))
    return {k: v for k, v in out.items() if v != ""}


class Sender:
    """One round of telemetry over the agent's current components."""

    def __init__(self, blocks: Dict[str, Block], storage: Path) -> None:
        self.blocks = blocks
        self.storage = storage
        self.results: Dict[str, str] = {}

    def interval(self) -> float:
        scrapes = [b for b in self.blocks.values() if b.name == "prometheus.scrape"]
        return min([duration(str(evaluate(attr(b, "scrape_interval")) or ""), 60.0) for b in scrapes] or [60.0])

    def run(self) -> Dict[str, str]:
        now_ms = int(time.time() * 1000)
        for block in self.blocks.values():
            if block.name == "prometheus.scrape":
                self._metrics(block, now_ms)
            elif block.name == "loki.source.journal":
                self._journal(block, now_ms)
        return self.results

    def _follow(self, start: Block, labels: Labels) -> Iterator[Tuple[Block, Labels]]:
        """(sink, labels) for every sink that start's forward_to reaches."""
        for cid in references(attr(start, "forward_to")):
            target = self.blocks.get(cid)
            if target is None:
                continue
            if target.name in ("prometheus.relabel", "loki.relabel"):
                changed = relabel(labels, children(target, "rule"))
                if changed is not None:
                    yield from self._follow(target, changed)
            elif target.name == "loki.process":
                extra: Labels = {}
                for stage in children(target, "stage.static_labels"):
                    extra.update({k: str(v) for k, v in (evaluate(attr(stage, "values")) or {}).items()})
                yield from self._follow(target, dict(labels, **extra))
            else:
                yield target, labels

    def _metrics(self, scrape: Block, now_ms: int) -> None:
        job = str(evaluate(attr(scrape, "job_name")) or scrape.id)
        base = {"job": job, "instance": "127.0.0.1:12345"}
        samples = [("up", 1.0), ("node_load1", os.getloadavg()[0]), ("node_time_seconds", time.time())]
        for sink, labels in self._follow(scrape, base):
            if sink.name != "prometheus.remote_write":
                continue
            external = {k: str(v) for k, v in (evaluate(attr(sink, "external_labels")) or {}).items()}
            series = [(dict(labels, **external, __name__=name), value, now_ms) for name, value in samples]
            payload = encode_write_request(series)
            self._wal(sink, payload)
            for endpoint in children(sink, "endpoint"):
                self._post(sink, endpoint, payload, {"Content-Encoding": "snappy",
                                                      "Content-Type": "application/x-protobuf",
                                                      "X-Prometheus-Remote-Write-Version": "0.1.0"})

    def _journal(self, source: Block, now_ms: int) -> None:
        fields = {"__journal__systemd_unit": "alloy.service", "__journal__hostname": socket.gethostname(),
                  "__journal_priority": "6", "__journal_priority_keyword": "info"}
        rules_ref = chain_name(attr(source, "relabel_rules")) if attr(source, "relabel_rules") else None
        rules_block = self.blocks.get(rules_ref.rsplit(".", 1)[0]) if rules_ref else None
        labels = relabel(fields, children(rules_block, "rule")) if rules_block else dict(fields)
        if labels is None:
            return
        labels = {k: v for k, v in labels.items() if not k.startswith("__")}
        labels.update({k: str(v) for k, v in (evaluate(attr(source, "labels")) or {}).items()})
        line = f"alloy stand-in heartbeat from {socket.gethostname()}"
        for sink, final in self._follow(source, labels):
            if sink.name != "loki.write":
                continue
            external = {k: str(v) for k, v in (evaluate(attr(sink, "external_labels")) or {}).items()}
            body = {"streams": [{"stream": dict(final, **external), "values": [[str(now_ms * 1000000), line]]}]}
            for endpoint in children(sink, "endpoint"):
                self._post(sink, endpoint, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _post(self, sink: Block, endpoint: Block, payload: bytes, headers: Dict[str, str]) -> None:
        url = str(evaluate(attr(endpoint, "url")))
        headers = dict(headers, **{k: str(v) for k, v in (evaluate(attr(endpoint, "headers")) or {}).items()})
        tenant = evaluate(attr(endpoint, "tenant_id"))
        if tenant:
            headers["X-Scope-OrgID"] = str(tenant)
        token = evaluate(attr(endpoint, "bearer_token"))
        basic = children(endpoint, "basic_auth")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif basic:
            user, password = evaluate(attr(basic[0], "username")), evaluate(attr(basic[0], "password"))
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                self.results[f"{sink.id} {url}"] = f"HTTP {answer.status}"
        except urllib.error.HTTPError as err:
            self.results[f"{sink.id} {url}"] = f"HTTP {err.code}: {err.read(300).decode(errors='replace')}"
        except OSError as err:
            self.results[f"{sink.id} {url}"] = f"error: {err}"

    def _wal(self, sink: Block, payload: bytes) -> None:
        segment = self.storage / sink.id / "wal" / "00000000"
        if segment.parent.is_dir() and (not segment.exists() or segment.stat().st_size < 4 * 1024 * 1024):
            with segment.open("ab") as handle:
                handle.write(len(payload).to_bytes(4, "big") + payload)
