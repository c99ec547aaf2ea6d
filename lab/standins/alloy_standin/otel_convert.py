"""TEST FIXTURE (stand-in for Grafana Alloy): what otelcol.exporter.prometheus and
otelcol.exporter.loki make of OTLP data.

Prometheus (grafana/alloy internal/component/otelcol/exporter/prometheus/internal/convert/
convert.go, names and labels by opentelemetry-collector-contrib pkg/translator/prometheus
normalize_name.go and normalize_label.go):
- per resource, job = service.namespace/service.name (or service.name), instance =
  service.instance.id; labels with an empty value are left out (labels.Builder.Set);
- target_info (include_target_info, on by default): the resource's other attributes as
  normalized labels, value 1, stamped now;
- gauges, cumulative sums (monotonic: a counter, `_total`; not monotonic: a gauge) and
  cumulative classic histograms (_bucket with le, _sum, _count); delta sums and histograms,
  summaries and exponential histograms are dropped by the stand-in (the real one converts
  summaries and exponential histograms, and drops delta data as here);
- names: with add_metric_suffixes (default) the unit goes in the name (`s` -> `_seconds`,
  `By` -> `_bytes`, `1` -> `_ratio` for gauges, `{...}` units ignored, `a/b` -> `_a_per_b`)
  and counters end in `_total`; without it, forbidden characters become `_`;
- data point attributes as labels (after job/instance, so an attribute `job` wins), names
  normalized (`.` -> `_`, a leading digit gets `key_`, a single leading `_` gets `key`);
  resource_to_telemetry_conversion copies resource attributes onto every point first;
  no otel_scope_* labels: Alloy's component does not pass include_scope_labels on to its
  converter (convertArgumentsToConvertOptions), so they never appear;
- a point flagged "no recorded value" is written as Prometheus' stale NaN; a point older
  than the series' last one is skipped.

Loki (contrib pkg/translator/loki logs_to_loki.go, convert.go, encode.go, as Alloy's
internal/component/otelcol/exporter/loki/internal/convert/convert.go calls LogToLokiEntry):
labels exporter="OTLP", job and instance as above, level from the severity number (unless a
`level` attribute exists, which is then used), and the attributes named by the
loki.attribute.labels / loki.resource.labels / loki.tenant hints; hinted attributes leave the
line. The line is JSON (loki.format hint: json by default, logfmt, raw): body, traceid,
spanid, severity, flags, attributes, resources, instrumentation_scope, in that order, as Go's
encoding/json writes the struct.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, Iterator, List, Optional, Tuple

from lab_wire import gojson
from lab_wire.otlp import Message, any_value, attributes, value_string

Labels = Dict[str, str]
Sample = Tuple[Labels, float, int]  # labels with __name__, value, timestamp in ms
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus value.StaleNaN

UNITS = {"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
         "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
         "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
         "B": "bytes", "KB": "kilobytes", "MB": "megabytes", "GB": "gigabytes", "TB": "terabytes", "m": "meters",
         "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
         "1": "", "%": "percent", "$": "dollars"}
PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
SERVICE_KEYS = ("service.name", "service.namespace", "service.instance.id")
CUMULATIVE, DELTA = 2, 1


def _alnum(char: str) -> bool:
    return char.isalpha() or char.isdigit()


def _tokens(text: str, keep: str = "") -> List[str]:
    """strings.FieldsFunc at every rune that is no letter, no digit and not in keep."""
    return "".join(c if _alnum(c) or c in keep else " " for c in text).split()


def clean_up(text: str) -> str:
    return "_".join(_tokens(text))


def normalize_label(name: str) -> str:
    """NormalizeLabel: every rune that is no letter or digit becomes `_`; `key_` before a leading
    digit, `key` before a single leading `_` (the permissive-sanitization gate is off)."""
    if not name:
        return name
    name = "".join(c if _alnum(c) else "_" for c in name)
    if name[0].isdigit():
        return "key_" + name
    if name.startswith("_") and not name.startswith("__"):
        return "key" + name
    return name


def _is_gauge(metric: Message) -> bool:
    return "gauge" in metric


def _is_counter(metric: Message) -> bool:
    return "sum" in metric and bool(metric["sum"].get("is_monotonic"))


def metric_name(metric: Message, add_suffixes: bool = True) -> str:
    """BuildCompliantName(metric, "", add_suffixes)."""
    if not add_suffixes:
        name = "_".join(_tokens(metric.get("name", ""), keep="_:"))
        return "_" + name if name[:1].isdigit() else name
    tokens = _tokens(metric.get("name", ""))
    unit = metric.get("unit", "")
    main, _, per = unit.partition("/")
    main = main.strip()
    if main and "{" not in main and "}" not in main:
        prom = clean_up(UNITS.get(main, main))
        if prom and prom not in tokens:
            tokens.append(prom)
    per = per.strip()
    if per and "{" not in per and "}" not in per:
        prom = clean_up(PER_UNITS.get(per, per))
        if prom and prom not in tokens:
            tokens += ["per", prom]
    if _is_counter(metric):
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and _is_gauge(metric):
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    name = "_".join(tokens)
    return "_" + name if name[:1].isdigit() else name


def job_instance(resource_attrs: Dict[str, Any]) -> Tuple[str, str]:
    name = resource_attrs.get("service.name")
    job = ""
    if "service.name" in resource_attrs:
        namespace = resource_attrs.get("service.namespace")
        job = (f"{value_string(namespace)}/{value_string(name)}" if "service.namespace" in resource_attrs
               else value_string(name))
    instance = value_string(resource_attrs.get("service.instance.id")) if "service.instance.id" in resource_attrs \
        else ""
    return job, instance


def _set(labels: Labels, name: str, value: str) -> None:
    """labels.Builder.Set: an empty value deletes the label."""
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


@dataclass
class PromOptions:
    include_target_info: bool = True
    add_metric_suffixes: bool = True
    resource_to_telemetry_conversion: bool = False
    keep_identifying_resource_attributes: bool = False


@dataclass
class PromConverter:
    """The converter of one otelcol.exporter.prometheus: its series' last timestamps."""

    options: PromOptions = field(default_factory=PromOptions)
    last_ms: Dict[Tuple[Tuple[str, str], ...], int] = field(default_factory=dict)

    def convert(self, request: Message, now_ms: int) -> List[Sample]:
        out: List[Sample] = []
        for resource in request.get("resource_metrics", []):
            res_attrs = attributes(resource.get("resource", {}).get("attributes", []))
            job, instance = job_instance(res_attrs)
            if self.options.include_target_info:
                out.append(self._target_info(res_attrs, job, instance, now_ms))
            for scope in resource.get("scope_metrics", []):
                for metric in scope.get("metrics", []):
                    out += self._metric(metric, res_attrs, job, instance)
        return out

    def _target_info(self, res_attrs: Dict[str, Any], job: str, instance: str, now_ms: int) -> Sample:
        labels: Labels = {"__name__": "target_info"}
        _set(labels, "job", job)
        _set(labels, "instance", instance)
        for key, value in res_attrs.items():
            if key in SERVICE_KEYS and not self.options.keep_identifying_resource_attributes:
                continue
            _set(labels, normalize_label(key), value_string(value))
        return labels, 1.0, now_ms

    def _series(self, name: str, job: str, instance: str, attrs: Dict[str, Any],
                extra: Optional[Labels] = None) -> Labels:
        labels: Labels = {"__name__": name}
        _set(labels, "job", job)
        _set(labels, "instance", instance)
        for key, value in (extra or {}).items():
            _set(labels, key, value)
        for key, value in attrs.items():
            _set(labels, normalize_label(key), value_string(value))
        return labels

    def _point_attrs(self, point: Message, res_attrs: Dict[str, Any]) -> Dict[str, Any]:
        attrs = attributes(point.get("attributes", []))
        if self.options.resource_to_telemetry_conversion:
            attrs.update(res_attrs)  # joinAttributeMaps: the resource's values overwrite the point's
        return attrs

    def _write(self, labels: Labels, point: Message, value: float) -> List[Sample]:
        stamp = int(point.get("time_unix_nano", 0)) // 1_000_000
        key = tuple(sorted(labels.items()))
        if stamp < self.last_ms.get(key, -1 << 63):
            return []  # out of order: skipped
        self.last_ms[key] = stamp
        if int(point.get("flags", 0)) & 1:
            value = STALE_NAN
        return [(labels, value, stamp)]

    def _metric(self, metric: Message, res_attrs: Dict[str, Any], job: str, instance: str) -> List[Sample]:
        name = metric_name(metric, self.options.add_metric_suffixes)
        if "gauge" in metric:
            points = metric["gauge"].get("data_points", [])
        elif "sum" in metric and int(metric["sum"].get("aggregation_temporality", 0)) == CUMULATIVE:
            points = metric["sum"].get("data_points", [])
        elif "histogram" in metric and int(metric["histogram"].get("aggregation_temporality", 0)) == CUMULATIVE:
            return [s for p in metric["histogram"].get("data_points", [])
                    for s in self._histogram(name, p, res_attrs, job, instance)]
        else:
            return []
        out: List[Sample] = []
        for point in points:
            labels = self._series(name, job, instance, self._point_attrs(point, res_attrs))
            out += self._write(labels, point, number_value(point))
        return out

    def _histogram(self, name: str, point: Message, res_attrs: Dict[str, Any], job: str,
                   instance: str) -> Iterator[Sample]:
        attrs = self._point_attrs(point, res_attrs)
        if "sum" in point:
            yield from self._write(self._series(name + "_sum", job, instance, attrs), point, float(point["sum"]))
        count = float(point.get("count", 0))
        yield from self._write(self._series(name + "_count", job, instance, attrs), point, count)
        bounds = list(point.get("explicit_bounds", []))
        counts = list(point.get("bucket_counts", []))
        cumulative = 0
        for bound, bucket in sorted(zip(bounds, counts)):
            cumulative += int(bucket)
            labels = self._series(name + "_bucket", job, instance, attrs, {"le": go_float_f(bound)})
            yield from self._write(labels, point, float(cumulative))
        yield from self._write(self._series(name + "_bucket", job, instance, attrs, {"le": "+Inf"}), point, count)


def number_value(point: Message) -> float:
    if "as_double" in point:
        return float(point["as_double"])
    return float(point.get("as_int", 0))


def go_float_f(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = gojson.es6_float(value)
    if "e" not in text:
        return text
    out = format(Decimal(repr(value)), "f")
    return out.rstrip("0").rstrip(".") if "." in out else out


# ---- Loki ----------------------------------------------------------------------------

HINT_ATTRIBUTES, HINT_RESOURCES, HINT_TENANT, HINT_FORMAT = ("loki.attribute.labels", "loki.resource.labels",
                                                             "loki.tenant", "loki.format")
HINTS = (HINT_ATTRIBUTES, HINT_RESOURCES, HINT_TENANT, HINT_FORMAT)
_LEVELS = ["UNSPECIFIED"] + [f"{level}{n}" for level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
                             for n in ("", "2", "3", "4")]


@dataclass
class LokiEntry:
    labels: Labels
    timestamp_ns: int
    line: str


def _hinted_names(value: Any) -> List[str]:
    """parseAttributeNames: a comma-separated string, a list, or whatever the value prints as."""
    if isinstance(value, list):
        return [value_string(v) if not isinstance(v, str) else v for v in value]
    if isinstance(value, str):
        return value.split(",")
    return [value_string(value)]


def _nested(attrs: Dict[str, Any], name: str) -> Tuple[bool, Any]:
    if name in attrs:
        return True, attrs[name]
    left, _, right = name.partition(".")
    if left not in attrs:
        return False, None
    if not right:
        return True, attrs[left]
    inner = attrs[left]
    return _nested(inner, right) if isinstance(inner, dict) else (False, None)


def _labels_from(attrs: Dict[str, Any], hint: Any) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for name in _hinted_names(hint):
        name = name.strip()
        found, value = _nested(attrs, name)
        if found:
            out[name] = value_string(value)
    return out


def _merged_labels(log_attrs: Dict[str, Any], res_attrs: Dict[str, Any]) -> Dict[str, str]:
    """convertAttributesAndMerge with every default label on."""
    out = {"exporter": "OTLP"}
    job, instance = job_instance(res_attrs)
    if "service.name" in res_attrs:
        out["job"] = job
    if "service.instance.id" in res_attrs:
        out["instance"] = instance
    if HINT_RESOURCES in res_attrs:
        out.update(_labels_from(res_attrs, res_attrs[HINT_RESOURCES]))
    if HINT_RESOURCES in log_attrs:
        out.update(_labels_from(res_attrs, log_attrs[HINT_RESOURCES]))
    if HINT_ATTRIBUTES in log_attrs:
        out.update(_labels_from(log_attrs, log_attrs[HINT_ATTRIBUTES]))
    if HINT_TENANT in res_attrs:
        out.update(_labels_from(res_attrs, res_attrs[HINT_TENANT]))
    elif HINT_TENANT in log_attrs:
        out.update(_labels_from(log_attrs, log_attrs[HINT_TENANT]))
    return out


def _add_level(record: Message, log_attrs: Dict[str, Any]) -> None:
    severity = int(record.get("severity_number", 0))
    if not severity:
        return
    hint = log_attrs.get(HINT_ATTRIBUTES)
    if isinstance(hint, list):
        log_attrs[HINT_ATTRIBUTES] = hint + ["level"]
    elif isinstance(hint, str):
        log_attrs[HINT_ATTRIBUTES] = f"{hint},level"
    elif HINT_ATTRIBUTES not in log_attrs:
        log_attrs[HINT_ATTRIBUTES] = "level"
    if "level" not in log_attrs:
        log_attrs["level"] = _LEVELS[severity] if 0 <= severity < len(_LEVELS) else ""


def log_entry(record: Message, res_attrs_in: Dict[str, Any], scope: Message, now_ns: int) -> LokiEntry:
    """LogToLokiEntry(record, resource, scope, nil)."""
    log_attrs = attributes(record.get("attributes", []))
    res_attrs = dict(res_attrs_in)
    _add_level(record, log_attrs)
    fmt_value = res_attrs.get(HINT_FORMAT, log_attrs.get(HINT_FORMAT, "json"))
    merged = _merged_labels(log_attrs, res_attrs)
    for attrs in (log_attrs, res_attrs):
        for key in [k for k in attrs if k in HINTS or k in merged]:
            del attrs[key]
    line = _line(value_string(fmt_value), record, log_attrs, res_attrs, scope)
    stamp = int(record.get("time_unix_nano", 0)) or int(record.get("observed_time_unix_nano", 0)) or now_ns
    return LokiEntry({normalize_label(k): v for k, v in merged.items()}, stamp, line)


def _line(fmt: str, record: Message, log_attrs: Dict[str, Any], res_attrs: Dict[str, Any], scope: Message) -> str:
    body = record.get("body")
    if fmt == "raw":
        return value_string(_raw(body))
    if fmt == "logfmt":
        return logfmt_line(record, log_attrs, res_attrs, scope)
    if fmt != "json":
        raise ValueError(f"invalid format {fmt}. Expected one of: json, logfmt, raw")
    return json_line(record, log_attrs, res_attrs, scope)


def _raw(value: Optional[Message]) -> Any:
    return any_value(value)


def json_line(record: Message, log_attrs: Dict[str, Any], res_attrs: Dict[str, Any], scope: Message) -> str:
    """encode.go Encode: the lokiEntry struct marshalled by encoding/json (omitempty fields)."""
    parts: List[str] = []
    body = record.get("body")
    if body:
        parts.append('"body":' + gojson.dumps(_raw(body)))
    for key, name in (("trace_id", "traceid"), ("span_id", "spanid")):
        value = record.get(key, b"")
        if value and any(value):
            parts.append(f'"{name}":' + gojson.dumps(value.hex()))
    if record.get("severity_text"):
        parts.append('"severity":' + gojson.dumps(record["severity_text"]))
    if record.get("flags"):
        parts.append(f'"flags":{int(record["flags"])}')
    if log_attrs:
        parts.append('"attributes":' + gojson.dumps(log_attrs))
    if res_attrs:
        parts.append('"resources":' + gojson.dumps(res_attrs))
    scope_name = (scope or {}).get("name", "")
    if scope_name:
        inner = {"name": scope_name}
        if scope.get("version"):
            inner["version"] = scope["version"]
        parts.append('"instrumentation_scope":{' + ",".join(f'"{k}":{gojson.dumps(v)}' for k, v in inner.items())
                     + "}")
    return "{" + ",".join(parts) + "}"


# ---- logfmt, as go-logfmt reads and writes it -----------------------------------------

def _logfmt_keyvals(line: str) -> Optional[List[Tuple[str, Any]]]:
    """go-logfmt's decoder over one line: keys with values or none; None when it refuses."""
    out: List[Tuple[str, Any]] = []
    pos = 0
    while pos < len(line):
        if line[pos] <= " ":
            pos += 1
            continue
        start = pos
        while pos < len(line) and line[pos] > " " and line[pos] not in '="':
            pos += 1
        if pos < len(line) and line[pos] == '"' or pos == start:
            return None
        key = line[start:pos]
        if pos >= len(line) or line[pos] != "=":
            out.append((key, None))
            continue
        pos += 1
        if pos < len(line) and line[pos] == '"':
            end = pos + 1
            while end < len(line) and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            if end >= len(line):
                return None
            try:
                out.append((key, json.loads(line[pos:end + 1])))
            except ValueError:
                return None
            pos = end + 1
            continue
        start = pos
        while pos < len(line) and line[pos] > " ":
            if line[pos] in '="':
                return None
            pos += 1
        out.append((key, line[start:pos]))
    return out


def _flatten(key: str, value: Any) -> List[Tuple[str, Any]]:
    """valueToKeyvals: maps and slices flattened into key_sub / key_0 keys."""
    if value is None:
        return []
    if isinstance(value, dict):
        prefix = f"{key}_" if key else ""
        return [kv for k, v in value.items() for kv in _flatten(prefix + k, v)]
    if isinstance(value, list):
        prefix = f"{key}_" if key else ""
        return [kv for i, v in enumerate(value) for kv in _flatten(f"{prefix}{i}", v)]
    return [(key, value)]


def _logfmt_value(value: Any) -> str:
    """go-logfmt's value: nothing for nil or "", quoted (JSON escapes) when it holds a space, a
    control character, `=` or `"`, "null" quoted."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else value_string(value)
    if text == "null":
        return '"null"'
    if any(c <= " " or c in '="\ufffd' for c in text):
        return gojson.go_string(text, escape_html=False)
    return text


def logfmt_line(record: Message, log_attrs: Dict[str, Any], res_attrs: Dict[str, Any], scope: Message) -> str:
    """EncodeLogfmt: the body's key/values (a string body parsed as logfmt, else msg=...),
    traceID, spanID, severity, flags, attribute_*, resource_*, instrumentation_scope_*."""
    body = _raw(record.get("body"))
    keyvals: List[Tuple[str, Any]] = []
    if isinstance(body, str):
        parsed = _logfmt_keyvals(body)
        keyvals = parsed if parsed is not None else [("msg", body)]
    elif isinstance(body, dict):
        keyvals = _flatten("", body)
    elif isinstance(body, list):
        keyvals = _flatten("body", body)
    elif body is not None:
        keyvals = [("msg", body)]

    def put(key: str, value: Any) -> None:
        for i, (existing, _) in enumerate(keyvals):
            if existing == key:
                keyvals[i] = (key, value)
                return
        keyvals.append((key, value))

    if any(record.get("trace_id", b"")):
        put("traceID", record["trace_id"].hex())
    if any(record.get("span_id", b"")):
        put("spanID", record["span_id"].hex())
    if record.get("severity_text"):
        put("severity", record["severity_text"])
    if record.get("flags"):
        put("flags", int(record["flags"]))
    for key, value in log_attrs.items():
        keyvals += _flatten(f"attribute_{key}", value)
    for key, value in res_attrs.items():
        keyvals += _flatten(f"resource_{key}", value)
    if (scope or {}).get("name"):
        keyvals.append(("instrumentation_scope_name", scope["name"]))
        if scope.get("version"):
            keyvals.append(("instrumentation_scope_version", scope["version"]))
    return " ".join(f"{k}={_logfmt_value(v)}" for k, v in keyvals)


def log_entries(request: Message, now_ns: int) -> Tuple[List[LokiEntry], int]:
    """Every record of a logs request as a Loki entry, and how many could not be converted."""
    entries: List[LokiEntry] = []
    failed = 0
    for resource in request.get("resource_logs", []):
        res_attrs = attributes(resource.get("resource", {}).get("attributes", []))
        for scope_logs in resource.get("scope_logs", []):
            scope = scope_logs.get("scope", {})
            for record in scope_logs.get("log_records", []):
                try:
                    entries.append(log_entry(record, res_attrs, scope, now_ns))
                except ValueError:
                    failed += 1
    return entries, failed
