# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action fleet.alloy.alloy_verify: runs the module on the host, then, on the controller, writes
its report (O(report)) and names the host in the failure of an unhealthy one, so a rollout's
check and its report are one task. Documentation: plugins/modules/alloy_verify.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

MODULE = "fleet.alloy.alloy_verify"


def report_lines(result):
    """One line per check - name | ok or FAIL | detail."""
    return ["%s | %s | %s" % (check.get("name"), "ok" if check.get("ok") else "FAIL", check.get("detail"))
            for check in result.get("checks") or []]


def failure_message(host, result):
    """The failure of an unhealthy host, its name first ("web-1 is not healthy: 1 of 9 checks
    failed: ..."); other failures keep their message."""
    summary = result.get("summary") or ""
    if result.get("healthy") is False and summary:
        return "%s is not healthy: %s" % (host, summary[len("unhealthy: "):] if summary.startswith("unhealthy: ") else summary)
    return result.get("msg")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars,
                                           wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        if "ansible_job_id" in result:   # async: the module's result comes with async_status
            return result
        if boolean(self._task.args.get("report", False), strict=False) and "checks" in result:
            result["report"] = report_lines(result)
            result["_ansible_verbose_always"] = True   # shown as ansible.builtin.debug shows its message
        if result.get("failed"):
            result["msg"] = failure_message(task_vars.get("inventory_hostname", "this host"), result)
        return result
