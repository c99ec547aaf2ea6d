"""docs/variables.md, generated from the roles' meta/argument_specs.yml.

`python3 -m tools.varsref --write` (from the repository root) regenerates it; without --write it exits 1 when the
file differs from what the argument specs say (the argspecs stage of ./dev test runs it),
so the reference cannot drift from the specs that Ansible enforces.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, List

import yaml

from .common import REPO, import_collection, write_or_check

TARGET = REPO / "docs" / "variables.md"
HEADER = """# Variables reference

Generated from each role's `meta/argument_specs.yml` by `tools/varsref.py`
(`./dev test` fails when this file is out of date; regenerate it with
`python3 -m tools.varsref --write` from the repository root). The commented defaults are in
each role's `defaults/main.yml`. The rule column is the rule book's
(`plugins/plugin_utils/rulebook.py`): the action `fleet.alloy.alloy_preflight` checks every
variable a role receives by it, on the controller, before anything on a host changes, and
the role uses the converted value. docs/security.md says which inputs are untrusted.
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


def _rules() -> Dict[str, Any]:
    """{variable: rule in words} from the rule book (imported as the collection)."""
    import_collection()
    from ansible_collections.fleet.alloy.plugins.plugin_utils.rulebook import RULES  # pylint: disable=import-outside-toplevel
    return {name: rule.doc for table in RULES.values() for name, rule in table.items()}


def render() -> str:
    rules = _rules()
    parts: List[str] = [HEADER]
    for specs_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        role = specs_file.parents[1].name
        main = yaml.safe_load(specs_file.read_text())["argument_specs"]["main"]
        parts.append(f"\n## {role}\n\n{_cell(main.get('short_description', ''))}.\n")
        parts.append("| variable | type | default | description | rule |\n| --- | --- | --- | --- | --- |")
        parts.extend(_rows(main.get("options", {}), "", rules))
    parts.append(PLAYS)
    parts.extend(f"| `{name}` | {_cell(rules[name])} |" for name in sorted(rules) if not name.startswith(ROLES))
    return "\n".join(parts) + "\n"


ROLES = ("alloy_install_", "alloy_config_", "alloy_docker_")
PLAYS = """
## The fleet plays

Variables of `playbooks/site.yml`, `upgrade.yml`, `uninstall.yml` and `verify.yml`, usually
given at launch (extra vars, AWX surveys); checked by the rule book before they are used
(`site.yml`'s first task checks them all).

| variable | rule |
| --- | --- |"""


def _rows(options: Dict[str, Any], prefix: str, rules: Dict[str, str]) -> List[str]:
    """One row per option, then its suboptions as `parent[].child` (a list of mappings)
    or `parent.child` (a mapping)."""
    rows: List[str] = []
    for name, option in options.items():
        description, kind = _description(option)
        if option.get("required"):
            description = "Required. " + description
        rule = _cell(rules[name]) if not prefix else "see the parent"
        rows.append(f"| `{prefix}{name}` | {kind} | {_default(option)} | {description} | {rule} |")
        if option.get("options"):
            inner = f"{prefix}{name}[]." if kind == "list" else f"{prefix}{name}."
            rows.extend(_rows(option["options"], inner, rules))
    return rows


def main(argv: List[str]) -> int:
    return write_or_check(TARGET, render(), argv, "the argument specs", "tools.varsref")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
