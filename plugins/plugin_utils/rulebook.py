# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule book: every variable of the roles and of the fleet plays, its rule, checked on
the controller before anything on a host changes (action plugin fleet.alloy.alloy_preflight).

A rule takes the value as it arrived (inventory, extra vars, an AWX survey, a template) and
returns it converted to what the role renders (booleans from survey strings, ints from
digit strings, numbers to strings where Alloy wants a string), or raises Problem with what
was expected. Patterns match the whole string (no trailing line break slips through).
Mapping keys users write into Alloy blocks are checked against the attributes Alloy has
there (alloy_schema.py, read from Alloy's source). Messages name the variable, say what was
expected and never quote a value the rule marks secret, nor a URL that carries credentials.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re
from urllib.parse import urlsplit

from ansible_collections.fleet.alloy.plugins.module_utils.alloy_endpoints import (
    AUTH_KEYS, BASIC_AUTH_KEYS, CLIENT_BLOCKS, CONTROL, TLS_KEYS, auth_problem, basic_auth_problem, endpoint_problems,
    scrape_label)
from ansible_collections.fleet.alloy.plugins.module_utils.alloy_syntax import EXPR_KEY
from ansible_collections.fleet.alloy.plugins.module_utils.envfile import value_problem
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import has_credentials
from ansible_collections.fleet.alloy.plugins.plugin_utils import cluster, packages, runtime
from ansible_collections.fleet.alloy.plugins.plugin_utils.openpgp import OpenPGPError, fingerprints
from ansible_collections.fleet.alloy.plugins.plugin_utils.alloy_schema import BLOCKS, STAGES

_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))
# Go's time.ParseDuration, which Alloy's duration attributes use.
_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+|[-+]?0")
VERSION = r"[0-9]+\.[0-9]+\.[0-9]+(?:-rc\.?[0-9]+)?"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"            # env variables, label names, identifiers
UNIX_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*\$?"    # users and groups (shadow-utils' rule)
DOCKER_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"   # containers, volumes, networks, services
FLAG = r"--[a-z0-9.-]+(?:=[^\s]+)?"
# [registry[:port]/]repository (lowercase)[:tag][@digest], as Docker's reference grammar has it.
IMAGE = (r"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
         r"(?:@sha256:[0-9a-f]{64})?")
FINGERPRINT = r"[0-9A-F]{40}|[0-9A-F]{64}"
PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
LISTEN = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):" + PORT
LISTEN_DOC = "host:port or [ipv6]:port with a port from 1 to 65535"
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")   # RFC 3986


class Problem(ValueError):
    """A value that breaks its rule; str() is what was expected, without the value."""


class Rule(object):
    """check(value) -> converted value; doc: the rule in words (docs/variables.md)."""

    def __init__(self, check, doc, secret=False):
        self.check = check
        self.doc = doc
        self.secret = secret


def _type_name(value):
    """In words; isinstance, because Ansible hands over its own subclasses of str, int, dict..."""
    for kind, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "a list"),
                       (dict, "a mapping"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _string(value, what):
    """value as a string: strings, and numbers (YAML reads 1.10 or 2 as numbers)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise Problem("%s, got %s%s" % (what, _type_name(value),
                                        " (quote it: YAML reads yes/no/true/false as booleans)"
                                        if isinstance(value, bool) else ""))
    if isinstance(value, float) and not math.isfinite(value):
        raise Problem("%s, got %s" % (what, value))
    return value if isinstance(value, str) else str(value)


def text(pattern=None, doc="a string", empty=False, multiline=False, secret=False):
    """A string matching pattern as a whole; no control characters unless multiline."""
    compiled = re.compile(pattern) if pattern else None

    def check(value):
        value = _string(value, "expected " + doc)
        if value == "" and empty:
            return value
        if not multiline and CONTROL.search(value):
            raise Problem("expected %s on one line, without control characters" % doc)
        if multiline and "\0" in value:
            raise Problem("expected %s without NUL characters" % doc)
        if compiled is not None and not compiled.fullmatch(value):
            raise Problem("expected " + doc)
        return value
    return Rule(check, doc + (" or empty" if empty else ""), secret)


def boolean():
    def check(value):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise Problem("expected a boolean (true/false; yes/no, on/off, 1/0 as strings)")
    return Rule(check, "a boolean; the strings true/false, yes/no, on/off, 1/0 (survey answers) are converted")


def integer(low, high=None):
    def check(value):
        if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise Problem("expected a whole number from %d%s" % (low, " to %d" % high if high is not None else " up"))
        return value
    return Rule(check, "a whole number from %d%s (digit strings are converted)" % (
        low, " to %d" % high if high is not None else " up"))


def choice(*choices):
    def check(value):
        if isinstance(value, bool) and ("no" if value is False else "yes") in choices:
            return "no" if value is False else "yes"   # restart: no arrives as false from YAML
        if not isinstance(value, str) or value not in choices:
            raise Problem("expected one of %s" % ", ".join(choices))
        return value
    return Rule(check, "one of " + ", ".join(choices))


def path(empty=False, root=True):
    """No blanks: systemd splits the unit's unquoted $CONFIG_FILE, apt its Signed-By: on them."""
    if root:
        return text(r"/[^\s]*", "an absolute path without blanks", empty)
    return text(r"/[^\s]+", "an absolute path other than /, without blanks", empty)


def duration():
    return text(_DURATION.pattern, "an Alloy duration such as 30s, 5m or 1h30m")


def url(schemes=("http", "https"), empty=False, where="", hint=""):
    """A URL without credentials in it (they would land in files and logs)."""
    doc = "a URL (%s)" % " or ".join(scheme + "://" for scheme in schemes)
    base = text(None, doc, empty)

    def check(value):
        if has_credentials(value):
            raise Problem("the URL carries credentials (user:password@), which would be written to files "
                          "readable on the host and shown in logs; %s" % (where or "remove them"))
        value = base.check(value)
        if value == "":
            return value
        if not _URL_CHARS.fullmatch(value):
            raise Problem("expected %s made of the characters URLs may hold (no blanks, quotes or backslashes)" % doc)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise Problem("expected " + doc + (" (%s)" % hint if hint else ""))
        try:
            parts.port
        except ValueError:
            raise Problem("expected %s with a port from 1 to 65535" % doc)
        return value
    return Rule(check, doc + ", without credentials" + (", or empty" if empty else ""))


def list_of(rule, nonempty=False, doc=None):
    full = doc or ("a %slist of %s" % ("non-empty " if nonempty else "", rule.doc))

    def check(value):
        if not isinstance(value, list) or (nonempty and not value):
            shown = _type_name(value) if value != [] else "[]"
            raise Problem("expected %s, got %s" % (full, shown))
        return [_at("[%d]" % index, rule, item) for index, item in enumerate(value)]
    return Rule(check, full, rule.secret)


def mapping(key_rule, value_rule, doc=None):
    def check(value):
        if not isinstance(value, dict):
            raise Problem("expected a mapping of %s to %s, got %s" % (key_rule.doc, value_rule.doc, _type_name(value)))
        out = {}
        for key, item in value.items():
            name = _at("", key_rule, key, "a key: ")
            out[name] = _at("." + str(name) if _plain(name) else "[%s]" % _show(name), value_rule, item)
        return out
    return Rule(check, doc or "a mapping of %s to %s" % (key_rule.doc, value_rule.doc), value_rule.secret)


def _plain(name):
    return isinstance(name, str) and re.fullmatch(NAME, name) is not None


def _show(value):
    shown = repr(value)
    return shown if len(shown) <= 160 else shown[:157] + "..."


class _Nested(Problem):
    """A problem inside a list or mapping: where (".key[2]") + what."""

    def __init__(self, where, what):
        Problem.__init__(self, what)
        self.where = where
        self.what = what


def _at(where, rule, value, prefix=""):
    try:
        return rule.check(value)
    except _Nested as err:
        raise _Nested(where + err.where, err.what)
    except Problem as err:
        shown = "" if rule.secret or "credentials" in str(err) else ", got " + _show(value)
        message = str(err) if ", got " in str(err) else str(err) + shown
        raise _Nested(where, prefix + message)


# ---------------------------------------------------------------- Alloy blocks

_STRINGISH = ("string", "text", "object", "opaque")


def _alloy_value(alloy_type):
    """The rule of one attribute of an Alloy block, by its Alloy type."""
    if alloy_type in _STRINGISH:
        return text(None, "a string (Alloy %s)" % alloy_type, empty=True, multiline=True)
    if alloy_type == "duration":
        return duration()
    if alloy_type == "bool":
        return boolean()
    if alloy_type in ("int", "uint32", "uint64"):
        return integer(0)
    if alloy_type == "list(string)":
        return list_of(text(None, "a string", empty=True))
    if alloy_type == "map(string,string)":
        return mapping(text(None, "a string", multiline=True), text(None, "a string", empty=True, multiline=True))
    return _unsettable(alloy_type)


def _unsettable(alloy_type):
    """Secrets and types the roles do not write: refused without showing the value (a key_pem)."""
    def check(value):
        raise Problem("an attribute of Alloy type %s cannot be set from a variable%s" % (
            alloy_type, " (a secret would be written to the configuration file: give a file path, such as "
                        "key_file)" if alloy_type == "secret" else ""))
    return Rule(check, "not settable (Alloy type %s)" % alloy_type, secret=True)


def _settable(attributes):
    return sorted(key for key, kind in attributes.items() if not _alloy_value(kind).secret)


def alloy_block(name):
    """A mapping of the attributes Alloy has in block `name` (alloy_schema.BLOCKS)."""
    attributes = BLOCKS[name]

    def check(value):
        if not isinstance(value, dict):
            raise Problem("expected a mapping of %s attributes, got %s" % (name, _type_name(value)))
        out = {}
        for key, item in value.items():
            if key not in attributes:
                raise _Nested("", "%s is not an attribute of %s (Alloy has %s)" % (
                    _show(key), name, ", ".join(sorted(attributes))))
            if isinstance(item, dict) and set(item) == {EXPR_KEY}:
                out[key] = item     # an expression made with fleet.alloy.alloy_expr
            elif item is not None:
                out[key] = _at("." + key, _alloy_value(attributes[key]), item)
        return out
    return Rule(check, "a mapping of %s attributes (%s)" % (name, ", ".join(_settable(attributes))))


def stages():
    blocks = dict((kind, alloy_block("loki.process stage." + kind)) for kind in STAGES)

    def check(value):
        if not isinstance(value, dict) or len(value) != 1:
            raise Problem("expected a mapping with one key, the stage type (one of %s)" % ", ".join(STAGES))
        kind, body = list(value.items())[0]
        if kind not in blocks:
            raise Problem("unknown stage type %s (one of %s)" % (_show(kind), ", ".join(STAGES)))
        return {kind: _at("." + kind, blocks[kind], body or {})}
    return list_of(Rule(check, "one-key mappings, stage type => its attributes"),
                   doc="a list of loki.process stages, each {type: attributes} with type one of %s and the "
                       "attributes Alloy has in that stage" % ", ".join(STAGES))


def _glob(doc, empty=False):
    """An absolute doublestar glob whose [ and { are closed: Alloy accepts an unclosed one and
    then logs an error every sync period, reading nothing."""
    base = text(r"/.*", doc, empty)

    def check(value):
        value = base.check(value)
        plain = re.sub(r"\\.", "", value)
        if plain.count("{") != plain.count("}") or re.search(r"\[(?![^\]]+\])", plain):
            raise Problem("expected %s with every [ and { closed" % doc)
        return value
    return Rule(check, base.doc)


def log_files():
    """alloy_config_log_files: path globs, one exclusion glob and labels per entry."""
    fields = {
        "paths": list_of(_glob("an absolute path or glob such as /var/log/nginx/*.log"), nonempty=True,
                         doc="a non-empty list of absolute path globs such as /var/log/nginx/*.log"),
        "exclude": _glob("an absolute glob such as /var/log/nginx/*.gz ({a,b} for alternatives)", True),
        "labels": mapping(text(r"(?!__|filename\Z)" + NAME,
                               "a label name ([A-Za-z_][A-Za-z0-9_]*) other than filename, which Alloy sets, and not "
                               "starting with __, which Alloy drops"),
                          text(None, "a string", empty=True)),
    }

    def check(value):
        if not isinstance(value, dict):
            raise Problem("expected a mapping with paths and optionally exclude and labels, got %s" % _type_name(value))
        unknown = sorted(set(value) - set(fields), key=str)
        if unknown:
            raise _Nested("", "%s is not a key of a log file entry (paths, exclude, labels)" % _show(unknown[0]))
        if "paths" not in value:
            raise _Nested("", "paths is required: a non-empty list of absolute path globs")
        out = {"exclude": "", "labels": {}}
        for key, item in value.items():
            out[key] = _at("." + key, fields[key], item)
        return out
    return list_of(Rule(check, "entries {paths, exclude, labels}"),
                   doc="a list of log file entries: paths (a non-empty list of absolute path globs, ** for any "
                       "depth), exclude (one absolute glob, {a,b} for alternatives) and labels (a mapping of label "
                       "names to strings)")


def package_location():
    """Where the controller takes Alloy's packages: its own directory or a URL it reaches."""
    doc = "an absolute directory on the controller or an http(s):// URL of a directory"
    directory, address = text(r"/.*", doc), url()

    def check(value):
        value = _string(value, "expected " + doc)
        if has_credentials(value):
            raise Problem("the URL carries credentials (user:password@), which would be shown in logs; give the "
                          "controller credentials another way (its ~/.netrc)")
        if value.startswith("/"):
            return directory.check(value)
        if "://" in value:
            return address.check(value)
        raise Problem("expected " + doc)
    return Rule(check, doc)


def sha256_list():
    """alloy_install_package_checksums: a SHA256SUMS file's lines, or file name -> SHA256."""
    def check(value):
        try:
            return packages.checksum_map(value)
        except ValueError as err:
            if isinstance(value, (str, dict)):
                raise Problem("expected %s; %s" % (packages.SUMS_DOC, err))
            raise Problem("expected %s, got %s" % (packages.SUMS_DOC, _type_name(value)))
    return Rule(check, packages.SUMS_DOC)


def batches():
    """Batches of a rolling play: a list of host counts and percentages, or "1,25%,100%"."""
    item = Rule(_batch, "a host count or a percentage such as 25%")

    def check(value):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        return list_of(item, nonempty=True).check(value)
    return Rule(check, 'a list of host counts and percentages, or the same as one string such as "1,25%,100%"')


def _batch(value):
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}%", value.strip()) and 0 < int(value.strip()[:-1]) <= 100:
        return value.strip()
    return integer(1).check(value)


class _Full(Problem):
    """Problems already worded in full (they name the variable)."""

    def __init__(self, messages):
        Problem.__init__(self, "; ".join(messages))
        self.messages = messages


_QUEUE = alloy_block("prometheus.remote_write queue_config")


_COMPONENT = {"loki": "loki.write endpoint", "prometheus": "prometheus.remote_write endpoint"}
_CHECKED_ELSEWHERE = ("url", "name", "headers", "bearer_token", "compression")   # endpoint_problems has their rules


def _endpoint_schemas(kind, endpoint):
    """(the attributes of the block an endpoint becomes, those of its TLS block)."""
    if kind == "fleet":
        return BLOCKS["remotecfg"], BLOCKS["tls_config"]
    if kind != "otlp":
        return BLOCKS[_COMPONENT[kind]], BLOCKS["tls_config"]
    client = dict(BLOCKS[CLIENT_BLOCKS[endpoint.get("protocol", "http")]])
    client["timeout"] = "duration"      # gRPC's is the exporter's own attribute: the same rule
    return client, BLOCKS["otelcol client tls"]


def _typed(values, schema, keys, where):
    """values with the keys given converted by their Alloy type (schema: name -> type)."""
    out = dict(values)
    for key in keys:
        if values.get(key) not in (None, ""):
            out[key] = _at(where + "." + key, _alloy_value(schema[key]), values[key])
    return out


def convert_endpoints(value, kind, varname):
    """(endpoints with their Alloy attributes, tls and queue_config converted by type, problems)."""
    problems = endpoint_problems(value, kind, varname)
    if problems:
        return value, problems
    out = []
    for index, endpoint in enumerate(value):
        where = "%s[%d]" % (varname, index)
        schema, tls = _endpoint_schemas(kind, endpoint)
        try:
            endpoint = _typed(endpoint, schema, [k for k in schema if k in endpoint and k not in _CHECKED_ELSEWHERE], "")
            if endpoint.get("queue_config"):
                endpoint = dict(endpoint, queue_config=_at(".queue_config", _QUEUE, endpoint["queue_config"]))
            if endpoint.get("tls"):
                endpoint = dict(endpoint, tls=_typed(endpoint["tls"], tls, [k for k in endpoint["tls"] if k in tls],
                                                     ".tls"))
        except _Nested as err:
            problems.append("%s%s: %s" % (where, err.where, err.what))
        out.append(endpoint)
    return out, problems


def endpoints(kind):
    """Loki or Prometheus endpoints (module_utils/alloy_endpoints.py has their rules)."""
    def check_named(value, varname):
        converted, problems = convert_endpoints(value, kind, varname)
        if problems:
            raise _Full(problems)
        return converted
    rule = Rule(None, "a list of %s %s (url, name, auth, tls ... as the role documents them; credentials only "
                      "in %s)" % (kind, "exporters" if kind == "otlp" else "endpoints",
                                  "basic_auth" if kind == "otlp" else "basic_auth or bearer_token"), secret=True)
    rule.check_named = check_named
    return rule


def fleet_endpoint():
    """alloy_config_fleet_management_endpoint: the connection of the remotecfg block, one endpoint
    ({} turns Fleet Management off); module_utils/alloy_endpoints.py has its rules."""
    def check_named(value, varname):
        if value in (None, "", {}):
            return {}
        converted, problems = convert_endpoints([value], "fleet", varname)
        if problems:
            raise _Full([problem.replace(varname + "[0]", varname, 1) for problem in problems])
        return converted[0]
    rule = Rule(None, "{} (off), or the connection to Fleet Management: url, then basic_auth {username, password "
                      "or password_file}, bearer_token or bearer_token_file, and tls", secret=True)
    rule.check_named = check_named
    return rule


def poll_frequency():
    """remotecfg's poll_frequency: Alloy refuses less than 10s ("poll_frequency must be at least "10s"")."""
    base = duration()

    def check(value):
        value = base.check(value)
        if _seconds(value) < 10:
            raise Problem('expected an Alloy duration of at least 10s (Alloy refuses less: poll_frequency must be '
                          'at least "10s")')
        return value
    return Rule(check, "an Alloy duration of at least 10s, such as 1m")


# ------------------------------------------------------------- scrape jobs of shared targets

# prometheus.scrape's defaults (Arguments.SetToDefault in internal/component/prometheus/scrape/scrape.go).
SCRAPE_DEFAULTS = {"scrape_interval": "60s", "scrape_timeout": "10s"}
SCRAPE_KEYS = ("name", "targets", "labels", "metrics_path", "scheme", "scrape_interval", "scrape_timeout",
               "tls") + AUTH_KEYS + ("clustering",)
JOB_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*"
ADDRESS = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.-]*):" + PORT
ADDRESS_DOC = "host:port or [ipv6]:port (no scheme, no path)"


def positive_duration():
    base = duration()

    def check(value):
        value = base.check(value)
        if _seconds(value) <= 0:
            raise Problem("expected an Alloy duration greater than zero, such as 30s")
        return value
    return Rule(check, "an Alloy duration greater than zero, such as 30s")


def _scrape_target():
    """One target: "host:port", or a mapping of labels with __address__ (converted to the mapping)."""
    plain = text(ADDRESS, ADDRESS_DOC)

    def checked_address(value):   # never quote a target that carries credentials
        if isinstance(value, str) and "@" in value:
            raise Problem("the target carries credentials (user:password@), which would be written to files "
                          "readable on the host and shown in logs; give them as the job's basic_auth")
        return plain.check(value)
    address = Rule(checked_address, ADDRESS_DOC)
    name_doc = "a label name ([A-Za-z_][A-Za-z0-9_]*) other than job (the entry's name is the job)"
    labels = mapping(text(r"(?!job\Z)" + NAME, name_doc), text(None, "a string", empty=True))

    def check(value):
        if not isinstance(value, dict):
            return {"__address__": address.check(value)}
        out = labels.check(value)
        if "__address__" not in out:
            raise Problem("expected __address__ (%s) among the target's labels" % ADDRESS_DOC)
        out["__address__"] = _at(".__address__", address, out["__address__"])
        return out
    return Rule(check, 'a "host:port" string, or a mapping of label names to strings with __address__')


def _tls_options():
    """The tls of a scrape job: the endpoints' keys (TLS_KEYS), typed as Alloy's tls_config has them,
    with TLSConfig.Validate's pairs (internal/component/common/config/types.go)."""
    schema = BLOCKS["tls_config"]

    def check(value):
        if not isinstance(value, dict):
            raise Problem("expected a mapping of %s, got %s" % (", ".join(TLS_KEYS), _type_name(value)))
        unknown = sorted((key for key in value if key not in TLS_KEYS), key=str)
        if unknown:
            raise _Nested("", "%s is not a tls option (%s)" % (_show(unknown[0]), ", ".join(TLS_KEYS)))
        out = dict((key, _at("." + key, _alloy_value(schema[key]), item)) for key, item in value.items()
                   if item not in (None, ""))
        if out.get("ca_pem") and out.get("ca_file"):
            raise _Nested("", "sets ca_pem and ca_file: Alloy takes at most one")
        if bool(out.get("cert_file")) != bool(out.get("key_file")):
            raise _Nested("", "cert_file and key_file go together (a client certificate and its key)")
        return out
    return Rule(check, "a mapping of " + ", ".join(TLS_KEYS))


def _refuse(problem):
    """Raise the problem of a rule shared with the endpoints (module_utils/alloy_endpoints.py), if any."""
    if problem:
        raise _Nested("", problem)


def _basic_auth():
    """{username, password | password_file} (BASIC_AUTH_KEYS): its values typed, then the endpoints' own
    rule (alloy_endpoints.basic_auth_problem); the password reaches Alloy through the env file only."""
    fields = {"username": text(None, "a user name", empty=True), "password": env_value(), "password_file": path()}

    def check(value):
        if not isinstance(value, dict):
            raise Problem("expected a mapping of username and password or password_file, got %s" % _type_name(value))
        unknown = sorted((key for key in value if key not in fields), key=str)
        if unknown:
            raise _Nested("", "%s is not a key of basic_auth (%s)" % (_show(unknown[0]), ", ".join(BASIC_AUTH_KEYS)))
        out = dict((key, _at("." + key, fields[key], item)) for key, item in value.items() if item not in (None, ""))
        _refuse(basic_auth_problem(out))
        return out
    return Rule(check, "{username, password or password_file}")


def _clustering():
    flag = boolean()

    def check(value):
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            return flag.check(value)
        except Problem:
            raise Problem("expected auto (clustered when this host's Alloy runs in a cluster), or a boolean")
    return Rule(check, "auto, or a boolean")


def _scrape_fields():
    """The rule of each key of a scrape job (a function: env_value is defined with the tables)."""
    return {
        "name": text(JOB_NAME, "a job name (letters, digits, _, ., :, / and -)"),
        "targets": list_of(_scrape_target(), nonempty=True,
                           doc='a non-empty list of "host:port" strings or mappings of labels with __address__'),
        "labels": mapping(text(r"(?!__|job\Z)" + NAME,
                               "a label name ([A-Za-z_][A-Za-z0-9_]*) other than job (the entry's name is the job) and "
                               "not starting with __"), text(None, "a string", empty=True)),
        "metrics_path": text(r"/[^\s?#]*", "an absolute URL path such as /metrics"),
        "scheme": choice("http", "https"),
        "scrape_interval": positive_duration(),
        "scrape_timeout": positive_duration(),
        "tls": _tls_options(),
        "basic_auth": _basic_auth(),
        "bearer_token": env_value(),
        "bearer_token_file": path(root=False),
        "clustering": _clustering(),
    }


def _scrape_job(job, fields):
    """One entry of alloy_config_scrape_jobs, converted (targets as label maps, labels and clustering
    filled in); _Nested for its first problem."""
    if not isinstance(job, dict):
        raise _Nested("", "expected a mapping with name and targets, got %s" % _type_name(job))
    unknown = sorted((key for key in job if key not in SCRAPE_KEYS), key=str)
    if unknown:
        raise _Nested("", "%s is not a key of a scrape job (%s)" % (_show(unknown[0]), ", ".join(SCRAPE_KEYS)))
    for key in ("name", "targets"):
        if job.get(key) in (None, ""):
            raise _Nested("", "%s is required" % key)
    out = {"labels": {}, "clustering": "auto"}
    for key, item in job.items():
        if item not in (None, "", {}) or key in ("name", "targets"):
            out[key] = _at("." + key, fields[key], item)
    _refuse(auth_problem(out))
    # Arguments.Validate, which Alloy runs when it loads the component (not `alloy validate`): at a
    # restart, the refused component would stop Alloy's start.
    interval, timeout = (out.get(key, SCRAPE_DEFAULTS[key]) for key in ("scrape_interval", "scrape_timeout"))
    if _seconds(timeout) > _seconds(interval):
        raise _Nested("", "scrape_timeout (%s%s) is greater than scrape_interval (%s%s), which Alloy refuses: "
                          "set scrape_timeout to at most the interval" % (
                              timeout, "" if "scrape_timeout" in out else ", Alloy's default",
                              interval, "" if "scrape_interval" in out else ", Alloy's default"))
    return out


def convert_scrape_jobs(value, kind="scrape", varname="alloy_config_scrape_jobs"):
    """(scrape jobs converted, problems): every entry's first problem, then names given twice or
    making one component label (module_utils/alloy_endpoints.scrape_label)."""
    del kind
    if not isinstance(value, list):
        return value, ["%s: expected a list of scrape jobs (name, targets ...), got %s" % (varname, _type_name(value))]
    out, problems, fields = [], [], _scrape_fields()
    for index, job in enumerate(value):
        try:
            out.append(_scrape_job(job, fields))
        except _Nested as err:
            problems.append("%s[%d]%s: %s" % (varname, index, err.where, err.what))
    seen = {}
    for job in out:
        seen.setdefault(scrape_label(job["name"]), []).append(str(job["name"]))
    for label, names in sorted(seen.items()):
        if len(names) > 1:
            problems.append("%s: %s" % (varname, "the name %s is given %d times" % (names[0], len(names))
                                        if len(set(names)) == 1 else
                                        "the names %s make one component, prometheus.scrape.%s: rename all but one"
                                        % (" and ".join(sorted(set(names))), label)))
    return out, problems


def scrape_jobs():
    """alloy_config_scrape_jobs: prometheus.scrape components of shared targets, clustered when
    the host's Alloy is (secret: the credentials are in it; the role reads it through the
    fleet.alloy.alloy_endpoints filter, kind scrape)."""
    def check_named(value, varname):
        converted, problems = convert_scrape_jobs(value, "scrape", varname)
        if problems:
            raise _Full(problems)
        return converted
    rule = Rule(None, 'a list of scrape jobs: name (unique; the job label), targets ("host:port" strings or label '
                      'mappings with __address__), labels, metrics_path, scheme (http, https), scrape_interval and '
                      'scrape_timeout (durations, the timeout not above the interval), tls, one of basic_auth, '
                      'bearer_token (both through the env file) or bearer_token_file, and clustering (auto, true or '
                      'false)', secret=True)
    rule.check_named = check_named
    return rule


def openpgp_key():
    """Inline key material: parsed here, so a bad key is named before anything is fetched."""
    base = text(None, "an ASCII-armored OpenPGP public key", True, multiline=True)

    def check(value):
        value = base.check(value)
        if value:
            try:
                fingerprints(value)
            except OpenPGPError as err:
                raise Problem("expected an ASCII-armored OpenPGP public key (%s)" % err)
        return value
    return Rule(check, base.doc)


def expression_or_text(doc):
    def check(value):
        if isinstance(value, dict) and set(value) == {EXPR_KEY}:
            return value
        return text(None, doc).check(value)
    return Rule(check, doc + ", or an expression made with fleet.alloy.alloy_expr")


# ------------------------------------------------------------------------ the tables

def env_value():
    """A value of the env file: what every one of its readers reads back exactly."""
    base = text(r"[^\n\r]*", "a string or number without line breaks", empty=True, multiline=True, secret=True)

    def check(value):
        value = base.check(value)
        problem = value_problem(value)
        if problem:
            raise Problem(problem)
        return value
    return Rule(check, base.doc, secret=True)


SECRET_ENV = mapping(text(NAME, "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"), env_value(),
                     doc="a mapping of environment variable names to one-line values (secrets: written "
                         "only to the env file, mode 0640)")
LABELS = mapping(text(NAME, "a label name ([A-Za-z_][A-Za-z0-9_]*)"), text(None, "a string", empty=True))
REPOSITORY_URL_HELP = ("mirror credentials are not supported in URLs: let the mirror trust the hosts by "
                       "address or network")
LOCAL_KEY_HELP = "a local key file goes in alloy_install_key_content, e.g. with lookup('file', ...)"
KEY_URL_HELP = REPOSITORY_URL_HELP + "; " + LOCAL_KEY_HELP


CLIENT_AUTH_TYPES = ("NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven",
                     "RequireAndVerifyClientCert")   # Alloy's http tls client_auth_type (internal/service/http/tls.go)


def cluster_tls():
    """<role>_cluster_tls: {} (off), or the files of TLS between the members (paths on the host:
    --cluster.tls-*-path and the http block's tls), the name their certificates carry, and
    whether Alloy asks clients for certificates."""
    files = path(root=False)
    fields = {"ca_file": files, "cert_file": files, "key_file": files,
              "server_name": text(r"[A-Za-z0-9][A-Za-z0-9.:-]*|\[[0-9A-Fa-f:.]+\]",
                                  "a DNS name or IP address that every member's certificate carries", True),
              "client_auth_type": Rule(lambda value: value if value == "" else choice(*CLIENT_AUTH_TYPES).check(value),
                                       "one of " + ", ".join(CLIENT_AUTH_TYPES) + " or empty")}
    required = ("ca_file", "cert_file", "key_file")
    doc = ("{} (off), or a mapping of ca_file, cert_file, key_file (absolute paths on the host) and optionally "
           "server_name and client_auth_type (%s)" % ", ".join(CLIENT_AUTH_TYPES))

    def check(value):
        if value in (None, {}):
            return {}
        if not isinstance(value, dict):
            raise Problem("expected %s, got %s" % (doc, _type_name(value)))
        unknown = sorted((key for key in value if key not in fields), key=str)
        if unknown:
            raise _Nested("", "unknown key %s (the keys are %s)" % (_show(unknown[0]), ", ".join(fields)))
        missing = [key for key in required if value.get(key) in (None, "")]
        if missing:
            raise _Nested("", "%s %s required: the CA that signed the members' certificates, this member's "
                              "certificate and its key" % (" and ".join(missing), "is" if len(missing) == 1 else "are"))
        out = {"server_name": "", "client_auth_type": ""}
        for key, item in value.items():
            out[key] = _at("." + key, fields[key], "" if item is None else item)
        return out
    return Rule(check, doc)


def cluster_rules(role):
    """The clustering variables of a runtime role (alloy_install, alloy_docker): the same rules
    for both (plugin_utils/cluster.py turns them into the --cluster.* flags)."""
    return {
        role + "_cluster_enabled": boolean(),
        role + "_cluster_group": text(r"[A-Za-z_][A-Za-z0-9_-]*", "an inventory group name", True),
        role + "_cluster_name": text(r"[A-Za-z0-9_.-]+", "a cluster name (letters, digits, _, . and -)", True),
        role + "_cluster_advertise_address": text(LISTEN, LISTEN_DOC, True),
        role + "_cluster_wait_for_size": integer(0),
        role + "_cluster_wait_timeout": duration(),
        role + "_cluster_tls": cluster_tls(),
    }


RULES = {
    "alloy_install": {
        "alloy_install_state": choice("present", "absent"),
        "alloy_install_version": text(VERSION, "a version such as 1.10.0 (no v prefix, no package release)", True),
        "alloy_install_package_release": text(r"[0-9A-Za-z.+~]+", "a package release such as 1"),
        "alloy_install_hold": boolean(),
        "alloy_install_apt_url": url(where=REPOSITORY_URL_HELP),
        "alloy_install_apt_suite": choice("stable", "beta"),
        "alloy_install_apt_components": list_of(text(r"[A-Za-z0-9][A-Za-z0-9._/-]*", "a component such as main"),
                                                nonempty=True),
        "alloy_install_apt_architectures": list_of(text(r"[a-z0-9][a-z0-9-]*", "a Debian architecture such as amd64")),
        "alloy_install_apt_key_url": url(empty=True, where=KEY_URL_HELP, hint=LOCAL_KEY_HELP),
        "alloy_install_apt_keyring": path(),
        "alloy_install_rpm_url": url(where=REPOSITORY_URL_HELP),
        "alloy_install_rpm_key_url": url(empty=True, where=KEY_URL_HELP, hint=LOCAL_KEY_HELP),
        "alloy_install_rpm_key_file": path(),
        "alloy_install_rpm_sslverify": boolean(),
        "alloy_install_rpm_sslcacert": path(),
        "alloy_install_key_content": openpgp_key(),
        "alloy_install_key_fingerprints": list_of(
            Rule(lambda value: text(FINGERPRINT, "a 40 or 64 hex digit fingerprint").check(
                re.sub(r"\s+", "", _string(value, "expected a fingerprint")).upper()),
                "a 40 or 64 hex digit fingerprint (spaces allowed, any case)"), nonempty=True,
            doc="a non-empty list of 40 or 64 hex digit fingerprints (spaces allowed, any case)"),
        "alloy_install_proxy": url(empty=True, where="a proxy that needs credentials is not supported: "
                                                     "let it trust the hosts by address"),
        "alloy_install_service_state": choice("started", "stopped"),
        "alloy_install_service_enabled": boolean(),
        "alloy_install_user": text(UNIX_NAME, "a user name such as alloy"),
        "alloy_install_group": text(UNIX_NAME, "a group name such as alloy"),
        "alloy_install_user_groups": list_of(text(UNIX_NAME, "a group name such as adm")),
        "alloy_install_config_path": path(),
        "alloy_install_listen_address": text(LISTEN, LISTEN_DOC),
        "alloy_install_stability_level": choice("generally-available", "public-preview", "experimental"),
        "alloy_install_disable_reporting": boolean(),
        "alloy_install_extra_args": list_of(text(FLAG, "one flag such as --cluster.enabled=true (no spaces)")),
        "alloy_install_env": SECRET_ENV,
        "alloy_install_hardening": boolean(),
        "alloy_install_package_source": choice("repository", "controller"),
        "alloy_install_package_location": package_location(),
        "alloy_install_package_checksums": sha256_list(),
        "alloy_install_package_cache_dir": text(r"(?:/|~).*", "an absolute directory on the controller (~ for home)"),
        "alloy_install_systemd_override": text(None, "systemd unit text (a drop-in)", True, multiline=True),
        **cluster_rules("alloy_install"),
        "alloy_install_remove_data": boolean(),
    },
    "alloy_config": {
        "alloy_config_snippets": mapping(text(r"[A-Za-z0-9_-]+", "a snippet name (letters, digits, _ and -)"),
                                         text(None, "Alloy configuration text", multiline=True)),
        "alloy_config_validate": choice("auto", "validate", "fmt", "none"),
        "alloy_config_instance": expression_or_text("a string"),
        "alloy_config_logging_level": choice("debug", "info", "warn", "error"),
        "alloy_config_logging_format": choice("logfmt", "json"),
        "alloy_config_journal_enabled": boolean(),
        "alloy_config_journal_max_age": duration(),
        "alloy_config_journal_path": path(empty=True),
        "alloy_config_journal_matches": text(None, "journal matches such as _SYSTEMD_UNIT=nginx.service", True),
        "alloy_config_journal_format_as_json": boolean(),
        "alloy_config_journal_labels": LABELS,
        "alloy_config_journal_relabel_rules": list_of(alloy_block("loki.relabel rule")),
        "alloy_config_journal_extra_relabel_rules": list_of(alloy_block("loki.relabel rule")),
        "alloy_config_journal_stages": stages(),
        "alloy_config_log_files": log_files(),
        "alloy_config_loki_endpoints": endpoints("loki"),
        "alloy_config_loki_external_labels": LABELS,
        "alloy_config_unix_enabled": boolean(),
        "alloy_config_unix_enable_collectors": list_of(text(r"[a-z0-9_]+", "a collector name such as systemd")),
        "alloy_config_unix_disable_collectors": list_of(text(r"[a-z0-9_]+", "a collector name such as mdadm")),
        "alloy_config_unix_job_name": text(None, "a job name such as integrations/unix"),
        "alloy_config_unix_scrape_interval": duration(),
        "alloy_config_unix_scrape_timeout": duration(),
        "alloy_config_self_metrics": boolean(),
        "alloy_config_prometheus_relabel_rules": list_of(alloy_block("prometheus.relabel rule")),
        "alloy_config_prometheus_endpoints": endpoints("prometheus"),
        "alloy_config_prometheus_external_labels": LABELS,
        "alloy_config_prometheus_remote_write_name": text(NAME, "an identifier ([A-Za-z_][A-Za-z0-9_]*)"),
        "alloy_config_prometheus_wal": alloy_block("prometheus.remote_write wal"),
        "alloy_config_otlp_enabled": boolean(),
        "alloy_config_otlp_grpc_listen": text(LISTEN, LISTEN_DOC, empty=True),
        "alloy_config_otlp_http_listen": text(LISTEN, LISTEN_DOC, empty=True),
        "alloy_config_otlp_receiver_tls": alloy_block("otelcol.receiver.otlp tls"),
        "alloy_config_otlp_memory_limiter": alloy_block("otelcol.processor.memory_limiter"),
        "alloy_config_otlp_batch": alloy_block("otelcol.processor.batch"),
        "alloy_config_otlp_exporters": endpoints("otlp"),
        "alloy_config_otlp_metrics_to_prometheus": boolean(),
        "alloy_config_otlp_logs_to_loki": boolean(),
        "alloy_config_fleet_management_endpoint": fleet_endpoint(),
        "alloy_config_fleet_management_id": text(r"\S+", "a collector ID without spaces, such as the inventory name"),
        "alloy_config_fleet_management_name": text(None, "a name shown in Fleet Management", empty=True),
        "alloy_config_fleet_management_attributes": mapping(
            text(r'(?!collector\.)[^\s"\\]+',
                 "an attribute name without spaces, quotes or backslashes, outside collector. (Alloy's own "
                 "namespace, which it refuses)"),
            text(None, "a string", empty=True),
            doc="a mapping of attribute names (not collector.*) to strings"),
        "alloy_config_fleet_management_os_attributes": boolean(),
        "alloy_config_fleet_management_poll_frequency": poll_frequency(),
        "alloy_config_scrape_jobs": scrape_jobs(),
    },
    "alloy_docker": {
        "alloy_docker_state": choice("present", "absent"),
        "alloy_docker_version": text(VERSION, "a version such as 1.10.0 (no v prefix)"),
        "alloy_docker_image": text(IMAGE,
                                   "an image reference such as grafana/alloy:v1.10.0 or grafana/alloy@sha256:<digest>"),
        "alloy_docker_pull": choice("missing", "always", "never"),
        "alloy_docker_project_dir": path(root=False),
        "alloy_docker_project_name": text(r"[a-z0-9][a-z0-9_-]*",
                                          "a Compose project name (lowercase letters, digits, _ and -)"),
        "alloy_docker_service_name": text(DOCKER_NAME, "letters, digits, _, . and -"),
        "alloy_docker_container_name": text(DOCKER_NAME, "letters, digits, _, . and -"),
        "alloy_docker_restart_policy": choice("no", "always", "unless-stopped", "on-failure"),
        "alloy_docker_config_dir": path(root=False),
        "alloy_docker_storage_type": choice("bind", "volume"),
        "alloy_docker_storage_path": path(root=False),
        "alloy_docker_storage_volume": text(DOCKER_NAME, "a Docker volume name"),
        "alloy_docker_port": integer(1, 65535),
        "alloy_docker_publish_address": text(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*",
                                             "an IP address of this host (127.0.0.1 by default, 0.0.0.0 for all)"),
        "alloy_docker_network": text(DOCKER_NAME, "a Docker network name", True),
        "alloy_docker_extra_hosts": mapping(text(r"[A-Za-z0-9][A-Za-z0-9.-]*", "a host name"),
                                            text(r"[0-9A-Fa-f.:]+|host-gateway", "an IP address or host-gateway")),
        "alloy_docker_hostname": text(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", "a host name"),
        "alloy_docker_host_metrics": boolean(),
        "alloy_docker_journal": boolean(),
        "alloy_docker_timezone": text(r"[A-Za-z0-9_+/-]+", "a zone name such as Asia/Tokyo", True),
        "alloy_docker_user": text(r"[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?", "a user such as root or 0:0"),
        "alloy_docker_stability_level": choice("generally-available", "public-preview", "experimental"),
        "alloy_docker_disable_reporting": boolean(),
        "alloy_docker_extra_args": list_of(text(FLAG, "one flag such as --cluster.enabled=true (no spaces)")),
        **cluster_rules("alloy_docker"),
        "alloy_docker_env": SECRET_ENV,
        "alloy_docker_log_max_size": text(r"[0-9]+(?:[kKmMgG][bB]?)?", "a size such as 100m"),
        "alloy_docker_log_max_file": integer(1),
        "alloy_docker_install_engine": boolean(),
        "alloy_docker_remove_data": boolean(),
        "alloy_docker_remove_image": boolean(),
    },
    # The fleet plays' own variables (extra vars, AWX surveys: untrusted).
    "site": {
        "alloy_site_serial": batches(),
        "alloy_site_max_fail_percentage": integer(0, 100),
        "alloy_site_version": text(VERSION, "a version such as 1.10.0 (no v prefix)", True),
        "alloy_site_loki_url": url(empty=True, where="credentials belong in the endpoint's basic_auth or "
                                                     "bearer_token (inventory or vault)"),
        "alloy_site_prometheus_url": url(empty=True, where="credentials belong in the endpoint's basic_auth or "
                                                           "bearer_token (inventory or vault)"),
        "alloy_site_verify": boolean(),
        "alloy_verify_data_flow": boolean(),
        "alloy_verify_wait": boolean(),
        "alloy_verify_wait_timeout": integer(0, 3600),
        "alloy_verify_delivery_window": integer(1, 300),
        "alloy_verify_alloy_url": url(empty=True),
        "alloy_upgrade_version": text(VERSION, "a version such as 1.10.0 (no v prefix)"),
        "alloy_upgrade_serial": batches(),
        "alloy_uninstall_remove_data": boolean(),
    },
}


# ------------------------------------------------------------------------ checking

def _flag(values, name, default):
    try:
        return boolean().check(values.get(name, default))
    except Problem:
        return True     # its own rule reports it; judge what depends on it as if it were on


def _otlp_into(values, switch):
    """OTLP is on and converts a signal into the Prometheus or Loki pipeline."""
    return _flag(values, "alloy_config_otlp_enabled", False) and _flag(values, "alloy_config_otlp_" + switch, False)


# Variables the role reads only in some setups, and the test of that setup (on the raw values).
UNUSED_UNLESS = {
    "alloy_config_loki_endpoints": lambda values: (_flag(values, "alloy_config_journal_enabled", True)
                                                   or bool(values.get("alloy_config_log_files"))
                                                   or _otlp_into(values, "logs_to_loki")),
    "alloy_config_prometheus_endpoints": lambda values: (_flag(values, "alloy_config_unix_enabled", True)
                                                         or _flag(values, "alloy_config_self_metrics", False)
                                                         or bool(values.get("alloy_config_scrape_jobs"))
                                                         or _otlp_into(values, "metrics_to_prometheus")),
    "alloy_install_key_content": lambda values: values.get("alloy_install_state", "present") == "present",
    "alloy_docker_storage_path": lambda values: values.get("alloy_docker_storage_type", "bind") == "bind",
    "alloy_docker_storage_volume": lambda values: values.get("alloy_docker_storage_type", "bind") == "volume",
}
UNUSED_UNLESS.update(("alloy_config_otlp_" + name, lambda values: _flag(values, "alloy_config_otlp_enabled", False))
                     for name in ("grpc_listen", "http_listen", "receiver_tls", "memory_limiter", "batch", "exporters",
                                  "metrics_to_prometheus", "logs_to_loki"))
UNUSED_UNLESS.update(("alloy_config_fleet_management_" + name,
                      lambda values: values.get("alloy_config_fleet_management_endpoint") not in (None, "", {}))
                     for name in ("id", "name", "attributes", "os_attributes", "poll_frequency"))
UNUSED_UNLESS.update(("%s_cluster_%s" % (role, name),
                      lambda values, switch=role + "_cluster_enabled": _flag(values, switch, False))
                     for role in ("alloy_install", "alloy_docker")
                     for name in ("group", "name", "advertise_address", "wait_for_size", "wait_timeout", "tls"))
UNUSED_UNLESS.update(("alloy_install_package_" + name,
                      lambda values: values.get("alloy_install_package_source") == "controller")
                     for name in ("location", "checksums", "cache_dir"))


# Variables an earlier release read, by table, and where their value goes now: a play that
# still sets one is told, instead of the value being ignored. (The seed role's variables are
# not here: they still work, as the defaults of the variables that replaced them.)
MOVED = {
    "alloy_config": dict(
        [("alloy_config_dir", "set alloy_install_config_path (systemd) or alloy_docker_config_dir (Compose)"),
         ("alloy_config_group", "set alloy_install_group (the group of a Compose host's files is root)"),
         ("alloy_config_env_file", "the runtime role's env file receives the secrets"),
         ("alloy_config_alloy_command", "the runtime role gives the command that runs Alloy's CLI"),
         ("alloy_config_reload_url", "the runtime role gives Alloy's URL: set alloy_install_listen_address, "
                                     "or alloy_docker_publish_address and alloy_docker_port"),
         ("alloy_config_manage_service", "the runtime role restarts Alloy, on the handler topic 'alloy pipelines changed'")]
        + [("alloy_config_unix_%s_path" % name, "the runtime role says where Alloy sees the host's paths")
           for name in ("procfs", "sysfs", "rootfs", "udev_data")]),
}


def moved_problems(table, names):
    """What to do instead, for each variable of names that table's role no longer reads."""
    moved = MOVED.get(table, {})
    return ["%s is no longer read (the runtime contract of 0.2.0): %s" % (name, moved[name])
            for name in sorted(moved) if name in names]


def check_value(name, value, rules=None):
    """The converted value of one variable, or Problem with the full message."""
    rule = _find(name, rules)
    try:
        if hasattr(rule, "check_named"):
            return rule.check_named(value, name)
        return _at("", rule, value)
    except _Full as err:
        raise Problem("; ".join(err.messages))
    except _Nested as err:
        raise Problem("%s%s: %s" % (name, err.where, err.what))


def _find(name, rules=None):
    for table in ([rules] if rules else RULES.values()):
        if name in table:
            return table[name]
    raise KeyError("no rule for %s" % name)


def check_values(table, values, context=None):
    """(converted values of the variables given, problems) for one table of RULES; context
    {facts, groups} (the host's) for the rules that depend on the host."""
    rules = RULES[table]
    checked, problems = {}, []
    for name in rules:
        if name not in values:
            continue
        if name in UNUSED_UNLESS and not UNUSED_UNLESS[name](values):
            checked[name] = values[name]      # not read by the role in this setup: passed as it is
            continue
        try:
            checked[name] = check_value(name, values[name], rules)
        except Problem as err:
            problems.append(str(err))
    for cross in CROSS.get(table, ()):
        problems.extend(cross(checked, context or {}))
    return checked, problems


def _install_cross(values, context):
    facts = context.get("facts") or {}
    problems = platform_problems(facts) if facts else []
    key_url = "alloy_install_%s_key_url" % ("apt" if facts.get("os_family") == "Debian" else "rpm")
    if facts and values.get("alloy_install_package_source") != "controller" and {
            key_url, "alloy_install_key_content"} <= set(values) and not (
            values["alloy_install_key_content"] or values[key_url]):
        problems.append("the repository key needs alloy_install_key_content or an http(s):// key URL (%s)" % key_url)
    if values.get("alloy_install_state") == "absent" and values.get("alloy_install_hold"):
        problems.append("alloy_install_hold cannot be true with alloy_install_state absent")
    if values.get("alloy_install_package_source") == "controller" and values.get("alloy_install_state") != "absent":
        problems.extend(_controller_package_problems(values, facts))
    return problems


def _cluster_cross(table):
    """The cluster's problems of a runtime role (plugin_utils/cluster.py, with the role's shape)."""
    prefix = table + "_"

    def cross(values, context):
        if values.get(prefix + "cluster_enabled") is not True or "peer_vars" not in context:
            return []
        checked = dict((name[len(prefix):], value) for name, value in values.items())
        return cluster.problems(checked, context["host"], context["inventory_groups"], context["peer_vars"],
                                cluster.SHAPES[table])
    return cross


def _controller_package_problems(values, facts):
    """Packages from the controller: a version to take, and a SHA256 that vouches for this host's file."""
    if not values.get("alloy_install_version"):
        return ["alloy_install_package_source controller needs alloy_install_version (the version whose "
                "package the controller takes)"]
    sums = values.get("alloy_install_package_checksums")
    if not isinstance(sums, dict) or "alloy_install_package_location" not in values:
        return []   # their own rules reported them (or the role's defaults were not given)
    if not facts.get("architecture"):
        return []
    try:
        name = packages.asset_name(values["alloy_install_version"], values.get("alloy_install_package_release", "1"),
                                   packages.package_format(facts.get("os_family")), facts["architecture"])
    except packages.PackageError as err:
        return ["alloy_install_package_source controller: %s" % err]
    if name not in sums:
        return ["alloy_install_package_checksums lists no SHA256 for %s, the package this host needs (it lists %s)"
                % (name, ", ".join(sorted(sums)) or "nothing")]
    return []


def _site_cross(values, context):
    del values
    if "alloy" in context.get("groups", ()) and "alloy_docker" in context.get("groups", ()):
        return ["the host is in both groups alloy and alloy_docker; put it in one"]
    return []


def _otlp_cross(values):
    """An OTLP pipeline needs a way in (a listen address) and a way out (an exporter or a conversion)."""
    if values.get("alloy_config_otlp_enabled") is not True:
        return []
    problems = []
    if "alloy_config_otlp_grpc_listen" in values and not (values["alloy_config_otlp_grpc_listen"]
                                                          or values.get("alloy_config_otlp_http_listen")):
        problems.append("alloy_config_otlp_enabled needs a listen address: alloy_config_otlp_grpc_listen or "
                        "alloy_config_otlp_http_listen")
    if "alloy_config_otlp_exporters" in values and not (
            values["alloy_config_otlp_exporters"] or values.get("alloy_config_otlp_metrics_to_prometheus")
            or values.get("alloy_config_otlp_logs_to_loki")):
        problems.append("alloy_config_otlp_enabled needs somewhere to send: alloy_config_otlp_exporters, "
                        "alloy_config_otlp_metrics_to_prometheus or alloy_config_otlp_logs_to_loki")
    for switch, endpoints_name in (("metrics_to_prometheus", "alloy_config_prometheus_endpoints"),
                                   ("logs_to_loki", "alloy_config_loki_endpoints")):
        if values.get("alloy_config_otlp_" + switch) and endpoints_name in values and not values[endpoints_name]:
            problems.append("alloy_config_otlp_%s needs %s" % (switch, endpoints_name))
    names = [str(e.get("name")) for e in values.get("alloy_config_otlp_exporters") or [] if isinstance(e, dict)]
    problems.extend("alloy_config_otlp_exporters: the name %s is given twice (it names components)" % name
                    for name in sorted(set(n for n in names if names.count(n) > 1)))
    return problems + _memory_limiter_problems(values.get("alloy_config_otlp_memory_limiter")) \
        + _batch_problems(values.get("alloy_config_otlp_batch"))


def _seconds(value):
    """A Go duration in seconds (the rule book's duration rule has checked it)."""
    units = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * units[unit] for number, unit in
               re.findall(r"([0-9]*\.?[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)", str(value)))


def _memory_limiter_problems(limiter):
    """memorylimiter.Arguments.Validate, which Alloy runs when it loads the component (not in
    `alloy validate`): refused at a restart, it would stop every pipeline."""
    if not isinstance(limiter, dict):
        return []
    where = "alloy_config_otlp_memory_limiter"
    if _seconds(limiter.get("check_interval", 0)) <= 0:
        return ["%s needs check_interval greater than zero, such as 1s (the role's default is replaced, not "
                "merged)" % where]
    limit, percent = limiter.get("limit") not in (None, "", "0", 0), limiter.get("limit_percentage") or 0
    if limit and percent:
        return ["%s sets limit and limit_percentage: Alloy takes either, not both" % where]
    if not limit and not percent:
        return ["%s needs limit (such as 1GiB) or limit_percentage (with spike_limit_percentage)" % where]
    spike = limiter.get("spike_limit_percentage") or 0
    if percent and not (0 < percent <= 100 and 0 < spike <= 100):
        return ["%s: limit_percentage and spike_limit_percentage must both be from 1 to 100 (Alloy refuses a "
                "limit_percentage without spike_limit_percentage)" % where]
    return []


def _batch_problems(batch):
    """batch.Arguments.Validate: the largest batch is not smaller than the batch (defaults 2000
    and 3000 in Alloy; 0 means no largest)."""
    if not isinstance(batch, dict):
        return []
    size, largest = batch.get("send_batch_size", 2000), batch.get("send_batch_max_size", 3000)
    if isinstance(size, int) and isinstance(largest, int) and 0 < largest < size:
        return ["alloy_config_otlp_batch: send_batch_max_size (%d%s) must be at least send_batch_size (%d), or 0"
                % (largest, "" if "send_batch_max_size" in batch else ", Alloy's default", size)]
    return []


def _config_cross(values, context):
    """alloy_config writes into the runtime that alloy_install or alloy_docker described."""
    try:
        found = runtime.from_facts(context.get("facts"), kept=False)
    except runtime.RuntimeMissing as err:
        return [str(err)]
    problems = []
    if found["config_dir"].endswith(".alloy"):
        setting = ("alloy_docker_config_dir" if found["kind"] == "compose"
                   else "alloy_install_config_path to a directory (its default, /etc/alloy/conf.d)")
        problems.append("alloy_config writes its pipelines into a directory, and Alloy loads the file %s here: set %s"
                        % (found["config_dir"], setting))
    problems.extend(_otlp_cross(values))
    if values.get("alloy_config_scrape_jobs") and values.get("alloy_config_prometheus_endpoints") == []:
        problems.append("alloy_config_scrape_jobs needs alloy_config_prometheus_endpoints (the jobs forward to this "
                        "role's prometheus.remote_write)")
    if found["kind"] == "compose" and values.get("alloy_config_log_files") and \
            (found.get("host_paths") or {}).get("rootfs") == "/":
        problems.append("alloy_config_log_files: Alloy runs in a container here without the host's root mounted "
                        "(alloy_docker_host_metrics is false), so it would find none of the host's files: set "
                        "alloy_docker_host_metrics to true (a read-only mount under /host/root)")
    return problems


CROSS = {"alloy_install": (_install_cross, _cluster_cross("alloy_install")), "alloy_config": (_config_cross,),
         "alloy_docker": (_cluster_cross("alloy_docker"),), "site": (_site_cross,)}


INSTALL_FAMILIES = ("Debian", "RedHat")   # the os_family values alloy_install runs on


def platform_problems(facts):
    """What alloy_install needs of the host, from its facts."""
    family, name = facts.get("os_family"), facts.get("distribution")
    if family not in INSTALL_FAMILIES:
        return ["unsupported OS: %s (os_family %s); alloy_install supports the Debian family and the RHEL family 8 "
                "or later" % (name, family)]
    major = str(facts.get("distribution_major_version", ""))
    if family == "RedHat" and (not major.isdigit() or int(major) < 8):
        return ["unsupported OS: %s %s; alloy_install needs EL 8 or later" % (name, major)]
    manager = facts.get("service_mgr", "systemd")
    if manager != "systemd":
        return ["alloy_install needs systemd (found %s); use alloy_docker instead" % manager]
    return []
