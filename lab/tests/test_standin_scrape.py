"""The Alloy stand-in's prometheus.scrape of targets written inline, as alloy_config renders
alloy_config_scrape_jobs (roles/alloy_config/templates/scrape_jobs.alloy.j2): the targets as
given, with their labels, instance = __address__ and the job_name unless a target has its own;
the component's debugInfo at GET /api/v0/web/components/<id> as real Alloy shows it
(ScraperStatus in alloyjson: one target block per active target, with job, url from scheme and
metrics_path, health, labels, last_scrape); with clustering, each target on exactly the member
the hash ring gives it (cluster_ring.owners), the others not listing it."""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Dict, List, Set

from alloy_standin.cluster_ring import owners
from lab_wire import decode_write_request
from local_http import LocalServer
from standin_harness import WRITE, FakeClock, get, running_agent
from test_standin_cluster import alloy, sees, wait_for

TARGETS = [{"env": "lab", "__address__": f"10.0.0.{i}:9100"} for i in range(1, 7)]
NAMES = ("alloy-a", "alloy-b")


def scrape_config(url: str, clustered: bool, external: str = "") -> str:
    """What scrape_jobs.alloy.j2 renders for one job (six targets, a label for all, one target's
    own instance), a path and scheme, into a remote_write."""
    targets = ", ".join("{" + ", ".join(f'{k} = "{v}"' for k, v in t.items()) + "}" for t in TARGETS)
    clustering = "\n\tclustering {\n\t\tenabled = true\n\t}\n" if clustered else ""
    return f'''
prometheus.scrape "job_shared" {{
	targets = [{targets}, {{env = "lab", __address__ = "10.0.0.9:9100", instance = "nine"}}]
	forward_to = [prometheus.remote_write.default.receiver]
	job_name = "shared/nodes"
	metrics_path = "/probe"
	scheme = "https"
	scrape_interval = "1s"
{clustering}}}

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


def test_inline_targets_are_scraped_as_given_and_shown_as_alloy_shows_them(tmp_path: Path, clock: FakeClock,
                                                                           backend: LocalServer) -> None:
    with running_agent(scrape_config(backend.url, clustered=False), tmp_path, clock) as (agent, url):
        before = statuses(get(url + "/api/v0/web/components/prometheus.scrape.job_shared")[1])
        agent.telemetry.produce()
        agent.telemetry.tick()
        after = statuses(get(url + "/api/v0/web/components/prometheus.scrape.job_shared")[1])
        other = json.loads(get(url + "/api/v0/web/components/prometheus.remote_write.default")[1])
    assert [(s["health"], s["last_scrape"]) for s in before] == [("unknown", "0001-01-01T00:00:00Z")] * 7
    assert [s["url"] for s in after] == [f"https://10.0.0.{i}:9100/probe" for i in (1, 2, 3, 4, 5, 6, 9)]
    assert {s["job"] for s in after} == {"shared/nodes"} and {s["health"] for s in after} == {"up"}
    assert after[0]["labels"] == {"env": "lab", "instance": "10.0.0.1:9100", "job": "shared/nodes"}
    assert after[-1]["labels"] == {"env": "lab", "instance": "nine", "job": "shared/nodes"}
    assert after[0]["last_scrape"] == "2023-11-14T22:13:20.25Z" and after[0]["last_scrape_duration"] == "1ms"
    assert other["debugInfo"] == []
    ups = sorted((s["instance"], s["job"], s["env"]) for r in backend.requests
                 for s, _, _ in decode_write_request(r.body) if s["__name__"] == "up")
    expected = [(t["__address__"], "shared/nodes", "lab") for t in TARGETS] + [("nine", "shared/nodes", "lab")]
    assert ups == sorted(expected)


def test_a_clustered_scrape_lists_each_target_on_the_one_member_that_owns_it(tmp_path: Path,
                                                                            backend: LocalServer) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(alloy(tmp_path, NAMES[0], config=scrape_config(backend.url, True, NAMES[0])))
        second = stack.enter_context(alloy(tmp_path, NAMES[1], f"--cluster.join-addresses={first.addr}",
                                           config=scrape_config(backend.url, True, NAMES[1])))
        nodes = [first, second]
        wait_for(sees(nodes, set(NAMES)), 10, "the cluster never formed")
        time.sleep(1.5)  # a gossip round for the participants' states, then a scrape round

        def listed() -> Dict[str, Set[str]]:
            return {node.name: {str(s["labels"]["instance"]) for s in statuses(  # type: ignore[index]
                get(f"http://{node.addr}/api/v0/web/components/prometheus.scrape.job_shared")[1])} for node in nodes}
        seen = listed()
        start = len(backend.requests)
        time.sleep(2.5)
        scraped = {(s["scraper"], s["instance"]) for r in backend.requests[start:]
                   for s, _, _ in decode_write_request(r.body) if s["__name__"] == "up"}
    everything = TARGETS + [{"env": "lab", "__address__": "10.0.0.9:9100", "instance": "nine"}]
    expected = {name: {t.get("instance", t["__address__"]) for t, owner in zip(everything, owners(NAMES, everything))
                       if owner == name} for name in NAMES}
    assert seen == expected and all(expected.values())       # both members have some, none has all
    assert set.union(*seen.values()) == {t.get("instance", t["__address__"]) for t in everything}
    assert not set.intersection(*seen.values())
    assert scraped == {(name, instance) for name, instances in expected.items() for instance in instances}
