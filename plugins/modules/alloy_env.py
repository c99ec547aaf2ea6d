#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module fleet.alloy.alloy_env: one role's section of Alloy's env file."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alloy_env
short_description: Manage one owner's section of Alloy's env file
version_added: 0.1.0
description:
  - Writes the variables of one owner (a role) between marker comments in an env file
    read by systemd (C(EnvironmentFile=)), by the Alloy package scripts and by
    docker compose (C(env_file)). Other sections and other lines are kept; assignments
    outside any section of a key this section sets are removed.
  - Values are double-quoted with C(\\), C("), C($) and backquote escaped; a value with
    a newline is refused.
  - Secret values are never shown - the section is marked secret and its values are
    masked in the diff of every owner, so the env file is the only place they appear.
author: fleet.alloy maintainers (@fleet-alloy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
  - fleet.alloy.attributes.files
options:
  path:
    description: The env file (for example C(/etc/default/alloy)); created if missing.
    type: path
    required: true
  section:
    description: The owner's name, used in the markers.
    type: str
    required: true
  values:
    description: Plain variables of the section.
    type: dict
    default: {}
  secret_values:
    description: Secret variables of the section; their presence marks the section secret.
    type: dict
    default: {}
  dropin_path:
    description:
      - A systemd drop-in written in the same task (for example
        C(/etc/systemd/system/alloy.service.d/fleet-alloy.conf)), so that a role needs one
        round trip for the env file and the unit's drop-in.
      - The drop-in is owned by root, group root, mode C(0644), whatever O(owner), O(group)
        and O(mode) say (they apply to the env file only); a missing parent directory is
        created owned by root, mode C(0755).
      - Nothing is done to a drop-in when this is not given.
    type: path
  dropin:
    description:
      - The content of the drop-in at O(dropin_path), written as given; empty removes the
        file if present (its directory is left).
      - Plain text, shown in diffs - never put secrets here; they go in O(secret_values).
    type: str
    default: ''
  config_path:
    description:
      - The configuration the service loads (a file or a directory); when given, the result
        says whether it exists on the host in RV(config_exists). Nothing is written there.
      - The alloy_install role starts (and restarts) the service only once a configuration
        exists - alloy_config writes it, and the handler of its topic starts the service.
    type: path
  runtime:
    description:
      - The runtime contract of the role that runs Alloy here (the fact C(alloy_runtime) its
        preflight published - kind, service, config_dir, config_group, env_file, alloy_command,
        api_url, instance, host_paths), kept on the host as the local fact O(runtime_path) (JSON,
        root's, mode C(0644); a missing parent directory is created, mode C(0755)) and returned as
        the fact C(alloy_runtime), so that this play and later ones (gathering C(ansible_local)) read
        one description.
      - Plain data, shown in diffs - it must hold no secret.
      - Nothing is done to the local fact when this is not given.
      - When its C(cluster.tls) names TLS files (the CA, the member's certificate and key), each must exist on the
        host (outside check mode), since Alloy would not start without them. A missing one fails the task before
        anything is written.
    type: dict
  runtime_path:
    description: Where O(runtime) is kept.
    type: path
    default: /etc/ansible/facts.d/alloy_runtime.fact
notes:
  - With O(dropin_path) or O(runtime), the diff is a list - the env file's, then the
    drop-in's, then the local fact's, each with headers naming its path.
"""

EXAMPLES = r"""
- name: Write the env file and the unit's drop-in, and see whether the configuration exists
  fleet.alloy.alloy_env:
    path: /etc/default/alloy
    section: alloy_install
    values:
      CONFIG_FILE: /etc/alloy/conf.d
    owner: root
    group: alloy
    mode: "0640"
    dropin_path: /etc/systemd/system/alloy.service.d/fleet-alloy.conf
    dropin: |
      [Service]
      User=grafana
    config_path: /etc/alloy/conf.d
  register: settings

- name: Write the pipeline secrets
  fleet.alloy.alloy_env:
    path: /etc/default/alloy
    section: alloy_config
    secret_values:
      FLEET_ALLOY_LOKI_0_PASSWORD: "{{ vault_loki_password }}"
  no_log: true
"""

RETURN = r"""
keys:
  description: The variable names the section holds now.
  returned: always
  type: list
  elements: str
  sample: [CONFIG_FILE, CUSTOM_ARGS]
secret:
  description: Whether the section is marked secret.
  returned: always
  type: bool
dropin_changed:
  description: Whether the drop-in was (or in check mode would be) written, removed or given other attributes.
  returned: when O(dropin_path) is given
  type: bool
env_changed:
  description: Whether the env file's section or attributes were (or in check mode would be) changed.
  returned: always
  type: bool
runtime_changed:
  description: Whether the local fact O(runtime_path) was (or in check mode would be) written.
  returned: when O(runtime) is given
  type: bool
ansible_facts:
  description: The fact C(alloy_runtime), O(runtime) as given.
  returned: when O(runtime) is given
  type: dict
config_exists:
  description:
    - Whether O(config_path) exists on the host (a file or a directory, symbolic links followed),
      also in check mode.
  returned: when O(config_path) is given
  type: bool
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.alloy.plugins.module_utils.envfile import EnvFileError, section_change
from ansible_collections.fleet.alloy.plugins.module_utils.files import keep_fact, keep_root_file, write_private
from ansible_collections.fleet.alloy.plugins.module_utils.runtime_fact import FACT, FACT_PATH


def _env_file(module, path, section, values, secret):
    """Set the section in the env file: (changed, diff with secret values masked)."""
    try:
        change = section_change(path, section, values, secret)
    except EnvFileError as err:
        module.fail_json(msg="%s: %s" % (path, err))
    changed = change.changed
    if changed and not module.check_mode:
        write_private(module, path, change.after)
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    return changed, change.diff()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            section=dict(type="str", required=True),
            values=dict(type="dict", default={}),
            secret_values=dict(type="dict", default={}, no_log=True),
            dropin_path=dict(type="path"),
            dropin=dict(type="str", default=""),
            config_path=dict(type="path"),
            runtime=dict(type="dict"),
            runtime_path=dict(type="path", default=FACT_PATH),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path, section = module.params["path"], module.params["section"]
    if not re.match(r"^[A-Za-z0-9_]+$", section):
        module.fail_json(msg="section must be letters, digits and _, got %r" % section)
    values = dict(module.params["values"])
    values.update(module.params["secret_values"])
    secret = bool(module.params["secret_values"])
    if not os.path.isdir(os.path.dirname(path) or ".") and not module.check_mode:
        # In check mode the directory may be one an earlier task would have created.
        module.fail_json(msg="the directory of %s does not exist" % path)
    changed, diff = _env_file(module, path, section, values, secret)
    result = dict(changed=changed, env_changed=changed, keys=sorted(values), secret=secret, diff=diff)
    diffs = [diff]
    dropin_path = module.params["dropin_path"]
    if dropin_path:
        dropin_changed, dropin_diff = keep_root_file(module, dropin_path, module.params["dropin"])
        result.update(changed=result["changed"] or dropin_changed, dropin_changed=dropin_changed)
        diffs.append(dropin_diff)
    runtime = module.params["runtime"]
    if runtime is not None:
        runtime_changed, runtime_diff = keep_fact(module, module.params["runtime_path"], runtime)
        result.update(changed=result["changed"] or runtime_changed, runtime_changed=runtime_changed,
                      ansible_facts={FACT: runtime})
        diffs.append(runtime_diff)
    if len(diffs) > 1:
        result["diff"] = diffs
    if module.params["config_path"]:
        result["config_exists"] = os.path.exists(module.params["config_path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
