"""docs/variables.md, generated from the roles' meta/argument_specs.yml.

`python -m labtool.varsref --write` regenerates it; without --write it exits 1 when the
file differs from what the argument specs say (the argspecs stage of ./dev test runs it),
so the reference cannot drift from the specs that Ansible enforces.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List

import yaml

from .common import REPO, write_or_check

TARGET = REPO / "docs" / "variables.md"
HEADER = """# Variables reference

Generated from each role's `meta/argument_specs.yml` by `tests/labtool/varsref.py`
(`./dev test` fails when this file is out of date; regenerate it with
`PYTHONPATH=tests python3 -m labtool.varsref --write`). The commented defaults are in
each role's `defaults/main.yml`.
"""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(option: Dict[str, Any]) -> str:
    if "default" not in option:
        return ""
    value = option["default"]
    shown = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    shown = shown[:-4].strip() if shown.endswith("...") else shown
    return f"`{_cell(shown)}`"


def _description(option: Dict[str, Any]) -> str:
    text = option.get("description", "")
    lines = text if isinstance(text, list) else [text]
    kind = option.get("type", "str")
    extra = f" Choices: {', '.join(f'`{c}`' for c in option['choices'])}." if "choices" in option else ""
    return _cell(" ".join(str(line) for line in lines)) + extra, kind


def render() -> str:
    parts: List[str] = [HEADER]
    for specs_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        role = specs_file.parents[1].name
        main = yaml.safe_load(specs_file.read_text())["argument_specs"]["main"]
        parts.append(f"\n## {role}\n\n{_cell(main.get('short_description', ''))}.\n")
        parts.append("| variable | type | default | description |\n| --- | --- | --- | --- |")
        parts.extend(_rows(main.get("options", {}), ""))
    return "\n".join(parts) + "\n"


def _rows(options: Dict[str, Any], prefix: str) -> List[str]:
    """One row per option, then its suboptions as `parent[].child` (a list of mappings)
    or `parent.child` (a mapping)."""
    rows: List[str] = []
    for name, option in options.items():
        description, kind = _description(option)
        if option.get("required"):
            description = "Required. " + description
        rows.append(f"| `{prefix}{name}` | {kind} | {_default(option)} | {description} |")
        if option.get("options"):
            inner = f"{prefix}{name}[]." if kind == "list" else f"{prefix}{name}."
            rows.extend(_rows(option["options"], inner))
    return rows


def main(argv: List[str]) -> int:
    return write_or_check(TARGET, render(), argv, "the argument specs", "labtool.varsref")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
