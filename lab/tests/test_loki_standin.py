"""The Loki stand-in (TEST FIXTURE) as a multi-tenant Loki: tenant required, data per tenant."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from lab_wire import encode_push
from loki_standin.server import make_server

STANDINS = Path(__file__).resolve().parents[1] / "standins"
NOW_NS = time.time_ns()


@pytest.fixture()
def loki() -> Iterator[str]:
    server = make_server(("127.0.0.1", 0))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(url: str, tenant: Optional[str] = None, body: Optional[bytes] = None,
         content_type: str = "application/json") -> Tuple[int, str]:
    headers = {"Content-Type": content_type} if body is not None else {}
    if tenant is not None:
        headers["X-Scope-OrgID"] = tenant
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def push_json(base: str, tenant: Optional[str], labels: Dict[str, str], *lines: str) -> Tuple[int, str]:
    values = [[str(NOW_NS + i), line] for i, line in enumerate(lines)]
    body = json.dumps({"streams": [{"stream": labels, "values": values}]}).encode()
    return call(f"{base}/loki/api/v1/push", tenant, body)


def query(base: str, tenant: Optional[str], selector: str, **params: str) -> Tuple[int, str]:
    args = urllib.parse.urlencode({"query": selector, **params})
    return call(f"{base}/loki/api/v1/query_range?{args}", tenant)


def lines(answer: str) -> List[str]:
    return [v[1] for s in json.loads(answer)["data"]["result"] for v in s["values"]]


def test_ready_needs_no_tenant(loki: str) -> None:
    assert call(f"{loki}/ready") == (200, "ready\n")


def test_push_and_query_without_tenant_are_refused_like_loki(loki: str) -> None:
    assert push_json(loki, None, {"job": "a"}, "x") == (401, "no org id\n")
    assert query(loki, None, '{job="a"}') == (401, "no org id\n")
    assert push_json(loki, "  ", {"job": "a"}, "x") == (401, "no org id\n")


def test_each_tenant_sees_only_its_own_streams(loki: str) -> None:
    assert push_json(loki, "ops", {"job": "app"}, "ops line")[0] == 204
    proto = encode_push([{"stream": {"job": "app"}, "values": [[str(NOW_NS), "lab line"]]}])
    assert call(f"{loki}/loki/api/v1/push", "lab", proto, "application/x-protobuf")[0] == 204
    assert lines(query(loki, "ops", '{job="app"}')[1]) == ["ops line"]
    assert lines(query(loki, "lab", '{job="app"}')[1]) == ["lab line"]
    assert lines(query(loki, "nobody", '{job="app"}')[1]) == []


def test_lab_received_lists_streams_with_their_tenant(loki: str) -> None:
    push_json(loki, "ops", {"job": "one"}, "a")
    push_json(loki, "lab", {"job": "two"}, "b")
    received = json.loads(call(f"{loki}/lab/received")[1])
    assert [(s["tenant"], s["stream"], s["values"][0][1]) for s in received["streams"]] == [
        ("ops", {"job": "one"}, "a"), ("lab", {"job": "two"}, "b")]
    assert received["tenants"] == ["lab", "ops"]


def test_pushes_of_one_stream_are_merged_and_limited_newest_first(loki: str) -> None:
    push_json(loki, "ops", {"job": "m"}, "first", "second")
    third = {"streams": [{"stream": {"job": "m"}, "values": [[str(NOW_NS + 5), "third"]]}]}
    assert call(f"{loki}/loki/api/v1/push", "ops", json.dumps(third).encode())[0] == 204
    answer = json.loads(query(loki, "ops", '{job="m"}')[1])
    assert len(answer["data"]["result"]) == 1
    assert lines(query(loki, "ops", '{job="m"}')[1]) == ["third", "second", "first"]
    assert lines(query(loki, "ops", '{job="m"}', limit="2", direction="forward")[1]) == ["first", "second"]
    assert lines(query(loki, "ops", '{job="m"}', start=str(NOW_NS + 1))[1]) == ["third", "second"]


def test_bad_tenant_and_bad_body_and_unknown_path(loki: str) -> None:
    assert push_json(loki, "ops|lab", {"job": "a"}, "x") == (400, "multiple org IDs present\n")
    assert call(f"{loki}/loki/api/v1/push", "ops", b"{not json")[0] == 400
    assert call(f"{loki}/nowhere") == (404, "404 page not found\n")


def test_command_line_listens_on_the_given_address() -> None:
    env = dict(os.environ, PYTHONPATH=str(STANDINS))
    proc = subprocess.Popen([sys.executable, "-m", "loki_standin", "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "TEST FIXTURE" in line
        port = line.strip().rsplit(":", 1)[1]
        assert call(f"http://127.0.0.1:{port}/ready") == (200, "ready\n")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
