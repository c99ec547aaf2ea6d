"""AWX material without an AWX server: the survey specs against AWX's own survey rules,
the job templates' playbooks against AWX's playbook discovery rules, the project's
collections/requirements.yml installing this collection, and `ansible-builder create`
rendering the execution environment's build context.

The two rule sets are re-implemented from AWX's source (JobTemplateSurveySpec
._validate_spec_data in awx/api/views, skip_directory and could_be_playbook in
awx/main/utils/ansible.py); tests below show each rejects what AWX rejects."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
AWX = REPO / "awx"
ALLOWED_TYPES = {"text": (str,), "textarea": (str,), "password": (str,), "multiplechoice": (str,),
                 "multiselect": (str,), "integer": (int,), "float": (float, int)}
PLAYBOOK_LINE = re.compile(r"^\s*?-?\s*?(?:hosts|include|import_playbook):\s*?.*?$")


def survey_problems(spec: Any) -> List[str]:
    """What AWX's survey_spec endpoint would answer 400 for (empty when it accepts)."""
    if not isinstance(spec, dict):
        return ["survey spec is not an object"]
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if field not in spec:
            return [f"Field '{field}' is missing from survey spec."]
        if not isinstance(spec[field], kind):
            return [f"Expected {kind.__name__} for field '{field}'"]
    if not spec["spec"]:
        return ["'spec' doesn't contain any items."]
    problems: List[str] = []
    seen: set[str] = set()
    for idx, item in enumerate(spec["spec"]):
        problems += _question_problems(idx, item, seen)
    return problems


def _question_problems(idx: int, item: Any, seen: set[str]) -> List[str]:
    if not isinstance(item, dict):
        return [f"question {idx} is not an object"]
    for field in ("type", "question_name", "variable", "required"):
        if field not in item:
            return [f"'{field}' missing from survey question {idx}"]
        if not isinstance(item[field], bool if field == "required" else str):
            return [f"'{field}' in survey question {idx} has the wrong type"]
    if item["variable"] in seen:
        return [f"'variable' '{item['variable']}' duplicated in survey question {idx}"]
    seen.add(item["variable"])
    qtype = item["type"]
    if qtype not in ALLOWED_TYPES:
        return [f"'{qtype}' in survey question {idx} is not an allowed type"]
    default = item.get("default", "")
    if default != "" and (not isinstance(default, ALLOWED_TYPES[qtype]) or isinstance(default, bool)):
        return [f"default of survey question {idx} expected to be {qtype}"]
    for key in ("min", "max"):
        if item.get(key) is not None and not isinstance(item[key], int):
            return [f"the {key} limit in survey question {idx} expected to be integer"]
    if qtype in ("multiplechoice", "multiselect"):
        return _choice_problems(idx, item)
    return []


def _choice_problems(idx: int, item: Dict[str, Any]) -> List[str]:
    if "choices" not in item:
        return [f"survey question {idx} of type {item['type']} must specify choices"]
    choices = item["choices"]
    choices = [c for c in choices.splitlines() if c.strip()] if isinstance(choices, str) else choices
    default = item.get("default", "")
    defaults = [d for d in default.splitlines() if d.strip()] if isinstance(default, str) else default
    if item["type"] == "multiplechoice" and len(defaults) > 1:
        return ["Multiple Choice (Single Select) can only have one default value."]
    if any(d not in choices for d in defaults):
        return ["Default choice must be answered from the choices listed."]
    return []


def discovered_playbooks(project: Path) -> List[str]:
    """The playbook list AWX shows for a project checked out at `project`."""
    found = []
    for dirpath, dirnames, filenames in os.walk(project):
        rel = os.path.relpath(dirpath, project)
        parts = [] if rel == "." else rel.split(os.sep)
        if ("roles" in parts or "tasks" in parts or "group_vars" in parts or "host_vars" in parts
                or any(p.startswith(".") for p in parts)):
            continue
        for name in filenames:
            if os.path.splitext(name)[1] not in (".yml", ".yaml"):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="ignore") as handle:
                lines = handle.read().splitlines()
            if any(PLAYBOOK_LINE.match(line) for line in lines) or (lines and lines[0].startswith("$ANSIBLE_VAULT;")):
                found.append(os.path.relpath(os.path.join(dirpath, name), project))
    return sorted(found)


def _job_templates() -> List[Dict[str, Any]]:
    plays = yaml.safe_load((AWX / "job_templates.yml").read_text())
    return plays[0]["vars"]["awx_job_templates"]


def _surveys() -> Dict[str, Dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((AWX / "surveys").glob("*.json"))}


@pytest.mark.parametrize("name", sorted(_surveys()))
def test_survey_is_accepted_by_awx_rules(name: str) -> None:
    assert survey_problems(_surveys()[name]) == []


@pytest.mark.parametrize("bad,expected", [
    ({"name": "x", "description": "", "spec": []}, "doesn't contain any items"),
    ({"name": "x", "spec": [{}]}, "'description' is missing"),
    ({"name": "x", "description": "", "spec": [{"type": "text", "question_name": "a", "variable": "v", "required": "yes"}]},
     "'required' in survey question 0"),
    ({"name": "x", "description": "", "spec": [{"type": "text", "question_name": "a", "variable": "v", "required": True},
                                               {"type": "text", "question_name": "b", "variable": "v", "required": True}]},
     "duplicated"),
    ({"name": "x", "description": "", "spec": [{"type": "integer", "question_name": "a", "variable": "v",
                                                "required": True, "default": "3"}]}, "expected to be integer"),
    ({"name": "x", "description": "", "spec": [{"type": "multiplechoice", "question_name": "a", "variable": "v",
                                                "required": True, "choices": ["a", "b"], "default": "c"}]},
     "Default choice must be answered"),
    ({"name": "x", "description": "", "spec": [{"type": "multiplechoice", "question_name": "a", "variable": "v",
                                                "required": True}]}, "must specify choices"),
    ({"name": "x", "description": "", "spec": [{"type": "list", "question_name": "a", "variable": "v",
                                                "required": True}]}, "not an allowed type"),
])
def test_survey_rules_reject_what_awx_rejects(bad: Dict[str, Any], expected: str) -> None:
    assert expected in " ".join(survey_problems(bad))


def _variables_read_by(playbook: str) -> str:
    """Text of the playbook, what it imports and the roles' defaults: where a variable is read."""
    texts = [(REPO / playbook).read_text()]
    texts += [p.read_text() for p in (REPO / "playbooks").rglob("*.yml")]
    texts += [p.read_text() for p in (REPO / "roles").glob("*/defaults/main.yml")]
    return "\n".join(texts)


@pytest.mark.parametrize("template", _job_templates(), ids=lambda t: t["name"])
def test_survey_variables_are_read_by_the_playbook(template: Dict[str, Any]) -> None:
    if not template["survey"]:
        return
    source = _variables_read_by(template["playbook"])
    for question in _surveys()[template["survey"]]["spec"]:
        assert re.search(rf"\b{question['variable']}\b", source), question["variable"]


@pytest.mark.parametrize("template", _job_templates(), ids=lambda t: t["name"])
def test_job_template_playbook_is_discovered_by_awx(template: Dict[str, Any]) -> None:
    assert template["playbook"] in discovered_playbooks(REPO)


def test_discovery_skips_task_files_and_finds_fqcn_imports_only_with_a_play(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "t.yml").write_text("- hosts: all\n")
    (tmp_path / "play.yml").write_text("---\n- name: x\n  hosts: all\n")
    (tmp_path / "fqcn.yml").write_text("---\n- name: x\n  ansible.builtin.import_playbook: play.yml\n")
    assert discovered_playbooks(tmp_path) == ["play.yml"]


def test_job_template_arguments_are_options_of_awx_job_template() -> None:
    import ansible_collections.awx.awx.plugins.modules.job_template as module  # noqa: PLC0415

    options = set(yaml.safe_load(module.DOCUMENTATION)["options"])
    task = yaml.safe_load((AWX / "job_templates.yml").read_text())[0]["tasks"][0]
    assert set(task["awx.awx.job_template"]) - options == set()


def test_job_templates_playbook_passes_syntax_check() -> None:
    out = subprocess.run(["ansible-playbook", "--syntax-check", str(AWX / "job_templates.yml")],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_project_requirements_install_this_collection(tmp_path: Path) -> None:
    requirements = yaml.safe_load((REPO / "collections" / "requirements.yml").read_text())
    names = [c["name"] for c in requirements["collections"]]
    assert "community.docker" in names
    # Galaxy is out of reach here: install the entries that come from the project itself.
    local = {"collections": [c for c in requirements["collections"] if c.get("type") == "dir"]}
    (tmp_path / "req.yml").write_text(yaml.safe_dump(local))
    # As on a fresh AWX project sync: no other collection path to find it installed in.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed"))
    out = subprocess.run(["ansible-galaxy", "collection", "install", "-r", str(tmp_path / "req.yml"),
                          "-p", str(tmp_path / "installed")], capture_output=True, text=True, cwd=REPO,
                         env=env, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    installed = tmp_path / "installed" / "ansible_collections" / "fleet" / "alloy"
    assert json.loads((installed / "MANIFEST.json").read_text())["collection_info"]["name"] == "alloy"
    assert (installed / "playbooks" / "site.yml").is_file()
    # The lab, the tests, the tooling and the scenarios stay out (galaxy.yml build_ignore).
    assert [name for name in ("tests", "lab", "tools", "bench", "molecule") if (installed / name).exists()] == []


def test_ansible_builder_renders_the_build_context(tmp_path: Path) -> None:
    dist = AWX / "dist"
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    subprocess.run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(dist), "."],
                   cwd=REPO, check=True, capture_output=True)
    context = tmp_path / "context"
    out = subprocess.run(["ansible-builder", "create", "-f", "execution-environment.yml", "--context", str(context)],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    build = context / "_build"
    assert (build / "collections" / f"fleet-alloy-{version}.tar.gz").is_file()
    wanted = {c["name"] for c in yaml.safe_load((build / "requirements.yml").read_text())["collections"]}
    assert wanted == {"community.docker", f"collections/fleet-alloy-{version}.tar.gz"}
    containerfile = (context / "Dockerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
