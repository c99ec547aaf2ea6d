"""TEST FIXTURE (the application side of the lab's OTLP tests): sends one span, one gauge or
one log record over OTLP/HTTP, as an instrumented application's SDK would, and says what
the endpoint answered. Standard library only (with lab_wire), so that it runs on the lab
hosts with nothing but python3.

`python3 -m otlp_sink.client --endpoint http://127.0.0.1:4318 [--signal traces|metrics|logs|all]
[--service-name NAME] [--service-instance-id ID] [--resource k=v ...] [--name NAME] [--value N]
[--user NAME --password PASSWORD] [--header K=V ...] [--json] [--gzip] [--ca-file PEM | --insecure]`
exits 0 when every request got a 2xx answer, 1 otherwise (each answer on stderr).
"""
from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import json
import os
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from lab_wire import otlp
from lab_wire.otlp import Message

SIGNALS = ("traces", "metrics", "logs")
SCOPE = {"name": "fleet.alloy.lab", "version": "1.0.0"}


def resource(service: str, instance: str = "", extra: Optional[Dict[str, str]] = None) -> Message:
    attrs: Dict[str, object] = {"service.name": service}
    if instance:
        attrs["service.instance.id"] = instance
    attrs.update(extra or {})
    return {"attributes": otlp.make_attributes(attrs)}


def span_request(res: Message, name: str = "lab-span", now_ns: Optional[int] = None) -> Message:
    now = now_ns or time.time_ns()
    span = {"trace_id": os.urandom(16), "span_id": os.urandom(8), "name": name, "kind": 2,
            "start_time_unix_nano": now - 1_000_000, "end_time_unix_nano": now,
            "attributes": otlp.make_attributes({"lab.test": True}), "status": {"code": 1}}
    return {"resource_spans": [{"resource": res, "scope_spans": [{"scope": SCOPE, "spans": [span]}]}]}


def gauge_request(res: Message, name: str = "lab_gauge", value: float = 42.0, unit: str = "",
                  now_ns: Optional[int] = None) -> Message:
    point = {"time_unix_nano": now_ns or time.time_ns(), "as_double": float(value),
             "attributes": otlp.make_attributes({"lab.point": "1"})}
    metric: Message = {"name": name, "gauge": {"data_points": [point]}}
    if unit:
        metric["unit"] = unit
    return {"resource_metrics": [{"resource": res, "scope_metrics": [{"scope": SCOPE, "metrics": [metric]}]}]}


def log_request(res: Message, body: str = "lab log line", severity: int = 9,
                now_ns: Optional[int] = None) -> Message:
    record = {"time_unix_nano": now_ns or time.time_ns(), "severity_number": severity,
              "severity_text": "Info" if 9 <= severity <= 12 else "", "body": {"string_value": body},
              "attributes": otlp.make_attributes({"lab.log": "1"})}
    return {"resource_logs": [{"resource": res, "scope_logs": [{"scope": SCOPE, "log_records": [record]}]}]}


@dataclass
class Target:
    endpoint: str  # http(s)://host:port, the signal's path is added
    user: str = ""
    password: str = ""
    headers: Dict[str, str] = field(default_factory=dict)
    json: bool = False
    gzip: bool = False
    ca_file: str = ""
    insecure: bool = False
    timeout: float = 10.0


def _context(target: Target) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=target.ca_file or None)
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def encode(signal: str, request: Message, as_json: bool) -> bytes:
    if as_json:
        return json.dumps(otlp.request_to_json(signal, request)).encode()
    return otlp.encode_request(signal, request)


def send(target: Target, signal: str, request: Message) -> Tuple[int, bytes, Dict[str, str]]:
    """POSTs one Export*ServiceRequest to <endpoint>/v1/<signal>: (status, body, headers);
    status -1 and the error text when no answer came."""
    parts = urlsplit(target.endpoint)
    path = parts.path.rstrip("/") + f"/v1/{signal}"
    body = encode(signal, request, target.json)
    headers = {"Content-Type": "application/json" if target.json else "application/x-protobuf",
               "User-Agent": "fleet-alloy-lab-otlp-client/1.0"}
    if target.gzip:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    if target.user or target.password:
        token = base64.b64encode(f"{target.user}:{target.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    headers.update(target.headers)
    host, port = parts.hostname or "", parts.port
    try:
        if parts.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=target.timeout,
                                                                            context=_context(target))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=target.timeout)
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read(), {k.lower(): v for k, v in answer.getheaders()}
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as err:
        return -1, str(err).encode(), {}


def build(signal: str, res: Message, name: str, value: float) -> Message:
    if signal == "traces":
        return span_request(res, name or "lab-span")
    if signal == "metrics":
        return gauge_request(res, name or "lab_gauge", value)
    return log_request(res, name or "lab log line")


def _pairs(items: List[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="otlp_sink.client", description="TEST FIXTURE: send OTLP/HTTP test data")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--signal", choices=SIGNALS + ("all",), default="all")
    p.add_argument("--service-name", default="lab-app")
    p.add_argument("--service-instance-id", default="")
    p.add_argument("--resource", action="append", default=[], help="extra resource attribute KEY=VALUE")
    p.add_argument("--name", default="", help="span name, metric name or log body")
    p.add_argument("--value", type=float, default=42.0, help="the gauge's value")
    p.add_argument("--user", default="")
    p.add_argument("--password", default=os.environ.get("OTLP_CLIENT_PASSWORD", ""))
    p.add_argument("--header", action="append", default=[], help="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="OTLP/JSON instead of protobuf")
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--ca-file", default="")
    p.add_argument("--insecure", action="store_true")
    args = p.parse_args(argv)
    target = Target(args.endpoint, args.user, args.password, _pairs(args.header), args.json, args.gzip,
                    args.ca_file, args.insecure)
    res = resource(args.service_name, args.service_instance_id, _pairs(args.resource))
    failed = 0
    for signal in SIGNALS if args.signal == "all" else (args.signal,):
        status, body, _ = send(target, signal, build(signal, res, args.name, args.value))
        print(f"{signal}: {status} {body[:200]!r}", file=sys.stderr)
        failed += not 200 <= status < 300
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
