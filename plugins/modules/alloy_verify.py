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
  - Runs on the managed host and checks, concurrently and each within O(timeout)
    - the service (systemd unit active, optionally enabled; or, in container mode, the
    container running and healthy), Alloy's C(/-/ready), C(/-/healthy) and component
    health, the readiness of every Loki and Prometheus backend, and optionally that
    Prometheus has a recent sample and Loki a recent log line of this host.
  - Returns RV(healthy), every check with its detail and time, and a one-line RV(summary).
    Fails (unless O(fail_on_unhealthy=false)) with a message naming each failed check.
  - With O(wait), failed checks are retried until they pass or O(wait_timeout) passes.
  - Read-only; it never reports a change.
author: fleet.alloy maintainers (@fleet-alloy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - fleet.alloy.attributes.read_only
options:
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
  components:
    description: Component IDs that must be present and healthy; empty requires every loaded component to be healthy.
    type: list
    elements: str
    default: []
  loki_urls:
    description: Loki push or base URLs; C(/ready) of each is checked.
    type: list
    elements: str
    default: []
  prometheus_urls:
    description: Prometheus remote_write or base URLs; C(/-/ready) of each is checked.
    type: list
    elements: str
    default: []
  loki_auth:
    description: How to reach the Loki backends.
    type: dict
    default: {}
    suboptions: &auth
      username:
        description: Basic authentication user.
        type: str
      password:
        description: Basic authentication password.
        type: str
      bearer_token:
        description: Bearer token (instead of basic authentication).
        type: str
      tenant_id:
        description: Tenant, sent as C(X-Scope-OrgID).
        type: str
      ca_file:
        description: CA bundle for HTTPS.
        type: path
      cert_file:
        description: Client certificate.
        type: path
      key_file:
        description: Client key.
        type: path
      insecure_skip_verify:
        description: Do not verify the server certificate.
        type: bool
        default: false
  prometheus_auth:
    description: How to reach the Prometheus backends.
    type: dict
    default: {}
    suboptions: *auth
  data_flow:
    description: Also check that this host's data arrived (the first backend of each kind).
    type: bool
    default: false
  instance:
    description: The instance label of this host's data; empty is the host name.
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
    description: Seconds within which the newest sample or line must be.
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
"""

EXAMPLES = r"""
- name: Gate the rollout on this host
  fleet.alloy.alloy_verify:
    loki_urls: [http://loki.example.com:3100/loki/api/v1/push]
    prometheus_urls: [http://prometheus.example.com:9090/api/v1/write]
    data_flow: true
    wait: true
    wait_timeout: 120

- name: A container deployment, report only
  fleet.alloy.alloy_verify:
    mode: container
    container: alloy
    fail_on_unhealthy: false
  register: health

- name: With a tenant and a private CA
  fleet.alloy.alloy_verify:
    loki_urls: [https://loki.example.com/loki/api/v1/push]
    loki_auth:
      tenant_id: team-a
      username: alloy
      password: "{{ vault_loki_password }}"
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
  sample: "unhealthy: 1 of 6 checks failed: prometheus http://prometheus:9090 (connection refused)"
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
"""

import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import TLSOptions, auth_headers
from ansible_collections.fleet.alloy.plugins.module_utils.verify_checks import (
    Backend, alloy_endpoint_check, components_check, container_check, loki_data_check, prometheus_data_check,
    run_all, summary, systemd_check, backend_ready_check)

AUTH_OPTIONS = dict(
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    bearer_token=dict(type="str", no_log=True),
    tenant_id=dict(type="str"),
    ca_file=dict(type="path"),
    cert_file=dict(type="path"),
    key_file=dict(type="path"),
    insecure_skip_verify=dict(type="bool", default=False),
)

ARGUMENT_SPEC = dict(
    mode=dict(type="str", default="systemd", choices=["systemd", "container", "none"]),
    service=dict(type="str", default="alloy.service"),
    require_enabled=dict(type="bool", default=False),
    container=dict(type="str", default="alloy"),
    alloy_url=dict(type="str", default="http://127.0.0.1:12345"),
    components=dict(type="list", elements="str", default=[]),
    loki_urls=dict(type="list", elements="str", default=[]),
    prometheus_urls=dict(type="list", elements="str", default=[]),
    loki_auth=dict(type="dict", default={}, options=AUTH_OPTIONS),
    prometheus_auth=dict(type="dict", default={}, options=AUTH_OPTIONS),
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
)


def _backends(kind, urls, auth):
    auth = auth or {}
    headers = auth_headers(auth.get("username"), auth.get("password"), auth.get("bearer_token"),
                           auth.get("tenant_id"))
    tls = TLSOptions(auth.get("ca_file"), auth.get("cert_file"), auth.get("key_file"),
                     auth.get("insecure_skip_verify"))
    return [Backend(kind, url, headers, tls) for url in urls]


def build_checks(params, runner):
    """The check callables the parameters ask for, in report order."""
    timeout = params["timeout"]
    checks = []
    if params["mode"] == "systemd":
        checks.append(systemd_check(runner, params["service"], params["require_enabled"]))
    elif params["mode"] == "container":
        checks.append(container_check(runner, params["container"]))
    base = (params["alloy_url"] or "").rstrip("/")
    if base:
        checks.append(alloy_endpoint_check("alloy ready", base + "/-/ready", timeout))
        checks.append(alloy_endpoint_check("alloy healthy", base + "/-/healthy", timeout))
        checks.append(components_check(base + "/api/v0/web/components", params["components"], timeout))
    loki = _backends("loki", params["loki_urls"], params["loki_auth"])
    prometheus = _backends("prometheus", params["prometheus_urls"], params["prometheus_auth"])
    checks.extend(backend_ready_check(b, timeout) for b in loki + prometheus)
    if params["data_flow"]:
        instance = params["instance"] or socket.gethostname()
        if prometheus:
            query = params["prometheus_query"] or 'up{instance="%s"}' % instance
            checks.append(prometheus_data_check(prometheus[0], query, params["max_age"], timeout))
        if loki:
            query = params["loki_query"] or '{instance="%s"}' % instance
            checks.append(loki_data_check(loki[0], query, params["max_age"], timeout))
    return checks


def verify(params, runner):
    checks = build_checks(params, runner)
    deadline = time.time() + params["wait_timeout"]
    results = run_all(checks, wait=params["wait"], deadline=deadline, interval=params["wait_interval"])
    failed = [c.name for c in results if not c.ok]
    return dict(changed=False, healthy=not failed, checks=[c.as_dict() for c in results],
                summary=summary(results), failed_checks=failed)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result = verify(module.params, module.run_command)
    if not result["healthy"] and module.params["fail_on_unhealthy"]:
        module.fail_json(msg="alloy_verify: " + result["summary"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
