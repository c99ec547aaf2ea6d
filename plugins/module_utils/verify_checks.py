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

import calendar
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from urllib.parse import quote, urlencode

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


def _json_answer(url, timeout, tls=None, named=False):
    """(value, "") of a JSON answer of Alloy's API, or (None, why not in one line; named:
    with the URL)."""
    answer = request(url, timeout=timeout, tls=tls)
    if answer.status != 200:
        return None, _with_url(url, answer) if named else answer.describe()
    try:
        return json.loads(answer.body), ""
    except ValueError as err:
        return None, "invalid JSON from %s: %s" % (url, err)


def components_check(url, wanted, timeout, tls=None):
    """Every component healthy, or each wanted component ID present and healthy."""
    def run():
        items, error = _json_answer(url, timeout, tls)
        if error:
            return False, error
        try:
            states = dict((c["localID"], c["health"]["state"]) for c in items)
        except (KeyError, TypeError) as err:
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

def _writer_ids(base, kind, timeout, tls=None):
    """IDs of the root module's writer components of one kind, or an error text."""
    answer = request(base + "/api/v0/web/components", timeout=timeout, tls=tls)
    if answer.status != 200:
        return None, answer.describe()
    try:
        items = json.loads(answer.body)
        return sorted(c["localID"] for c in items
                      if c.get("name") == alloy_metrics.WRITERS[kind] and not c.get("moduleID")), ""
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return None, "invalid JSON from %s/api/v0/web/components: %s" % (base, err)


def _metrics(base, timeout, prefixes=None, tls=None):
    answer = request(base + "/metrics", timeout=timeout, max_body=None, tls=tls)
    if answer.status != 200:
        raise ValueError("%s/metrics: %s" % (base, answer.describe()))
    return alloy_metrics.parse(answer.body, prefixes) if prefixes else alloy_metrics.parse(answer.body)


# Seconds between two reads of Alloy's /metrics in a window (delivery, Fleet Management). A window ends
# at the first read that passes, so a healthy host's ends this long after its endpoints delivered (or,
# idle, were confirmed by their backend); a window that keeps failing is read to its end, up to 4 times
# a second for each check (each read fetched and parsed on the host: Alloy's own metrics, not its
# components').
WINDOW_POLL = 0.25


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


class Evidence(object):
    """What the backends said during one verify run, for the delivery checks running beside
    the data checks: the endpoints (alloy_metrics.endpoint_key, by kind) whose backend answered
    a query with this host's recent data, each answer numbered in the order it came. A delivery
    check takes mark() as it starts and reads only the answers that came after it: a data check
    that passed in an earlier round (with wait, a passing check is not run again) confirms no
    later window. Written and read by the checks' threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._answers = []   # (kind, endpoint key), in the order they came

    def mark(self):
        with self._lock:
            return len(self._answers)

    def confirm(self, kind, endpoint):
        with self._lock:
            self._answers.append((kind, alloy_metrics.endpoint_key(kind, endpoint)))

    def confirmed(self, kind, since=0):
        with self._lock:
            return frozenset(key for found, key in self._answers[since:] if found == kind)


def delivery_check(base, kind, endpoints, window, max_lag, timeout, sleep=time.sleep, poll=WINDOW_POLL,
                   clock=time.monotonic, tls=None, evidence=None):
    """Every loki.write (or prometheus.remote_write) component of the running Alloy
    delivers: its metrics read at the start of a window and again every poll seconds,
    judged per endpoint on the window so far; the window ends at the first read where
    every endpoint has delivered in it or, idle, is confirmed by its backend (evidence, see
    alloy_metrics.delivery), at most window seconds after the first (see _watch). With
    endpoints (None: judge whatever is loaded), a missing writer or endpoint fails."""
    component = alloy_metrics.WRITERS[kind]
    wanted = None if endpoints is None else set(alloy_metrics.endpoint_key(kind, e) for e in endpoints)

    def run():
        since = evidence.mark() if evidence else 0
        ids, error = _writer_ids(base, kind, timeout, tls)
        if ids is None:
            return False, error
        if not ids:
            return wanted is None, "no %s component is loaded" % component

        def judge(before, after, elapsed, final):
            confirmed = evidence.confirmed(kind, since) if evidence else frozenset()
            return alloy_metrics.delivery(kind, before, after, ids, elapsed, max_lag, wanted, moved_only=not final,
                                          confirmed=confirmed)
        return _watch(lambda: _metrics(base, timeout, tls=tls), judge, window, poll, sleep, clock)
    return lambda: _timed("delivery %s" % kind, run)


# --- Fleet Management (the remotecfg block) -------------------------------------------

REMOTECFG_API = "/api/v0/web/remotecfg"
REMOTECFG_ROOT = "remotecfg"  # the module ID of the remote configuration's root
_MAX_REMOTE_MODULES = 500
# What Alloy logs (internal/service/remotecfg) when a fetch or a load fails, and when one loads.
REMOTECFG_REFUSED = "failed to parse and load new remote configuration"
_REMOTECFG_FETCH_FAILURES = ("failed to fetch remote config", "failed to get configuration from remote server",
                             "failed to register collector")
_REMOTECFG_FAILURES = (REMOTECFG_REFUSED,) + _REMOTECFG_FETCH_FAILURES
_REMOTECFG_LOADED = "successfully loaded remote configuration"
_LOG_ERR = re.compile(r'\berr=(?:"((?:[^"\\]|\\.)*)"|(.*))')
_LOG_TS = re.compile(r'(?:^|\s)ts="?(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?')
_USERINFO = re.compile(r"://[^/@\s]+@")


def alloy_log(runner, mode, name, lines=1000):
    """Alloy's newest log lines - its unit's journal (mode systemd) or its container's log
    (mode container) - or [] when there is none or it cannot be read."""
    if mode == "systemd":
        argv = ["journalctl", "-u", name, "-o", "cat", "--no-pager", "-n", str(lines)]
    elif mode == "container":
        argv = ["docker", "logs", "--tail", str(lines), name]
    else:
        return []
    try:
        rc, out, err = runner(argv)
    except Exception:  # the log only names an error: never fail a check for it
        return []
    return [] if rc != 0 else ("%s\n%s" % (out or "", err or "")).splitlines()


def _clean(text):
    return _USERINFO.sub("://", text)[:400]


def _log_error(line):
    """The err= value of a logfmt line (quoted or not), without URL credentials."""
    match = _LOG_ERR.search(line)
    if not match:
        return ""
    text = match.group(1) if match.group(1) is not None else match.group(2).rstrip()
    if match.group(1) is None and text.endswith('"'):
        text = text[:-1]  # the end of a quoted msg that carries the err
    return _clean(text.replace('\\"', '"').replace("\\\\", "\\"))


def _log_time(text):
    """Seconds since the epoch of an RFC 3339 time (Alloy's ts), or None."""
    match = _LOG_TS.search(" ts=" + text if text and text[0].isdigit() else text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    zone = match.group(8) or "Z"
    offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (
        int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + \
        float(match.group(7) or 0) - offset


def _log_entry(line):
    """(msg text, err, ts) of one line of Alloy's log, logfmt or JSON (--log.format / logging
    format "json": {"ts": ..., "level": ..., "msg": ..., "err": ...})."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except ValueError:
            record = None
        if isinstance(record, dict):
            return (str(record.get("msg") or ""), _clean(str(record.get("err") or "")),
                    _log_time(str(record.get("ts") or "")))
    return line, _log_error(line), _log_time(line)


def remotecfg_log_failures(lines):
    """[(message, error, ts)] of the remotecfg failures in Alloy's log that no successful load
    followed, newest first; ts is None when the line has no time."""
    failures = []
    for line in reversed(lines):
        if _REMOTECFG_LOADED not in line and not any(m in line for m in _REMOTECFG_FAILURES):
            continue
        text, error, ts = _log_entry(line)
        if _REMOTECFG_LOADED in text:
            break
        failures += [(m, error, ts) for m in _REMOTECFG_FAILURES if m in text][:1]
    return failures


def remotecfg_log_failure(lines, messages=_REMOTECFG_FAILURES):
    """(message, error) of the newest remotecfg failure (one of messages) in Alloy's log that
    no successful load followed, or ("", ""). A refused configuration is also logged as a failed
    fetch with the same error: then the message is the refusal's."""
    failures = [(m, e) for m, e, dummy_ts in remotecfg_log_failures(lines) if m in messages]
    if not failures:
        return "", ""
    newest = failures[0][1]
    return (REMOTECFG_REFUSED if (REMOTECFG_REFUSED, newest) in failures else failures[0][0]), newest


def _said(lines, messages=_REMOTECFG_FAILURES):
    message, error = remotecfg_log_failure(lines, messages)
    return ": %s%s" % (message, ": " + error if error else "") if message else ""


def _total(reads, name):
    return sum(v for dummy_labels, v in reads.get(name, []))


def _served_refusal(after, lines):
    """(error,) of the newest refusal in Alloy's log while it is the configuration Alloy received
    last, or None. Alloy (internal/service/remotecfg/config_manager.go, fetchLoadRemoteConfig)
    sets remotecfg_last_load_success_timestamp_seconds when a GetConfig answer carries a
    configuration, before loading it, and logs the refusal after the load failed: both on its
    own clock, the ts of the line in RFC 3339 with nanoseconds. So the refused answer's time is
    never later than the refusal's ts, and any answer received since, even the configuration
    Alloy runs again (logged at debug only), is later. Not-modified answers, failed fetches and
    status reports leave the timestamp. 0 (no answer since Alloy started): the refusal is an
    older process's."""
    received = _total(after, "remotecfg_last_load_success_timestamp_seconds")
    for message, error, ts in remotecfg_log_failures(lines):
        if message == REMOTECFG_REFUSED:
            return (error,) if ts is not None and 0 < received <= ts else None
    return None


def judge_remotecfg(before, after, elapsed, final, log=None):
    """(ok, detail) of Fleet Management from two reads of Alloy's remotecfg metrics, elapsed
    seconds apart. log() gives Alloy's log lines, read only to name an error and to see a refusal.

    remotecfg_last_load_successful is not the judgement: Alloy sets it to 0 at a failed fetch
    and only a load sets it to 1 again (a new configuration, or the cached one restored after a
    refusal; not-modified and same-hash answers leave it), so one network blip would fail a host
    that has run well since. Instead:
    - a remote configuration loaded: a remotecfg_hash series at 1 (Alloy keeps one per hash it
      ever loaded, from the server or its cache);
    - no fetch failed in the window: remotecfg_load_failures_total did not increase (it counts
      failed fetches only, not refused configurations);
    - the configuration Alloy received last is not one it refused: a refusal counts as a fetch,
      not a failure, Alloy restores the one it ran when it had one (remotecfg_last_load_successful
      back to 1), and a server that keeps serving the refused one answers not_modified to the
      hash Alloy sends (that of the refused answer), logged at debug only. The newest refusal in Alloy's log is current while
      remotecfg_last_load_success_timestamp_seconds, the time of the last answer that carried a
      configuration, is not later than the refusal's own ts (see _served_refusal). No slack: the
      order is that of Alloy's own steps on its own clock, whenever the log and metrics are read.
      Without the log (mode none) a refusal after which Alloy restored its cache is not seen.
    The window passes early at the first read that saw a fetch succeed."""
    cache = []

    def lines():  # Alloy's log, read once, and only when an error is to be named or a refusal seen
        if not cache:
            cache.append((log() if log else None) or [])
        return cache[0]
    if "remotecfg_load_attempts_total" not in after:
        return False, "no remotecfg metrics (an Alloy without Fleet Management support?)"
    attempts, failures = _total(after, "remotecfg_load_attempts_total"), _total(after, "remotecfg_load_failures_total")
    if not attempts:
        return False, ("no remote configuration fetched since Alloy started (no remotecfg block, its url is "
                       "empty, or the service is still starting)")
    old_attempts, old_failures = (_total(before, "remotecfg_load_attempts_total"),
                                  _total(before, "remotecfg_load_failures_total"))
    if attempts < old_attempts or failures < old_failures:  # Alloy restarted in the window
        old_attempts = old_failures = 0.0
    fetched, failed = attempts - old_attempts, failures - old_failures
    span = alloy_metrics._span(elapsed)
    counts = "%d fetches, %d failed, since start" % (attempts, failures)
    loaded = sorted(labels.get("hash") for labels, v in after.get("remotecfg_hash", []) if v and labels.get("hash"))
    running = ("Alloy runs the remote configuration it loaded before" if loaded
               else "no remote configuration is loaded")
    if failed:
        return False, "%d of %d fetches %s failed%s; %s (%s)" % (
            failed, fetched, span, _said(lines(), _REMOTECFG_FETCH_FAILURES), running, counts)
    if not loaded:
        return False, "no remote configuration is loaded%s (%s)" % (_said(lines()), counts)
    if not final and not fetched:
        return False, "no fetch seen yet %s" % span
    refused = _served_refusal(after, lines())
    if refused is not None:
        return False, ("Fleet Management serves a configuration Alloy refused: %s; it runs the one it loaded "
                       "before (%s)" % (refused[0] or "no error logged", counts))
    hashes = "hash %s" % loaded[0] if len(loaded) == 1 else "%d hashes loaded since start" % len(loaded)
    seen = ("%d fetches %s, none failed" % (fetched, span) if fetched
            else "no fetch %s (poll_frequency is longer)" % span)
    stale = "" if _total(after, "remotecfg_last_load_successful") == 1 else (
        "; remotecfg_last_load_successful 0 is left from an earlier failure (Alloy resets it only when a new "
        "configuration loads)")
    return True, "remote configuration loaded (%s); %s (%s)%s" % (hashes, seen, counts, stale)


def fleet_management_check(base, timeout, log=None, window=0.0, sleep=time.sleep, poll=WINDOW_POLL,
                           clock=time.monotonic, tls=None):
    """Fleet Management judged on Alloy's remotecfg metrics read at the start of a window and
    again every poll seconds, at most window seconds (the delivery window; see _watch and
    judge_remotecfg). log() gives Alloy's log lines, read to name the error of a failure."""
    def run():
        def read():
            return _metrics(base, timeout, ("remotecfg_",), tls)

        def judge(before, after, elapsed, final):
            if not after:
                return False, ("no remotecfg metrics at %s/metrics (an Alloy without Fleet Management "
                               "support?)" % base)
            return judge_remotecfg(before, after, elapsed, final, log)
        return _watch(read, judge, window, poll, sleep, clock)
    return lambda: _timed("fleet management", run)


def _component_list(url, timeout, tls=None):
    items, error = _json_answer(url, timeout, tls, named=True)
    if error:
        raise ValueError(error)
    if items is None:  # Go marshals a module without components as null
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("invalid JSON from %s: expected a list of components" % url)
    return items


def remote_components(base, timeout, tls=None):
    """(roots, every component) of the remote configuration as Alloy's API serves them: the
    root module's (one custom component per Fleet Management pipeline, plus any built-in
    ones), then, breadth first, those of each module a component created (createdModuleIDs).
    ValueError with a one-line text when Alloy does not serve them."""
    roots = _component_list(base + REMOTECFG_API + "/components", timeout, tls)
    found, queue, seen = list(roots), list(roots), set()
    while queue:
        for module in queue.pop(0).get("createdModuleIDs") or []:
            if module in seen or len(seen) >= _MAX_REMOTE_MODULES:
                continue
            seen.add(module)
            inner = _component_list("%s%s/modules/%s/components" % (base, REMOTECFG_API, quote(module, safe="/")),
                                    timeout, tls)
            found += inner
            queue += inner
    return roots, found


def _remote_id(component):
    """'prod_logs.default/loki.write.w': a remote component's ID without the remote root."""
    module = str(component.get("moduleID") or "")
    module = "" if module == REMOTECFG_ROOT else module[len(REMOTECFG_ROOT) + 1:] \
        if module.startswith(REMOTECFG_ROOT + "/") else module
    return "/".join(p for p in (module, str(component.get("localID"))) if p)


def fleet_pipelines_check(base, timeout, tls=None):
    """Every component of the remote pipelines healthy. No pipeline at all passes, said so:
    for Alloy a collector that no pipeline selects is not an error, and a first rollout of
    Fleet Management usually comes before its pipelines are written."""
    def run():
        try:
            roots, every = remote_components(base, timeout, tls)
        except ValueError as err:
            return False, str(err)
        if not roots:
            return True, ("no remote pipeline selected for this collector: no Fleet Management pipeline's matchers "
                          "match its attributes (usual before the pipelines are written), so none runs here; "
                          "not an error")
        pipelines = sorted(str(c.get("name")) for c in roots if c.get("createdModuleIDs"))
        bad = []
        for component in every:
            health = component.get("health") if isinstance(component.get("health"), dict) else {}
            if health.get("state") != "healthy":
                bad.append("%s is %s%s" % (_remote_id(component), health.get("state") or "without health",
                                           ": %s" % health["message"] if health.get("message") else ""))
        if bad:
            return False, "; ".join(bad)
        return True, "%s: %d components healthy" % (
            "pipelines " + ", ".join(pipelines) if pipelines else "no pipeline module", len(every))
    return lambda: _timed("fleet pipelines", run)


# --- clustering -----------------------------------------------------------------------

def judge_peers(expected, peers):
    """(ok, detail) of the peers a node sees ({name: state}) against the expected names:
    each expected one seen and a participant; others are named, and do not fail."""
    wanted = sorted(set(expected))
    missing = [name for name in wanted if name not in peers]
    problems = ["%s missing (seen %s)" % (", ".join(missing), ", ".join(sorted(peers)) or "none")] if missing else []
    problems += ["%s is %s" % (name, peers[name]) for name in wanted if peers.get(name, "participant") != "participant"]
    extra = ["%s%s" % (name, "" if peers[name] == "participant" else " (%s)" % peers[name])
             for name in sorted(peers) if name not in wanted]
    notes = ["not expected: %s" % ", ".join(extra)] if extra else []
    if problems:
        return False, "; ".join(problems + notes)
    return True, "; ".join(["%d expected peers participating" % len(wanted)] + notes)


def cluster_check(base, expected, timeout, tls=None):
    """The peers Alloy's cluster shows this node (GET /api/v0/web/peers), judged by judge_peers."""
    url = base + "/api/v0/web/peers"

    def run():
        items, error = _json_answer(url, timeout, tls, named=True)
        if error:
            return False, error
        try:
            peers = dict((str(p["name"]), str(p.get("state") or "")) for p in items or [])
        except (KeyError, TypeError, AttributeError) as err:
            return False, "invalid JSON from %s: %s" % (url, err)
        return judge_peers(expected, peers)
    return lambda: _timed("cluster", run)


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


def _confirming(backend, evidence, run):
    """run, whose pass is also recorded in evidence as the backend's word on this host's data."""
    def confirmed_run():
        ok, detail = run()
        if ok and evidence is not None:
            evidence.confirm(backend.kind, backend.endpoint)
        return ok, detail
    return lambda: _timed("data " + backend.label, confirmed_run)


def prometheus_data_check(backend, query, max_age, timeout, now=time.time, evidence=None):
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
    return _confirming(backend, evidence, run)


def loki_data_check(backend, query, max_age, timeout, now=time.time, evidence=None):
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
    return _confirming(backend, evidence, run)


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
