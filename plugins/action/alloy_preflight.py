# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action fleet.alloy.alloy_preflight: the rule book (plugin_utils/rulebook.py) applied to the
variables of one role or of the fleet plays, on the controller; no round trip to the host, but
the one that gathers its facts when asked (gather_subset) and, for alloy_install, the one that reads
what the host has of it (plugin_utils/host_state.py). Documentation:
plugins/modules/alloy_preflight.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.vars import combine_vars
from ansible.vars.clean import clean_facts, namespace_facts

from ansible_collections.fleet.alloy.plugins.plugin_utils import runtime as alloy_runtime
from ansible_collections.fleet.alloy.plugins.plugin_utils import cluster
from ansible_collections.fleet.alloy.plugins.plugin_utils import host_state
from ansible_collections.fleet.alloy.plugins.plugin_utils import pipelines
from ansible_collections.fleet.alloy.plugins.plugin_utils.rulebook import (
    INSTALL_FAMILIES, RULES, check_values, moved_problems)


def _plain(value):
    """value with vaulted strings decrypted (ansible-core 2.16 hands them over as objects)."""
    if isinstance(value, dict):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if "Vault" in type(value).__name__ or "Encrypted" in type(value).__name__:
        return str(value)
    return value


# The roles that run Alloy: their preflight publishes the runtime contract (the fact alloy_runtime).
_RUNTIME_ROLES = ("alloy_install", "alloy_docker")
_RUNTIME_READERS = ("alloy_config",)   # the tables whose role reads the runtime contract


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("rules", "roles", "gather_subset", "download_key"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec={
            "rules": {"type": "str", "required": True, "choices": sorted(RULES)},
            "roles": {"type": "list", "elements": "str", "default": [],
                      "choices": sorted(name for name in RULES if name != "site")},
            "gather_subset": {"type": "list", "elements": "str", "default": []},
            "download_key": {"type": "bool", "default": True}})
        tables = [args["rules"]] + [name for name in args["roles"] if name != args["rules"]]
        gathered, reads = {}, {}
        if args["gather_subset"]:
            reads = self._reads_before_facts(tables, task_vars, args["download_key"])
            gathered = self._gather(args["gather_subset"], task_vars, reads)
            if gathered.get("failed"):
                return gathered
            result.update((key, gathered[key]) for key in ("warnings", "deprecations") if gathered.get(key))
            task_vars = self._with_facts(task_vars, gathered["ansible_facts"])
        result["changed"] = False
        problems, roles, runtime = [], {}, None
        # the runtime roles first: the tables that read the runtime are checked with it
        for table in sorted(tables, key=lambda name: name in _RUNTIME_READERS):
            if table in _RUNTIME_READERS and problems and runtime is None and roles.keys() & set(_RUNTIME_ROLES):
                continue   # the runtime role's own problems come first; this table reads what it would describe
            context = self._context(task_vars)
            checked, found = self._check(table, task_vars, context)
            if found:
                problems.append("%s: %s" % (table, "; ".join(found)))
            roles[table] = checked
            if not found and table in _RUNTIME_ROLES:   # what the tables after it read (alloy_config)
                runtime = self._runtime(table, checked, task_vars)
                task_vars = self._with_runtime(task_vars, runtime) if runtime else task_vars
                missing = self._missing_tls_files(table, runtime, task_vars)
                if self._task.check_mode:   # a task of the play before this one may be the one that puts them
                    result.setdefault("warnings", []).extend(missing)
                else:
                    problems.extend(missing)
        if problems:   # without the facts: the message alone, not two hundred lines of facts
            result["failed"] = True
            result["msg"] = "; ".join(problems)
            return result
        if "alloy_install" in roles and runtime:
            found = self._host_state(roles["alloy_install"], runtime, task_vars, args["download_key"], gathered, reads,
                                     "alloy_config" in roles)
            if found.get("failed"):
                return found
            result["host_state"] = host_state.host_state(found)
        if gathered:   # as the play's fact gathering keeps them: stored, and shown only with -v
            result["ansible_facts"] = dict(gathered["ansible_facts"], _ansible_facts_gathered=True)
            result["_ansible_verbose_override"] = True
            if (result.get("host_state") or {}).get("config"):
                # what the host runs now (its record), as alloy_config_apply returns it: a skipped apply
                # returns none, and a fact of an earlier run (a fact cache) is not the host's
                result["ansible_facts"].update(pipelines.kept(gathered["ansible_facts"]))
        if runtime:
            result.setdefault("ansible_facts", {})[alloy_runtime.FACT] = runtime
        result["checked"] = roles[args["rules"]]
        if args["roles"]:
            result["roles"] = dict((name, roles[name]) for name in args["roles"])
        return result

    def _missing_tls_files(self, table, runtime, task_vars):
        """The cluster's TLS files (the role's cluster_tls) that are not on the host, as a problem:
        Alloy reads them at start and does not start without them. Asked of the host (one stat per
        file, read-only, in check mode too) only when the cluster runs over TLS."""
        tls = ((runtime or {}).get("cluster") or {}).get("tls") or {}
        missing = []
        for key in ("ca_file", "cert_file", "key_file"):
            if tls.get(key):
                found = self._execute_module(module_name="ansible.builtin.stat", task_vars=task_vars,
                                             module_args={"path": tls[key], "get_checksum": False})
                if not (found.get("stat") or {}).get("isreg"):
                    missing.append(tls[key])
        if not missing:
            return []
        return ["%s: %s_cluster_tls names files that are not on this host: %s (your PKI puts them there; "
                "Alloy does not start without them)" % (table, table, ", ".join(missing))]

    def _host_state(self, checked, runtime, task_vars, download_key, gathered, reads, config):
        """What the host has of alloy_install's files, package and service, and the repository key
        (read-only): the role skips the tasks whose result it already shows; with config, also of what
        alloy_config_apply leaves (alloy_config skips it when the host shows it all). The read made with
        the facts (gathered, of reads) when it is the one the variables checked with the facts ask for;
        else a round trip of its own."""
        probe = host_state.read_probe(checked, task_vars.get("ansible_facts") or {}, runtime, download_key, config)
        if gathered.get("read") and reads.get(gathered.get("family")) == probe:
            return gathered
        return self._execute_module(module_name=host_state.MODULE, task_vars=task_vars,
                                    module_args=self._with_key(probe, [probe], task_vars))

    @staticmethod
    def _with_key(module_args, reads, task_vars):
        """module_args with the host's key of this run when a read makes the HMAC of a secret section."""
        if any(read.get("env_secret_section") for read in reads):
            return dict(module_args, digest_key=host_state.host_key(task_vars.get("inventory_hostname", "")))
        return module_args

    def _reads_before_facts(self, tables, task_vars, download_key):
        """alloy_install's read of the host for each family it runs on (and alloy_config's, when it runs
        after it), from alloy_install's variables checked before the facts are gathered (every rule but
        those that need the facts: the platform), so that one round trip gathers them and reads the host;
        {} when a variable of alloy_install or of the fleet plays is refused, or cannot be templated yet (it
        reads a fact: the read waits for the facts and the whole check, as alloy_config's do)."""
        if "alloy_install" not in tables:
            return {}
        context = dict(self._context(task_vars), facts={})
        checked, problems = self._check("alloy_install", task_vars, context)
        if problems or ("site" in tables and self._check("site", task_vars, context)[1]):
            return {}
        reads = {}
        for family in INSTALL_FAMILIES:
            facts = {"os_family": family}
            runtime = self._runtime("alloy_install", checked, dict(task_vars, ansible_facts=facts))
            if runtime is None:
                return {}
            try:
                reads[family] = host_state.read_probe(checked, facts, runtime, download_key, "alloy_config" in tables)
            except KeyError:
                return {}
        return reads

    def _gather(self, subset, task_vars, reads):
        """The host's facts of subset: the play's fact gathering and this check in one task; by
        alloy_host_state with reads (the same collectors as ansible.builtin.setup's, and the read
        for the host's family in the same round trip), else by ansible.builtin.setup."""
        module = host_state.MODULE if reads else "ansible.builtin.setup"
        if reads:
            module_args = self._with_key({"gather_subset": subset, "for_family": reads}, reads.values(), task_vars)
        else:
            module_args = {"gather_subset": subset}
        gathered = self._execute_module(module_name=module, task_vars=task_vars, module_args=module_args)
        if not gathered.get("failed") and "ansible_facts" not in gathered:
            gathered.update(failed=True, msg="%s returned no facts" % module)
        return gathered

    def _with_facts(self, task_vars, gathered):
        """task_vars as the next task will see them (ansible_facts, and the ansible_* variables
        when facts are injected as variables); the variables are templated with them, since a
        role's default may read a fact (alloy_config_instance reads the host name)."""
        facts = combine_vars(task_vars.get("ansible_facts") or {}, namespace_facts(gathered)["ansible_facts"])
        task_vars = dict(task_vars, ansible_facts=facts)
        cleaned = clean_facts(gathered)
        if C.INJECT_FACTS_AS_VARS:   # below the play's and the inventory's variables, as Ansible puts them
            task_vars.update((name, value) for name, value in cleaned.items() if name not in task_vars)
        else:                        # Ansible keeps ansible_local a variable either way
            task_vars["ansible_local"] = cleaned.get("ansible_local", {})
        self._templar.available_variables = task_vars
        return task_vars

    def _context(self, task_vars):
        """What the cross checks read besides the variables: the host's facts and groups, and for
        clustering the inventory's groups and the hosts' inventory variables."""
        hostvars = task_vars.get("hostvars") or {}

        def peer_vars(host):
            try:
                return hostvars[host]
            except KeyError:
                return {}
        return {"facts": task_vars.get("ansible_facts") or {}, "groups": task_vars.get("group_names") or [],
                "host": task_vars.get("inventory_hostname", ""), "peer_vars": peer_vars,
                "inventory_groups": task_vars.get("groups") or {}}

    def _runtime(self, table, checked, task_vars):
        """The runtime contract of the role that runs Alloy (plugin_utils/runtime.py); None
        without the role's variables (a play that checks them outside the role)."""
        try:
            context = self._context(task_vars)
            described = cluster.describe(checked, context["host"], context["inventory_groups"], context["peer_vars"],
                                         cluster.SHAPES[table])
            if table == "alloy_docker":
                return alloy_runtime.compose(checked, described)
            return alloy_runtime.systemd(checked, task_vars.get("ansible_facts") or {},
                                         task_vars.get("inventory_hostname", ""), described)
        except KeyError:
            return None

    def _with_runtime(self, task_vars, runtime):
        """task_vars with the runtime published, as the next tasks will see it."""
        facts = dict(task_vars.get("ansible_facts") or {})
        facts[alloy_runtime.FACT] = runtime
        task_vars = dict(task_vars, ansible_facts=facts)
        self._templar.available_variables = task_vars
        return task_vars

    def _check(self, table, task_vars, context):
        """(converted values without the role's prefix and without secrets, problems)."""
        if table in _RUNTIME_READERS:
            try:   # once, rather than again for every variable whose default reads it
                alloy_runtime.from_facts(context["facts"], kept=False)
            except alloy_runtime.RuntimeMissing as err:
                return {}, [str(err)]
        values, problems = self._values(table, task_vars)
        checked, found = check_values(table, values, context)
        problems.extend(found + moved_problems(table, task_vars))
        prefix = table + "_"
        return dict((name[len(prefix):] if name.startswith(prefix) else name, value)
                    for name, value in checked.items() if not RULES[table][name].secret), problems

    def _values(self, table, task_vars):
        """The table's variables that are defined, templated; a variable that cannot be
        templated is a problem named after it."""
        values, problems = {}, []
        for name in RULES[table]:
            if name not in task_vars:
                continue
            try:
                values[name] = _plain(self._templar.template(task_vars[name]))
            except AnsibleError as err:   # the reason may quote the value: not for secrets
                reason = "" if RULES[table][name].secret else ": " + str(err).split("\n", maxsplit=1)[0]
                problems.append("%s cannot be templated%s" % (name, reason))
        return values, problems
