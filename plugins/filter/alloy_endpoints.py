# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter fleet.alloy.alloy_endpoints: Loki, Prometheus, OTLP or Fleet Management endpoints, or scrape jobs,
checked and split."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: alloy_endpoints
short_description: Check Loki, Prometheus, OTLP or Fleet Management endpoints (or scrape jobs) and separate their secrets
version_added: 0.1.0
description:
  - Takes endpoints as the alloy_config role documents them (queue_config and
    tls.insecure_skip_verify converted by the rule book) and returns what the role
    needs - problems (messages naming the variable), the endpoints in Alloy's shape with
    secrets replaced by C(sys.env(...)) references, and the secrets for the env file.
  - With kind C(scrape), the input is alloy_config_scrape_jobs (checked by the rule book) and each
    result is a prometheus.scrape - C(label), C(name), C(attributes) (targets with the job's labels,
    job_name...), C(blocks) (basic_auth, tls_config) and C(clustering) (auto, true or false).
options:
  _input:
    description: The list of endpoints.
    type: list
    elements: dict
    required: true
  kind:
    description: Which component the endpoints belong to.
    type: str
    choices: [loki, prometheus, otlp, fleet, scrape]
    required: true
  varname:
    description: The variable name used in problem messages.
    type: str
    default: endpoints
"""

EXAMPLES = r"""
- name: Fail on endpoints that cannot work
  ansible.builtin.assert:
    that: (my_endpoints | fleet.alloy.alloy_endpoints('loki', 'my_endpoints')).problems | length == 0
"""

RETURN = r"""
_value:
  description: C(problems) (list of str), C(endpoints) (list of dict with C(attributes)
    and C(blocks)) and C(secrets) (dict of env variable name to secret).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.alloy.plugins.module_utils.alloy_endpoints import (
    KINDS, alloy_endpoint, endpoint_secrets)
from ansible_collections.fleet.alloy.plugins.plugin_utils.rulebook import convert_endpoints, convert_scrape_jobs


def alloy_endpoints(endpoints, kind, varname="endpoints"):
    if kind not in KINDS:
        raise AnsibleFilterError("alloy_endpoints: kind must be one of %s" % ", ".join(KINDS))
    convert = convert_scrape_jobs if kind == "scrape" else convert_endpoints
    endpoints, problems = convert(endpoints, kind, varname)
    if problems:
        return {"problems": problems, "endpoints": [], "secrets": {}}
    return {
        "problems": [],
        "endpoints": [alloy_endpoint(ep, kind, index) for index, ep in enumerate(endpoints)],
        "secrets": endpoint_secrets(endpoints, kind),
    }


class FilterModule(object):
    def filters(self):
        return {"alloy_endpoints": alloy_endpoints}
