"""TEST FIXTURE (Fleet Management stand-in): the pipelines, the collectors and what the
collector API does with them (see __init__.py for the behaviour and what is unconfirmed)."""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from lab_wire.connect import ConnectError
from lab_wire.gojson import go_string

from . import matchers as fm_matchers
from .proto import STATUSES, Message

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
COLLECTOR_ID = "collector.ID"  # the virtual attribute Fleet Management adds (glossary)


@dataclass
class Pipeline:
    name: str
    contents: str
    matchers: List[str]
    enabled: bool = True

    def selects(self, attributes: Dict[str, str]) -> bool:
        return self.enabled and fm_matchers.select(fm_matchers.parse_all(self.matchers), attributes)


def make_pipeline(name: str, contents: Any, matchers: Any, enabled: Any = True) -> Pipeline:
    """A checked pipeline; ValueError saying what is wrong."""
    if not IDENTIFIER.match(name):
        raise ValueError(f"pipeline name {name!r} is not an identifier (letters, digits, _)")
    if not isinstance(contents, str):
        raise ValueError(f"pipeline {name}: contents must be a string")
    if not isinstance(matchers, list) or not all(isinstance(m, str) for m in matchers):
        raise ValueError(f"pipeline {name}: matchers must be a list of strings")
    if not isinstance(enabled, bool):
        raise ValueError(f"pipeline {name}: enabled must be true or false")
    fm_matchers.parse_all(matchers)
    return Pipeline(name, contents, list(matchers), enabled)


def load_pipelines(directory: Path) -> Dict[str, Pipeline]:
    """<name>.alloy with its sidecar <name>.json ({"matchers": [...], "enabled": true}) each."""
    pipelines = {}
    for path in sorted(directory.glob("*.alloy")):
        sidecar = path.with_suffix(".json")
        if not sidecar.is_file():
            raise ValueError(f"{path}: no sidecar {sidecar.name} with its matchers")
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"{sidecar}: expected {{\"matchers\": [...], \"enabled\": true}}")
        pipelines[path.stem] = make_pipeline(path.stem, path.read_text(encoding="utf-8"),
                                             meta.get("matchers"), meta.get("enabled", True))
    return pipelines


def render(pipeline: Pipeline, attributes: Dict[str, str]) -> str:
    """One pipeline as a module: declared, then instantiated with the collector's attributes."""
    pairs = "".join(f"\t\t{go_string(k, False)} = {go_string(attributes[k], False)},\n" for k in sorted(attributes))
    body = pipeline.contents if pipeline.contents.endswith("\n") or not pipeline.contents else \
        pipeline.contents + "\n"
    return (f'declare "{pipeline.name}" {{\n\targument "attributes" {{\n\t\toptional = true\n\t}}\n\n{body}}}\n\n'
            f'{pipeline.name} "default" {{\n\tattributes = {{\n{pairs}\t}}\n}}\n')


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass
class Collector:
    id: str
    name: str = ""
    local_attributes: Dict[str, str] = field(default_factory=dict)
    remote_attributes: Dict[str, str] = field(default_factory=dict)  # lab-set, as in the UI
    registered: bool = False
    register_calls: int = 0
    get_config_calls: int = 0
    first_contact: float = 0.0
    last_contact: float = 0.0
    unregistered_at: Optional[float] = None
    remote_config_status: Optional[Dict[str, str]] = None  # {"status": name, "error_message": ...}
    status_history: List[Dict[str, str]] = field(default_factory=list)
    effective_config: Optional[str] = None
    last_request_hash: str = ""
    last_served_hash: str = ""
    pipelines: List[str] = field(default_factory=list)  # served last time
    user: str = ""
    user_agent: str = ""

    def attributes(self) -> Dict[str, str]:
        """What the matchers see: local, then remote (they win), then collector.ID."""
        return {**self.local_attributes, **self.remote_attributes, COLLECTOR_ID: self.id}


def _status(reported: Message) -> Dict[str, str]:
    number = reported.get("status", 0)
    name = STATUSES[number] if 0 <= number < len(STATUSES) else str(number)
    return {"status": name, "error_message": reported.get("error_message", "")}


def _effective(reported: Message) -> str:
    files = reported.get("config_map", {}).get("config_map", {})
    return "".join(f.get("body", b"").decode("utf-8", "replace") for _, f in sorted(files.items()))


def _local(request: Message) -> Dict[str, str]:
    """local_attributes, or the deprecated attributes an older Alloy sends instead."""
    return dict(request.get("local_attributes") or request.get("attributes") or {})


class Fleet:
    """The stand-in's state; every method takes the one lock."""

    def __init__(self, pipelines: Dict[str, Pipeline], clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.lock = threading.Lock()
        self.pipelines = dict(pipelines)
        self.collectors: Dict[str, Collector] = {}
        self.clock, self.wall = clock, wall
        self.down_until = 0.0
        self.down_procedures: Optional[frozenset] = None  # None: every procedure

    # ---- the collector API -------------------------------------------------------------

    def _contact(self, collector_id: str, user: str, agent: str) -> Collector:
        if not collector_id:
            raise ConnectError("invalid_argument", "id is required")
        now = self.wall()
        collector = self.collectors.setdefault(collector_id, Collector(collector_id, first_contact=now))
        collector.last_contact, collector.user, collector.user_agent = now, user, agent
        return collector

    def register(self, request: Message, user: str, agent: str) -> Message:
        with self.lock:
            collector = self._contact(request.get("id", ""), user, agent)
            collector.name = request.get("name", "")
            collector.local_attributes = _local(request)
            collector.registered, collector.unregistered_at = True, None
            collector.register_calls += 1
        return {}

    def unregister(self, request: Message, user: str, agent: str) -> Message:
        with self.lock:
            collector = self.collectors.get(request.get("id", ""))
            if collector is None or not collector.registered:
                raise ConnectError("not_found", f"collector {request.get('id', '')!r} is not registered")
            self._contact(collector.id, user, agent)
            collector.registered, collector.unregistered_at = False, self.wall()
        return {}

    def get_config(self, request: Message, user: str, agent: str) -> Message:
        with self.lock:
            collector = self._contact(request.get("id", ""), user, agent)
            collector.get_config_calls += 1
            if "local_attributes" in request or "attributes" in request:
                collector.local_attributes = _local(request)
            if "remote_config_status" in request:  # unset: unchanged since the last call
                collector.remote_config_status = _status(request["remote_config_status"])
                collector.status_history.append(collector.remote_config_status)
            if "effective_config" in request:
                collector.effective_config = _effective(request["effective_config"])
            collector.last_request_hash = request.get("hash", "")
            content, served = self._content(collector)
            digest = content_hash(content)
            collector.pipelines, collector.last_served_hash = served, digest
            if request.get("hash") == digest:
                return {"not_modified": True}
            return {"content": content, "hash": digest}

    def _content(self, collector: Collector) -> "tuple[str, List[str]]":
        attributes = collector.attributes()
        chosen = [p for _, p in sorted(self.pipelines.items()) if p.selects(attributes)]
        return "\n".join(render(p, attributes) for p in chosen), [p.name for p in chosen]

    # ---- lab controls ------------------------------------------------------------------

    def is_down(self, procedure: str = "") -> bool:
        """Whether the down switch covers procedure now (every one when the switch names none)."""
        with self.lock:
            return self.clock() < self.down_until and (self.down_procedures is None
                                                       or procedure in self.down_procedures)

    def down(self, seconds: float, procedures: Optional[List[str]] = None) -> None:
        """Unavailable for seconds: every procedure, or only those named (e.g. ["GetConfig"]: a
        server that answers the registration but not the request for pipelines)."""
        with self.lock:
            self.down_until = self.clock() + seconds
            self.down_procedures = frozenset(procedures) if procedures else None

    def up(self) -> None:
        with self.lock:
            self.down_until = 0.0
            self.down_procedures = None

    def put_pipeline(self, pipeline: Pipeline) -> None:
        with self.lock:
            self.pipelines[pipeline.name] = pipeline

    def patch_pipeline(self, name: str, changes: Dict[str, Any]) -> Optional[Pipeline]:
        """The pipeline with the given fields replaced; None when there is no such pipeline."""
        with self.lock:
            current = self.pipelines.get(name)
            if current is None:
                return None
            merged = {**asdict(current), **{k: v for k, v in changes.items() if k in ("contents", "matchers",
                                                                                      "enabled")}}
            self.pipelines[name] = make_pipeline(name, merged["contents"], merged["matchers"], merged["enabled"])
            return self.pipelines[name]

    def delete_pipeline(self, name: str) -> bool:
        with self.lock:
            return self.pipelines.pop(name, None) is not None

    def set_remote_attributes(self, collector_id: str, attributes: Dict[str, str]) -> bool:
        with self.lock:
            collector = self.collectors.get(collector_id)
            if collector is None:
                return False
            collector.remote_attributes = dict(attributes)
            return True

    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            return {"collectors": [asdict(c) for _, c in sorted(self.collectors.items())],
                    "pipelines": [asdict(p) for _, p in sorted(self.pipelines.items())],
                    "down": self.clock() < self.down_until,
                    "down_procedures": sorted(self.down_procedures) if self.down_procedures is not None else None}
