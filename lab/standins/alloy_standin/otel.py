"""TEST FIXTURE (stand-in for Grafana Alloy): the otelcol.* pipeline of `alloy run`.

What runs (read from grafana/alloy internal/component/otelcol/** and the OpenTelemetry
collector v0.158.0 that Alloy pins):
- otelcol.receiver.otlp (otel_receiver.py): OTLP/HTTP for real, gRPC NOT played (a grpc block
  binds its port and refuses every connection with an HTTP/2 GOAWAY naming the stand-in);
- otelcol.processor.memory_limiter: passes everything on at once (the stand-in does no
  memory accounting, so it never refuses data; it reports healthy as Alloy does);
- otelcol.processor.batch (batchprocessor): what arrives is kept per signal and sent on when
  send_batch_size items are there (in pieces of at most send_batch_max_size) or when the
  timer, reset after every send, fires (timeout, 200ms by default); the sender never waits for
  the next component's answer (its errors are logged, not returned);
- otelcol.auth.basic: the credentials its handler gives otelcol.exporter.otlphttp, and the
  htpasswd its server side gives a receiver's http.auth (file lines, inline, then the
  deprecated username:password);
- otelcol.exporter.otlphttp, otelcol.exporter.otlp (otel_export.py; gRPC not played);
- otelcol.exporter.prometheus, otelcol.exporter.loki (otel_convert.py): converted samples and
  entries handed to the prometheus.remote_write / loki.write components in forward_to
  (through prometheus.relabel, loki.relabel and loki.process as telemetry.Producer follows
  them), whose queues deliver them.
Every output block's `input` references route a signal to the next components (a fanout:
errors joined, permanent when one is). Health as Alloy reports it: "started scheduled
components" for the receiver, processors and otlp exporters; "started component" for
otelcol.auth.basic (its extensions start in Update, so Run's health is the newest) and the
prometheus and loki exporters; "component evaluated" for a healthy component a reload keeps
(server.py). A receiver that cannot listen, an exporter that cannot build its TLS client and
an otelcol.auth.basic whose htpasswd file cannot be opened fail as otel_receiver.Receiver.health,
otel_export.Exporter.health and auth_health say (exited, or unhealthy while running). `alloy
run` also refuses, as Alloy's Validate methods do when the arguments are evaluated, an
otelcol.auth.basic without credentials (sys.env of an unset variable is "": "no credential
source provided") or with a username and no password; a memory_limiter, sending_queue or
retry_on_failure its Validate refuses; an otlphttp exporter whose build fails (no endpoint
for a signal). Not played: a component exited at `alloy run` that a reload restarts (Alloy's
scheduler runs it again; the stand-in keeps it exited unless its block changed).
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple

from lab_wire import otlp
from lab_wire.otlp import Message

from .otel_convert import LokiEntry, PromConverter, PromOptions, log_entries
from .otel_export import Exporter, grpc_not_played_notice, settings, user_agent
from .otel_receiver import DEFAULT_ALGORITHMS, ConsumeError, Endpoint, Receiver, ReceiverConfig, sanitized_path
from .syntax import Attribute, Block, chain_name
from .telemetry import (FAMILIES, LokiWrite, Producer, Registry, RemoteWrite, Sample, Series, Telemetry, _first,
                        _flag, _number_attr, _text, attr, duration, evaluate, references)

Clock = Callable[[], float]
Log = Callable[[str, str], None]
SIGNALS = ("traces", "metrics", "logs")
BUILD_FAILED = "Failed to build component: building component: "
SCHEDULED = "started scheduled components"
STARTED = "started component"
EXPORTER_KINDS = {"otelcol.exporter.otlphttp": "otlp_http", "otelcol.exporter.otlp": "otlp_grpc"}
PASS_THROUGH = frozenset({"otelcol.processor.memory_limiter"})
SCHEDULED_ONLY = frozenset({"otelcol.processor.memory_limiter", "otelcol.processor.batch"})

FAMILIES.update({
    "prometheus_forwarded_samples_total": ("counter", "Total number of samples sent to downstream components."),
    "otelcol_exporter_loki_entries_total": ("counter", "Total number of log entries passed through the converter"),
    "otelcol_exporter_loki_entries_failed": ("counter", "Total number of log entries failed to convert"),
    "otelcol_exporter_loki_entries_processed": ("counter", "Total number of log entries successfully converted"),
})


def _quiet(level: str, message: str) -> None:
    """A Log that drops what it is told."""


# ---- what `alloy run` refuses when it evaluates the arguments ---------------------------

def _value(block: Optional[Block], name: str) -> object:
    return evaluate(attr(block, name)) if block is not None else None


_BYTES = re.compile(r"(\d+(?:\.\d+)?)(EiB|PiB|TiB|GiB|MiB|KiB|EB|PB|TB|GB|MB|KB|B)")
_BYTE_UNITS = {u: 1024 ** i for i, units in enumerate((("B",), ("KB", "KiB"), ("MB", "MiB"), ("GB", "GiB"),
                                                      ("TB", "TiB"), ("PB", "PiB"), ("EB", "EiB"))) for u in units}


def base2_bytes(value: object) -> Optional[int]:
    """units.ParseBase2Bytes ("512MiB", "1GiB512MiB"; KB is 1024 too); None when it does not parse."""
    if value is None:
        return 0
    text = str(value)
    parts = _BYTES.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return int(sum(float(n) * _BYTE_UNITS[u] for n, u in parts))


def memory_limiter_error(block: Block) -> str:
    """memorylimiter.Arguments.Validate (Alloy; the collector's own Config.Validate is not
    called). A limit_percentage alone is refused: spike_limit_percentage defaults to 0."""
    if duration(_text(block, "check_interval"), 0.0) <= 0:
        return "check_interval must be greater than zero"
    limit, spike = base2_bytes(_value(block, "limit")), base2_bytes(_value(block, "spike_limit"))
    if limit is None or spike is None:
        return ""  # a decoding error of the stand-in's own: not played
    percent, spike_percent = _number_attr(block, "limit_percentage", 0), _number_attr(block, "spike_limit_percentage", 0)
    if limit > 0 and percent > 0:
        return "either limit or limit_percentage must be set, but not both"
    if limit > 0:
        return "spike_limit must be less than limit" if spike >= limit else ""
    if percent > 0:
        if percent > 100 or spike_percent <= 0 or spike_percent > 100:
            return "limit_percentage and spike_limit_percentage must be greater than 0 and and less or equal than 100"
        return ""
    return "either limit or limit_percentage must be set to greater than zero"


def queue_error(queue: Optional[Block]) -> str:
    """otelcol.QueueArguments.Validate (config_queue.go): only an enabled queue is checked."""
    if queue is None or not _flag(queue, "enabled", True):
        return ""
    if _number_attr(queue, "queue_size", 1000) <= 0:
        return "queue_size must be greater than zero"
    sizer = _text(queue, "sizer", "requests")
    return "" if sizer in ("bytes", "items", "requests") else f"invalid sizer: {sizer}"


def retry_error(retry: Optional[Block]) -> str:
    """otelcol.RetryArguments.Validate (config_retry.go): checked even when retries are off."""
    if retry is None:
        return ""
    if _float_attr(retry, "multiplier", 1.5) <= 1:
        return "multiplier must be greater than 1.0"
    return "randomization_factor must be greater or equal to 0" if _float_attr(retry, "randomization_factor",
                                                                             0.5) < 0 else ""


def _float_attr(block: Block, name: str, default: float) -> float:
    value = _value(block, name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def otlphttp_errors(block: Block) -> List[str]:
    """otelcol.exporter.otlphttp: its nested blocks' Validate, then its own, then what
    Build refuses: the factory's composeSignalURL for traces, metrics and logs in turn."""
    client = _first(block, "client")
    for nested in sorted((b for b in block.body if isinstance(b, Block)), key=lambda b: (b.line, b.col)):
        found = queue_error(nested) if nested.name == "sending_queue" else \
            retry_error(nested) if nested.name == "retry_on_failure" else ""
        if found:
            return [found]
    endpoint = _text(client, "endpoint") if client is not None else ""
    if not endpoint and not any(_text(block, f"{s}_endpoint") for s in SIGNALS):
        return ["at least one endpoint must be specified"]
    encoding = _text(block, "encoding", "proto")
    if encoding not in ("proto", "json"):
        return [f"invalid encoding type {encoding}"]
    missing = next((s for s in SIGNALS if not endpoint and not _text(block, f"{s}_endpoint")), None)
    return [f"{BUILD_FAILED}either endpoint or {missing}_endpoint must be specified"] if missing else []


def evaluation_errors(block: Block) -> List[str]:
    """The Validate() errors of an otelcol component's evaluated arguments, and what building
    it refuses (BUILD_FAILED: the loader's "Failed to build component: building component: ";
    a reload changing an existing component would say "updating component: " instead, which
    the stand-in does not tell apart)."""
    if block.name == "otelcol.auth.basic":
        user, password = _text(block, "username"), _text(block, "password")
        if not user and not password and _first(block, "htpasswd") is None and _first(block, "client_auth") is None:
            return ["no credential source provided"]
        if user and not password:
            return ["no password provided"]
    elif block.name == "otelcol.processor.memory_limiter":
        found = memory_limiter_error(block)
        return [found] if found else []
    elif block.name == "otelcol.processor.batch":
        size, largest = _number_attr(block, "send_batch_size", 2000), _number_attr(block, "send_batch_max_size", 3000)
        if 0 < largest < size:
            return ["send_batch_max_size must be greater or equal to send_batch_size when not 0"]
    elif block.name == "otelcol.exporter.otlphttp":
        return otlphttp_errors(block)
    elif block.name == "otelcol.exporter.otlp":
        found = next((e for e in (queue_error(_first(block, "sending_queue")),
                                  retry_error(_first(block, "retry_on_failure"))) if e), "")
        return [found] if found else []
    elif block.name == "otelcol.receiver.otlp":
        http = _first(block, "http")
        for name in ("traces_url_path", "logs_url_path", "metrics_url_path"):
            if http is not None and attr(http, name) is not None and not _text(http, name):
                return [f"{name} cannot be empty"]
    return []


# ---- the batch processor ------------------------------------------------------------

def _copy_scope(signal: str, scope: Message, kept: List[Message]) -> Message:
    out = {k: v for k, v in scope.items() if k != otlp.SIGNALS[signal][5]}
    out[otlp.SIGNALS[signal][5]] = kept
    return out


def _take_metrics(scope: Message, room: int) -> Tuple[List[Message], List[Message], int]:
    """(metrics within room data points, the rest, points taken); a metric may be split."""
    taken: List[Message] = []
    rest: List[Message] = []
    used = 0
    for metric in scope.get("metrics", []):
        kind = next((k for k in ("gauge", "sum", "histogram", "exponential_histogram", "summary") if k in metric), "")
        points = metric[kind].get("data_points", []) if kind else []
        if used >= room:
            rest.append(metric)
            continue
        share = min(len(points), room - used)
        if share == len(points):
            taken.append(metric)
        else:
            taken.append({**metric, kind: {**metric[kind], "data_points": points[:share]}})
            rest.append({**metric, kind: {**metric[kind], "data_points": points[share:]}})
        used += share
    return taken, rest, used


def split(signal: str, resources: List[Message], limit: int) -> Tuple[List[Message], List[Message]]:
    """The first `limit` items (spans, data points, log records) and the rest, keeping their
    resources and scopes (the batch processor's split at send_batch_max_size)."""
    _, _, _, res_key, scope_key, item_key = otlp.SIGNALS[signal]
    first: List[Message] = []
    rest: List[Message] = []
    room = limit
    for resource in resources:
        if room <= 0:
            rest.append(resource)
            continue
        head_scopes: List[Message] = []
        tail_scopes: List[Message] = []
        for scope in resource.get(scope_key, []):
            if room <= 0:
                tail_scopes.append(scope)
                continue
            if signal == "metrics":
                taken, left, used = _take_metrics(scope, room)
            else:
                found = scope.get(item_key, [])
                taken, left, used = found[:room], found[room:], min(room, len(found))
            room -= used
            head_scopes.append(_copy_scope(signal, scope, taken))
            if left:
                tail_scopes.append(_copy_scope(signal, scope, left))
        first.append({**resource, scope_key: head_scopes})
        if tail_scopes:
            rest.append({**resource, scope_key: tail_scopes})
    return first, rest


@dataclass
class Batch:
    """otelcol.processor.batch: one batch per signal (no metadata_keys)."""

    id: str
    timeout: float
    size: int
    max_size: int
    clock: Clock
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: Dict[str, List[Message]] = field(default_factory=dict)
    counts: Dict[str, int] = field(default_factory=dict)
    next_flush: Dict[str, float] = field(default_factory=dict)

    def add(self, signal: str, request: Message) -> List[Message]:
        """Keeps the request's resources; the requests to send now (size reached, or no timer)."""
        with self.lock:
            self.pending.setdefault(signal, []).extend(otlp.resources(signal, request))
            self.counts[signal] = self.counts.get(signal, 0) + otlp.item_count(signal, request)
            self.next_flush.setdefault(signal, self.clock() + self.timeout)
            out: List[Message] = []
            while self.counts.get(signal, 0) and (self.timeout <= 0 or self.counts[signal] >= self.size):
                out.append(self._send(signal))
            return out

    def _send(self, signal: str) -> Message:
        resources = self.pending.get(signal, [])
        count = self.counts.get(signal, 0)
        if 0 < self.max_size < count:
            head, rest = split(signal, resources, self.max_size)
            self.pending[signal], self.counts[signal] = rest, count - self.max_size
        else:
            head = resources
            self.pending[signal], self.counts[signal] = [], 0
        self.next_flush[signal] = self.clock() + self.timeout
        return {otlp.SIGNALS[signal][3]: head}

    def due(self, now: float) -> List[Tuple[str, Message]]:
        """The timer: what is pending when it fires; it starts again either way."""
        out: List[Tuple[str, Message]] = []
        with self.lock:
            for signal, when in list(self.next_flush.items()):
                if now < when:
                    continue
                if self.counts.get(signal, 0):
                    out.append((signal, self._send(signal)))
                self.next_flush[signal] = now + self.timeout
        return out

    def reconfigure(self, timeout: float, size: int, max_size: int) -> None:
        with self.lock:
            self.timeout, self.size, self.max_size = timeout, size, max_size


# ---- the exporters into Alloy's own pipelines ------------------------------------------

@dataclass
class PromExport:
    """otelcol.exporter.prometheus: its converter (series' timestamps) and metrics."""
    id: str
    converter: PromConverter = field(default_factory=PromConverter)
    metrics: Registry = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Registry(self.id)
        self.metrics.add("prometheus_forwarded_samples_total", {}, 0)


@dataclass
class LokiExport:
    id: str
    metrics: Registry = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Registry(self.id)
        for name in ("otelcol_exporter_loki_entries_total", "otelcol_exporter_loki_entries_failed",
                     "otelcol_exporter_loki_entries_processed"):
            self.metrics.add(name, {}, 0)


def prom_options(block: Block) -> PromOptions:
    return PromOptions(include_target_info=_flag(block, "include_target_info", True),
                       add_metric_suffixes=_flag(block, "add_metric_suffixes", True),
                       resource_to_telemetry_conversion=_flag(block, "resource_to_telemetry_conversion", False),
                       keep_identifying_resource_attributes=_flag(block, "keep_identifying_resource_attributes",
                                                                  False))


def htpasswd_file_error(auth_block: Optional[Block]) -> str:
    """basicauthextension's server Start: `open htpasswd file: open <path>: <reason>` when the
    htpasswd file cannot be opened ("" when it can, or there is none)."""
    htpasswd = _first(auth_block, "htpasswd") if auth_block is not None else None
    path = _text(htpasswd, "file") if htpasswd is not None else ""
    if not path:
        return ""
    try:
        with open(path, "rb"):
            return ""
    except OSError as err:
        return f"open htpasswd file: open {path}: {(err.strerror or str(err)).lower()}"


def server_htpasswd(auth_block: Optional[Block]) -> Tuple[str, ...]:
    """The htpasswd lines the server extension reads: the file's (basicauthextension reads it
    first), then otelcol.auth.basic's ConvertServer inline text, to which the deprecated
    username:password are appended when both are set."""
    if auth_block is None:
        return ()
    htpasswd = _first(auth_block, "htpasswd")
    path = _text(htpasswd, "file") if htpasswd is not None else ""
    lines: List[str] = []
    if path and not htpasswd_file_error(auth_block):
        lines += Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    lines += _text(htpasswd, "inline").splitlines() if htpasswd is not None else []
    user, password = _text(auth_block, "username"), _text(auth_block, "password")
    if user and password:
        lines.append(f"{user}:{password}")
    return tuple(line for line in lines if line.strip())


def receiver_config(block: Block, blocks: Dict[str, Block]) -> ReceiverConfig:
    def endpoint(sub: Optional[Block], default: str) -> Optional[Endpoint]:
        if sub is None:
            return None
        tls = _first(sub, "tls")
        pairs = tuple(sorted((s.name, str(evaluate(s.value))) for s in tls.body if isinstance(s, Attribute))) \
            if tls is not None else ()
        return Endpoint(_text(sub, "endpoint", default), pairs)

    http = _first(block, "http")
    paths = tuple((sanitized_path(_text(http, f"{s}_url_path", f"/v1/{s}")), s) for s in SIGNALS)
    output = _first(block, "output")
    signals = frozenset(s for s in SIGNALS if output is not None and references(attr(output, s)))
    algorithms = evaluate(attr(http, "compression_algorithms")) if http is not None else None
    auth_expr = attr(http, "auth") if http is not None else None
    auth_ref = chain_name(auth_expr) if auth_expr is not None else None
    auth_block = blocks.get(auth_ref.rsplit(".", 1)[0]) if auth_ref else None
    htpasswd = server_htpasswd(auth_block) if auth_ref else None
    return ReceiverConfig(http=endpoint(http, "0.0.0.0:4318"), grpc=endpoint(_first(block, "grpc"), "0.0.0.0:4317"),
                          paths=paths, signals=signals,
                          algorithms=frozenset(str(a) for a in algorithms) if isinstance(algorithms, list)
                          else DEFAULT_ALGORITHMS, htpasswd=htpasswd,
                          auth_broken=bool(htpasswd_file_error(auth_block)))


def auth_health(block: Block) -> Tuple[str, str]:
    """otelcol.auth.basic (auth.go, scheduler_auth.go): its extensions start in Update, before
    the node's evaluation and Run, so the newest healthy message is Run's "started component";
    a server extension that cannot open its htpasswd file leaves it unhealthy."""
    failure = htpasswd_file_error(block)
    return ("unhealthy", f"failed to create components: {failure}") if failure else ("healthy", STARTED)


# ---- the engine ---------------------------------------------------------------------

class Engine:
    """The otelcol components of the loaded configuration and the data between them.

    update() after every (re)load; consume() is what a receiver hands over; tick() fires the
    batch timers and attempts the exporters' due requests (run() calls it every 50ms; tests
    call it with their own clock)."""

    def __init__(self, telemetry: Telemetry, version: str = "0.0.0-dev", clock: Clock = time.monotonic,
                 wall: Clock = time.time, log: Log = _quiet, rng: Optional[Callable[[], float]] = None) -> None:
        self.telemetry = telemetry
        self.agent = user_agent(version)
        self.clock = clock
        self.wall = wall
        self.log = log
        self.rng = rng
        self._lock = threading.RLock()
        self.blocks: Dict[str, Block] = {}
        self.receivers: Dict[str, Receiver] = {}
        self.batches: Dict[str, Batch] = {}
        self.exporters: Dict[str, Exporter] = {}
        self.proms: Dict[str, PromExport] = {}
        self.lokis: Dict[str, LokiExport] = {}

    # ---- configuration
    def update(self, blocks: Dict[str, Block]) -> None:
        with self._lock:
            self.blocks = dict(blocks)
            otel = {cid: b for cid, b in blocks.items() if b.name.startswith("otelcol.")}
            self._update_receivers(otel)
            self._update_batches(otel)
            self._update_exporters(otel)
            self.proms = {cid: self.proms.get(cid) or PromExport(cid)
                          for cid, b in otel.items() if b.name == "otelcol.exporter.prometheus"}
            for cid, prom in self.proms.items():
                prom.converter.options = prom_options(otel[cid])
            self.lokis = {cid: self.lokis.get(cid) or LokiExport(cid)
                          for cid, b in otel.items() if b.name == "otelcol.exporter.loki"}

    def _update_receivers(self, otel: Dict[str, Block]) -> None:
        wanted = {cid: receiver_config(b, otel) for cid, b in otel.items() if b.name == "otelcol.receiver.otlp"}
        restarted: Set[str] = set()
        for cid, receiver in list(self.receivers.items()):
            if wanted.get(cid) != receiver.config:
                receiver.close()
                del self.receivers[cid]
                restarted.add(cid)
        for cid, config in wanted.items():
            if cid not in self.receivers:
                receiver = Receiver(cid, config, self._receiver_consumer(cid), self.log, scheduled=cid in restarted)
                receiver.start()
                if receiver.failure:
                    self.log("error", f"{cid}: failed to start scheduled component: {receiver.failure}")
                self.receivers[cid] = receiver

    def _update_batches(self, otel: Dict[str, Block]) -> None:
        fresh: Dict[str, Batch] = {}
        for cid, block in otel.items():
            if block.name != "otelcol.processor.batch":
                continue
            timeout = duration(_text(block, "timeout"), 0.2)
            size, largest = _number_attr(block, "send_batch_size", 2000), _number_attr(block, "send_batch_max_size", 3000)
            batch = self.batches.get(cid) or Batch(cid, timeout, size, largest, self.clock)
            batch.reconfigure(timeout, size, largest)
            fresh[cid] = batch
        self.batches = fresh

    def _update_exporters(self, otel: Dict[str, Block]) -> None:
        fresh: Dict[str, Exporter] = {}
        for cid, block in otel.items():
            kind = EXPORTER_KINDS.get(block.name)
            if kind is None:
                continue
            client = _first(block, "client")
            auth_expr = attr(client, "auth") if client is not None else None
            auth_ref = chain_name(auth_expr) if auth_expr is not None else None
            auth_block = otel.get(auth_ref.rsplit(".", 1)[0]) if auth_ref else None
            wanted = settings(kind, block, auth_block)
            exporter = self.exporters.get(cid)
            if exporter is None:
                exporter = Exporter(cid, wanted, self.agent, self.clock, self.log,
                                    **({"rng": self.rng} if self.rng else {}))
                if kind == "otlp_grpc":
                    self.log("warn", grpc_not_played_notice(cid))
            else:
                exporter.reconfigure(wanted)
            fresh[cid] = exporter
        self.exporters = fresh

    def health(self) -> Dict[str, Tuple[str, str]]:
        """(state, message) of the otelcol components whose health Alloy's scheduler reports."""
        with self._lock:
            out = {cid: ("healthy", SCHEDULED) for cid, b in self.blocks.items() if b.name in SCHEDULED_ONLY}
            out.update({cid: auth_health(b) for cid, b in self.blocks.items() if b.name == "otelcol.auth.basic"})
            out.update({cid: r.health() for cid, r in self.receivers.items()})
            out.update({cid: e.health() for cid, e in self.exporters.items()})
            return out

    def receiver_address(self, component_id: str) -> str:
        """host:port the receiver's HTTP server listens on ("" when none)."""
        receiver = self.receivers.get(component_id)
        return receiver.http_address() if receiver is not None else ""

    # ---- data flow
    def _receiver_consumer(self, cid: str) -> Callable[[str, Message], Optional[ConsumeError]]:
        return lambda signal, request: self.forward(cid, signal, request)

    def forward(self, source_id: str, signal: str, request: Message) -> Optional[ConsumeError]:
        """The source's output for signal: every next component gets the request (fanout)."""
        block = self.blocks.get(source_id)
        output = _first(block, "output") if block is not None else None
        errors: List[ConsumeError] = []
        for target in references(attr(output, signal)) if output is not None else []:
            error = self.consume(target, signal, request)
            if error is not None:
                errors.append(error)
        if not errors:
            return None
        code = next((c for _, _, c in errors if c), "")  # status.FromError finds the first status
        return "; ".join(m for m, _, _ in errors), any(p for _, p, _ in errors), code

    def consume(self, component_id: str, signal: str, request: Message) -> Optional[ConsumeError]:
        with self._lock:
            block = self.blocks.get(component_id)
            batch = self.batches.get(component_id)
            exporter = self.exporters.get(component_id)
            prom, loki = self.proms.get(component_id), self.lokis.get(component_id)
        if block is None:
            return None
        if block.name in PASS_THROUGH:
            return self.forward(component_id, signal, request)
        if batch is not None:
            for ready in batch.add(signal, request):
                self._send_on(component_id, signal, ready)
            return None
        if exporter is not None:
            return exporter.consume(signal, request)
        if prom is not None and signal == "metrics":
            self._to_remote_write(block, prom, request)
        elif loki is not None and signal == "logs":
            self._to_loki(block, loki, request)
        return None

    def _send_on(self, batch_id: str, signal: str, request: Message) -> None:
        error = self.forward(batch_id, signal, request)
        if error is not None:
            self.log("warn", f"{batch_id}: Sender failed: {error[0]}")

    def _to_remote_write(self, block: Block, prom: PromExport, request: Message) -> None:
        samples = prom.converter.convert(request, int(self.wall() * 1000))
        if references(attr(block, "forward_to")):  # fanout.go: once per Append a child took
            prom.metrics.add("prometheus_forwarded_samples_total", {}, len(samples))
        producer, writers = Producer(self.blocks), self.telemetry.writers()
        by_sink: Dict[str, List[Series]] = {}
        for labels, value, stamp in samples:
            for sink_id, final in producer.prometheus_sinks(block, labels):
                by_sink.setdefault(sink_id, []).append((final, value, stamp))
        for sink_id, series in by_sink.items():
            writer = writers.get(sink_id)
            if isinstance(writer, RemoteWrite):
                writer.receive(series)

    def _to_loki(self, block: Block, loki: LokiExport, request: Message) -> None:
        entries, failed = log_entries(request, int(self.wall() * 1_000_000_000))
        loki.metrics.add("otelcol_exporter_loki_entries_total", {}, len(entries) + failed)
        loki.metrics.add("otelcol_exporter_loki_entries_failed", {}, failed)
        loki.metrics.add("otelcol_exporter_loki_entries_processed", {}, len(entries))
        producer, writers = Producer(self.blocks), self.telemetry.writers()
        for entry in entries:
            self._entry_to_loki(producer, writers, block, entry)

    @staticmethod
    def _entry_to_loki(producer: Producer, writers: Mapping[str, object], block: Block, entry: LokiEntry) -> None:
        for sink_id, labels in producer.loki_sinks(block, entry.labels):
            writer = writers.get(sink_id)
            if isinstance(writer, LokiWrite):
                writer.receive([(labels, entry.timestamp_ns, entry.line)])

    # ---- time
    def tick(self, wait: bool = True) -> None:
        """Fires due batch timers, then attempts the exporters' due requests, each in a thread."""
        with self._lock:
            batches, exporters = list(self.batches.values()), list(self.exporters.values())
        now = self.clock()
        for batch in batches:
            for signal, request in batch.due(now):
                self._send_on(batch.id, signal, request)
        threads: List[threading.Thread] = []
        for exporter in exporters:
            for pending in exporter.claim():
                thread = threading.Thread(target=exporter.attempt, args=(pending,), daemon=True)
                thread.start()
                threads.append(thread)
        for thread in threads if wait else []:
            thread.join()

    def run(self, log: Log, stop: Optional[threading.Event] = None, tick_seconds: float = 0.05) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                self.tick(wait=False)
            except Exception as err:  # noqa: BLE001 - a fixture must keep serving
                log("warn", f"otelcol error: {err}")
            stop.wait(tick_seconds)

    def registries(self) -> List[Registry]:
        with self._lock:
            return ([r.metrics for r in self.receivers.values()] + [e.metrics for e in self.exporters.values()]
                    + [p.metrics for p in self.proms.values()] + [x.metrics for x in self.lokis.values()])

    def samples(self) -> List[Sample]:
        return [s for registry in self.registries() for s in registry.samples()]

    def value(self, name: str, **labels: str) -> float:
        return sum(v for _, n, ls, v in self.samples() if n == name and labels.items() <= ls.items())

    def close(self) -> None:
        with self._lock:
            for receiver in self.receivers.values():
                receiver.close()
            self.receivers = {}
