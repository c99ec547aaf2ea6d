"""The stand-in's telemetry mimic: what it pushes is what the lab's checks look for.
(How it delivers, retries and counts: test_standin_delivery.py.)"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Dict, Iterator

import pytest
from alloy_standin.syntax import Block, parse
from alloy_standin.telemetry import Producer, Telemetry, duration
from lab_wire import decode_push, decode_write_request, snappy_decompress
from local_http import LocalServer


@pytest.fixture()
def sink() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes["/api/v1/write"] = (204, "")
    srv.routes["/loki/api/v1/push"] = (204, "")
    yield srv
    threading.Thread(target=srv.close, daemon=True).start()  # without waiting for its 0.5 s poll


def _blocks(text: str) -> Dict[str, Block]:
    return {b.id: b for b in parse(text) if isinstance(b, Block)}


def _deliver_once(config: str, storage: Path) -> Telemetry:
    """One scrape round, then one attempt of what it queued."""
    telemetry = Telemetry(storage)
    telemetry.update(_blocks(config))
    telemetry.produce()
    telemetry.tick()
    return telemetry


def test_metrics_follow_relabel_to_remote_write(sink: LocalServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "t0k")
    config = f'''
prometheus.exporter.unix "default" {{
}}
prometheus.scrape "unix" {{
	targets = prometheus.exporter.unix.default.targets
	forward_to = [prometheus.relabel.instance.receiver]
	job_name = "integrations/unix"
	scrape_interval = "15s"
}}
prometheus.relabel "instance" {{
	forward_to = [prometheus.remote_write.default.receiver]
	rule {{
		target_label = "instance"
		replacement = "web-01"
	}}
}}
prometheus.remote_write "default" {{
	endpoint {{
		url = "{sink.url}/api/v1/write"
		bearer_token = sys.env("PROM_TOKEN")
	}}
	external_labels = {{cluster = "lab"}}
}}
'''
    (tmp_path / "prometheus.remote_write.default" / "wal").mkdir(parents=True)
    assert Producer(_blocks(config)).interval() == 15.0
    _deliver_once(config, tmp_path)
    path, headers, body = sink.requests[0].path, sink.requests[0].headers, sink.requests[0].body
    assert path == "/api/v1/write" and headers["Authorization"] == "Bearer t0k"
    assert headers["Content-Encoding"] == "snappy"
    series = {labels["__name__"]: labels for labels, _, _ in decode_write_request(body)}
    assert series["up"] == {"__name__": "up", "job": "integrations/unix", "instance": "web-01", "cluster": "lab"}
    assert (tmp_path / "prometheus.remote_write.default" / "wal" / "00000000").stat().st_size > len(body)


def test_journal_heartbeat_reaches_loki_with_relabelled_labels(sink: LocalServer, tmp_path: Path) -> None:
    config = f'''
loki.relabel "journal" {{
	forward_to = []
	rule {{
		source_labels = ["__journal__systemd_unit"]
		target_label = "unit"
	}}
	rule {{
		target_label = "instance"
		replacement = "web-01"
	}}
}}
loki.source.journal "read" {{
	forward_to = [loki.write.endpoint.receiver]
	relabel_rules = loki.relabel.journal.rules
	labels = {{component = "loki.source.journal"}}
}}
loki.write "endpoint" {{
	endpoint {{
		url = "{sink.url}/loki/api/v1/push"
		tenant_id = "lab"
	}}
}}
'''
    _deliver_once(config, tmp_path)
    headers, body = sink.requests[0].headers, sink.requests[0].body
    assert headers["X-Scope-OrgID"] == "lab" and headers["Content-Type"] == "application/x-protobuf"
    stream = decode_push(body)[0]["stream"]
    assert stream == {"unit": "alloy.service", "instance": "web-01", "component": "loki.source.journal"}


@pytest.mark.parametrize("text,seconds", [("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("", 60.0)])
def test_durations(text: str, seconds: float) -> None:
    assert duration(text, 60.0) == seconds


def test_write_request_round_trips_through_snappy_and_protobuf() -> None:
    from lab_wire import encode_write_request
    series = [({"__name__": "x", "instance": "web-01"}, 1.5, 1700000000000), ({"__name__": "y"}, -2.0, 1)]
    body = encode_write_request(series)
    raw = snappy_decompress(body)
    assert body[0] == len(raw) or body[0] & 0x80  # the block starts with the raw length
    assert decode_write_request(body) == series
