"""TEST FIXTURE (stand-in for Grafana Alloy): the remotecfg service (Grafana Fleet Management's
client), ported from grafana/alloy internal/service/remotecfg (remotecfg.go, arguments.go,
config_manager.go, api_client.go, metrics.go), internal/alloyseed and internal/web/api.

Arguments (arguments.go, common/config/types.go): url, id (default: the UID of
<storage.path>/alloy_seed.json, a UUID made on first use), name, attributes, poll_frequency
("1m", at least "10s"), basic_auth, authorization, bearer_token(_file), tls_config, http_headers.
`alloy run` refuses, as "Failed to evaluate service: decoding configuration: <msg>" over the
block: `poll_frequency must be at least "10s", got "5s"`, `"collector" is a reserved namespace
for remotecfg attribute keys`, `at most one of basic_auth, authorization, oauth2, bearer_token &
bearer_token_file must be configured` and the basic_auth / authorization / tls_config checks.
`alloy validate` does not evaluate them (unchanged).

Update (at every load whose arguments changed): a new client, the attributes (collector.os and
collector.version first, then the block's), the cache location (<storage>/remotecfg/<FNV-32 of
the arguments>), then RegisterCollector; its failure fails the load ("Failed to evaluate
service: updating service: <connect error>"): a server that cannot be reached at `alloy run`
makes the initial load fail, as in Alloy. Once running, an Update also fetches at once.
Run (after the initial load): fetch (falling back to the cache when GetConfig fails), then
RegisterCollector again (its failure ends the service: no more polling), then GetConfig every
poll_frequency; UnregisterCollector on shutdown. A fetch follows configManager: not_modified,
the content's FNV-32 hash against the last received and last loaded ones, APPLYING, load,
APPLIED or FAILED (AllMessages), the cached config restored after a failed load when one was
loaded before, the cache written after a good load, an empty content ignored; then another
GetConfig when the status or the effective config has not been sent yet. The status is sent
only when it changed since the last one sent (the first GetConfig carries UNSET).

Metrics: remotecfg_hash{hash}, remotecfg_last_load_successful, remotecfg_last_load_not_modified,
remotecfg_load_failures_total, remotecfg_load_attempts_total,
remotecfg_last_load_success_timestamp_seconds, remotecfg_request_duration_seconds (classic
buckets), values with all their digits. The timestamp is, as in Alloy, the time of the last
GetConfig answer that carried a configuration, set before that configuration loads (or is
refused); not-modified answers, failures and status reports leave it. API:
/api/v0/web/remotecfg/components (the remote root's components, custom ones with
createdModuleIDs), /api/v0/web/remotecfg/modules/<module ID>/components,
/api/v0/web/remotecfg/components/<id>; 500 "remote config service startup in progress" before
the service runs. The remote modules' built-in components run in their own telemetry
(modules.py for what the content may hold).

Not modelled: oauth2, proxies, server_name, client certificates given as PEM, follow_redirects
and enable_http2, the poll jitter, header validation, the byte-exact syntax.Marshal behind the
cache file's name (a stand-in rendering of the arguments is hashed), the otelcol components
and component_path labels of remote modules, the remote modules' components in /-/healthy
(Alloy does not count them either) and /metrics' controller counts.
"""
from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from lab_wire import collector_proto as proto
from lab_wire.collector_client import Client
from lab_wire.connect import ConnectError

from . import modules
from .diag import go_quote, make
from .syntax import Block
from .telemetry import Telemetry, _first, _text, attr, duration, evaluate, number_text, user_agent

SERVICE = "remotecfg"
MIN_POLL = 10.0
DISABLED = float("inf")
UNSET, APPLIED, APPLYING, FAILED = range(4)
RESERVED = "collector"
SECRETS = frozenset({"password", "credentials", "key_pem"})
STARTING = "remote config service startup in progress"
DEF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Log = Callable[[str, str], None]


# ---- values --------------------------------------------------------------------------

def fnv32(data: bytes) -> str:
    """getHash: hash/fnv New32 (FNV-1), hex of its four bytes."""
    value = 0x811C9DC5
    for byte in data:
        value = (value * 0x01000193) & 0xFFFFFFFF
        value ^= byte
    return f"{value:08x}"


def go_duration(seconds: float) -> str:
    """time.Duration.String for whole milliseconds and more: 1m0s, 10s, 1h30m0s, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds else "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def seed_uid(storage: Path, version: str) -> str:
    """alloyseed.Init/Get: the UID of <storage>/alloy_seed.json, a new UUID written there when
    it is missing or unreadable (`{"UID":...,"created_at":...,"version":...}`)."""
    path = storage / "alloy_seed.json"
    try:
        uid = json.loads(path.read_text()).get("UID", "")
        if uid:
            return str(uid)
    except (OSError, ValueError, AttributeError):
        pass
    uid = str(uuid.uuid4())
    created = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    storage.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"UID": uid, "created_at": created, "version": f"v{version.lstrip('v')}"},
                               separators=(",", ":")))
    return uid


# ---- arguments -----------------------------------------------------------------------

@dataclass
class Arguments:
    url: str = ""
    id: str = ""
    name: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)
    poll_frequency: float = 60.0
    basic_auth: Optional[Dict[str, str]] = None
    authorization: Optional[Dict[str, str]] = None
    bearer_token: str = ""
    bearer_token_file: str = ""
    tls: Dict[str, object] = field(default_factory=dict)
    headers: Dict[str, List[str]] = field(default_factory=dict)
    oauth2: bool = False

    def marshal(self) -> str:
        """A stand-in for syntax.Marshal(Arguments): the non-zero fields, secrets as (secret)."""
        lines = [f"url = {go_quote(self.url)}", f"id = {go_quote(self.id)}"]
        lines += [f"name = {go_quote(self.name)}"] if self.name else []
        pairs = ", ".join(f"{go_quote(k)} = {go_quote(v)}" for k, v in sorted(self.attributes.items()))
        lines += [f"attributes = {{{pairs}}}", f"poll_frequency = {go_quote(go_duration(self.poll_frequency))}"]
        for title, block in (("basic_auth", self.basic_auth), ("authorization", self.authorization), ("tls", self.tls)):
            if block:
                shown = {k: "(secret)" if k in SECRETS else str(v) for k, v in sorted(block.items())}
                lines.append(f"{title} {{{', '.join(f'{k} = {go_quote(v)}' for k, v in shown.items())}}}")
        return "\n".join(lines + ["follow_redirects = true", "enable_http2 = true"]) + "\n"


def _strings(block: Optional[Block], names: str) -> Dict[str, str]:
    return {name: _text(block, name) for name in names.split() if block is not None and _text(block, name)}


def _tls(block: Optional[Block]) -> Dict[str, object]:
    found: Dict[str, object] = dict(_strings(block, "ca_pem ca_file cert_pem cert_file key_pem key_file server_name"))
    if block is not None and evaluate(attr(block, "insecure_skip_verify")) is True:
        found["insecure_skip_verify"] = True
    return found


def _block_errors(args: Arguments) -> Optional[str]:
    """The Validate methods of the nested blocks (run first, while decoding them)."""
    basic, auth, tls = args.basic_auth or {}, args.authorization, args.tls
    if basic.get("password") and basic.get("password_file"):
        return "at most one of basic_auth password & password_file must be configured"
    if auth is not None:
        if auth.get("credentials") and auth.get("credentials_file"):
            return "at most one of authorization credentials & credentials_file must be configured"
        auth["type"] = auth.get("type", "").strip() or "Bearer"
        if auth["type"].lower() == "basic":
            return 'authorization type cannot be set to "basic", use "basic_auth" block instead'
    for kind, pem in (("ca", "ca"), ("cert", "cert"), ("key", "key")):
        if tls.get(f"{pem}_pem") and tls.get(f"{pem}_file"):
            return f"at most one of {kind}_pem and {kind}_file must be configured"
    cert, key = bool(tls.get("cert_pem") or tls.get("cert_file")), bool(tls.get("key_pem") or tls.get("key_file"))
    if cert and not key:
        return "exactly one of key_pem or key_file must be configured when a client certificate is configured"
    if key and not cert:
        return "exactly one of cert_pem or cert_file must be configured when a client key is configured"
    return None


def validate(args: Arguments) -> Optional[str]:
    """Arguments.Validate after the blocks' own checks; the message Alloy gives, or None."""
    found = _block_errors(args)
    if found:
        return found
    if args.poll_frequency < MIN_POLL:
        return f'poll_frequency must be at least "10s", got {go_quote(go_duration(args.poll_frequency))}'
    if any(key.startswith(RESERVED + ".") for key in args.attributes):
        return f"{go_quote(RESERVED)} is a reserved namespace for remotecfg attribute keys"
    methods = [args.basic_auth is not None, args.authorization is not None, args.oauth2, bool(args.bearer_token),
               bool(args.bearer_token_file)]
    if sum(methods) > 1:
        return "at most one of basic_auth, authorization, oauth2, bearer_token & bearer_token_file must be configured"
    return None


def parse_arguments(block: Optional[Block], default_id: Callable[[], str]) -> Arguments:
    """The evaluated remotecfg block (defaults when there is none); ValueError as Validate says."""
    if block is None:
        return Arguments(id=default_id())
    attributes = evaluate(attr(block, "attributes"))
    headers = evaluate(attr(block, "http_headers"))
    args = Arguments(
        url=_text(block, "url"), id=_text(block, "id") or default_id(), name=_text(block, "name"),
        attributes={str(k): str(v) for k, v in attributes.items()} if isinstance(attributes, dict) else {},
        poll_frequency=duration(_text(block, "poll_frequency"), 60.0),
        basic_auth=_strings(_first(block, "basic_auth"), "username password password_file")
        if _first(block, "basic_auth") is not None else None,
        authorization=_strings(_first(block, "authorization"), "type credentials credentials_file")
        if _first(block, "authorization") is not None else None,
        bearer_token=_text(block, "bearer_token"), bearer_token_file=_text(block, "bearer_token_file"),
        tls=_tls(_first(block, "tls_config")), oauth2=_first(block, "oauth2") is not None,
        headers={str(k): [str(x) for x in v] for k, v in headers.items() if isinstance(v, list)}
        if isinstance(headers, dict) else {})
    error = validate(args)
    if error:
        raise ValueError(error)
    return args


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as err:
        raise ConnectError("unknown", f"unable to read {what} {path}: open {path}: "
                                      f"{(err.strerror or str(err)).lower()}") from None


def tls_context(tls: Dict[str, object]) -> Optional[ssl.SSLContext]:
    """config.NewTLSConfig for the fields the stand-in plays; ValueError with prometheus's text."""
    if not tls:
        return None
    ca_file, ca_pem = str(tls.get("ca_file", "")), str(tls.get("ca_pem", ""))
    try:
        context = ssl.create_default_context(cafile=ca_file or None, cadata=ca_pem or None)
    except (OSError, ssl.SSLError) as err:
        text = getattr(err, "strerror", None) or str(err)
        raise ValueError(f"unable to load specified CA cert {ca_file or 'PEM'}: {text}") from None
    if tls.get("cert_file"):
        context.load_cert_chain(str(tls["cert_file"]), str(tls.get("key_file", "")) or None)
    if tls.get("insecure_skip_verify"):
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def make_client(args: Arguments, version: str, context: Optional[ssl.SSLContext]) -> Client:
    """The Connect client for one call; credential files are read for every request, as
    prometheus/common's round trippers do."""
    client = Client(args.url, user_agent=user_agent(version), context=context, timeout=30.0,
                    headers=dict(args.headers))
    if args.basic_auth is not None:
        basic = args.basic_auth
        client.username = basic.get("username", "")
        client.password = basic.get("password") or (_read(basic["password_file"], "basic auth password file")
                                                    if basic.get("password_file") else "")
    auth = args.authorization or ({"type": "Bearer", "credentials": args.bearer_token} if args.bearer_token else
                                  {"type": "Bearer", "credentials_file": args.bearer_token_file}
                                  if args.bearer_token_file else None)
    if auth is not None:
        secret = auth.get("credentials") or (_read(auth["credentials_file"], "authorization credentials file")
                                             if auth.get("credentials_file") else "")
        client.authorization = f"{auth.get('type') or 'Bearer'} {secret}"
    return client


# ---- metrics -------------------------------------------------------------------------

@dataclass
class Metrics:
    hashes: Dict[str, float] = field(default_factory=dict)
    last_load_successful: float = 0.0
    last_load_not_modified: float = 0.0
    failures: float = 0.0
    attempts: float = 0.0
    success_time: float = 0.0
    durations: List[float] = field(default_factory=list)

    def render(self) -> str:
        out = ["# HELP remotecfg_hash Hash of the currently active remote configuration.",
               "# TYPE remotecfg_hash gauge"]
        out += [f'remotecfg_hash{{hash="{h}"}} 1' for h in sorted(self.hashes)]
        for name, kind, text, value in (
                ("last_load_not_modified", "gauge", "Remote config not modified since last fetch",
                 self.last_load_not_modified),
                ("last_load_success_timestamp_seconds", "gauge",
                 "Timestamp of the last successful remote configuration load", self.success_time),
                ("last_load_successful", "gauge", "Remote config loaded successfully", self.last_load_successful),
                ("load_attempts_total", "counter", "Attempts to load remote configuration", self.attempts),
                ("load_failures_total", "counter", "Remote configuration load failures", self.failures)):
            out += [f"# HELP remotecfg_{name} {text}", f"# TYPE remotecfg_{name} {kind}",
                    f"remotecfg_{name} {number_text(value)}"]
        out += ["# HELP remotecfg_request_duration_seconds Duration of remote configuration requests.",
                "# TYPE remotecfg_request_duration_seconds histogram"]
        for bound in DEF_BUCKETS:
            count = sum(1 for d in self.durations if d <= bound)
            out.append(f'remotecfg_request_duration_seconds_bucket{{le="{number_text(bound)}"}} {count}')
        out += [f'remotecfg_request_duration_seconds_bucket{{le="+Inf"}} {len(self.durations)}',
                f"remotecfg_request_duration_seconds_sum {number_text(sum(self.durations))}",
                f"remotecfg_request_duration_seconds_count {len(self.durations)}"]
        return "\n".join(out) + "\n"


# ---- the isolated controller the remote configuration runs in ------------------------

class RemoteRuntime:
    """The remote modules' components (health as the stand-in's root ones) and their telemetry."""

    def __init__(self, storage: Path, version: str) -> None:
        self.storage, self.version = storage, version
        self.lock = threading.Lock()
        self.components: Dict[str, Dict[str, object]] = {}  # module ID -> local ID -> server.Component
        self.created: Dict[str, List[str]] = {}  # global ID of a custom component -> its module IDs
        self.telemetry: Dict[str, Telemetry] = {}
        self.stops: Dict[str, threading.Event] = {}
        self.log: Optional[Log] = None  # set by start(): telemetry loops run

    def load(self, content: str) -> Optional[str]:
        """Loads the content; the error (AllMessages) when it does not load, nothing changed."""
        from .server import Component, _carry_over  # noqa: PLC0415 - server imports this module
        try:
            loaded = modules.load(content)
        except modules.RemoteLoadError as err:
            return str(err)
        fresh: Dict[str, Dict[str, object]] = {}
        created: Dict[str, List[str]] = {}
        with self.lock:
            for module_id, entries in loaded.items():
                old = self.components.get(module_id, {})
                fresh[module_id] = {}
                for cid, entry in entries.items():
                    comp = Component(entry.block)
                    if entry.custom:
                        comp.message = "started custom component"
                        created[f"{module_id}/{cid}"] = entry.created
                    if cid in old:
                        _carry_over(old[cid], comp)  # type: ignore[arg-type]
                    fresh[module_id][cid] = comp
            self.components, self.created = fresh, created
        self._telemetry({m: {cid: e.block for cid, e in entries.items() if not e.custom}
                         for m, entries in loaded.items()})
        return None

    def _telemetry(self, blocks: Dict[str, Dict[str, Block]]) -> None:
        for module_id in [m for m in self.telemetry if m not in blocks]:
            self.stops.pop(module_id).set()
            del self.telemetry[module_id]
        for module_id, found in blocks.items():
            if module_id not in self.telemetry:
                self.telemetry[module_id] = Telemetry(self.storage / module_id, self.version)
                self.stops[module_id] = threading.Event()
                self._run(module_id)
            self.telemetry[module_id].update(found)

    def _run(self, module_id: str) -> None:
        if self.log is not None:
            threading.Thread(target=self.telemetry[module_id].run, args=(self.log, self.stops[module_id]),
                             daemon=True).start()

    def start(self, log: Log) -> None:
        self.log = log
        for module_id in self.telemetry:
            self._run(module_id)

    def listing(self, module_id: str) -> Optional[List[Dict[str, object]]]:
        with self.lock:
            found = self.components.get(module_id)
            return None if found is None else [self._json(module_id, c) for c in found.values()]

    def detail(self, module_id: str, local_id: str) -> Optional[Dict[str, object]]:
        with self.lock:
            comp = self.components.get(module_id, {}).get(local_id)
            if comp is None:
                return None
            data = self._json(module_id, comp)
        data.update(arguments=[], exports=[], debugInfo=[])
        return data

    def _json(self, module_id: str, comp: object) -> Dict[str, object]:
        data: Dict[str, object] = comp.as_json()  # type: ignore[attr-defined]
        data["moduleID"] = module_id
        created = self.created.get(f"{module_id}/{data['localID']}")
        if created:
            data["createdModuleIDs"] = created
        return data

    def samples_text(self) -> str:
        return "".join(t.render() for t in list(self.telemetry.values()))


# ---- the service ---------------------------------------------------------------------

class NotModified(Exception):
    """errNotModified: config not modified since last fetch."""


class RemoteCfg:
    """The remotecfg service of one `alloy run`; every method takes the one lock."""

    def __init__(self, storage: Path, version: str, log: Log) -> None:
        self.storage, self.version, self.log = storage, version, log
        self.path = storage / SERVICE
        self.lock = threading.RLock()
        self.applied: Optional[Arguments] = None  # ServiceNode.args: the last arguments Update took
        self.args = Arguments()
        self.context: Optional[ssl.SSLContext] = None
        self.attrs: Dict[str, str] = {}
        self.args_hash = ""
        self.poll = DISABLED
        self.controller = False  # Run has made the isolated controller
        self.status: Tuple[int, str] = (UNSET, "")
        self.sent_status: Optional[Tuple[int, str]] = None
        self.effective: Optional[str] = None
        self.sent_effective: Optional[str] = None
        self.remote_hash = self.loaded_hash = self.received_hash = ""
        self.metrics = Metrics()
        self.runtime = RemoteRuntime(self.path, version)
        self.wake = threading.Event()

    # -- Update

    def update(self, block: Optional[Block]) -> Optional[str]:
        """ServiceNode.Evaluate: None, or the diagnostic of a load this service fails."""
        with self.lock:
            try:
                args = parse_arguments(block, lambda: seed_uid(self.storage, self.version))
            except ValueError as err:
                return self._diagnostic(block, f"decoding configuration: {err}")
            if args == self.applied:
                return None
            if not args.url:
                self._disable(args)
                return None
            error = self._update_args(args)
            if error is None:
                error = self._register("failed to register collector during configuration update")
            if error is not None:
                return self._diagnostic(block, f"updating service: {error}")
            self.applied = args
            if self.controller:
                self.fetch_load(allow_cache=True)
            return None

    @staticmethod
    def _diagnostic(block: Optional[Block], message: str) -> str:
        where = block if block is not None else Block(SERVICE, "")
        return make("Error", where.file, (where.line, where.col), f"Failed to evaluate service: {message}",
                    where.end).render()

    def _disable(self, args: Arguments) -> None:
        """updateHandleEmptyUrl: no client, a fresh config manager without a controller."""
        self.args, self.applied, self.poll = args, args, DISABLED
        self.loaded_hash = self.received_hash = ""
        self.controller = False
        self.wake.set()

    def _update_args(self, args: Arguments) -> Optional[str]:
        if args.tls != self.args.tls or args.url != self.args.url:
            try:
                self.context = tls_context(args.tls)
            except ValueError as err:
                self.log("error", f"failed to create API client service=remotecfg url={args.url} err={err}")
                return str(err)
        self.args_hash = fnv32(args.marshal().encode())
        if args.poll_frequency != self.poll:
            self.poll = args.poll_frequency
            self.wake.set()
        self.attrs = {f"{RESERVED}.version": f"v{self.version.lstrip('v')}", f"{RESERVED}.os": "linux",
                      **args.attributes}
        self.args = args
        return None

    @property
    def enabled(self) -> bool:
        return bool(self.args.url)

    def client(self) -> Client:
        return make_client(self.args, self.version, self.context)

    def _register(self, context: str) -> Optional[str]:
        """RegisterCollector; its error text, logged, or None (also when disabled)."""
        if not self.enabled:
            return None
        try:
            self.client().register(self.args.id, dict(self.attrs), self.args.name)
        except ConnectError as err:
            self.log("error", f"failed to register collector with remote server service=remotecfg "
                              f"id={self.args.id} name={self.args.name} err={err}")
            self.log("error", f"{context} service=remotecfg err={err}")
            return str(err)
        return None

    # -- Run

    def begin(self) -> bool:
        """The start of Run: fetch (cache allowed), then register; False when Run returns."""
        with self.lock:
            self.controller = True
            self.fetch_load(allow_cache=True)
            return self._register("failed to register collector during service startup") is None

    def run(self, stop: threading.Event) -> None:
        """Run: begin, then poll every poll_frequency until stop; unregister at the end."""
        if not self.begin():
            return
        while not stop.is_set():
            self.wake.clear()
            if self.wake.wait(min(self.poll, 3600.0)) or stop.is_set():
                continue
            self.fetch_load(allow_cache=False)

    def shutdown(self) -> None:
        with self.lock:
            if not self.enabled:
                return
            try:
                self.client().unregister(self.args.id)
            except ConnectError as err:
                self.log("error", f"failed to unregister collector with remote server service=remotecfg "
                                  f"id={self.args.id} err={err}")

    # -- configManager

    def fetch_load(self, allow_cache: bool) -> None:
        with self.lock:
            if not self.enabled:
                return
            error = self._fetch_remote()
            if error is not None:
                if allow_cache:
                    self.log("error", f"failed to fetch remote config, falling back to cache service=remotecfg "
                                      f"err={error}")
                    self._load_cache()
                else:
                    self.log("error", f"failed to fetch remote config, continuing with current config "
                                      f"service=remotecfg err={error}")
            if self.sent_status != self.status or (self.effective is not None
                                                   and self.effective != self.sent_effective):
                try:
                    self._get_config()
                except (ConnectError, NotModified):
                    pass

    def _get_config(self) -> proto.Message:
        status = None if self.sent_status == self.status else self.status
        effective = None if self.effective == self.sent_effective else self.effective
        self.sent_status = self.status
        self.sent_effective = self.effective
        started = time.monotonic()
        try:
            answer = self.client().get_config(self.args.id, dict(self.attrs), self.remote_hash,
                                              *(status if status is not None else (None, "")), effective=effective)
        except ConnectError as err:
            self.sent_status = self.sent_effective = None
            self.log("error", f"failed to get configuration from remote server service=remotecfg "
                              f"id={self.args.id} err={err}")
            raise
        self.metrics.durations.append(time.monotonic() - started)
        if answer.get("not_modified"):
            raise NotModified()
        return answer

    def _set_status(self, status: int, message: str = "") -> None:
        self.status = (status, message)

    def _fetch_remote(self) -> Optional[str]:
        """fetchLoadRemoteConfig: None when done (not_modified included), else the error."""
        try:
            answer = self._get_config()
        except NotModified:
            self.metrics.attempts += 1
            self.metrics.last_load_not_modified = 1
            if self.loaded_hash and self.loaded_hash == self.received_hash:
                self._set_status(APPLIED)
            return None
        except ConnectError as err:
            self.metrics.attempts += 1
            self.log("error", f"failed to fetch remote config service=remotecfg err={err}")
            self.metrics.failures += 1
            self.metrics.last_load_successful = 0
            self._set_status(FAILED, str(err))
            return str(err)
        self.metrics.attempts += 1
        self.metrics.success_time = time.time()
        self.metrics.last_load_not_modified = 0
        self.remote_hash = answer.get("hash") or self.remote_hash
        return self._apply(answer.get("content", ""))

    def _apply(self, content: str) -> Optional[str]:
        digest = fnv32(content.encode())
        if digest == self.received_hash:
            return None
        self.received_hash = digest
        if digest == self.loaded_hash:
            self._set_status(APPLIED)
            return None
        self.log("info", f"attempting to parse and load new remote configuration service=remotecfg "
                         f"config_hash={digest}")
        self._set_status(APPLYING)
        error = self._parse_and_load(content)
        if error is not None:
            self.log("error", f"failed to parse and load new remote configuration service=remotecfg "
                              f"received_hash={digest} loaded_hash={self.loaded_hash} err={error}")
            self.metrics.last_load_successful = 0
            self._set_status(FAILED, error)
            return self._restore(error)
        self._loaded(digest)
        self._set_status(APPLIED)
        self.log("info", f"successfully loaded remote configuration service=remotecfg config_hash={digest} "
                         f"config_size={len(content.encode())}")
        self._write_cache(content)
        return None

    def _restore(self, error: str) -> Optional[str]:
        """After a failed load: the cached config again, when one was loaded before."""
        if not self.loaded_hash:
            return error
        self.log("info", "attempting to reload cached configuration to restore component health service=remotecfg")
        try:
            cached = self.cache_path.read_text()
        except OSError as err:
            self.log("error", f"failed to read cached configuration for fallback service=remotecfg err={err}")
            return str(err)
        failed = self._parse_and_load(cached)
        if failed is not None:
            self.log("error", f"failed to reload cached configuration service=remotecfg err={failed}")
            return failed
        self.log("info", "successfully restored cached configuration service=remotecfg")
        self.metrics.last_load_successful = 1
        return None

    def _loaded(self, digest: str) -> None:
        self.loaded_hash = digest
        self.metrics.hashes[digest] = 1
        self.metrics.last_load_successful = 1

    def _parse_and_load(self, content: str) -> Optional[str]:
        if not content:
            return None
        error = self.runtime.load(content)
        if error is not None:
            self.log("error", f"failed to parse and load configuration service=remotecfg "
                              f"config_size={len(content.encode())} err={error}")
            return error
        self.effective = content
        return None

    @property
    def cache_path(self) -> Path:
        return self.path / self.args_hash

    def _read_cache(self) -> Optional[str]:
        try:
            return self.cache_path.read_text()
        except OSError as err:
            self.log("error", f"failed to read from cache service=remotecfg cache_path={self.cache_path} err={err}")
            return None

    def _write_cache(self, content: str) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.cache_path.write_text(content)
            self.cache_path.chmod(0o750)
        except OSError as err:
            self.log("error", f"failed to flush remote configuration contents the on-disk cache "
                              f"service=remotecfg err={err}")

    def _load_cache(self) -> None:
        """fetchLoadLocalConfig."""
        cached = self._read_cache()
        if cached is None:
            return
        error = self._parse_and_load(cached)
        if error is not None:
            self.log("error", f"failed to load from cache service=remotecfg cache_path={self.cache_path} "
                              f"err={error}")
            return
        digest = fnv32(cached.encode())
        self.loaded_hash = digest
        self.metrics.hashes[digest] = 1
        self.log("info", f"successfully loaded configuration from cache service=remotecfg config_hash={digest} "
                         f"config_size={len(cached.encode())} cache_path={self.cache_path}")

    # -- HTTP

    def api(self, path: str) -> Tuple[int, str, str]:
        """(status, body, content type) of GET /api/v0/web/remotecfg/..."""
        if not self.controller:
            return 500, STARTING + "\n", "text/plain; charset=utf-8"
        rest = path[len("/api/v0/web/remotecfg/"):]
        if rest == "components":
            return 200, json.dumps(self.runtime.listing(modules.CONTROLLER_ID)), "application/json"
        if rest.startswith("modules/") and rest.endswith("/components"):
            found = self.runtime.listing(rest[len("modules/"):-len("/components")])
            return (500, "module not found\n", "text/plain; charset=utf-8") if found is None \
                else (200, json.dumps(found), "application/json")
        if rest.startswith("components/"):
            module_id, _, local_id = rest[len("components/"):].rpartition("/")
            detail = self.runtime.detail(module_id or modules.CONTROLLER_ID, local_id)
            if detail is not None:
                return 200, json.dumps(detail), "application/json"
        return 404, "404 page not found\n", "text/plain; charset=utf-8"

    def render(self) -> str:
        return self.metrics.render() + self.runtime.samples_text()
