"""TEST FIXTURE (stand-in for Grafana Alloy): the targets a prometheus.scrape with
`clustering { enabled = true }` shards, as far as the stand-in can know them.

Targets written inline (objects of strings), prometheus.exporter.<name>.<label>.targets (one
target as internal/component/prometheus/exporter/exporter.go builds it: __address__ the
in-memory listen address alloy.internal:12345, __scheme__ http, __metrics_path__
/api/v0/component/<id>/metrics, job integrations/<name>, __meta_component_name,
__meta_component_id, and instance = the hostname, the default instance key of the
host-specific exporters) and discovery.relabel.<label>.output (its targets through its rules,
replace/keep/drop as telemetry.relabel applies them), alone or in an array, or joined by
array.concat. Any other reference (discovery.kubernetes, remote discovery ...) resolves to no
target: the stand-in does not model service discovery.
"""
from __future__ import annotations

import socket
from typing import Dict, List, Optional

from .syntax import Access, ArrayExpr, Block, Call, Expr, Ident, ObjectExpr, chain_name
from .telemetry import Labels, attr, children, evaluate, relabel

MEMORY_ADDR = "alloy.internal:12345"  # --server.http.memory-addr's default


def exporter_target(block: Block) -> Labels:
    """The one target a prometheus.exporter.* component exports."""
    name = block.name.rsplit(".", 1)[1]
    return {
        "__address__": MEMORY_ADDR,
        "__scheme__": "http",
        "__metrics_path__": f"/api/v0/component/{block.id}/metrics",
        "job": f"integrations/{name}",
        "__meta_component_name": block.name,
        "__meta_component_id": block.id,
        "instance": socket.gethostname(),
    }


def _reference(name: str, blocks: Dict[str, Block], depth: int) -> List[Labels]:
    owner, _, export = name.rpartition(".")
    block = blocks.get(owner)
    if block is None:
        return []
    if block.name.startswith("prometheus.exporter.") and export == "targets":
        return [exporter_target(block)]
    if block.name == "discovery.relabel" and export == "output":
        rules = children(block, "rule")
        found = (relabel(t, rules) for t in resolve(attr(block, "targets"), blocks, depth + 1))
        return [t for t in found if t is not None]
    return []


def resolve(expr: Optional[Expr], blocks: Dict[str, Block], depth: int = 0) -> List[Labels]:
    """The targets an expression stands for (see the module docstring); [] when unknown."""
    if expr is None or depth > 16:
        return []
    if isinstance(expr, ArrayExpr):
        out: List[Labels] = []
        for item in expr.items:
            out.extend(resolve(item, blocks, depth) if not isinstance(item, ObjectExpr)
                       else [{str(k): str(v) for k, v in dict(evaluate(item) or {}).items()}])
        return out
    if isinstance(expr, Call) and chain_name(expr.target) == "array.concat":
        return [t for arg in expr.args for t in resolve(arg, blocks, depth)]
    if isinstance(expr, (Access, Ident)):
        name = chain_name(expr)
        return _reference(name, blocks, depth) if name else []
    return []
