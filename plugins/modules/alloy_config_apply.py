#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module fleet.alloy.alloy_config_apply: validated, reloaded, reversible config changes."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alloy_config_apply
short_description: Install Alloy configuration files only if Alloy accepts them, then reload
version_added: 0.1.0
description:
  - Compares the wanted C(*.alloy) files with a configuration directory. When something
    differs, builds the complete new configuration (the wanted files plus every other
    C(*.alloy) file already there) in a private staging directory and checks it with
    C(alloy validate) (C(alloy fmt) on each file for Alloy older than 1.9).
  - Only a configuration that passes replaces the live files; managed files (those whose
    name starts with O(prefix)) that are no longer wanted are removed.
  - With O(reload_url), asks the running Alloy to reload. If Alloy refuses the new
    configuration, the previous files are put back and the task fails with Alloy's
    message, so the files on disk always match what Alloy runs. If Alloy does not answer
    at all (not running), the files stay and RV(reloaded) is false.
  - With O(env_file), also sets the section O(env_section) of Alloy's env file to
    O(env_secrets) (the same file and markers as M(fleet.alloy.alloy_env), a section
    marked secret), in the same task. The env file is written only after the new
    configuration passed the check, so a configuration Alloy refuses leaves the env file
    as it was (a separate M(fleet.alloy.alloy_env) task before this one used to leave the
    new secrets behind). When the section changed, the module does not ask for a reload
    (a reload does not read the environment again), returns RV(env_changed) and the
    caller restarts Alloy.
  - Secret values never appear in the result - the values of every secret section of
    the env file are masked in the diff.
  - In check mode the new configuration is still validated (read-only, in a temporary
    directory), so a dry run reports a configuration Alloy would refuse.
author: fleet.alloy maintainers (@fleet-alloy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
  - fleet.alloy.attributes.files
options:
  path:
    description: The configuration directory (C(CONFIG_FILE) of the service); created if missing.
    type: path
    required: true
  files:
    description: Wanted files, name to content. Every name starts with O(prefix) and ends in C(.alloy).
    type: dict
    required: true
  expected:
    description:
      - Names that must be in O(files). A name that is missing (its template did not render)
        fails the task before anything changes, instead of removing the live file.
    type: list
    elements: str
    default: []
  prefix:
    description: Files with this prefix belong to the caller; the others are left alone.
    type: str
    default: fleet_
  validate:
    description:
      - How to check the staged configuration. C(auto) asks C(alloy --version) and uses
        C(validate) from 1.9 on, C(fmt) (syntax only) before. C(none) skips the check.
    type: str
    choices: [auto, validate, fmt, none]
    default: auto
  alloy_command:
    description:
      - The command that runs Alloy's CLI, as a list. The string C({staging}) in an item
        is replaced by the staging directory (for a container, to mount it).
    type: list
    elements: str
    default: [/usr/bin/alloy]
  reload_url:
    description: Alloy's reload endpoint (C(http://127.0.0.1:12345/-/reload)); empty for no reload.
    type: str
    default: ""
  reload_tls:
    description:
      - How to check Alloy's HTTPS server when O(reload_url) is https:// (the runtime contract's C(api_tls)).
    type: dict
    suboptions:
      ca_file:
        description: The CA that signed Alloy's certificate; the system's CAs when not set.
        type: path
      server_name:
        description: The name Alloy's certificate carries, when it is not the URL's host (C(127.0.0.1)).
        type: str
      cert_file:
        description: A client certificate to present, when Alloy asks for one.
        type: path
      key_file:
        description: Its key.
        type: path
  restart_on:
    description:
      - Names of files whose change Alloy is to apply by a restart, not a reload (the HTTP server's own TLS,
        C(fleet_http.alloy) - the reload request would cross the listener whose scheme it changes). When one of
        them is written or removed no reload is asked for, and RV(restart_needed) is true.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds for the reload request.
    type: int
    default: 30
  directory_mode:
    description: Mode of O(path) when the module creates it.
    type: raw
    default: "0750"
  env_file:
    description:
      - Alloy's env file (for example C(/etc/default/alloy)); created if missing, in a
        directory that must exist. It gets the same O(owner), O(group) and O(mode) as the
        configuration files. Not set, the env file is left alone.
    type: path
  env_section:
    description: The owner's name in the env file's markers (letters, digits and C(_)).
    type: str
    default: alloy_config
  env_secrets:
    description:
      - Secret variables of the section, by variable name; never logged. Empty, the
        section is removed.
    type: dict
    default: {}
  record:
    description:
      - What the configuration runs, for later plays (the record C(fleet.alloy.alloy_config) keeps of its
        pipelines, P(fleet.alloy.alloy_pipelines_of#filter)) - kept on the host as the local fact O(record_path) once the
        configuration is in place (JSON, root's, mode C(0644); a missing parent directory is created, mode
        C(0755)) and returned as the fact C(alloy_pipelines), so that this play and later ones (gathering
        C(ansible_local)) read what the host runs. In check mode it is returned, not written.
      - Plain data, returned as a fact and kept readable by all - it must hold no secret.
      - Its change alone does not make the task changed (bookkeeping for later plays, which restarts nothing);
        RV(record_changed) says it.
      - Nothing is done to the local fact when this is not given.
    type: dict
  record_path:
    description: Where O(record) is kept.
    type: path
    default: /etc/ansible/facts.d/alloy_pipelines.fact
"""

EXAMPLES = r"""
- name: Install and activate the pipelines
  fleet.alloy.alloy_config_apply:
    path: /etc/alloy/conf.d
    files:
      fleet_journal.alloy: "{{ lookup('ansible.builtin.template', 'journal.alloy.j2') }}"
    reload_url: http://127.0.0.1:12345/-/reload
    owner: root
    group: alloy
    mode: "0640"

- name: Install the pipelines and their secrets, then reload (or report a restart is needed)
  fleet.alloy.alloy_config_apply:
    path: /etc/alloy/conf.d
    files:
      fleet_journal.alloy: "{{ lookup('ansible.builtin.template', 'journal.alloy.j2') }}"
    reload_url: http://127.0.0.1:12345/-/reload
    env_file: /etc/default/alloy
    env_secrets:
      FLEET_ALLOY_LOKI_0_PASSWORD: "{{ vault_loki_password }}"
    owner: root
    group: alloy
    mode: "0640"
  register: applied

- name: Restart Alloy for its changed secrets
  ansible.builtin.systemd_service:
    name: alloy.service
    state: restarted
  when: applied.env_changed
"""

RETURN = r"""
written:
  description: Files written (new or changed).
  returned: always
  type: list
  elements: str
removed:
  description: Managed files removed.
  returned: always
  type: list
  elements: str
validator:
  description: The check used (validate, fmt or none); empty when nothing changed.
  returned: always
  type: str
reloaded:
  description: Whether the running Alloy reloaded the new configuration.
  returned: always
  type: bool
reload_message:
  description: Alloy's answer to the reload, or why there was none.
  returned: always
  type: str
env_changed:
  description:
    - Whether the env file's section changed (false without O(env_file)). Alloy reads the
      environment only when it starts - restart it; no reload was asked for.
  returned: always
  type: bool
restart_needed:
  description:
    - Whether Alloy has to be restarted to run what was installed - RV(env_changed), or a file of
      O(restart_on) written or removed; no reload was asked for.
  returned: always
  type: bool
record_changed:
  description: Whether the local fact O(record_path) was (or in check mode would be) written.
  returned: when O(record) is given
  type: bool
ansible_facts:
  description: The fact C(alloy_pipelines), O(record) as given.
  returned: when O(record) is given
  type: dict
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleet.alloy.plugins.module_utils.config_apply import (
    ApplyError, diffs, env_change, install, parse_version, plan, remove_tree, stage, undo, validation_commands,
    validator_for)
from ansible_collections.fleet.alloy.plugins.module_utils.files import keep_fact, write_private
from ansible_collections.fleet.alloy.plugins.module_utils.http_probe import TLSOptions, request
from ansible_collections.fleet.alloy.plugins.module_utils.runtime_fact import PIPELINES_FACT, PIPELINES_FACT_PATH


class ConfigApply(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = module.params["path"]

    def command(self, staging):
        return [item.replace("{staging}", staging) for item in self.params["alloy_command"]]

    def validator(self, staging):
        wanted = self.params["validate"]
        if wanted != "auto":
            return wanted
        rc, out, err = self.module.run_command(self.command(staging) + ["--version"])
        if rc != 0:
            command = " ".join(self.command(staging))
            raise ApplyError("%s --version failed (rc %d): %s" % (command, rc, (err or out).strip()))
        return validator_for(parse_version(out))

    def validate(self, the_plan):
        parent = os.path.dirname(self.path.rstrip("/")) or "/"
        staging = tempfile.mkdtemp(prefix=".fleet-alloy-staging-", dir=parent if os.path.isdir(parent) else None)
        try:
            stage(staging, self.path, self.params["files"], self.params["prefix"])
            validator = self.validator(staging)
            if validator == "none":
                return validator
            for cmd in validation_commands(self.command(staging), validator, staging):
                rc, out, err = self.module.run_command(cmd)
                if rc != 0:
                    text = (err or out).replace(staging + os.sep, "").replace(staging, self.path).strip()
                    raise ApplyError("alloy %s refused the new configuration; the live files in %s are "
                                     "unchanged:\n%s" % (validator, self.path, text))
            return validator
        finally:
            remove_tree(staging)

    def write_file(self, path, content):
        write_private(self.module, path, content)

    def ensure_directory(self):
        if os.path.isdir(self.path):
            return False
        if not self.module.check_mode:
            os.makedirs(self.path)
            file_args = self.module.load_file_common_arguments(self.params, path=self.path)
            file_args["mode"] = self.params["directory_mode"]
            self.module.set_fs_attributes_if_different(file_args, False)
        return True

    def reload(self, undo_list):
        tls = self.params["reload_tls"]
        answer = request(self.params["reload_url"], method="POST", timeout=self.params["timeout"],
                         tls=TLSOptions(**dict((k, v) for k, v in tls.items() if v)) if tls else None)
        if answer.status is None:
            return False, "Alloy did not answer (%s); it loads the files when it starts" % answer.error
        if answer.status == 200:
            return True, answer.body.strip()
        undo(undo_list, self.write_file)
        raise ApplyError("Alloy refused the reload (%s); the previous files are back in %s and Alloy "
                         "keeps running its previous configuration" % (answer.describe(), self.path))

    def env(self):
        """The planned change of the env file's section, or None without env_file."""
        path = self.params["env_file"]
        if not path:
            return None
        if not os.path.isdir(os.path.dirname(path) or ".") and not self.module.check_mode:
            # In check mode the directory may be one an earlier task would have created.
            raise ApplyError("the directory of %s does not exist" % path)
        return env_change(path, self.params["env_section"], self.params["env_secrets"])

    def run(self):
        result = dict(changed=False, written=[], removed=[], validator="", reloaded=False, reload_message="",
                      env_changed=False, restart_needed=False)
        missing = sorted(set(self.params["expected"]) - set(self.params["files"]))
        if missing:
            raise ApplyError("%s did not render (no content given): nothing was changed in %s"
                             % (", ".join(missing), self.path))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ApplyError("%s is a file: the pipelines go into a directory that Alloy loads (point the service "
                             "at a directory, such as /etc/alloy/conf.d); nothing was changed" % self.path)
        the_plan = plan(self.path, self.params["files"], self.params["prefix"])
        env = self.env()
        result["changed"] = self.ensure_directory()
        changes = diffs(self.path, the_plan)
        if the_plan.changed:
            result.update(changed=True, written=sorted(the_plan.write), removed=the_plan.remove)
            result["validator"] = self.validate(the_plan)
        # Only a configuration that passed gets its secrets.
        if env is not None and env.changed:
            result.update(changed=True, env_changed=True)
            changes.append(env.diff())
            if not self.module.check_mode:
                self.write_file(env.path, env.after)
        if changes:
            result["diff"] = changes
        restart_files = sorted(set(self.params["restart_on"]) & set(result["written"] + result["removed"]))
        result["restart_needed"] = bool(result["env_changed"] or restart_files)
        if the_plan.changed and not self.module.check_mode:
            undo_list = install(self.path, the_plan, self.write_file)
            if result["env_changed"]:
                result["reload_message"] = "not asked: the env file changed, Alloy reads it only when it starts"
            elif restart_files:
                result["reload_message"] = "not asked: %s changed, which Alloy is to apply by a restart" % (
                    ", ".join(restart_files))
            elif self.params["reload_url"]:
                result["reloaded"], result["reload_message"] = self.reload(undo_list)
        result["changed"] = self.attributes(result["changed"], env)
        self.record(result)
        return result

    def record(self, result):
        """Keep the record of what now runs (O(record)): not a change by itself."""
        record = self.params.get("record")
        if record is None:
            return
        path = self.params["record_path"]
        result.update(ansible_facts={PIPELINES_FACT: record})
        try:
            changed, diff = keep_fact(self.module, path, record)
        except (IOError, OSError) as err:   # the configuration is live by now: say so, do not fail the apply
            self.module.warn("the pipelines are in place, but their record %s could not be kept (%s): a later "
                             "play that runs the verify task alone reads none" % (path, err))
            result["record_changed"] = False
            return
        result["record_changed"] = changed
        if changed:
            result["diff"] = result.get("diff", []) + [diff]

    def attributes(self, changed, env=None):
        paths = []
        if os.path.isdir(self.path):
            paths = [os.path.join(self.path, name) for name in sorted(self.params["files"])]
        if env is not None:
            paths.append(env.path)
        for path in paths:
            if os.path.exists(path):
                changed = self.module.set_fs_attributes_if_different(
                    self.module.load_file_common_arguments(self.params, path=path), changed)
        return changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            files=dict(type="dict", required=True),
            expected=dict(type="list", elements="str", default=[]),
            prefix=dict(type="str", default="fleet_"),
            validate=dict(type="str", default="auto", choices=["auto", "validate", "fmt", "none"]),
            alloy_command=dict(type="list", elements="str", default=["/usr/bin/alloy"]),
            reload_url=dict(type="str", default=""),
            reload_tls=dict(type="dict", options=dict(ca_file=dict(type="path"), server_name=dict(type="str"),
                                                      cert_file=dict(type="path"), key_file=dict(type="path"))),
            restart_on=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=30),
            directory_mode=dict(type="raw", default="0750"),
            env_file=dict(type="path"),
            env_section=dict(type="str", default="alloy_config"),
            env_secrets=dict(type="dict", default={}, no_log=True),
            record=dict(type="dict"),
            record_path=dict(type="path", default=PIPELINES_FACT_PATH),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    try:
        result = ConfigApply(module).run()
    except ApplyError as err:
        module.fail_json(msg=str(err))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
