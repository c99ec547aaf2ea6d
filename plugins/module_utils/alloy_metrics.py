# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delivery read from Alloy itself: its /metrics at the start and at the end of a window.

loki.write and prometheus.remote_write stay "healthy" whatever their backend answers;
what they delivered shows only in their metrics (labelled component_id):
- loki.write, per endpoint host and tenant: loki_write_sent_entries_total,
  loki_write_dropped_entries_total (4xx other than 429 at once, the rest after the last
  retry), loki_write_batch_retries_total (429, 5xx, no answer),
  loki_write_request_duration_seconds_count{status_code} (-1: no HTTP answer).
- prometheus.remote_write, per endpoint url: prometheus_remote_storage_samples_total
  (every attempt, retries included), _samples_failed_total (4xx other than 429, not
  retried), _samples_retried_total (429, 5xx, no answer), _samples_pending,
  _queue_highest_sent_timestamp_seconds, and per component
  prometheus_remote_storage_highest_timestamp_in_seconds. A try is counted as it begins
  and a retry as the next try begins (after the backoff); _queue_highest_sent_timestamp
  moves when a try ends, after a 4xx too.
No backend credential is needed: the agent reports what it delivered. Alloy never deletes
a writer's series: after a reload that changed a tenant or URL the old one stays, frozen.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from urllib.parse import urlsplit, urlunsplit

WRITERS = {"loki": "loki.write", "prometheus": "prometheus.remote_write"}
_PREFIXES = ("loki_write_", "prometheus_remote_storage_", "process_start_time_seconds")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
NO_ANSWER = "-1"
ROOT = "/"  # component_path of the root module's components


def _labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        if not match:
            if text[pos:].strip():
                raise ValueError("bad labels: %s" % text)
            break
        labels[match.group(1)] = re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group(0)], match.group(2))
        pos = match.end()
    return labels


def _sample(line):
    name = _NAME.match(line)
    if not name:
        raise ValueError("bad sample line: %s" % line)
    rest = line[name.end():]
    labels = {}
    if rest.startswith("{"):
        end = rest.rindex("}")
        labels = _labels(rest[1:end])
        rest = rest[end + 1:]
    return name.group(0), labels, float(rest.split()[0])


def parse(text, prefixes=_PREFIXES):
    """{metric name: [(labels, value), ...]} of the sample lines whose names start with
    one of prefixes (Prometheus text format; comments and other metrics skipped)."""
    samples = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or not line.startswith(prefixes):
            continue
        name, labels, value = _sample(line)
        samples.setdefault(name, []).append((labels, value))
    return samples


class Reads(object):
    """The two reads of /metrics, and whether Alloy restarted in between (its start time
    moved, or any counter of the writers went down): then every counter starts from 0."""

    def __init__(self, before, after):
        self.before = before
        self.after = after
        self.restarted = self._restarted()

    def _restarted(self):
        starts = [[v for dummy_labels, v in reads.get("process_start_time_seconds", [])] for reads in (self.before, self.after)]
        if starts[0] and starts[1] and starts[0] != starts[1]:
            return True
        for name, series in self.after.items():
            if not name.endswith(("_total", "_count")):
                continue
            old = dict((tuple(sorted(labels.items())), value) for labels, value in self.before.get(name, []))
            if any(value < old.get(tuple(sorted(labels.items())), 0.0) for labels, value in series):
                return True
        return False

    def increase(self, before, after):
        return after if self.restarted else max(0.0, after - before)


class Figure(object):
    """One counter of one endpoint: its increase in the window and its value at the end."""

    def __init__(self, window=0.0, total=0.0):
        self.window = window
        self.total = total


def _sum(samples, name, component_id, key, labels_wanted=None):
    """{key(labels): summed value} of one metric of one root-module component."""
    out = {}
    for labels, value in samples.get(name, []):
        if labels.get("component_id") != component_id or labels.get("component_path", ROOT) != ROOT:
            continue
        if labels_wanted and any(labels.get(k) != v for k, v in labels_wanted.items()):
            continue
        out[key(labels)] = out.get(key(labels), 0.0) + value
    return out


def _figures(reads, name, component_id, key, labels_wanted=None):
    old = {} if reads.restarted else _sum(reads.before, name, component_id, key, labels_wanted)
    new = _sum(reads.after, name, component_id, key, labels_wanted)
    return dict((k, Figure(reads.increase(old.get(k, 0.0), v), v)) for k, v in new.items())


def describe_statuses(statuses):
    """'HTTP 401', 'no HTTP answer', ... of the failed requests, the window's first."""
    for attr in ("window", "total"):
        codes = sorted(c for c, f in statuses.items() if getattr(f, attr) > 0 and not c.startswith("2"))
        if codes:
            return ", ".join("no HTTP answer (refused, timed out or TLS failed)" if c == NO_ANSWER
                             else "HTTP %s" % c for c in codes)
    return ""


def _n(value):
    return "%d" % value


def _span(window):
    """'in 5 s', 'in 0.5 s': a window's seconds to the tenth, whole ones as before. The
    delivery check may end its window early, after a fraction of a second."""
    seconds = "%.1f" % window
    return "in %s s" % (seconds[:-2] if seconds.endswith(".0") else seconds)


class Verdict(object):
    """moved: the verdict rests on a delivery seen in the window (not on an idle one)."""

    def __init__(self, ok, text, moved=False):
        self.ok = ok
        self.text = text
        self.moved = moved


def judge_loki(endpoint, sent, dropped, retries, statuses, window):
    """One loki.write endpoint over the window. Sent counts only what Loki accepted;
    4xx answers drop at once, the rest is retried with a backoff of up to minutes, so a
    quiet window after failures proves nothing: it fails until a window sees traffic."""
    why = describe_statuses(statuses)
    why = " (%s)" % why if why else ""
    span = _span(window)
    if dropped.window > 0:
        return Verdict(False, "%s: %s sent, %s dropped%s %s" % (
            endpoint, _n(sent.window), _n(dropped.window), why, span))
    if sent.window > 0:
        return Verdict(True, "%s: %s sent %s" % (endpoint, _n(sent.window), span), moved=True)
    if retries.window > 0:
        return Verdict(False, "%s: 0 sent, %s retried%s %s" % (endpoint, _n(retries.window), why, span))
    if sent.total > 0 and not dropped.total and not retries.total:
        return Verdict(True, "%s: idle %s, %s sent since start" % (endpoint, span, _n(sent.total)))
    if dropped.total > 0 or retries.total > 0:
        return Verdict(False, "%s: idle %s; since start %s sent, %s dropped, %s retried%s" % (
            endpoint, span, _n(sent.total), _n(dropped.total), _n(retries.total), why))
    return Verdict(False, "%s: nothing sent yet" % endpoint)


def judge_remote_write(url, total, failed, retried, sent_ts, pending, lag, window, max_lag):
    """One prometheus.remote_write endpoint over the window. total counts every try as it
    begins, so only a highest sent timestamp that moved without a failure is a delivery."""
    span = _span(window)
    attempts = max(0.0, total.window - retried.window - failed.window)
    queued = ", %s pending" % _n(pending.total) if pending.total else ""
    if failed.window > 0:
        return Verdict(False, "%s: %s failed (refused by the backend with a 4xx, not retried) %s" % (
            url, _n(failed.window), span))
    if sent_ts.window > 0:
        return Verdict(True, "%s: %s delivered %s%s" % (url, _n(attempts), span, queued), moved=True)
    if retried.window > 0:
        return Verdict(False, "%s: 0 delivered, %s retried (no answer, 5xx or 429) %s%s" % (
            url, _n(retried.window), span, queued))
    if total.window > 0:
        return Verdict(False, "%s: 0 delivered %s, a send is waiting for its answer%s" % (url, span, queued))
    if pending.total > 0:
        growing = " and growing" if pending.window > 0 else ""
        return Verdict(False, "%s: 0 delivered %s%s%s" % (url, span, queued, growing))
    if failed.total > 0:
        return Verdict(False, "%s: idle %s; %s failed since start" % (url, span, _n(failed.total)))
    if sent_ts.total > 0:
        if lag is not None and lag > max_lag:
            return Verdict(False, "%s: delivery is %s s behind (max %s s)" % (url, _n(lag), _n(max_lag)))
        return Verdict(True, "%s: idle %s, delivered before" % (url, span))
    return Verdict(False, "%s: nothing sent yet" % url)


def normal_url(url):
    """A URL compared as Go prints it: scheme and host lower case, no user, no trailing /."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower(), parts.path.rstrip("/"),
                       parts.query, ""))


def endpoint_key(kind, endpoint):
    """How an endpoint of the alloy_config role is labelled in the writer's metrics:
    loki.write by the URL's host and the tenant, prometheus.remote_write by the URL."""
    if kind == "loki":
        return (urlsplit(endpoint["url"]).netloc.rpartition("@")[2].lower(), str(endpoint.get("tenant_id") or ""))
    return normal_url(endpoint["url"])


def _kept(keys, wanted, active, normal):
    """All series without a list of endpoints; with one, the configured endpoints' series
    and any series that moved in the window (a stale one left by a reload is not)."""
    if wanted is None:
        return sorted(keys)
    return sorted(k for k in keys if normal(k) in wanted or active(k))


def _moved(*figures):
    return lambda key: any(f.get(key, Figure()).window > 0 for f in figures)


def _loki_key(labels):
    return (labels.get("host", ""), labels.get("tenant", ""))


def _loki_normal(key):
    return (key[0].lower(), key[1])


def _loki_name(key):
    return key[0] + (" tenant %s" % key[1] if key[1] else "")


def loki_verdicts(reads, component_id, window, wanted=None):
    sent = _figures(reads, "loki_write_sent_entries_total", component_id, _loki_key)
    dropped = _figures(reads, "loki_write_dropped_entries_total", component_id, _loki_key)
    retries = _figures(reads, "loki_write_batch_retries_total", component_id, _loki_key)
    verdicts = {}
    for key in _kept(set(sent) | set(dropped) | set(retries), wanted, _moved(sent, dropped, retries), _loki_normal):
        statuses = _figures(reads, "loki_write_request_duration_seconds_count", component_id,
                            lambda labels: labels.get("status_code", ""), dict(zip(("host", "tenant"), key)))
        verdicts[_loki_normal(key)] = judge_loki(_loki_name(key), sent.get(key, Figure()),
                                                 dropped.get(key, Figure()), retries.get(key, Figure()),
                                                 statuses, window)
    return verdicts


def _queue_key(labels):
    return (labels.get("url", ""), labels.get("remote_name", ""))


def _url_normal(key):
    return normal_url(key[0])


def remote_write_verdicts(reads, component_id, window, max_lag, wanted=None):
    figures = dict((name, _figures(reads, "prometheus_remote_storage_" + name, component_id, _queue_key)) for name in (
        "samples_total", "samples_failed_total", "samples_retried_total", "queue_highest_sent_timestamp_seconds"))
    pending = _figures(reads, "prometheus_remote_storage_samples_pending", component_id, _queue_key)
    newest = _sum(reads.after, "prometheus_remote_storage_highest_timestamp_in_seconds", component_id,
                  lambda labels: "").get("")
    keys = _kept(set(figures["samples_total"]) | set(pending), wanted,
                 _moved(*figures.values()), _url_normal)
    urls = [key[0] for key in keys]
    verdicts = {}
    for key in keys:
        fig = dict((name, found.get(key, Figure())) for name, found in figures.items())
        sent_ts = fig["queue_highest_sent_timestamp_seconds"]
        lag = newest - sent_ts.total if newest and sent_ts.total else None
        name = key[0] + (" (%s)" % key[1] if urls.count(key[0]) > 1 else "")
        verdicts[key] = judge_remote_write(name, fig["samples_total"], fig["samples_failed_total"],
                                           fig["samples_retried_total"], sent_ts, pending.get(key, Figure()),
                                           lag, window, max_lag)
    return verdicts


CONFIRMED = " (its backend, asked in this window, has this host's recent data)"


def _early(verdict, confirmed, moved_only):
    """Whether a passing verdict may end the window now: always at its end; before, on a
    delivery seen in the window, or on an idle pass whose backend confirmed it (confirmed)."""
    return verdict.ok and (verdict.moved or not moved_only or confirmed)


def delivery(kind, before, after, component_ids, window, max_lag, wanted=None, moved_only=False,
             confirmed=frozenset()):
    """(ok, detail) over every writer component of one kind. With wanted (the endpoint
    keys of the configuration), a stale series is ignored, and a configured endpoint
    without any series is named: for Loki it has had nothing to send (Alloy makes the
    series when the first line is queued), for remote_write it is not loaded. With
    moved_only, ok needs for every endpoint a delivery seen in the window, or an idle pass
    ("delivered before") of an endpoint in confirmed: one whose backend, asked in the same
    check, answered with this host's recent data. An idle pass alone does not end a window
    early, since a backend that has just gone down looks idle until Alloy's first retry;
    a backend that answers with this host's data now is not down."""
    reads = Reads(before, after)
    normal = (lambda key: key) if kind == "loki" else _url_normal
    texts, oks, seen = [], [], set()
    for cid in component_ids:
        if kind == "loki":
            verdicts = loki_verdicts(reads, cid, window, wanted)
        else:
            verdicts = remote_write_verdicts(reads, cid, window, max_lag, wanted)
        seen.update(normal(key) for key in verdicts)
        if verdicts:
            early = dict((key, _early(v, normal(key) in confirmed, moved_only)) for key, v in verdicts.items())
            oks.append(all(early.values()))
            texts.append("%s: %s" % (cid, "; ".join(
                v.text + (CONFIRMED if moved_only and early[key] and not v.moved else "")
                for key, v in verdicts.items())))
        elif wanted is None:
            oks.append(kind == "loki" and not moved_only)
            texts.append("%s: %s" % (cid, "nothing queued yet" if kind == "loki" else "no endpoint loaded"))
    for key in sorted(set(wanted or ()) - seen, key=str):
        oks.append(kind == "loki" and not moved_only)
        texts.append(_loki_name(key) + ": nothing queued for it yet" if kind == "loki"
                     else "%s: no metrics for this endpoint (not loaded?)" % key)
    return all(oks), "; ".join(texts)
