"""TEST FIXTURE (stand-in for Grafana Alloy): the component schemas the stand-in knows.

A subset of Alloy's components (shared/docs/alloy-facts.md section 6 plus a few common
ones), each with its attributes (required or not), nested blocks and exports. The
stand-in's `validate` checks configurations against these, like `alloy validate` does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Tuple


@dataclass(frozen=True)
class Schema:
    required: FrozenSet[str] = frozenset()
    optional: FrozenSet[str] = frozenset()
    blocks: Dict[str, "Schema"] = field(default_factory=dict)
    exports: FrozenSet[str] = frozenset()
    # Components that push to a remote URL: the block holding it (their health never follows it).
    endpoint_block: str = ""

    @property
    def attributes(self) -> FrozenSet[str]:
        return self.required | self.optional


def _s(required: str = "", optional: str = "", blocks: Dict[str, Schema] | None = None,
       exports: str = "", endpoint_block: str = "") -> Schema:
    return Schema(frozenset(required.split()), frozenset(optional.split()), blocks or {},
                  frozenset(exports.split()), endpoint_block)


TLS = _s(optional="ca_file ca_pem cert_file cert_pem key_file key_pem insecure_skip_verify "
                  "server_name min_version")
BASIC_AUTH = _s(required="username", optional="password password_file")
AUTHORIZATION = _s(optional="type credentials credentials_file")
RULE = _s(optional="action source_labels separator regex target_label replacement modulus")
QUEUE = _s(optional="capacity max_shards min_shards max_samples_per_send batch_send_deadline "
                    "min_backoff max_backoff retry_on_http_429 sample_age_limit")
AUTH_BLOCKS = {"basic_auth": BASIC_AUTH, "authorization": AUTHORIZATION, "tls_config": TLS}

LOKI_ENDPOINT = _s(required="url", optional="name bearer_token bearer_token_file tenant_id headers "
                                            "batch_size batch_wait remote_timeout min_backoff_period "
                                            "max_backoff_period max_backoff_retries proxy_url "
                                            "retry_on_http_429 enable_http2 follow_redirects",
                   blocks=dict(AUTH_BLOCKS))
PROM_ENDPOINT = _s(required="url", optional="name bearer_token bearer_token_file headers remote_timeout "
                                            "send_exemplars send_native_histograms proxy_url "
                                            "enable_http2 follow_redirects",
                   blocks=dict(AUTH_BLOCKS, queue_config=QUEUE, write_relabel_config=RULE,
                               metadata_config=_s(optional="send send_interval max_samples_per_send")))

STAGES: Dict[str, Schema] = {
    "stage.static_labels": _s(required="values"),
    "stage.labels": _s(required="values"),
    "stage.label_drop": _s(optional="values"),
    "stage.label_keep": _s(optional="values"),
    "stage.json": _s(required="expressions", optional="source drop_malformed"),
    "stage.regex": _s(required="expression", optional="source"),
    "stage.drop": _s(optional="source separator expression value older_than longer_than "
                              "drop_counter_reason"),
    "stage.timestamp": _s(required="source format", optional="fallback_formats location action_on_failure"),
    "stage.output": _s(required="source"),
    "stage.template": _s(required="source template"),
    "stage.logfmt": _s(required="mapping", optional="source"),
    "stage.replace": _s(required="expression", optional="source replace"),
}
MATCH = _s(required="selector", optional="action pipeline_name drop_counter_reason", blocks=dict(STAGES))
STAGES["stage.match"] = MATCH

COMPONENTS: Dict[str, Schema] = {
    "loki.source.journal": _s(required="forward_to", optional="format_as_json labels matches max_age "
                                                              "path relabel_rules"),
    "loki.relabel": _s(required="forward_to", optional="max_cache_size", blocks={"rule": RULE},
                       exports="receiver rules"),
    "loki.process": _s(required="forward_to", blocks=dict(STAGES), exports="receiver"),
    "loki.write": _s(optional="external_labels max_streams", exports="receiver", endpoint_block="endpoint",
                     blocks={"endpoint": LOKI_ENDPOINT}),
    "loki.echo": _s(exports="receiver"),
    "loki.source.file": _s(required="targets forward_to", optional="encoding tail_from_end"),
    "local.file_match": _s(required="path_targets", optional="sync_period", exports="targets"),
    "local.file": _s(required="filename", optional="detector poll_frequency is_secret", exports="content"),
    "prometheus.exporter.unix": _s(optional="procfs_path sysfs_path rootfs_path udev_data_path "
                                            "enable_collectors disable_collectors set_collectors "
                                            "include_exporter_metrics",
                                   blocks={"filesystem": _s(optional="fs_types_exclude mount_points_exclude "
                                                                     "mount_timeout"),
                                           "netdev": _s(optional="device_include device_exclude"),
                                           "textfile": _s(optional="directory")},
                                   exports="targets"),
    "prometheus.exporter.self": _s(exports="targets"),
    "prometheus.scrape": _s(required="targets forward_to",
                            optional="job_name scrape_interval scrape_timeout metrics_path scheme "
                                     "honor_labels honor_timestamps params bearer_token "
                                     "enable_protobuf_negotiation extra_metrics",
                            blocks=dict(AUTH_BLOCKS)),
    "prometheus.relabel": _s(required="forward_to", optional="max_cache_size", blocks={"rule": RULE},
                             exports="receiver rules"),
    "prometheus.remote_write": _s(optional="external_labels", exports="receiver",
                                  endpoint_block="endpoint",
                                  blocks={"endpoint": PROM_ENDPOINT,
                                          "wal": _s(optional="truncate_frequency min_keepalive_time "
                                                             "max_keepalive_time")}),
    "discovery.relabel": _s(required="targets", blocks={"rule": RULE}, exports="output rules"),
}

# Configuration blocks: no label, at most once.
CONFIG_BLOCKS: Dict[str, Schema] = {
    "logging": _s(optional="level format write_to"),
    "livedebugging": _s(optional="enabled"),
    "http": _s(blocks={"tls": TLS}),
}

# The standard library the stand-in knows, and the deprecated names `validate` warns about.
STDLIB: FrozenSet[str] = frozenset("""
sys.env constants.hostname constants.os constants.arch constants.version coalesce json_path
array.concat array.combine_maps convert.nonsensitive encoding.from_json encoding.from_yaml
encoding.from_base64 encoding.to_json encoding.to_base64 encoding.url_encode encoding.url_decode
file.path_join string.format string.join string.replace string.split string.to_lower
string.to_upper string.trim string.trim_prefix string.trim_suffix string.trim_space
""".split())
DEPRECATED: Dict[str, str] = {
    "env": "sys.env", "nonsensitive": "convert.nonsensitive", "concat": "array.concat",
    "json_decode": "encoding.from_json", "format": "string.format", "join": "string.join",
    "replace": "string.replace", "split": "string.split", "to_lower": "string.to_lower",
    "to_upper": "string.to_upper", "trim": "string.trim", "trim_prefix": "string.trim_prefix",
    "trim_suffix": "string.trim_suffix", "trim_space": "string.trim_space",
}
