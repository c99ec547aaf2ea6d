# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loki, Prometheus, OTLP and Fleet Management endpoints as data: checks, secret extraction, Alloy shape.

An endpoint as users write it (see roles/alloy_config/meta/argument_specs.yml):
url, name, tenant_id (Loki), headers, remote_timeout, batch_size / batch_wait (Loki),
queue_config (Prometheus), one of basic_auth {username, password | password_file},
bearer_token, bearer_token_file, and tls {ca_file, ca_pem, cert_file, key_file,
insecure_skip_verify, server_name, min_version}; verify {backend, ready, ready_url,
query, query_url} is for alloy_verify only (module_utils/backends.py) and never rendered.
OTLP exporters (alloy_config_otlp_exporters) take url, name (required: it names the
components), protocol (http or grpc), signals, headers, timeout, compression, basic_auth
{username, password} and tls; they become an otelcol.exporter.otlphttp or .otlp with its
client block, and an otelcol.auth.basic for the credentials. The Fleet Management connection
(alloy_config_fleet_management_endpoint) takes url, basic_auth, bearer_token(_file) and tls and
becomes the HTTP client part of the remotecfg block. A scrape job of shared targets
(alloy_config_scrape_jobs; its rules are the rule book's, which shares auth_problem and
basic_auth_problem with the endpoints) takes the same auth and tls and becomes a
prometheus.scrape (scrape_job).

Secrets (basic_auth.password, bearer_token) never reach the configuration: they are
replaced by sys.env("FLEET_ALLOY_<KIND>_<n>_<FIELD>") and returned separately for the
env file. The environment variable names come from secret_env_name() only, so the
config and the env file always agree.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


from ansible_collections.fleet.alloy.plugins.module_utils.alloy_syntax import (
    env_ref, expr, is_identifier)
from ansible_collections.fleet.alloy.plugins.module_utils.backends import flavor_problems
from ansible_collections.fleet.alloy.plugins.module_utils.envfile import value_problem
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import has_credentials, shown

KINDS = ("loki", "prometheus", "otlp", "fleet", "scrape")
SIGNALS = ("traces", "metrics", "logs")
PROTOCOLS = {"http": "otelcol.exporter.otlphttp", "grpc": "otelcol.exporter.otlp"}
# The OTLP exporter's client block by protocol (alloy_schema.BLOCKS): otelcol.exporter.otlp has its
# timeout beside the client block, otelcol.exporter.otlphttp inside it.
CLIENT_BLOCKS = {"http": "otelcol.exporter.otlphttp client", "grpc": "otelcol.exporter.otlp client"}
# configcompression's types (the OpenTelemetry Collector, as Alloy builds it); "none" sends plain.
COMPRESSIONS = ("gzip", "zlib", "deflate", "snappy", "zstd", "lz4", "none")
# The authentication methods of an endpoint or a scrape job: at most one (auth_problem).
AUTH_KEYS = ("basic_auth", "bearer_token", "bearer_token_file")
# basic_auth's keys: the password comes from exactly one of its sources (basic_auth_problem).
PASSWORD_SOURCES = ("password", "password_file")
BASIC_AUTH_KEYS = ("username",) + PASSWORD_SOURCES
TLS_KEYS = ("ca_file", "ca_pem", "cert_file", "key_file", "insecure_skip_verify", "server_name",
            "min_version")
ATTRIBUTES = {
    "loki": ("url", "name", "tenant_id", "headers", "remote_timeout", "batch_size", "batch_wait"),
    "prometheus": ("url", "name", "headers", "remote_timeout"),
    "otlp": ("headers", "compression"),
    "fleet": ("url",),
    "scrape": ("metrics_path", "scheme", "scrape_interval", "scrape_timeout"),
}
MAPPINGS = ("basic_auth", "tls", "headers", "queue_config", "verify")
FLEET_KEYS = ("url", "basic_auth", "bearer_token", "bearer_token_file", "tls")
# Headers that carry credentials (RFC 9110 Authorization, proxies, cookies, API keys).
CREDENTIAL_HEADERS = frozenset(("authorization", "proxy-authorization", "cookie", "x-api-key", "api-key",
                                "x-auth-token", "private-token"))
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*\Z")
# Control characters (C0 and DEL): no one-line value holds one (the rule book's too).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def secret_env_name(kind, index, field):
    """The env file variable that carries one secret of one endpoint."""
    return "FLEET_ALLOY_%s_%d_%s" % (kind.upper(), index, field.upper())


def _present(endpoint, key):
    value = endpoint.get(key)
    return value not in (None, "", {}, [])


def auth_problem(entry):
    """The rule of endpoints and scrape jobs alike: one authentication method at most. What is
    wrong, worded to follow the entry's path, or None; it names keys only, never their secrets."""
    auth = [key for key in AUTH_KEYS if _present(entry, key)]
    if len(auth) > 1:
        return "sets %s: use only one authentication method" % " and ".join(auth)
    return None


def basic_auth_problem(basic):
    """The rule of a basic_auth given (of an endpoint or a scrape job): the password from exactly
    one of password and password_file (Alloy's username is optional). What is wrong, worded to
    follow the path of the basic_auth, or None; never the password."""
    if len([key for key in PASSWORD_SOURCES if basic.get(key)]) != 1:
        return "needs exactly one of password and password_file"
    return None


def _placed(path, problem):
    """[the problem of a shared rule after the path it concerns], or [] for None."""
    return ["%s %s" % (path, problem)] if problem else []


def endpoint_problems(endpoints, kind, varname):
    """Messages for every endpoint that cannot be rendered, naming the variable."""
    problems = []
    if not isinstance(endpoints, list):
        return ["%s must be a list of endpoints, got %s" % (varname, type(endpoints).__name__)]
    for index, endpoint in enumerate(endpoints):
        where = "%s[%d]" % (varname, index)
        if not isinstance(endpoint, dict):
            problems.append("%s must be a mapping with at least url" % where)
            continue
        problems.extend(_one_endpoint_problems(endpoint, kind, where))
    return problems + (_repeated_url_problems(endpoints, varname) if kind == "prometheus" else [])


def _repeated_url_problems(endpoints, varname):
    """remote_write endpoints on one URL (tenants of one Mimir) are told apart by their
    names only (Alloy's remote_name); Loki's by their tenant."""
    seen = {}
    for index, endpoint in enumerate(endpoints):
        if isinstance(endpoint, dict) and isinstance(endpoint.get("url"), str):
            seen.setdefault(endpoint["url"], []).append((index, endpoint.get("name")))
    problems = []
    for url, uses in sorted(seen.items()):
        names = [name for dummy_index, name in uses]
        if len(uses) > 1 and (None in names or "" in names or len(set(names)) < len(names)):
            problems.append("%s[%s] share the url %s: give each a distinct name" % (
                varname, ", ".join(str(i) for i, dummy_name in uses), shown(url)))
    return problems


def _one_endpoint_problems(endpoint, kind, where):
    problems = _shape_problems(endpoint, where)
    if problems:
        return problems
    problems = _url_problems(endpoint.get("url"), where)
    problems += _placed(where, auth_problem(endpoint))
    secrets = [("bearer_token", endpoint.get("bearer_token")),
               ("basic_auth.password", (endpoint.get("basic_auth") or {}).get("password"))]
    for key, value in secrets:
        if isinstance(value, str) and CONTROL.search(value):
            problems.append("%s.%s holds a line break or control character (a trailing newline from a vault "
                            "block scalar?): remove it" % (where, key))
        elif isinstance(value, str) and value_problem(value):
            problems.append("%s.%s: %s" % (where, key, value_problem(value)))
        elif isinstance(value, (bool, list, dict)):
            problems.append("%s.%s must be a string" % (where, key))
    basic = endpoint.get("basic_auth") or {}
    problems += _placed(where + ".basic_auth", basic_auth_problem(basic) if basic else None)
    problems.extend(_header_problems(endpoint.get("headers") or {}, where,
                                     "basic_auth" if kind == "otlp" else "basic_auth or bearer_token"))
    name = endpoint.get("name")
    if name and not is_identifier(str(name)):
        problems.append("%s.name must be an identifier (letters, digits, _), got %r" % (where, name))
    if kind != "loki" and (_present(endpoint, "tenant_id") or _present(endpoint, "batch_size")):
        problems.append("%s: tenant_id and batch_size are Loki options" % where)
    if kind != "prometheus" and _present(endpoint, "queue_config"):
        problems.append("%s: queue_config is a Prometheus option" % where)
    if kind == "otlp":
        return problems + _otlp_problems(endpoint, where)
    if kind == "fleet":
        return problems + ["%s.%s is not an option of the Fleet Management connection (%s)"
                           % (where, key, ", ".join(FLEET_KEYS))
                           for key in sorted(endpoint) if key not in FLEET_KEYS and _present(endpoint, key)]
    return problems + flavor_problems(kind, endpoint, where)


def _otlp_problems(endpoint, where):
    """What an OTLP exporter needs beyond an endpoint's common rules."""
    problems = []
    if not _present(endpoint, "name"):
        problems.append("%s.name is required: it names the exporter's components (an identifier)" % where)
    for key in ("bearer_token", "bearer_token_file", "verify"):
        if _present(endpoint, key):
            problems.append("%s.%s is not an option of an OTLP exporter (basic_auth, headers)" % (where, key))
    if (endpoint.get("basic_auth") or {}).get("password_file"):
        problems.append("%s.basic_auth.password_file: otelcol.auth.basic reads a password file only from Alloy "
                        "1.13 on (its client_auth block), which the role does not write yet: give password "
                        "(it reaches Alloy through the env file)" % where)
    protocol = endpoint.get("protocol", "http")
    if protocol not in PROTOCOLS:
        problems.append("%s.protocol must be http or grpc, got %r" % (where, protocol))
    elif protocol == "grpc" and isinstance(endpoint.get("url"), str) and \
            endpoint["url"].partition("://")[2].partition("/")[2]:
        problems.append("%s.url: a gRPC exporter dials host:port only, got a path (%s); the OTLP/HTTP exporter "
                        "(protocol http) takes a URL with a path" % (where, shown(endpoint["url"])))
    if _present(endpoint, "compression") and endpoint["compression"] not in COMPRESSIONS:
        problems.append("%s.compression must be one of %s, got %r"
                        % (where, ", ".join(COMPRESSIONS), endpoint["compression"]))
    signals = endpoint.get("signals", list(SIGNALS))
    if not isinstance(signals, list) or not signals or not set(signals) <= set(SIGNALS):
        problems.append("%s.signals must be a non-empty list of %s, got %r" % (where, ", ".join(SIGNALS), signals))
    return problems


def _shape_problems(endpoint, where):
    """The options that hold mappings must be mappings (else nothing else can be read)."""
    return ["%s.%s must be a mapping, got %s" % (where, key, type(endpoint[key]).__name__)
            for key in MAPPINGS if endpoint.get(key) is not None and not isinstance(endpoint[key], dict)]


def _url_problems(url, where):
    if has_credentials(url):
        return ["%s.url carries credentials (user:password@): put them in basic_auth or bearer_token, which "
                "reach Alloy through the env file only" % where]
    if not isinstance(url, str) or not _URL.match(url):
        return ["%s.url must be an http:// or https:// URL, got %r" % (where, url)]
    return []


def _header_problems(headers, where, auth):
    problems = []
    for header, value in headers.items():
        if not _HEADER_NAME.match(str(header)):
            problems.append("%s.headers: %r is not a valid HTTP header name" % (where, header))
        elif str(header).lower() in CREDENTIAL_HEADERS:
            problems.append("%s.headers.%s carries credentials, which would be written to the configuration "
                            "file: use %s (written to the env file only)" % (where, header, auth))
        elif not isinstance(value, str) or CONTROL.search(value):
            problems.append("%s.headers.%s must be a one-line string" % (where, header))
    return problems


def endpoint_secrets(endpoints, kind):
    """{ENV_NAME: secret} for every secret of every endpoint."""
    secrets = {}
    for index, endpoint in enumerate(endpoints or []):
        if endpoint.get("bearer_token"):
            secrets[secret_env_name(kind, index, "bearer_token")] = str(endpoint["bearer_token"])
        password = (endpoint.get("basic_auth") or {}).get("password")
        if password:
            secrets[secret_env_name(kind, index, "password")] = str(password)
    return secrets


def _attributes(endpoint, kind, index):
    attributes = {}
    for key in ATTRIBUTES[kind]:
        if _present(endpoint, key):
            attributes[key] = endpoint[key]
    if endpoint.get("bearer_token"):
        attributes["bearer_token"] = env_ref(secret_env_name(kind, index, "bearer_token"))
    if endpoint.get("bearer_token_file"):
        attributes["bearer_token_file"] = endpoint["bearer_token_file"]
    return attributes


def _blocks(endpoint, kind, index):
    blocks = {}
    basic = endpoint.get("basic_auth") or {}
    if basic:
        block = {"username": basic["username"]} if basic.get("username") else {}
        if basic.get("password"):
            block["password"] = env_ref(secret_env_name(kind, index, "password"))
        else:
            block["password_file"] = basic["password_file"]
        blocks["basic_auth"] = block
    tls = dict((key, value) for key, value in (endpoint.get("tls") or {}).items()
               if key in TLS_KEYS and value not in (None, ""))
    if tls:
        blocks["tls_config"] = tls
    queue = dict((key, value) for key, value in (endpoint.get("queue_config") or {}).items()
                 if value not in (None, ""))
    if kind == "prometheus" and queue:
        blocks["queue_config"] = queue
    return blocks


def alloy_endpoint(endpoint, kind, index):
    """{attributes: {...}, blocks: {name: {...}}} ready for the endpoint macro; for an OTLP
    exporter also name, component, signals and auth (otlp_exporter)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s" % ", ".join(KINDS))
    if kind == "otlp":
        return otlp_exporter(endpoint, index)
    if kind == "scrape":
        return scrape_job(endpoint, index)
    return {"attributes": _attributes(endpoint, kind, index), "blocks": _blocks(endpoint, kind, index)}


def otlp_exporter(endpoint, index):
    """An OTLP exporter: its component, its own attributes (gRPC's timeout), the attributes and
    tls block of its client, and the attributes of its otelcol.auth.basic (None without
    basic_auth). gRPC takes host:port; an http:// URL means a connection without TLS there
    (tls.insecure)."""
    protocol = endpoint.get("protocol", "http")
    name = str(endpoint["name"])
    tls = dict((key, value) for key, value in (endpoint.get("tls") or {}).items()
               if key in TLS_KEYS and value not in (None, ""))
    url = endpoint["url"]
    if protocol == "grpc":
        scheme, dummy, address = url.partition("://")
        url = address.rstrip("/")
        if scheme == "http":
            tls["insecure"] = True
    client = {"endpoint": url}
    client.update((key, endpoint[key]) for key in ATTRIBUTES["otlp"] if _present(endpoint, key))
    own = {}
    if _present(endpoint, "timeout"):
        (own if protocol == "grpc" else client)["timeout"] = endpoint["timeout"]
    auth = None
    basic = endpoint.get("basic_auth") or {}
    if basic:
        auth = {"username": basic.get("username", ""), "password": env_ref(secret_env_name("otlp", index, "password"))}
        client["auth"] = expr("otelcol.auth.basic.%s.handler" % name)
    return {"name": name, "component": PROTOCOLS[protocol], "signals": list(endpoint.get("signals", SIGNALS)),
            "own": own, "attributes": client, "blocks": {"tls": tls} if tls else {}, "auth": auth}


def scrape_label(name):
    """The label of the prometheus.scrape a scrape job becomes: job_ and the job's name with each
    character an identifier cannot hold replaced by _ (integrations/node -> job_integrations_node)."""
    return "job_" + re.sub(r"[^A-Za-z0-9_]", "_", str(name))


def scrape_job(job, index):
    """A scrape job as the rule book converted it (targets as label maps, labels, clustering) in
    the shape of its prometheus.scrape: its label, the job's name, its attributes (the targets
    with the job's labels, a target's own labels winning; the secret bearer_token as a sys.env
    reference), its blocks (basic_auth, tls_config) and clustering (auto, true or false: the
    template decides auto from the runtime's cluster)."""
    attributes = {"targets": [dict(job.get("labels") or {}, **target) for target in job["targets"]],
                  "job_name": str(job["name"])}
    attributes.update(_attributes(job, "scrape", index))
    return {"label": scrape_label(job["name"]), "name": str(job["name"]), "attributes": attributes,
            "blocks": _blocks(job, "scrape", index), "clustering": job.get("clustering", "auto")}
