"""Delivery from Alloy's own /metrics: the text parser and the per-endpoint judgement
(module_utils/alloy_metrics.py), then the delivery check end to end against a local
server whose metrics change after its first read."""
from __future__ import annotations

import json
import socket
from typing import Dict, Iterator, List

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import alloy_metrics as am
from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import delivery_check
from local_http import LocalServer

LW = 'component_id="loki.write.endpoint",component_path="/"'
RW = 'component_id="prometheus.remote_write.default",component_path="/"'
URL = "https://gw:9090/api/v1/write"


def loki(sent: float = 0, dropped: float = 0, retries: float = 0, statuses: Dict[str, float] | None = None,
         host: str = "gw:3100", tenant: str = "ops") -> str:
    ep = f'host="{host}",tenant="{tenant}"'
    lines = [f"loki_write_sent_entries_total{{{LW},{ep}}} {sent}",
             f'loki_write_dropped_entries_total{{{LW},{ep},reason="ingester_error"}} {dropped}',
             f"loki_write_batch_retries_total{{{LW},{ep}}} {retries}"]
    for code, count in (statuses or {}).items():
        lines.append(f'loki_write_request_duration_seconds_count{{{LW},{ep},status_code="{code}"}} {count}')
    return "\n".join(lines) + "\n"


def rw(total: float = 0, failed: float = 0, retried: float = 0, pending: float = 0, sent_ts: float = 0,
       newest: float = 0, url: str = URL, name: str = "a1b2c3") -> str:
    ep = f'remote_name="{name}",url="{url}"'
    return "\n".join([
        f"prometheus_remote_storage_samples_total{{{RW},{ep}}} {total}",
        f"prometheus_remote_storage_samples_failed_total{{{RW},{ep}}} {failed}",
        f"prometheus_remote_storage_samples_retried_total{{{RW},{ep}}} {retried}",
        f"prometheus_remote_storage_samples_pending{{{RW},{ep}}} {pending}",
        f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{{RW},{ep}}} {sent_ts}",
        f"prometheus_remote_storage_highest_timestamp_in_seconds{{{RW}}} {newest}",
    ]) + "\n"


def judge(kind: str, before: str, after: str, component: str = "", window: float = 5, max_lag: float = 300,
          endpoints: List[Dict[str, str]] | None = None):
    cid = component or ("loki.write.endpoint" if kind == "loki" else "prometheus.remote_write.default")
    wanted = None if endpoints is None else {am.endpoint_key(kind, e) for e in endpoints}
    return am.delivery(kind, am.parse(before), am.parse(after), [cid], window, max_lag, wanted)


# --- parsing ---------------------------------------------------------------------------------

def test_parse_reads_labels_values_and_skips_the_rest() -> None:
    text = ('# HELP loki_write_sent_entries_total Number of log entries sent to the ingester.\n'
            '# TYPE loki_write_sent_entries_total counter\n'
            'alloy_build_info{version="v1.10.0"} 1\n'
            'loki_write_sent_entries_total{component_id="loki.write.a",host="h:1",tenant="x\\"y\\\\z"} 1.5e+03\n'
            'prometheus_remote_storage_samples_pending{url="http://p/api/v1/write"} 7 1700000000000\n'
            'loki_write_batch_retries_total 2\n')
    samples = am.parse(text)
    assert "alloy_build_info" not in samples
    labels, value = samples["loki_write_sent_entries_total"][0]
    assert value == 1500.0 and labels == {"component_id": "loki.write.a", "host": "h:1", "tenant": 'x"y\\z'}
    assert samples["prometheus_remote_storage_samples_pending"] == [({"url": "http://p/api/v1/write"}, 7.0)]
    assert samples["loki_write_batch_retries_total"] == [({}, 2.0)]


def test_parse_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        am.parse('loki_write_sent_entries_total{host=unquoted} 1\n')


@pytest.mark.parametrize("before,after,restarted", [
    (loki(sent=10), loki(sent=15), False), (loki(sent=10), loki(sent=3), True),
    (loki(sent=10, retries=2), loki(sent=12, retries=1), True), (loki(), loki(), False),
    ("process_start_time_seconds 1\n" + loki(sent=1), "process_start_time_seconds 2\n" + loki(sent=5), True)])
def test_a_restart_is_a_counter_that_went_down_or_a_new_start_time(before: str, after: str,
                                                                    restarted: bool) -> None:
    reads = am.Reads(am.parse(before), am.parse(after))
    assert reads.restarted is restarted
    assert reads.increase(10, 15) == (15 if restarted else 5)


# --- loki.write ------------------------------------------------------------------------------

def test_loki_delivering() -> None:
    ok, text = judge("loki", loki(sent=100, statuses={"204": 10}), loki(sent=112, statuses={"204": 12}))
    assert ok and text == "loki.write.endpoint: gw:3100 tenant ops: 12 sent in 5 s"


def test_loki_rejected_names_the_status() -> None:
    ok, text = judge("loki", loki(dropped=3, statuses={"401": 1}), loki(dropped=40, statuses={"401": 4}))
    assert not ok and text == "loki.write.endpoint: gw:3100 tenant ops: 0 sent, 37 dropped (HTTP 401) in 5 s"


def test_loki_partly_dropped_is_a_failure() -> None:
    ok, text = judge("loki", loki(sent=10, statuses={"204": 1}),
                     loki(sent=20, dropped=5, statuses={"204": 2, "403": 1}))
    assert not ok and "10 sent, 5 dropped (HTTP 403)" in text


def test_loki_backend_down_is_retries_without_an_answer() -> None:
    ok, text = judge("loki", loki(retries=1, statuses={"-1": 1}), loki(retries=4, statuses={"-1": 4}))
    assert not ok and "0 sent, 3 retried (no HTTP answer (refused, timed out or TLS failed))" in text


def test_loki_idle_after_delivering_passes() -> None:
    ok, text = judge("loki", loki(sent=50), loki(sent=50))
    assert ok and text.endswith("idle in 5 s, 50 sent since start")


def test_loki_idle_with_only_drops_since_start_fails() -> None:
    ok, text = judge("loki", loki(dropped=8, statuses={"401": 2}), loki(dropped=8, statuses={"401": 2}))
    assert not ok and "idle in 5 s; since start 0 sent, 8 dropped, 0 retried (HTTP 401)" in text


def test_loki_idle_after_retries_proves_nothing() -> None:
    # Loki's backoff grows to minutes: a quiet window between two retries is not a recovery.
    ok, text = judge("loki", loki(sent=300, retries=5, statuses={"-1": 5}),
                     loki(sent=300, retries=5, statuses={"-1": 5}))
    assert not ok and "since start 300 sent, 0 dropped, 5 retried (no HTTP answer" in text


def test_loki_without_any_line_queued_has_nothing_to_judge() -> None:
    # Alloy makes a loki.write endpoint's series when the first line is queued.
    ok, text = judge("loki", "", "")
    assert ok and text == "loki.write.endpoint: nothing queued yet"
    ok, text = judge("loki", loki(), loki())  # queued, not sent yet
    assert not ok and text.endswith("nothing sent yet")


def test_loki_counters_reset_by_a_restart_are_not_negative() -> None:
    ok, text = judge("loki", loki(sent=500, dropped=20), loki(sent=7))
    assert ok and "7 sent in 5 s" in text


def test_loki_several_endpoints_are_judged_each() -> None:
    before = loki(sent=1, host="a:3100") + loki(sent=1, host="b:3100", statuses={"500": 1})
    after = loki(sent=9, host="a:3100") + loki(sent=1, retries=2, host="b:3100", statuses={"500": 3})
    ok, text = judge("loki", before, after)
    assert not ok
    assert "a:3100 tenant ops: 8 sent in 5 s" in text and "b:3100 tenant ops: 0 sent, 2 retried (HTTP 500)" in text


def test_other_components_are_not_mixed_in() -> None:
    other = loki(dropped=99).replace("loki.write.endpoint", "loki.write.other")
    ok, _ = judge("loki", loki(sent=1) + other, loki(sent=5) + other.replace(" 99", " 150"))
    assert ok


def test_a_series_left_by_a_reload_is_not_judged() -> None:
    # tenant team-b was refused, then a reload set tenant ops: Alloy keeps the old series, frozen.
    before = loki(dropped=3, tenant="team-b", statuses={"403": 3}) + loki(sent=4, tenant="ops")
    after = loki(dropped=3, tenant="team-b", statuses={"403": 3}) + loki(sent=9, tenant="ops")
    ops = [{"url": "https://gw:3100/loki/api/v1/push", "tenant_id": "ops"}]
    ok, text = judge("loki", before, after, endpoints=ops)
    assert ok and text == "loki.write.endpoint: gw:3100 tenant ops: 5 sent in 5 s"
    ok, text = judge("loki", before, after)  # without the configuration, every series counts
    assert not ok and "team-b" in text


def test_a_moving_series_is_judged_even_if_not_configured() -> None:
    ops = [{"url": "https://GW:3100/loki/api/v1/push", "tenant_id": "ops"}]
    ok, text = judge("loki", loki(sent=4, tenant="ops") + loki(tenant="other"),
                     loki(sent=9, tenant="ops") + loki(dropped=2, tenant="other", statuses={"401": 1}), endpoints=ops)
    assert not ok and "gw:3100 tenant other: 0 sent, 2 dropped (HTTP 401)" in text


def test_a_configured_endpoint_without_metrics() -> None:
    eps = [{"url": "https://gw:3100/loki/api/v1/push", "tenant_id": "ops"},
           {"url": "https://user:pw@logs.example.com/loki/api/v1/push"}]
    ok, text = judge("loki", loki(sent=1, tenant="ops"), loki(sent=2, tenant="ops"), endpoints=eps)
    assert ok and text.endswith("; logs.example.com: nothing queued for it yet")
    ok, _ = judge("prometheus", rw(total=5, sent_ts=1, newest=1), rw(total=9, sent_ts=2, newest=2),
                  endpoints=[{"url": "HTTPS://gw:9090/api/v1/write/"}])
    assert ok  # the same URL as Alloy labels it
    ok, text = judge("prometheus", rw(total=5, sent_ts=1, newest=1), rw(total=9, sent_ts=2, newest=2),
                     endpoints=[{"url": URL}, {"url": "https://other/api/v1/write"}])
    assert not ok and text.endswith("https://other/api/v1/write: no metrics for this endpoint (not loaded?)")


# --- prometheus.remote_write -----------------------------------------------------------------

def test_remote_write_delivering() -> None:
    ok, text = judge("prometheus", rw(total=300, sent_ts=1000, newest=1000),
                     rw(total=330, sent_ts=1015, newest=1015))
    assert ok and text == f"prometheus.remote_write.default: {URL}: 30 delivered in 5 s"


def test_remote_write_attempts_are_not_deliveries() -> None:
    ok, text = judge("prometheus", rw(total=30, retried=0, pending=30), rw(total=90, retried=60, pending=45))
    assert not ok and f"{URL}: 0 delivered, 60 retried (no answer, 5xx or 429) in 5 s, 45 pending" in text


def test_remote_write_4xx_fails_although_the_timestamp_moves() -> None:
    ok, text = judge("prometheus", rw(total=30, failed=30, sent_ts=100, newest=100),
                     rw(total=60, failed=60, sent_ts=115, newest=115))
    assert not ok and f"{URL}: 30 failed (refused by the backend with a 4xx, not retried) in 5 s" in text


def test_remote_write_a_try_in_flight_is_not_a_delivery() -> None:
    # samples_total counts a try as it begins; the answer (maybe a 5xx after 30 s) is not known.
    ok, text = judge("prometheus", rw(pending=60), rw(total=60, pending=60))
    assert not ok and "0 delivered in 5 s, a send is waiting for its answer, 60 pending" in text


def test_remote_write_idle_needs_a_recent_delivery() -> None:
    ok, text = judge("prometheus", rw(total=30, sent_ts=1000, newest=1010), rw(total=30, sent_ts=1000, newest=1010))
    assert ok and "idle in 5 s, delivered before" in text
    ok, text = judge("prometheus", rw(total=30, sent_ts=1000, newest=1010, pending=60),
                     rw(total=30, sent_ts=1000, newest=1010, pending=60))
    assert not ok and "0 delivered in 5 s, 60 pending" in text
    ok, text = judge("prometheus", rw(total=30, sent_ts=1000, newest=1900), rw(total=30, sent_ts=1000, newest=1900))
    assert not ok and "delivery is 900 s behind (max 300 s)" in text


def test_remote_write_growing_queue_fails() -> None:
    ok, text = judge("prometheus", rw(total=30, pending=10, sent_ts=5, newest=5),
                     rw(total=30, pending=25, sent_ts=5, newest=20))
    assert not ok and "25 pending and growing" in text


def test_remote_write_nothing_yet_and_nothing_ever() -> None:
    ok, text = judge("prometheus", rw(), rw())
    assert not ok and text.endswith("nothing sent yet")
    ok, text = judge("prometheus", rw(total=30, failed=30, sent_ts=9), rw(total=30, failed=30, sent_ts=9))
    assert not ok and "idle in 5 s; 30 failed since start" in text


def test_remote_write_restart_between_reads() -> None:
    ok, text = judge("prometheus", rw(total=9000, retried=8000, sent_ts=10, newest=10),
                     rw(total=40, sent_ts=20, newest=20))
    assert ok and "40 delivered in 5 s" in text


def test_a_restart_is_seen_once_for_every_counter() -> None:
    # retried came back above its old value, total did not: both start from 0 after a restart.
    ok, text = judge("prometheus", rw(total=100, retried=10, sent_ts=50), rw(total=30, retried=30, pending=30))
    assert not ok and "0 delivered, 30 retried" in text
    start = "process_start_time_seconds 1700000000\n"
    ok, text = judge("prometheus", start + rw(total=100, retried=90, sent_ts=5),
                     start.replace("17", "18") + rw(total=120, retried=110))
    assert not ok and "0 delivered, 110 retried" in text


def test_two_queues_on_one_url_are_judged_apart() -> None:
    # Multi-tenant Mimir: one URL, a tenant header per endpoint, a queue (remote_name) each.
    newest = f"prometheus_remote_storage_highest_timestamp_in_seconds{{{RW}}} 0\n"
    before = rw(total=10, sent_ts=1, newest=1, name="ops") + rw(total=10, name="team-b").replace(newest, "")
    after = rw(total=20, sent_ts=2, newest=2, name="ops") + rw(total=30, retried=20, name="team-b").replace(newest, "")
    ok, text = judge("prometheus", before, after)
    assert not ok and f"{URL} (ops): 10 delivered" in text and f"{URL} (team-b): 0 delivered, 20 retried" in text


def test_series_of_a_module_component_are_not_mixed_in() -> None:
    moduled = loki(dropped=50).replace('component_path="/"', 'component_path="/remotecfg"')
    ok, _ = judge("loki", loki(sent=1) + moduled, loki(sent=5) + moduled.replace(" 50", " 90"))
    assert ok


def test_remote_write_one_endpoint_of_two_failing() -> None:
    good, bad = "https://a/api/v1/write", "https://b/api/prom/push"
    ok, text = judge("prometheus", rw(total=10, url=good, sent_ts=1, newest=1) + rw(total=10, url=bad),
                     rw(total=20, url=good, sent_ts=2, newest=2) + rw(total=20, failed=10, url=bad))
    assert not ok and f"{good}: 10 delivered" in text and f"{bad}: 10 failed" in text


# --- the check against a server -------------------------------------------------------------

COMPONENTS = [
    {"name": "loki.write", "localID": "loki.write.endpoint", "moduleID": "", "health": {"state": "healthy"}},
    {"name": "loki.write", "localID": "loki.write.remote", "moduleID": "remotecfg/x", "health": {"state": "healthy"}},
    {"name": "prometheus.remote_write", "localID": "prometheus.remote_write.default", "moduleID": "",
     "health": {"state": "healthy"}},
]


@pytest.fixture()
def alloy() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes["/api/v0/web/components"] = (200, json.dumps(COMPONENTS))
    yield srv
    srv.close()


ENDPOINTS = {"loki": [{"url": "https://gw:3100/loki/api/v1/push", "tenant_id": "ops"}],
             "prometheus": [{"url": URL}]}


def run(srv: LocalServer, kind: str, before: str, after: str, configured: bool = True):
    """The check with a 5 s window polled every 0.5 s: /metrics answers before, then after."""
    srv.routes["/metrics"] = (200, before)
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        srv.routes["/metrics"] = (200, after)
    check = delivery_check(srv.url, kind, ENDPOINTS[kind] if configured else None, 5, 300, 1.0,
                           sleep=sleep, poll=0.5, clock=lambda: clock[0])
    return check()


def test_delivery_check_reads_metrics_until_the_window_ends_when_it_fails(alloy: LocalServer) -> None:
    result = run(alloy, "loki", loki(sent=1), loki(dropped=6, statuses={"401": 2}))
    assert result.name == "delivery loki" and not result.ok
    assert result.detail == "loki.write.endpoint: gw:3100 tenant ops: 0 sent, 6 dropped (HTTP 401) in 5 s"
    assert [r.path for r in alloy.requests].count("/metrics") == 11  # at 0 s, then every 0.5 s to 5 s


def test_delivery_check_only_judges_root_module_writers(alloy: LocalServer) -> None:
    result = run(alloy, "prometheus", rw(total=5, sent_ts=1, newest=1), rw(total=10, sent_ts=2, newest=2))
    assert result.ok and result.detail.startswith("prometheus.remote_write.default:")
    assert result.detail.endswith("5 delivered in 0.5 s")  # the first read that passes ends the window
    assert [r.path for r in alloy.requests].count("/metrics") == 2
    assert "loki.write.remote" not in run(alloy, "loki", loki(sent=1), loki(sent=2)).detail


def test_delivery_check_without_a_writer(alloy: LocalServer) -> None:
    alloy.routes["/api/v0/web/components"] = (200, "[]")
    assert not run(alloy, "loki", "", "").ok
    assert run(alloy, "loki", "", "", configured=False).ok


def test_delivery_check_when_alloy_does_not_answer() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # a port nothing listens on
    check = delivery_check(f"http://127.0.0.1:{port}", "loki", ENDPOINTS["loki"], 0, 300, 1.0)()
    assert not check.ok and "connection refused" in check.detail
