"""TEST FIXTURE (shared by the Alloy stand-in's otelcol.receiver.otlp and the OTLP sink
stand-in): the server side of OTLP/HTTP as the OpenTelemetry collector's receiver answers
(receiver/otlpreceiver otlphttp.go, encoder.go).

A request body is protobuf (application/x-protobuf) or OTLP/JSON (application/json); one that
does not decode is answered 400 with a google.rpc.Status (code 3, InvalidArgument) in the
request's encoding, an accepted one 200 with an empty Export*ServiceResponse (protobuf
`0a 00`, JSON `{"partialSuccess":{}}`).
"""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Dict, Optional, Tuple

from . import otlp

PB, JSON = "application/x-protobuf", "application/json"
MAX_BODY = 20 * 1024 * 1024  # confighttp defaultMaxRequestBodySize
INVALID_ARGUMENT = 3
Separators = Tuple[str, str]
GO_JSON: Separators = (",", ":")  # encoding/json writes no spaces


def media_type(value: str) -> str:
    """mime.ParseMediaType's media type, lower-cased; "" when it does not parse."""
    kind = value.split(";", 1)[0].strip().lower()
    head, sep, tail = kind.partition("/")
    return kind if sep and head and tail and " " not in kind else ""


def status_body(encoding: str, code: int, message: str, separators: Separators = GO_JSON) -> bytes:
    """A google.rpc.Status (no details) in the request's encoding."""
    if encoding == PB:
        return otlp.encode_status(code, message)
    return json.dumps({"code": code, "message": message}, separators=separators).encode()


def response_body(signal: str, encoding: str, separators: Separators = GO_JSON) -> bytes:
    """The empty Export*ServiceResponse of an accepted request, in its encoding."""
    if encoding == PB:
        return otlp.encode_response(signal)
    return json.dumps(otlp.response_json(signal), separators=separators).encode()


class OtlpHandler(BaseHTTPRequestHandler):
    """HTTP/1.1, no access log; _write, and the decoding and answers of an export request.
    json_separators: how its JSON answers are spaced."""
    protocol_version = "HTTP/1.1"
    json_separators: Separators = GO_JSON

    def log_message(self, fmt: str, *args: object) -> None:  # no access log
        return

    def _write(self, status: int, ctype: str, body: bytes, extra: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _rpc_status(self, status: int, encoding: str, code: int, message: str) -> None:
        self._write(status, encoding, status_body(encoding, code, message, self.json_separators))

    def _decode_export(self, signal: str, encoding: str, body: bytes) -> Optional[otlp.Message]:
        """The Export*ServiceRequest of body; None once a 400 has answered one that does not decode."""
        try:
            return otlp.decode_request(signal, body) if encoding == PB \
                else otlp.request_from_json(signal, json.loads(body))
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            self._rpc_status(400, encoding, INVALID_ARGUMENT, str(err))
            return None

    def _exported(self, signal: str, encoding: str) -> None:
        self._write(200, encoding, response_body(signal, encoding, self.json_separators))
