# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter fleet.alloy.alloy_runtime: the runtime contract of a host, from its facts."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: alloy_runtime
short_description: How Alloy runs on a host, as its runtime role described it
version_added: 0.2.0
description:
  - Takes a host's C(ansible_facts) and returns the description of its Alloy runtime that
    M(fleet.alloy.alloy_env) kept for the role that runs Alloy there (C(fleet.alloy.alloy_install)
    for systemd, C(fleet.alloy.alloy_docker) for Compose) - the fact C(alloy_runtime) of this run,
    else the local fact C(/etc/ansible/facts.d/alloy_runtime.fact) gathered with the facts.
  - Keys - C(kind) (systemd or compose), C(service), C(config_dir), C(config_group), C(env_file),
    C(alloy_command), C(api_url), C(instance), C(host_paths) (procfs, sysfs, rootfs, udev_data); and, absent from
    a description kept by an earlier release, C(cluster), C(http_tls) (the tls block alloy_config writes into
    Alloy's http block) and C(api_tls) (the CA, server name and client certificate that reach C(api_url) when
    it is https://).
  - Fails, naming the roles to run, when the host has none.
  - With O(kept=false), only the fact a runtime role's preflight published in this run is taken, not
    the one kept on the host (C(fleet.alloy.alloy_config) reads it so - the runtime role also brings
    the handlers that restart Alloy).
options:
  _input:
    description: The host's C(ansible_facts).
    type: dict
    required: true
  key:
    description: One key of the description instead of all of it.
    type: str
  kept:
    description: Also take the description kept on the host (C(ansible_local)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Where this host's Alloy answers
  ansible.builtin.debug:
    msg: "{{ ansible_facts | fleet.alloy.alloy_runtime('api_url') }}"   # http://127.0.0.1:12345
"""

RETURN = r"""
_value:
  description: The description (a dict), or the value of O(key).
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.alloy.plugins.plugin_utils.runtime import ALONE, KEYS, OPTIONAL, RuntimeMissing, from_facts


def alloy_runtime(facts, key=None, kept=True):
    try:
        runtime = from_facts(facts, kept=kept)
    except RuntimeMissing as err:
        raise AnsibleFilterError(str(err))
    if key is None:
        return runtime
    if key not in KEYS and key not in OPTIONAL:
        raise AnsibleFilterError("alloy_runtime: no key %r; the keys are %s" % (key, ", ".join(sorted(set(KEYS) | set(OPTIONAL)))))
    if key == "cluster" and key not in runtime:
        return dict(ALONE)    # a runtime kept by a release before clustering
    if key in ("http_tls", "api_tls") and key not in runtime:
        return {}             # a runtime kept by a release before TLS: plain HTTP
    return runtime[key]


class FilterModule(object):
    def filters(self):
        return {"alloy_runtime": alloy_runtime}
