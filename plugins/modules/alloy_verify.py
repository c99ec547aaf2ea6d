#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module fleet.alloy.alloy_verify: is this Alloy host healthy, and if not, why."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alloy_verify
short_description: Check that an Alloy host is healthy and that its data arrives
version_added: 0.1.0
description:
  - Runs on the managed host and checks, concurrently and each within O(timeout), the
    service (systemd unit active, optionally enabled; or, in container mode, the
    container running and healthy), Alloy's C(/-/ready), C(/-/healthy) and component
    health, delivery, the readiness of every Loki and Prometheus backend, and optionally
    that each backend holds a recent sample or log line of this host.
  - Delivery is read from Alloy itself - its C(/metrics), at the start of a window and
    again every quarter second, the window ending at the first read where every endpoint
    has delivered in it, at most O(delivery_window) seconds - for every C(loki.write) and
    C(prometheus.remote_write) component, per endpoint - entries or samples delivered, none
    dropped or failed, nothing only retried, the queue not growing. Alloy keeps these
    components C(healthy) while their backend refuses them, so the component check alone
    cannot see a 401, a wrong tenant or a backend that is down; delivery can, and needs no
    backend credential (write-only tokens are fine).
  - Backends are described exactly as the alloy_config role takes them
    (C(alloy_config_loki_endpoints), C(alloy_config_prometheus_endpoints)) - URL,
    basic auth, bearer token, tenant, headers, TLS - plus an optional C(verify) mapping per
    endpoint - C(backend) (V(auto), V(prometheus), V(mimir), V(grafana_cloud_metrics),
    V(loki), V(grafana_cloud_logs)) chooses the readiness and query paths, C(ready_url) and
    C(query_url) replace them, C(ready=false) and C(query=false) skip those checks (a
    write-only credential cannot query). Grafana Cloud has no readiness path.
  - The backend checks run on the host. In container mode a C(ca_file), C(cert_file),
    C(key_file), C(password_file) or C(bearer_token_file) is read at the same path on the
    host, and backend names resolve with the host's DNS; C(ca_pem) avoids the first.
  - Returns RV(healthy), every check with its detail and time, and a one-line RV(summary).
    Fails (unless O(fail_on_unhealthy=false)) with a message naming the host (its inventory
    name, as in C(web-1 is not healthy) followed by the count) and each failed check.
  - With O(fleet_management), also that Alloy loaded its remote configuration from Grafana Fleet
    Management (its C(remotecfg) block) and that every component of the remote pipelines is healthy;
    with O(cluster_peers), that Alloy's cluster holds the expected nodes.
  - With O(wait), failed checks are retried until they pass or O(wait_timeout) passes.
  - Read-only; it never reports a change. Secrets of the endpoints are never returned.
author: fleet.alloy maintainers (@fleet-alloy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleet.alloy.attributes.read_only
options:
  runtime:
    description:
      - How Alloy runs here, as the role that runs it described it (the runtime contract, the fact
        C(alloy_runtime) - C(ansible_facts | fleet.alloy.alloy_runtime)). Its C(kind), C(service),
        C(api_url) and C(api_tls) take the place of O(mode), O(service) or O(container), O(alloy_url) and
        O(alloy_tls), and its C(instance) is the default of O(instance).
      - Mutually exclusive with those options.
    type: dict
  mode:
    description: How Alloy runs here; C(none) skips the service check.
    type: str
    choices: [systemd, container, none]
    default: systemd
  service:
    description: The systemd unit (O(mode=systemd)).
    type: str
    default: alloy.service
  require_enabled:
    description: Also require the unit to be enabled.
    type: bool
    default: false
  container:
    description: The container name (O(mode=container)).
    type: str
    default: alloy
  alloy_url:
    description: Base URL of Alloy's HTTP server; empty skips Alloy's own checks.
    type: str
    default: http://127.0.0.1:12345
  alloy_tls:
    description:
      - How to check Alloy's HTTPS server when O(alloy_url) is https:// (Alloy's C(http { tls { } }) block, which
        the roles write for a cluster over TLS).
    type: dict
    suboptions:
      ca_file:
        description: The CA that signed Alloy's certificate (read on the host); the system's CAs when not set.
        type: path
      server_name:
        description:
          - The name Alloy's certificate carries, checked instead of the URL's host (C(127.0.0.1) names no
            member's certificate).
        type: str
      cert_file:
        description: A client certificate to present, when Alloy asks for one (C(client_auth_type)).
        type: path
      key_file:
        description: Its key.
        type: path
  components:
    description: Component IDs that must be present and healthy; empty requires every loaded component to be healthy.
    type: list
    elements: str
    default: []
  loki_endpoints:
    description:
      - Loki endpoints in the shape of the alloy_config role's C(alloy_config_loki_endpoints)
        (C(url) required; C(tenant_id), C(basic_auth), C(bearer_token), C(bearer_token_file),
        C(headers), C(tls), C(verify)). The role's argument specs document every key.
    type: list
    elements: dict
    default: []
  prometheus_endpoints:
    description:
      - Prometheus remote_write endpoints in the shape of C(alloy_config_prometheus_endpoints).
    type: list
    elements: dict
    default: []
  fleet_management:
    description:
      - Alloy is expected to be a Grafana Fleet Management collector (a C(remotecfg) block in its
        configuration). Needs O(alloy_url). Adds two checks.
      - C(fleet management) reads Alloy's C(remotecfg_*) metrics on C(/metrics) over the delivery window
        (O(delivery_window), read every quarter second, ending early at the first read that saw a fetch
        succeed) and passes when a remote configuration is loaded (a C(remotecfg_hash) series), no fetch
        failed in the window (C(remotecfg_load_failures_total) did not rise) and the configuration Alloy
        received last is not one it refused. It fails when Alloy does not answer or has never fetched.
        C(remotecfg_last_load_successful) is not used to judge - Alloy leaves it at 0 after any failed
        fetch until a new configuration loads, even once the server answers again. Alloy fetches every
        C(poll_frequency) (1 m by default); a window that sees no fetch judges what is loaded.
      - Alloy's log (the unit's journal or the container's log, logfmt or JSON; not read with
        O(mode=none)) names the error of a failure the metrics show, e.g. the server's refusal
        (C(unauthenticated)) or the load error of a pipeline. A refusal in the log counts only while
        C(remotecfg_last_load_success_timestamp_seconds) shows no later configuration received, as Alloy
        restores the one it ran and leaves the other metrics unchanged.
      - C(fleet pipelines) reads the remote modules' components as Alloy's API serves them
        (C(/api/v0/web/remotecfg/components), then C(/api/v0/web/remotecfg/modules/<id>/components)
        for each module a component created) and fails naming each one not healthy, with its message.
        A collector that no pipeline selects passes, the detail saying so (for Alloy it is not an error,
        and a first rollout usually comes before the pipelines are written).
    type: bool
    default: false
  cluster_peers:
    description:
      - The node names (C(--cluster.node-name), by default the host name) expected in Alloy's cluster;
        empty does not check clustering. Needs O(alloy_url).
      - The C(cluster) check reads C(/api/v0/web/peers) (the peers this node sees) and fails when an
        expected name is missing, naming it and the names seen, or when an expected peer is not a
        C(participant) (one C(terminating) is leaving). Other names seen are reported and do not fail.
      - A node that has just (re)started is not listed until it joins; with O(wait) the check is retried
        like the others until O(wait_timeout). A node stopped cleanly leaves at once; one that crashed
        stays listed until memberlist declares it dead (about 30 s).
    type: list
    elements: str
    default: []
  delivery:
    description:
      - Judge delivery from Alloy's own metrics (needs O(alloy_url)). With endpoints given, a
        missing writer component of that kind fails; without, every writer found is judged.
    type: bool
    default: true
  delivery_window:
    description:
      - The longest window, in seconds, over which delivery is watched. C(/metrics) is read
        at its start and every quarter second after, each read judged on the window so far; the
        window ends early at the first read where every endpoint has delivered in it, or is idle
        and its backend has answered this run's data check (O(data_flow)) with this host's recent
        data (an idle endpoint without that answer does not end it, since a backend just gone down
        looks idle until the first retry), and otherwise after
        O(delivery_window) seconds, judged on all of it - a failure seen early does not end it,
        as a later read may see the endpoint deliver. A longer window gives a failing endpoint
        longer to deliver. An endpoint idle in the window passes if it delivered since Alloy
        started and, since then, nothing was dropped or retried (Loki) or failed or left
        pending (remote write); a Loki endpoint with no line queued yet passes too.
    type: float
    default: 5
  data_flow:
    description:
      - Also query each backend for this host's data, unless its endpoint says
        C(verify.query=false).
    type: bool
    default: false
  instance:
    description: The instance label of this host's data; empty is the O(runtime)'s instance, else the host name.
    type: str
    default: ""
  prometheus_query:
    description: PromQL that must return a recent sample; empty is C(up{instance="<instance>"}).
    type: str
    default: ""
  loki_query:
    description: LogQL selector that must match a recent line; empty is C({instance="<instance>"}).
    type: str
    default: ""
  max_age:
    description:
      - Seconds within which the newest sample or line must be (O(data_flow)), and how far
        behind remote_write delivery may be (O(delivery)).
    type: int
    default: 300
  timeout:
    description: Seconds each check may take.
    type: float
    default: 5
  wait:
    description: Retry failed checks until they pass or O(wait_timeout) passes.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait in total with O(wait).
    type: int
    default: 60
  wait_interval:
    description: Seconds between rounds with O(wait).
    type: float
    default: 2
  fail_on_unhealthy:
    description: Fail the task when a check fails; false only reports.
    type: bool
    default: true
  report:
    description:
      - Also return RV(report), and show the task's result (RV(summary), RV(checks), RV(report))
        without C(-v), as C(ansible.builtin.debug) shows its message - the check and its report in
        one task. Done by the action plugin, on the controller.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Gate the rollout on this host, with the endpoints the pipelines use
  fleet.alloy.alloy_verify:
    loki_endpoints: "{{ alloy_config_loki_endpoints }}"
    prometheus_endpoints: "{{ alloy_config_prometheus_endpoints }}"
    data_flow: true
    wait: true
    wait_timeout: 120

- name: Grafana Cloud with a write-only token - delivery only, no backend query
  fleet.alloy.alloy_verify:
    prometheus_endpoints:
      - url: https://prometheus-prod-01-eu-west-0.grafana.net/api/prom/push
        basic_auth:
          username: "123456"
          password: "{{ vault_grafana_cloud_token }}"
        verify:
          query: false

- name: A Fleet Management collector in a three-node cluster, given time to join after a restart
  fleet.alloy.alloy_verify:
    fleet_management: true
    cluster_peers: [web-01, web-02, web-03]
    wait: true
    wait_timeout: 120

- name: A container deployment, report only
  fleet.alloy.alloy_verify:
    mode: container
    container: alloy
    fail_on_unhealthy: false
  register: health

- name: Loki behind a gateway, with a tenant and a private CA
  fleet.alloy.alloy_verify:
    loki_endpoints:
      - url: https://logs.example.com/loki/api/v1/push
        tenant_id: team-a
        basic_auth:
          username: alloy
          password: "{{ vault_loki_password }}"
        tls:
          ca_file: /etc/ssl/certs/internal-ca.pem
"""

RETURN = r"""
healthy:
  description: Whether every check passed.
  returned: always
  type: bool
summary:
  description: One line - healthy, or each failed check with its detail.
  returned: always
  type: str
  sample: "unhealthy: 1 of 6 checks failed: delivery loki (loki.write.endpoint: logs.example.com tenant ops: 0 sent,
    12 dropped (HTTP 401) in 5 s)"
checks:
  description: Every check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: What was checked.
      type: str
      sample: alloy ready
    ok:
      description: Whether it passed.
      type: bool
    detail:
      description: What was found.
      type: str
    elapsed:
      description: Seconds the check took (its last attempt).
      type: float
failed_checks:
  description: Names of the failed checks.
  returned: always
  type: list
  elements: str
report:
  description: One line per check - its name, V(ok) or V(FAIL), its detail.
  returned: with O(report)
  type: list
  elements: str
  sample: ["alloy ready | ok | HTTP 200: Alloy is ready.", "components | ok | 7 components healthy",
           "fleet management | ok | remote configuration loaded (hash 5ad3d8d0); 1 fetches in 0.3 s, none failed
             (3 fetches, 0 failed, since start)",
           "fleet pipelines | ok | pipelines prod_logs: 3 components healthy",
           "cluster | FAIL | web-03 missing (seen web-01, web-02)"]
"""

import re
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.alloy.plugins.module_utils.alloy_endpoints import endpoint_problems
from ansible_collections.fleet.alloy.plugins.module_utils.backends import Backend
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import TLSOptions
from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import (
    Evidence, alloy_endpoint_check, alloy_log, backend_ready_check, cluster_check, components_check, container_check,
    delivery_check, fleet_management_check, fleet_pipelines_check, loki_data_check, prometheus_data_check, run_all,
    summary, systemd_check)

ARGUMENT_SPEC = dict(
    runtime=dict(type="dict"),
    mode=dict(type="str", default="systemd", choices=["systemd", "container", "none"]),
    service=dict(type="str", default="alloy.service"),
    require_enabled=dict(type="bool", default=False),
    container=dict(type="str", default="alloy"),
    alloy_url=dict(type="str", default="http://127.0.0.1:12345"),
    alloy_tls=dict(type="dict", options=dict(ca_file=dict(type="path"), server_name=dict(type="str"),
                                             cert_file=dict(type="path"), key_file=dict(type="path"))),
    components=dict(type="list", elements="str", default=[]),
    fleet_management=dict(type="bool", default=False),
    cluster_peers=dict(type="list", elements="str", default=[]),
    loki_endpoints=dict(type="list", elements="dict", default=[]),
    prometheus_endpoints=dict(type="list", elements="dict", default=[]),
    delivery=dict(type="bool", default=True),
    delivery_window=dict(type="float", default=5),
    data_flow=dict(type="bool", default=False),
    instance=dict(type="str", default=""),
    prometheus_query=dict(type="str", default=""),
    loki_query=dict(type="str", default=""),
    max_age=dict(type="int", default=300),
    timeout=dict(type="float", default=5),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=60),
    wait_interval=dict(type="float", default=2),
    fail_on_unhealthy=dict(type="bool", default=True),
    report=dict(type="bool", default=False),   # read by the action plugin
)
MUTUALLY_EXCLUSIVE = [["runtime", name] for name in ("mode", "service", "container", "alloy_url", "alloy_tls")]
KINDS = ("loki", "prometheus")
_MODES = {"systemd": ("systemd", "service"), "compose": ("container", "container")}
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|password|cookie", re.I)


def problems(params):
    """Endpoint mistakes, named as the module options that hold them."""
    found = []
    for kind in KINDS:
        found += endpoint_problems(params["%s_endpoints" % kind], kind, "%s_endpoints" % kind)
    return found


def secrets(params):
    """Every secret of the endpoints, whatever shape the parameters have (they may not
    have been validated yet)."""
    found = []
    for kind in KINDS:
        endpoints = params.get("%s_endpoints" % kind)
        if not isinstance(endpoints, list):
            continue
        for endpoint in (e for e in endpoints if isinstance(e, dict)):
            basic = endpoint.get("basic_auth") if isinstance(endpoint.get("basic_auth"), dict) else {}
            found += [endpoint.get("bearer_token"), basic.get("password")]
            headers = endpoint.get("headers") if isinstance(endpoint.get("headers"), dict) else {}
            found += [v for k, v in headers.items() if _CREDENTIAL_HEADER.search(str(k))]
    return [str(s) for s in found if s not in (None, "")]


class _MaskingModule(AnsibleModule):
    """The endpoints carry secrets in nested keys that this argument spec does not declare
    (their one description is the alloy_config role's): they are masked in every result,
    also when the parameters fail validation inside AnsibleModule's constructor, and the
    invocation is not logged on the host."""

    def fail_json(self, msg, **kwargs):
        self.no_log_values.update(secrets(self.params))
        super(_MaskingModule, self).fail_json(msg, **kwargs)

    def exit_json(self, **kwargs):
        self.no_log_values.update(secrets(self.params))
        super(_MaskingModule, self).exit_json(**kwargs)


def with_runtime(params):
    """params with the runtime contract's values in place of mode, service or container,
    alloy_url, alloy_tls and an empty instance; ValueError for a description this module cannot read."""
    runtime = params.get("runtime")
    if not runtime:
        return params
    kind = runtime.get("kind")
    if kind not in _MODES or not runtime.get("service") or not runtime.get("api_url"):
        raise ValueError("runtime: expected the fact alloy_runtime (kind systemd or compose, service, api_url), got "
                         "kind %r" % (kind,))
    mode, key = _MODES[kind]
    params = dict(params, mode=mode, alloy_url=runtime["api_url"], alloy_tls=runtime.get("api_tls") or None,
                  instance=params["instance"] or runtime.get("instance") or "")
    params[key] = runtime["service"]
    return params


def _service_checks(params, runner):
    if params["mode"] == "systemd":
        return [systemd_check(runner, params["service"], params["require_enabled"])]
    if params["mode"] == "container":
        return [container_check(runner, params["container"])]
    return []


def _alloy_log(params, runner):
    """Alloy's log lines, read by the fleet management check when it has to name an error."""
    name = params["service"] if params["mode"] == "systemd" else params["container"]
    return lambda: alloy_log(runner, params["mode"], name)


def alloy_tls(params):
    """The TLS options of Alloy's own HTTPS server (alloy_tls), None for the system's defaults."""
    given = dict((key, value) for key, value in (params.get("alloy_tls") or {}).items() if value)
    return TLSOptions(**given) if given else None


def _alloy_checks(params, base, runner, evidence):
    timeout, tls = params["timeout"], alloy_tls(params)
    checks = [alloy_endpoint_check("alloy ready", base + "/-/ready", timeout, tls),
              alloy_endpoint_check("alloy healthy", base + "/-/healthy", timeout, tls),
              components_check(base + "/api/v0/web/components", params["components"], timeout, tls)]
    if params["delivery"]:
        given = [kind for kind in KINDS if params["%s_endpoints" % kind]]
        for kind in given or KINDS:
            endpoints = params["%s_endpoints" % kind] if given else None
            checks.append(delivery_check(base, kind, endpoints, params["delivery_window"], params["max_age"],
                                         timeout, tls=tls, evidence=evidence))
    if params["fleet_management"]:
        checks += [fleet_management_check(base, timeout, _alloy_log(params, runner),
                                          params["delivery_window"], tls=tls),
                   fleet_pipelines_check(base, timeout, tls)]
    if params["cluster_peers"]:
        checks.append(cluster_check(base, params["cluster_peers"], timeout, tls))
    return checks


def _backend_checks(params, backends, evidence):
    timeout, max_age = params["timeout"], params["max_age"]
    checks = [backend_ready_check(b, timeout) for b in backends if b.ready_url]
    if params["data_flow"]:
        instance = params["instance"] or socket.gethostname()
        for backend in (b for b in backends if b.query_url):
            if backend.kind == "prometheus":
                query = params["prometheus_query"] or 'up{instance="%s"}' % instance
                checks.append(prometheus_data_check(backend, query, max_age, timeout, evidence=evidence))
            else:
                query = params["loki_query"] or '{instance="%s"}' % instance
                checks.append(loki_data_check(backend, query, max_age, timeout, evidence=evidence))
    return checks


def build_checks(params, runner):
    """The check callables the parameters ask for, in report order."""
    checks, evidence = _service_checks(params, runner), Evidence()
    base = (params["alloy_url"] or "").rstrip("/")
    if base:
        checks += _alloy_checks(params, base, runner, evidence)
    backends = [Backend(kind, endpoint) for kind in KINDS for endpoint in params["%s_endpoints" % kind]]
    return checks + _backend_checks(params, backends, evidence)


def verify(params, runner):
    checks = build_checks(params, runner)
    deadline = time.time() + params["wait_timeout"]
    results = run_all(checks, wait=params["wait"], deadline=deadline, interval=params["wait_interval"])
    failed = [c.name for c in results if not c.ok]
    return dict(changed=False, healthy=not failed, checks=[c.as_dict() for c in results],
                summary=summary(results), failed_checks=failed)


def main():
    module = _MaskingModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                            supports_check_mode=True, no_log=True)
    mistakes = problems(module.params)
    if mistakes:
        module.fail_json(msg="alloy_verify: " + "; ".join(mistakes))
    try:
        params = with_runtime(module.params)
    except ValueError as err:
        module.fail_json(msg="alloy_verify: %s" % err)
    result = verify(params, module.run_command)
    if not result["healthy"] and module.params["fail_on_unhealthy"]:
        module.fail_json(msg="alloy_verify: " + result["summary"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
