# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters on what alloy_host_state read, each telling whether a task would change nothing:
alloy_file_current (a file's content and attributes), alloy_env_current (one section of an env file
that holds no secret) and alloy_fact_current (a local fact); documentation in their .yml files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.fleet.alloy.plugins.module_utils.envfile import (EnvFileError, render_section,
                                                                          section_digest)
from ansible_collections.fleet.alloy.plugins.module_utils.files import fact_text


def alloy_file_current(state, content, mode="0644", owner="root", group="root"):
    """content None: a directory is expected."""
    if not isinstance(state, dict):
        raise AnsibleFilterError("alloy_file_current: expects a file of alloy_host_state's files, got %r" % (state,))
    if not state.get("exists") or state.get("link"):
        return False   # a link: the modules that write the file would not leave it as it is
    if content is None:
        same = state.get("state") == "directory"
    else:
        same = (state.get("state") == "file"
                and state.get("sha1") == hashlib.sha1(to_bytes(content, errors="surrogate_or_strict")).hexdigest())
    return same and state.get("mode") == mode and state.get("owner") == owner and state.get("group") == group


def alloy_env_current(env, name, values, mode="0640", owner="root", group="root"):
    """Whether alloy_env would leave the env file as it is when it sets section name to values
    (none of them secret): the section the same, no assignment of its keys outside the sections,
    the text as alloy_env writes it, and the file's attributes."""
    if not isinstance(env, dict):
        raise AnsibleFilterError("alloy_env_current: expects alloy_host_state's env, got %r" % (env,))
    section = env.get("section") or {}
    if not (env.get("exists") and env.get("canonical") and values and section.get("sha1")):
        return False   # missing, not as alloy_env writes it, or a section whose checksum the host did not give
    try:
        expected = section_digest(render_section(name, values, False))
    except EnvFileError:
        return False   # alloy_env refuses the value, with its reason
    return (section["sha1"] == expected and not set(env.get("stray_keys") or []) & set(values)
            and env.get("mode") == mode and env.get("owner") == owner and env.get("group") == group)


def alloy_fact_current(state, data):
    """Whether the local fact alloy_host_state read is data, as alloy_env and alloy_config_apply keep it."""
    return alloy_file_current(state, fact_text(data))


class FilterModule(object):
    def filters(self):
        return {"alloy_file_current": alloy_file_current, "alloy_env_current": alloy_env_current,
                "alloy_fact_current": alloy_fact_current}
