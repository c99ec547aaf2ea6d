"""TEST FIXTURE (stand-in for Grafana Alloy): otelcol.exporter.otlphttp (and what the
stand-in does for otelcol.exporter.otlp, whose gRPC it does not play).

Copied from the OpenTelemetry collector v0.158.0 (the version Alloy's go.mod pins) and
Alloy's wrapper:
- exporter/otlphttpexporter/factory.go and otlp.go: POST to <endpoint>/v1/traces|metrics|logs
  (a trailing `/` on the endpoint is not doubled) or to traces_endpoint, metrics_endpoint,
  logs_endpoint as given; body ExportXServiceRequest as protobuf (encoding "proto", the
  default) or OTLP/JSON; Content-Type application/x-protobuf or application/json;
  User-Agent `Alloy/v<version> (linux/<arch>)` (Alloy's otelcolutil.GetBuildInfo);
  2xx is success (a protobuf or JSON body must parse as an Export*ServiceResponse, or the
  batch fails for good); 429, 502, 503 and 504 are retried (Retry-After honoured for 429 and
  503); any other status fails for good; no answer at all is retried;
- config/confighttp/client.go: gzip compression by default (Alloy's default too;
  Content-Encoding: gzip; zlib, deflate and snappy too; zstd and lz4, which have no
  standard-library encoder, are not played: such a request fails for good and says so),
  then the `headers` set over the request's own, then the auth
  extension's Authorization (otelcol.auth.basic: basic auth from username/password or
  client_auth, which wins), TLS from the `tls` block (ca_file/ca_pem, cert and key,
  insecure_skip_verify, server_name, min_version; TLS 1.2 at least), timeout 30s;
- exporter/exporterhelper: a sending queue (on by default, 1000 requests, 10 consumers: what
  the pipeline hands over returns at once; a full queue refuses and counts
  otelcol_exporter_enqueue_failed_*), then retry_on_failure (initial_interval 5s,
  randomization_factor 0.5, multiplier 1.5, max_interval 30s, max_elapsed_time 5m), counted by
  obs_report_sender.go once per request when it ends: otelcol_exporter_sent_* (0 added on a
  failure) or otelcol_exporter_send_failed_* with error_type (the gRPC code of the HTTP status:
  Unauthenticated, PermissionDenied, Unavailable, ...; `_OTHER` for no answer) and
  error_permanent; labels exporter="otlp_http/<component id>", server_address, server_port
  (when the URL has one), url_path, and otel_scope_* as otel-go's Prometheus exporter adds
  them; otelcol_exporter_queue_size and _queue_capacity per data_type from the start (none
  with sending_queue disabled). With the queue off the pipeline gets the final error: a status
  answer reads `rpc error: code = <Code> desc = error exporting items, ...`, a permanent one
  behind `Permanent error: `, both behind the retry sender's `not retryable error: ` / `no
  more retries left: ` only when retry_on_failure is enabled.
- Health (Alloy's internal/component/otelcol/internal/scheduler): "started scheduled
  components" whatever the endpoint answers; a client that cannot be built (a TLS file that
  cannot be read) makes the component exit at `alloy run` (what reaches it then gets
  `context canceled`: its context is cancelled when Run returns), or, restarted by a reload,
  leaves it running and "unhealthy" (what reaches it then is refused with a text of the
  stand-in's own: the real unstarted exporter's answer is not played). A changed configuration
  starts a new registry, so its counters start again from zero, as Alloy's exporter.Update does.

otelcol.exporter.otlp is gRPC, which needs HTTP/2 and HPACK: Python's standard library has
neither, and the stand-in does not pretend. It keeps the component healthy (as Alloy would
be) and its queue and metrics, but every request fails for good at once, counted in
otelcol_exporter_send_failed_* with error_type="_OTHER", and logged as not played.
"""
from __future__ import annotations

import base64
import gzip
import http.client
import json
import platform
import random
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from lab_wire import otlp, snappy_compress
from lab_wire.otlp import Message

from .otel_receiver import ConsumeError
from .syntax import Attribute, Block
from .telemetry import FAMILIES, Labels, NamedHTTPSConnection, Registry, _first, _flag, _number_attr, _string_map, \
    _text, attr, duration, evaluate

Clock = Callable[[], float]
Log = Callable[[str, str], None]
SIGNALS = ("traces", "metrics", "logs")
UNIT = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}
EXPORTER_SCOPE = {"otel_scope_name": "go.opentelemetry.io/collector/exporter/exporterhelper",
                  "otel_scope_schema_url": "", "otel_scope_version": ""}
RETRYABLE = frozenset({429, 502, 503, 504})
GRPC_CODES = {400: "InvalidArgument", 401: "Unauthenticated", 403: "PermissionDenied", 404: "Unimplemented",
              429: "ResourceExhausted", 502: "Unavailable", 503: "Unavailable", 504: "Unavailable"}
NOT_PLAYED_GRPC = "gRPC is not played by the Alloy stand-in (TEST FIXTURE: no HTTP/2 in Python's standard library)"

_NAMES = {"traces": ("spans", "span"), "metrics": ("metric points", "metric point"),
          "logs": ("log records", "log record")}
for _signal, (_plural, _) in _NAMES.items():
    _unit = UNIT[_signal]
    FAMILIES.update({
        f"otelcol_exporter_sent_{_unit}_total": (
            "counter", f"Number of {'log record' if _signal == 'logs' else _plural} successfully sent to "
                       "destination. [Alpha]"),
        f"otelcol_exporter_send_failed_{_unit}_total": (
            "counter", f"Number of {_plural} in failed attempts to send to destination. At detailed telemetry "
                       "level, includes attributes: error.type (semantic convention), error.permanent. [Alpha]"),
        f"otelcol_exporter_enqueue_failed_{_unit}_total": (
            "counter", f"Number of {_plural} failed to be added to the sending queue. [Alpha]"),
    })
FAMILIES.update({
    "otelcol_exporter_queue_size": ("gauge", "Current size of the retry queue (in batches). [Alpha]"),
    "otelcol_exporter_queue_capacity": ("gauge", "Fixed capacity of the retry queue (in batches). [Alpha]"),
})


def user_agent(version: str) -> str:
    """otlphttpexporter's User-Agent from Alloy's BuildInfo: Alloy/vX.Y.Z (linux/amd64)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)
    return f"Alloy/v{version.lstrip('v')} (linux/{arch})"


# ---- configuration -------------------------------------------------------------------

@dataclass
class Retry:
    enabled: bool = True
    initial: float = 5.0
    randomization: float = 0.5
    multiplier: float = 1.5
    max_interval: float = 30.0
    max_elapsed: float = 300.0


@dataclass
class Queue:
    enabled: bool = True
    consumers: int = 10
    size: int = 1000


@dataclass
class Settings:
    """An exporter block evaluated, with the referenced auth handler's credentials."""
    kind: str  # "otlp_http" or "otlp_grpc"
    endpoint: str
    urls: Dict[str, str]
    headers: Labels = field(default_factory=dict)
    tls: Dict[str, object] = field(default_factory=dict)
    timeout: float = 30.0
    compression: str = "gzip"
    encoding: str = "proto"
    basic_auth: Optional[Tuple[str, str, str, str]] = None  # username, username_file, password, password_file
    retry: Retry = field(default_factory=Retry)
    queue: Queue = field(default_factory=Queue)


def signal_url(endpoint: str, override: str, signal: str) -> str:
    """composeSignalURL."""
    if override:
        return override
    return f"{endpoint}v1/{signal}" if endpoint.endswith("/") else f"{endpoint}/v1/{signal}"


def basic_auth_of(block: Optional[Block]) -> Optional[Tuple[str, str, str, str]]:
    """otelcol.auth.basic's client credentials: client_auth when given (nothing unless it has a
    username and a password, from attributes or files), else the deprecated username/password."""
    if block is None:
        return None
    client = _first(block, "client_auth")
    if client is not None:
        user, user_file = _text(client, "username"), _text(client, "username_file")
        password, password_file = _text(client, "password"), _text(client, "password_file")
        if not (user or user_file) or not (password or password_file):
            return None
        return user, user_file, password, password_file
    return _text(block, "username"), "", _text(block, "password"), ""


def settings(kind: str, block: Block, auth_block: Optional[Block]) -> Settings:
    client = _first(block, "client")
    endpoint = _text(client, "endpoint")
    compression = _text(client, "compression", "gzip")
    tls = _first(client, "tls") if client is not None else None
    retry_block, queue_block = _first(block, "retry_on_failure"), _first(block, "sending_queue")
    retry = Retry(enabled=_flag(retry_block, "enabled", True),
                  initial=duration(_text(retry_block, "initial_interval"), 5.0),
                  randomization=_float(retry_block, "randomization_factor", 0.5),
                  multiplier=_float(retry_block, "multiplier", 1.5),
                  max_interval=duration(_text(retry_block, "max_interval"), 30.0),
                  max_elapsed=duration(_text(retry_block, "max_elapsed_time"), 300.0))
    queue = Queue(enabled=_flag(queue_block, "enabled", True),
                  consumers=_number_attr(queue_block, "num_consumers", 10),
                  size=_number_attr(queue_block, "queue_size", 1000))
    urls = {s: signal_url(endpoint, _text(block, f"{s}_endpoint"), s) for s in SIGNALS}
    headers = _string_map(evaluate(attr(client, "headers"))) if client is not None else {}
    tls_attrs = {s.name: evaluate(s.value) for s in tls.body if isinstance(s, Attribute)} if tls is not None else {}
    return Settings(kind=kind, endpoint=endpoint, urls=urls, headers=headers, tls=tls_attrs,
                    timeout=duration(_text(client, "timeout"), 30.0), compression=compression,
                    encoding=_text(block, "encoding", "proto"), basic_auth=basic_auth_of(auth_block),
                    retry=retry, queue=queue)


def _float(block: Optional[Block], name: str, default: float) -> float:
    value = evaluate(attr(block, name)) if block is not None else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


# ---- one request ---------------------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    retryable: bool = False
    error_type: str = ""
    message: str = ""
    retry_after: float = 0.0


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def client_context(tls: Dict[str, object]) -> ssl.SSLContext:
    """configtls's client TLS: a CA file or PEM (the system pool otherwise), a client
    certificate, insecure_skip_verify, min_version (TLS 1.2 by default). OSError or
    ssl.SSLError when a file cannot be loaded, as the real exporter fails to start."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if str(tls.get("min_version") or "") == "1.3" \
        else ssl.TLSVersion.TLSv1_2
    if tls.get("ca_file"):
        path = str(tls["ca_file"])
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as err:
            raise OSError(f"failed to load TLS config: failed to load CA CertPool File: failed to load cert "
                          f"{path}: {_go_error(err, path)}") from None
    elif tls.get("ca_pem"):
        context.load_verify_locations(cadata=str(tls["ca_pem"]))
    else:
        context.load_default_certs()
    if tls.get("include_system_ca_certs_pool") and (tls.get("ca_file") or tls.get("ca_pem")):
        context.load_default_certs()
    if tls.get("insecure_skip_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.get("cert_file"):
        try:
            context.load_cert_chain(str(tls["cert_file"]), str(tls.get("key_file") or "") or None)
        except (OSError, ssl.SSLError) as err:
            raise OSError(f"failed to load TLS config: failed to load TLS cert and key: {err}") from None
    return context


def _go_error(err: Exception, path: str) -> str:
    if isinstance(err, FileNotFoundError):
        return f"open {path}: no such file or directory"
    if isinstance(err, PermissionError):
        return f"open {path}: permission denied"
    return str(err)


def authorization(auth: Optional[Tuple[str, str, str, str]]) -> str:
    """basicauthextension's client: Basic base64(user:password), files read at every request."""
    if auth is None:
        return ""
    user, user_file, password, password_file = auth
    user = _read(user_file).strip() if user_file else user
    password = _read(password_file).strip() if password_file else password
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request_headers(s: Settings, agent: str, body_encoding: str) -> Labels:
    """confighttp's round trippers in order: the exporter's own headers, the compression's
    Content-Encoding, the configured headers (Set: they replace), the auth's Authorization."""
    headers: Labels = {"Content-Type": "application/json" if s.encoding == "json" else "application/x-protobuf",
                       "User-Agent": agent, "Accept-Encoding": "gzip"}  # Go's transport asks for gzip
    if body_encoding:
        headers["Content-Encoding"] = body_encoding
    lowered = {k.lower(): k for k in headers}
    for key, value in s.headers.items():
        headers.pop(lowered.get(key.lower(), key), None)
        headers[key] = value
        lowered[key.lower()] = key
    auth = authorization(s.basic_auth)
    if auth:
        headers.pop(lowered.get("authorization", "Authorization"), None)
        headers["Authorization"] = auth
    return headers


def body_of(s: Settings, signal: str, request: Message) -> Tuple[bytes, str]:
    """The encoded request, compressed as confighttp's compressor does: gzip, zlib and deflate
    (both zlib streams), snappy (a block). zstd and lz4 have no standard-library encoder: the
    stand-in refuses to send rather than send something else (a permanent error)."""
    raw = json.dumps(otlp.request_to_json(signal, request)).encode() if s.encoding == "json" \
        else otlp.encode_request(signal, request)
    if s.compression in ("", "none"):
        return raw, ""
    if s.compression == "gzip":
        return gzip.compress(raw), "gzip"
    if s.compression in ("zlib", "deflate"):
        return zlib.compress(raw), s.compression
    if s.compression == "snappy":
        return snappy_compress(raw), "snappy"
    raise NotImplementedError(f"compression {s.compression} is not played by the Alloy stand-in (TEST FIXTURE)")


def _connection(url: str, s: Settings) -> Tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    if parts.scheme == "https":
        server_name = str(s.tls.get("server_name") or "")
        return NamedHTTPSConnection(host, parts.port, server_name, client_context(s.tls), s.timeout), path
    return http.client.HTTPConnection(host, parts.port, timeout=s.timeout), path


def _retry_after(value: Optional[str]) -> float:
    if value is None:
        return 0.0
    try:
        return float(int(value))
    except ValueError:
        from email.utils import parsedate_to_datetime  # noqa: PLC0415
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return 0.0


def classify(url: str, status: int, content_type: str, body: bytes, retry_after: Optional[str]) -> Outcome:
    """What otlp.go export() makes of an answer."""
    if 200 <= status <= 299:
        if body and content_type in ("application/x-protobuf", "application/json"):
            try:
                if content_type == "application/json":
                    json.loads(body)
                else:
                    list(otlp.wire_fields(body))
            except ValueError as err:
                return Outcome(False, error_type="_OTHER", message=f"error parsing response: {err}")
        return Outcome(True)
    detail = ""
    if 400 <= status <= 599 and body:
        try:
            st = otlp.decode_status(body)
            detail = f", Message={st.get('message', '')}, Details=[]"
        except (ValueError, UnicodeDecodeError):
            detail = ""
    code = GRPC_CODES.get(status, "Unknown")
    # statusutil.NewStatusFromMsgAndHTTPCode(...).Err(): a gRPC status error's text
    message = f"rpc error: code = {code} desc = error exporting items, request to {url} responded with HTTP " \
              f"Status Code {status}{detail}"
    if status not in RETRYABLE:
        return Outcome(False, False, code, message)
    delay = _retry_after(retry_after) if status in (429, 503) else 0.0
    return Outcome(False, True, code, message, delay)


def post(s: Settings, signal: str, request: Message, agent: str) -> Outcome:
    """One attempt; network and TLS failures are retryable, with error type _OTHER."""
    url = s.urls[signal]
    try:
        body, encoding = body_of(s, signal, request)
    except NotImplementedError as err:
        return Outcome(False, False, "_OTHER", str(err))
    try:
        connection, path = _connection(url, s)
        try:
            connection.request("POST", path, body=body, headers=request_headers(s, agent, encoding))
            answer = connection.getresponse()
            data = answer.read(64 * 1024)
            if (answer.getheader("Content-Encoding") or "").lower() == "gzip":
                data = gzip.decompress(data)  # as Go's transport undoes it
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError, EOFError) as err:
        return Outcome(False, True, "_OTHER", f"failed to make an HTTP request: Post \"{url}\": {err}")
    # The partial-success handlers compare the header as it is: with parameters it is ignored.
    return classify(url, answer.status, answer.getheader("Content-Type") or "", data, answer.getheader("Retry-After"))


# ---- the exporter component ----------------------------------------------------------

@dataclass
class Pending:
    signal: str
    request: Message
    count: int
    started: float  # clock time of the first attempt (max_elapsed_time counts from it)
    due: float
    interval: float = 0.0  # backoff's current interval
    attempts: int = 0
    busy: bool = False  # an attempt is under way
    error: Optional[str] = None  # why it finally failed
    permanent: bool = False
    error_type: str = ""


class Exporter:
    """otelcol.exporter.otlphttp (kind otlp_http) or otelcol.exporter.otlp (otlp_grpc)."""

    def __init__(self, component_id: str, s: Settings, agent: str, clock: Clock, log: Log,
                 rng: Callable[[], float] = random.random) -> None:
        self.id = component_id
        self.settings = s
        self.agent = agent
        self.clock = clock
        self.log = log
        self.rng = rng
        self.lock = threading.Lock()
        self.queue: List[Pending] = []
        self.in_flight = 0
        self.failure = ""  # why the client could not be built (the component exited, or is unhealthy)
        self.scheduled = False  # restarted by a reload's Update (Schedule), not by the component's Run
        self.metrics = Registry(component_id)
        self._start()

    def _start(self) -> None:
        self.metrics = Registry(self.id)
        self.failure = ""
        if self.settings.kind == "otlp_http":  # configtls loads the files for http:// endpoints too
            try:
                client_context(self.settings.tls)
            except (OSError, ssl.SSLError) as err:
                self.failure = str(err)
        for signal in SIGNALS if self.settings.queue.enabled else ():  # no queue, no queue series
            labels = {"exporter": self.exporter_id, "data_type": signal, **EXPORTER_SCOPE}
            self.metrics.add("otelcol_exporter_queue_capacity", labels, self.settings.queue.size)
            self.metrics.add("otelcol_exporter_queue_size", labels, 0)

    @property
    def exporter_id(self) -> str:
        return f"{self.settings.kind}/{self.id}"

    def reconfigure(self, s: Settings) -> None:
        """A changed block: a new registry (counters from zero), the queue kept."""
        with self.lock:
            changed = s != self.settings
            self.settings = s
            if changed:
                self._start()
                self.scheduled = True
                for pending in self.queue:
                    self._queue_size(pending.signal, 1)

    def health(self) -> Tuple[str, str]:
        """The scheduler's health: the three signals' exporters (not shared) fail alike and
        multierr joins their errors. At `alloy run` none started, so Run exits; restarted by a
        reload's Update (Schedule while running) it stays running, unhealthy."""
        if not self.failure:
            return "healthy", "started scheduled components"
        errors = "; ".join([self.failure] * len(SIGNALS))
        if self.scheduled:
            return "unhealthy", f"failed to create components: {errors}"
        return "exited", f"component shut down with error: no components started successfully: {errors}"

    def _labels(self, signal: str) -> Labels:
        labels = {"exporter": self.exporter_id, **EXPORTER_SCOPE}
        if self.settings.kind == "otlp_http":
            parts = urlsplit(self.settings.urls[signal])
            labels["server_address"] = parts.hostname or ""
            if parts.path:
                labels["url_path"] = parts.path
            if parts.port:
                labels["server_port"] = str(parts.port)
        else:
            host, sep, port = self.settings.endpoint.rpartition(":")
            labels["server_address"] = host if sep and port.isdigit() else self.settings.endpoint
            if sep and port.isdigit():
                labels["server_port"] = port
        return labels

    def _queue_size(self, signal: str, delta: int) -> None:
        if not self.settings.queue.enabled:
            return
        labels = {"exporter": self.exporter_id, "data_type": signal, **EXPORTER_SCOPE}
        self.metrics.add("otelcol_exporter_queue_size", labels, delta)

    def consume(self, signal: str, request: Message) -> Optional[ConsumeError]:
        """Hands a request to the sending queue: None, or (error, permanent) when it is refused
        (or, with the queue disabled, when it finally failed)."""
        count = otlp.item_count(signal, request)
        with self.lock:
            if self.failure and not self.scheduled:  # Run returned: the component's context is cancelled
                return "context canceled", False, ""
            if self.failure:
                return f"{self.id}: the exporter is not running (stand-in's own text)", False, ""
            if self.settings.queue.enabled and len(self.queue) >= self.settings.queue.size:
                self.metrics.add(f"otelcol_exporter_enqueue_failed_{UNIT[signal]}_total",
                                 {"exporter": self.exporter_id, **EXPORTER_SCOPE}, count)
                return "sending queue is full", False, ""
            now = self.clock()
            pending = Pending(signal, request, count, now, now)
            self.queue.append(pending)
            self._queue_size(signal, 1)
        if not self.settings.queue.enabled:
            return self._wait_for(pending)
        return None

    def _wait_for(self, pending: Pending) -> Optional[ConsumeError]:
        """sending_queue disabled: the caller's thread makes every attempt, sleeping (real
        seconds) through the backoff, and gets the final error."""
        while True:
            with self.lock:
                if pending not in self.queue:
                    if pending.error is None:
                        return None
                    code = pending.error_type if pending.error_type in GRPC_CODES.values() or \
                        pending.error_type == "Unknown" else ""
                    return self._final_error(pending), pending.permanent, code
                delay = pending.due - self.clock()
            if delay > 0:
                time.sleep(delay)
            with self.lock:
                if pending.busy:
                    continue
                pending.busy = True
                self.in_flight += 1
            self.attempt(pending)

    def _final_error(self, pending: Pending) -> str:
        """The error the pipeline gets with the queue off: consumererror.NewPermanent's
        "Permanent error: " on a permanent one, wrapped by the retry sender (only there when
        retry_on_failure is enabled) in "not retryable error: " or "no more retries left: "."""
        error = f"Permanent error: {pending.error}" if pending.permanent else str(pending.error)
        if not self.settings.retry.enabled:
            return error
        return ("not retryable error: " if pending.permanent else "no more retries left: ") + error

    def _claim(self, now: float) -> List[Pending]:
        free = max(0, self.settings.queue.consumers - self.in_flight)
        ready = [p for p in self.queue if p.due <= now and not p.busy][:free]
        for pending in ready:
            pending.busy = True
        self.in_flight += len(ready)
        return ready

    def claim(self) -> List[Pending]:
        """The requests due now, marked in flight (at most num_consumers at a time)."""
        with self.lock:
            return self._claim(self.clock())

    def attempt(self, pending: Pending) -> None:
        if self.settings.kind == "otlp_grpc":
            outcome = Outcome(False, False, "_OTHER", NOT_PLAYED_GRPC)
        else:
            outcome = post(self.settings, pending.signal, pending.request, self.agent)
        with self.lock:
            pending.busy = False
            pending.attempts += 1
            self.in_flight -= 1
            self._settle(pending, outcome)

    def _settle(self, pending: Pending, outcome: Outcome) -> None:
        labels = self._labels(pending.signal)
        unit = UNIT[pending.signal]
        if outcome.ok:
            self._finish(pending)
            self.metrics.add(f"otelcol_exporter_sent_{unit}_total", labels, pending.count)
            return
        delay = self._next_delay(pending, outcome)
        if delay is not None:
            pending.due = self.clock() + delay
            self.log("info", f"{self.id}: Exporting failed. Will retry the request after interval. "
                             f"error={outcome.message!r} interval={delay:.3f}s")
            return
        self._finish(pending)
        pending.error, pending.permanent, pending.error_type = outcome.message, not outcome.retryable, \
            outcome.error_type
        self.metrics.add(f"otelcol_exporter_sent_{unit}_total", labels, 0)
        failed = dict(labels, error_type=outcome.error_type,
                      error_permanent="false" if outcome.retryable else "true")
        self.metrics.add(f"otelcol_exporter_send_failed_{unit}_total", failed, pending.count)
        self.log("error", f"{self.id}: Exporting failed. Dropping data. error={outcome.message!r} "
                          f"dropped_items={pending.count}")

    def _next_delay(self, pending: Pending, outcome: Outcome) -> Optional[float]:
        """The retry sender: None when the request ends now (permanent, retries off, or the next
        try would come after max_elapsed_time)."""
        retry = self.settings.retry
        if not outcome.retryable or not retry.enabled:
            return None
        pending.interval = pending.interval or retry.initial
        spread = retry.randomization * pending.interval
        delay = pending.interval - spread + self.rng() * (2 * spread)
        pending.interval = min(pending.interval * retry.multiplier, retry.max_interval)
        delay = max(delay, outcome.retry_after)
        if retry.max_elapsed > 0 and self.clock() + delay > pending.started + retry.max_elapsed:
            return None
        return delay

    def _finish(self, pending: Pending) -> None:
        if pending in self.queue:
            self.queue.remove(pending)
            self._queue_size(pending.signal, -1)

    def pending(self) -> int:
        with self.lock:
            return len(self.queue)


def grpc_not_played_notice(component_id: str) -> str:
    return f"{component_id}: {NOT_PLAYED_GRPC}; its requests fail and are counted as failed"

