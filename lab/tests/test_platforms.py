"""The one platform list (labtool/platforms.py): the Molecule scenarios' platforms are the ones
it generates, its platforms are images labtool builds, and a lab host runs with the same
settings as a Molecule host of its platform."""
from __future__ import annotations

from typing import Dict, List

import pytest
import yaml
from labtool import images, platforms


def _docker_flags(args: tuple[str, ...]) -> Dict[str, List[str]]:
    """docker run flags, by flag: every value it was given."""
    flags: Dict[str, List[str]] = {}
    for flag, value in zip(args[::2], args[1::2]):
        flags.setdefault(flag, []).append(value)
    return flags


@pytest.mark.parametrize("scenario", sorted(platforms.SCENARIOS))
def test_each_scenario_has_the_generated_platforms(scenario: str) -> None:
    path, text, generated = platforms.rewrite(scenario)
    assert yaml.safe_load(text)["platforms"] == platforms.molecule_platforms(scenario), (
        "%s: run ./dev platforms --write" % path)
    assert text == generated


def test_the_check_fails_on_a_scenario_edited_by_hand(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    for scenario in platforms.SCENARIOS:
        (tmp_path / scenario).mkdir()
        (tmp_path / scenario / "molecule.yml").write_text(platforms.rewrite(scenario)[2])
    monkeypatch.setattr(platforms, "MOLECULE", tmp_path)
    assert platforms.main([]) == 0
    edited = tmp_path / "alloy_config" / "molecule.yml"
    edited.write_text(edited.read_text().replace("SYS_ADMIN", "SYS_ADMIN, NET_RAW", 1))
    assert platforms.main([]) == 1
    assert platforms.main(["--write"]) == 0 and platforms.main([]) == 0
    assert "NET_RAW" not in edited.read_text()


def test_every_platform_is_an_image_labtool_builds() -> None:
    for scenario, (prefix, names) in platforms.SCENARIOS.items():
        assert set(names) <= set(images.IMAGES), scenario
    assert set(platforms.LAB_HOSTS + platforms.LAB_DOCKER_HOSTS) <= set(platforms.PLATFORMS)


def test_host_names_are_unique_and_carry_their_family() -> None:
    for scenario in platforms.SCENARIOS:
        entries = platforms.molecule_platforms(scenario)
        assert len({e["name"] for e in entries}) == len(entries)
        for entry in entries:
            assert entry["groups"] in (["alloy", "debian"], ["alloy", "el"], ["alloy_docker"]), entry


@pytest.mark.parametrize("run", [platforms.SYSTEMD, platforms.DOCKER_ENGINE])
def test_a_lab_host_runs_as_a_molecule_host(run: platforms.Run) -> None:
    flags, keys = _docker_flags(run.docker_args()), run.molecule()
    assert flags["--cap-add"] == keys["capabilities"]
    assert flags["--security-opt"] == keys["security_opts"]
    assert flags["--cgroupns"] == [keys["cgroupns_mode"]]
    assert flags["-v"] == keys["volumes"]
    assert flags["--tmpfs"] == keys["tmpfs"]
    assert "--privileged" not in run.docker_args()


def test_a_docker_host_has_its_engine_s_capability_and_volume() -> None:
    entry = platforms.molecule_platforms("alloy_docker")[0]
    assert "NET_ADMIN" in entry["capabilities"] and "/var/lib/docker" in entry["volumes"]
    assert entry["keep_volumes"] is False and platforms.ALLOY_IMAGES_VOLUME in entry["volumes"]
    assert "keep_volumes" not in platforms.molecule_platforms("alloy_config")[0]


def test_a_platform_listed_several_times_gives_numbered_hosts() -> None:
    names = [e["name"] for e in platforms.molecule_platforms("alloy_cluster")]
    assert names == ["cluster-debian12-1", "cluster-debian12-2", "cluster-debian12-3"]
    assert [e["name"] for e in platforms.molecule_platforms("alloy_fleet")] == ["fleet-debian12", "fleet-el9-emulated"]
