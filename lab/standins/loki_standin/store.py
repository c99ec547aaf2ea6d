"""TEST FIXTURE (Loki stand-in): the in-memory log store, kept per tenant as in a
multi-tenant Loki. Entries of one label set pushed in several requests form one stream."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Tuple

Labels = Dict[str, str]
Entry = List[str]  # [timestamp in ns as a string, line]
StreamKey = FrozenSet[Tuple[str, str]]


@dataclass
class Stream:
    labels: Labels
    values: List[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    selector: Labels
    start_ns: int
    end_ns: int
    limit: int
    forward: bool


class Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: Dict[str, Dict[StreamKey, Stream]] = {}
        self._received: List[Dict[str, object]] = []

    def add(self, tenant: str, streams: List[Dict[str, object]]) -> None:
        with self._lock:
            mine = self._tenants.setdefault(tenant, {})
            for pushed in streams:
                labels = dict(pushed["stream"])  # type: ignore[call-overload]
                values = [list(v) for v in pushed["values"]]  # type: ignore[attr-defined]
                key = frozenset(labels.items())
                mine.setdefault(key, Stream(labels)).values.extend(values)
                self._received.append({"tenant": tenant, "stream": labels, "values": values})

    def query(self, tenant: str, query: Query) -> List[Dict[str, object]]:
        with self._lock:
            streams = list(self._tenants.get(tenant, {}).values())
            found = [_select(s, query) for s in streams
                     if all(s.labels.get(k) == v for k, v in query.selector.items())]
        return _limit([f for f in found if f.values], query)

    def received(self) -> List[Dict[str, object]]:
        with self._lock:
            return [dict(item) for item in self._received]

    def tenants(self) -> List[str]:
        with self._lock:
            return sorted(self._tenants)


def _select(stream: Stream, query: Query) -> Stream:
    values = [v for v in stream.values if query.start_ns <= int(v[0]) < query.end_ns]
    values.sort(key=lambda v: int(v[0]), reverse=not query.forward)
    return Stream(stream.labels, values)


def _limit(streams: List[Stream], query: Query) -> List[Dict[str, object]]:
    """At most query.limit entries in all, the first ones in the query's direction."""
    entries = [(int(v[0]), i, n) for i, s in enumerate(streams) for n, v in enumerate(s.values)]
    entries.sort(key=lambda e: e[0], reverse=not query.forward)
    kept = {(i, n) for _, i, n in entries[:query.limit]}
    result: List[Dict[str, object]] = []
    for i, stream in enumerate(streams):
        values = [v for n, v in enumerate(stream.values) if (i, n) in kept]
        if values:
            result.append({"stream": stream.labels, "values": values})
    return result
