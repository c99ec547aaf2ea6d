"""The Alloy stand-in delivers like Alloy: health never follows the backend, every attempt's
outcome is counted under Alloy's metric names, retries back off, auth and TLS are applied.

The clock that decides when a retry is due is a fake one the tests move forward; the
backends are tests/unit/local_http.py servers; nothing sleeps.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from alloy_standin.syntax import Block, parse
from alloy_standin.telemetry import Telemetry
from lab_wire import decode_push, decode_write_request
from local_http import LocalServer
from standin_harness import PUSH, WALL, WRITE, FakeClock, close_soon, fake_backend, get, running_agent

WALL_S = int(WALL)  # Prometheus reports whole seconds
LOKI = "loki.write.endpoint"
PROM = "prometheus.remote_write.default"
MetricSample = Tuple[str, Dict[str, str], float]


@pytest.fixture()
def sink(backend: LocalServer) -> LocalServer:
    """The fake backend (conftest.py) both writers deliver to."""
    return backend


def loki_config(url: str, extra: str = "") -> str:
    return f'''
loki.source.journal "read" {{
	forward_to = [loki.write.endpoint.receiver]
}}

loki.write "endpoint" {{
	endpoint {{
		url = "{url}"
{extra}
	}}
}}
'''


def prom_config(url: str, extra: str = "") -> str:
    return f'''
prometheus.exporter.unix "default" {{
}}

prometheus.scrape "unix" {{
	targets    = prometheus.exporter.unix.default.targets
	forward_to = [prometheus.remote_write.default.receiver]
}}

prometheus.remote_write "default" {{
	endpoint {{
		url = "{url}"
{extra}
	}}
}}
'''


def blocks(config: str) -> Dict[str, Block]:
    return {b.id: b for b in parse(config) if isinstance(b, Block)}


def standin(config: str, tmp_path: Path, clock: FakeClock) -> Telemetry:
    telemetry = Telemetry(tmp_path, "1.18.0", clock=clock, wall=lambda: WALL)
    telemetry.update(blocks(config))
    return telemetry


def refused_url(path: str) -> str:
    """A URL on a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def requests_to(server: LocalServer, path: str) -> list:
    return [r for r in server.requests if r.path == path]


def assert_writers_healthy(base: str) -> None:
    components = {c["localID"]: c["health"] for c in json.loads(get(f"{base}/api/v0/web/components")[1])}
    for cid in (LOKI, PROM):
        if cid in components:
            assert components[cid]["state"] == "healthy" and components[cid]["message"] == "started component"
    assert get(f"{base}/-/healthy") == (200, "All Alloy components are healthy.\n")


# ---- a tiny parser of the Prometheus text format --------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')


def _labels(body: str) -> Dict[str, str]:
    labels: Dict[str, str] = {}
    pos = 0
    while pos < len(body):
        match = _LABEL.match(body, pos)
        assert match, f"bad label set {body!r} at {pos}"
        value = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), match.group(2))
        assert match.group(1) not in labels, f"label {match.group(1)} twice in {body!r}"
        labels[match.group(1)] = value
        pos = match.end()
    return labels


def parse_metrics(text: str) -> List[MetricSample]:
    """Samples of a Prometheus text exposition; asserts its syntax: one HELP and one TYPE per
    family before its samples, each family's samples together."""
    assert text.endswith("\n")
    helps: Dict[str, str] = {}
    types: Dict[str, str] = {}
    samples: List[MetricSample] = []
    current = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in helps and help_text, line
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert name not in types and kind in {"counter", "gauge", "histogram", "summary", "untyped"}, line
            types[name] = kind
            current = name
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, body, value = match.groups()
            family = name if name in types else re.sub(r"_(bucket|sum|count)$", "", name)
            assert family == current, f"{name} outside its family's block"
            samples.append((name, _labels(body or ""), float(value)))
    assert set(helps) == set(types)
    return samples


def metric(samples: List[MetricSample], name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples if n == name and labels.items() <= ls.items())


# ---- health never follows the backend -------------------------------------------

def test_a_loki_401_is_dropped_at_once_and_loki_write_stays_healthy(sink: LocalServer, tmp_path: Path,
                                                                    clock: FakeClock) -> None:
    sink.routes[PUSH] = (401, "no org id\n")
    with running_agent(loki_config(sink.url + PUSH), tmp_path, clock) as (agent, base):
        telemetry = agent.telemetry
        telemetry.produce()
        telemetry.tick()
        clock.advance(600)
        telemetry.tick()
        assert len(requests_to(sink, PUSH)) == 1  # a 401 is never retried
        body = requests_to(sink, PUSH)[0].body
        scraped = parse_metrics(get(f"{base}/metrics")[1])
        assert_writers_healthy(base)
    labels = {"component_id": LOKI, "host": sink.url.split("//")[1], "tenant": ""}
    assert metric(scraped, "loki_write_dropped_entries_total", reason="ingester_error", **labels) == 1
    assert metric(scraped, "loki_write_dropped_bytes_total", reason="ingester_error", **labels) == len(body)
    assert metric(scraped, "loki_write_dropped_entries_total", reason="rate_limited", **labels) == 0
    assert metric(scraped, "loki_write_batch_retries_total", **labels) == 0
    assert metric(scraped, "loki_write_sent_entries_total", **labels) == 0
    assert metric(scraped, "loki_write_request_duration_seconds_count", status_code="401", **labels) == 1
    assert telemetry.outcomes() == {f"{LOKI} {sink.url}{PUSH}": "HTTP 401: no org id"}


def test_a_refused_port_is_retried_with_nothing_sent_and_the_writers_stay_healthy(
        tmp_path: Path, clock: FakeClock) -> None:
    loki_url, prom_url = refused_url(PUSH), refused_url(WRITE)
    with running_agent(loki_config(loki_url) + prom_config(prom_url), tmp_path, clock) as (agent, base):
        telemetry = agent.telemetry
        telemetry.produce()
        for _ in range(3):
            telemetry.tick()
            clock.advance(400)  # longer than any default backoff (loki's maximum is 5m)
        assert_writers_healthy(base)
    value = telemetry.value
    assert value("loki_write_batch_retries_total", component_id=LOKI) == 3
    assert value("loki_write_request_duration_seconds_count", status_code="-1") == 3
    assert value("loki_write_sent_entries_total") == 0 and value("loki_write_dropped_entries_total") == 0
    prom = {"component_id": PROM, "url": prom_url}
    # Three tries: each counted as it begins, the second and third also as retries (a retry is
    # counted after the backoff, as the next try begins).
    assert value("prometheus_remote_storage_samples_retried_total", **prom) == 6
    assert value("prometheus_remote_storage_samples_total", **prom) == 9  # attempts, not deliveries
    assert value("prometheus_remote_storage_samples_pending", **prom) == 3
    assert value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", **prom) == 0
    assert value("prometheus_remote_storage_samples_failed_total", **prom) == 0
    assert value("prometheus_remote_storage_samples_dropped_total", **prom) == 0
    assert value("prometheus_remote_storage_highest_timestamp_in_seconds", component_id=PROM) == WALL_S
    assert value("prometheus_remote_write_wal_samples_appended_total", component_id=PROM) == 3
    assert all(outcome.startswith("error: ") for outcome in telemetry.outcomes().values())


@pytest.mark.parametrize("status,reason", [(503, "ingester_error"), (429, "rate_limited")])
def test_loki_drops_a_batch_after_max_backoff_retries(sink: LocalServer, tmp_path: Path, clock: FakeClock,
                                                      status: int, reason: str) -> None:
    sink.routes[PUSH] = (status, "try later")
    telemetry = standin(loki_config(sink.url + PUSH, "\t\tmax_backoff_retries = 2"), tmp_path, clock)
    telemetry.produce()
    for _ in range(4):
        telemetry.tick()
        clock.advance(400)
    assert len(requests_to(sink, PUSH)) == 2
    assert telemetry.value("loki_write_batch_retries_total") == 2
    assert telemetry.value("loki_write_dropped_entries_total", reason=reason) == 1
    assert telemetry.value("loki_write_dropped_entries_total") == 1
    assert telemetry.value("loki_write_request_duration_seconds_count", status_code=str(status)) == 2


def test_retries_wait_a_doubling_backoff_up_to_the_maximum(sink: LocalServer, tmp_path: Path,
                                                           clock: FakeClock) -> None:
    sink.routes[PUSH] = sink.routes[WRITE] = (503, "unavailable")
    config = (loki_config(sink.url + PUSH, '\t\tmin_backoff_period = "1s"\n\t\tmax_backoff_period = "4s"')
              + prom_config(sink.url + WRITE, '\t\tqueue_config {\n\t\t\tmin_backoff = "1s"\n'
                                              '\t\t\tmax_backoff = "4s"\n\t\t}'))
    telemetry = standin(config, tmp_path, clock)
    telemetry.produce()
    telemetry.tick()
    attempts_at: List[float] = [0.0]
    for step in range(1, 25):  # 12 s in half seconds
        clock.advance(0.5)
        before = len(sink.requests)
        telemetry.tick()
        if len(sink.requests) > before:
            assert len(sink.requests) == before + 2  # both writers, same schedule
            attempts_at.append(step * 0.5)
    assert attempts_at == [0.0, 1.0, 3.0, 7.0, 11.0]  # waits of 1, 2, 4, then 4 (the maximum)


def test_remote_write_defaults_retry_after_30ms(sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    sink.routes[WRITE] = (503, "unavailable")
    telemetry = standin(prom_config(sink.url + WRITE), tmp_path, clock)
    telemetry.produce()
    telemetry.tick()
    clock.advance(0.02)
    telemetry.tick()
    assert len(sink.requests) == 1
    clock.advance(0.02)
    telemetry.tick()
    assert len(sink.requests) == 2


# ---- delivery, auth and headers ---------------------------------------------------

def test_delivered_with_tenant_basic_auth_bearer_token_and_custom_headers(
        sink: LocalServer, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOKI_PASSWORD", "s3cret")
    token = tmp_path / "token"
    token.write_text("t0k\n")
    loki = ('\t\ttenant_id = "lab"\n\t\theaders = {"X-Scope-OrgID" = "other", "X-Lab" = "loki"}\n'
            '\t\tbasic_auth {\n\t\t\tusername = "fleet"\n\t\t\tpassword = sys.env("LOKI_PASSWORD")\n\t\t}')
    prom = f'\t\tbearer_token_file = "{token}"\n\t\theaders = {{"X-Lab" = "prom"}}'
    telemetry = standin(loki_config(sink.url + PUSH, loki) + prom_config(sink.url + WRITE, prom), tmp_path, clock)
    telemetry.produce()
    telemetry.tick()

    (push,), (write,) = requests_to(sink, PUSH), requests_to(sink, WRITE)
    assert push.headers.get_all("X-Scope-OrgID") == ["lab"]  # a custom header never overrides
    assert push.headers["Authorization"] == "Basic " + base64.b64encode(b"fleet:s3cret").decode()
    assert push.headers["X-Lab"] == "loki" and push.headers["Content-Type"] == "application/x-protobuf"
    assert push.headers["User-Agent"].startswith("Alloy/v1.18.0 (linux; ")
    (stream,) = decode_push(push.body)
    line = f"alloy stand-in heartbeat from {socket.gethostname()}"
    assert stream["values"] == [[str(int(WALL * 1000) * 1_000_000), line]]
    assert write.headers["Authorization"] == "Bearer t0k" and write.headers["X-Lab"] == "prom"
    assert "X-Scope-OrgID" not in write.headers
    assert write.headers["Content-Encoding"] == "snappy"
    assert write.headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert {labels["__name__"] for labels, _, _ in decode_write_request(write.body)} == {
        "up", "node_load1", "node_time_seconds"}

    value = telemetry.value
    host = sink.url.split("//")[1]
    assert value("loki_write_sent_entries_total", host=host, tenant="lab") == 1
    assert value("loki_write_sent_bytes_total", host=host, tenant="lab") == len(push.body)
    assert value("loki_write_request_duration_seconds_count", status_code="204", tenant="lab") == 1
    assert value("loki_write_batch_retries_total") == 0 and value("loki_write_dropped_entries_total") == 0
    assert value("prometheus_remote_storage_samples_total") == 3
    assert value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds") == WALL_S
    assert value("prometheus_remote_storage_samples_pending") == 0
    assert value("prometheus_remote_storage_samples_retried_total") == 0
    assert value("prometheus_remote_storage_samples_failed_total") == 0

    telemetry.produce()
    telemetry.tick()
    assert value("loki_write_sent_entries_total") == 2 and value("prometheus_remote_storage_samples_total") == 6


def test_credentials_files_are_read_at_every_request_and_the_authorization_block(
        sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    password = tmp_path / "password"
    password.write_text("first\n")
    loki = f'\t\tbasic_auth {{\n\t\t\tusername = "fleet"\n\t\t\tpassword_file = "{password}"\n\t\t}}'
    prom = '\t\tname = "mimir"\n\t\tauthorization {\n\t\t\ttype = "Token"\n\t\t\tcredentials = "abc"\n\t\t}'
    telemetry = standin(loki_config(sink.url + PUSH, loki) + prom_config(sink.url + WRITE, prom), tmp_path, clock)
    telemetry.produce()
    telemetry.tick()
    password.write_text("second")
    telemetry.produce()
    telemetry.tick()
    pushes = requests_to(sink, PUSH)
    assert [r.headers["Authorization"] for r in pushes] == [
        "Basic " + base64.b64encode(b"fleet:" + secret).decode() for secret in (b"first", b"second")]
    assert requests_to(sink, WRITE)[0].headers["Authorization"] == "Token abc"
    assert telemetry.value("prometheus_remote_storage_samples_total", remote_name="mimir") == 6


def test_a_missing_credentials_file_is_no_answer_and_retried(sink: LocalServer, tmp_path: Path,
                                                             clock: FakeClock) -> None:
    prom = f'\t\tbearer_token_file = "{tmp_path / "missing"}"'
    telemetry = standin(prom_config(sink.url + WRITE, prom), tmp_path, clock)
    telemetry.produce()
    telemetry.tick()
    assert sink.requests == []
    assert telemetry.value("prometheus_remote_storage_samples_total") == 3
    assert telemetry.value("prometheus_remote_storage_samples_pending") == 3
    assert telemetry.value("prometheus_remote_storage_samples_retried_total") == 0  # until the retry begins


def test_a_remote_write_4xx_fails_the_samples_and_still_advances_highest_sent(
        sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    sink.routes[WRITE] = (400, "out of order sample\n")
    telemetry = standin(prom_config(sink.url + WRITE), tmp_path, clock)
    telemetry.produce()
    telemetry.tick()
    clock.advance(60)
    telemetry.tick()
    assert len(sink.requests) == 1  # not retried
    value = telemetry.value
    assert value("prometheus_remote_storage_samples_failed_total") == 3
    assert value("prometheus_remote_storage_samples_total") == 3
    assert value("prometheus_remote_storage_samples_retried_total") == 0
    assert value("prometheus_remote_storage_samples_pending") == 0
    assert value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds") == WALL_S


def test_503_then_204_retries_then_delivers_and_pending_drains(sink: LocalServer, tmp_path: Path,
                                                              clock: FakeClock) -> None:
    sink.routes[PUSH] = sink.routes[WRITE] = (503, "unavailable")
    telemetry = standin(loki_config(sink.url + PUSH) + prom_config(sink.url + WRITE), tmp_path, clock)
    value = telemetry.value
    telemetry.produce()
    telemetry.tick()
    assert value("loki_write_batch_retries_total") == 1
    assert value("prometheus_remote_storage_samples_retried_total") == 0  # counted when the retry begins
    assert value("prometheus_remote_storage_samples_total") == 3
    assert value("prometheus_remote_storage_samples_pending") == 3
    telemetry.produce()  # a second round queues behind the batch in flight
    assert value("prometheus_remote_storage_samples_pending") == 6

    sink.routes[PUSH] = sink.routes[WRITE] = (204, "")
    clock.advance(1)
    telemetry.tick()
    assert value("loki_write_sent_entries_total") == 1
    assert value("prometheus_remote_storage_samples_pending") == 3
    assert value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds") == WALL_S
    telemetry.tick()
    assert value("loki_write_sent_entries_total") == 2
    assert value("loki_write_request_duration_seconds_count", status_code="503") == 1
    assert value("loki_write_request_duration_seconds_count", status_code="204") == 2
    assert value("prometheus_remote_storage_samples_pending") == 0
    assert value("prometheus_remote_storage_samples_total") == 9  # 3 refused + 3 + 3 delivered
    assert value("prometheus_remote_storage_samples_retried_total") == 3
    assert value("prometheus_remote_storage_samples_failed_total") == 0


# ---- TLS ---------------------------------------------------------------------------

@contextmanager
def tls_sink(pki: Dict[str, Path], client_certs: bool = False) -> Iterator[LocalServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["srv.pem"], pki["srv.key"])
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki["ca.pem"])
    server = fake_backend(context)
    try:
        yield server
    finally:
        close_soon(server)


@pytest.mark.parametrize("tls,delivered", [
    ('ca_pem = sys.env("LAB_CA_PEM")', True),
    ('ca_pem = sys.env("LAB_OTHER_CA_PEM")', False),
    ("insecure_skip_verify = true", True),
    ('ca_file = "{ca.pem}"\n\t\t\tserver_name = "alloy-sink.lab"', True),
    ('ca_file = "{ca.pem}"\n\t\t\tserver_name = "elsewhere.lab"', False),
    ("", False),  # the system's CAs do not know the throwaway CA
])
def test_remote_write_over_tls(pki: Dict[str, Path], tmp_path: Path, clock: FakeClock,
                               monkeypatch: pytest.MonkeyPatch, tls: str, delivered: bool) -> None:
    monkeypatch.setenv("LAB_CA_PEM", pki["ca.pem"].read_text())
    monkeypatch.setenv("LAB_OTHER_CA_PEM", pki["other-ca.pem"].read_text())
    tls = tls.replace("{ca.pem}", str(pki["ca.pem"]))
    with tls_sink(pki) as server:
        telemetry = standin(prom_config(server.url + WRITE, f"\t\ttls_config {{\n\t\t\t{tls}\n\t\t}}"),
                            tmp_path, clock)
        telemetry.produce()
        telemetry.tick()
        assert len(server.requests) == (1 if delivered else 0)
    value = telemetry.value
    assert value("prometheus_remote_storage_samples_total") == 3
    if delivered:
        assert value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds") == WALL_S
        assert value("prometheus_remote_storage_samples_pending") == 0
    else:
        assert value("prometheus_remote_storage_samples_retried_total") == 0  # no retry has begun yet
        assert value("prometheus_remote_storage_samples_pending") == 3
        assert value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds") == 0
        assert "CERTIFICATE_VERIFY_FAILED" in list(telemetry.outcomes().values())[0]


@pytest.mark.parametrize("ca,status,client", [
    ("ca.pem", "204", 'cert_file = "{client.pem}"\n\t\t\tkey_file = "{client.key}"'),
    ("ca.pem", "204", 'cert_pem = sys.env("LAB_CLIENT_PEM")\n\t\t\tkey_pem = sys.env("LAB_CLIENT_KEY")'),
    ("other-ca.pem", "-1", 'cert_file = "{client.pem}"\n\t\t\tkey_file = "{client.key}"'),
])
def test_loki_over_tls_with_a_client_certificate(pki: Dict[str, Path], tmp_path: Path, clock: FakeClock,
                                                 monkeypatch: pytest.MonkeyPatch, ca: str, status: str,
                                                 client: str) -> None:
    monkeypatch.setenv("LAB_CLIENT_PEM", pki["client.pem"].read_text())
    monkeypatch.setenv("LAB_CLIENT_KEY", pki["client.key"].read_text())
    client = client.replace("{client.pem}", str(pki["client.pem"])).replace("{client.key}", str(pki["client.key"]))
    tls = f'\t\ttls_config {{\n\t\t\tca_file = "{pki[ca]}"\n\t\t\t{client}\n\t\t}}'
    with tls_sink(pki, client_certs=True) as server:
        telemetry = standin(loki_config(server.url + PUSH, tls), tmp_path, clock)
        telemetry.produce()
        telemetry.tick()
    assert telemetry.value("loki_write_request_duration_seconds_count", status_code=status) == 1
    assert telemetry.value("loki_write_sent_entries_total") == (1 if status == "204" else 0)
    assert telemetry.value("loki_write_batch_retries_total") == (0 if status == "204" else 1)


def test_a_client_certificate_is_required_by_the_server(pki: Dict[str, Path], tmp_path: Path,
                                                        clock: FakeClock) -> None:
    tls = f'\t\ttls_config {{\n\t\t\tca_file = "{pki["ca.pem"]}"\n\t\t}}'
    with tls_sink(pki, client_certs=True) as server:
        telemetry = standin(loki_config(server.url + PUSH, tls), tmp_path, clock)
        telemetry.produce()
        telemetry.tick()
    assert telemetry.value("loki_write_request_duration_seconds_count", status_code="-1") == 1


# ---- /metrics, series lifetime, reloads, the loop --------------------------------

def test_metrics_text_parses_with_component_labels(sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    tenant = 'te"n\\ant'
    config = loki_config(sink.url + PUSH, '\t\ttenant_id = "te\\"n\\\\ant"') + prom_config(sink.url + WRITE)
    with running_agent(config, tmp_path, clock) as (agent, base):
        agent.telemetry.produce()
        agent.telemetry.tick()
        status, text = get(f"{base}/metrics")
    assert status == 200
    samples = parse_metrics(text)
    assert metric(samples, "alloy_build_info", version="v1.18.0") == 1
    assert metric(samples, "loki_write_sent_entries_total", tenant=tenant) == 1
    writers = [(n, ls) for n, ls, _ in samples if n.startswith(("loki_write_", "prometheus_remote_"))]
    assert writers and all(ls["component_path"] == "/" for _, ls in writers)
    assert {ls["component_id"] for n, ls in writers if n.startswith("loki_")} == {LOKI}
    assert {ls["component_id"] for n, ls in writers if n.startswith("prometheus_")} == {PROM}
    buckets = [(ls["le"], v) for n, ls, v in samples if n == "loki_write_request_duration_seconds_bucket"]
    assert [le for le, _ in buckets] == ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
                                         "5", "10", "+Inf"]
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1][1] == metric(samples, "loki_write_request_duration_seconds_count") == 1


def test_remote_write_series_exist_from_the_start_loki_series_from_its_first_data(
        sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    telemetry = standin(loki_config(sink.url + PUSH) + prom_config(sink.url + WRITE), tmp_path, clock)
    names = {n for _, n, _, _ in telemetry.samples()}
    assert "prometheus_remote_storage_samples_pending" in names
    assert "prometheus_remote_storage_queue_highest_sent_timestamp_seconds" in names
    assert not any(n.startswith("loki_") for n in names)
    telemetry.produce()
    names = {n for _, n, _, _ in telemetry.samples()}
    assert "loki_write_sent_entries_total" in names and "loki_write_dropped_entries_total" in names
    assert "loki_write_request_duration_seconds_count" not in names  # only once attempted
    telemetry.tick()
    assert "loki_write_request_duration_seconds_count" in {n for _, n, _, _ in telemetry.samples()}


def test_a_reload_keeps_the_counters_of_writers_and_endpoints_that_stay(
        sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    config = loki_config(sink.url + PUSH) + prom_config(sink.url + WRITE)
    telemetry = standin(config, tmp_path, clock)
    telemetry.produce()
    telemetry.tick()
    telemetry.update(blocks(config))  # same IDs and URLs, new Block objects
    assert telemetry.value("loki_write_sent_entries_total") == 1
    assert telemetry.value("prometheus_remote_storage_samples_total") == 3

    moved = sink.url + "/api/v1/push"
    telemetry.update(blocks(prom_config(moved)))  # loki.write removed, remote_write's endpoint moved
    assert telemetry.value("loki_write_sent_entries_total") == 0
    assert telemetry.value("prometheus_remote_storage_samples_total", url=sink.url + WRITE) == 0
    assert telemetry.value("prometheus_remote_storage_samples_total", url=moved) == 0
    assert {ls["url"] for _, n, ls, _ in telemetry.samples() if "url" in ls} == {moved}
    assert telemetry.value("prometheus_remote_write_wal_samples_appended_total") == 3  # the component stayed


def test_the_wal_is_appended_like_before(sink: LocalServer, tmp_path: Path, clock: FakeClock) -> None:
    segment = tmp_path / PROM / "wal" / "00000000"
    segment.parent.mkdir(parents=True)
    telemetry = standin(prom_config(sink.url + WRITE), tmp_path, clock)
    telemetry.produce()
    data = segment.read_bytes()
    size = int.from_bytes(data[:4], "big")
    assert len(data) == size + 4 and len(decode_write_request(data[4:])) == 3


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_run_loop_produces_ticks_and_logs_outcome_changes(sink: LocalServer, tmp_path: Path) -> None:
    telemetry = Telemetry(tmp_path, "1.18.0")  # the real clocks
    telemetry.update(blocks(loki_config(sink.url + PUSH)))
    logged: List[Tuple[str, str]] = []
    stop = threading.Event()
    thread = threading.Thread(target=telemetry.run, args=(lambda lvl, msg: logged.append((lvl, msg)), stop, 0.01))
    thread.start()
    ok = ("info", f"telemetry {LOKI} {sink.url}{PUSH}: HTTP 204")
    failed = ("warn", f"telemetry {LOKI} {sink.url}{PUSH}: HTTP 500: boom")
    try:
        wait_for(lambda: ok in logged)  # the loop produced at once and attempted
        sink.routes[PUSH] = (500, "boom")
        telemetry.produce()
        wait_for(lambda: failed in logged)
        wait_for(lambda: len(requests_to(sink, PUSH)) >= 3)  # the 500 retried after 0.5 s, not logged again
    finally:
        stop.set()
        thread.join(5)
    assert logged == [ok, failed]  # once per change, not per attempt
