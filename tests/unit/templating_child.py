"""Template as Ansible does, with the fleet.alloy filters, in a child Python: this process imports the
collection as a plain package (see conftest), so a template calling fleet.alloy.* cannot be resolved here.
run_child() starts the child on a script that begins with start() (the collection loader, set up before
the collection is imported) and templates with templar() and trusted(). Works with ansible-core 2.16 and
later."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Tuple

if TYPE_CHECKING:
    from ansible.template import Templar

UNIT = Path(__file__).resolve().parent
REPO = UNIT.parents[1]


def start() -> None:
    """In the child, before anything imports the collection: a collection loader that finds fleet.alloy."""
    from ansible.plugins.loader import init_plugin_loader  # noqa: PLC0415 - not in the parent process
    init_plugin_loader([str(REPO / ".collections")])


def templar(variables: Mapping[str, Any]) -> Templar:
    """A Templar over these variables, as a task's arguments are templated."""
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415 - after start()
    from ansible.template import Templar  # noqa: PLC0415 - after start()
    return Templar(loader=DataLoader(), variables=dict(variables))


def _trust() -> Callable[[str], Any]:
    try:  # ansible-core 2.19 templates only strings marked as coming from a template source
        from ansible.template import trust_as_template  # noqa: PLC0415 - after start()
    except ImportError:  # 2.16 templates every string
        return lambda value: value
    trust: Callable[[str], Any] = trust_as_template
    return trust


def trusted(value: Any) -> Any:
    """The value with every string that holds a template marked as one (as if read from a playbook)."""
    trust = _trust()

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: walk(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [walk(inner) for inner in item]
        return trust(item) if isinstance(item, str) and "{{" in item else item

    return walk(value)


def run_child(script: str, cases: Mapping[str, Any], *args: str) -> Tuple[Dict[str, Any], str]:
    """Run script in a child Python (with the repo's ansible.cfg, from the repo, this folder importable, args
    as sys.argv[1:]), the cases as JSON on its stdin; return the JSON it writes on stdout, and its stderr."""
    path = os.pathsep.join([str(UNIT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PYTHONPATH=path)
    out = subprocess.run([sys.executable, "-c", script, *args], input=json.dumps(cases),
                         capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    found: Dict[str, Any] = json.loads(out.stdout)
    return found, out.stderr
