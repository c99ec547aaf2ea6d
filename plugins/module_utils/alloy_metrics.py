# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Delivery read from Alloy itself: its /metrics, twice, a window apart.

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
  prometheus_remote_storage_highest_timestamp_in_seconds.
No backend credential is needed: the agent reports what it delivered.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from urllib.parse import urlsplit, urlunsplit

WRITERS = {"loki": "loki.write", "prometheus": "prometheus.remote_write"}
_PREFIXES = ("loki_write_", "prometheus_remote_storage_")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
NO_ANSWER = "-1"


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


def increase(before, after):
    """A counter's increase between two reads; a restart in between resets it to 0."""
    return after - before if after >= before else after


class Figure(object):
    """One counter of one endpoint: its increase in the window and its value at the end."""

    def __init__(self, window=0.0, total=0.0):
        self.window = window
        self.total = total


def _sum(samples, name, component_id, key, labels_wanted=None):
    """{key(labels): summed value} of one metric of one component."""
    out = {}
    for labels, value in samples.get(name, []):
        if labels.get("component_id") != component_id:
            continue
        if labels_wanted and any(labels.get(k) != v for k, v in labels_wanted.items()):
            continue
        out[key(labels)] = out.get(key(labels), 0.0) + value
    return out


def _figures(before, after, name, component_id, key):
    old = _sum(before, name, component_id, key)
    new = _sum(after, name, component_id, key)
    return dict((k, Figure(increase(old.get(k, 0.0), v), v)) for k, v in new.items())


def _loki_key(labels):
    return (labels.get("host", ""), labels.get("tenant", ""))


def _statuses(before, after, component_id, endpoint_key):
    """{status_code: Figure} of the requests of one loki.write endpoint."""
    def key(labels):
        return labels.get("status_code", "")
    name = "loki_write_request_duration_seconds_count"
    old = _sum(before, name, component_id, key, dict(zip(("host", "tenant"), endpoint_key)))
    new = _sum(after, name, component_id, key, dict(zip(("host", "tenant"), endpoint_key)))
    return dict((k, Figure(increase(old.get(k, 0.0), v), v)) for k, v in new.items())


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


class Verdict(object):
    def __init__(self, ok, text):
        self.ok = ok
        self.text = text


def judge_loki(endpoint, sent, dropped, retries, statuses, window):
    """One loki.write endpoint over the window."""
    why = describe_statuses(statuses)
    why = " (%s)" % why if why else ""
    span = "in %s s" % _n(window)
    if dropped.window > 0:
        return Verdict(False, "%s: %s sent, %s dropped%s %s" % (
            endpoint, _n(sent.window), _n(dropped.window), why, span))
    if sent.window > 0:
        return Verdict(True, "%s: %s sent %s" % (endpoint, _n(sent.window), span))
    if retries.window > 0:
        return Verdict(False, "%s: 0 sent, %s retried%s %s" % (endpoint, _n(retries.window), why, span))
    if sent.total > 0:
        return Verdict(True, "%s: idle %s, %s sent since start" % (endpoint, span, _n(sent.total)))
    if dropped.total > 0 or retries.total > 0:
        return Verdict(False, "%s: nothing sent since start, %s dropped, %s retried%s" % (
            endpoint, _n(dropped.total), _n(retries.total), why))
    return Verdict(False, "%s: nothing sent yet" % endpoint)


def judge_remote_write(url, total, failed, retried, pending_before, pending_after, lag, window, max_lag):
    """One prometheus.remote_write endpoint over the window. total counts every attempt,
    so what arrived is total - retried - failed."""
    delivered = Figure(max(0.0, total.window - retried.window - failed.window),
                       max(0.0, total.total - retried.total - failed.total))
    span = "in %s s" % _n(window)
    pending = ", %s pending" % _n(pending_after) if pending_after else ""
    if failed.window > 0:
        return Verdict(False, "%s: %s delivered, %s failed (refused by the backend with a 4xx, not retried) %s" % (
            url, _n(delivered.window), _n(failed.window), span))
    if delivered.window > 0:
        return Verdict(True, "%s: %s delivered %s%s" % (url, _n(delivered.window), span, pending))
    if retried.window > 0:
        return Verdict(False, "%s: 0 delivered, %s retried (no answer, 5xx or 429) %s%s" % (
            url, _n(retried.window), span, pending))
    if pending_after > pending_before > 0:
        return Verdict(False, "%s: 0 delivered %s%s and growing" % (url, span, pending))
    if delivered.total > 0:
        if lag is not None and lag > max_lag:
            return Verdict(False, "%s: delivery is %s s behind (max %s s)%s" % (url, _n(lag), _n(max_lag), pending))
        return Verdict(True, "%s: idle %s, %s delivered since start" % (url, span, _n(delivered.total)))
    if failed.total > 0 or retried.total > 0:
        return Verdict(False, "%s: nothing delivered since start, %s failed, %s retried%s" % (
            url, _n(failed.total), _n(retried.total), pending))
    return Verdict(False, "%s: nothing sent yet%s" % (url, pending))


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
    and any series that moved in the window. Alloy never deletes a series: after a reload
    that changed a tenant or URL, the old one stays, frozen, until a restart."""
    if wanted is None:
        return sorted(keys)
    return sorted(k for k in keys if normal(k) in wanted or active(k))


def _moved(*figures):
    return lambda key: any(f.get(key, Figure()).window > 0 for f in figures)


def _loki_normal(key):
    return (key[0].lower(), key[1])


def loki_verdicts(before, after, component_id, window, wanted=None):
    sent = _figures(before, after, "loki_write_sent_entries_total", component_id, _loki_key)
    dropped = _figures(before, after, "loki_write_dropped_entries_total", component_id, _loki_key)
    retries = _figures(before, after, "loki_write_batch_retries_total", component_id, _loki_key)
    verdicts = {}
    for key in _kept(set(sent) | set(dropped) | set(retries), wanted, _moved(sent, dropped, retries), _loki_normal):
        endpoint = key[0] + (" tenant %s" % key[1] if key[1] else "")
        verdicts[_loki_normal(key)] = judge_loki(endpoint, sent.get(key, Figure()), dropped.get(key, Figure()),
                                                 retries.get(key, Figure()),
                                                 _statuses(before, after, component_id, key), window)
    return verdicts


def _url_key(labels):
    return labels.get("url", "")


def remote_write_verdicts(before, after, component_id, window, max_lag, wanted=None):
    total = _figures(before, after, "prometheus_remote_storage_samples_total", component_id, _url_key)
    failed = _figures(before, after, "prometheus_remote_storage_samples_failed_total", component_id, _url_key)
    retried = _figures(before, after, "prometheus_remote_storage_samples_retried_total", component_id, _url_key)
    pending_before = _sum(before, "prometheus_remote_storage_samples_pending", component_id, _url_key)
    pending_after = _sum(after, "prometheus_remote_storage_samples_pending", component_id, _url_key)
    sent_ts = _sum(after, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds", component_id, _url_key)
    newest = _sum(after, "prometheus_remote_storage_highest_timestamp_in_seconds", component_id, lambda labels: "")
    verdicts = {}
    for url in _kept(set(total) | set(pending_after), wanted, _moved(total, failed, retried), normal_url):
        lag = newest[""] - sent_ts.get(url, 0.0) if newest.get("") else None
        verdicts[normal_url(url)] = judge_remote_write(
            url, total.get(url, Figure()), failed.get(url, Figure()), retried.get(url, Figure()),
            pending_before.get(url, 0.0), pending_after.get(url, 0.0), lag, window, max_lag)
    return verdicts


def component_verdicts(kind, before, after, component_id, window, max_lag, wanted=None):
    """{endpoint key: Verdict} of one writer component (see _kept for which endpoints)."""
    if kind == "loki":
        return loki_verdicts(before, after, component_id, window, wanted)
    return remote_write_verdicts(before, after, component_id, window, max_lag, wanted)


def delivery(kind, before, after, component_ids, window, max_lag, wanted=None):
    """(ok, detail) over every writer component of one kind; with wanted (the endpoint
    keys of the configuration), a configured endpoint without any series fails too."""
    texts, oks, seen = [], [], set()
    for cid in component_ids:
        verdicts = component_verdicts(kind, before, after, cid, window, max_lag, wanted)
        seen.update(verdicts)
        if verdicts:
            oks.append(all(v.ok for v in verdicts.values()))
            texts.append("%s: %s" % (cid, "; ".join(v.text for v in verdicts.values())))
        elif wanted is None:
            oks.append(False)
            texts.append("%s: nothing sent yet (no request made)" % cid)
    for key in sorted(set(wanted or ()) - seen, key=str):
        name = key if kind == "prometheus" else key[0] + (" tenant %s" % key[1] if key[1] else "")
        oks.append(False)
        texts.append("%s: nothing sent yet (no request made)" % name)
    return all(oks), "; ".join(texts)
