"""Run a module's main() in this process, as Ansible would with the given arguments, and
return (failed, result). Works with ansible-core 2.16 (no ansible.module_utils.testing)
and later."""
from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Callable, Dict, Iterator, Tuple
from unittest import mock

import pytest
from ansible.module_utils import basic


@contextlib.contextmanager
def _module_args(args: Dict[str, Any]) -> Iterator[None]:
    try:
        from ansible.module_utils.testing import patch_module_args  # noqa: PLC0415 - 2.17 and later
    except ImportError:
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            yield
        return
    with patch_module_args(args):
        yield


def run_main(main: Callable[[], None], args: Dict[str, Any], check_mode: bool = False,
             diff: bool = False) -> Tuple[bool, Dict[str, Any]]:
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    out = io.StringIO()
    with _module_args(payload), contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        main()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    return exited.value.code != 0, result
