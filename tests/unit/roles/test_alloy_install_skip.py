"""alloy_install includes tasks/present.yml only when __alloy_install_current is false
(tasks/main.yml): on a host where it is true, none of those tasks may have anything to do. Each task
of present.yml (and of the files it imports) is listed here with the condition that skips it and the
part of __alloy_install_current (one of its "and" terms, roles/alloy_install/vars/main.yml) that
makes that condition false; a task added without both fails here, as does a term removed from
__alloy_install_current or a task's condition changed."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "alloy_install"

# Why a task has nothing to do on a host where __alloy_install_current holds: (a condition of the task or
# of the import that brings it, the term of __alloy_install_current that makes it false).
DNF = ("__alloy_install_from_repository and not __alloy_install_is_debian", "__alloy_install_is_debian")
SKIPPED_BY: Dict[str, Tuple[str, str]] = {
    "Stop when the repository key could not be downloaded": (
        "not __alloy_install_key_downloaded", "__alloy_install_key_downloaded"),
    "Create the apt keyrings directory": (
        "__alloy_install_keyring_dir_missing", "not __alloy_install_keyring_dir_missing"),
    "Install the repository key as an armored keyring": (
        "not __alloy_install_keyring_current", "__alloy_install_keyring_current"),
    "Write the Grafana apt source (deb822, Signed-By)": (
        "not __alloy_install_source_current", "__alloy_install_source_current"),
    "Route apt through the proxy for the Grafana repository": (
        "not __alloy_install_apt_proxy_current", "__alloy_install_apt_proxy_current"),
    "Create the rpm keys directory": DNF,
    "Install the repository key file": DNF,
    "Import the repository key into rpm": DNF,
    "Write the Grafana yum repository (gpgcheck and repo_gpgcheck)": DNF,
    "Remove the Grafana repository (packages come from the controller)": (
        "not __alloy_install_from_repository", "__alloy_install_from_repository"),
    "Copy the package from the controller (SHA256 checked first)": (
        "not __alloy_install_from_repository", "__alloy_install_from_repository"),
    "Install the alloy package (apt)": ("not __alloy_install_package_current", "__alloy_install_package_current"),
    "Install the alloy package (dnf)": ("not __alloy_install_is_debian", "__alloy_install_is_debian"),
    "Hold or release the package against unattended upgrades": (
        "not __alloy_install_selection_current", "__alloy_install_selection_current"),
    "Look up the groups that give access to the journal": ("__alloy_install_user_custom", "not __alloy_install_user_custom"),
    "Add the service user to the journal groups": ("__alloy_install_user_custom", "not __alloy_install_user_custom"),
    "Give the service user its state directories": (
        "__alloy_install_user_custom and __alloy_install_unit_expected", "not __alloy_install_user_custom"),
    "Write the service settings into the env file and the systemd drop-in": (
        "__alloy_install_unit_expected and not __alloy_install_settings_current", "__alloy_install_settings_current"),
    "Set the service state": ("not __alloy_install_service_current", "__alloy_install_service_current"),
}
# Tasks that follow others' results: skipped when those were (registered results), or no host work.
FOLLOWERS = {
    "Refresh the apt lists after a repository or key change": "__alloy_install_keyring is changed",
    "Stop when apt refused the repository": "__alloy_install_apt_update is not skipped",
    "Restart now if the package, user or env changed (once)": "flush_handlers",
}


def conditions(item: Dict[str, object]) -> List[str]:
    when = item.get("when", [])
    return [str(c).strip() for c in (when if isinstance(when, list) else [when])]


def tasks(name: str, inherited: Tuple[str, ...] = ()) -> List[Tuple[str, List[str], str]]:
    """(name, its conditions and its imports', its text) of each task of tasks/<name>, imports followed."""
    found = []
    for item in yaml.safe_load((ROLE / "tasks" / name).read_text()):
        own = tuple(conditions(item))
        if "ansible.builtin.import_tasks" in item:
            found.extend(tasks(str(item["ansible.builtin.import_tasks"]), inherited + own))
        else:
            found.append((str(item["name"]), list(inherited + own), yaml.safe_dump(item)))
    return found


def current_terms() -> List[str]:
    text = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__alloy_install_current"]
    body = re.sub(r"\s+", " ", text.strip().removeprefix("{{").removesuffix("}}")).strip()
    return [term.strip() for term in body.split(" and ")]


def test_every_included_task_is_skipped_where_the_host_lacks_nothing() -> None:
    terms = current_terms()
    included = tasks("present.yml")
    assert {name for name, _, _ in included} == set(SKIPPED_BY) | set(FOLLOWERS)
    for name, when, text in included:
        if name in FOLLOWERS:
            assert FOLLOWERS[name] in text, name
            continue
        condition, term = SKIPPED_BY[name]
        assert condition in when, (name, when)
        assert term in terms, (name, term, terms)
    # A key that did not download reads as one that is not pinned: the download's own message comes first.
    assert terms.index("__alloy_install_key_downloaded") < terms.index("__alloy_install_keyring_current"), terms


def test_main_includes_present_only_where_the_host_lacks_something() -> None:
    main = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    include = [item for item in main if "ansible.builtin.include_tasks" in item]
    assert len(include) == 1
    assert "present.yml" in include[0]["ansible.builtin.include_tasks"]["file"]
    assert conditions(include[0]) == ["__alloy_install_checked.state == 'absent' or not __alloy_install_current"]
