"""Delivery judged from Alloy's /metrics (module_utils/alloy_metrics.py): the corners of the
text format, of the restart detection and of each verdict (boundaries, which statuses are
named, which series count). test_alloy_metrics.py has the main cases. Written against the
survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import alloy_metrics as am

CID = 'component_id="%s",component_path="/"'


def sample(name: str, value: float, component: str = "loki.write.w", **labels: str) -> str:
    extra = "".join(',%s="%s"' % kv for kv in labels.items())
    return "%s{%s%s} %s\n" % (name, CID % component, extra, value)


def loki_reads(before: Dict[str, float], after: Dict[str, float], host: str = "h:3100", tenant: str = "",
               statuses: Optional[List[Tuple[str, float, float]]] = None) -> Tuple[str, str]:
    texts = []
    for figures, index in ((before, 1), (after, 2)):
        text = "".join(sample("loki_write_%s" % name, value, host=host, tenant=tenant)
                       for name, value in figures.items())
        for code, old, new in statuses or []:
            text += sample("loki_write_request_duration_seconds_count", (old, new)[index - 1], host=host,
                           tenant=tenant, status_code=code)
        texts.append(text)
    return texts[0], texts[1]


def judge_loki(before: str, after: str, wanted: Optional[set] = None) -> Tuple[bool, str]:
    return am.delivery("loki", am.parse(before), am.parse(after), ["loki.write.w"], 5, 300, wanted)


# --- the text format ---------------------------------------------------------------------------

def test_label_values_are_unescaped() -> None:
    samples = am.parse('loki_write_sent_entries_total{tenant="a\\nb\\\\c\\"d"} 2\n')
    labels, value = samples["loki_write_sent_entries_total"][0]
    assert labels == {"tenant": 'a\nb\\c"d'} and value == 2.0


def test_a_trailing_comma_and_blanks_are_allowed() -> None:
    text = '  loki_write_sent_entries_total{ host = "h" , tenant="t", } 3 1700000000000\t\n'
    assert am.parse(text) == {"loki_write_sent_entries_total": [({"host": "h", "tenant": "t"}, 3.0)]}


def test_only_the_writer_metrics_and_the_start_time_are_read() -> None:
    text = ("process_start_time_seconds 17\nprocess_cpu_seconds_total 5\n# TYPE loki_write_x counter\n\n"
            "prometheus_remote_storage_samples_total 4\nloki_write_a 1\nalloy_build_info 1\n")
    assert sorted(am.parse(text)) == ["loki_write_a", "process_start_time_seconds",
                                      "prometheus_remote_storage_samples_total"]


def test_several_samples_of_one_metric_are_kept_in_order() -> None:
    text = 'loki_write_a{x="1"} 1\nloki_write_a{x="2"} 2\n'
    assert am.parse(text)["loki_write_a"] == [({"x": "1"}, 1.0), ({"x": "2"}, 2.0)]


# --- restarts ----------------------------------------------------------------------------------

def reads(before: str, after: str) -> am.Reads:
    return am.Reads(am.parse(before), am.parse(after))


def test_a_restart_needs_both_start_times_to_differ() -> None:
    assert not reads("process_start_time_seconds 5\n", "").restarted
    assert not reads("", "process_start_time_seconds 5\n").restarted
    assert not reads("process_start_time_seconds 5\n", "process_start_time_seconds 5\n").restarted
    assert reads("process_start_time_seconds 5\n", "process_start_time_seconds 6\n").restarted


def test_only_counters_going_down_mean_a_restart() -> None:
    gauge = "prometheus_remote_storage_samples_pending"
    assert not reads(sample(gauge, 50), sample(gauge, 10)).restarted
    counter = "prometheus_remote_storage_samples_total"
    assert reads(sample(counter, 50), sample(counter, 10)).restarted
    count = "loki_write_request_duration_seconds_count"
    assert reads(sample(count, 5, status_code="204"), sample(count, 4, status_code="204")).restarted
    # another series of the same counter that grew does not hide it
    assert reads(sample(counter, 50, url="a") + sample(counter, 1, url="b"),
                 sample(counter, 60, url="a") + sample(counter, 0, url="b")).restarted
    # a series that appears is not a restart, even at 0
    assert not reads("", sample(counter, 3)).restarted
    assert not reads("", sample(counter, 0)).restarted


def test_increase_is_the_difference_or_the_new_value_after_a_restart() -> None:
    assert reads("", "").increase(10.0, 15.0) == 5.0
    assert reads("", "").increase(15.0, 15.0) == 0.0
    restarted = reads("process_start_time_seconds 1\n", "process_start_time_seconds 2\n")
    assert restarted.increase(10.0, 15.0) == 15.0


# --- loki.write ----------------------------------------------------------------------------------

def test_loki_idle_after_sending_and_dropping_fails() -> None:
    ok, text = judge_loki(*loki_reads({"sent_entries_total": 10, "dropped_entries_total": 2},
                                      {"sent_entries_total": 10, "dropped_entries_total": 2},
                                      statuses=[("400", 1, 1)]))
    assert not ok and text == ("loki.write.w: h:3100: idle in 5 s; since start 10 sent, 2 dropped, 0 retried "
                               "(HTTP 400)")


def test_loki_statuses_of_the_window_come_first() -> None:
    before, after = loki_reads({"dropped_entries_total": 1}, {"dropped_entries_total": 4},
                               statuses=[("401", 1, 1), ("500", 0, 2), ("429", 0, 1), ("204", 3, 9)])
    assert judge_loki(before, after) == (False, "loki.write.w: h:3100: 0 sent, 3 dropped (HTTP 429, HTTP 500) in 5 s")


def test_loki_statuses_since_start_when_the_window_has_none() -> None:
    before, after = loki_reads({"batch_retries_total": 2}, {"batch_retries_total": 2},
                               statuses=[("503", 2, 2), ("-1", 1, 1), ("200", 1, 1)])
    assert judge_loki(before, after) == (False, "loki.write.w: h:3100: idle in 5 s; since start 0 sent, 0 dropped, "
                                                "2 retried (no HTTP answer (refused, timed out or TLS failed), "
                                                "HTTP 503)")


def test_loki_statuses_are_those_of_the_endpoint() -> None:
    before, after = loki_reads({"dropped_entries_total": 0}, {"dropped_entries_total": 1}, statuses=[("401", 0, 1)])
    other = sample("loki_write_request_duration_seconds_count", 7, host="other:3100", tenant="", status_code="500")
    ok, text = judge_loki(before, after + other)
    assert not ok and text == "loki.write.w: h:3100: 0 sent, 1 dropped (HTTP 401) in 5 s"


def test_loki_tenants_and_hosts_are_named() -> None:
    before, after = loki_reads({"sent_entries_total": 1}, {"sent_entries_total": 3}, host="GW:3100", tenant="ops")
    assert judge_loki(before, after) == (True, "loki.write.w: GW:3100 tenant ops: 2 sent in 5 s")


def test_loki_configured_endpoints_match_case_insensitively_by_host() -> None:
    before, after = loki_reads({"sent_entries_total": 1}, {"sent_entries_total": 3}, host="GW:3100", tenant="ops")
    wanted = {am.endpoint_key("loki", {"url": "https://u:p@gw:3100/loki/api/v1/push", "tenant_id": "ops"})}
    assert wanted == {("gw:3100", "ops")}
    assert judge_loki(before, after, wanted) == (True, "loki.write.w: GW:3100 tenant ops: 2 sent in 5 s")
    stale = loki_reads({"sent_entries_total": 1}, {"sent_entries_total": 1}, host="old:3100")
    ok, text = judge_loki(before + stale[0], after + stale[1], wanted)
    assert ok and "old:3100" not in text


def test_loki_writer_without_series() -> None:
    assert judge_loki("", "") == (True, "loki.write.w: nothing queued yet")
    ok, text = judge_loki("", "", {("gw:3100", "")})
    assert ok and text == "gw:3100: nothing queued for it yet"


# --- prometheus.remote_write -----------------------------------------------------------------

URL = "https://mimir.example/api/v1/push"


def rw_reads(before: Dict[str, float], after: Dict[str, float], url: str = URL, name: str = "q1",
             newest: Tuple[float, float] = (0, 0)) -> Tuple[str, str]:
    texts = []
    for figures, stamp in ((before, newest[0]), (after, newest[1])):
        text = "".join(sample("prometheus_remote_storage_%s" % metric, value, component="prometheus.remote_write.d",
                              remote_name=name, url=url) for metric, value in figures.items())
        if stamp:
            text += sample("prometheus_remote_storage_highest_timestamp_in_seconds", stamp,
                           component="prometheus.remote_write.d")
        texts.append(text)
    return texts[0], texts[1]


def judge_rw(before: str, after: str, max_lag: float = 300, wanted: Optional[set] = None) -> Tuple[bool, str]:
    return am.delivery("prometheus", am.parse(before), am.parse(after), ["prometheus.remote_write.d"], 5, max_lag,
                       wanted)


TS = "queue_highest_sent_timestamp_seconds"


def test_remote_write_counts_what_arrived() -> None:
    before, after = rw_reads({"samples_total": 10, "samples_retried_total": 2, TS: 100},
                             {"samples_total": 40, "samples_retried_total": 7, "samples_pending": 3, TS: 110})
    assert judge_rw(before, after) == (True, "prometheus.remote_write.d: %s: 25 delivered in 5 s, 3 pending" % URL)


def test_remote_write_lag_boundary() -> None:
    before, after = rw_reads({"samples_total": 10, TS: 1000}, {"samples_total": 10, TS: 1000}, newest=(1300, 1300))
    assert judge_rw(before, after) == (True, "prometheus.remote_write.d: %s: idle in 5 s, delivered before" % URL)
    before, after = rw_reads({"samples_total": 10, TS: 1000}, {"samples_total": 10, TS: 1000}, newest=(1301, 1301))
    assert judge_rw(before, after) == (False, "prometheus.remote_write.d: %s: delivery is 301 s behind (max 300 s)"
                                       % URL)
    assert judge_rw(before, after, max_lag=301)[0]


def test_remote_write_without_a_newest_timestamp_has_no_lag() -> None:
    before, after = rw_reads({"samples_total": 10, TS: 1000}, {"samples_total": 10, TS: 1000})
    assert judge_rw(before, after)[0]


def test_remote_write_pending_without_growth() -> None:
    before, after = rw_reads({"samples_total": 10, "samples_pending": 20, TS: 5},
                             {"samples_total": 10, "samples_pending": 20, TS: 5})
    assert judge_rw(before, after) == (False, "prometheus.remote_write.d: %s: 0 delivered in 5 s, 20 pending" % URL)


def test_remote_write_failed_in_the_window_with_pending() -> None:
    before, after = rw_reads({"samples_total": 10, "samples_failed_total": 1},
                             {"samples_total": 20, "samples_failed_total": 6, "samples_pending": 4, TS: 9})
    assert judge_rw(before, after) == (
        False, "prometheus.remote_write.d: %s: 5 failed (refused by the backend with a 4xx, not retried) in 5 s" % URL)


def test_remote_write_url_alone_names_a_single_queue() -> None:
    before, after = rw_reads({"samples_total": 1, TS: 1}, {"samples_total": 2, TS: 2}, name="abc123")
    assert judge_rw(before, after)[1] == "prometheus.remote_write.d: %s: 1 delivered in 5 s" % URL


def test_remote_write_configured_urls_are_compared_as_alloy_prints_them() -> None:
    assert am.normal_url("HTTPS://User:Pw@Mimir.Example:443/api/v1/push/?a=B#frag") == \
        "https://mimir.example:443/api/v1/push?a=B"
    before, after = rw_reads({"samples_total": 1, TS: 1}, {"samples_total": 2, TS: 2})
    wanted = {am.endpoint_key("prometheus", {"url": "https://MIMIR.example/api/v1/push/"})}
    assert judge_rw(before, after, wanted=wanted)[0]
    stale = rw_reads({"samples_total": 5, "samples_failed_total": 5}, {"samples_total": 5, "samples_failed_total": 5},
                     url="https://old/api/v1/push", name="q0")
    ok, text = judge_rw(before + stale[0], after + stale[1], wanted=wanted)
    assert ok and "old" not in text


def test_remote_write_writer_without_series() -> None:
    assert judge_rw("", "") == (False, "prometheus.remote_write.d: no endpoint loaded")


def test_series_of_other_components_and_modules_are_ignored() -> None:
    mine = rw_reads({"samples_total": 1, TS: 1}, {"samples_total": 2, TS: 2})
    other = rw_reads({"samples_failed_total": 0}, {"samples_failed_total": 9}, url="https://x/api/v1/push")
    other = tuple(t.replace("prometheus.remote_write.d", "prometheus.remote_write.e") for t in other)
    moduled = tuple(t.replace('component_path="/"', 'component_path="/m"') for t in
                    rw_reads({"samples_failed_total": 0}, {"samples_failed_total": 9}, url="https://y/api/v1/push"))
    assert judge_rw(mine[0] + other[0] + moduled[0], mine[1] + other[1] + moduled[1])[0]
    no_path = tuple(t.replace(',component_path="/"', "") for t in mine)
    assert judge_rw(*no_path)[0]  # a series without component_path is the root module's


def test_several_writer_components_are_all_judged() -> None:
    good = loki_reads({"sent_entries_total": 1}, {"sent_entries_total": 2})
    bad = tuple(t.replace("loki.write.w", "loki.write.v") for t in
                loki_reads({"dropped_entries_total": 0}, {"dropped_entries_total": 1}))
    ok, text = am.delivery("loki", am.parse(good[0] + bad[0]), am.parse(good[1] + bad[1]),
                           ["loki.write.w", "loki.write.v"], 5, 300)
    assert not ok and text == "loki.write.w: h:3100: 1 sent in 5 s; loki.write.v: h:3100: 0 sent, 1 dropped in 5 s"


@pytest.mark.parametrize("kind,component", [("loki", "loki.write"), ("prometheus", "prometheus.remote_write")])
def test_writers_by_kind(kind: str, component: str) -> None:
    assert am.WRITERS[kind] == component


# --- one of anything counts: each verdict at its boundary -------------------------------------

F = am.Figure


def loki_verdict(sent: F = F(), dropped: F = F(), retries: F = F()) -> Tuple[bool, str]:
    verdict = am.judge_loki("e", sent, dropped, retries, {}, 5)
    return verdict.ok, verdict.text


@pytest.mark.parametrize("figures,expected", [
    ({"retries": F(1, 1)}, (False, "e: 0 sent, 1 retried in 5 s")),
    ({"sent": F(0, 1)}, (True, "e: idle in 5 s, 1 sent since start")),
    ({"dropped": F(0, 1)}, (False, "e: idle in 5 s; since start 0 sent, 1 dropped, 0 retried")),
    ({"retries": F(0, 1)}, (False, "e: idle in 5 s; since start 0 sent, 0 dropped, 1 retried")),
    ({"sent": F(0, 4), "dropped": F(0, 1)}, (False, "e: idle in 5 s; since start 4 sent, 1 dropped, 0 retried")),
    ({}, (False, "e: nothing sent yet")),
])
def test_loki_verdicts_at_one(figures: Dict[str, F], expected: Tuple[bool, str]) -> None:
    assert loki_verdict(**figures) == expected


def rw_verdict(total: F = F(), failed: F = F(), retried: F = F(), sent_ts: F = F(), pending: F = F(),
               lag: Optional[float] = None) -> Tuple[bool, str]:
    verdict = am.judge_remote_write("u", total, failed, retried, sent_ts, pending, lag, 5, 300)
    return verdict.ok, verdict.text


@pytest.mark.parametrize("figures,expected", [
    ({"failed": F(1, 1), "sent_ts": F(1, 1)}, (False, "u: 1 failed (refused by the backend with a 4xx, not retried) "
                                                      "in 5 s")),
    ({"retried": F(1, 1), "total": F(1, 1)}, (False, "u: 0 delivered, 1 retried (no answer, 5xx or 429) in 5 s")),
    ({"total": F(1, 1)}, (False, "u: 0 delivered in 5 s, a send is waiting for its answer")),
    ({"pending": F(0, 1)}, (False, "u: 0 delivered in 5 s, 1 pending")),
    ({"pending": F(1, 1)}, (False, "u: 0 delivered in 5 s, 1 pending and growing")),
    ({"failed": F(0, 1)}, (False, "u: idle in 5 s; 1 failed since start")),
    ({"sent_ts": F(0, 1), "lag": 300.0}, (True, "u: idle in 5 s, delivered before")),
    ({"sent_ts": F(1, 9), "total": F(4, 9)}, (True, "u: 4 delivered in 5 s")),
    # the timestamp moved for samples counted before the window: a delivery, none counted now
    ({"sent_ts": F(1, 9), "total": F(0, 9)}, (True, "u: 0 delivered in 5 s")),
    ({}, (False, "u: nothing sent yet")),
])
def test_remote_write_verdicts_at_one(figures: Dict[str, object], expected: Tuple[bool, str]) -> None:
    assert rw_verdict(**figures) == expected  # type: ignore[arg-type]


def test_a_series_that_appears_in_the_window_counts_from_zero() -> None:
    after = sample("loki_write_sent_entries_total", 5, host="h:3100", tenant="")
    assert judge_loki("", after) == (True, "loki.write.w: h:3100: 5 sent in 5 s")


def test_the_endpoints_of_one_component_are_listed_apart() -> None:
    one = loki_reads({"sent_entries_total": 1}, {"sent_entries_total": 2}, host="a:3100")
    two = loki_reads({"sent_entries_total": 1}, {"sent_entries_total": 4}, host="b:3100")
    ok, text = am.delivery("loki", am.parse(one[0] + two[0]), am.parse(one[1] + two[1]), ["loki.write.w"], 5, 300)
    assert ok and text == "loki.write.w: a:3100: 1 sent in 5 s; b:3100: 3 sent in 5 s"
