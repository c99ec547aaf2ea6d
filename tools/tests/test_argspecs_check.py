"""The defaults-versus-argument-specs check catches what it is meant to catch."""
from __future__ import annotations

from pathlib import Path

from tools.argspecs import problems


def _role(root: Path, name: str, defaults: str, specs: str | None) -> None:
    (root / name / "defaults").mkdir(parents=True)
    (root / name / "defaults" / "main.yml").write_text(defaults)
    if specs is not None:
        (root / name / "meta").mkdir()
        (root / name / "meta" / "argument_specs.yml").write_text(specs)


SPECS = """---
argument_specs:
  main:
    short_description: x
    options:
      demo_a: {type: str, description: a}
"""


def test_a_role_whose_defaults_are_all_declared_passes(tmp_path: Path) -> None:
    _role(tmp_path, "demo", "---\ndemo_a: 1\n", SPECS)
    assert problems(tmp_path) == []


def test_an_undeclared_default_is_named(tmp_path: Path) -> None:
    _role(tmp_path, "demo", "---\ndemo_a: 1\ndemo_b: 2\n", SPECS)
    assert problems(tmp_path) == [
        "demo: demo_b is set in defaults/main.yml but not declared in meta/argument_specs.yml"]


def test_defaults_without_specs_are_reported(tmp_path: Path) -> None:
    _role(tmp_path, "bare", "---\nbare_x: 1\n", None)
    assert problems(tmp_path) == [
        "bare: defaults/main.yml sets variables but meta/argument_specs.yml is missing"]
