"""TEST FIXTURE: an OTLP/HTTP backend behind authentication, used only by the fleet.alloy lab.

Plays a production OTLP endpoint such as Grafana Cloud's OTLP gateway or a Tempo behind an
authenticating proxy: POST /v1/traces, /v1/metrics and /v1/logs (protobuf or JSON, gzip,
zlib, deflate or snappy bodies; Content-Encoding zstd and lz4 are refused as not played)
need HTTP basic auth with one of the credentials it was given (401 and
`WWW-Authenticate: Basic` otherwise) and, when started with --tenant-header, that header
(401 `no org id` without it, 403 for a tenant outside --tenant). Accepted requests are
answered as the OpenTelemetry collector's receiver does (200 with an empty
Export*ServiceResponse in the request's encoding) and recorded, decoded. TLS with --cert
and --key. Lab only: GET /lab/received ({"requests": every accepted request: signal, user,
tenant, headers less Authorization, resource attributes, span names, metric names and
values, log bodies; "refused": path, status and reason of every refused one}) and
GET /lab/health. `client.py` is the application side: it sends one span, one gauge or one
log record over OTLP/HTTP.
"""
