# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters fleet.alloy.alloy_pipelines (what alloy_config recorded on a host: the pipelines it runs
and what their backends can tell), fleet.alloy.alloy_pipelines_of (that record, from alloy_config's
checked variables) and fleet.alloy.alloy_verify_endpoints (the endpoints alloy_verify checks, as the
record says); their documentation is in alloy_pipelines.yml, alloy_pipelines_of.yml and
alloy_verify_endpoints.yml. The decision itself is plugins/plugin_utils/pipelines.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.fleet.alloy.plugins.plugin_utils import pipelines as record_of


def alloy_pipelines(facts, key=None, host=""):
    try:
        record = record_of.from_facts(facts)
    except record_of.RecordError as err:
        raise AnsibleFilterError(str(err))
    if record is None:
        record = copy.deepcopy(record_of.NONE)
        Display().warning(
            "%sfleet.alloy.alloy_config has recorded no pipelines here (the fact %s): Alloy is checked, and the "
            "delivery of whatever writers it runs, but no backend is asked for this host's data and Fleet "
            "Management is not checked; run alloy_config (site.yml) once on this host"
            % ("%s: " % host if host else "", record_of.FACT))
    if key is None:
        return record
    if key not in record_of.NONE:
        raise AnsibleFilterError("alloy_pipelines: no key %r; the keys are %s"
                                 % (key, ", ".join(sorted(record_of.NONE))))
    return record[key]


def alloy_pipelines_of(checked, scrape_jobs=False, fleet_management=False):
    return record_of.describe(checked or {}, scrape_jobs=scrape_jobs, fleet_management=fleet_management)


def alloy_verify_endpoints(endpoints, record, kind):
    if kind not in record_of.KINDS:
        raise AnsibleFilterError("alloy_verify_endpoints: kind must be one of %s, got %r"
                                 % (", ".join(record_of.KINDS), kind))
    if not isinstance(endpoints, list):
        raise AnsibleFilterError("alloy_verify_endpoints: the %s endpoints must be a list, got %s"
                                 % (kind, type(endpoints).__name__))
    return record_of.endpoints_to_check(endpoints, record, kind)


class FilterModule(object):
    def filters(self):
        return {"alloy_pipelines": alloy_pipelines, "alloy_pipelines_of": alloy_pipelines_of,
                "alloy_verify_endpoints": alloy_verify_endpoints}
