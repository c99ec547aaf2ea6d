"""The Fleet Management stand-in (a TEST FIXTURE playing Grafana Fleet Management's collector
API), in process: Connect unary in protobuf and JSON, pipelines chosen by matchers, hashes and
not_modified, what a collector reports, auth, Connect's errors and the lab switches."""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import fleet_standin
import pytest
from fleet_standin import proto
from fleet_standin.client import Client
from fleet_standin.fleet import Fleet, load_pipelines
from fleet_standin.matchers import parse
from fleet_standin.server import Settings, make_server
from lab_wire.connect import ACCEPT_POST, ConnectError
from standin_harness import FakeClock, get, serving

USER, TOKEN = "300001", "lab-throwaway-fleet-token"
APPLIED, FAILED = 1, 3
PROD_WEB = {"env": "prod", "role": "webserver", "collector.os": "linux"}


def write_pipeline(root: Path, name: str, contents: str, matchers: list, enabled: bool = True) -> None:
    (root / f"{name}.alloy").write_text(contents)
    (root / f"{name}.json").write_text(json.dumps({"matchers": matchers, "enabled": enabled}))


@pytest.fixture()
def fleet_url(tmp_path: Path) -> Iterator[Tuple[str, Fleet, FakeClock]]:
    write_pipeline(tmp_path, "prod_logs", 'loki.source.journal "j" { forward_to = [] }\n', ['env="prod"'])
    write_pipeline(tmp_path, "web", 'prometheus.exporter.self "s" { }\n', ["role=~web.*", 'env!="dev"'])
    write_pipeline(tmp_path, "dev_only", 'prometheus.exporter.unix "u" { }\n', ['env="dev"'])
    write_pipeline(tmp_path, "off", 'logging { level = "debug" }\n', ['env=~".*"'], enabled=False)
    clock = FakeClock()
    fleet = Fleet(load_pipelines(tmp_path), clock=clock)
    server = make_server(("127.0.0.1", 0), Settings(users={USER: TOKEN}), fleet)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}", fleet, clock


def client(url: str, codec: str = "proto", password: str = TOKEN) -> Client:
    return Client(url, USER, password, codec=codec)


def post(url: str, body: bytes, headers: Dict[str, str]) -> Tuple[int, Dict[str, str], bytes]:
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def authed(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    token = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    return {"Authorization": f"Basic {token}", **(extra or {})}


# ---- the wire --------------------------------------------------------------------------

def test_protobuf_request_round_trips_with_maps_enums_and_bytes() -> None:
    message = {"id": "c1", "local_attributes": {"b": "2", "a": "1"}, "hash": "h",
               "remote_config_status": {"status": FAILED, "error_message": "boom"},
               "effective_config": {"config_map": {"config_map": {"": {"body": b"x", "content_type": "text/plain"}}}}}
    data = proto.encode(message, "GetConfigRequest")
    assert proto.decode(data, "GetConfigRequest") == message
    assert data.index(b"\x22") < data.index(b"\x2a")  # local_attributes (4) before remote_config_status (5)
    as_json = proto.to_json(message, "GetConfigRequest")
    assert as_json["remoteConfigStatus"] == {"status": "RemoteConfigStatuses_FAILED", "errorMessage": "boom"}
    assert as_json["effectiveConfig"]["configMap"]["configMap"][""]["body"] == "eA=="
    assert proto.from_json(as_json, "GetConfigRequest") == message
    with pytest.raises(ValueError, match="cannot parse invalid wire-format data"):
        proto.decode(b"\x0a\x05ab", "GetConfigRequest")


def test_protojson_accepts_proto_names_and_numbers_and_discards_unknown() -> None:
    decoded = proto.from_json({"local_attributes": {"k": "v"}, "remote_config_status": {"status": 2},
                               "somethingNew": 1, "hash": None}, "GetConfigRequest")
    assert decoded == {"local_attributes": {"k": "v"}, "remote_config_status": {"status": 2}}
    assert proto.from_json({"remoteConfigStatus": {"status": "NOT_A_STATUS"}}, "GetConfigRequest") == \
        {"remote_config_status": {}}
    with pytest.raises(ValueError, match="invalid value for string field id"):
        proto.from_json({"id": 5}, "GetConfigRequest")


def test_matchers_follow_alertmanager() -> None:
    assert parse('env="prod"').matches({"env": "prod"})
    assert not parse("role=~web").matches({"role": "webserver"})  # anchored
    assert parse('role=~"web.*"').matches({"role": "webserver"})
    assert parse('env!="prod"').matches({})  # a missing attribute is ""
    assert parse('"collector.os" !~ "win.*"').matches({"collector.os": "linux"})
    with pytest.raises(ValueError, match="bad matcher"):
        parse("env prod")


# ---- the collector API -----------------------------------------------------------------

@pytest.mark.parametrize("codec", ["proto", "json"])
def test_register_then_get_config_serves_the_matching_pipelines(fleet_url, codec: str) -> None:
    url, fleet, _ = fleet_url
    alloy = client(url, codec)
    assert alloy.register("web-1", PROD_WEB, name="web one") == {}
    answer = alloy.get_config("web-1", PROD_WEB)
    content = answer["content"]
    assert 'declare "prod_logs" {' in content and 'declare "web" {' in content
    assert "dev_only" not in content and "logging" not in content
    assert content.index('declare "prod_logs"') < content.index('declare "web"')
    assert '\t\t"collector.ID" = "web-1",\n' in content and '\t\t"env" = "prod",\n' in content
    assert len(answer["hash"]) == 64 and not answer.get("not_modified")
    recorded = fleet.snapshot()["collectors"][0]
    assert (recorded["name"], recorded["registered"], recorded["get_config_calls"]) == ("web one", True, 1)
    assert recorded["local_attributes"] == PROD_WEB and recorded["pipelines"] == ["prod_logs", "web"]
    assert recorded["user"] == USER and recorded["user_agent"].startswith("Alloy/")


def test_json_answer_is_protojson(fleet_url) -> None:
    url, _, _ = fleet_url
    body = json.dumps({"id": "dev-1", "localAttributes": {"env": "dev"}}).encode()
    status, headers, raw = post(url + "/collector.v1.CollectorService/GetConfig", body,
                                authed({"Content-Type": "application/json"}))
    assert status == 200 and headers["Content-Type"] == "application/json"
    answer = json.loads(raw)
    assert set(answer) == {"content", "hash"} and 'declare "dev_only"' in answer["content"]
    status, _, raw = post(url + "/collector.v1.CollectorService/GetConfig",
                          json.dumps({"id": "dev-1", "hash": answer["hash"]}).encode(),
                          authed({"Content-Type": "application/json"}))
    assert json.loads(raw) == {"notModified": True}


def test_same_hash_is_not_modified_and_a_change_gives_a_new_hash(fleet_url) -> None:
    url, fleet, _ = fleet_url
    alloy = client(url)
    first = alloy.get_config("web-1", PROD_WEB)
    assert alloy.get_config("web-1", PROD_WEB, first["hash"]) == {"not_modified": True}
    status, _ = put_json(url + "/lab/pipelines/web", {"contents": 'prometheus.exporter.self "t" { }\n',
                                                      "matchers": ['role=~"web.*"']})
    assert status == 200
    second = alloy.get_config("web-1", PROD_WEB, first["hash"])
    assert second["hash"] != first["hash"] and 'prometheus.exporter.self "t"' in second["content"]
    assert patch_json(url + "/lab/pipelines/web", {"enabled": False})[0] == 200
    third = alloy.get_config("web-1", PROD_WEB, second["hash"])
    assert 'declare "web"' not in third["content"] and third["hash"] != second["hash"]
    assert fleet.snapshot()["collectors"][0]["get_config_calls"] == 4


def test_remote_attributes_override_local_ones(fleet_url) -> None:
    url, _, _ = fleet_url
    alloy = client(url)
    alloy.register("c", {"env": "prod"})
    assert put_json(url + "/lab/collectors/c/attributes", {"attributes": {"env": "dev"}})[0] == 200
    content = alloy.get_config("c", {"env": "prod"})["content"]
    assert 'declare "dev_only"' in content and "prod_logs" not in content


def test_reported_status_and_effective_config_are_recorded(fleet_url) -> None:
    url, fleet, _ = fleet_url
    alloy = client(url)
    answer = alloy.get_config("web-1", PROD_WEB)
    alloy.get_config("web-1", PROD_WEB, answer["hash"], status=FAILED, error_message="1:1: unknown component",
                     effective="local config")
    alloy.get_config("web-1", PROD_WEB, answer["hash"])  # unset: unchanged
    recorded = fleet.snapshot()["collectors"][0]
    assert recorded["remote_config_status"] == {"status": "RemoteConfigStatuses_FAILED",
                                                "error_message": "1:1: unknown component"}
    assert len(recorded["status_history"]) == 1 and recorded["effective_config"] == "local config"
    alloy.get_config("web-1", PROD_WEB, answer["hash"], status=APPLIED)
    assert fleet.snapshot()["collectors"][0]["remote_config_status"]["status"] == "RemoteConfigStatuses_APPLIED"


def test_unregister_marks_the_collector_and_an_unknown_one_is_not_found(fleet_url) -> None:
    url, fleet, _ = fleet_url
    alloy = client(url)
    alloy.register("c", {})
    assert alloy.unregister("c") == {}
    assert fleet.snapshot()["collectors"][0]["registered"] is False
    with pytest.raises(ConnectError) as err:
        alloy.unregister("c")
    assert err.value.code == "not_found"


def test_answer_is_gzipped_when_accepted(fleet_url) -> None:
    url, _, _ = fleet_url
    body = proto.encode({"id": "web-1", "local_attributes": PROD_WEB}, "GetConfigRequest")
    status, headers, raw = post(url + "/collector.v1.CollectorService/GetConfig", body,
                                authed({"Content-Type": "application/proto", "Accept-Encoding": "gzip"}))
    assert status == 200 and headers["Content-Encoding"] == "gzip" and headers["Content-Type"] == "application/proto"
    assert "prod_logs" in proto.decode(gzip.decompress(raw), "GetConfigResponse")["content"]


# ---- errors ----------------------------------------------------------------------------

def test_bad_or_missing_credentials_are_unauthenticated(fleet_url) -> None:
    url, fleet, _ = fleet_url
    with pytest.raises(ConnectError) as err:
        client(url, password="wrong").get_config("c", {})
    assert err.value.code == "unauthenticated"
    status, headers, raw = post(url + "/collector.v1.CollectorService/GetConfig", b"",
                                {"Content-Type": "application/proto"})
    assert status == 401 and headers["Content-Type"] == "application/json"
    assert json.loads(raw) == {"code": "unauthenticated", "message": "invalid authentication credentials"}
    assert fleet.snapshot()["collectors"] == []


def test_unknown_method_is_net_http_not_found(fleet_url) -> None:
    url, _, _ = fleet_url
    status, headers, raw = post(url + "/collector.v1.CollectorService/ListCollectors", b"",
                                authed({"Content-Type": "application/proto"}))
    assert (status, raw) == (404, b"404 page not found\n") and headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ConnectError) as err:
        client(url).call("ListCollectors", "UnregisterCollectorRequest", "UnregisterCollectorResponse", {})
    assert err.value.code == "unimplemented"  # what a connect-go client makes of a bare 404


def test_wrong_content_type_method_and_body(fleet_url) -> None:
    url, _, _ = fleet_url
    target = url + "/collector.v1.CollectorService/RegisterCollector"
    status, headers, raw = post(target, b"{}", authed({"Content-Type": "text/plain"}))
    assert (status, raw) == (415, b"") and headers["Accept-Post"] == ACCEPT_POST
    assert "application/proto" in ACCEPT_POST.split(", ") and "Content-Type" not in headers
    status, _, raw = post(target, b"", authed({"Content-Type": "application/json"}))
    assert status == 400 and json.loads(raw) == {
        "code": "invalid_argument", "message": "unmarshal message: zero-length payload is not a valid JSON object"}
    status, _, raw = post(target, b"\x0a\x09short", authed({"Content-Type": "application/proto"}))
    assert status == 400 and "cannot parse invalid wire-format data" in json.loads(raw)["message"]
    status, _, raw = post(target, b"", authed({"Content-Type": "application/proto", "Content-Encoding": "br"}))
    assert status == 501 and json.loads(raw)["code"] == "unimplemented"
    status, headers, _ = get_with(url + "/collector.v1.CollectorService/RegisterCollector", authed())
    assert status == 405 and headers["Allow"] == "POST"


def test_get_config_answers_connect_get(fleet_url) -> None:
    url, _, _ = fleet_url
    message = urllib.request.quote('{"id":"web-1","localAttributes":{"env":"prod"}}')
    query = "?connect=v1&encoding=json&message=" + message
    status, headers, raw = get_with(url + "/collector.v1.CollectorService/GetConfig" + query, authed())
    assert status == 200 and "prod_logs" in json.loads(raw)["content"]


def test_down_switch_answers_unavailable_until_it_ends(fleet_url) -> None:
    url, _, clock = fleet_url
    alloy = client(url)
    status, _ = post_json(url + "/lab/down", {"seconds": 30})
    assert status == 200
    with pytest.raises(ConnectError) as err:
        alloy.get_config("c", {})
    assert err.value.code == "unavailable"
    assert get(url + "/lab/health")[0] == 200  # the lab side stays up
    clock.advance(31)
    assert alloy.get_config("c", {}) == {"hash": hashlib.sha256(b"").hexdigest()}  # nothing selects it
    post_json(url + "/lab/down", {"seconds": 30})
    post_json(url + "/lab/up", {})
    assert alloy.register("c", {}) == {}


def test_down_switch_can_cover_getconfig_only(fleet_url) -> None:
    """A server that answers the registration but not the request for pipelines (the case in
    which Alloy runs its cached remote configuration: molecule/alloy_fleet)."""
    url, fleet, clock = fleet_url
    alloy = client(url)
    status, body = post_json(url + "/lab/down", {"seconds": 30, "procedures": ["GetConfig"]})
    assert (status, body["procedures"]) == (200, ["GetConfig"])
    assert alloy.register("c", {}) == {}
    with pytest.raises(ConnectError) as err:
        alloy.get_config("c", {})
    assert err.value.code == "unavailable"
    assert fleet.snapshot()["down_procedures"] == ["GetConfig"]
    clock.advance(31)
    assert "hash" in alloy.get_config("c", {})
    assert post_json(url + "/lab/down", {"seconds": 5, "procedures": ["Nope"]})[0] == 400
    assert post_json(url + "/lab/down", {"seconds": 5, "procedures": []})[0] == 400
    post_json(url + "/lab/down", {"seconds": 30, "procedures": ["GetConfig"]})
    post_json(url + "/lab/up", {})
    assert "hash" in alloy.get_config("c", {}) and fleet.snapshot()["down_procedures"] is None


def test_lab_pipelines_select_by_role_and_load_in_the_standin_alloy() -> None:
    """The pipelines the lab's `fleet` service ships (lab_pipelines/, molecule/alloy_fleet): one per
    role, each a module the stand-in Alloy loads, remote-writing with labels naming the pipeline,
    the collector's role and the host."""
    from alloy_standin import modules
    from alloy_standin.telemetry import Producer, attr, evaluate
    from fleet_standin.fleet import render
    pipelines = load_pipelines(Path(fleet_standin.__file__).parent / "lab_pipelines")
    assert sorted(pipelines) == ["db", "web"]
    for role in pipelines:
        attributes = {"role": role, "os": "debian", "os_version": "12", "collector.os": "linux",
                      "collector.ID": "fleet-debian12"}
        assert [name for name, p in sorted(pipelines.items()) if p.selects(attributes)] == [role]
        loaded = modules.load(render(pipelines[role], attributes))
        blocks = {cid: entry.block for cid, entry in loaded[f"remotecfg/{role}.default"].items()}
        assert sorted(blocks) == [f"discovery.relabel.fleet_{role}", f"prometheus.exporter.self.fleet_{role}",
                                  f"prometheus.remote_write.fleet_{role}", f"prometheus.scrape.fleet_{role}"]
        labels = evaluate(attr(blocks[f"prometheus.remote_write.fleet_{role}"], "external_labels"))
        assert isinstance(labels, dict) and (labels["fleet_pipeline"], labels["fleet_role"]) == (role, role)
        sink, series = next(Producer(blocks).samples(1000))
        assert sink == f"prometheus.remote_write.fleet_{role}"
        assert series[0][0]["job"] == f"fleet-lab-{role}" and series[0][0]["fleet_pipeline"] == role
    assert not any(p.selects({"role": "cache"}) for p in pipelines.values())


def test_lab_refuses_a_bad_pipeline(fleet_url) -> None:
    url, fleet, _ = fleet_url
    status, body = put_json(url + "/lab/pipelines/bad", {"contents": "", "matchers": ["env prod"]})
    assert status == 400 and "bad matcher" in body["error"]
    assert put_json(url + "/lab/pipelines/not-an-identifier", {"contents": "", "matchers": []})[0] == 400
    assert "bad" not in {p["name"] for p in fleet.snapshot()["pipelines"]}


def test_command_line_refuses_a_pipeline_without_sidecar(tmp_path: Path) -> None:
    from fleet_standin.__main__ import main
    (tmp_path / "p.alloy").write_text("")
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"fleet": {"users": {USER: TOKEN}}}))
    assert main(["--credentials", str(creds), "--pipelines", str(tmp_path), "--listen", "127.0.0.1:0"]) == 2


def test_tls(tmp_path: Path, pki) -> None:
    fleet = Fleet({})
    server = make_server(("127.0.0.1", 0), Settings(users={USER: TOKEN}, cert=pki["srv.pem"], key=pki["srv.key"]),
                         fleet)
    with serving(server):
        context = ssl.create_default_context(cafile=str(pki["ca.pem"]))
        alloy = Client(f"https://127.0.0.1:{server.server_address[1]}", USER, TOKEN, context=context)
        assert alloy.register("c", {}) == {}
    assert fleet.snapshot()["collectors"][0]["registered"] is True


# ---- helpers ---------------------------------------------------------------------------

def _send(method: str, url: str, value: object) -> Tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(value).encode(), {"Content-Type": "application/json"},
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def put_json(url: str, value: object) -> Tuple[int, dict]:
    return _send("PUT", url, value)


def patch_json(url: str, value: object) -> Tuple[int, dict]:
    return _send("PATCH", url, value)


def post_json(url: str, value: object) -> Tuple[int, dict]:
    return _send("POST", url, value)


def get_with(url: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
