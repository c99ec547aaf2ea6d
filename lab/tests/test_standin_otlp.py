"""The Alloy stand-in runs otelcol.* pipelines as Alloy does, and the OTLP sink plays an
authenticated OTLP backend.

An application (otlp_sink.client) sends OTLP/HTTP to the stand-in's otelcol.receiver.otlp,
through memory_limiter and batch to otelcol.exporter.otlphttp with otelcol.auth.basic, into
the sink; otelcol.exporter.prometheus and otelcol.exporter.loki hand converted data to
prometheus.remote_write and loki.write, which deliver to local fake backends. The clock that
fires batch timers and retries is a fake one the tests move forward; nothing sleeps.
"""
from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import socket
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from alloy_standin.otel import split
from alloy_standin.otel_convert import metric_name, normalize_label
from alloy_standin.otel_export import request_headers, settings, signal_url
from alloy_standin.server import Agent
from alloy_standin.syntax import Block, parse
from lab_wire import decode_push, decode_write_request, otlp
from local_http import LocalServer
from otlp_sink import client
from otlp_sink.server import Settings, Store, load_users, make_server
from standin_harness import PUSH, WRITE, FakeClock, close_soon, get, running_agent, serving

RECEIVER = "otelcol.receiver.otlp.default"
EXPORTER = "otelcol.exporter.otlphttp.tempo"
USER, PASSWORD, TENANT = "tempo-1234", "s3cret-token", "team-a"
Metric = Tuple[str, Dict[str, str], float]


@pytest.fixture()
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_USERNAME", USER)
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_PASSWORD", PASSWORD)


@contextmanager
def otlp_sink(tls: Optional[Tuple[Path, Path]] = None) -> Iterator[Tuple[str, Store]]:
    store = Store()
    settings = Settings(users={USER: PASSWORD}, tenant_header="X-Scope-OrgID", tenants=frozenset({TENANT}),
                        cert=tls[0] if tls else None, key=tls[1] if tls else None)
    with serving(make_server(("127.0.0.1", 0), settings, store)) as server:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", store


@pytest.fixture()
def sink() -> Iterator[Tuple[str, Store]]:
    with otlp_sink() as found:
        yield found


def receiver_block(outputs: Dict[str, str], extra: str = "") -> str:
    lines = "\n".join(f"\t\t{signal} = [{targets}]" for signal, targets in outputs.items())
    return f'''
otelcol.receiver.otlp "default" {{
	http {{
		endpoint = "127.0.0.1:0"
	}}
{extra}
	output {{
{lines}
	}}
}}
'''


def otlphttp_block(url: str, extra: str = "", client_extra: str = "") -> str:
    return f'''
otelcol.auth.basic "tempo" {{
	username = sys.env("ALLOY_OTLP_TEMPO_USERNAME")
	password = sys.env("ALLOY_OTLP_TEMPO_PASSWORD")
}}

otelcol.exporter.otlphttp "tempo" {{
	client {{
		endpoint = "{url}"
		auth     = otelcol.auth.basic.tempo.handler
		headers  = {{ "X-Scope-OrgID" = "{TENANT}" }}
{client_extra}
	}}
{extra}
}}
'''


def tempo_pipeline(url: str, batch: str = "", client_extra: str = "") -> str:
    every = {s: "otelcol.processor.memory_limiter.default.input" for s in ("metrics", "logs", "traces")}
    to_batch = ", ".join(f"{s} = [otelcol.processor.batch.default.input]" for s in ("metrics", "logs", "traces"))
    to_tempo = "\n".join(f"\t\t{s} = [{EXPORTER}.input]" for s in ("metrics", "logs", "traces"))
    return receiver_block(every) + f'''
otelcol.processor.memory_limiter "default" {{
	check_interval         = "1s"
	limit_percentage       = 80
	spike_limit_percentage = 20
	output {{
		{to_batch.replace(", ", chr(10) + chr(9) + chr(9))}
	}}
}}

otelcol.processor.batch "default" {{
{batch}
	output {{
{to_tempo}
	}}
}}
''' + otlphttp_block(url, client_extra=client_extra)


def app(agent: Agent, **kwargs: object) -> client.Target:
    """The application's view of the receiver."""
    return client.Target("http://" + agent.otel.receiver_address(RECEIVER), **kwargs)  # type: ignore[arg-type]


RESOURCE = client.resource("checkout", "host-1", {"deployment.environment": "lab"})


def send_all(agent: Agent) -> None:
    target = app(agent)
    for signal, request in (("traces", client.span_request(RESOURCE, "GET /cart")),
                            ("metrics", client.gauge_request(RESOURCE, "queue_depth", 7.0)),
                            ("logs", client.log_request(RESOURCE, "cart emptied"))):
        status, body, headers = client.send(target, signal, request)
        assert (status, body, headers["content-type"]) == (200, b"\x0a\x00", "application/x-protobuf")


def flush(agent: Agent, clock: FakeClock, seconds: float = 0.2) -> None:
    """The batch timer fires, then the exporters attempt what is due."""
    clock.advance(seconds)
    agent.otel.tick()


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def scrape(base: str) -> List[Metric]:
    """The samples of /metrics; every otelcol family has its HELP and TYPE."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    typed = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    out: List[Metric] = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = _LINE.match(line)
        assert match, line
        name, body, value = match.groups()
        assert not name.startswith("otelcol_") or name in typed, f"{name} has no TYPE line"
        out.append((name, dict(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', body or "")), float(value)))
    return out


def metric(samples: List[Metric], name: str, **labels: str) -> Optional[float]:
    """The sum of the matching samples; None when no such series exists."""
    found = [v for n, ls, v in samples if n == name and labels.items() <= ls.items()]
    return sum(found) if found else None


def components(base: str) -> Dict[str, Dict[str, str]]:
    return {c["localID"]: c["health"] for c in json.loads(get(f"{base}/api/v0/web/components")[1])}


# ---- the application -> receiver -> batch -> otlphttp -> sink path ------------------------

def test_a_span_a_gauge_and_a_log_reach_the_sink_as_the_authenticated_user(
        sink: Tuple[str, Store], tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    url, store = sink
    with running_agent(tempo_pipeline(url), tmp_path, clock) as (agent, base):
        send_all(agent)
        agent.otel.tick()
        assert store.all() == []  # the batch waits for its 200ms timer
        flush(agent, clock)
        scraped = scrape(base)
        health = components(base)
    received = {r["signal"]: r for r in store.all()}
    assert sorted(received) == ["logs", "metrics", "traces"]
    for record in received.values():
        assert (record["user"], record["tenant"], record["items"]) == (USER, TENANT, 1)
        assert record["content_type"] == "application/x-protobuf" and record["content_encoding"] == "gzip"
        assert re.fullmatch(r"Alloy/v1\.18\.0 \(linux/\w+\)", record["headers"]["user-agent"])
        assert record["resources"][0]["attributes"] == {"service.name": "checkout", "service.instance.id": "host-1",
                                                        "deployment.environment": "lab"}
    scope = {s: received[s]["resources"][0]["scopes"][0] for s in received}
    assert [span["name"] for span in scope["traces"]["spans"]] == ["GET /cart"]
    assert [(m["name"], m["type"], m["points"][0]["value"]) for m in scope["metrics"]["metrics"]] == \
        [("queue_depth", "gauge", 7.0)]
    assert [log["body"] for log in scope["logs"]["logs"]] == ["cart emptied"]
    exporter = {"component_id": EXPORTER, "exporter": f"otlp_http/{EXPORTER}"}
    assert metric(scraped, "otelcol_exporter_sent_spans_total", url_path="/v1/traces", **exporter) == 1
    assert metric(scraped, "otelcol_exporter_sent_metric_points_total", **exporter) == 1
    assert metric(scraped, "otelcol_exporter_sent_log_records_total", **exporter) == 1
    assert metric(scraped, "otelcol_exporter_send_failed_spans_total") is None
    assert metric(scraped, "otelcol_receiver_accepted_spans_total", receiver=f"otlp/{RECEIVER}", transport="http") == 1
    for cid in (RECEIVER, EXPORTER, "otelcol.processor.batch.default"):
        assert health[cid]["state"] == "healthy" and health[cid]["message"] == "started scheduled components"
    assert health["otelcol.auth.basic.tempo"] == {**health["otelcol.auth.basic.tempo"], "state": "healthy",
                                                  "message": "started component"}  # Run's health is the newest


def test_a_wrong_password_is_refused_once_counted_as_failed_and_health_stays_healthy(
        sink: Tuple[str, Store], tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    url, store = sink
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_USERNAME", USER)
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_PASSWORD", "not-the-token")
    with running_agent(tempo_pipeline(url), tmp_path, clock) as (agent, base):
        status, _, _ = client.send(app(agent), "traces", client.span_request(RESOURCE, "GET /cart"))
        assert status == 200  # the receiver answers for the pipeline, not for the backend
        flush(agent, clock)
        for _ in range(3):
            flush(agent, clock, 400.0)  # past any backoff: a 401 is never retried
        scraped = scrape(base)
        health = components(base)
        healthy = get(f"{base}/-/healthy")
    assert store.all() == [] and store.refused() == [{"path": "/v1/traces", "status": 401,
                                                       "reason": "invalid credentials"}]
    labels = {"component_id": EXPORTER, "url_path": "/v1/traces"}
    assert metric(scraped, "otelcol_exporter_send_failed_spans_total", error_type="Unauthenticated",
                  error_permanent="true", **labels) == 1
    assert metric(scraped, "otelcol_exporter_sent_spans_total", **labels) == 0  # the series exists, at 0
    assert health[EXPORTER] == {**health[EXPORTER], "state": "healthy", "message": "started scheduled components"}
    assert healthy == (200, "All Alloy components are healthy.\n")


def test_a_503_is_retried_after_the_backoff_and_then_delivered(tmp_path: Path, clock: FakeClock,
                                                             credentials: None) -> None:
    backend = LocalServer()
    backend.routes["/v1/traces"] = (503, "")
    try:
        with running_agent(tempo_pipeline(backend.url), tmp_path, clock) as (agent, base):
            client.send(app(agent), "traces", client.span_request(RESOURCE))
            flush(agent, clock)
            assert len(backend.requests) == 1
            flush(agent, clock, 4.0)  # the first retry waits 5s (randomized: 2.5s to 7.5s)
            assert len(backend.requests) == 1
            backend.routes["/v1/traces"] = (200, "")
            flush(agent, clock, 1.5)
            scraped = scrape(base)
    finally:
        close_soon(backend)
    assert len(backend.requests) == 2
    first = backend.requests[0]
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert first.headers["X-Scope-OrgID"] == TENANT and first.headers["Content-Encoding"] == "gzip"
    decoded = otlp.decode_request("traces", gzip.decompress(first.body))
    assert otlp.item_count("traces", decoded) == 1
    assert metric(scraped, "otelcol_exporter_sent_spans_total", component_id=EXPORTER) == 1
    assert metric(scraped, "otelcol_exporter_send_failed_spans_total") is None


def test_an_unreachable_endpoint_is_retried_until_max_elapsed_time_then_counted_failed(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with running_agent(tempo_pipeline(url), tmp_path, clock) as (agent, base):
        client.send(app(agent), "logs", client.log_request(RESOURCE))
        flush(agent, clock)
        attempts = 1
        while metric(scrape(base), "otelcol_exporter_send_failed_log_records_total") is None:
            flush(agent, clock, 31.0)  # past max_interval: every pass is one more attempt
            attempts += 1
            assert attempts < 20
        scraped = scrape(base)
        health = components(base)
    assert 300 / 31 - 1 <= attempts <= 300 / 31 + 2  # max_elapsed_time 5m
    assert metric(scraped, "otelcol_exporter_send_failed_log_records_total", error_type="_OTHER",
                  error_permanent="false", component_id=EXPORTER) == 1
    assert health[EXPORTER]["state"] == "healthy"


def test_a_changed_exporter_starts_its_counters_again_from_zero(sink: Tuple[str, Store], tmp_path: Path,
                                                                 clock: FakeClock, credentials: None) -> None:
    url, _ = sink
    with running_agent(tempo_pipeline(url), tmp_path, clock) as (agent, base):
        client.send(app(agent), "traces", client.span_request(RESOURCE))
        flush(agent, clock)
        before = metric(scrape(base), "otelcol_exporter_sent_spans_total")
        (tmp_path / "config.alloy").write_text(tempo_pipeline(url, client_extra='\t\ttimeout = "10s"'))
        assert get(f"{base}/-/reload") == (200, "config reloaded\n")
        after = metric(scrape(base), "otelcol_exporter_sent_spans_total")
    assert (before, after) == (1, None)


def test_the_exporter_verifies_the_sink_over_tls_with_its_ca_file(pki: Dict[str, Path], tmp_path: Path,
                                                                 clock: FakeClock, credentials: None) -> None:
    with otlp_sink((pki["srv.pem"], pki["srv.key"])) as (url, store):
        trusted = f'\t\ttls {{\n\t\t\tca_file = "{pki["ca.pem"]}"\n\t\t}}'
        with running_agent(tempo_pipeline(url, client_extra=trusted), tmp_path / "good", clock) as (agent, _):
            client.send(app(agent), "traces", client.span_request(RESOURCE, "over TLS"))
            flush(agent, clock)
        untrusted = f'\t\ttls {{\n\t\t\tca_file = "{pki["other-ca.pem"]}"\n\t\t}}'
        with running_agent(tempo_pipeline(url, client_extra=untrusted), tmp_path / "bad", clock) as (agent, _):
            client.send(app(agent), "traces", client.span_request(RESOURCE, "refused"))
            flush(agent, clock)
            retrying = agent.otel.exporters[EXPORTER].pending()
    names = [r["resources"][0]["scopes"][0]["spans"][0]["name"] for r in store.all()]
    assert names == ["over TLS"] and retrying == 1  # a certificate it cannot verify: retried, never sent


def test_a_tls_file_that_cannot_be_read_makes_the_exporter_exit(tmp_path: Path, clock: FakeClock,
                                                               credentials: None) -> None:
    missing = tmp_path / "missing-ca.pem"
    tls = f'\t\ttls {{\n\t\t\tca_file = "{missing}"\n\t\t}}'
    with running_agent(tempo_pipeline("https://gateway:4318", client_extra=tls), tmp_path / "run", clock) as (_, base):
        health = components(base)[EXPORTER]
        healthy = get(f"{base}/-/healthy")
    assert health["state"] == "exited"
    assert f"failed to load CA CertPool File: failed to load cert {missing}: open {missing}: no such file" \
        in health["message"]
    assert healthy[0] == 200  # Alloy's /-/healthy lists unhealthy components only, not exited ones


def test_an_exited_exporter_answers_context_canceled_and_after_a_reload_a_tls_failure_is_unhealthy(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    missing = tmp_path / "missing-ca.pem"
    tls = f'\t\ttls {{\n\t\t\tca_file = "{missing}"\n\t\t}}'
    config = receiver_block({"traces": f"{EXPORTER}.input"}) + otlphttp_block("https://gateway:4318",
                                                                               client_extra=tls)
    with running_agent(config, tmp_path / "exited", clock) as (agent, _):
        status, body, _ = client.send(app(agent), "traces", client.span_request(RESOURCE))
    assert (status, otlp.decode_status(body)) == (503, {"code": 14, "message": "context canceled"})
    good = receiver_block({"traces": f"{EXPORTER}.input"}) + otlphttp_block("https://gateway:4318")
    with running_agent(good, tmp_path / "reload", clock) as (agent, base):
        (tmp_path / "reload" / "config.alloy").write_text(config)
        assert get(f"{base}/-/reload") == (200, "config reloaded\n")
        health = components(base)[EXPORTER]
        healthy = get(f"{base}/-/healthy")
    error = f"failed to load TLS config: failed to load CA CertPool File: failed to load cert {missing}: " \
            f"open {missing}: no such file or directory"
    assert (health["state"], health["message"]) == ("unhealthy", "failed to create components: "
                                                    + "; ".join([error] * 3))
    assert healthy == (500, "unhealthy components: otelcol.exporter.otlphttp\n")


# ---- the batch processor -------------------------------------------------------------------

def test_the_batch_groups_until_send_batch_size_and_splits_at_send_batch_max_size(
        sink: Tuple[str, Store], tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    url, store = sink
    sizes = '\ttimeout = "10s"\n\tsend_batch_size = 3\n\tsend_batch_max_size = 4'
    with running_agent(tempo_pipeline(url, batch=sizes), tmp_path, clock) as (agent, _):
        for name in ("a", "b"):
            client.send(app(agent), "traces", client.span_request(RESOURCE, name))
        flush(agent, clock, 1.0)
        waiting = len(store.all())
        three = client.span_request(RESOURCE, "c")
        three["resource_spans"][0]["scope_spans"][0]["spans"] *= 3  # c, c, c: five spans in all
        client.send(app(agent), "traces", three)
        agent.otel.tick()
        first = [r["items"] for r in store.all()]
        flush(agent, clock, 10.0)
    assert waiting == 0
    assert first == [4]  # size reached: sent at once, cut at send_batch_max_size
    assert [r["items"] for r in store.all()] == [4, 1]  # the rest when the timer fired


def test_split_keeps_resources_and_cuts_metrics_by_data_point() -> None:
    request = client.gauge_request(RESOURCE, "g", 1.0)
    metric_msg = request["resource_metrics"][0]["scope_metrics"][0]["metrics"][0]
    metric_msg["gauge"]["data_points"] *= 3
    head, rest = split("metrics", request["resource_metrics"] * 2, 4)
    assert otlp.item_count("metrics", {"resource_metrics": head}) == 4
    assert otlp.item_count("metrics", {"resource_metrics": rest}) == 2
    assert [r["resource"] for r in head + rest] == [RESOURCE] * 3


# ---- the receiver's HTTP surface ------------------------------------------------------------

def raw_post(agent: Agent, path: str, body: bytes, headers: Dict[str, str],
             method: str = "POST") -> Tuple[int, bytes, str]:
    request = urllib.request.Request(f"http://{agent.otel.receiver_address(RECEIVER)}{path}", data=body,
                                     headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read(), answer.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["Content-Type"]


def test_an_otlp_json_body_is_accepted_and_exported_as_protobuf(sink: Tuple[str, Store], tmp_path: Path,
                                                                clock: FakeClock, credentials: None) -> None:
    url, store = sink
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-app"}}]},
        "scopeSpans": [{"spans": [{"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
                                   "name": "from-json", "kind": 2, "startTimeUnixNano": "1544712660000000000",
                                   "endTimeUnixNano": 1544712661000000000}]}]}]}
    with running_agent(tempo_pipeline(url), tmp_path, clock) as (agent, _):
        answer = raw_post(agent, "/v1/traces", json.dumps(body).encode(), {"Content-Type": "application/json"})
        flush(agent, clock)
    assert answer == (200, b'{"partialSuccess":{}}', "application/json")
    span = store.all()[0]["resources"][0]["scopes"][0]["spans"][0]
    assert store.all()[0]["content_type"] == "application/x-protobuf"
    assert (span["name"], span["trace_id"], span["span_id"]) == ("from-json", "5b8efff798038103d269b633813fc60c",
                                                                 "eee19b7ec3c1b174")


def test_the_receiver_answers_like_the_collectors_otlp_http_server(tmp_path: Path, clock: FakeClock,
                                                                   credentials: None) -> None:
    pb = {"Content-Type": "application/x-protobuf"}
    span = otlp.encode_request("traces", client.span_request(RESOURCE))
    config = receiver_block({"traces": f"{EXPORTER}.input"}) + otlphttp_block("http://127.0.0.1:9")
    with running_agent(config, tmp_path, clock) as (agent, _):
        text = raw_post(agent, "/v1/traces", b"{}", {"Content-Type": "text/plain"})
        get_answer = raw_post(agent, "/v1/traces", b"", pb, method="GET")
        no_output = raw_post(agent, "/v1/logs", span, pb)  # logs have no output: no handler
        garbage = raw_post(agent, "/v1/traces", b"\xff\xff\xff", pb)
        gzipped = raw_post(agent, "/v1/traces", gzip.compress(span), {**pb, "Content-Encoding": "gzip"})
        brotli = raw_post(agent, "/v1/traces", span, {"Content-Type": "application/json", "Content-Encoding": "br"})
        brotli_text = raw_post(agent, "/v1/traces", span, {"Content-Type": "text/plain", "Content-Encoding": "br"})
        zstd = raw_post(agent, "/v1/traces", span, {**pb, "Content-Encoding": "zstd"})
        empty = raw_post(agent, "/v1/traces", b"", pb)
        queued = agent.otel.exporters[EXPORTER].pending()
    assert text == (415, b"415 unsupported media type, supported: [application/json, application/x-protobuf]",
                    "text/plain")
    assert get_answer == (405, b"405 method not allowed, supported: [POST]", "text/plain")
    assert no_output == (404, b"404 page not found\n", "text/plain; charset=utf-8")
    assert garbage[0] == 400 and garbage[2] == "application/x-protobuf"
    assert otlp.decode_status(garbage[1])["code"] == 3  # InvalidArgument
    assert gzipped == (200, b"\x0a\x00", "application/x-protobuf")
    assert brotli[0] == 400 and json.loads(brotli[1]) == {"code": 3, "message": "unsupported Content-Encoding: br"}
    assert brotli_text == (500, b'{"code": 13, "message": "failed to marshal error message"}', "application/json")
    assert zstd[0] == 400 and "not decoded by the stand-in" in otlp.decode_status(zstd[1])["message"]
    assert empty == (200, b"\x0a\x00", "application/x-protobuf")  # no spans: answered, nothing sent on
    assert queued == 1  # only the gzipped span reached the exporter


def test_a_full_sending_queue_refuses_with_503(tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    config = receiver_block({"traces": f"{EXPORTER}.input"}) + otlphttp_block(
        "http://127.0.0.1:9", extra="\tsending_queue {\n\t\tqueue_size = 1\n\t}")
    with running_agent(config, tmp_path, clock) as (agent, base):
        first = client.send(app(agent), "traces", client.span_request(RESOURCE))
        second = client.send(app(agent), "traces", client.span_request(RESOURCE))
        scraped = scrape(base)
    assert first[0] == 200
    assert second[0] == 503 and otlp.decode_status(second[1]) == {"code": 14, "message": "sending queue is full"}
    assert metric(scraped, "otelcol_exporter_enqueue_failed_spans_total", component_id=EXPORTER) == 1
    assert metric(scraped, "otelcol_receiver_refused_spans_total", component_id=RECEIVER) == 1
    assert metric(scraped, "otelcol_receiver_accepted_spans_total", component_id=RECEIVER) == 1


def test_without_a_sending_queue_the_backends_refusal_reaches_the_application(
        sink: Tuple[str, Store], tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    url, store = sink
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_USERNAME", USER)
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_PASSWORD", "not-the-token")
    config = receiver_block({"traces": f"{EXPORTER}.input"}) + otlphttp_block(
        url, extra="\tsending_queue {\n\t\tenabled = false\n\t}")
    with running_agent(config, tmp_path, clock) as (agent, _):
        status, body, _ = client.send(app(agent), "traces", client.span_request(RESOURCE))
    refusal = otlp.decode_status(body)
    assert status == 401 and refusal["code"] == 16  # the exporter's Unauthenticated status, passed back
    assert refusal["message"].startswith("not retryable error: Permanent error: rpc error: code = Unauthenticated "
                                         f"desc = error exporting items, request to {url}/v1/traces responded with "
                                         "HTTP Status Code 401")
    assert len(store.refused()) == 1


def test_without_queue_or_retries_the_error_has_no_retry_prefix_and_no_queue_series(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    backend = LocalServer()
    backend.routes["/v1/traces"] = (503, "")
    backend.routes["/v1/logs"] = (400, "")
    off = "\tsending_queue {\n\t\tenabled = false\n\t}\n\tretry_on_failure {\n\t\tenabled = false\n\t}"
    config = receiver_block({"traces": f"{EXPORTER}.input", "logs": f"{EXPORTER}.input"}) + \
        otlphttp_block(backend.url, extra=off)
    try:
        with running_agent(config, tmp_path, clock) as (agent, base):
            retryable = client.send(app(agent), "traces", client.span_request(RESOURCE))
            permanent = client.send(app(agent), "logs", client.log_request(RESOURCE))
            scraped = scrape(base)
    finally:
        close_soon(backend)
    url = backend.url
    assert (retryable[0], otlp.decode_status(retryable[1])) == (503, {
        "code": 14, "message": f"rpc error: code = Unavailable desc = error exporting items, request to {url}"
                               "/v1/traces responded with HTTP Status Code 503"})
    assert (permanent[0], otlp.decode_status(permanent[1])) == (400, {
        "code": 3, "message": f"Permanent error: rpc error: code = InvalidArgument desc = error exporting items, "
                              f"request to {url}/v1/logs responded with HTTP Status Code 400"})
    assert metric(scraped, "otelcol_exporter_queue_size") is None
    assert metric(scraped, "otelcol_exporter_queue_capacity") is None


def test_a_grpc_block_listens_but_refuses_every_connection_with_goaway(tmp_path: Path, clock: FakeClock,
                                                                      credentials: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    grpc = f'\tgrpc {{\n\t\tendpoint = "127.0.0.1:{port}"\n\t}}'
    config = receiver_block({"traces": f"{EXPORTER}.input"}, extra=grpc) + otlphttp_block("http://127.0.0.1:9")
    with running_agent(config, tmp_path, clock) as (agent, base):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        health = components(base)[RECEIVER]
    frames = [answer[3], answer[9 + 3]]  # frame types: SETTINGS, then GOAWAY
    assert frames == [0x04, 0x07]
    assert b"does not play gRPC" in answer
    assert health["state"] == "healthy"


def port_taken_config(port: int, signals: Tuple[str, ...]) -> str:
    return receiver_block({s: f"{EXPORTER}.input" for s in signals}).replace(
        "127.0.0.1:0", f"127.0.0.1:{port}") + otlphttp_block("http://127.0.0.1:9")


def test_a_receiver_whose_port_is_taken_with_two_signals_keeps_running_unhealthy(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with running_agent(port_taken_config(port, ("traces", "logs")), tmp_path, clock) as (agent, base):
            health = components(base)[RECEIVER]
            healthy = get(f"{base}/-/healthy")
    reason = f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    # one shared receiver: only the first signal's Start fails, so the scheduler keeps running
    assert (health["state"], health["message"]) == ("unhealthy", f"failed to create components: {reason}")
    assert healthy == (500, "unhealthy components: otelcol.receiver.otlp\n")


def test_a_receiver_whose_port_is_taken_with_one_signal_exits_while_alloy_still_says_healthy(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with running_agent(port_taken_config(port, ("traces",)), tmp_path, clock) as (agent, base):
            health = components(base)[RECEIVER]
            healthy = get(f"{base}/-/healthy")
    reason = f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert (health["state"], health["message"]) == (
        "exited", f"component shut down with error: no components started successfully: {reason}")
    assert healthy == (200, "All Alloy components are healthy.\n")


def test_after_a_reload_a_receiver_that_cannot_listen_is_unhealthy_not_exited(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with running_agent(port_taken_config(0, ("traces",)), tmp_path, clock) as (agent, base):
            (tmp_path / "config.alloy").write_text(port_taken_config(port, ("traces",)))
            assert get(f"{base}/-/reload") == (200, "config reloaded\n")
            health = components(base)
            healthy = get(f"{base}/-/healthy")
    reason = f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert (health[RECEIVER]["state"], health[RECEIVER]["message"]) == ("unhealthy",
                                                                         f"failed to create components: {reason}")
    assert health[EXPORTER]["message"] == "component evaluated"  # kept and re-evaluated by the reload
    assert healthy == (500, "unhealthy components: otelcol.receiver.otlp\n")


def test_a_receiver_with_basic_auth_refuses_requests_without_its_credentials(tmp_path: Path, clock: FakeClock,
                                                                             credentials: None) -> None:
    auth = '\t\tauth = otelcol.auth.basic.apps.handler'
    config = receiver_block({"traces": f"{EXPORTER}.input"}).replace('"127.0.0.1:0"', '"127.0.0.1:0"\n' + auth) + \
        'otelcol.auth.basic "apps" {\n\tusername = "app"\n\tpassword = "app-token"\n}\n' + \
        otlphttp_block("http://127.0.0.1:9")
    request = client.span_request(RESOURCE)
    with running_agent(config, tmp_path, clock) as (agent, _):
        anonymous = client.send(app(agent), "traces", request)
        wrong = client.send(app(agent, user="app", password="guess"), "traces", request)
        right = client.send(app(agent, user="app", password="app-token"), "traces", request)
        queued = agent.otel.exporters[EXPORTER].pending()
    assert anonymous[0] == 401 and otlp.decode_status(anonymous[1]) == {"code": 16,  # Unauthenticated
                                                                        "message": "no basic auth provided"}
    assert (wrong[0], otlp.decode_status(wrong[1])["message"]) == (401, "invalid credentials")
    assert right[0] == 200 and queued == 1


def auth_receiver(auth_body: str) -> str:
    auth = '\t\tauth = otelcol.auth.basic.apps.handler'
    return receiver_block({"traces": f"{EXPORTER}.input"}).replace('"127.0.0.1:0"', '"127.0.0.1:0"\n' + auth) + \
        'otelcol.auth.basic "apps" {\n' + auth_body + '\n}\n' + otlphttp_block("http://127.0.0.1:9")


def with_header(agent: Agent, value: str) -> Tuple[int, str]:
    span = otlp.encode_request("traces", client.span_request(RESOURCE))
    status, body, _ = raw_post(agent, "/v1/traces", span, {"Content-Type": "application/x-protobuf",
                                                            "Authorization": value})
    return status, otlp.decode_status(body)["message"] if status != 200 else ""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_receivers_basic_auth_answers_with_the_extensions_errors(tmp_path: Path, clock: FakeClock,
                                                                    credentials: None) -> None:
    with running_agent(auth_receiver('\tusername = "app"\n\tpassword = "app-token"'), tmp_path, clock) as (agent, _):
        answers = [with_header(agent, v) for v in ("Bearer abc", "Basic !!!", "Basic " + base64.b64encode(
            b"no-colon").decode(), basic("app", "guess"), "bAsIc " + basic("app", "app-token")[6:])]
    assert answers == [(401, "invalid authorization scheme prefix"), (401, "invalid authorization format"),
                       (401, "invalid authorization format"), (401, "invalid credentials"), (200, "")]


def test_the_htpasswd_file_comes_first_then_inline_then_username_and_the_last_line_wins(
        tmp_path: Path, clock: FakeClock, credentials: None) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("app:from-file\nother:file-only\n")
    body = f'\tusername = "app"\n\tpassword = "deprecated"\n\thtpasswd {{\n\t\tfile = "{htpasswd}"\n' \
           '\t\tinline = "app:inline"\n\t}'
    with running_agent(auth_receiver(body), tmp_path / "run", clock) as (agent, _):
        answers = {p: with_header(agent, basic(u, p))[0] for u, p in (("app", "from-file"), ("app", "inline"),
                                                                     ("app", "deprecated"), ("other", "file-only"))}
    assert answers == {"from-file": 401, "inline": 401, "deprecated": 200, "file-only": 200}


def test_an_htpasswd_file_that_cannot_be_opened_leaves_the_auth_unhealthy(tmp_path: Path, clock: FakeClock,
                                                                          credentials: None) -> None:
    missing = tmp_path / "missing.htpasswd"
    body = f'\thtpasswd {{\n\t\tfile = "{missing}"\n\t}}'
    with running_agent(auth_receiver(body), tmp_path / "run", clock) as (agent, base):
        health = components(base)["otelcol.auth.basic.apps"]
        healthy = get(f"{base}/-/healthy")
        anonymous = with_header(agent, "")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            with_header(agent, basic("app", "x"))  # the extension's nil matchFunc panics: no answer
    assert (health["state"], health["message"]) == (
        "unhealthy", f"failed to create components: open htpasswd file: open {missing}: no such file or directory")
    assert healthy == (500, "unhealthy components: otelcol.auth.basic\n")
    assert anonymous == (401, "no basic auth provided")


def test_alloy_run_refuses_otelcol_auth_basic_without_credentials(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOY_OTLP_TEMPO_USERNAME", raising=False)
    monkeypatch.delenv("ALLOY_OTLP_TEMPO_PASSWORD", raising=False)
    path = tmp_path / "config.alloy"
    path.write_text(otlphttp_block("http://127.0.0.1:9"))
    ok, message = Agent(path, tmp_path / "data", "1.18.0").load()
    assert not ok and message.endswith("no credential source provided")
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_USERNAME", USER)
    ok, message = Agent(path, tmp_path / "data", "1.18.0").load()
    assert not ok and message.endswith("no password provided")


# ---- into Alloy's own pipelines: prometheus.remote_write and loki.write -----------------------

def into_alloy(signal: str, exporter: str, writer: str, url: str) -> str:
    """The receiver's signal through otelcol.exporter.<exporter> "default" into the writer
    (prometheus.remote_write or loki.write) "endpoint", external label cluster="lab", at url."""
    return receiver_block({signal: f"otelcol.exporter.{exporter}.default.input"}) + f'''
otelcol.exporter.{exporter} "default" {{
	forward_to = [{writer}.endpoint.receiver]
}}

{writer} "endpoint" {{
	external_labels = {{ cluster = "lab" }}
	endpoint {{
		url = "{url}"
	}}
}}
'''

def test_otlp_metrics_reach_remote_write_with_prometheus_names_and_job_instance(
        backend: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    config = into_alloy("metrics", "prometheus", "prometheus.remote_write", backend.url + WRITE)
    request = client.gauge_request(RESOURCE, "queue_depth", 7.0, now_ns=1_700_000_000_500_000_000)
    counter = {"name": "http.server.requests", "unit": "{request}", "sum": {
        "aggregation_temporality": 2, "is_monotonic": True, "data_points": [
            {"time_unix_nano": 1_700_000_000_500_000_000, "as_int": 12,
             "attributes": otlp.make_attributes({"http.route": "/cart"})}]}}
    delta = {"name": "dropped", "sum": {"aggregation_temporality": 1, "is_monotonic": True,
                                        "data_points": [{"as_int": 1}]}}
    request["resource_metrics"][0]["scope_metrics"][0]["metrics"] += [counter, delta]
    with running_agent(config, tmp_path, clock) as (agent, base):
        assert client.send(app(agent), "metrics", request)[0] == 200
        agent.telemetry.tick()
        scraped = scrape(base)
    series = {labels["__name__"]: (labels, value, stamp)
              for r in backend.requests if r.path == WRITE for labels, value, stamp in decode_write_request(r.body)}
    assert sorted(series) == ["http_server_requests_total", "queue_depth", "target_info"]
    assert series["queue_depth"] == ({"__name__": "queue_depth", "job": "checkout", "instance": "host-1",
                                      "lab_point": "1", "cluster": "lab"}, 7.0, 1_700_000_000_500)
    assert series["http_server_requests_total"][0]["http_route"] == "/cart"
    assert series["http_server_requests_total"][1] == 12.0
    assert series["target_info"][0] == {"__name__": "target_info", "job": "checkout", "instance": "host-1",
                                        "deployment_environment": "lab", "cluster": "lab"}
    assert metric(scraped, "prometheus_forwarded_samples_total", component_id="otelcol.exporter.prometheus.default") \
        == 3
    assert metric(scraped, "prometheus_remote_storage_samples_total", component_id="prometheus.remote_write.endpoint") \
        == 3


def test_otlp_logs_reach_loki_with_the_exporters_labels_and_a_json_line(backend: LocalServer, tmp_path: Path,
                                                                        clock: FakeClock) -> None:
    config = into_alloy("logs", "loki", "loki.write", backend.url + PUSH)
    request = client.log_request(RESOURCE, "cart <emptied>", severity=13, now_ns=1_700_000_000_000_000_007)
    with running_agent(config, tmp_path, clock) as (agent, base):
        assert client.send(app(agent, json=True), "logs", request)[0] == 200
        agent.telemetry.tick()
        scraped = scrape(base)
    streams = [s for r in backend.requests if r.path == PUSH for s in decode_push(r.body)]
    assert [s["stream"] for s in streams] == [{"cluster": "lab", "exporter": "OTLP", "instance": "host-1",
                                               "job": "checkout", "level": "WARN"}]
    assert streams[0]["values"] == [[
        "1700000000000000007",
        '{"body":"cart \\u003cemptied\\u003e","attributes":{"lab.log":"1"},"resources":{"deployment.environment":"lab",'
        '"service.instance.id":"host-1","service.name":"checkout"},'
        '"instrumentation_scope":{"name":"fleet.alloy.lab","version":"1.0.0"}}']]
    assert metric(scraped, "otelcol_exporter_loki_entries_processed", component_id="otelcol.exporter.loki.default") \
        == 1
    assert metric(scraped, "loki_write_sent_entries_total", component_id="loki.write.endpoint") == 1


def test_signal_urls_and_request_headers_follow_the_otlphttp_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    assert signal_url("https://gw:4318/otlp/", "", "traces") == "https://gw:4318/otlp/v1/traces"
    assert signal_url("https://gw:4318/otlp", "", "logs") == "https://gw:4318/otlp/v1/logs"
    assert signal_url("https://gw:4318", "https://other/custom", "metrics") == "https://other/custom"
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_USERNAME", USER)
    monkeypatch.setenv("ALLOY_OTLP_TEMPO_PASSWORD", PASSWORD)
    blocks = {b.id: b for b in parse(otlphttp_block("https://gw:4318", extra='\ttraces_endpoint = "https://t/x"',
                                                     client_extra='\t\tcompression = "none"'))
              if isinstance(b, Block)}
    exporter = settings("otlp_http", blocks[EXPORTER], blocks["otelcol.auth.basic.tempo"])
    headers = request_headers(exporter, "Alloy/v1.18.0 (linux/amd64)", "")
    assert exporter.urls == {"traces": "https://t/x", "metrics": "https://gw:4318/v1/metrics",
                             "logs": "https://gw:4318/v1/logs"}
    assert exporter.compression == "none" and "Content-Encoding" not in headers
    assert headers["X-Scope-OrgID"] == TENANT and headers["Content-Type"] == "application/x-protobuf"
    assert headers["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def test_metric_names_and_labels_follow_the_translator() -> None:
    def named(unit: str, kind: str, name: str = "req.duration", monotonic: bool = True) -> str:
        data = {"is_monotonic": monotonic, "aggregation_temporality": 2} if kind == "sum" else {}
        return metric_name({"name": name, "unit": unit, kind: data})

    assert named("s", "sum") == "req_duration_seconds_total"
    assert named("By", "gauge") == "req_duration_bytes"
    assert named("1", "gauge", "cpu.utilization") == "cpu_utilization_ratio"
    assert named("{request}", "sum", "requests_total") == "requests_total"
    assert named("m/s", "gauge", "speed") == "speed_meters_per_second"
    assert named("s", "sum", monotonic=False) == "req_duration_seconds"
    assert [normalize_label(n) for n in ("service.name", "_private", "__meta", "9lives")] == \
        ["service_name", "key_private", "__meta", "key_9lives"]


# ---- the sink on its own, and the wire formats ---------------------------------------------

def test_the_sink_wants_credentials_and_the_tenant_header(sink: Tuple[str, Store]) -> None:
    url, store = sink
    request = client.span_request(RESOURCE)
    anonymous = client.send(client.Target(url), "traces", request)
    wrong = client.send(client.Target(url, USER, "nope", {"X-Scope-OrgID": TENANT}), "traces", request)
    no_tenant = client.send(client.Target(url, USER, PASSWORD), "traces", request)
    other = client.send(client.Target(url, USER, PASSWORD, {"X-Scope-OrgID": "team-b"}), "traces", request)
    good = client.send(client.Target(url, USER, PASSWORD, {"X-Scope-OrgID": TENANT}, json=True, gzip=True),
                       "traces", request)
    assert (anonymous[0], anonymous[2]["www-authenticate"]) == (401, 'Basic realm="otlp"')
    assert wrong[0] == 401 and (no_tenant[0], no_tenant[1]) == (401, b"no org id\n") and other[0] == 403
    assert (good[0], good[1]) == (200, b'{"partialSuccess": {}}')
    listed = json.loads(get(f"{url}/lab/received")[1])
    assert [(r["user"], r["tenant"], r["content_encoding"]) for r in listed["requests"]] == [(USER, TENANT, "gzip")]
    assert "authorization" not in listed["requests"][0]["headers"]
    assert [r["status"] for r in listed["refused"]] == [401, 401, 401, 403]
    assert store.all() == listed["requests"]


def test_the_sink_reads_users_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"a": "1", "b": "2"}}))
    assert load_users(path) == {"a": "1", "b": "2"}
    path.write_text(json.dumps({"loki": {}, "otlp": {"users": {"c": "3"}}}))  # beside the gateway's sections
    assert load_users(path) == {"c": "3"}
    path.write_text(json.dumps({"users": ["a"]}))
    with pytest.raises(ValueError):
        load_users(path)


def test_the_client_command_line_exits_nonzero_when_refused(sink: Tuple[str, Store]) -> None:
    url, store = sink
    args = ["--endpoint", url, "--service-name", "cli-app", "--user", USER, "--header", f"X-Scope-OrgID={TENANT}"]
    assert client.main(args + ["--password", PASSWORD]) == 0
    assert client.main(args + ["--password", "wrong", "--signal", "logs"]) == 1
    assert sorted(r["signal"] for r in store.all()) == ["logs", "metrics", "traces"]
    assert {r["resources"][0]["attributes"]["service.name"] for r in store.all()} == {"cli-app"}


def test_otlp_messages_survive_protobuf_and_json_round_trips() -> None:
    request = client.span_request(RESOURCE, "round trip")
    request["resource_spans"][0]["scope_spans"][0]["spans"][0]["attributes"] += otlp.make_attributes(
        {"int": -3, "float": 0.5, "list": ["a", 1], "map": {"k": b"\x00\x01"}})
    gauge = client.gauge_request(RESOURCE, "g", -1.5)
    histogram = {"resource_metrics": [{"scope_metrics": [{"metrics": [{"name": "h", "histogram": {
        "aggregation_temporality": 2, "data_points": [{"count": 3, "sum": 0.0, "bucket_counts": [1, 2],
                                                       "explicit_bounds": [0.5]}]}}]}]}]}
    for signal, message in (("traces", request), ("metrics", gauge), ("metrics", histogram)):
        wire = otlp.encode_request(signal, message)
        assert otlp.decode_request(signal, wire) == message
        assert otlp.request_from_json(signal, json.loads(json.dumps(otlp.request_to_json(signal, message)))) == message
    span_json = otlp.request_to_json("traces", request)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span_json["startTimeUnixNano"].isdigit() and len(span_json["traceId"]) == 32  # pdata's forms
    assert otlp.encode_response("logs") == b"\x0a\x00"
    with pytest.raises(ValueError):
        otlp.decode_request("traces", b"\x0a\x05\x01")


# ---- what `alloy run` refuses when it evaluates the arguments --------------------------------

MEMORY = 'otelcol.processor.memory_limiter "m" {\n\tcheck_interval = "1s"\n%s\n\toutput {}\n}\n'


@pytest.mark.parametrize(("body", "error"), [
    ("\tlimit_percentage = 80", "limit_percentage and spike_limit_percentage must be greater than 0 and and less "
                                "or equal than 100"),
    ('\tlimit = "512MiB"\n\tlimit_percentage = 80', "either limit or limit_percentage must be set, but not both"),
    ('\tlimit = "512MiB"\n\tspike_limit = "1GiB"', "spike_limit must be less than limit"),
    ("", "either limit or limit_percentage must be set to greater than zero"),
])
def test_alloy_run_refuses_a_memory_limiter_as_its_validate_does(tmp_path: Path, body: str, error: str) -> None:
    path = tmp_path / "config.alloy"
    path.write_text(MEMORY % body)
    ok, message = Agent(path, tmp_path / "data", "1.18.0").load()
    assert not ok and message.endswith(error), message


def test_a_memory_limiter_with_a_limit_alone_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.alloy"
    path.write_text(MEMORY % '\tlimit = "512MiB"')
    assert Agent(path, tmp_path / "data", "1.18.0").load() == (True, "config reloaded")


@pytest.mark.parametrize(("extra", "error"), [
    ("\tsending_queue {\n\t\tqueue_size = 0\n\t}", "queue_size must be greater than zero"),
    ('\tsending_queue {\n\t\tsizer = "x"\n\t}', "invalid sizer: x"),
    ("\tretry_on_failure {\n\t\tenabled = false\n\t\tmultiplier = 1\n\t}", "multiplier must be greater than 1.0"),
    ("\tretry_on_failure {\n\t\trandomization_factor = -0.5\n\t}",
     "randomization_factor must be greater or equal to 0"),
    ('\tmetrics_endpoint = "https://m/v1/metrics"',
     "Failed to build component: building component: either endpoint or traces_endpoint must be specified"),
])
def test_alloy_run_refuses_otlphttp_queue_retry_and_missing_signal_endpoints(
        tmp_path: Path, credentials: None, extra: str, error: str) -> None:
    path = tmp_path / "config.alloy"
    path.write_text(otlphttp_block("", extra=extra))
    ok, message = Agent(path, tmp_path / "data", "1.18.0").load()
    assert not ok and message.endswith(error), message


def test_a_disabled_queue_is_not_validated(tmp_path: Path, credentials: None) -> None:
    path = tmp_path / "config.alloy"
    path.write_text(otlphttp_block("http://127.0.0.1:9", extra="\tsending_queue {\n\t\tenabled = false\n"
                                                               "\t\tqueue_size = 0\n\t}"))
    assert Agent(path, tmp_path / "data", "1.18.0").load() == (True, "config reloaded")


def test_forwarded_samples_count_each_appended_sample_once_whatever_the_number_of_receivers(
        backend: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    config = into_alloy("metrics", "prometheus", "prometheus.remote_write", backend.url + WRITE).replace(
        "forward_to = [prometheus.remote_write.endpoint.receiver]",
        "forward_to = [prometheus.remote_write.endpoint.receiver, prometheus.remote_write.second.receiver]") + \
        f'prometheus.remote_write "second" {{\n\tendpoint {{\n\t\turl = "{backend.url + WRITE}"\n\t}}\n}}\n'
    with running_agent(config, tmp_path, clock) as (agent, base):
        assert client.send(app(agent), "metrics", client.gauge_request(RESOURCE, "queue_depth", 7.0))[0] == 200
        scraped = scrape(base)
    # queue_depth and target_info: fanout.go counts an Append once, not once per child
    assert metric(scraped, "prometheus_forwarded_samples_total", component_id="otelcol.exporter.prometheus.default") \
        == 2
