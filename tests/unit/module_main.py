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


def documented_argument_spec(module: Any, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """What module.main() gives AnsibleModule, after checking that every option of its
    argument_spec is documented in DOCUMENTATION with the same type, default, required,
    choices and elements (and nothing else is documented)."""
    import yaml  # noqa: PLC0415 - only this helper needs it
    seen: Dict[str, Any] = {}

    class Stop(Exception):
        pass

    def capture(**kwargs: Any) -> None:
        seen.update(kwargs)
        raise Stop()
    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(Stop):
        module.main()
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(documented) == set(seen["argument_spec"])
    keys = ("type", "default", "required", "choices", "elements")
    for name, spec in seen["argument_spec"].items():
        assert [spec.get(k, False if k == "required" else None) for k in keys] == \
            [documented[name].get(k, False if k == "required" else None) for k in keys], name
    return seen
