# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter fleet.alloy.alloy_local_url: where a process on the host reaches Alloy's HTTP server."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: alloy_local_url
short_description: The URL of Alloy's HTTP server as seen from the host it runs on
version_added: 0.2.0
description:
  - Takes the address Alloy listens on or is published on (C(host:port), C([ipv6]:port), or
    an address with O(port)) and returns the C(http://) URL a process on that host uses.
  - The wildcard addresses C(0.0.0.0) and C(::) become C(127.0.0.1) and C([::1]); any other
    address is kept, so a port published on one interface only is reached there.
options:
  _input:
    description: C(host:port), or an address when O(port) is given.
    type: str
    required: true
  port:
    description: The port, when the input is an address alone.
    type: int
"""

EXAMPLES = r"""
- name: Alloy of the alloy_install role
  ansible.builtin.debug:
    msg: "{{ '0.0.0.0:12345' | fleet.alloy.alloy_local_url }}"   # http://127.0.0.1:12345

- name: Alloy of the alloy_docker role, published on one address
  ansible.builtin.debug:
    msg: "{{ '10.0.0.5' | fleet.alloy.alloy_local_url(12345) }}"  # http://10.0.0.5:12345
"""

RETURN = r"""
_value:
  description: The URL, without a trailing slash.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.alloy.plugins.plugin_utils.runtime import local_url


def alloy_local_url(address, port=None):
    try:
        return local_url(address, port)
    except ValueError as err:
        raise AnsibleFilterError("alloy_local_url: %s" % err)


class FilterModule(object):
    def filters(self):
        return {"alloy_local_url": alloy_local_url}
