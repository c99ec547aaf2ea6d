# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action fleet.alloy.alloy_package: Grafana's Alloy package taken on the controller (a local
directory or a URL the controller reaches), checked against its SHA256 there, then put on the
host by ansible.builtin.copy. Nothing reaches the host before the check passed. Documentation:
plugins/modules/alloy_package.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os
import shutil
import tempfile

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase

from ansible_collections.fleet.alloy.plugins.plugin_utils import packages

_ARGS = {
    "location": {"type": "str", "required": True},
    "version": {"type": "str", "required": True},
    "release": {"type": "str", "default": "1"},
    "checksums": {"type": "raw", "required": True},
    "cache_dir": {"type": "path", "default": "~/.cache/fleet.alloy/packages"},
    "dest": {"type": "path", "default": "/var/cache/fleet-alloy"},
    "validate_certs": {"type": "bool", "default": True},
}
# How the role names these options (the failure messages point users at their variables).
_VARIABLE = "alloy_install_package_checksums"


class _Refused(Exception):
    """The package cannot be used; the message says why, naming the file and the variable."""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False   # ansible.builtin.copy, run from here, transfers the file
    _VALID_ARGS = frozenset(_ARGS)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=_ARGS)
        facts = task_vars.get("ansible_facts") or {}
        if not (facts.get("os_family") and facts.get("architecture")):
            return dict(result, failed=True, msg="alloy_package needs the host's facts os_family and architecture "
                                                 "(gather_subset min)")
        fmt = packages.package_format(facts["os_family"])
        staging = tempfile.mkdtemp(prefix="alloy-package-")   # private (0700): only this task writes there
        try:
            name, expected = self._wanted(args, fmt, facts["architecture"])
            staged = os.path.join(staging, "alloy." + fmt)
            source = self._stage(args, name, expected, staged)
            copied = self._copy(staged, args["dest"], task_vars)
        except (_Refused, packages.PackageError) as err:
            return dict(result, failed=True, msg=str(err))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        copied.update(name=name, sha256=expected, source=source, path=os.path.join(args["dest"], "alloy." + fmt))
        return dict(result, **copied)

    @staticmethod
    def _wanted(args, fmt, machine):
        """(the asset's file name, the SHA256 the list gives for it)."""
        for option in ("version", "release"):
            if not packages.VERSION.fullmatch(args[option]):
                raise _Refused("alloy_package: %s %r is not a package version" % (option, args[option]))
        name = packages.asset_name(args["version"], args["release"], fmt, machine)
        try:
            checksums = packages.checksum_map(args["checksums"])
        except ValueError as err:
            raise _Refused("%s: %s" % (_VARIABLE, err))
        if name not in checksums:
            raise _Refused("%s lists no SHA256 for %s: add the line of the release's SHA256SUMS for it"
                           % (_VARIABLE, name))
        return name, checksums[name]

    @staticmethod
    def _stage(args, name, expected, staged):
        """Copy the package into staged, checking the SHA256 of exactly those bytes; where it came from."""
        location = args["location"]
        if "://" not in location:
            source = os.path.join(os.path.expanduser(location), name)
            _check(source, _copy_from(source, staged), expected)
            return source
        source = location.rstrip("/") + "/" + name
        cached = _cached(source, os.path.join(args["cache_dir"], expected), name, expected, args["validate_certs"])
        _check(cached, _copy_from(cached, staged), expected)
        return source

    def _copy(self, staged, dest, task_vars):
        """ansible.builtin.copy of staged to dest/alloy.<fmt>: one file, replaced when the version changes."""
        task = self._task.copy()
        task.args = {"src": staged, "dest": dest.rstrip("/") + "/", "owner": "root", "group": "root",
                     "mode": "0644", "directory_mode": "0755"}
        copy = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return copy.run(task_vars=task_vars)


def _copy_from(path, staged):
    try:
        with open(path, "rb") as source:
            return packages.copy_hashing(source, staged)
    except (IOError, OSError) as err:
        raise _Refused("cannot read %s on the controller: %s" % (path, err.strerror or err))


def _check(source, found, expected):
    if found != expected:
        raise _Refused("%s has SHA256 %s, but %s says %s: the package was not copied to the host"
                       % (source, found, _VARIABLE, expected))


def _cached(url, folder, name, expected, validate_certs):
    """The cached download of url (folder is named after its SHA256), downloaded first when it
    is missing or no longer matches; one fork downloads while the others wait for it."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    cached = os.path.join(folder, name)
    with open(os.path.join(folder, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(cached):
            if packages.file_sha256(cached) == expected:
                return cached
            os.unlink(cached)   # changed since it was checked: not used, not kept
        _download(url, folder, cached, expected, validate_certs)
    return cached


def _download(url, folder, cached, expected, validate_certs):
    """url into the cache, kept only when its SHA256 is the expected one (written aside, then renamed)."""
    handle, partial = tempfile.mkstemp(dir=folder, prefix=".download-")
    os.close(handle)
    try:
        try:
            found = packages.copy_hashing(open_url(url, validate_certs=validate_certs, timeout=60), partial)
        except Exception as err:   # HTTP errors, refused connections, TLS: urllib's own words
            raise _Refused("cannot download %s on the controller: %s" % (url, to_native(err)))
        _check(url, found, expected)
        os.replace(partial, cached)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
