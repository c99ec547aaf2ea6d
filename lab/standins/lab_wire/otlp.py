"""TEST FIXTURE (shared by the Alloy stand-in, the OTLP sink stand-in and the tests): the
OTLP messages in protobuf and in OTLP/JSON, without any third-party library.

A table-driven codec written from opentelemetry-proto (opentelemetry/proto/{common,resource,
trace,metrics,logs}/v1/*.proto and collector/*/v1/*_service.proto). Messages become plain
dicts keyed by the proto field names (snake_case); repeated fields are lists; AnyValue keeps
its oneof as the one key set. Fields that are not in the tables are skipped, as a decoder of
an older schema would skip them. OTLP/JSON follows the OTLP specification and pdata's
decoder (pdata/internal/json): lowerCamelCase or the proto names, trace and span IDs as hex,
other bytes as base64, 64-bit integers as numbers or decimal strings, enums as numbers or
names; encoding writes what pdata writes (lowerCamelCase, 64-bit integers as strings).
"""
from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import encode_varint, gojson, read_varint
from .gojson import es6_float

Message = Dict[str, Any]
# name, number, kind, repeated; kind is a scalar type, "enum:<Enum>" or "msg:<Message>";
# a leading "?" marks explicit presence (oneof members, proto3 optional): written even when zero.
Field = Tuple[str, int, str, bool]

_KV = ("attributes", 0, "msg:KeyValue", True)


def _attrs(number: int) -> Field:
    return (_KV[0], number, _KV[2], True)


SCHEMA: Dict[str, Tuple[Field, ...]] = {
    "AnyValue": (("string_value", 1, "?string", False), ("bool_value", 2, "?bool", False),
                 ("int_value", 3, "?int64", False), ("double_value", 4, "?double", False),
                 ("array_value", 5, "msg:ArrayValue", False), ("kvlist_value", 6, "msg:KeyValueList", False),
                 ("bytes_value", 7, "?bytes", False)),
    "ArrayValue": (("values", 1, "msg:AnyValue", True),),
    "KeyValueList": (("values", 1, "msg:KeyValue", True),),
    "KeyValue": (("key", 1, "string", False), ("value", 2, "msg:AnyValue", False)),
    "InstrumentationScope": (("name", 1, "string", False), ("version", 2, "string", False), _attrs(3),
                             ("dropped_attributes_count", 4, "uint32", False)),
    "Resource": (_attrs(1), ("dropped_attributes_count", 2, "uint32", False)),
    # traces
    "ExportTraceServiceRequest": (("resource_spans", 1, "msg:ResourceSpans", True),),
    "ResourceSpans": (("resource", 1, "msg:Resource", False), ("scope_spans", 2, "msg:ScopeSpans", True),
                      ("schema_url", 3, "string", False)),
    "ScopeSpans": (("scope", 1, "msg:InstrumentationScope", False), ("spans", 2, "msg:Span", True),
                   ("schema_url", 3, "string", False)),
    "Span": (("trace_id", 1, "bytes", False), ("span_id", 2, "bytes", False), ("trace_state", 3, "string", False),
             ("parent_span_id", 4, "bytes", False), ("flags", 16, "fixed32", False), ("name", 5, "string", False),
             ("kind", 6, "enum:SpanKind", False), ("start_time_unix_nano", 7, "fixed64", False),
             ("end_time_unix_nano", 8, "fixed64", False), _attrs(9), ("dropped_attributes_count", 10, "uint32", False),
             ("events", 11, "msg:Event", True), ("dropped_events_count", 12, "uint32", False),
             ("links", 13, "msg:Link", True), ("dropped_links_count", 14, "uint32", False),
             ("status", 15, "msg:Status", False)),
    "Event": (("time_unix_nano", 1, "fixed64", False), ("name", 2, "string", False), _attrs(3),
              ("dropped_attributes_count", 4, "uint32", False)),
    "Link": (("trace_id", 1, "bytes", False), ("span_id", 2, "bytes", False), ("trace_state", 3, "string", False),
             _attrs(4), ("dropped_attributes_count", 5, "uint32", False), ("flags", 6, "fixed32", False)),
    "Status": (("message", 2, "string", False), ("code", 3, "enum:StatusCode", False)),
    # metrics
    "ExportMetricsServiceRequest": (("resource_metrics", 1, "msg:ResourceMetrics", True),),
    "ResourceMetrics": (("resource", 1, "msg:Resource", False), ("scope_metrics", 2, "msg:ScopeMetrics", True),
                        ("schema_url", 3, "string", False)),
    "ScopeMetrics": (("scope", 1, "msg:InstrumentationScope", False), ("metrics", 2, "msg:Metric", True),
                     ("schema_url", 3, "string", False)),
    "Metric": (("name", 1, "string", False), ("description", 2, "string", False), ("unit", 3, "string", False),
               ("gauge", 5, "msg:Gauge", False), ("sum", 7, "msg:Sum", False), ("histogram", 9, "msg:Histogram", False),
               ("exponential_histogram", 10, "msg:ExponentialHistogram", False),
               ("summary", 11, "msg:Summary", False), ("metadata", 12, "msg:KeyValue", True)),
    "Gauge": (("data_points", 1, "msg:NumberDataPoint", True),),
    "Sum": (("data_points", 1, "msg:NumberDataPoint", True),
            ("aggregation_temporality", 2, "enum:AggregationTemporality", False), ("is_monotonic", 3, "bool", False)),
    "Histogram": (("data_points", 1, "msg:HistogramDataPoint", True),
                  ("aggregation_temporality", 2, "enum:AggregationTemporality", False)),
    "ExponentialHistogram": (("data_points", 1, "msg:ExponentialHistogramDataPoint", True),
                             ("aggregation_temporality", 2, "enum:AggregationTemporality", False)),
    "Summary": (("data_points", 1, "msg:SummaryDataPoint", True),),
    "NumberDataPoint": (_attrs(7), ("start_time_unix_nano", 2, "fixed64", False), ("time_unix_nano", 3, "fixed64", False),
                        ("as_double", 4, "?double", False), ("as_int", 6, "?sfixed64", False),
                        ("exemplars", 5, "msg:Exemplar", True), ("flags", 8, "uint32", False)),
    "HistogramDataPoint": (_attrs(9), ("start_time_unix_nano", 2, "fixed64", False),
                           ("time_unix_nano", 3, "fixed64", False), ("count", 4, "fixed64", False),
                           ("sum", 5, "?double", False), ("bucket_counts", 6, "fixed64", True),
                           ("explicit_bounds", 7, "double", True), ("exemplars", 8, "msg:Exemplar", True),
                           ("flags", 10, "uint32", False), ("min", 11, "?double", False), ("max", 12, "?double", False)),
    "ExponentialHistogramDataPoint": (
        _attrs(1), ("start_time_unix_nano", 2, "fixed64", False), ("time_unix_nano", 3, "fixed64", False),
        ("count", 4, "fixed64", False), ("sum", 5, "?double", False), ("scale", 6, "sint32", False),
        ("zero_count", 7, "fixed64", False), ("positive", 8, "msg:Buckets", False),
        ("negative", 9, "msg:Buckets", False), ("flags", 10, "uint32", False), ("exemplars", 11, "msg:Exemplar", True),
        ("min", 12, "?double", False), ("max", 13, "?double", False), ("zero_threshold", 14, "double", False)),
    "Buckets": (("offset", 1, "sint32", False), ("bucket_counts", 2, "uint64", True)),
    "SummaryDataPoint": (_attrs(7), ("start_time_unix_nano", 2, "fixed64", False), ("time_unix_nano", 3, "fixed64", False),
                         ("count", 4, "fixed64", False), ("sum", 5, "double", False),
                         ("quantile_values", 6, "msg:ValueAtQuantile", True), ("flags", 8, "uint32", False)),
    "ValueAtQuantile": (("quantile", 1, "double", False), ("value", 2, "double", False)),
    "Exemplar": (("filtered_attributes", 7, "msg:KeyValue", True), ("time_unix_nano", 2, "fixed64", False),
                 ("as_double", 3, "?double", False), ("as_int", 6, "?sfixed64", False), ("span_id", 4, "bytes", False),
                 ("trace_id", 5, "bytes", False)),
    # logs
    "ExportLogsServiceRequest": (("resource_logs", 1, "msg:ResourceLogs", True),),
    "ResourceLogs": (("resource", 1, "msg:Resource", False), ("scope_logs", 2, "msg:ScopeLogs", True),
                     ("schema_url", 3, "string", False)),
    "ScopeLogs": (("scope", 1, "msg:InstrumentationScope", False), ("log_records", 2, "msg:LogRecord", True),
                  ("schema_url", 3, "string", False)),
    "LogRecord": (("time_unix_nano", 1, "fixed64", False), ("observed_time_unix_nano", 11, "fixed64", False),
                  ("severity_number", 2, "enum:SeverityNumber", False), ("severity_text", 3, "string", False),
                  ("body", 5, "msg:AnyValue", False), _attrs(6), ("dropped_attributes_count", 7, "uint32", False),
                  ("flags", 8, "fixed32", False), ("trace_id", 9, "bytes", False), ("span_id", 10, "bytes", False),
                  ("event_name", 12, "string", False)),
    # responses and errors
    "ExportTraceServiceResponse": (("partial_success", 1, "msg:ExportTracePartialSuccess", False),),
    "ExportTracePartialSuccess": (("rejected_spans", 1, "int64", False), ("error_message", 2, "string", False)),
    "ExportMetricsServiceResponse": (("partial_success", 1, "msg:ExportMetricsPartialSuccess", False),),
    "ExportMetricsPartialSuccess": (("rejected_data_points", 1, "int64", False), ("error_message", 2, "string", False)),
    "ExportLogsServiceResponse": (("partial_success", 1, "msg:ExportLogsPartialSuccess", False),),
    "ExportLogsPartialSuccess": (("rejected_log_records", 1, "int64", False), ("error_message", 2, "string", False)),
    "Status.rpc": (("code", 1, "int32", False), ("message", 2, "string", False)),  # google.rpc.Status (no details)
}

_SEVERITIES = [f"SEVERITY_NUMBER_{level}{n}" for level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
               for n in ("", "2", "3", "4")]
ENUMS: Dict[str, Dict[str, int]] = {
    "SpanKind": {name: i for i, name in enumerate(
        ("SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER",
         "SPAN_KIND_CONSUMER"))},
    "StatusCode": {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2},
    "SeverityNumber": {"SEVERITY_NUMBER_UNSPECIFIED": 0, **{name: i + 1 for i, name in enumerate(_SEVERITIES)}},
    "AggregationTemporality": {"AGGREGATION_TEMPORALITY_UNSPECIFIED": 0, "AGGREGATION_TEMPORALITY_DELTA": 1,
                               "AGGREGATION_TEMPORALITY_CUMULATIVE": 2},
}
HEX_IDS = frozenset({"trace_id", "span_id", "parent_span_id"})  # hex in OTLP/JSON, not base64

# signal -> (request, response, partial success counter, resource list, scope list, item list)
SIGNALS: Dict[str, Tuple[str, str, str, str, str, str]] = {
    "traces": ("ExportTraceServiceRequest", "ExportTraceServiceResponse", "rejected_spans",
               "resource_spans", "scope_spans", "spans"),
    "metrics": ("ExportMetricsServiceRequest", "ExportMetricsServiceResponse", "rejected_data_points",
                "resource_metrics", "scope_metrics", "metrics"),
    "logs": ("ExportLogsServiceRequest", "ExportLogsServiceResponse", "rejected_log_records",
             "resource_logs", "scope_logs", "log_records"),
}
_VARINTS = {"int64", "uint32", "int32", "uint64", "bool", "sint32", "enum"}
_FIXED64 = {"fixed64", "sfixed64", "double"}
_FIXED32 = {"fixed32"}
_INT64S = {"int64", "uint64", "fixed64", "sfixed64"}


def _kind(field: Field) -> str:
    kind = field[2].lstrip("?")
    return "enum" if kind.startswith("enum:") else kind


def _by_number(message: str) -> Dict[int, Field]:
    return {field[1]: field for field in SCHEMA[message]}


def _by_json_name(message: str) -> Dict[str, Field]:
    names: Dict[str, Field] = {}
    for field in SCHEMA[message]:
        names[field[0]] = field
        names[camel(field[0])] = field
    return names


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# ---- protobuf ------------------------------------------------------------------------

def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    return read_varint(data, pos, go_errors=True)


def wire_fields(data: bytes) -> Iterator[Tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("proto: illegal field number 0")
        value: Any
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value = data[pos:pos + size]
            if len(value) != size:
                raise ValueError("unexpected EOF")
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value = data[pos:pos + width]
            if len(value) != width:
                raise ValueError("unexpected EOF")
            pos += width
        else:
            raise ValueError(f"proto: wrong wireType = {wire} for field {number}")
        yield number, wire, value


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind in _VARINTS and wire == 0:
        if kind == "bool":
            return bool(raw)
        if kind == "sint32":
            return (raw >> 1) ^ -(raw & 1)
        if kind in ("int64", "int32", "enum"):
            return _signed(raw & ((1 << 64) - 1), 64)
        return raw
    if kind in _FIXED64 and wire == 1:
        return struct.unpack("<d" if kind == "double" else "<q" if kind == "sfixed64" else "<Q", raw)[0]
    if kind in _FIXED32 and wire == 5:
        return struct.unpack("<I", raw)[0]
    if kind == "string" and wire == 2:
        return bytes(raw).decode("utf-8")  # invalid UTF-8 is an error, as in Go's protobuf
    if kind == "bytes" and wire == 2:
        return bytes(raw)
    raise ValueError(f"proto: wrong wireType = {wire} for a {kind}")


def _packed(kind: str, raw: bytes) -> List[Any]:
    if kind in _FIXED64:
        fmt = "<d" if kind == "double" else "<q" if kind == "sfixed64" else "<Q"
        if len(raw) % 8:
            raise ValueError("unexpected EOF")
        return [struct.unpack(fmt, raw[i:i + 8])[0] for i in range(0, len(raw), 8)]
    out, pos = [], 0
    while pos < len(raw):
        value, pos = _read_varint(raw, pos)
        out.append(_scalar(kind, 0, value))
    return out


def decode(data: bytes, message: str) -> Message:
    """A protobuf message of SCHEMA as a dict; ValueError when it is no such message."""
    fields = _by_number(message)
    out: Message = {}
    for number, wire, raw in wire_fields(data):
        field = fields.get(number)
        if field is None:
            continue
        name, _, _, repeated = field
        kind = _kind(field)
        if kind.startswith("msg:"):
            if wire != 2:
                raise ValueError(f"proto: wrong wireType = {wire} for field {name}")
            value: Any = decode(raw, kind[4:])
        elif repeated and wire == 2 and kind not in ("string", "bytes"):
            out.setdefault(name, []).extend(_packed(kind, raw))
            continue
        else:
            value = _scalar(kind, wire, raw)
        if repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def _key(number: int, wire: int) -> bytes:
    return encode_varint(number << 3 | wire)


def _encode_scalar(number: int, kind: str, value: Any) -> bytes:
    if kind in _VARINTS:
        number_value = int(value)
        if kind == "sint32":
            number_value = (number_value << 1) ^ (number_value >> 31)
        return _key(number, 0) + encode_varint(number_value & ((1 << 64) - 1))
    if kind in _FIXED64:
        fmt = "<d" if kind == "double" else "<q" if kind == "sfixed64" else "<Q"
        return _key(number, 1) + struct.pack(fmt, float(value) if kind == "double" else int(value))
    if kind in _FIXED32:
        return _key(number, 5) + struct.pack("<I", int(value))
    data = value.encode("utf-8") if kind == "string" else bytes(value)
    return _key(number, 2) + encode_varint(len(data)) + data


def _is_default(value: Any) -> bool:
    return value in (0, "", b"", False) and not (isinstance(value, float) and math.copysign(1, value) < 0)


def encode(value: Message, message: str) -> bytes:
    """The protobuf bytes of a dict of SCHEMA's message (fields in number order)."""
    out = bytearray()
    for field in sorted(SCHEMA[message], key=lambda f: f[1]):
        name, number, raw_kind, repeated = field
        if name not in value or value[name] is None:
            continue
        kind = _kind(field)
        items = value[name] if repeated else [value[name]]
        if repeated and not kind.startswith("msg:") and kind not in ("string", "bytes"):
            packed = b"".join(_encode_scalar(1, kind, item)[1:] for item in items)  # values without their key
            if items:
                out += _key(number, 2) + encode_varint(len(packed)) + packed
            continue
        for item in items:
            if kind.startswith("msg:"):
                body = encode(item, kind[4:])
                out += _key(number, 2) + encode_varint(len(body)) + body
            elif repeated or raw_kind.startswith("?") or not _is_default(item):
                out += _encode_scalar(number, kind, item)
    return bytes(out)


# ---- OTLP/JSON -----------------------------------------------------------------------

def _json_int(value: Any, kind: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"ReadInt64: unsupported value type for {kind}")
    if isinstance(value, str):
        return int(value, 10)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    raise ValueError(f"ReadInt64: unsupported value type for {kind}")


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _json_float(value: Any) -> float:
    if isinstance(value, str):
        return _SPECIAL_FLOATS[value] if value in _SPECIAL_FLOATS else float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError("ReadFloat64: unsupported value type")


def _json_scalar(name: str, field: Field, value: Any) -> Any:
    kind = _kind(field)
    if kind == "enum":
        table = ENUMS[field[2].lstrip("?")[5:]]
        return table[value] if isinstance(value, str) and value in table else _json_int(value, kind)
    if kind in _VARINTS - {"bool"} or kind in _INT64S or kind in _FIXED32:
        return _json_int(value, kind)
    if kind == "double":
        return _json_float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"ReadBool: expect t or f for {name}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"ReadString: expects \" or n for {name}")
    if kind == "bytes" and name in HEX_IDS:
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"parse {name}: invalid length or characters") from None
    if kind == "bytes":
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise ValueError(f"parse {name}: {err}") from None
    return value


def from_json(value: Any, message: str) -> Message:
    """An OTLP/JSON object as the dict decode() would give for the same message."""
    if not isinstance(value, dict):
        raise ValueError(f"ReadObject: expect {{ for {message}")
    names = _by_json_name(message)
    out: Message = {}
    for key, item in value.items():
        field = names.get(key)
        if field is None or item is None:
            continue  # pdata skips unknown fields
        name, _, raw_kind, repeated = field
        kind = _kind(field)
        items = item if repeated else [item]
        if repeated and not isinstance(item, list):
            raise ValueError(f"ReadArray: expect [ for {name}")
        converted = [from_json(one, kind[4:]) if kind.startswith("msg:") else _json_scalar(name, field, one)
                     for one in items]
        out[name] = converted if repeated else converted[0]
    return out


def _json_value(name: str, field: Field, value: Any) -> Any:
    kind = _kind(field)
    if kind in _INT64S:
        return str(int(value))
    if kind == "double":
        return "NaN" if math.isnan(value) else "Infinity" if value == math.inf else \
            "-Infinity" if value == -math.inf else value
    if kind == "bytes":
        return value.hex() if name in HEX_IDS else base64.b64encode(value).decode("ascii")
    return value


def to_json(value: Message, message: str) -> Dict[str, Any]:
    """A dict of SCHEMA's message as OTLP/JSON (pdata's field names and number forms)."""
    out: Dict[str, Any] = {}
    for field in SCHEMA[message]:
        name, _, raw_kind, repeated = field
        if name not in value or value[name] is None:
            continue
        kind = _kind(field)
        items = value[name] if repeated else [value[name]]
        if not repeated and not kind.startswith("msg:") and not raw_kind.startswith("?") and _is_default(items[0]):
            continue
        converted = [to_json(one, kind[4:]) if kind.startswith("msg:") else _json_value(name, field, one)
                     for one in items]
        out[camel(name)] = converted if repeated else converted[0]
    return out


# ---- values and requests --------------------------------------------------------------

def any_value(value: Optional[Message]) -> Any:
    """pcommon.Value.AsRaw() of an AnyValue dict: str, bool, int, float, bytes, list, dict or None."""
    if not value:
        return None
    if "string_value" in value:
        return value["string_value"]
    if "bool_value" in value:
        return value["bool_value"]
    if "int_value" in value:
        return value["int_value"]
    if "double_value" in value:
        return value["double_value"]
    if "bytes_value" in value:
        return value["bytes_value"]
    if "array_value" in value:
        return [any_value(v) for v in value["array_value"].get("values", [])]
    if "kvlist_value" in value:
        return attributes(value["kvlist_value"].get("values", []))
    return None


def make_value(raw: Any) -> Message:
    """An AnyValue dict for a Python value (the inverse of any_value)."""
    if isinstance(raw, bool):
        return {"bool_value": raw}
    if isinstance(raw, int):
        return {"int_value": raw}
    if isinstance(raw, float):
        return {"double_value": raw}
    if isinstance(raw, bytes):
        return {"bytes_value": raw}
    if isinstance(raw, (list, tuple)):
        return {"array_value": {"values": [make_value(v) for v in raw]}}
    if isinstance(raw, dict):
        return {"kvlist_value": {"values": make_attributes(raw)}}
    return {"string_value": "" if raw is None else str(raw)}


def attributes(key_values: List[Message]) -> Dict[str, Any]:
    """A KeyValue list as an ordered dict of raw values (a later duplicate key wins)."""
    return {kv.get("key", ""): any_value(kv.get("value")) for kv in key_values}


def make_attributes(raw: Dict[str, Any]) -> List[Message]:
    return [{"key": key, "value": make_value(value)} for key, value in raw.items()]


def value_string(raw: Any) -> str:
    """pcommon.Value.AsString(): strings as they are, doubles in the ES6 form, bytes in base64,
    maps and slices as JSON without HTML escapes."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float):
        return es6_float(raw)
    if isinstance(raw, bytes):
        return base64.b64encode(raw).decode("ascii")
    return gojson.dumps(raw, escape_html=False)


def decode_request(signal: str, data: bytes) -> Message:
    return decode(data, SIGNALS[signal][0])


def encode_request(signal: str, request: Message) -> bytes:
    return encode(request, SIGNALS[signal][0])


def request_from_json(signal: str, value: Any) -> Message:
    return from_json(value, SIGNALS[signal][0])


def request_to_json(signal: str, request: Message) -> Dict[str, Any]:
    return to_json(request, SIGNALS[signal][0])


def resources(signal: str, request: Message) -> List[Message]:
    return list(request.get(SIGNALS[signal][3], []))


def scopes(signal: str, resource: Message) -> List[Message]:
    return list(resource.get(SIGNALS[signal][4], []))


def items(signal: str, scope: Message) -> List[Message]:
    return list(scope.get(SIGNALS[signal][5], []))


def data_point_count(metric: Message) -> int:
    """pmetric's DataPointCount for one metric: the points of whichever data it holds."""
    for kind in ("gauge", "sum", "histogram", "exponential_histogram", "summary"):
        if kind in metric:
            return len(metric[kind].get("data_points", []))
    return 0


def item_count(signal: str, request: Message) -> int:
    """Spans, metric data points or log records in a request (what obsreport counts)."""
    total = 0
    for resource in resources(signal, request):
        for scope in scopes(signal, resource):
            found = items(signal, scope)
            total += sum(data_point_count(m) for m in found) if signal == "metrics" else len(found)
    return total


def encode_response(signal: str, rejected: int = 0, message: str = "") -> bytes:
    """An Export*ServiceResponse as pdata writes it: partial_success always present."""
    partial: Message = {SIGNALS[signal][2]: rejected, "error_message": message}
    return encode({"partial_success": partial}, SIGNALS[signal][1])


def response_json(signal: str, rejected: int = 0, message: str = "") -> Dict[str, Any]:
    partial: Message = {SIGNALS[signal][2]: rejected, "error_message": message}
    return to_json({"partial_success": partial}, SIGNALS[signal][1]) or {"partialSuccess": {}}


def encode_status(code: int, message: str) -> bytes:
    """A google.rpc.Status (code, message; no details)."""
    return encode({"code": code, "message": message}, "Status.rpc")


def decode_status(data: bytes) -> Message:
    return decode(data, "Status.rpc")
