"""TEST FIXTURE builder: the lab's signed apt and rpm repositories of the stand-in alloy.

Runs inside the `services` image build (Debian with rpm, createrepo-c, apt-utils, gnupg):
1. makes two throwaway signing keys: `lab` (signs the repositories) and `other` (for
   negative tests), exported under /srv/lab/keys/;
2. builds the stand-in Alloy (lab/standins/alloy_standin) into a zipapp per version and
   packages it as alloy_<v>-1_<arch>.deb and alloy-<v>-1.<arch>.rpm, official layout, and
   lays them out as Grafana's GitHub release does (/srv/lab/releases/v<v>/, SHA256SUMS);
3. writes an apt repository (/srv/lab/apt, suites stable and beta, InRelease and
   Release.gpg) and an rpm repository (/srv/lab/rpm, signed packages and a detached
   signature of repomd.xml), both signed with the lab key, with the key beside them
   under Grafana's file names (gpg-full.key, gpg.key).
The lab's throwaway CA (/srv/lab/lab/ca.pem, other-ca.pem) is made by the next step of
the Dockerfile (gateway_standin.lab_ca), which also keeps the gateway's key out of /srv/lab.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipapp
from pathlib import Path

VERSIONS = ("1.9.2", "1.10.0")
SRC = Path("/build/standins")
OUT = Path("/srv/lab")
WORK = Path("/build/work")
GNUPGHOME = Path("/root/.gnupg")
KEY_UIDS = {
    "lab": "fleet.alloy lab repository key (TEST ONLY) <lab@fleet-alloy.invalid>",
    "other": "fleet.alloy other key, signs nothing in the lab (TEST ONLY) <other@fleet-alloy.invalid>",
}


def sh(*cmd: str, cwd: Path | None = None, stdout: int | None = None) -> str:
    result = subprocess.run(cmd, check=True, cwd=cwd, text=True,
                            stdout=subprocess.PIPE if stdout is None else stdout)
    return result.stdout or ""


def make_keys() -> dict[str, str]:
    GNUPGHOME.mkdir(mode=0o700, exist_ok=True)
    (OUT / "keys").mkdir(parents=True, exist_ok=True)
    fingerprints = {}
    for name, uid in KEY_UIDS.items():
        sh("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
           "--quick-gen-key", uid, "rsa3072", "sign", "never")
        listing = sh("gpg", "--batch", "--with-colons", "--list-keys", uid)
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        fingerprints[name] = fpr
        armored = sh("gpg", "--batch", "--armor", "--export", fpr)
        (OUT / "keys" / f"{name}.asc").write_text(armored)
    (OUT / "keys" / "fingerprints.json").write_text(json.dumps(fingerprints, indent=2) + "\n")
    return fingerprints


def build_zipapp(version: str) -> Path:
    src = WORK / f"zipapp-{version}"
    shutil.copytree(SRC / "alloy_standin", src / "alloy_standin",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SRC / "lab_wire", src / "lab_wire", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "alloy_standin" / "_version.py").write_text(f'VERSION = "{version}"\n')
    shutil.copy(src / "alloy_standin" / "__main__.py", src / "__main__.py")
    target = WORK / f"alloy-{version}"
    zipapp.create_archive(src, target, interpreter="/usr/bin/python3")
    target.chmod(0o755)
    return target


def render(name: str, **values: str) -> str:
    text = (SRC / "packaging" / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def stage_tree(version: str, binary: Path, flavour: str) -> Path:
    env_file = "/etc/default/alloy" if flavour == "deb" else "/etc/sysconfig/alloy"
    root = WORK / f"{flavour}-{version}"
    for folder in ("usr/bin", "usr/lib/systemd/system", "etc/alloy", env_file.rsplit("/", 1)[0][1:]):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(binary, root / "usr/bin/alloy")
    (root / "usr/lib/systemd/system/alloy.service").write_text(
        render("alloy.service", DEPLOY_MODE=flavour, ENV_FILE=env_file))
    (root / env_file[1:]).write_text(render("alloy.env"))
    (root / "etc/alloy/config.alloy").write_text(render("config.alloy"))
    return root


def build_deb(version: str, binary: Path, arch: str) -> Path:
    root = stage_tree(version, binary, "deb")
    debian = root / "DEBIAN"
    debian.mkdir()
    (debian / "control").write_text(
        f"Package: alloy\nVersion: {version}-1\nArchitecture: {arch}\n"
        "Maintainer: fleet.alloy lab <lab@fleet-alloy.invalid>\nSection: misc\nPriority: optional\n"
        "Homepage: https://grafana.com/docs/alloy\n"
        "Description: Stand-in for Grafana Alloy (fleet.alloy lab test fixture)\n"
        " TEST FIXTURE, not Grafana Alloy: mimics the alloy CLI and HTTP API.\n")
    (debian / "conffiles").write_text("/etc/default/alloy\n/etc/alloy/config.alloy\n")
    env = "/etc/default/alloy"
    scripts = {
        "postinst": "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n"
                    + render("postinst.sh", ENV_FILE=env)
                    + "if [ -n \"$2\" ]; then\n" + render("restart-on-upgrade.sh", ENV_FILE=env) + "fi\nfi\n",
        "prerm": "#!/bin/sh\nset -e\nif [ \"$1\" = remove ]; then\n" + render("prerm.sh") + "fi\n",
    }
    for name, text in scripts.items():
        (debian / name).write_text(text)
        (debian / name).chmod(0o755)
    out = WORK / f"alloy_{version}-1_{arch}.deb"
    sh("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out), stdout=subprocess.DEVNULL)
    return out


def build_rpm(version: str, binary: Path, arch: str) -> Path:
    root = stage_tree(version, binary, "rpm")
    env = "/etc/sysconfig/alloy"
    spec = WORK / f"alloy-{version}.spec"
    spec.write_text(render("alloy.spec", VERSION=version, STAGE=str(root),
                           POSTINST=render("postinst.sh", ENV_FILE=env),
                           PRERM=render("prerm.sh"), RESTART=render("restart-on-upgrade.sh", ENV_FILE=env)))
    top = WORK / "rpmbuild"
    sh("rpmbuild", "-bb", "--target", arch, "--define", f"_topdir {top}", str(spec), stdout=subprocess.DEVNULL)
    return next((top / "RPMS").rglob(f"alloy-{version}-1*.rpm"))


def apt_repo(debs: list[Path], lab_fpr: str) -> None:
    repo = OUT / "apt"
    pool = repo / "pool" / "main" / "a" / "alloy"
    pool.mkdir(parents=True)
    for deb in debs:
        shutil.copy(deb, pool)
    for suite in ("stable", "beta"):
        for arch in ("amd64", "arm64"):
            binary = repo / "dists" / suite / "main" / f"binary-{arch}"
            binary.mkdir(parents=True)
            packages = sh("apt-ftparchive", "--arch", arch, "packages", "pool", cwd=repo)
            (binary / "Packages").write_text(packages)
            sh("gzip", "-9kn", str(binary / "Packages"))
        dist = repo / "dists" / suite
        release = sh("apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=fleet-alloy-lab",
                     "-o", "APT::FTPArchive::Release::Label=fleet-alloy-lab",
                     "-o", f"APT::FTPArchive::Release::Suite={suite}",
                     "-o", f"APT::FTPArchive::Release::Codename={suite}",
                     "-o", "APT::FTPArchive::Release::Components=main",
                     "-o", "APT::FTPArchive::Release::Architectures=amd64 arm64", "release", ".", cwd=dist)
        (dist / "Release").write_text(release)
        sign = ("gpg", "--batch", "--yes", "--local-user", lab_fpr)
        sh(*sign, "--clearsign", "-o", str(dist / "InRelease"), str(dist / "Release"))
        sh(*sign, "--armor", "--detach-sign", "-o", str(dist / "Release.gpg"), str(dist / "Release"))
    shutil.copy(OUT / "keys" / "lab.asc", repo / "gpg-full.key")
    shutil.copy(OUT / "keys" / "lab.asc", repo / "gpg.key")


def rpm_repo(rpms: list[Path], lab_fpr: str) -> None:
    repo = OUT / "rpm"
    repo.mkdir(parents=True)
    Path.home().joinpath(".rpmmacros").write_text(f"%_gpg_name {lab_fpr}\n%__gpg /usr/bin/gpg\n")
    for rpm in rpms:
        target = repo / rpm.name
        shutil.copy(rpm, target)
        sh("rpmsign", "--addsign", str(target), stdout=subprocess.DEVNULL)
    sh("createrepo_c", "--quiet", str(repo))
    sh("gpg", "--batch", "--yes", "--local-user", lab_fpr, "--armor", "--detach-sign",
       str(repo / "repodata" / "repomd.xml"))
    shutil.copy(OUT / "keys" / "lab.asc", repo / "gpg.key")


def release_assets(version: str, deb: Path, rpm: Path, arch: str) -> None:
    """Grafana's GitHub release of a version, for installs from the controller:
    /srv/lab/releases/v<version>/alloy-<v>-1.<arch>.deb and .rpm (the rpm unsigned, as GitHub's
    are since v1.9.0; both named with Go's architecture) and their SHA256SUMS."""
    folder = OUT / "releases" / f"v{version}"
    folder.mkdir(parents=True)
    for built, fmt in ((deb, "deb"), (rpm, "rpm")):
        shutil.copy(built, folder / f"alloy-{version}-1.{arch}.{fmt}")
    sums = (f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(folder.iterdir()))
    (folder / "SHA256SUMS").write_text("".join(sums))


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    fingerprints = make_keys()
    deb_arch = sh("dpkg", "--print-architecture").strip()
    rpm_arch = os.uname().machine
    debs, rpms = [], []
    for version in VERSIONS:
        binary = build_zipapp(version)
        (OUT / "bin").mkdir(exist_ok=True)
        shutil.copy(binary, OUT / "bin" / f"alloy-{version}")
        debs.append(build_deb(version, binary, deb_arch))
        rpms.append(build_rpm(version, binary, rpm_arch))
        release_assets(version, debs[-1], rpms[-1], deb_arch)
    apt_repo(debs, fingerprints["lab"])
    rpm_repo(rpms, fingerprints["lab"])
    (OUT / "index.txt").write_text("fleet.alloy lab mirror (TEST FIXTURE): apt/ rpm/ releases/ keys/ bin/ lab/\n")
    print(json.dumps({"fingerprints": fingerprints, "versions": VERSIONS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
