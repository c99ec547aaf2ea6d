# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File writing shared by the collection's modules."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import stat


def write_private(module, path, text, params=None):
    """Write text to path through a private (0600) temporary file beside it that takes the
    existing file's owner and mode, then the task's owner/group/mode (or those of params,
    file options as the task's are), before the rename: the file is never readable by
    others, not even for a moment."""
    tmp = os.path.join(os.path.dirname(path) or ".", ".%s.fleet-alloy.tmp" % os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with io.open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    if os.path.exists(path):
        current = os.stat(path)
        os.chown(tmp, current.st_uid, current.st_gid)
        os.chmod(tmp, stat.S_IMODE(current.st_mode))
    attributes = module.params if params is None else params
    module.set_fs_attributes_if_different(module.load_file_common_arguments(attributes, path=tmp), False)
    os.rename(tmp, path)


# A systemd drop-in or a local fact (/etc/ansible/facts.d/*.fact): root's, readable by all (setup
# reads a fact as any user), in a directory made root's, 0755, when missing; whatever the task's
# owner/group/mode (those are the file the module is about: the env file, the configuration).
ROOT_FILE_OWNER = ("root", "root")
ROOT_FILE_MODE = "0644"
ROOT_DIR_MODE = "0755"


def _read(path):
    if not os.path.exists(path):
        return ""
    with io.open(path, "r", encoding="utf-8") as handle:
        return handle.read()


def _root_attributes(module, path, mode):
    owner, group = ROOT_FILE_OWNER
    return dict(module.load_file_common_arguments({}, path=path), owner=owner, group=group, mode=mode)


def _make_root_dir(module, directory):
    """Create directory if missing (not in check mode): whether it was missing."""
    if os.path.isdir(directory):
        return False
    if not module.check_mode:
        os.makedirs(directory, int(ROOT_DIR_MODE, 8))
        module.set_fs_attributes_if_different(_root_attributes(module, directory, ROOT_DIR_MODE), False)
    return True


def keep_root_file(module, path, text):
    """Keep text (no secret: it is shown in the diff) as a root file at path (ROOT_FILE_*), or
    remove the file when text is empty; not in check mode. Returns (changed, diff)."""
    exists, before = os.path.exists(path), _read(path)
    diff = dict(before=before, after=text, before_header=path, after_header=path)
    if not text:
        if exists and not module.check_mode:
            os.remove(path)
        return exists, diff
    changed = not exists or before != text
    changed = _make_root_dir(module, os.path.dirname(path)) or changed
    attributes = _root_attributes(module, path, ROOT_FILE_MODE)
    if changed and not module.check_mode:
        write_private(module, path, text, attributes)
    if os.path.exists(path):
        changed = module.set_fs_attributes_if_different(attributes, changed)
    return changed, diff


def fact_text(data):
    """A local fact's file text: data as JSON (also what the controller compares, filter alloy_fact_current)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def keep_fact(module, path, data):
    """Keep data as the local fact at path, as JSON (keep_root_file). Returns (changed, diff)."""
    return keep_root_file(module, path, fact_text(data))
