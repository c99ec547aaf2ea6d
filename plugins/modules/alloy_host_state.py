#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module fleet.alloy.alloy_host_state: what a host has of Alloy's installation, read in one round trip."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alloy_host_state
short_description: Read what a host has of an Alloy installation, changing nothing
version_added: 0.4.0
description:
  - Reads, in one round trip, the files and directories an installation writes (whether each exists,
    a file's SHA1, mode, owner and group), the OpenPGP keys rpm has imported, whether a package is
    installed (its version and, with dpkg, its selection such as C(hold)) and a systemd unit's load,
    active and unit-file states; one section of an env file without its values; and downloads one
    URL from the host (the repository key), as the host sees it.
  - The preflight of C(fleet.alloy.alloy_install) (C(fleet.alloy.alloy_preflight)) runs it, so that
    the role's tasks whose result the host already shows are skipped (a repository file with the
    same content, the package at the asked version, the service in the asked state); a task whose
    result differs runs as before, with its own change, diff and check mode.
  - With O(gather_subset) the same round trip gathers the host's facts as C(ansible.builtin.setup) does
    (the same collectors), and with O(for_family) the read is the one given for the host's C(os_family) -
    the preflight gathers the facts and reads the host at once when the read does not depend on them.
  - With O(config_dir) and O(env_secret_section) it also reads what C(fleet.alloy.alloy_config_apply) leaves
    (the files of a configuration directory, a secret section of the env file as an HMAC under O(digest_key)), so
    that C(fleet.alloy.alloy_config) skips its apply when the host shows it as the apply would leave it.
  - Nothing is read of a file but its metadata and checksum; a missing file, package or unit is
    reported as missing, not as a failure. A download that fails is reported (its status and the
    reason), not a failure either - the caller decides.
author: fleet.alloy maintainers (@fleet-alloy)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  files:
    description: Files to read, by a name of the caller's choosing.
    type: dict
    default: {}
  rpm_keys:
    description:
      - OpenPGP key ids (the last 8 hex digits of a fingerprint, lower case) to look up in rpm's database
        (C(rpm -q gpg-pubkey-<id>)).
    type: list
    elements: str
    default: []
  package:
    description: The package to look up; empty, none is.
    type: str
    default: ""
  package_manager:
    description:
      - Whose database tells whether O(package) is installed - C(dpkg) reads C(/var/lib/dpkg/status),
        C(rpm) asks C(rpm -q).
    type: str
    choices: [dpkg, rpm]
    default: dpkg
  service:
    description: The systemd unit to read (C(systemctl show)); empty, none is.
    type: str
    default: ""
  exists:
    description: Paths of which only whether they exist is read (no checksum, since such a file may hold secrets), by a name.
    type: dict
    default: {}
  env_file:
    description:
      - An env file in which C(fleet.alloy.alloy_env) writes O(env_section); empty, none is read.
      - Its values never leave the host - only the SHA1 of O(env_section) when that section is not marked
        secret and stands alone (its own END marker last, no other marker inside, there once), the names of
        the keys assigned outside the sections, and the file's mode, owner and group.
    type: path
    default: ""
  env_section:
    description: The section of O(env_file) to read (its owner's name).
    type: str
    default: ""
  env_secret_section:
    description:
      - A secret section of O(env_file) (one whose values the controller must not learn, such as
        C(alloy_config)'s) - whether it is there and, with O(digest_key), its HMAC-SHA256 under that key.
    type: str
    default: ""
  config_dir:
    description:
      - A configuration directory (where C(fleet.alloy.alloy_config_apply) writes) - whether it is a
        directory, and each C(*.alloy) file in it whose name starts with O(config_prefix), read as O(files) are.
        Empty, none is read.
    type: path
    default: ""
  config_prefix:
    description: The prefix of the files of O(config_dir) that are read (the writer's; the others are the user's).
    type: str
    default: fleet_
  url:
    description:
      - A URL to download from the host (C(http://) or C(https://), certificates verified); empty, none is.
      - Meant for public material such as a repository's OpenPGP key - its content is returned.
    type: str
    default: ""
  proxy:
    description:
      - The proxy (C(http://host:port), without credentials) to download O(url) through; empty, the
        download goes direct and ignores the proxy variables of the environment.
    type: str
    default: ""
  timeout:
    description: Seconds the download of O(url) may take.
    type: int
    default: 30
  digest_key:
    description:
      - The key of the HMAC of O(env_secret_section) (random, the caller's, for one run). Without it no
        digest of that section is made. Never logged.
    type: str
    default: ""
  gather_subset:
    description:
      - Also gather the host's facts of these subsets, as C(ansible.builtin.setup) with the same
        O(gather_subset), O(gather_timeout) and O(fact_path) does; returned as RV(ansible_facts). Empty, none are.
    type: list
    elements: str
    default: []
  gather_timeout:
    description: As C(ansible.builtin.setup)'s, for O(gather_subset).
    type: int
    default: 10
  fact_path:
    description: As C(ansible.builtin.setup)'s, for O(gather_subset) (the local facts).
    type: path
    default: /etc/ansible/facts.d
  for_family:
    description:
      - The read by the host's C(os_family) (needs O(gather_subset)) - each key a family such as C(Debian) or
        C(RedHat), each value the options above (O(files) to O(proxy)), used instead of them on a host of that
        family. A host of a family not listed is not read (RV(read) false).
    type: dict
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
  platform:
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Read the repository files, the package and the service
  fleet.alloy.alloy_host_state:
    files:
      sources: /etc/apt/sources.list.d/grafana.sources
    package: alloy
    service: alloy.service
  register: state

- name: Say whether the package is held
  ansible.builtin.debug:
    msg: "{{ state.package.selection == 'hold' }}"
"""

RETURN = r"""
files:
  description:
    - Each path of O(files), by its name - C(exists), C(state) (C(file) or C(directory); anything else counts
      as missing), C(link) (a symbolic link, followed for the rest), C(mode), C(owner), C(group) and a file's C(sha1).
  returned: always
  type: dict
  sample:
    sources: {path: /etc/apt/sources.list.d/grafana.sources, exists: true, state: file, link: false,
              sha1: 3c1e7b9b1f0e4d2e8a35f1f2f1c0b7f7e9a2c111, mode: "0644", owner: root, group: root}
rpm_keys:
  description: Each key id of O(rpm_keys), whether rpm has it.
  returned: always
  type: dict
  sample: {"10458545": true}
package:
  description:
    - O(package) - C(installed), C(version) (C(VERSION-RELEASE) with rpm, dpkg's C(Version) field)
      and, with dpkg, C(selection) (C(install), C(hold), C(deinstall) or C(purge)).
  returned: always
  type: dict
  sample: {installed: true, version: 1.5.1-1, selection: hold}
service:
  description:
    - O(service) - C(load_state) (C(not-found) when there is no such unit), C(active_state) and
      C(unit_file_state) as systemd names them; empty strings when systemctl cannot tell.
  returned: always
  type: dict
  sample: {load_state: loaded, active_state: active, unit_file_state: enabled}
exists:
  description: Each path of O(exists), by its name - whether it exists (symbolic links followed).
  returned: always
  type: dict
  sample: {config: true}
env:
  description:
    - O(env_file) - C(path), C(exists), C(link), C(mode), C(owner), C(group); C(section), O(env_section) -
      C(found) and, when it is not secret and stands alone, C(sha1) (of its lines, markers included, joined
      by line feeds); C(stray_keys), the keys assigned outside any section; C(canonical), whether the file is
      as C(fleet.alloy.alloy_env) leaves it (UTF-8, a last line end, not a link).
    - With O(env_secret_section), C(secret_section) - C(found) and, with O(digest_key), when it is there once,
      marked secret and stands alone, C(hmac) (HMAC-SHA256 of its lines under O(digest_key)).
  returned: always (empty without O(env_file) and O(env_section))
  type: dict
  sample: {path: /etc/default/alloy, exists: true, link: false, mode: "0640", owner: root, group: alloy,
           canonical: true, stray_keys: [], section: {found: true, sha1: 0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33}}
config:
  description:
    - O(config_dir) - C(path), C(exists) (a directory), C(link) and C(files), each C(*.alloy) file that
      starts with O(config_prefix) by its name, read as RV(files) are.
  returned: always (empty without O(config_dir))
  type: dict
  sample: {path: /etc/alloy/conf.d, exists: true, link: false,
           files: {fleet_loki.alloy: {exists: true, state: file, link: false, sha1: 0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33,
                                      mode: "0640", owner: root, group: alloy}}}
ansible_facts:
  description: The host's facts, as C(ansible.builtin.setup) gathers them.
  returned: with O(gather_subset)
  type: dict
  sample: {ansible_os_family: Debian, ansible_hostname: web-01}
family:
  description: The host's C(os_family) whose read of O(for_family) was made.
  returned: with O(for_family)
  type: str
  sample: Debian
read:
  description:
    - Whether the host was read - false with O(for_family) when it does not name the host's family or
      when the read failed (RV(read_error); the facts are returned all the same).
  returned: always
  type: bool
  sample: true
read_error:
  description: Why the read of O(for_family) failed.
  returned: when it failed
  type: str
  sample: "[Errno 13] Permission denied: '/etc/default/alloy'"
download:
  description:
    - O(url) - C(url), C(status) (the HTTP status; -1 when no answer came), C(content) (the body when
      the status is 200, else empty) and C(msg) (the reason of a failed download). Redirects are
      followed; a URL that is not C(http://) or C(https://) is not downloaded (status -1).
  returned: always (empty without O(url))
  type: dict
  sample: {url: "https://apt.grafana.com/gpg.key", status: 200, msg: OK,
           content: "-----BEGIN PGP PUBLIC KEY BLOCK-----..."}
"""

import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.facts import ansible_collector, default_collectors
from ansible.module_utils.facts.collector import CollectorNotFoundError, CycleFoundInFactDeps, UnresolvedFactDep
from ansible.module_utils.facts.namespace import PrefixFactNamespace
from ansible.module_utils.urls import open_url

from ansible_collections.fleet.alloy.plugins.module_utils.envfile import read_text, secret_section_read, section_read

DPKG_STATUS = "/var/lib/dpkg/status"
# What is read (for_family takes the same options by family).
READ_OPTIONS = {
    "files": {"type": "dict", "default": {}},
    "rpm_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},   # key ids, public
    "package": {"type": "str", "default": ""},
    "package_manager": {"type": "str", "default": "dpkg", "choices": ["dpkg", "rpm"]},
    "service": {"type": "str", "default": ""},
    "exists": {"type": "dict", "default": {}},
    "env_file": {"type": "path", "default": ""},
    "env_section": {"type": "str", "default": ""},
    "env_secret_section": {"type": "str", "default": "", "no_log": False},   # a section's name
    "config_dir": {"type": "path", "default": ""},
    "config_prefix": {"type": "str", "default": "fleet_"},
    "url": {"type": "str", "default": ""},
    "proxy": {"type": "str", "default": ""},
}
# ansible.builtin.setup's: what gather_subset ['!all'] still gathers.
MINIMAL_GATHER_SUBSET = frozenset(["apparmor", "caps", "cmdline", "date_time", "distribution", "dns", "env", "fips",
                                   "local", "lsb", "pkg_mgr", "platform", "python", "selinux", "service_mgr",
                                   "ssh_pub_keys", "user"])
SYSTEMD_PROPERTIES = (("LoadState", "load_state"), ("ActiveState", "active_state"),
                      ("UnitFileState", "unit_file_state"))


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def file_state(path):
    """exists, state (file or directory), mode, owner, group and a file's sha1 of path; exists
    false when it is missing or neither (a link is followed)."""
    try:
        info, link = os.stat(path), os.path.islink(path)
    except OSError:
        return {"path": path, "exists": False}
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return {"path": path, "exists": False}
    found = {"path": path, "exists": True, "state": "directory" if stat.S_ISDIR(info.st_mode) else "file", "link": link,
             "mode": "%04o" % stat.S_IMODE(info.st_mode),
             "owner": _name(pwd.getpwuid, info.st_uid), "group": _name(grp.getgrgid, info.st_gid)}
    if found["state"] == "file":
        found["sha1"] = _sha1(path)
    return found


def _rpm(module, args):
    """rpm's exit code and output; (1, "") without rpm on the host."""
    rpm = module.get_bin_path("rpm")
    if not rpm:
        return 1, ""
    rc, out, dummy = module.run_command([rpm] + args)
    return rc, out


def rpm_keys_imported(module, key_ids):
    """Whether each key id (the last 8 hex digits of a fingerprint, lower case) is in rpm's database."""
    return dict((key_id, _rpm(module, ["-q", "gpg-pubkey-" + key_id])[0] == 0) for key_id in key_ids)


def dpkg_stanza(text, package):
    """The fields of package's stanza in dpkg's status file, or {}."""
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if fields.get("Package") == package:
            return fields
    return {}


def dpkg_package(text, package):
    """installed, version and selection of package in dpkg's status file text."""
    fields = dpkg_stanza(text, package)
    status = fields.get("Status", "").split()
    installed = len(status) == 3 and status[2] == "installed"
    return {"installed": installed, "version": fields.get("Version", "") if installed else "",
            "selection": status[0] if status else ""}


def rpm_package(module, package):
    rc, out = _rpm(module, ["-q", "--queryformat", "%{VERSION}-%{RELEASE}", package])
    installed = rc == 0 and bool(out.strip())
    return {"installed": installed, "version": out.strip() if installed else "", "selection": ""}


def systemd_unit(module, unit):
    """load, active and unit file states of unit (empty strings when systemctl cannot tell)."""
    states = dict((name, "") for dummy, name in SYSTEMD_PROPERTIES)
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return states
    rc, out, dummy = module.run_command(
        [systemctl, "show", unit, "--property=" + ",".join(prop for prop, dummy in SYSTEMD_PROPERTIES)])
    if rc != 0:
        return states
    names = dict(SYSTEMD_PROPERTIES)
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in names:
            states[names[key]] = value.strip()
    return states


def package_state(module, options=None):
    options = module.params if options is None else options
    package = options["package"]
    if not package:
        return {}
    if options["package_manager"] == "rpm":
        return rpm_package(module, package)
    text = ""
    if os.path.exists(DPKG_STATUS):
        with open(DPKG_STATUS, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    return dpkg_package(text, package)


def env_state(path, section, secret_section="", key=""):
    """What section of the env file at path is, without any value (section_read), and the file's
    attributes; a link, or a file that is not UTF-8 text, is not canonical (alloy_env would not
    leave it as it is). With secret_section, that section's HMAC under key (secret_section_read)."""
    found = file_state(path)
    found.pop("sha1", None)   # the whole file's: it holds the secrets
    if found.get("state") != "file":
        return {"path": path, "exists": False}
    try:
        text = read_text(path)
        found.update(section_read(text, section))
        if secret_section:
            found["secret_section"] = secret_section_read(text, secret_section, key)
    except (OSError, UnicodeDecodeError):
        found.update(section={"found": False}, stray_keys=[], canonical=False)
        if secret_section:
            found["secret_section"] = {"found": False}
    if found["link"]:
        found["canonical"] = False
    return found


def config_state(path, prefix):
    """The directory at path and its *.alloy files whose name starts with prefix (file_state each)."""
    found = file_state(path)
    if found.get("state") != "directory":
        return {"path": path, "exists": False}
    try:
        names = sorted(name for name in os.listdir(path) if name.startswith(prefix) and name.endswith(".alloy"))
    except OSError:   # unreadable: not as the writer leaves it
        return {"path": path, "exists": False}
    files = dict((name, file_state(os.path.join(path, name))) for name in names)
    return {"path": path, "exists": True, "link": found["link"], "files": files}


def download(module, options=None):
    """url, status, content (on a 200) and msg of the download of the url option, from the host."""
    options = module.params if options is None else options
    url, proxy = options["url"], options["proxy"]
    if not url:
        return {}
    if not url.startswith(("http://", "https://")):
        return {"url": url, "status": -1, "content": "", "msg": "only http:// and https:// URLs are downloaded"}
    if proxy:   # urllib reads the proxy from the environment
        os.environ.update(http_proxy=proxy, https_proxy=proxy, HTTP_PROXY=proxy, HTTPS_PROXY=proxy)
    try:
        response = open_url(url, use_proxy=bool(proxy), timeout=module.params["timeout"], validate_certs=True)
        status = response.getcode()
        content = to_text(response.read(), errors="surrogate_or_strict") if status == 200 else ""
    # An HTTP error carries its status; no answer, a refused certificate or a bad address do not.
    except Exception as err:  # pylint: disable=broad-except
        return {"url": url, "status": int(getattr(err, "code", None) or -1), "content": "", "msg": to_text(err)}
    return {"url": url, "status": status, "content": content, "msg": "OK" if status == 200 else "HTTP %s" % status}


def gather_facts(module):
    """The host's facts of the gather_subset option, as ansible.builtin.setup gathers them."""
    try:
        collector = ansible_collector.get_ansible_collector(
            all_collector_classes=default_collectors.collectors,
            namespace=PrefixFactNamespace(namespace_name="ansible", prefix="ansible_"), filter_spec=[],
            gather_subset=module.params["gather_subset"], gather_timeout=module.params["gather_timeout"],
            minimal_gather_subset=MINIMAL_GATHER_SUBSET)
    except (TypeError, CollectorNotFoundError, CycleFoundInFactDeps, UnresolvedFactDep) as err:
        module.fail_json(msg=to_text(err))
    return collector.collect(module=module)


def family_options(module, family):
    """The read options of for_family for family, checked as the module's own; None when not listed."""
    given = module.params["for_family"].get(family)
    if given is None:
        return None
    validated = ArgumentSpecValidator(READ_OPTIONS).validate(given)
    if validated.error_messages:
        module.fail_json(msg="for_family.%s: %s" % (family, "; ".join(validated.error_messages)))
    return validated.validated_parameters


def read(module, options):
    """What the host has of the read options (and of digest_key, the same for every family)."""
    files = dict((name, file_state(str(path))) for name, path in options["files"].items())
    return dict(files=files, rpm_keys=rpm_keys_imported(module, options["rpm_keys"]),
                package=package_state(module, options),
                service=systemd_unit(module, options["service"]) if options["service"] else {},
                exists=dict((name, os.path.exists(str(path))) for name, path in options["exists"].items()),
                env=env_state(options["env_file"], options["env_section"], options["env_secret_section"],
                              module.params["digest_key"])
                if options["env_file"] and (options["env_section"] or options["env_secret_section"]) else {},
                config=config_state(options["config_dir"], options["config_prefix"]) if options["config_dir"] else {},
                download=download(module, options))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            READ_OPTIONS,
            timeout={"type": "int", "default": 30},
            digest_key={"type": "str", "default": "", "no_log": True},
            gather_subset={"type": "list", "elements": "str", "default": []},
            gather_timeout={"type": "int", "default": 10},
            fact_path={"type": "path", "default": "/etc/ansible/facts.d"},
            for_family={"type": "dict"}),
        supports_check_mode=True)
    result = {"changed": False}
    options = module.params
    if module.params["gather_subset"]:
        result["ansible_facts"] = gather_facts(module)
    if module.params["for_family"] is not None:
        if not module.params["gather_subset"]:
            module.fail_json(msg="for_family needs gather_subset: the family is the one of the facts gathered")
        result["family"] = result["ansible_facts"].get("ansible_os_family", "")
        options = family_options(module, result["family"])
        if options is not None:   # the facts come back whatever befalls the read: the caller reads again
            try:
                result.update(read(module, options))
            except Exception as err:  # pylint: disable=broad-except
                result["read_error"] = to_text(err)
                options = None
    else:
        result.update(read(module, options))
    result["read"] = options is not None
    module.exit_json(**result)


if __name__ == "__main__":
    main()
