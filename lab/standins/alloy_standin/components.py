"""TEST FIXTURE (stand-in for Grafana Alloy): the component schemas the stand-in knows.

The arguments of components and configuration blocks come from schema_data.py, which
tools/alloy_schemas.py generates from shared/docs/alloy-components.json (Alloy's
Go struct tags): attributes with their type and whether they are required, blocks with
whether they repeat. Hand-written here: what the JSON does not carry (exports, the block
holding a writer's URL) and the few components and blocks the stand-in knows beyond it,
read from Alloy's sources. The stand-in's `validate` checks configurations against these
like `alloy validate` does (syntax/typecheck).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple

from . import schema_data

GA = "generally-available"


@dataclass(frozen=True)
class Schema:
    required: FrozenSet[str] = frozenset()
    optional: FrozenSet[str] = frozenset()
    blocks: Dict[str, "Schema"] = field(default_factory=dict, repr=False, compare=False)
    exports: FrozenSet[str] = frozenset()
    # Components that push to a remote URL: the block holding it (their health never follows it).
    endpoint_block: str = ""
    # attribute -> type as alloy-components.json writes it (string, list(string), duration, ...)
    types: Dict[str, str] = field(default_factory=dict, compare=False)
    repeatable: bool = False  # as a block: may be given more than once
    block_required: bool = False  # as a block: must be given
    enum: bool = False  # one kind of an enum block (stage.json): repeatable, never required
    order: Tuple[str, ...] = ()  # attributes and blocks in the order Alloy reports missing ones
    stability: str = GA

    @property
    def attributes(self) -> FrozenSet[str]:
        return self.required | self.optional


def _is_enum(arg: Dict[str, Any]) -> bool:
    """An enum block (loki.process's stage): repeatable, each child block one kind of it."""
    body = arg["body"]
    return bool(arg["repeatable"] and body and all(child.get("block") for child in body.values()))


class _Enums:
    """The enum blocks being built, so that a kind can hold the enum again (stage.match)."""

    def __init__(self) -> None:
        self.kinds: Dict[str, Dict[str, Schema]] = {}
        self.pending: Dict[str, List[Dict[str, Schema]]] = {}

    def open(self, name: str) -> Dict[str, Schema]:
        self.kinds[name] = {}
        self.pending[name] = []
        return self.kinds[name]

    def refer(self, name: str, blocks: Dict[str, Schema]) -> None:
        self.pending[name].append(blocks)

    def close(self, name: str) -> None:
        for blocks in self.pending.pop(name):
            blocks.update({f"{name}.{kind}": schema for kind, schema in self.kinds[name].items()})
        del self.kinds[name]


# Where Alloy's struct declares required arguments in another order than the JSON's
# alphabetical one (it reports missing ones in struct order), read from its sources.
FIELD_ORDER: Dict[str, Tuple[str, ...]] = {
    "loki.source.file": ("targets", "forward_to"),  # internal/component/loki/source/file/file.go
    "prometheus.scrape": ("targets", "forward_to"),  # internal/component/prometheus/scrape/scrape.go
    "import.git": ("repository", "path"),  # internal/nodeconf/importsource/import_git.go
    "loki.process/stage.timestamp": ("source", "format"),  # loki/process/stages/timestamp.go
    "loki.process/stage.template": ("source", "template"),  # loki/process/stages/template.go
}


def _order(path: str, args: Dict[str, Any]) -> Tuple[str, ...]:
    first = FIELD_ORDER.get(path, ())
    return first + tuple(name for name in args if name not in first)


def from_arguments(args: Dict[str, Any], exports: str = "", endpoint_block: str = "", stability: str = GA,
                   enums: Optional[_Enums] = None, path: str = "", **block: bool) -> Schema:
    """The Schema of one alloy-components.json arguments object (a component or a block body);
    path names it for FIELD_ORDER (component/block/block)."""
    enums = enums or _Enums()
    blocks: Dict[str, Schema] = {}
    schema = Schema(frozenset(n for n, a in args.items() if not a.get("block") and a["required"]),
                    frozenset(n for n, a in args.items() if not a.get("block") and not a["required"]),
                    blocks, frozenset(exports.split()), endpoint_block,
                    {n: a["type"] for n, a in args.items() if not a.get("block")},
                    order=_order(path, args), stability=stability, **block)
    for name, arg in args.items():
        if not arg.get("block"):
            continue
        if _is_enum(arg):
            kinds = enums.open(name)
            enums.refer(name, blocks)
            for kind, body in arg["body"].items():
                kinds[kind] = from_arguments(body["body"], enums=enums, path=f"{path}/{name}.{kind}",
                                             repeatable=True, enum=True)
            enums.close(name)
        elif arg["repeatable"] and not arg["body"] and name in enums.kinds:  # the enum again (match)
            enums.refer(name, blocks)
        else:
            blocks[name] = from_arguments(arg["body"], enums=enums, path=f"{path}/{name}",
                                          repeatable=arg["repeatable"], block_required=arg["required"])
    return schema


def _s(required: str = "", optional: str = "", types: str = "", blocks: Optional[Dict[str, Schema]] = None,
       exports: str = "") -> Schema:
    """A hand-written schema; types as `name:type` pairs (the rest are opaque)."""
    names = tuple(required.split() + optional.split())
    typed = dict(pair.split(":", 1) for pair in types.split())
    return Schema(frozenset(required.split()), frozenset(optional.split()), blocks or {}, frozenset(exports.split()),
                  types={n: typed.get(n, "opaque") for n in names}, order=names + tuple(blocks or {}))


# What the JSON does not say: what each component exports, where writers keep their URL.
EXPORTS: Dict[str, str] = {
    "discovery.relabel": "output rules", "local.file_match": "targets", "loki.process": "receiver",
    "loki.relabel": "receiver rules", "loki.write": "receiver", "prometheus.exporter.self": "targets",
    "prometheus.exporter.unix": "targets", "prometheus.relabel": "receiver rules",
    "prometheus.remote_write": "receiver", "otelcol.auth.basic": "handler", "otelcol.exporter.loki": "input",
    "otelcol.exporter.otlp": "input", "otelcol.exporter.otlphttp": "input",
    "otelcol.exporter.prometheus": "input", "otelcol.processor.batch": "input",
    "otelcol.processor.memory_limiter": "input",
}
ENDPOINT_BLOCKS: Dict[str, str] = {"loki.write": "endpoint", "prometheus.remote_write": "endpoint"}

COMPONENTS: Dict[str, Schema] = {
    name: from_arguments(entry["arguments"], EXPORTS.get(name, ""), ENDPOINT_BLOCKS.get(name, ""),
                         entry.get("stability") or GA, path=name)
    for name, entry in schema_data.COMPONENTS.items()
}
# Components the stand-in knows beyond the JSON (internal/component/loki/echo, local/file).
COMPONENTS.update({
    "loki.echo": _s(exports="receiver"),
    "local.file": _s(required="filename", optional="detector poll_frequency is_secret",
                     types="filename:string detector:text poll_frequency:duration is_secret:bool",
                     exports="content"),
})

# Configuration blocks and services (no label; at most once). From the JSON, then the rest
# of internal/runtime/tracing, internal/nodeconf and internal/service/labelstore.
CONFIG_BLOCKS: Dict[str, Schema] = {
    name: from_arguments(entry["arguments"], path=name) for name, entry in schema_data.BLOCKS.items()
}
CONFIG_BLOCKS.update({
    "tracing": _s(optional="sampling_fraction send_traceparent write_to",
                  types="sampling_fraction:float64 send_traceparent:bool write_to:list(opaque)",
                  blocks={"sampler": _s(blocks={"jaeger_remote": _s(
                      optional="url max_operations refresh_interval",
                      types="url:string max_operations:int refresh_interval:duration")})}),
    "import.string": _s(required="content", types="content:secret"),
    "import.http": _s(required="url", optional="poll_frequency poll_timeout method headers body",
                      types="url:string poll_frequency:duration poll_timeout:duration method:string "
                            "headers:map(string,string) body:string"),
    "argument": _s(optional="optional default comment", types="optional:bool comment:string"),
    "export": _s(required="value"),
    "foreach": _s(required="collection var", optional="id hash_string_id enable_metrics",
                  types="collection:list(opaque) var:string id:string hash_string_id:bool enable_metrics:bool"),
    "labelstore": _s(),
})
# Services Alloy runs (internal/alloycli/cmd_validate.go); cluster, otel and ui take no block.
SERVICES: FrozenSet[str] = frozenset({"cluster", "http", "labelstore", "livedebugging", "otel", "remotecfg", "ui"})
UNCONFIGURABLE_SERVICES: FrozenSet[str] = frozenset({"cluster", "otel", "ui"})

# The standard library (syntax/internal/stdlib/stdlib.go): namespaces with their members,
# the deprecated top-level names (with their replacement) and the experimental ones.
NAMESPACES: Dict[str, FrozenSet[str]] = {
    "constants": frozenset({"hostname", "os", "arch", "version"}),
    "sys": frozenset({"env"}),
    "convert": frozenset({"nonsensitive"}),
    "array": frozenset({"concat", "combine_maps", "group_by"}),
    "encoding": frozenset({"from_json", "from_yaml", "from_base64", "from_URLbase64", "to_json", "to_base64",
                           "to_URLbase64", "url_encode", "url_decode"}),
    "string": frozenset({"format", "join", "replace", "split", "to_lower", "to_upper", "trim", "trim_prefix",
                         "trim_suffix", "trim_space"}),
    "file": frozenset({"path_join"}),
}
DEPRECATED: Dict[str, str] = {
    "env": "sys.env", "nonsensitive": "convert.nonsensitive", "concat": "array.concat",
    "json_decode": "encoding.from_json", "yaml_decode": "encoding.from_yaml",
    "base64_decode": "encoding.from_base64", "format": "string.format", "join": "string.join",
    "replace": "string.replace", "split": "string.split", "to_lower": "string.to_lower",
    "to_upper": "string.to_upper", "trim": "string.trim", "trim_prefix": "string.trim_prefix",
    "trim_suffix": "string.trim_suffix", "trim_space": "string.trim_space",
}
EXPERIMENTAL: FrozenSet[str] = frozenset({"array.combine_maps", "array.group_by"})


def _qualified(namespaces: Dict[str, FrozenSet[str]]) -> Iterable[str]:
    for namespace, members in namespaces.items():
        for member in members:
            yield f"{namespace}.{member}"


# Every stdlib name: top-level identifiers and namespace.member functions/values.
STDLIB: FrozenSet[str] = frozenset({"coalesce", "json_path", *NAMESPACES, *DEPRECATED, *_qualified(NAMESPACES)})
IDENTIFIERS: FrozenSet[str] = frozenset({"coalesce", "json_path", *NAMESPACES, *DEPRECATED})
