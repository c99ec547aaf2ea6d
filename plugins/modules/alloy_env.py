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
"""

EXAMPLES = r"""
- name: Write the service's settings
  fleet.alloy.alloy_env:
    path: /etc/default/alloy
    section: alloy_install
    values:
      CONFIG_FILE: /etc/alloy/conf.d
    owner: root
    group: alloy
    mode: "0640"

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
"""

import io
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.alloy.plugins.module_utils.envfile import EnvFileError, file_text, masked
from ansible_collections.fleet.alloy.plugins.module_utils.files import write_private


def _read(path):
    if not os.path.exists(path):
        return ""
    with io.open(path, "r", encoding="utf-8") as handle:
        return handle.read()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            section=dict(type="str", required=True),
            values=dict(type="dict", default={}),
            secret_values=dict(type="dict", default={}, no_log=True),
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
    before = _read(path)
    try:
        after = file_text(before, os.path.exists(path), section, values, secret)
    except EnvFileError as err:
        module.fail_json(msg="%s: %s" % (path, err))
    changed = before != after
    result = dict(changed=changed, keys=sorted(values), secret=secret,
                  diff=dict(before=masked(before), after=masked(after),
                            before_header=path, after_header=path))
    if changed and not module.check_mode:
        write_private(module, path, after)
    if os.path.exists(path):
        file_args = module.load_file_common_arguments(module.params)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
