# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter fleet.alloy.alloy_file_current: whether a file alloy_host_state read already has the
content and attributes a task would write (documentation: alloy_file_current.yml)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes


def alloy_file_current(state, content, mode="0644", owner="root", group="root"):
    """content None: a directory is expected."""
    if not isinstance(state, dict):
        raise AnsibleFilterError("alloy_file_current: expects a file of alloy_host_state's files, got %r" % (state,))
    if not state.get("exists"):
        return False
    if content is None:
        same = state.get("state") == "directory"
    else:
        same = (state.get("state") == "file"
                and state.get("sha1") == hashlib.sha1(to_bytes(content, errors="surrogate_or_strict")).hexdigest())
    return same and state.get("mode") == mode and state.get("owner") == owner and state.get("group") == group


class FilterModule(object):
    def filters(self):
        return {"alloy_file_current": alloy_file_current}
