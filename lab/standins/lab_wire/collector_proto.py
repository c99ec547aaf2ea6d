"""TEST FIXTURE (shared by the Fleet Management stand-in and the Alloy stand-in's remotecfg):
the collector.v1 messages of grafana/alloy-remote-config (api/collector/v1/collector.proto, the version Alloy pins, v0.0.12, with effective_config) in
protobuf and in protojson, without any third-party library.

Messages are dicts keyed by proto field names; maps are dicts; enums are numbers. Protobuf
decoding skips unknown fields, as Go's proto.Unmarshal keeps them aside; any malformed input is
Go's `proto: cannot parse invalid wire-format data`. protojson is what connect-go's JSON codec
does: Unmarshal accepts the lowerCamelCase and the proto names, enums by name or number,
discards unknown fields and unknown enum names (DiscardUnknown), refuses an empty body;
Marshal writes lowerCamelCase, leaves zero values out, enums by name, map keys sorted, no
spaces (protojson's randomized spacing is not played).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Dict, Tuple

from lab_wire import encode_varint
from lab_wire.otlp import camel, wire_fields

Message = Dict[str, Any]
Field = Tuple[str, int, str]  # name, number, kind: string, bool, bytes, enum:<E>, msg:<M>, map:<value kind>

SCHEMA: Dict[str, Tuple[Field, ...]] = {
    "GetConfigRequest": (("id", 1, "string"), ("attributes", 2, "map:string"), ("hash", 3, "string"),
                         ("local_attributes", 4, "map:string"),
                         ("remote_config_status", 5, "msg:RemoteConfigStatus"),
                         ("effective_config", 6, "msg:EffectiveConfig")),
    "RemoteConfigStatus": (("status", 1, "enum:RemoteConfigStatuses"), ("error_message", 2, "string")),
    "EffectiveConfig": (("config_map", 1, "msg:AgentConfigMap"),),
    "AgentConfigMap": (("config_map", 1, "map:msg:AgentConfigFile"),),
    "AgentConfigFile": (("body", 1, "bytes"), ("content_type", 2, "string")),
    "GetConfigResponse": (("content", 1, "string"), ("hash", 2, "string"), ("not_modified", 3, "bool")),
    "RegisterCollectorRequest": (("id", 1, "string"), ("attributes", 2, "map:string"), ("name", 3, "string"),
                                 ("local_attributes", 4, "map:string")),
    "RegisterCollectorResponse": (),
    "UnregisterCollectorRequest": (("id", 1, "string"),),
    "UnregisterCollectorResponse": (),
}
STATUSES = ("RemoteConfigStatuses_UNSET", "RemoteConfigStatuses_APPLIED", "RemoteConfigStatuses_APPLYING",
            "RemoteConfigStatuses_FAILED")
ENUMS = {"RemoteConfigStatuses": {name: number for number, name in enumerate(STATUSES)}}
INVALID = "proto: cannot parse invalid wire-format data"


# ---- protobuf ------------------------------------------------------------------------

def _scalar(message: str, name: str, kind: str, wire: int, raw: Any) -> Any:
    if kind == "bool" or kind.startswith("enum:"):
        if wire != 0:
            raise ValueError(INVALID)
        return bool(raw) if kind == "bool" else raw - (1 << 64) if raw >= 1 << 63 else raw
    if wire != 2:
        raise ValueError(INVALID)
    if kind == "bytes":
        return bytes(raw)
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"proto: field collector.v1.{message}.{name} contains invalid UTF-8") from None


def _value(message: str, name: str, kind: str, wire: int, raw: Any) -> Any:
    if kind.startswith("msg:"):
        if wire != 2:
            raise ValueError(INVALID)
        return decode(raw, kind[4:])
    return _scalar(message, name, kind, wire, raw)


def _map_entry(message: str, name: str, kind: str, raw: bytes) -> Tuple[str, Any]:
    key: str = ""
    value: Any = decode(b"", kind[4:]) if kind.startswith("msg:") else ""
    for number, wire, item in wire_fields(raw):
        if number == 1:
            key = _scalar(message, name, "string", wire, item)
        elif number == 2:
            value = _value(message, name, kind, wire, item)
    return key, value


def decode(data: bytes, message: str) -> Message:
    """A collector.v1 message from protobuf; ValueError with Go's message when it is malformed."""
    fields = {field[1]: field for field in SCHEMA[message]}
    out: Message = {}
    try:
        for number, wire, raw in wire_fields(data):
            field = fields.get(number)
            if field is None:
                continue
            name, _, kind = field
            if kind.startswith("map:"):
                if wire != 2:
                    raise ValueError(INVALID)
                key, value = _map_entry(message, name, kind[4:], raw)
                out.setdefault(name, {})[key] = value
            else:
                out[name] = _value(message, name, kind, wire, raw)
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith("proto:") else INVALID) from None
    return out


def _len_field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def _encode_value(number: int, kind: str, value: Any) -> bytes:
    if kind.startswith("msg:"):
        return _len_field(number, encode(value, kind[4:]))
    if kind == "bool" or kind.startswith("enum:"):
        return encode_varint(number << 3) + encode_varint(int(value) & ((1 << 64) - 1))
    return _len_field(number, value if kind == "bytes" else value.encode("utf-8"))


def encode(value: Message, message: str) -> bytes:
    """The protobuf bytes of a collector.v1 message (fields in number order, zero values left
    out, map entries sorted by key)."""
    out = bytearray()
    for name, number, kind in sorted(SCHEMA[message], key=lambda f: f[1]):
        item = value.get(name)
        if item is None:
            continue
        if kind.startswith("map:"):
            for key in sorted(item):
                entry = _len_field(1, key.encode("utf-8")) + _encode_value(2, kind[4:], item[key])
                out += _len_field(number, entry)
        elif kind.startswith("msg:") or item not in ("", b"", 0, False):
            out += _encode_value(number, kind, item)
    return bytes(out)


# ---- protojson -----------------------------------------------------------------------

def _json_scalar(name: str, kind: str, value: Any) -> Any:
    """A JSON value of a field; None for an unknown enum name (discarded)."""
    if kind.startswith("enum:"):
        table = ENUMS[kind[5:]]
        if isinstance(value, str):
            return table.get(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "bool" and isinstance(value, bool):
        return value
    elif kind == "string" and isinstance(value, str):
        return value
    elif kind == "bytes" and isinstance(value, str):
        try:
            text = value.replace("-", "+").replace("_", "/")
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except binascii.Error:
            pass
    elif kind.startswith("msg:"):
        return from_json(value, kind[4:])
    raise ValueError(f"proto: invalid value for {kind.split(':')[0]} field {name}: {value!r}")


def from_json(value: Any, message: str) -> Message:
    """A collector.v1 message from protojson (the decoded JSON value)."""
    if not isinstance(value, dict):
        raise ValueError(f"proto: unexpected token {value!r}")
    names = {}
    for field in SCHEMA[message]:
        names[field[0]] = names[camel(field[0])] = field
    out: Message = {}
    for key, item in value.items():
        field = names.get(key)
        if field is None or item is None:
            continue
        name, _, kind = field
        if name in out:
            raise ValueError(f"proto: duplicate field {key!r}")
        if kind.startswith("map:"):
            if not isinstance(item, dict):
                raise ValueError(f"proto: invalid value for map field {name}: {item!r}")
            out[name] = {k: _json_scalar(name, kind[4:], v) for k, v in item.items()}
            continue
        converted = _json_scalar(name, kind, item)
        if converted is not None:
            out[name] = converted
    return out


def _to_json_value(kind: str, value: Any) -> Any:
    if kind.startswith("msg:"):
        return to_json(value, kind[4:])
    if kind.startswith("enum:"):
        names = {number: name for name, number in ENUMS[kind[5:]].items()}
        return names.get(value, value)
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    return value


def to_json(value: Message, message: str) -> Dict[str, Any]:
    """protojson.Marshal's object: lowerCamelCase, declaration order, zero values left out."""
    out: Dict[str, Any] = {}
    for name, _, kind in SCHEMA[message]:
        item = value.get(name)
        if item is None or (not kind.startswith("msg:") and item in ("", b"", 0, False, {})):
            continue
        if kind.startswith("map:"):
            out[camel(name)] = {k: _to_json_value(kind[4:], item[k]) for k in sorted(item)}
        else:
            out[camel(name)] = _to_json_value(kind, item)
    return out
