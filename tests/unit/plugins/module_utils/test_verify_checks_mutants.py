"""alloy_verify's checks one by one (module_utils/verify_checks.py), with the HTTP client
replaced by a recorder: what each check asks, with which headers and TLS options, and how
it judges every answer. Written against the survivors of ./dev mutate (docs/testing.md):
each test names the behaviour it protects."""
from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import verify_checks as vc
from ansible_collections.fleet.alloy.plugins.module_utils.backends import Backend
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import Response


class Recorder:
    """Stands in for http_probe.request: answers by URL prefix, records every call."""

    def __init__(self, answers: Dict[str, Response]) -> None:
        self.answers = answers
        self.calls: List[Tuple[str, Dict[str, Any]]] = []

    def __call__(self, url: str, **kwargs: Any) -> Response:
        self.calls.append((url, kwargs))
        for prefix, answer in self.answers.items():
            if url.startswith(prefix):
                return answer
        return Response(None, error="%s: connection refused" % url)


@pytest.fixture()
def http(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Dict[str, Response]], Recorder]]:
    def install(answers: Dict[str, Response]) -> Recorder:
        recorder = Recorder(answers)
        monkeypatch.setattr(vc, "request", recorder)
        return recorder
    yield install


def systemctl(props: Dict[str, str], rc: int = 0, err: str = "") -> Callable[[List[str]], Tuple[int, str, str]]:
    def runner(argv: List[str]) -> Tuple[int, str, str]:
        runner.argv = argv  # type: ignore[attr-defined]
        return rc, "".join("%s=%s\n" % kv for kv in props.items()), err
    return runner


ACTIVE = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "MainPID": "42",
          "UnitFileState": "enabled", "ActiveEnterTimestamp": "Sat 2026-11-21 10:00:00 UTC"}


# --- the service ---------------------------------------------------------------------------

def test_systemd_check_asks_systemctl_for_the_unit_properties() -> None:
    runner = systemctl(ACTIVE)
    check = vc.systemd_check(runner, "alloy.service", False)()
    assert runner.argv == ["systemctl", "show", "alloy.service", "--property",  # type: ignore[attr-defined]
                           "LoadState,ActiveState,SubState,MainPID,UnitFileState,ActiveEnterTimestamp"]
    assert (check.name, check.ok) == ("service", True)
    assert check.detail == "alloy.service active (running), MainPID 42, since Sat 2026-11-21 10:00:00 UTC"


def test_systemd_check_reports_a_failing_systemctl_with_its_message() -> None:
    check = vc.systemd_check(systemctl({}, rc=1, err=" Failed to connect to bus \n"), "alloy.service", False)()
    assert not check.ok and check.detail == "systemctl show alloy.service failed: Failed to connect to bus"
    only_out = vc.systemd_check(lambda argv: (4, "no such unit\n", ""), "alloy.service", False)()
    assert not only_out.ok and only_out.detail == "systemctl show alloy.service failed: no such unit"


def test_systemd_check_needs_a_loaded_unit() -> None:
    check = vc.systemd_check(systemctl(dict(ACTIVE, LoadState="not-found")), "alloy.service", False)()
    assert not check.ok and check.detail == "alloy.service is not-found"
    unknown = vc.systemd_check(systemctl({"ActiveState": "active"}), "alloy.service", False)()
    assert not unknown.ok and unknown.detail == "alloy.service is unknown"


def test_systemd_check_needs_an_active_unit_and_reads_values_with_equal_signs() -> None:
    props = dict(ACTIVE, ActiveState="activating", SubState="auto-restart", ActiveEnterTimestamp="")
    runner = lambda argv: (0, "junk line\n" + "".join("%s=%s\n" % kv for kv in props.items())  # noqa: E731
                           + "Environment=A=B\n", "")
    check = vc.systemd_check(runner, "alloy.service", False)()
    assert not check.ok and check.detail == "alloy.service activating (auto-restart), MainPID 42, since -"


def test_systemd_check_enabled_only_when_required() -> None:
    disabled = dict(ACTIVE, UnitFileState="disabled")
    assert vc.systemd_check(systemctl(disabled), "alloy.service", False)().ok
    check = vc.systemd_check(systemctl(disabled), "alloy.service", True)()
    assert not check.ok and check.detail.endswith("; not enabled (disabled)")
    assert vc.systemd_check(systemctl(ACTIVE), "alloy.service", True)().ok


def docker(state: Optional[Dict[str, Any]], rc: int = 0, err: str = "") -> Callable[[List[str]], Tuple[int, str, str]]:
    def runner(argv: List[str]) -> Tuple[int, str, str]:
        runner.argv = argv  # type: ignore[attr-defined]
        return rc, json.dumps(state) if state is not None else "", err
    return runner


RUNNING = {"Running": True, "Status": "running", "StartedAt": "2026-11-21T10:00:00Z"}


def test_container_check_running_without_a_healthcheck_is_healthy() -> None:
    runner = docker(RUNNING)
    check = vc.container_check(runner, "alloy")()
    assert runner.argv == ["docker", "inspect", "--format", "{{json .State}}", "alloy"]  # type: ignore[attr-defined]
    assert (check.name, check.ok, check.detail) == ("container", True,
                                                    "container alloy running, since 2026-11-21T10:00:00Z")


def test_container_check_a_stopped_container_is_unhealthy_even_without_a_healthcheck() -> None:
    check = vc.container_check(docker({"Running": False, "Status": "exited", "StartedAt": "x"}), "alloy")()
    assert not check.ok and check.detail == "container alloy exited, since x"


@pytest.mark.parametrize("health,ok", [("healthy", True), ("starting", False), ("unhealthy", False)])
def test_container_check_follows_the_healthcheck(health: str, ok: bool) -> None:
    check = vc.container_check(docker(dict(RUNNING, Health={"Status": health})), "alloy")()
    assert check.ok is ok and check.detail == "container alloy running (%s), since 2026-11-21T10:00:00Z" % health


def test_container_check_names_a_missing_container() -> None:
    check = vc.container_check(docker(None, rc=1, err="Error: No such object: alloy\n"), "alloy")()
    assert not check.ok and check.detail == "container alloy: Error: No such object: alloy"
    silent = vc.container_check(docker(None, rc=1), "alloy")()
    assert not silent.ok and silent.detail == "container alloy: not found"


# --- Alloy's own endpoints -------------------------------------------------------------------

def test_alloy_endpoint_check_is_ok_on_200_only(http: Callable[..., Recorder]) -> None:
    recorder = http({"http://a/-/ready": Response(200, "Alloy is ready.")})
    check = vc.alloy_endpoint_check("alloy ready", "http://a/-/ready", 3.0)()
    assert (check.name, check.ok, check.detail) == ("alloy ready", True, "HTTP 200: Alloy is ready.")
    assert recorder.calls == [("http://a/-/ready", {"timeout": 3.0, "tls": None})]
    http({"http://a/-/ready": Response(204, "")})
    assert not vc.alloy_endpoint_check("alloy ready", "http://a/-/ready", 3.0)().ok


def components(*states: Tuple[str, str]) -> Response:
    return Response(200, json.dumps([{"localID": cid, "health": {"state": state}} for cid, state in states]))


@pytest.mark.parametrize("state", ["exited", "unknown", "unhealthy"])
def test_components_check_only_healthy_counts(http: Callable[..., Recorder], state: str) -> None:
    http({"http://a/c": components(("loki.write.x", "healthy"), ("loki.source.journal.y", state))})
    check = vc.components_check("http://a/c", [], 2.0)()
    assert not check.ok and check.detail == "loki.source.journal.y is %s" % state


def test_components_check_counts_what_it_judged(http: Callable[..., Recorder]) -> None:
    http({"http://a/c": components(("a", "healthy"), ("b", "healthy"), ("c", "exited"))})
    check = vc.components_check("http://a/c", [], 2.0)()
    assert check.name == "components" and not check.ok
    assert vc.components_check("http://a/c", ["a", "b"], 2.0)().detail == "2 components healthy"
    http({"http://a/c": components(("a", "healthy"), ("b", "healthy"), ("c", "healthy"))})
    assert vc.components_check("http://a/c", [], 2.0)().detail == "3 components healthy"


def test_components_check_lists_every_missing_and_bad_component(http: Callable[..., Recorder]) -> None:
    http({"http://a/c": components(("a", "unhealthy"), ("b", "healthy"))})
    check = vc.components_check("http://a/c", ["x", "a", "y", "b"], 2.0)()
    assert not check.ok and check.detail == "missing: x, y; a is unhealthy"


def test_components_check_answers_that_are_not_a_component_list(http: Callable[..., Recorder]) -> None:
    http({"http://a/c": Response(503, "starting")})
    check = vc.components_check("http://a/c", [], 2.0)()
    assert not check.ok and check.detail == "HTTP 503: starting"
    for body in ("not json", '[{"localID": "a"}]', "[1]"):
        http({"http://a/c": Response(200, body)})
        check = vc.components_check("http://a/c", [], 2.0)()
        assert not check.ok and check.detail.startswith("invalid JSON from http://a/c: ")


# --- delivery ------------------------------------------------------------------------------

WRITERS = json.dumps([
    {"name": "loki.write", "localID": "loki.write.b", "moduleID": ""},
    {"name": "loki.write", "localID": "loki.write.a"},
    {"name": "loki.write", "localID": "loki.write.m", "moduleID": "remotecfg/x"},
    {"name": "prometheus.remote_write", "localID": "prometheus.remote_write.default", "moduleID": ""},
])
SENT = ('loki_write_sent_entries_total{component_id="%s",component_path="/",host="h:3100",tenant=""} %d\n')


def test_delivery_check_reads_the_root_writers_metrics_twice_a_window_apart(http: Callable[..., Recorder]) -> None:
    reads = iter([SENT % ("loki.write.a", 1) + SENT % ("loki.write.b", 1),
                  SENT % ("loki.write.a", 4) + SENT % ("loki.write.b", 9)])
    recorder = http({"http://a/api/v0/web/components": Response(200, WRITERS)})
    recorder.answers["http://a/metrics"] = Response(200, next(reads))
    slept: List[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        recorder.answers["http://a/metrics"] = Response(200, next(reads))
    # poll == window: the two reads of the longest window, as before the window could end early
    check = vc.delivery_check("http://a", "loki", None, 7, 300, 2.0, sleep=sleep, poll=7)()
    assert check.name == "delivery loki" and check.ok, check.detail
    assert slept == [7]
    assert check.detail == "loki.write.a: h:3100: 3 sent in 7 s; loki.write.b: h:3100: 8 sent in 7 s"
    assert [url for url, _ in recorder.calls] == ["http://a/api/v0/web/components", "http://a/metrics",
                                                 "http://a/metrics"]
    assert recorder.calls[1][1] == {"timeout": 2.0, "max_body": None, "tls": None}  # /metrics is read whole


def test_delivery_check_without_a_writer_fails_only_when_endpoints_are_configured(
        http: Callable[..., Recorder]) -> None:
    http({"http://a/api/v0/web/components": Response(200, json.dumps([{"name": "loki.write", "localID": "x",
                                                                          "moduleID": "m"}]))})
    unconfigured = vc.delivery_check("http://a", "prometheus", None, 0, 300, 1.0, sleep=lambda s: None)()
    assert unconfigured.ok and unconfigured.detail == "no prometheus.remote_write component is loaded"
    configured = vc.delivery_check("http://a", "loki", [{"url": "http://l/loki/api/v1/push"}], 0, 300, 1.0,
                                   sleep=lambda s: None)()
    assert not configured.ok and configured.detail == "no loki.write component is loaded"


def test_delivery_check_reports_an_unreadable_component_list_or_metrics(http: Callable[..., Recorder]) -> None:
    http({"http://a/api/v0/web/components": Response(500, "boom")})
    check = vc.delivery_check("http://a", "loki", None, 0, 300, 1.0, sleep=lambda s: None)()
    assert not check.ok and check.detail == "HTTP 500: boom"
    http({"http://a/api/v0/web/components": Response(200, "{oops")})
    check = vc.delivery_check("http://a", "loki", None, 0, 300, 1.0, sleep=lambda s: None)()
    assert not check.ok and check.detail.startswith("invalid JSON from http://a/api/v0/web/components: ")
    http({"http://a/api/v0/web/components": Response(200, WRITERS), "http://a/metrics": Response(503, "busy")})
    check = vc.delivery_check("http://a", "loki", None, 0, 300, 1.0, sleep=lambda s: None)()
    assert not check.ok and check.detail == "ValueError: http://a/metrics: HTTP 503: busy"


LOKI_A = ('loki_write_sent_entries_total{component_id="loki.write.a",component_path="/",host="h:3100",tenant=""} %d\n'
          'loki_write_dropped_entries_total{component_id="loki.write.a",component_path="/",host="h:3100",tenant=""}'
          ' %d\n'
          'loki_write_batch_retries_total{component_id="loki.write.a",component_path="/",host="h:3100",tenant=""} %d\n')
RW_D = ('prometheus_remote_storage_samples_total{component_id="prometheus.remote_write.default",component_path="/",'
        'remote_name="q",url="http://p/api/v1/write"} %d\n'
        'prometheus_remote_storage_queue_highest_sent_timestamp_seconds{component_id="prometheus.remote_write.default",'
        'component_path="/",remote_name="q",url="http://p/api/v1/write"} %d\n'
        'prometheus_remote_storage_highest_timestamp_in_seconds{component_id="prometheus.remote_write.default",'
        'component_path="/"} %d\n')
ONLY_A = json.dumps([{"name": "loki.write", "localID": "loki.write.a", "moduleID": ""}])


class MetricsAnswers:
    """The /metrics answers of a delivery check: reads[0], reads[1], ... (the last one again
    after the end), on a clock that only sleep (and, with read_time, each read) moves."""

    status = 200

    def __init__(self, http: Callable[..., Recorder], reads: List[str], read_time: float = 0.0,
                 writers: str = ONLY_A) -> None:
        self.reads, self.read_time, self.now = reads, read_time, 100.0
        self.slept: List[float] = []
        self.during: List[Callable[[], None]] = []   # run at the first read (in the window)
        self.recorder = http({"http://a/api/v0/web/components": Response(200, writers)})
        self.recorder.answers["http://a/metrics"] = self  # type: ignore[assignment]  # a Response each read

    @property
    def metrics_reads(self) -> int:
        return [url for url, _ in self.recorder.calls].count("http://a/metrics")

    @property
    def body(self) -> str:
        self.now += self.read_time
        while self.metrics_reads == 1 and self.during:
            self.during.pop()()
        return self.reads[min(self.metrics_reads, len(self.reads)) - 1]

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def check(self, kind: str, window: float, endpoints: Any = None, evidence: Optional[vc.Evidence] = None,
              poll: float = 0.5) -> vc.Check:
        """The check with reads poll seconds apart (0.5 in the cases below, which count sleeps)."""
        return vc.delivery_check("http://a", kind, endpoints, window, 300, 2.0, sleep=self.sleep, poll=poll,
                                 clock=lambda: self.now, evidence=evidence)()


def test_delivery_check_ends_the_window_at_the_first_read_that_delivered(http: Callable[..., Recorder]) -> None:
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0), LOKI_A % (12, 0, 0), LOKI_A % (14, 0, 0)])
    check = polled.check("loki", 5)
    assert check.ok and check.detail == "loki.write.a: h:3100: 2 sent in 1 s"
    assert polled.slept == [0.5, 0.5] and polled.metrics_reads == 3


def test_an_idle_endpoint_is_judged_on_the_full_window(http: Callable[..., Recorder]) -> None:
    # Idle, delivered since start: a pass, but not one that ends the window early - a backend
    # that has just gone down looks the same until Alloy's first retry.
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0)])
    check = polled.check("loki", 2)
    assert check.ok and check.detail == "loki.write.a: h:3100: idle in 2 s, 12 sent since start"
    assert sum(polled.slept) == 2 and polled.metrics_reads == 5


def confirmed(kind: str, *endpoints: Dict[str, Any]) -> vc.Evidence:
    evidence = vc.Evidence()
    for endpoint in endpoints:
        evidence.confirm(kind, endpoint)
    return evidence


def answered(polled: "MetricsAnswers", kind: str, endpoint: Dict[str, Any]) -> vc.Evidence:
    """Evidence whose backend answers (a data check passing) once the window has begun."""
    evidence = vc.Evidence()
    polled.during.append(lambda: evidence.confirm(kind, endpoint))
    return evidence


def test_an_idle_endpoint_whose_backend_has_the_hosts_data_ends_the_window(http: Callable[..., Recorder]) -> None:
    # The backend answered the data check with this host's recent data: it is not down, so the
    # idle pass needs no more waiting for a retry that would show it down.
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0)])
    check = polled.check("loki", 5, evidence=answered(polled, "loki", {"url": "https://H:3100/loki/api/v1/push"}))
    assert check.ok and check.detail == ("loki.write.a: h:3100: idle in 0.5 s, 12 sent since start (its backend, "
                                         "asked in this window, has this host's recent data)")
    assert polled.slept == [0.5] and polled.metrics_reads == 2


def test_by_default_the_window_is_read_every_quarter_second(http: Callable[..., Recorder]) -> None:
    """alloy_verify leaves the poll to its default: a confirmed idle endpoint ends the window at the read
    a quarter second after the first, not half a second; an unconfirmed one is read every quarter second
    to the window's end."""
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0)])
    evidence = answered(polled, "loki", {"url": "https://H:3100/loki/api/v1/push"})
    check = vc.delivery_check("http://a", "loki", None, 5, 300, 2.0, sleep=polled.sleep, clock=lambda: polled.now,
                              evidence=evidence)()
    assert check.ok and "idle in 0.2 s" in check.detail, check.detail   # 0.25 s, to the tenth
    assert polled.slept == [0.25] and polled.metrics_reads == 2
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0)])
    check = vc.delivery_check("http://a", "loki", None, 1, 300, 2.0, sleep=polled.sleep, clock=lambda: polled.now)()
    assert check.ok and polled.slept == [0.25] * 4 and polled.metrics_reads == 5   # idle, unconfirmed: all of it


def test_a_backend_confirms_only_its_own_endpoint_and_only_a_clean_one(http: Callable[..., Recorder]) -> None:
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0)])
    other_tenant = answered(polled, "loki", {"url": "https://h:3100/loki/api/v1/push", "tenant_id": "t"})
    assert polled.check("loki", 2, evidence=other_tenant).ok and sum(polled.slept) == 2
    # A backend that has the host's data does not excuse drops since start: judged on the full window.
    dropped = MetricsAnswers(http, [LOKI_A % (12, 3, 0)])
    check = dropped.check("loki", 2, evidence=answered(dropped, "loki", {"url": "http://h:3100/x"}))
    assert not check.ok and sum(dropped.slept) == 2
    # Confirmed for Loki is not confirmed for Prometheus at the same address.
    nothing = RW_D % (10, 60, 60)
    rw = MetricsAnswers(http, [nothing], writers=WRITERS)
    check = rw.check("prometheus", 2, [{"url": "http://p/api/v1/write"}],
                     evidence=answered(rw, "loki", {"url": "http://p/api/v1/write"}))
    assert check.ok and sum(rw.slept) == 2 and "asked in this window" not in check.detail
    rw = MetricsAnswers(http, [nothing], writers=WRITERS)
    check = rw.check("prometheus", 2, [{"url": "http://p/api/v1/write"}],
                     evidence=answered(rw, "prometheus", {"url": "HTTP://P/api/v1/write/"}))
    assert check.ok and rw.slept == [0.5] and check.detail.endswith("delivered before (its backend, asked in this window, "
                                                                    "has this host's recent data)")


def test_delivery_check_prints_the_window_the_reads_took(http: Callable[..., Recorder]) -> None:
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0), LOKI_A % (15, 0, 0)], read_time=0.2)
    check = polled.check("loki", 5)
    assert check.ok and check.detail == "loki.write.a: h:3100: 3 sent in 0.7 s"  # 0.5 slept + a read
    assert polled.slept == [0.5]


def test_delivery_check_judges_an_endpoint_that_starts_late_on_the_window_up_to_that_read(
        http: Callable[..., Recorder]) -> None:
    nothing, started = RW_D % (0, 0, 50), RW_D % (10, 60, 60)
    polled = MetricsAnswers(http, [nothing, nothing, started, RW_D % (20, 70, 70)], writers=WRITERS)
    check = polled.check("prometheus", 5, [{"url": "http://p/api/v1/write"}])
    assert check.ok and check.detail == "prometheus.remote_write.default: http://p/api/v1/write: 10 delivered in 1 s"
    assert polled.slept == [0.5, 0.5] and polled.metrics_reads == 3


def test_delivery_check_judges_a_failing_endpoint_on_the_full_window(http: Callable[..., Recorder]) -> None:
    polled = MetricsAnswers(http, [LOKI_A % (5, 0, 0), LOKI_A % (5, 3, 0), LOKI_A % (5, 6, 0)])
    check = polled.check("loki", 2)
    assert not check.ok and check.detail == "loki.write.a: h:3100: 0 sent, 6 dropped in 2 s"
    assert polled.slept == [0.5] * 4 and sum(polled.slept) == 2 and polled.metrics_reads == 5
    # a window that is not a whole number of polls ends with the rest of it
    polled = MetricsAnswers(http, [LOKI_A % (5, 0, 0), LOKI_A % (5, 3, 0)])
    check = polled.check("loki", 1.2)
    assert not check.ok and check.detail.endswith("in 1.2 s")
    assert polled.slept[:2] == [0.5, 0.5] and len(polled.slept) == 3 and sum(polled.slept) == pytest.approx(1.2)


def test_delivery_check_ends_on_time_when_reads_are_slow_or_the_clock_stands_still(
        http: Callable[..., Recorder]) -> None:
    failing = [LOKI_A % (5, 0, 0), LOKI_A % (5, 3, 0)]
    polled = MetricsAnswers(http, failing, read_time=0.9)  # the reads use up the window: no read after it
    check = polled.check("loki", 2)
    assert not check.ok and check.detail.endswith("in 2.8 s") and polled.slept == [0.5, 0.5]
    polled = MetricsAnswers(http, failing)

    def sleep_only(seconds: float) -> None:  # the clock stands still; fail rather than loop forever
        assert len(polled.slept) < 10, "the window never ends"
        polled.slept.append(seconds)
    check = vc.delivery_check("http://a", "loki", None, 2, 300, 2.0, sleep=sleep_only, poll=0.5, clock=lambda: 0.0)()
    assert not check.ok and check.detail.endswith("in 2 s") and polled.slept == [0.5] * 4


def test_delivery_check_passes_on_traffic_after_a_failure_seen_early(http: Callable[..., Recorder]) -> None:
    """The choice: each read is judged against the first, never against the one before it,
    so nothing seen in the window is forgotten. A retry (429, 5xx, no answer) seen early and
    followed by delivery passes, as judge_loki passes a window that sent without a drop; a
    drop seen early still fails, however much is sent after it."""
    polled = MetricsAnswers(http, [LOKI_A % (5, 0, 0), LOKI_A % (5, 0, 1), LOKI_A % (9, 0, 1)])
    check = polled.check("loki", 5)
    assert check.ok and check.detail == "loki.write.a: h:3100: 4 sent in 1 s"
    assert polled.slept == [0.5, 0.5]
    polled = MetricsAnswers(http, [LOKI_A % (5, 0, 0), LOKI_A % (5, 1, 0), LOKI_A % (9, 1, 0)])
    check = polled.check("loki", 5)
    assert not check.ok and check.detail == "loki.write.a: h:3100: 4 sent, 1 dropped in 5 s"
    assert sum(polled.slept) == 5


# --- backends --------------------------------------------------------------------------------

def test_backend_ready_check_sends_the_endpoint_auth_and_tls(http: Callable[..., Recorder]) -> None:
    backend = Backend("loki", {"url": "https://gw:3100/loki/api/v1/push", "tenant_id": "ops",
                               "bearer_token": "t0k", "tls": {"ca_pem": "PEM"}})
    recorder = http({"https://gw:3100/ready": Response(200, "ready")})
    check = vc.backend_ready_check(backend, 4.0)()
    assert (check.name, check.ok, check.detail) == ("loki https://gw:3100 tenant ops", True,
                                                    "https://gw:3100/ready: HTTP 200: ready")
    url, kwargs = recorder.calls[0]
    assert url == "https://gw:3100/ready" and kwargs["timeout"] == 4.0 and kwargs["tls"] is backend.tls
    assert kwargs["headers"] == {"X-Scope-OrgID": "ops", "Authorization": "Bearer t0k"}


def test_backend_ready_check_names_a_transport_error_once(http: Callable[..., Recorder]) -> None:
    http({})
    check = vc.backend_ready_check(Backend("loki", {"url": "http://l:3100/loki/api/v1/push"}), 1.0)()
    assert not check.ok and check.detail == "http://l:3100/ready: connection refused"
    http({"http://l:3100/ready": Response(401, "no")})
    check = vc.backend_ready_check(Backend("loki", {"url": "http://l:3100/loki/api/v1/push"}), 1.0)()
    assert not check.ok and check.detail == "http://l:3100/ready: HTTP 401: no"  # no query hint on readiness


def query(*stamps: float) -> Response:
    return Response(200, json.dumps({"data": {"result": [{"value": [s, "1"]} for s in stamps]}}))


PROM = {"url": "http://p:9090/api/v1/write", "basic_auth": {"username": "u", "password": "p"}}


def test_prometheus_data_check_judges_the_newest_sample(http: Callable[..., Recorder]) -> None:
    recorder = http({"http://p:9090/api/v1/query": query(1000.0, 1290.0, 500.0)})
    check = vc.prometheus_data_check(Backend("prometheus", PROM), 'up{instance="h"}', 300, 2.0, now=lambda: 1300.0)()
    assert (check.name, check.ok, check.detail) == ("data prometheus http://p:9090", True,
                                                    '3 series for up{instance="h"}')
    url, kwargs = recorder.calls[0]
    assert url == "http://p:9090/api/v1/query?query=up%7Binstance%3D%22h%22%7D"
    assert kwargs["headers"] == {"Authorization": "Basic dTpw"} and kwargs["timeout"] == 2.0


def test_prometheus_data_check_a_sample_exactly_max_age_old_is_recent(http: Callable[..., Recorder]) -> None:
    http({"http://p:9090/api/v1/query": query(1000.0)})
    backend = Backend("prometheus", PROM)
    assert vc.prometheus_data_check(backend, "up", 300, 2.0, now=lambda: 1300.0)().ok
    check = vc.prometheus_data_check(backend, "up", 300, 2.0, now=lambda: 1300.5)()
    assert not check.ok and check.detail == "newest sample for up is 300s old (max 300s)"


def data_check(make: Callable[[], Callable[[], vc.Check]]) -> Tuple[bool, str]:
    check = make()()
    return check.ok, check.detail


def test_prometheus_data_check_answers_without_data(http: Callable[..., Recorder]) -> None:
    backend = Backend("prometheus", PROM)

    def run() -> Tuple[bool, str]:
        return data_check(lambda: vc.prometheus_data_check(backend, "up", 300, 2.0))
    http({"http://p:9090/api/v1/query": query()})
    assert run() == (False, "no series for up")
    http({"http://p:9090/api/v1/query": Response(200, '{"data": {}}')})
    ok, detail = run()
    assert not ok and detail.startswith("invalid answer from http://p:9090/api/v1/query: ")
    http({"http://p:9090/api/v1/query": Response(403, "denied")})
    assert run() == (False, "http://p:9090/api/v1/query: HTTP 403: denied" + vc._NO_QUERY_HINT)
    http({"http://p:9090/api/v1/query": Response(500, "oops")})
    assert run() == (False, "http://p:9090/api/v1/query: HTTP 500: oops")


def test_a_data_check_that_passes_is_evidence_for_its_endpoint_only(http: Callable[..., Recorder]) -> None:
    evidence = vc.Evidence()
    backend = Backend("prometheus", PROM)
    http({"http://p:9090/api/v1/query": query()})
    assert not vc.prometheus_data_check(backend, "up", 300, 2.0, now=lambda: 1300.0, evidence=evidence)().ok
    assert evidence.confirmed("prometheus") == frozenset()
    http({"http://p:9090/api/v1/query": query(1290.0)})
    assert vc.prometheus_data_check(backend, "up", 300, 2.0, now=lambda: 1300.0, evidence=evidence)().ok
    assert evidence.confirmed("prometheus") == {"http://p:9090/api/v1/write"}
    assert evidence.confirmed("loki") == frozenset()
    loki = Backend("loki", {"url": "http://l:3100/loki/api/v1/push", "tenant_id": "t"})
    http({"http://l:3100/loki/api/v1/query_range": Response(200, '{"data": {"result": [{"values": [["1", "a"]]}]}}')})
    assert vc.loki_data_check(loki, "q", 60, 2.0, now=lambda: 1000.0, evidence=evidence)().ok
    assert evidence.confirmed("loki") == {("l:3100", "t")}


def test_loki_data_check_asks_for_the_last_lines_since_max_age(http: Callable[..., Recorder]) -> None:
    body = {"data": {"result": [{"values": [["1", "a"], ["2", "b"]]}, {"values": [["3", "c"]]}, {}]}}
    recorder = http({"http://l:3100/loki/api/v1/query_range": Response(200, json.dumps(body))})
    backend = Backend("loki", {"url": "http://l:3100/loki/api/v1/push", "tenant_id": "t"})
    check = vc.loki_data_check(backend, '{instance="h"}', 60, 2.0, now=lambda: 1000.0)()
    assert (check.name, check.ok, check.detail) == ("data loki http://l:3100 tenant t", True,
                                                    '3 lines for {instance="h"}')
    url, kwargs = recorder.calls[0]
    assert url == ("http://l:3100/loki/api/v1/query_range?query=%7Binstance%3D%22h%22%7D&start=940000000000"
                   "&limit=10&direction=backward")
    assert kwargs["headers"] == {"X-Scope-OrgID": "t"} and kwargs["timeout"] == 2.0


def test_loki_data_check_without_lines_or_with_a_refusal(http: Callable[..., Recorder]) -> None:
    backend = Backend("loki", {"url": "http://l:3100/loki/api/v1/push"})

    def run(q: str = "q") -> Tuple[bool, str]:
        return data_check(lambda: vc.loki_data_check(backend, q, 60, 2.0))
    http({"http://l:3100/loki/api/v1/query_range": Response(200, '{"data": {"result": [{"values": []}]}}')})
    assert run('{a="b"}') == (False, 'no log line for {a="b"} in the last 60s')
    http({"http://l:3100/loki/api/v1/query_range": Response(200, '{"data": {"result": ["x"]}}')})
    ok, detail = run()
    assert not ok and detail.startswith("invalid answer from http://l:3100/loki/api/v1/query_range: ")
    http({"http://l:3100/loki/api/v1/query_range": Response(401, "no org id")})
    assert run() == (False, "http://l:3100/loki/api/v1/query_range: HTTP 401: no org id" + vc._NO_QUERY_HINT)


# --- running ---------------------------------------------------------------------------------

def test_a_check_that_raises_reports_the_error() -> None:
    def broken() -> Tuple[bool, str]:
        raise KeyError("x")
    check = vc._timed("broken", broken)
    assert (check.name, check.ok, check.detail) == ("broken", False, "KeyError: 'x'")
    assert vc.Check("n", True, "d", 1.23456).as_dict() == {"name": "n", "ok": True, "detail": "d", "elapsed": 1.235}


def test_run_all_keeps_the_order_and_retries_only_the_failed_checks() -> None:
    calls = {"a": 0, "b": 0}

    def check(name: str, passes_at: int) -> Callable[[], vc.Check]:
        def run() -> vc.Check:
            calls[name] += 1
            return vc.Check(name, calls[name] >= passes_at, str(calls[name]))
        return run
    slept: List[float] = []
    results = vc.run_all([check("a", 1), check("b", 3)], wait=True, deadline=100.0, interval=1.5,
                         clock=lambda: 0.0, sleep=slept.append)
    assert [r.name for r in results] == ["a", "b"] and all(r.ok for r in results)
    assert calls == {"a": 1, "b": 3} and slept == [1.5, 1.5]


def test_run_all_without_wait_or_past_the_deadline_runs_once() -> None:
    never = lambda: vc.Check("never", False, "no")  # noqa: E731
    slept: List[float] = []
    assert not vc.run_all([never], wait=False, deadline=100.0, clock=lambda: 0.0, sleep=slept.append)[0].ok
    assert slept == []
    # the next round would start after the deadline: stop now
    vc.run_all([never], wait=True, deadline=10.0, interval=2.0, clock=lambda: 8.5, sleep=slept.append)
    assert slept == []
    clock = iter([7.0, 8.0, 9.0])
    vc.run_all([never], wait=True, deadline=10.0, interval=2.0, clock=lambda: next(clock), sleep=slept.append)
    assert slept == [2.0, 2.0]


def test_run_all_of_nothing() -> None:
    assert vc.run_all([]) == []


def test_summary_names_every_failed_check() -> None:
    ok, bad, worse = vc.Check("a", True, "fine"), vc.Check("b", False, "HTTP 500"), vc.Check("c", False, "down")
    assert vc.summary([ok, ok]) == "healthy: 2 checks passed"
    assert vc.summary([ok, bad, worse]) == "unhealthy: 2 of 3 checks failed: b (HTTP 500); c (down)"


def test_run_all_runs_at_most_sixteen_checks_at_once() -> None:
    import threading
    import time
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def check() -> vc.Check:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.3)
        with lock:
            running["now"] -= 1
        return vc.Check("c", True, "")
    results = vc.run_all([check] * 20)
    assert len(results) == 20 and running["most"] == 16
    running["most"] = 0
    vc.run_all([check] * 3)
    assert running["most"] == 3


def test_an_answer_from_before_the_window_confirms_nothing(http: Callable[..., Recorder]) -> None:
    # With wait, a data check that passed in an earlier round is not run again: its answer is no
    # word on the later window, which then runs to its end.
    evidence = confirmed("loki", {"url": "http://h:3100/loki/api/v1/push"})
    assert evidence.confirmed("loki", since=evidence.mark()) == frozenset()
    polled = MetricsAnswers(http, [LOKI_A % (12, 0, 0)])
    check = polled.check("loki", 2, evidence=evidence)
    assert check.ok and sum(polled.slept) == 2 and "asked in this window" not in check.detail
