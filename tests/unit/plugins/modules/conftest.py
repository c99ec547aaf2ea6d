"""Fixtures of the module tests (alloy_env, alloy_config_apply's record): files given to root, and a umask that must not matter."""
from __future__ import annotations

import grp
import os
import pwd
from typing import Iterator, Tuple

import pytest

from ansible_collections.fleet.alloy.plugins.module_utils import files


@pytest.fixture
def owner(monkeypatch: pytest.MonkeyPatch) -> Tuple[int, int]:
    """The (uid, gid) the drop-in and the local fact must get: root's; without root, the module
    is told to use this user's and group's names, since only root can give files to root."""
    if os.geteuid() != 0:
        monkeypatch.setattr(files, "ROOT_FILE_OWNER", (pwd.getpwuid(os.geteuid()).pw_name,
                                                       grp.getgrgid(os.getegid()).gr_name))
        return os.geteuid(), os.getegid()
    return 0, 0


@pytest.fixture
def tight_umask() -> Iterator[None]:
    """A umask that would leave new files and directories unreadable to others: the modes
    the module sets must come from the module, not from the umask."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)
