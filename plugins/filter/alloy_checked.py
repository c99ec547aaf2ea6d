# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter fleet.alloy.alloy_checked: one variable through the rule book."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: alloy_checked
short_description: Check and convert one fleet.alloy variable by the collection's rule book
version_added: 0.2.0
description:
  - Returns the value converted by the rule of the variable named (a survey's C("no") becomes
    C(false), C("1,25%,100%") becomes a list of batches), or fails with a message that names the
    variable and what was expected.
  - For values read before any task can run, such as a play's C(serial); the roles check their
    variables with the fleet.alloy.alloy_preflight action.
options:
  _input:
    description: The value.
    type: raw
    required: true
  name:
    description: The variable whose rule applies (see docs/variables.md).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Roll out in batches given by a survey
  hosts: alloy
  serial: "{{ alloy_site_serial | default([1, '25%', '100%']) | fleet.alloy.alloy_checked('alloy_site_serial') }}"
  tasks: []
"""

RETURN = r"""
_value:
  description: The converted value.
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.alloy.plugins.plugin_utils.rulebook import Problem, check_value


def alloy_checked(value, name):
    try:
        return check_value(name, value)
    except Problem as err:
        raise AnsibleFilterError(str(err))
    except KeyError as err:
        raise AnsibleFilterError(err.args[0])


class FilterModule(object):
    def filters(self):
        return {"alloy_checked": alloy_checked}
