# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File writing shared by the collection's modules."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
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
