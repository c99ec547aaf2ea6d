"""Lab tooling that can be tested without Docker: mirror discovery and image ordering."""
from __future__ import annotations

from pathlib import Path

import pytest
from labtool import debmirror, images


def _apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_mirror_from_deb822_skips_the_security_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEET_ALLOY_DEBIAN_MIRROR", raising=False)
    apt = _apt_dir(tmp_path, {"sources.list.d/debian.sources":
                              "Types: deb\nURIs: http://m.example/debian-security\nSuites: x\n\n"
                              "Types: deb\nURIs: http://m.example/debian/\nSuites: y\n"})
    assert debmirror.debian_mirror(apt) == "http://m.example/debian"


def test_mirror_from_one_line_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEET_ALLOY_DEBIAN_MIRROR", raising=False)
    apt = _apt_dir(tmp_path, {"sources.list": "# c\ndeb [arch=amd64 signed-by=/k] http://o.example/debian bookworm main\n",
                              "sources.list.d/.keep": ""})
    assert debmirror.debian_mirror(apt) == "http://o.example/debian"


def test_mirror_override_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_ALLOY_DEBIAN_MIRROR", "http://override.example/debian/")
    assert debmirror.debian_mirror(tmp_path) == "http://override.example/debian"
    monkeypatch.delenv("FLEET_ALLOY_DEBIAN_MIRROR")
    with pytest.raises(SystemExit, match="FLEET_ALLOY_DEBIAN_MIRROR"):
        debmirror.debian_mirror(tmp_path)


def test_images_come_after_what_they_build_on() -> None:
    waves = images._order(["alloy-standin-1.10.0", "el9-emulated"])
    position = {name: i for i, wave in enumerate(waves) for name in wave}
    assert position["debian12"] < position["services"] < position["alloy-standin-1.10.0"]
    assert position["debian12"] < position["el9-emulated"]
    assert "debian11" not in position


def test_image_tags_follow_their_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = images._recipe_hash(images.IMAGES["debian12"])
    monkeypatch.setattr(images, "BASE_PACKAGES", images.BASE_PACKAGES + ",vim")
    assert images._recipe_hash(images.IMAGES["debian12"]) != before
