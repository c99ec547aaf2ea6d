"""TEST FIXTURE (stand-in for Grafana Alloy): otelcol.receiver.otlp's servers.

HTTP, as the OpenTelemetry collector v0.158.0 serves it (receiver/otlpreceiver otlp.go,
otlphttp.go, encoder.go, internal/errors; config/confighttp server.go and compression.go)
with Alloy's defaults (internal/component/otelcol/receiver/otlp/otlp.go: endpoint
0.0.0.0:4318, paths /v1/traces, /v1/metrics, /v1/logs, compression_algorithms "", gzip,
zstd, zlib, snappy, deflate, lz4):
- only the signals that have an `output` get a path (Alloy creates the receiver per signal
  with a next consumer); other paths answer Go's `404 page not found`;
- Content-Encoding is undone before anything else (400 `unsupported Content-Encoding: x`,
  written as an rpc Status in the request's content type, or a 500 JSON fallback when that is
  neither protobuf nor JSON); zstd and lz4 are refused with a 400 saying the stand-in cannot
  decode them (no zstd or lz4 in Python's standard library);
- not POST: 405 `405 method not allowed, supported: [POST]` (text/plain); a Content-Type
  other than application/x-protobuf or application/json: 415 `415 unsupported media type,
  supported: [application/json, application/x-protobuf]` (text/plain);
- a body over max_request_body_size (20MiB) or that does not decode: 400 with a
  google.rpc.Status (code 3) in the request's encoding;
- a request with no items is answered at once; otherwise the pipeline's answer decides:
  200 and an Export*ServiceResponse (protobuf `0a 00`, JSON `{"partialSuccess":{}}`), or
  503 (code 14, retryable) / 500 (code 13, permanent) with the error's text;
- otelcol_receiver_accepted_*, refused_* and failed_* counted per request that had items,
  labelled receiver="otlp/<component id>" and transport="http";
- tls { cert_file key_file (or cert_pem key_pem), client_ca_file }: HTTPS, TLS 1.2 at least;
- auth = otelcol.auth.basic.<x>.handler: basic auth (contrib basicauth) against its htpasswd
  as Alloy's ConvertServer builds it (the file's lines, then inline, then the deprecated
  username:password; go-htpasswd keeps the last line per user), checked before anything
  else: 401 with an rpc Status (code 16) and `no basic auth provided`, `invalid authorization
  scheme prefix`, `invalid authorization format` or `invalid credentials`; plain and {SHA}
  entries only, bcrypt/MD5/crypt entries are not played and never match. When the htpasswd
  file cannot be opened the extension never started: a request whose header parses gets no
  answer (the nil matchFunc panics and Go's net/http closes the connection);
- a port that cannot be bound: see Receiver.health.

gRPC (a `grpc` block) is NOT played: gRPC needs HTTP/2 with HPACK, which Python's standard
library does not have. When a grpc block is given, the stand-in binds its endpoint (default
0.0.0.0:4317, so that a port conflict behaves as in Alloy) and answers every connection with
an HTTP/2 SETTINGS frame and a GOAWAY (HTTP_1_1_REQUIRED) whose debug data says that the
stand-in does not play gRPC, then closes it: a gRPC client fails loudly instead of believing
its data was delivered. The receiver logs this once when it starts.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple, Type
from urllib.parse import urlsplit

from lab_wire import content, otlp
from lab_wire.otlp_http import JSON, MAX_BODY, PB, OtlpHandler, media_type
from lab_wire.serving import LabServer, server_context as tls_server_context

from .telemetry import FAMILIES, Registry

FALLBACK = b'{"code": 13, "message": "failed to marshal error message"}'
DEFAULT_ALGORITHMS = frozenset({"", "gzip", "zstd", "zlib", "snappy", "deflate", "lz4"})
RECEIVER_SCOPE = {"otel_scope_name": "go.opentelemetry.io/collector/receiver/receiverhelper",
                  "otel_scope_schema_url": "", "otel_scope_version": ""}
UNIT = {"traces": ("spans", "spans"), "metrics": ("metric_points", "metric points"),
        "logs": ("log_records", "log records")}
GRPC_NOT_PLAYED = b"the Alloy stand-in (TEST FIXTURE) does not play gRPC: use otelcol.receiver.otlp's http block"
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# What the pipeline answers a receiver: None, or (error text, permanent, the gRPC code name of
# the status it carries, "" for none).
ConsumeError = Tuple[str, bool, str]
Consume = Callable[[str, otlp.Message], Optional[ConsumeError]]
# internal/errors GetHTTPStatusCodeFromStatus: gRPC code name -> (HTTP status, code number)
STATUS_OF_CODE = {"Canceled": (503, 1), "DeadlineExceeded": (503, 4), "Aborted": (503, 10), "OutOfRange": (503, 11),
                  "Unavailable": (503, 14), "DataLoss": (503, 15), "ResourceExhausted": (429, 8),
                  "InvalidArgument": (400, 3), "Unauthenticated": (401, 16), "PermissionDenied": (403, 7),
                  "Unimplemented": (404, 12), "Unknown": (500, 2), "Internal": (500, 13)}
Log = Callable[[str, str], None]

for _signal, (_unit, _words) in UNIT.items():
    FAMILIES.update({
        f"otelcol_receiver_accepted_{_unit}_total": (
            "counter", f"Number of {_words} successfully pushed into the pipeline. [Alpha]"),
        f"otelcol_receiver_refused_{_unit}_total": (
            "counter", f"Number of {_words} that could not be pushed into the pipeline. [Alpha]"),
        f"otelcol_receiver_failed_{_unit}_total": (
            "counter", f"The number of {_words} that failed to be processed by the receiver due to internal "
                       "errors. [Alpha]"),
    })


@dataclass(frozen=True)
class Endpoint:
    address: str
    tls: Tuple[Tuple[str, str], ...] = ()  # tls block attributes (name, value), sorted


@dataclass(frozen=True)
class ReceiverConfig:
    http: Optional[Endpoint]
    grpc: Optional[Endpoint]
    paths: Tuple[Tuple[str, str], ...] = (("/v1/traces", "traces"), ("/v1/metrics", "metrics"),
                                          ("/v1/logs", "logs"))
    signals: FrozenSet[str] = frozenset()  # the signals with an output
    algorithms: FrozenSet[str] = DEFAULT_ALGORITHMS
    max_body: int = MAX_BODY
    # http.auth = otelcol.auth.basic...handler: its htpasswd lines (user:password); None: no auth
    htpasswd: Optional[Tuple[str, ...]] = None
    auth_broken: bool = False  # that auth extension failed to start (htpasswd file unreadable)


def split_address(address: str, default_port: int) -> Tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host.strip("[]"), int(port) if port else 0


def sanitized_path(path: str) -> str:
    """otlpreceiver.SanitizedURLPath: a path that does not start with / gets one."""
    return path if path.startswith("/") else "/" + path


def server_context(tls: Dict[str, str]) -> ssl.SSLContext:
    try:
        context = tls_server_context(tls.get("cert_file", ""), tls.get("key_file"))
    except (OSError, ssl.SSLError) as err:
        raise OSError(f"failed to load TLS config: failed to load TLS cert and key: {err}") from None
    if tls.get("client_ca_file"):
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=tls["client_ca_file"])
    return context


AUTH_PANICS = "auth extension not started"  # check_basic's answer when its matchFunc is nil


def htpasswd_table(lines: Tuple[str, ...]) -> Dict[str, str]:
    """go-htpasswd's table: lines trimmed, blank ones skipped, `user:secret` split at the
    first colon; a later line for the same user replaces the earlier one."""
    table: Dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        name, sep, secret = line.partition(":")
        if line and sep:
            table[name] = secret
    return table


def parse_basic(header: str) -> Tuple[str, str]:
    """basicauth.ParseBasicAuth: (user, password) or ValueError with its error text."""
    prefix = "Basic "
    if len(header) < len(prefix) or header[:len(prefix)].lower() != prefix.lower():
        raise ValueError("invalid authorization scheme prefix")
    try:
        decoded = base64.b64decode(header[len(prefix):], validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        raise ValueError("invalid authorization format") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise ValueError("invalid authorization format")
    return user, password


def _matches(secret: str, password: str) -> bool:
    """Plain and {SHA} entries; bcrypt, MD5 and crypt hashes are not played (never match)."""
    if secret.startswith("{SHA}"):
        digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        return hmac.compare_digest(secret[5:], digest)
    return not secret.startswith("$") and hmac.compare_digest(secret.encode(), password.encode())


def check_basic(header: Optional[str], htpasswd: Tuple[str, ...], broken: bool = False) -> Optional[str]:
    """basicauth.Authenticate (contrib extension/internal/basicauth): None when the credentials
    match, else its error: `no basic auth provided`, `invalid authorization scheme prefix`,
    `invalid authorization format` (bad base64, no colon), `invalid credentials`. broken: the
    server extension never started (its htpasswd file could not be opened), so its nil
    matchFunc panics once a header parses: AUTH_PANICS."""
    if not header:
        return "no basic auth provided"
    try:
        user, password = parse_basic(header)
    except ValueError as err:
        return str(err)
    if broken:
        return AUTH_PANICS
    secret = htpasswd_table(htpasswd).get(user)
    return None if secret is not None and _matches(secret, password) else "invalid credentials"


GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 12, 429: 8, 502: 14, 503: 14, 504: 14}


def make_handler(config: ReceiverConfig, consume: Consume, metrics: Registry,
                 receiver_id: str) -> Type[BaseHTTPRequestHandler]:
    paths = {sanitized_path(p): s for p, s in config.paths if s in config.signals}

    class Handler(OtlpHandler):
        server_version = "alloy-standin-otlp"
        timeout = 60

        def _status(self, encoding: str, status: int, message: str) -> None:
            """writeError: an rpc Status with the gRPC code of the HTTP status."""
            self._rpc_status(status, encoding, GRPC_CODE.get(status, 13 if status == 500 else 2), message)

        def _error_handler(self, message: str, status: int) -> None:
            """errorHandler of the decompressor: by the request's content type, JSON if none."""
            kind = media_type(self.headers.get("Content-Type") or JSON)
            if kind in (PB, JSON):
                self._status(kind, status, message)
            else:
                self._write(500, JSON, FALLBACK)

        def _raw_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: List[bytes] = []
                while True:
                    size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline(1024)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            raw = self._raw_body()
            if config.htpasswd is not None:  # the auth interceptor comes first
                refused = check_basic(self.headers.get("Authorization"), config.htpasswd, config.auth_broken)
                if refused == AUTH_PANICS:  # net/http recovers the handler's panic: no answer at all
                    self.close_connection = True
                    return
                if refused is not None:
                    self._error_handler(refused, 401)
                    return
            try:
                body = content.decode(self.headers.get("Content-Encoding") or "", raw, config.algorithms)
            except ValueError as err:
                self._error_handler(str(err), 400)
                return
            signal = paths.get(urlsplit(self.path).path)
            if signal is None:
                self._write(404, "text/plain; charset=utf-8", b"404 page not found\n",
                            {"X-Content-Type-Options": "nosniff"})
                return
            if self.command != "POST":
                self._write(405, "text/plain", b"405 method not allowed, supported: [POST]")
                return
            encoding = media_type(self.headers.get("Content-Type") or "")
            if encoding not in (PB, JSON):
                self._write(415, "text/plain",
                            f"415 unsupported media type, supported: [{JSON}, {PB}]".encode())
                return
            if len(body) > config.max_body:
                self._status(encoding, 400, "http: request body too large")
                return
            self._export(signal, encoding, body)

        def _export(self, signal: str, encoding: str, body: bytes) -> None:
            request = self._decode_export(signal, encoding, body)
            if request is None:
                return
            count = otlp.item_count(signal, request)
            if count:
                error = consume(signal, request)
                self._count(signal, count, error is not None)
                if error is not None:
                    message, permanent, code = error
                    # GetStatusFromError: a status the error carries, else Internal or Unavailable
                    status, number = STATUS_OF_CODE.get(code) or ((500, 13) if permanent else (503, 14))
                    self._rpc_status(status, encoding, number, message)
                    return
            self._exported(signal, encoding)

        def _count(self, signal: str, count: int, refused: bool) -> None:
            unit = UNIT[signal][0]
            labels = {"receiver": f"otlp/{receiver_id}", "transport": "http", **RECEIVER_SCOPE}
            metrics.add(f"otelcol_receiver_accepted_{unit}_total", labels, 0 if refused else count)
            metrics.add(f"otelcol_receiver_refused_{unit}_total", labels, count if refused else 0)
            metrics.add(f"otelcol_receiver_failed_{unit}_total", labels, 0)

        do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    return Handler


class GrpcRefuser:
    """Binds the gRPC endpoint and refuses every connection with an HTTP/2 GOAWAY."""

    def __init__(self, address: Tuple[str, int], context: Optional[ssl.SSLContext]) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(address)
            self.sock.listen(16)
        except OSError:
            self.sock.close()
            raise
        self.context = context
        if context is not None:
            context.set_alpn_protocols(["h2"])
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._refuse, args=(conn,), daemon=True).start()

    def _refuse(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.recv(len(HTTP2_PREFACE))
            settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
            payload = b"\x00\x00\x00\x00" + (0xD).to_bytes(4, "big") + GRPC_NOT_PLAYED
            goaway = len(payload).to_bytes(3, "big") + b"\x07\x00\x00\x00\x00\x00" + payload
            conn.sendall(settings + goaway)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def listen_error(address: str, err: OSError) -> str:
    """Go's `listen tcp <addr>: bind: <reason>`."""
    reason = (err.strerror or str(err)).lower()
    return f"listen tcp {address}: bind: {reason}"


@dataclass
class Receiver:
    """One otelcol.receiver.otlp: its servers, started by start()."""

    id: str
    config: ReceiverConfig
    consume: Consume
    log: Log
    metrics: Registry = field(init=False)
    http: Optional[LabServer] = None
    grpc: Optional[GrpcRefuser] = None
    failure: str = ""
    scheduled: bool = False  # started by a reload's Update (Schedule), not by the component's Run

    def __post_init__(self) -> None:
        self.metrics = Registry(self.id)

    def start(self) -> None:
        """otlpReceiver.Start: gRPC first, then HTTP; a failure leaves nothing listening. Without
        any output Alloy creates no receiver at all, so nothing listens."""
        if not self.config.signals:
            return
        try:
            if self.config.grpc is not None:
                tls = dict(self.config.grpc.tls)
                context = server_context(tls) if tls.get("cert_file") else None
                host, port = split_address(self.config.grpc.address, 4317)
                try:
                    self.grpc = GrpcRefuser((host or "0.0.0.0", port), context)
                except OSError as err:
                    raise OSError(listen_error(self.config.grpc.address, err)) from None
                self.log("warn", f"{self.id}: Starting GRPC server endpoint={self.config.grpc.address}: "
                                 f"{GRPC_NOT_PLAYED.decode()}; every gRPC connection is refused")
            if self.config.http is not None:
                self._start_http(self.config.http)
        except OSError as err:
            self.close()
            self.failure = str(err)

    def _start_http(self, endpoint: Endpoint) -> None:
        tls = dict(endpoint.tls)
        context = server_context(tls) if tls.get("cert_file") else None
        host, port = split_address(endpoint.address, 4318)
        try:
            self.http = LabServer((host or "0.0.0.0", port), make_handler(self.config, self.consume, self.metrics,
                                                                        self.id), context)
        except OSError as err:
            raise OSError(listen_error(endpoint.address, err)) from None
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.log("info", f"{self.id}: Starting HTTP server endpoint={self.http_address()}")

    def http_address(self) -> str:
        if self.http is None:
            return ""
        host, port = str(self.http.server_address[0]), int(self.http.server_address[1])
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def health(self) -> Tuple[str, str]:
        """The scheduler's health (Alloy internal/component/otelcol/internal/scheduler). The
        collector's otlp receiver is one shared component (receiver/otlpreceiver factory.go,
        internal/sharedcomponent): only the first signal's Start runs it and returns its error,
        the others return nil. So at `alloy run`, with exactly one signal nothing started and
        Run exits; with two or more the scheduler keeps running, unhealthy. Restarted by a
        reload (Schedule while running), it never exits: unhealthy either way."""
        if not self.failure:
            return "healthy", "started scheduled components"
        if len(self.config.signals) == 1 and not self.scheduled:
            return "exited", f"component shut down with error: no components started successfully: {self.failure}"
        return "unhealthy", f"failed to create components: {self.failure}"

    def close(self) -> None:
        if self.http is not None:
            server, self.http = self.http, None
            server.shutdown()
            server.server_close()
        if self.grpc is not None:
            self.grpc.close()
            self.grpc = None
