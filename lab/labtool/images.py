"""Offline lab images, cached under tags derived from a hash of their recipe.

Base images are Debian root file systems made with debootstrap from the host's mirror
and imported into Docker (no registry). Every other image is a `docker build` of a
recipe under lab/images/ on top of one of them. A recipe whose hash already has
an image is not built again, and the log says so.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .common import CACHE, LAB, PREFIX, digest, log, run, succeeds, tree_digest
from .debmirror import debian_mirror

RECIPES = LAB / "images"
BASE_PACKAGES = (
    "systemd,systemd-sysv,dbus,python3,python3-apt,gnupg,curl,ca-certificates,"
    "iproute2,procps,sudo,apt-transport-https"
)
# Bumped by hand when the debootstrap steps below change.
BASE_RECIPE_VERSION = "3"


@dataclass(frozen=True)
class Image:
    name: str
    suite: str = ""  # debootstrap suite: a base image
    base: str = ""  # name of the image it builds FROM
    recipe: str = ""  # folder under lab/images
    args: tuple[tuple[str, str], ...] = ()
    needs: tuple[str, ...] = ()  # further images the Dockerfile names (multi-stage)
    context: tuple[str, ...] = ()  # folders under lab/ copied into the build context


IMAGES: dict[str, Image] = {
    img.name: img
    for img in (
        Image("debian11", suite="bullseye"),
        Image("debian12", suite="bookworm"),
        Image("debian13", suite="trixie"),
        Image("el8-emulated", base="debian12", recipe="el-emulated",
              args=(("EL_ID", "rocky"), ("EL_NAME", "Rocky Linux"), ("EL_VERSION", "8.10"))),
        Image("el9-emulated", base="debian12", recipe="el-emulated",
              args=(("EL_ID", "rocky"), ("EL_NAME", "Rocky Linux"), ("EL_VERSION", "9.6"))),
        Image("services", base="debian12", recipe="services", context=("standins",)),
        Image("prometheus", base="debian12", recipe="prometheus"),
        Image("debian13-docker", base="debian13", recipe="docker-host"),
        Image("alloy-standin-1.9.2", base="debian12", recipe="alloy-image",
              args=(("ALLOY_VERSION", "1.9.2"),), needs=("services",)),
        Image("alloy-standin-1.10.0", base="debian12", recipe="alloy-image",
              args=(("ALLOY_VERSION", "1.10.0"),), needs=("services",)),
    )
}
LAB_IMAGES = ("services", "prometheus")


def _recipe_hash(image: Image) -> str:
    if image.suite:
        parts: list[bytes | str] = [image.suite, BASE_PACKAGES, BASE_RECIPE_VERSION]
        parts += tree_digest(RECIPES / "base")
        return digest(parts)
    parts = [tag(image.base), *(tag(n) for n in image.needs), repr(image.args)]
    parts += tree_digest(RECIPES / image.recipe)
    for folder in image.context:
        parts += tree_digest(LAB / folder)
    return digest(parts)


_tags: dict[str, str] = {}


def tag(name: str) -> str:
    """The content-addressed tag of an image (computed once per process)."""
    if name not in _tags:
        _tags[name] = f"{PREFIX}/{name}:{_recipe_hash(IMAGES[name])}"
    return _tags[name]


def exists(name: str) -> bool:
    return succeeds(["docker", "image", "inspect", tag(name)])


def _debootstrap(image: Image) -> None:
    mirror = debian_mirror()
    root = Path(tempfile.mkdtemp(prefix=f"rootfs-{image.name}-", dir=_scratch()))
    try:
        log(f"debootstrap {image.suite} from {mirror} (about a minute)")
        run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}",
             image.suite, str(root), mirror], capture=True)
        _overlay(RECIPES / "base" / "rootfs", root)
        (root / "etc" / "apt" / "sources.list").write_text(f"deb {mirror} {image.suite} main\n")
        _mask_units(root)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-c", "ENV container=docker",
             "-c", 'CMD ["/lib/systemd/systemd"]', "-", tag(image.name)],
            stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise SystemExit(f"tar of {root} failed")
    finally:
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_below(root: Path) -> None:
    """Undo what a failed debootstrap left mounted (proc, sys, dev/pts) before deleting."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(str(root) + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


# Units that cannot work in a container and only slow boot down or fail.
MASKED_UNITS = (
    "systemd-udevd.service", "systemd-udev-trigger.service", "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket", "getty@tty1.service", "systemd-logind.service",
    "systemd-remount-fs.service", "sys-kernel-config.mount", "sys-kernel-debug.mount",
)


def _mask_units(root: Path) -> None:
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in MASKED_UNITS:
        link = units / unit
        if not link.is_symlink():
            link.symlink_to("/dev/null")


def _overlay(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            shutil.copy2(path, target)


def _scratch() -> Path:
    folder = CACHE / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _docker_build(image: Image) -> None:
    with tempfile.TemporaryDirectory(dir=_scratch()) as tmp:
        ctx = Path(tmp)
        shutil.copytree(RECIPES / image.recipe, ctx, dirs_exist_ok=True)
        for folder in image.context:
            shutil.copytree(LAB / folder, ctx / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
        args = [("BASE", tag(image.base)), *((f"IMAGE_{n.upper().replace('-', '_')}", tag(n))
                                             for n in image.needs), *image.args]
        cmd = ["docker", "build", "-q", "-t", tag(image.name)]
        for key, value in args:
            cmd += ["--build-arg", f"{key}={value}"]
        log(f"docker build {image.name}")
        result = run([*cmd, str(ctx)], check=False, capture=True,
                     env={"DOCKER_BUILDKIT": "0"})
        if result.returncode != 0:
            raise SystemExit(f"building image {image.name} failed:\n{result.stdout}\n{result.stderr}")


def build(name: str) -> str:
    image = IMAGES[name]
    if exists(name):
        log(f"image {name}: reusing {tag(name)} (recipe unchanged)")
        return tag(name)
    if image.suite:
        _debootstrap(image)
    else:
        _docker_build(image)
    log(f"image {name}: built {tag(name)}")
    return tag(name)


def _order(names: list[str]) -> list[list[str]]:
    """Group images in waves: every image comes after the ones it depends on."""
    wanted: set[str] = set()

    def visit(n: str) -> None:
        if n in wanted:
            return
        wanted.add(n)
        img = IMAGES[n]
        for dep in ([img.base] if img.base else []) + list(img.needs):
            visit(dep)

    for n in names:
        visit(n)
    waves: list[list[str]] = []
    done: set[str] = set()
    while wanted - done:
        wave = sorted(n for n in wanted - done
                      if all(d in done for d in ([IMAGES[n].base] if IMAGES[n].base else [])
                             + list(IMAGES[n].needs)))
        waves.append(wave)
        done |= set(wave)
    return waves


def ensure(names: list[str] | tuple[str, ...] = tuple(IMAGES)) -> dict[str, str]:
    """Build what is missing (two at a time: this machine has two cores); return tags."""
    for wave in _order(list(names)):
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(build, wave))
    for name in names:
        run(["docker", "tag", tag(name), f"{PREFIX}/{name}:lab"], capture=True)
    return {n: tag(n) for n in names}
