"""The Alloy stand-in's prometheus.scrape of targets written inline, as alloy_config renders
alloy_config_scrape_jobs (roles/alloy_config/templates/scrape_jobs.alloy.j2), and of an
exporter's targets: the targets as given, with their labels, instance = __address__ and the
job_name unless a target has its own (an exporter's target has job="integrations/<name>");
each target really fetched (scheme, address, metrics_path, tls_config, scrape_timeout), up only
when it answers 200; the component's debugInfo at GET /api/v0/web/components/<id> as real
Alloy shows it (ScraperStatus in alloyjson: one target block per active target, with job, url
from scheme and metrics_path, health, labels, last_error, last_scrape); with clustering, each
target on exactly the member the hash ring gives it (cluster_ring.owners), the others not
listing it."""
from __future__ import annotations

import json
import re
import ssl
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest
from alloy_standin.cluster_ring import owners
from lab_wire import decode_write_request
from local_http import HANG, LocalServer
from standin_harness import WRITE, FakeClock, close_soon, get, running_agent
from test_standin_cluster import alloy, free_port, sees, wait_for

TARGETS = [{"env": "lab", "__address__": f"10.0.0.{i}:9100"} for i in range(1, 7)]
NINE = {"env": "lab", "__address__": "10.0.0.9:9100", "instance": "nine"}
NAMES = ("alloy-a", "alloy-b")
METRICS = "up 1\n"


def scrape_config(url: str, targets: List[Dict[str, str]], clustered: bool = False, external: str = "",
                  client: str = "\tscrape_timeout = \"300ms\"\n", scheme: str = "https") -> str:
    """What scrape_jobs.alloy.j2 renders for one job (its targets, a path and scheme, client
    settings), into a remote_write."""
    listed = ", ".join("{" + ", ".join(f'{k} = "{v}"' for k, v in t.items()) + "}" for t in targets)
    clustering = "\n\tclustering {\n\t\tenabled = true\n\t}\n" if clustered else ""
    return f'''
prometheus.scrape "job_shared" {{
	targets = [{listed}]
	forward_to = [prometheus.remote_write.default.receiver]
	job_name = "shared/nodes"
	metrics_path = "/probe"
	scheme = "{scheme}"
	scrape_interval = "1s"
{client}{clustering}}}
''' + remote_write(url, external)


def remote_write(url: str, external: str = "") -> str:
    return f'''
prometheus.remote_write "default" {{
	endpoint {{
		url = "{url}{WRITE}"
	}}
	external_labels = {{scraper = "{external}"}}
}}
'''


def statuses(body: str) -> List[Dict[str, object]]:
    """debugInfo's target blocks as {attribute: value} (labels as a plain mapping)."""
    out = []
    for block in json.loads(body)["debugInfo"]:
        assert block["name"] == "target" and block["type"] == "block"
        fields: Dict[str, object] = {}
        for attr in block["body"]:
            value = attr["value"]
            fields[attr["name"]] = ({f["key"]: f["value"]["value"] for f in value["value"]}
                                    if value["type"] == "object" else value["value"])
        out.append(fields)
    return out


@pytest.fixture()
def tls_target(pki: Dict[str, Path]) -> Iterator[LocalServer]:
    """A target over HTTPS (the throwaway CA's certificate for 127.0.0.1) answering /probe."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["srv.pem"], pki["srv.key"])
    server = LocalServer(tls=context)
    server.routes["/probe"] = (200, METRICS)
    yield server
    close_soon(server)


def written(backend: LocalServer) -> List[Dict[str, object]]:
    """Every series the backend received, as its labels with the value under "value"."""
    return [{**labels, "value": value} for r in backend.requests if r.path == WRITE
            for labels, value, _ in decode_write_request(r.body)]


def scrape(config: str, tmp_path: Path, clock: FakeClock, *labels: str) -> List[List[Dict[str, object]]]:
    """The debugInfo targets of the prometheus.scrape components of labels after one round of the
    stand-in's scrapes and deliveries."""
    with running_agent(config, tmp_path, clock) as (agent, url):
        agent.telemetry.produce()
        agent.telemetry.tick()
        return [statuses(get(f"{url}/api/v0/web/components/prometheus.scrape.{label}")[1]) for label in labels]


def test_inline_targets_are_scraped_as_given_and_shown_as_alloy_shows_them(
        tmp_path: Path, clock: FakeClock, backend: LocalServer, tls_target: LocalServer, pki: Dict[str, Path]) -> None:
    address = tls_target.url.split("//", 1)[1]
    targets = [{"env": "lab", "__address__": address}, {"env": "lab", "__address__": address, "instance": "nine"},
               {"__address__": address, "job": "mine"}]
    client = f'\tscrape_timeout = "1s"\n\ttls_config {{\n\t\tca_file = "{pki["ca.pem"]}"\n\t}}\n'
    config = scrape_config(backend.url, targets, client=client)
    with running_agent(config, tmp_path, clock) as (agent, url):
        before = statuses(get(url + "/api/v0/web/components/prometheus.scrape.job_shared")[1])
        agent.telemetry.produce()
        agent.telemetry.tick()
        after = statuses(get(url + "/api/v0/web/components/prometheus.scrape.job_shared")[1])
        other = json.loads(get(url + "/api/v0/web/components/prometheus.remote_write.default")[1])
    assert [(s["health"], s["last_scrape"]) for s in before] == [("unknown", "0001-01-01T00:00:00Z")] * 3
    assert [s["url"] for s in after] == [f"https://{address}/probe"] * 3
    assert {s["job"] for s in after} == {"shared/nodes"} and {s["health"] for s in after} == {"up"}
    assert [s["labels"] for s in after] == [{"env": "lab", "instance": address, "job": "shared/nodes"},
                                            {"env": "lab", "instance": "nine", "job": "shared/nodes"},
                                            {"instance": address, "job": "mine"}]
    assert after[0]["last_scrape"] == "2023-11-14T22:13:20.25Z" and "last_error" not in after[0]
    assert re.fullmatch(r"\d+ms|\d+(\.\d+)?s", str(after[0]["last_scrape_duration"]))
    assert other["debugInfo"] == []
    assert [(r.method, r.path, r.headers["X-Prometheus-Scrape-Timeout-Seconds"]) for r in tls_target.requests] == \
        [("GET", "/probe", "1")] * 3
    ups = sorted((str(s["instance"]), str(s["job"]), s["value"]) for s in written(backend) if s["__name__"] == "up")
    assert ups == sorted([(address, "shared/nodes", 1.0), ("nine", "shared/nodes", 1.0), (address, "mine", 1.0)])


def test_a_target_that_does_not_answer_200_is_down_with_alloys_last_error_and_sends_only_up_0(
        tmp_path: Path, clock: FakeClock, backend: LocalServer) -> None:
    target = LocalServer()
    target.routes.update({"/probe": (200, METRICS), "/slow": (200, HANG)})
    address, refused = target.url.split("//", 1)[1], f"127.0.0.1:{free_port()}"
    targets = [{"__address__": address}, {"__address__": address, "__metrics_path__": "/gone"},
               {"__address__": refused}, {"__address__": address, "__metrics_path__": "/slow"}]
    try:
        found, = scrape(scrape_config(backend.url, targets, scheme="http"), tmp_path, clock, "job_shared")
    finally:
        close_soon(target)
    assert [s["health"] for s in found] == ["up", "down", "down", "down"]
    assert [s.get("last_error") for s in found] == [
        None,
        "server returned HTTP status 404 Not Found",
        f'Get "http://{refused}/probe": dial tcp {refused}: connect: connection refused',
        f'Get "http://{address}/slow": context deadline exceeded',  # scrape_timeout 300ms
    ]
    assert all(s["last_scrape"] == "2023-11-14T22:13:20.25Z" for s in found)
    series = written(backend)
    assert sorted((str(s["instance"]), s["value"]) for s in series if s["__name__"] == "up") == sorted(
        [(address, 1.0), (address, 0.0), (address, 0.0), (refused, 0.0)])
    assert [s["instance"] for s in series if s["__name__"] == "node_load1"] == [address]  # only the one that answered


def test_a_target_whose_certificate_is_not_trusted_is_down(tmp_path: Path, clock: FakeClock, backend: LocalServer,
                                                          tls_target: LocalServer) -> None:
    address = tls_target.url.split("//", 1)[1]
    found, = scrape(scrape_config(backend.url, [{"__address__": address}]), tmp_path, clock, "job_shared")
    assert [(s["health"], s["last_error"]) for s in found] == [
        ("down", f'Get "https://{address}/probe": tls: failed to verify certificate: x509: certificate signed by '
                 "unknown authority")]
    assert tls_target.requests == []


EXPORTER = '''
prometheus.exporter.unix "default" {
}

discovery.relabel "unix" {
	targets = prometheus.exporter.unix.default.targets

	rule {
		target_label = "job"
		replacement = "node"
	}
}

prometheus.scrape "plain" {
	targets = prometheus.exporter.unix.default.targets
	forward_to = [prometheus.remote_write.default.receiver]
	job_name = "node"
}

prometheus.scrape "relabelled" {
	targets = discovery.relabel.unix.output
	forward_to = [prometheus.remote_write.default.receiver]
	job_name = "node"
}
'''


def test_an_exporters_target_keeps_its_job_unless_relabelled(tmp_path: Path, clock: FakeClock,
                                                             backend: LocalServer) -> None:
    """exporter.go gives the target job="integrations/unix"; job_name names the scrape pool (the
    status' job) and labels only targets without a job, so only a relabel changes the series'."""
    plain, relabelled = scrape(EXPORTER + remote_write(backend.url), tmp_path, clock, "plain", "relabelled")
    assert sorted(str(s["job"]) for s in written(backend) if s["__name__"] == "up") == ["integrations/unix", "node"]
    shown = [[(s["job"], s["labels"]["job"], s["health"]) for s in found]  # type: ignore[index]
             for found in (plain, relabelled)]
    assert shown == [[("node", "integrations/unix", "up")], [("node", "node", "up")]]
    assert plain[0]["url"] == "http://alloy.internal:12345/api/v0/component/prometheus.exporter.unix.default/metrics"


def test_a_clustered_scrape_lists_each_target_on_the_one_member_that_owns_it(tmp_path: Path,
                                                                            backend: LocalServer) -> None:
    everything = TARGETS + [NINE]
    expected = {name: {t.get("instance", t["__address__"]) for t, owner in zip(everything, owners(NAMES, everything))
                       if owner == name} for name in NAMES}
    with ExitStack() as stack:
        first = stack.enter_context(alloy(tmp_path, NAMES[0], config=scrape_config(backend.url, everything, True,
                                                                                   NAMES[0])))
        second = stack.enter_context(alloy(tmp_path, NAMES[1], f"--cluster.join-addresses={first.addr}",
                                           config=scrape_config(backend.url, everything, True, NAMES[1])))
        nodes = [first, second]
        wait_for(sees(nodes, set(NAMES)), 10, "the cluster never formed")

        def listed() -> Dict[str, Set[str]]:
            return {node.name: {str(s["labels"]["instance"]) for s in statuses(  # type: ignore[index]
                get(f"http://{node.addr}/api/v0/web/components/prometheus.scrape.job_shared")[1])} for node in nodes}
        wait_for(lambda: listed() == expected, 10, f"the members never split the targets as {expected}")
        seen = listed()
        time.sleep(2)  # a round begun before the split (scraping for up to its 300ms timeout) is delivered by now
        start = len(backend.requests)
        time.sleep(2.5)
        scraped = {(s["scraper"], s["instance"]) for r in backend.requests[start:]
                   for s, _, _ in decode_write_request(r.body) if s["__name__"] == "up"}
    assert seen == expected and all(expected.values())       # both members have some, none has all
    assert set.union(*seen.values()) == {t.get("instance", t["__address__"]) for t in everything}
    assert not set.intersection(*seen.values())
    assert scraped == {(name, instance) for name, instances in expected.items() for instance in instances}
