# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace an Alloy configuration directory only with a configuration Alloy accepts.

plan() compares the wanted files with the live directory; stage() builds the whole new
configuration (the wanted files plus the files of others already there) in a private
directory; validate() runs `alloy validate` on it (or `alloy fmt` on each file for
Alloy older than 1.9); install() swaps the files in and returns what undo() needs to
put the old ones back, for when the running Alloy refuses the reload. env_change() is the
caller's section of the env file (module_utils/envfile.py), written only after the
configuration passed, with its secrets masked in the diff.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import os
import re
import shutil

from ansible_collections.fleet.alloy.plugins.module_utils.envfile import EnvFileError, section_change

VALIDATE_SINCE = (1, 9)
_VERSION = re.compile(r"version v?(\d+)\.(\d+)\.(\d+)")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.alloy\Z")
_SECTION = re.compile(r"^[A-Za-z0-9_]+\Z")


class ApplyError(Exception):
    """The change cannot be applied; the message says why."""


class Plan(object):
    def __init__(self, write, remove, before):
        self.write = write      # {name: content} new or different
        self.remove = remove    # [name] managed files no longer wanted
        self.before = before    # {name: content} live content of the files touched

    @property
    def changed(self):
        return bool(self.write or self.remove)


def _read(path):
    """The file's text as it is (no newline translation: a CR LF file is not the LF text it would read as)."""
    with io.open(path, "r", encoding="utf-8", newline="") as handle:
        return handle.read()


def live_files(directory):
    """{name: content} of the *.alloy files directly in directory."""
    if not os.path.isdir(directory):
        return {}
    names = sorted(n for n in os.listdir(directory)
                   if n.endswith(".alloy") and os.path.isfile(os.path.join(directory, n)))
    return dict((name, _read(os.path.join(directory, name))) for name in names)


def check_names(files, prefix):
    bad = [n for n in files if not _NAME.match(n) or not n.startswith(prefix)]
    if bad:
        raise ApplyError("file names must match %s*.alloy (letters, digits, _ . -): %s"
                         % (prefix, ", ".join(sorted(bad))))


def plan(directory, files, prefix):
    check_names(files, prefix)
    live = live_files(directory)
    write = dict((n, c) for n, c in files.items() if live.get(n) != c)
    remove = sorted(n for n in live if n.startswith(prefix) and n not in files)
    before = dict((n, live[n]) for n in list(write) + remove if n in live)
    return Plan(write, remove, before)


def diffs(directory, the_plan):
    out = []
    for name in sorted(the_plan.write) + the_plan.remove:
        path = os.path.join(directory, name)
        out.append(dict(before_header=path, after_header=path,
                        before=the_plan.before.get(name, ""), after=the_plan.write.get(name, "")))
    return out


def env_change(path, section, secrets):
    """The env file with section holding secrets (a secret section; removed when secrets
    is empty). Reads only: a value that cannot be written is an error before any change."""
    if not _SECTION.match(section):
        raise ApplyError("env_section must be letters, digits and _, got %r" % section)
    try:
        return section_change(path, section, secrets, bool(secrets))
    except EnvFileError as err:
        raise ApplyError("%s: %s" % (path, err))


def stage(staging, directory, files, prefix):
    """Write the complete new configuration into staging."""
    for name, content in live_files(directory).items():
        if not name.startswith(prefix):
            _write(os.path.join(staging, name), content)
    for name, content in files.items():
        _write(os.path.join(staging, name), content)


def _write(path, content):
    with io.open(path, "w", encoding="utf-8") as handle:
        handle.write(content)


def parse_version(text):
    match = _VERSION.search(text or "")
    if not match:
        raise ApplyError("cannot read the Alloy version from: %r" % (text or "").strip()[:200])
    return tuple(int(part) for part in match.groups())


def validator_for(version):
    return "validate" if version[:2] >= VALIDATE_SINCE else "fmt"


def validation_commands(alloy_command, validator, staging):
    """The commands that check staging: one validate, or fmt per file."""
    if validator == "validate":
        return [alloy_command + ["validate", staging]]
    return [alloy_command + ["fmt", os.path.join(staging, n)] for n in sorted(os.listdir(staging))
            if n.endswith(".alloy")]


def install(directory, the_plan, write_file):
    """Swap the planned files in with write_file(path, content); returns the undo list."""
    undo = []
    for name in sorted(the_plan.write):
        path = os.path.join(directory, name)
        undo.append((path, the_plan.before.get(name)))
        write_file(path, the_plan.write[name])
    for name in the_plan.remove:
        path = os.path.join(directory, name)
        undo.append((path, the_plan.before[name]))
        os.remove(path)
    return undo


def undo(undo_list, write_file):
    """Put back what install() replaced: old contents rewritten, new files deleted."""
    for path, content in reversed(undo_list):
        if content is None:
            if os.path.exists(path):
                os.remove(path)
        else:
            write_file(path, content)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
