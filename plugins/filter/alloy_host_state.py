# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters on what alloy_host_state read, each telling whether a task would change nothing:
alloy_file_current (a file's content and attributes), alloy_env_current (one section of an env file
that holds no secret), alloy_fact_current (a local fact) and alloy_config_current (what alloy_config_apply
leaves, its secret section of the env file by an HMAC); documentation in their .yml files."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.fleet.alloy.plugins.module_utils.envfile import (EnvFileError, render_section,
                                                                          section_digest, section_keyed_digest)
from ansible_collections.fleet.alloy.plugins.module_utils.files import fact_text
from ansible_collections.fleet.alloy.plugins.plugin_utils.host_state import CONFIG_ENV_SECTION, host_key


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


def alloy_config_current(state, runtime, files, secrets, record, host, mode, owner, expected=()):
    """Whether alloy_config_apply would change nothing (files in the runtime's configuration directory, secrets
    in alloy_config's section of its env file under host's key, record kept as the local fact, the files' and the
    env file's mode and owner), by the preflight's read of the host (alloy_host_state's result,
    host_state.config_probe): False whenever the read cannot vouch for it."""
    if not isinstance(state, dict) or not isinstance(runtime, dict):
        raise AnsibleFilterError("alloy_config_current: expects the preflight's host_state and the runtime contract, "
                                 "got %r and %r" % (state, runtime))
    config, group = state.get("config") or {}, runtime.get("config_group")
    if not (config.get("exists") and not config.get("link") and config.get("path") == runtime.get("config_dir")):
        return False
    live = config.get("files") or {}
    if set(live) != set(files) or not set(expected) <= set(files):
        return False   # a file to write, or one of the writer's to remove (or a pipeline that did not render)
    if not all(alloy_file_current(live[name], content, mode, owner, group) for name, content in files.items()):
        return False
    return (alloy_fact_current((state.get("files") or {}).get("pipelines_fact") or {}, record)
            and _secrets_current(state.get("env") or {}, runtime, secrets, host, (mode, owner, group)))


def _secrets_current(env, runtime, secrets, host, attributes):
    """Whether alloy_config's secret section of the env file (its HMAC under the host's key of this run) and the file's
    text and attributes (mode, owner, group) are as alloy_config_apply leaves them with secrets."""
    section = env.get("secret_section") or {}
    if not (env.get("exists") and env.get("canonical") and env.get("path") == runtime.get("env_file")
            and (env.get("mode"), env.get("owner"), env.get("group")) == attributes):
        return False
    if set(env.get("stray_keys") or []) & set(secrets):
        return False   # the apply removes an assignment of its keys outside the sections
    if not secrets:
        return section.get("found") is False   # removed, when there are no secrets
    key = host_key(host, create=False)
    if not (key and section.get("hmac")):
        return False
    try:
        wanted = section_keyed_digest(render_section(CONFIG_ENV_SECTION, secrets, True), key)
    except EnvFileError:
        return False   # the apply refuses the value, with its reason
    return hmac.compare_digest(section["hmac"], wanted)


class FilterModule(object):
    def filters(self):
        return {"alloy_file_current": alloy_file_current, "alloy_env_current": alloy_env_current,
                "alloy_fact_current": alloy_fact_current, "alloy_config_current": alloy_config_current}
