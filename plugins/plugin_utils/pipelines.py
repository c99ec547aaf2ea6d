# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What alloy_config runs on a host, and what its backends can tell of it: decided here, once, from
alloy_config's checked variables (its vars/main.yml turns the Loki and Prometheus pipelines on from
this), kept on the host by alloy_config_apply as the local fact alloy_pipelines (beside the runtime
contract, alloy_runtime) and read back by playbooks/tasks/verify.yml, which no longer judges
alloy_config's variables itself. No secret in it: facts may be cached, the local fact is 0644."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleet.alloy.plugins.module_utils.runtime_fact import PIPELINES_FACT as FACT

QUERY = "query"         # the backend can be asked for this host's data (the instance label)
DELIVERY = "delivery"   # only Alloy's delivery to the backend can be judged
QUIET = "quiet"         # what is sent comes from others, when they send: nothing of it to judge
CHECKS = (QUERY, DELIVERY, QUIET)   # the strongest first: a backend is judged by its strongest sender
KINDS = ("loki", "prometheus")
# Each pipeline that sends to one of the backends alloy_config writes to, the backend's kind, and
# what that backend can tell of it.
SENDS = (
    # The host's journal: Alloy's own lines arrive all the time, under the host's instance.
    ("journal", "loki", QUERY),
    # A quiet file sends nothing: no line of the host need be there.
    ("log_files", "loki", DELIVERY),
    # What applications send over OTLP, when they send, under their own labels: an application
    # that sends nothing leaves the writer without a series (remote write: "nothing sent yet").
    ("otlp_to_loki", "loki", QUIET),
    # The host's series (the unix exporter, Alloy's own metrics), under the host's instance.
    ("unix", "prometheus", QUERY),
    ("self_metrics", "prometheus", QUERY),
    # Shared targets carry their own instance.
    ("scrape_jobs", "prometheus", DELIVERY),
    ("otlp_to_prometheus", "prometheus", QUIET),
)
# Pipelines that send to no backend alloy_verify reads through endpoints.
OTHERS = ("otlp", "fleet_management")
NAMES = tuple(name for name, _kind, _check in SENDS) + OTHERS
# What a host without a record reads as: no pipeline of alloy_config's known.
NONE = {"pipelines": [], "backends": {}, "instance": ""}


class RecordError(Exception):
    """A record that is not one this version reads."""


def running(checked, scrape_jobs=False, fleet_management=False):
    """The names of the pipelines alloy_config runs, in NAMES order, from its checked variables
    (the rule book's conversion, without the role's prefix); the scrape jobs and the Fleet
    Management connection hold secrets and are not in it: whether they are given."""
    otlp = bool(checked.get("otlp_enabled"))
    on = {
        "journal": bool(checked.get("journal_enabled")),
        "log_files": bool(checked.get("log_files")),
        "otlp_to_loki": otlp and bool(checked.get("otlp_logs_to_loki")),
        "unix": bool(checked.get("unix_enabled")),
        "self_metrics": bool(checked.get("self_metrics")),
        "scrape_jobs": bool(scrape_jobs),
        "otlp_to_prometheus": otlp and bool(checked.get("otlp_metrics_to_prometheus")),
        "otlp": otlp,
        "fleet_management": bool(fleet_management),
    }
    return [name for name in NAMES if on[name]]


def backends(pipelines):
    """For each kind some pipeline sends to, the strongest check of its senders (CHECKS): query when
    one of them can be asked of the backend, else delivery, else quiet. A kind no pipeline sends to
    is absent."""
    found = {}
    for name, kind, check in SENDS:
        if name in pipelines:
            found[kind] = min(check, found.get(kind, check), key=CHECKS.index)
    return found


def describe(checked, scrape_jobs=False, fleet_management=False):
    """The record alloy_config keeps: the pipelines it runs, what each backend kind can tell, and
    the instance label the pipelines set ("" when it is an Alloy expression: the runtime's name)."""
    pipelines = running(checked, scrape_jobs, fleet_management)
    instance = checked.get("instance")
    return {"pipelines": pipelines, "backends": backends(pipelines),
            "instance": instance if isinstance(instance, str) else ""}


def _valid(record):
    if not isinstance(record, dict) or not isinstance(record.get("pipelines"), list) \
            or not isinstance(record.get("backends"), dict) or not isinstance(record.get("instance"), str):
        raise RecordError("the fact %s is not one this version of fleet.alloy reads (%r): run "
                          "fleet.alloy.alloy_config (site.yml) again on this host" % (FACT, record))
    wrong = sorted(kind for kind, check in record["backends"].items()
                   if kind not in KINDS or check not in CHECKS)
    if wrong:
        raise RecordError("the fact %s names backends this version of fleet.alloy does not know (%s): run "
                          "fleet.alloy.alloy_config (site.yml) again on this host" % (FACT, ", ".join(wrong)))
    return record


def from_facts(facts):
    """The record of this run (the fact alloy_config_apply returned), else the one kept on the host
    (gathered as ansible_local); None when alloy_config has recorded nothing here."""
    facts = facts or {}
    found = facts.get(FACT) or (facts.get("ansible_local") or {}).get(FACT)
    return None if not found else _valid(found)


def kept(facts):
    """{alloy_pipelines: the record kept on the host} from facts just gathered (ansible_local), or {}: the fact
    of this run before alloy_config_apply returns its own (a run that skips the apply keeps the host's)."""
    found = ((facts or {}).get("ansible_local") or {}).get(FACT)
    return {FACT: found} if found else {}


def endpoints_to_check(endpoints, record, kind):
    """The endpoints of kind alloy_verify is to check, as the record says: none when no pipeline
    sends there, or only others' data when they send (quiet); as given when the backend can be asked
    for the host's data; with verify.query false (their other verify settings kept) when only
    delivery can be judged."""
    check = (record or NONE)["backends"].get(kind)
    if check in (None, QUIET):
        return []
    endpoints = list(endpoints or [])
    if check == QUERY:
        return endpoints
    judged = []
    for endpoint in endpoints:
        endpoint = dict(endpoint)
        endpoint["verify"] = dict(endpoint.get("verify") or {}, query=False)
        judged.append(endpoint)
    return judged
