"""TEST FIXTURE (gateway stand-in): the three production shapes, each a function from
a request to a decision: answer it here (Reply) or send it upstream (Forward)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import Message
from typing import Callable, Dict, Optional, Tuple, Union

from .auth import Authorization, is_basic, is_bearer, parse_authorization
from .credentials import Credentials

Headers = Tuple[Tuple[str, str], ...]
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str  # without the query string
    headers: Message  # case-insensitive


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = TEXT
    headers: Headers = ()


@dataclass(frozen=True)
class Forward:
    upstream: str  # base URL, http://host:port
    path: str
    headers: Headers = ()  # set on the upstream request, replacing the client's


Decision = Union[Reply, Forward]


@dataclass(frozen=True)
class Shape:
    name: str
    decide: Callable[[Incoming], Decision]


@dataclass(frozen=True)
class Upstreams:
    loki: str
    prometheus: str


NOT_FOUND = Reply(404, "404 page not found\n")
LOKI_PATHS = {p: p for p in ("/loki/api/v1/push", "/loki/api/v1/query_range", "/ready")}
PROMETHEUS_PATHS = {
    "/api/v1/write": "/api/v1/write",  # Prometheus
    "/-/ready": "/-/ready",
    "/api/v1/query": "/api/v1/query",
    "/api/v1/query_range": "/api/v1/query_range",
    "/api/v1/push": "/api/v1/write",  # Mimir
    "/ready": "/-/ready",
    "/prometheus/api/v1/query": "/api/v1/query",
    "/prometheus/api/v1/query_range": "/api/v1/query_range",
}
CLOUD_PUSH = {"/api/prom/push": "/api/v1/write"}
CLOUD_QUERY = {"/api/prom/api/v1/query": "/api/v1/query",
               "/api/prom/api/v1/query_range": "/api/v1/query_range"}
CLOUD_LOGS = {p: p for p in ("/loki/api/v1/push", "/loki/api/v1/query_range")}


def unauthorized(realm: str, schemes: Tuple[str, ...] = ("Basic",)) -> Reply:
    challenges = tuple(("WWW-Authenticate", f'{scheme} realm="{realm}"') for scheme in schemes)
    return Reply(401, "401 Unauthorized\n", headers=challenges)


def cloud_error(message: str) -> Reply:
    """Grafana Cloud's answer to a refused credential."""
    return Reply(401, json.dumps({"status": "error", "error": f"authentication error: {message}"}), JSON)


def _auth(request: Incoming) -> Optional[Authorization]:
    return parse_authorization(request.headers.get("Authorization"))


def loki_gateway(credentials: Credentials, upstreams: Upstreams) -> Shape:
    """Loki (auth_enabled) behind a gateway: basic auth, then the tenant must be one of
    the credential's; the tenant goes upstream as X-Scope-OrgID."""
    cred = credentials.loki

    def decide(request: Incoming) -> Decision:
        if not is_basic(_auth(request), cred.username, cred.password):
            return unauthorized("loki")
        target = LOKI_PATHS.get(request.path)
        if target is None:
            return NOT_FOUND
        tenant = (request.headers.get("X-Scope-OrgID") or "").strip()
        if not tenant:
            return Reply(401, "no org id\n")
        if tenant not in cred.tenants:
            return Reply(403, f'tenant "{tenant}" is not allowed for this user\n')
        return Forward(upstreams.loki, target, (("X-Scope-OrgID", tenant),))

    return Shape("loki", decide)


def prometheus_gateway(credentials: Credentials, upstreams: Upstreams) -> Shape:
    """Prometheus or Mimir behind a gateway: basic auth or a bearer token."""
    cred = credentials.prometheus

    def decide(request: Incoming) -> Decision:
        auth = _auth(request)
        if not (is_basic(auth, cred.username, cred.password) or is_bearer(auth, cred.bearer_token)):
            return unauthorized("prometheus", ("Basic", "Bearer"))
        target = PROMETHEUS_PATHS.get(request.path)
        return NOT_FOUND if target is None else Forward(upstreams.prometheus, target)

    return Shape("prometheus", decide)


def grafana_cloud(credentials: Credentials, upstreams: Upstreams) -> Shape:
    """Grafana Cloud: metrics and logs on one port, instance ID and token as basic auth."""
    metrics, logs = credentials.cloud_metrics, credentials.cloud_logs

    def decide(request: Incoming) -> Decision:
        auth = _auth(request)
        if request.path in CLOUD_PUSH:
            if is_basic(auth, metrics.username, metrics.rw_token) or \
                    is_basic(auth, metrics.username, metrics.write_only_token):
                return Forward(upstreams.prometheus, CLOUD_PUSH[request.path])
            return cloud_error("invalid token")
        if request.path in CLOUD_QUERY:
            if is_basic(auth, metrics.username, metrics.rw_token):
                return Forward(upstreams.prometheus, CLOUD_QUERY[request.path])
            if is_basic(auth, metrics.username, metrics.write_only_token):
                return cloud_error("invalid scope requested")
            return cloud_error("invalid token")
        if request.path in CLOUD_LOGS:
            if is_basic(auth, logs.username, logs.token):
                return Forward(upstreams.loki, CLOUD_LOGS[request.path], (("X-Scope-OrgID", logs.username),))
            return cloud_error("invalid token")
        return NOT_FOUND

    return Shape("cloud", decide)


SHAPES: Dict[str, Callable[[Credentials, Upstreams], Shape]] = {
    "loki": loki_gateway,
    "prometheus": prometheus_gateway,
    "cloud": grafana_cloud,
}
