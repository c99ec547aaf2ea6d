"""Check that every variable a role's defaults/main.yml sets is declared in its argument specs.

Each role with defaults must have meta/argument_specs.yml, and every top-level key of
defaults/main.yml must be an option of the role's `main` entry point. Runs in the venv
(it needs PyYAML). `python3 -m tools.argspecs [ROLES_DIR]` (from the repository root) exits 1
listing the gaps.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import yaml

from .common import REPO


def _load(path: Path) -> Dict[str, object]:
    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    return data if isinstance(data, dict) else {}


def role_problems(role: Path) -> List[str]:
    defaults = _load(role / "defaults" / "main.yml")
    if not defaults:
        return []
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.is_file():
        return [f"{role.name}: defaults/main.yml sets variables but meta/argument_specs.yml is missing"]
    specs = _load(specs_file).get("argument_specs") or {}
    main = specs.get("main") if isinstance(specs, dict) else None
    options = main.get("options") if isinstance(main, dict) else None
    declared = set(options) if isinstance(options, dict) else set()
    return [f"{role.name}: {name} is set in defaults/main.yml but not declared in meta/argument_specs.yml"
            for name in sorted(set(defaults) - declared)]


def problems(roles_dir: Path) -> List[str]:
    found: List[str] = []
    for role in sorted(p for p in roles_dir.iterdir() if p.is_dir()) if roles_dir.is_dir() else []:
        found += role_problems(role)
    return found


def main(argv: List[str]) -> int:
    roles_dir = Path(argv[0]) if argv else REPO / "roles"
    found = problems(roles_dir)
    for line in found:
        print(line, file=sys.stderr)
    roles = [p.name for p in roles_dir.iterdir() if p.is_dir()] if roles_dir.is_dir() else []
    print(f"argument specs: {len(roles)} roles checked, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
