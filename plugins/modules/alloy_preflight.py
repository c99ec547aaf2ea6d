# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action fleet.alloy.alloy_preflight (plugins/action/alloy_preflight.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alloy_preflight
short_description: Check and convert the variables of a fleet.alloy role or play before any change
version_added: 0.2.0
description:
  - Applies the collection's rule book to every variable of one role (or of the fleet plays)
    that is defined, on the controller. The host is asked only for its facts (O(gather_subset)), for
    C(alloy_install) what it has of that role's files, package and service, and the repository key
    it downloads (RV(host_state)), and whether a cluster's TLS files are there.
  - Types are enforced and converted once - booleans from survey strings (C(yes), C(no), C(true),
    C(false), C(on), C(off), C(1), C(0)), whole numbers from digit strings, numbers to strings where
    Alloy wants a string; patterns match the whole value, so a trailing line break is refused;
    mapping keys written into Alloy blocks must be attributes Alloy has there.
  - Fails with one message naming every variable that breaks its rule and what was expected;
    secrets and URLs carrying credentials are never quoted.
  - The rules of each variable are listed in the collection's docs/variables.md.
options:
  rules:
    description:
      - Whose variables to check - a role of this collection, or C(site) for the variables of the
        fleet plays (C(alloy_site_*), C(alloy_verify_*), C(alloy_upgrade_*), C(alloy_uninstall_*)).
      - For C(alloy_install) the host's facts are checked too (OS family and version, systemd).
      - For C(site) the host may be in only one of the groups C(alloy) and C(alloy_docker).
    type: str
    required: true
    choices: [alloy_config, alloy_docker, alloy_install, site]
  roles:
    description:
      - Roles whose variables are checked in the same task, each result in RV(roles). A play
        that registers this task as C(alloy_preflight) spares those roles their own preflight
        task - they read C(alloy_preflight.roles.<role>) instead (C(playbooks/site.yml) does this).
      - Only for roles the play imports (their defaults are visible before they run) and whose
        variables it does not override when it runs them; nothing between this task and the roles
        may change C(alloy_install)'s files, package or service (RV(host_state) is what the host had
        when this task ran).
    type: list
    elements: str
    default: []
    choices: [alloy_config, alloy_docker, alloy_install]
  gather_subset:
    description:
      - Gather these facts of the host first (as C(ansible.builtin.setup) with this C(gather_subset)),
        check with them and return them - the play's fact gathering and this check in one task, for a
        play with C(gather_facts=false) (C(playbooks/site.yml) gathers C(min) this way).
      - Empty, the facts the host already has are used.
    type: list
    elements: str
    default: []
  download_key:
    description:
      - Whether the read of C(alloy_install)'s host state also downloads the repository key (from the
        host, through C(alloy_install_proxy) when set; C(download) of RV(host_state)), which the role's
        repository tasks write. Turn it off when they do not run (C(playbooks/site.yml) does for a
        run whose tags leave out C(install)), so that a run that does not need the key does not wait
        for its server.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Runs the same way in check mode; it changes nothing.
  diff_mode:
    support: none
    description: Nothing to show a difference of.
  platform:
    support: full
    platforms: all
    description: >-
      Runs on the controller (an action plugin), whatever the host; with O(gather_subset), C(ansible.builtin.setup)
      or M(fleet.alloy.alloy_host_state) runs on the host, and for C(alloy_install) M(fleet.alloy.alloy_host_state)
      does (read-only).
author: fleet.alloy maintainers (@fleet-alloy)
notes:
  - Runs on the controller (an action plugin); O(rules) tables live in plugins/plugin_utils/rulebook.py.
"""

EXAMPLES = r"""
- name: Check the alloy_install variables before changing anything
  fleet.alloy.alloy_preflight:
    rules: alloy_install
  register: __alloy_install_preflight

- name: Use a converted value (a survey's "no" is false here)
  ansible.builtin.debug:
    msg: "hold: {{ __alloy_install_preflight.checked.hold }}"
"""

RETURN = r"""
checked:
  description:
    - The converted values of the variables that are defined, by name without the role's prefix
      (C(alloy_install_hold) is C(hold)); variables that may hold secrets (env mappings,
      endpoints) are left out.
  returned: success
  type: dict
  sample: {"hold": false, "version": "1.10.0", "extra_args": []}
roles:
  description: The converted values of each role of O(roles), as RV(checked) gives them for O(rules).
  returned: success, when O(roles) is given
  type: dict
  sample: {"alloy_install": {"hold": false}, "alloy_config": {"journal_enabled": true}}
ansible_facts:
  description: The facts gathered with O(gather_subset), as the host's facts from now on.
  returned: with O(gather_subset)
  type: dict
  sample: {"os_family": "Debian", "distribution_major_version": "12", "service_mgr": "systemd"}
host_state:
  description:
    - What the host has of C(alloy_install)'s files, package and service, read by
      M(fleet.alloy.alloy_host_state) (that module's C(files), C(rpm_keys), C(package) and C(service)), as the
      variables checked with the facts ask; C(alloy_install) skips the tasks whose result it already shows.
    - With O(gather_subset), when the variables of C(alloy_install) and of the fleet plays pass the rules that
      need no facts, the read goes with the gathering (one round trip, the read for each OS family given) and is
      kept if it is the one asked for once the facts are in; otherwise the host is read after the check.
    - C(download) is the repository key as the host downloaded it (C(url), C(status), C(content), C(msg)),
      when the role installs from the repository without C(alloy_install_key_content).
  returned: when O(rules) or O(roles) names C(alloy_install) and its variables passed (and describe its runtime)
  type: dict
  sample: {"files": {"unit": {"path": "/usr/lib/systemd/system/alloy.service", "exists": true}},
           "package": {"installed": true, "version": "1.5.1-1", "selection": "hold"},
           "service": {"load_state": "loaded", "active_state": "active", "unit_file_state": "enabled"},
           "download": {"url": "https://apt.grafana.com/gpg-full.key", "status": 200, "content": "-----BEGIN PGP...",
                        "msg": "OK"}}
"""
