# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend behind a Loki or Prometheus endpoint, as alloy_verify talks to it.

An endpoint is the one the alloy_config role renders (alloy_config_loki_endpoints,
alloy_config_prometheus_endpoints): its url, auth (basic_auth, bearer_token, their
_file forms, tenant_id, headers) and tls are used as they are; its optional `verify`
mapping says how to check the backend: backend (the flavour; auto guesses it from the
URL), ready / ready_url (readiness), query / query_url (this host's data; false for
write-only credentials).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import io

from urllib.parse import urlsplit, urlunsplit

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import TLSOptions, has_credentials


class Flavor(object):
    def __init__(self, kind, push, ready, query):
        self.kind = kind
        self.push = push
        self.ready = ready
        self.query = query


# The real paths of each backend (shared/docs/alloy-facts.md sections 8 and 9).
FLAVORS = {
    "prometheus": Flavor("prometheus", "/api/v1/write", "/-/ready", "/api/v1/query"),
    "mimir": Flavor("prometheus", "/api/v1/push", "/ready", "/prometheus/api/v1/query"),
    "grafana_cloud_metrics": Flavor("prometheus", "/api/prom/push", None, "/api/prom/api/v1/query"),
    "loki": Flavor("loki", "/loki/api/v1/push", "/ready", "/loki/api/v1/query_range"),
    "grafana_cloud_logs": Flavor("loki", "/loki/api/v1/push", None, "/loki/api/v1/query_range"),
}
VERIFY_KEYS = ("backend", "ready", "ready_url", "query", "query_url")
VERIFY_SWITCHES = ("ready", "query")


def _bool(value, default):
    """A switch given as a bool or as a survey/templated string ("false", "no", ...)."""
    return default if value is None else boolean(value, strict=False)


def _is_bool(value):
    try:
        boolean(value, strict=True)
        return True
    except TypeError:
        return False


def detect(kind, url):
    """The flavour a push URL most likely belongs to."""
    parts = urlsplit(url)
    if kind == "loki":
        return "grafana_cloud_logs" if (parts.hostname or "").endswith(".grafana.net") else "loki"
    path = parts.path.rstrip("/")
    if path.endswith("/api/prom/push"):
        return "grafana_cloud_metrics"
    if path.endswith("/api/v1/push"):
        return "mimir"
    return "prometheus"


def flavor_problems(kind, endpoint, where):
    """Messages for a `verify` mapping that cannot work, naming the variable."""
    verify = endpoint.get("verify")
    if verify is None:
        return []
    if not isinstance(verify, dict):
        return ["%s.verify must be a mapping (%s)" % (where, ", ".join(VERIFY_KEYS))]
    problems = ["%s.verify.%s is not an option (%s)" % (where, key, ", ".join(VERIFY_KEYS))
                for key in verify if key not in VERIFY_KEYS]
    backend = verify.get("backend") or "auto"
    names = sorted(n for n, f in FLAVORS.items() if f.kind == kind)
    if backend != "auto" and backend not in names:
        problems.append("%s.verify.backend must be auto or one of %s, got %r" % (where, ", ".join(names), backend))
    for key in ("ready_url", "query_url"):
        value = verify.get(key)
        if has_credentials(value):
            problems.append("%s.verify.%s carries credentials (user:password@): the endpoint's own basic_auth or "
                            "bearer_token is used" % (where, key))
        elif value and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
            problems.append("%s.verify.%s must be an http:// or https:// URL, got %r" % (where, key, value))
    for key in VERIFY_SWITCHES:
        if verify.get(key) is not None and not _is_bool(verify[key]):
            problems.append("%s.verify.%s must be true or false, got %r" % (where, key, verify[key]))
    return problems


def _base(kind, url):
    """The server's base URL: the push URL without the push path of any backend of its kind."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    pushes = sorted(set(f.push for f in FLAVORS.values() if f.kind == kind), key=len, reverse=True)
    for push in pushes:
        if path.endswith(push):
            path = path[:-len(push)]
            break
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _read(path):
    with io.open(path, "r", encoding="utf-8") as handle:
        return handle.read().strip()


class Backend(object):
    """A backend to check: where, how to authenticate, what it can answer."""

    def __init__(self, kind, endpoint):
        verify = endpoint.get("verify") or {}
        name = verify.get("backend") or "auto"
        self.kind = kind
        self.flavor = detect(kind, endpoint["url"]) if name == "auto" else name
        flavor = FLAVORS[self.flavor]
        self.base = _base(kind, endpoint["url"])
        self.ready_url = None
        if _bool(verify.get("ready"), True):
            self.ready_url = verify.get("ready_url") or (self.base + flavor.ready if flavor.ready else None)
        self.query_url = None
        if _bool(verify.get("query"), True):
            self.query_url = verify.get("query_url") or self.base + flavor.query
        self.endpoint = endpoint
        tls = endpoint.get("tls") or {}
        self.tls = TLSOptions(ca_file=tls.get("ca_file"), ca_pem=tls.get("ca_pem"), cert_file=tls.get("cert_file"),
                              key_file=tls.get("key_file"), server_name=tls.get("server_name"),
                              insecure_skip_verify=_bool(tls.get("insecure_skip_verify"), False))

    @property
    def label(self):
        """The check's name: kind, base URL, and the tenant or name that tell endpoints apart."""
        tenant = self.endpoint.get("tenant_id") if self.kind == "loki" else None
        name = self.endpoint.get("name")
        return "%s %s%s%s" % (self.kind, self.base, " tenant %s" % tenant if tenant else "",
                              " (%s)" % name if name else "")

    def headers(self):
        """The request headers, read when a check runs (secret files are read on the host)."""
        headers = dict((str(k), str(v)) for k, v in (self.endpoint.get("headers") or {}).items())
        if self.kind == "loki" and self.endpoint.get("tenant_id"):
            headers["X-Scope-OrgID"] = str(self.endpoint["tenant_id"])
        token = self.endpoint.get("bearer_token")
        if not token and self.endpoint.get("bearer_token_file"):
            token = _read(self.endpoint["bearer_token_file"])
        basic = self.endpoint.get("basic_auth") or {}
        if token:
            headers["Authorization"] = "Bearer %s" % token
        elif basic:
            # The role's rule (alloy_endpoints): a password if given, else the file.
            password = basic.get("password")
            if not password and basic.get("password_file"):
                password = _read(basic["password_file"])
            pair = "%s:%s" % (basic.get("username") or "", password or "")
            headers["Authorization"] = "Basic %s" % base64.b64encode(pair.encode("utf-8")).decode("ascii")
        return headers
