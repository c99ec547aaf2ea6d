# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of fleet.alloy.alloy_verify: each returns a Check (name, ok, detail, elapsed).

A check never raises: a transport error, a bad status or invalid JSON is a failed check
whose detail says so in one line. run_all() runs checks concurrently, each bounded by
the HTTP timeout, and retries the failed ones until a deadline when asked to wait.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time
from concurrent.futures import ThreadPoolExecutor

from urllib.parse import urlencode

from ansible_collections.fleet.alloy.plugins.module_utils import alloy_metrics
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import request


class Check(object):
    def __init__(self, name, ok, detail, elapsed=0.0):
        self.name = name
        self.ok = ok
        self.detail = detail
        self.elapsed = elapsed

    def as_dict(self):
        return dict(name=self.name, ok=self.ok, detail=self.detail, elapsed=round(self.elapsed, 3))


def _timed(name, func):
    start = time.time()
    try:
        ok, detail = func()
    except Exception as err:  # a check must report, not crash the module
        ok, detail = False, "%s: %s" % (type(err).__name__, err)
    return Check(name, ok, detail, time.time() - start)


# --- service -----------------------------------------------------------------------

def systemd_check(runner, unit, require_enabled):
    """runner(argv) -> (rc, stdout, stderr); tests replace it."""
    def run():
        rc, out, err = runner(["systemctl", "show", unit, "--property",
                               "LoadState,ActiveState,SubState,MainPID,UnitFileState,ActiveEnterTimestamp"])
        if rc != 0:
            return False, "systemctl show %s failed: %s" % (unit, (err or out).strip())
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        if props.get("LoadState") != "loaded":
            return False, "%s is %s" % (unit, props.get("LoadState", "unknown"))
        detail = "%s %s (%s), MainPID %s, since %s" % (unit, props.get("ActiveState"), props.get("SubState"),
                                                       props.get("MainPID"), props.get("ActiveEnterTimestamp") or "-")
        if props.get("ActiveState") != "active":
            return False, detail
        if require_enabled and props.get("UnitFileState") != "enabled":
            return False, "%s; not enabled (%s)" % (detail, props.get("UnitFileState"))
        return True, detail
    return lambda: _timed("service", run)


def container_check(runner, container):
    def run():
        rc, out, err = runner(["docker", "inspect", "--format", "{{json .State}}", container])
        if rc != 0:
            return False, "container %s: %s" % (container, (err or out).strip() or "not found")
        state = json.loads(out)
        health = (state.get("Health") or {}).get("Status")
        detail = "container %s %s%s, since %s" % (container, state.get("Status"),
                                                  " (%s)" % health if health else "", state.get("StartedAt"))
        return bool(state.get("Running")) and health in (None, "healthy"), detail
    return lambda: _timed("container", run)


# --- Alloy's own endpoints -----------------------------------------------------------

def alloy_endpoint_check(name, url, timeout, tls=None):
    def run():
        answer = request(url, timeout=timeout, tls=tls)
        return answer.status == 200, answer.describe()
    return lambda: _timed(name, run)


def components_check(url, wanted, timeout, tls=None):
    """Every component healthy, or each wanted component ID present and healthy."""
    def run():
        answer = request(url, timeout=timeout, tls=tls)
        if answer.status != 200:
            return False, answer.describe()
        try:
            items = json.loads(answer.body)
            states = dict((c["localID"], c["health"]["state"]) for c in items)
        except (ValueError, KeyError, TypeError) as err:
            return False, "invalid JSON from %s: %s" % (url, err)
        ids = wanted or sorted(states)
        missing = [c for c in ids if c not in states]
        bad = ["%s is %s" % (c, states[c]) for c in ids if c in states and states[c] != "healthy"]
        problems = ["missing: %s" % ", ".join(missing)] if missing else []
        problems += bad
        if problems:
            return False, "; ".join(problems)
        return True, "%d components healthy" % len(ids)
    return lambda: _timed("components", run)


# --- delivery, from Alloy's own metrics -----------------------------------------------

def _writer_ids(base, kind, timeout):
    """IDs of the root module's writer components of one kind, or an error text."""
    answer = request(base + "/api/v0/web/components", timeout=timeout)
    if answer.status != 200:
        return None, answer.describe()
    try:
        items = json.loads(answer.body)
        return sorted(c["localID"] for c in items
                      if c.get("name") == alloy_metrics.WRITERS[kind] and not c.get("moduleID")), ""
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return None, "invalid JSON from %s/api/v0/web/components: %s" % (base, err)


def _metrics(base, timeout):
    answer = request(base + "/metrics", timeout=timeout, max_body=None)
    if answer.status != 200:
        raise ValueError("%s/metrics: %s" % (base, answer.describe()))
    return alloy_metrics.parse(answer.body)


def _watch(read, judge, window, poll, sleep, clock):
    """(ok, detail) of judge(before, latest, elapsed, final) over a window that starts at
    the first read(): read again every poll seconds, and end at the first read whose
    judgement passes (final false: on deliveries seen in the window), or at the read that
    ends window seconds, judged on the full window (final true).
    A failing judgement never ends the window early: a later read may see traffic. The
    window always starts at the first read, so nothing seen in it is forgotten.

    elapsed is the clock's time since the first read, at least the seconds slept: with an
    injected sleep and a clock that does not move, the window still ends."""
    before = read()
    start, slept, elapsed = clock(), 0.0, 0.0
    while True:
        remaining = window - elapsed
        last = poll <= 0 or remaining <= poll
        pause = remaining if last else poll
        if pause > 0:
            sleep(pause)
            slept += pause
        latest = read()
        elapsed = max(clock() - start, slept)
        final = last or elapsed >= window
        ok, detail = judge(before, latest, elapsed, final)
        if ok or final:
            return ok, detail


def delivery_check(base, kind, endpoints, window, max_lag, timeout, sleep=time.sleep, poll=0.5,
                   clock=time.monotonic):
    """Every loki.write (or prometheus.remote_write) component of the running Alloy
    delivers: its metrics read at the start of a window and again every poll seconds,
    judged per endpoint on the window so far; the window ends at the first read where
    every endpoint passes, at most window seconds after the first (see _watch). With
    endpoints (None: judge whatever is loaded), a missing writer or endpoint fails."""
    component = alloy_metrics.WRITERS[kind]
    wanted = None if endpoints is None else set(alloy_metrics.endpoint_key(kind, e) for e in endpoints)

    def run():
        ids, error = _writer_ids(base, kind, timeout)
        if ids is None:
            return False, error
        if not ids:
            return wanted is None, "no %s component is loaded" % component

        def judge(before, after, elapsed, final):
            return alloy_metrics.delivery(kind, before, after, ids, elapsed, max_lag, wanted, moved_only=not final)
        return _watch(lambda: _metrics(base, timeout), judge, window, poll, sleep, clock)
    return lambda: _timed("delivery %s" % kind, run)


# --- backends (module_utils/backends.py: where and how) -----------------------------

_NO_QUERY_HINT = (" (wrong credentials, or a write-only one, which cannot query: then set verify.query: false"
                  " on this endpoint)")


def _with_url(url, answer):
    """'<url>: HTTP 503: ...'; a transport error names its URL already."""
    return answer.describe() if answer.status is None else "%s: %s" % (url, answer.describe())


def _answer_detail(url, answer):
    detail = _with_url(url, answer)
    return detail + _NO_QUERY_HINT if answer.status in (401, 403) else detail


def backend_ready_check(backend, timeout):
    def run():
        answer = request(backend.ready_url, timeout=timeout, headers=backend.headers(), tls=backend.tls)
        return answer.status == 200, _with_url(backend.ready_url, answer)
    return lambda: _timed(backend.label, run)


def prometheus_data_check(backend, query, max_age, timeout, now=time.time):
    url = "%s?%s" % (backend.query_url, urlencode({"query": query}))

    def run():
        answer = request(url, timeout=timeout, headers=backend.headers(), tls=backend.tls)
        if answer.status != 200:
            return False, _answer_detail(backend.query_url, answer)
        try:
            result = json.loads(answer.body)["data"]["result"]
            stamps = [float(series["value"][0]) for series in result]
        except (ValueError, KeyError, TypeError, IndexError) as err:
            return False, "invalid answer from %s: %s" % (backend.query_url, err)
        if not stamps:
            return False, "no series for %s" % query
        age = now() - max(stamps)
        if age > max_age:
            return False, "newest sample for %s is %ds old (max %ds)" % (query, age, max_age)
        return True, "%d series for %s" % (len(stamps), query)
    return lambda: _timed("data " + backend.label, run)


def loki_data_check(backend, query, max_age, timeout, now=time.time):
    def run():
        start_ns = int((now() - max_age) * 1e9)
        url = "%s?%s" % (backend.query_url, urlencode(
            {"query": query, "start": str(start_ns), "limit": "10", "direction": "backward"}))
        answer = request(url, timeout=timeout, headers=backend.headers(), tls=backend.tls)
        if answer.status != 200:
            return False, _answer_detail(backend.query_url, answer)
        try:
            streams = json.loads(answer.body)["data"]["result"]
            lines = sum(len(s.get("values", [])) for s in streams)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            return False, "invalid answer from %s: %s" % (backend.query_url, err)
        if not lines:
            return False, "no log line for %s in the last %ds" % (query, max_age)
        return True, "%d lines for %s" % (lines, query)
    return lambda: _timed("data " + backend.label, run)


# --- running -------------------------------------------------------------------------

def run_all(checks, wait=False, deadline=0.0, interval=2.0, clock=time.time, sleep=time.sleep):
    """Run the checks concurrently; with wait, retry the failed ones until all pass or
    the deadline (clock value) passes. Returns the last Check of each, in order."""
    results = [None] * len(checks)
    pending = list(range(len(checks)))
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(checks)))) as pool:
        while pending:
            futures = dict((index, pool.submit(checks[index])) for index in pending)
            for index, future in futures.items():
                results[index] = future.result()
            pending = [index for index in pending if not results[index].ok]
            if not pending or not wait or clock() + interval > deadline:
                break
            sleep(interval)
    return results


def summary(results):
    failed = [c for c in results if not c.ok]
    if not failed:
        return "healthy: %d checks passed" % len(results)
    return "unhealthy: %d of %d checks failed: %s" % (
        len(failed), len(results), "; ".join("%s (%s)" % (c.name, c.detail) for c in failed))
