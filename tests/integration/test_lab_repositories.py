"""The lab mirror's repositories are really signed: apt and dnf accept the lab key only."""
from __future__ import annotations

from conftest import Host

DEB822 = """Types: deb
URIs: http://mirror/apt
Suites: stable
Components: main
Signed-By: /etc/apt/keyrings/grafana.asc
"""

YUM_REPO = """[grafana]
name=grafana
baseurl=http://mirror/rpm
repo_gpgcheck=1
gpgcheck=1
enabled=1
gpgkey=http://mirror/keys/{key}.asc
"""


def _apt_source(host: Host, key: str) -> None:
    host.sh(f"mkdir -p /etc/apt/keyrings && curl -fsS -o /etc/apt/keyrings/grafana.asc http://mirror/keys/{key}.asc")
    host.sh(f"cat > /etc/apt/sources.list.d/grafana.sources <<'EOF'\n{DEB822}EOF")


def test_apt_installs_the_pinned_version_through_a_signed_by_keyring(new_host) -> None:
    host = new_host("debian12")
    _apt_source(host, "lab")
    host.sh("apt-get update -qq -o Dir::Etc::SourceParts=/etc/apt/sources.list.d "
            "-o Dir::Etc::SourceList=/dev/null")
    host.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq alloy=1.9.2-1")
    assert host.sh("dpkg-query -W -f='${Version}' alloy").stdout == "1.9.2-1"
    assert host.sh("alloy --version").stdout.startswith("alloy, version v1.9.2 ")
    assert host.sh("id -nG alloy").stdout.split() == ["alloy", "adm", "systemd-journal"]
    assert host.sh("stat -c '%U:%G %a' /var/lib/alloy /etc/alloy").stdout.split("\n")[:2] == [
        "alloy:alloy 770", "root:alloy 770"]
    # apt never trusted the key globally
    assert host.sh("ls /etc/apt/trusted.gpg.d/ | grep -ci grafana", check=False).stdout.strip() in ("", "0")


def test_apt_refuses_the_repository_when_the_keyring_holds_another_key(new_host) -> None:
    host = new_host("debian12")
    _apt_source(host, "other")
    update = host.sh("apt-get update 2>&1", check=False)
    assert "NO_PUBKEY" in update.stdout or "not signed" in update.stdout, update.stdout
    install = host.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y alloy=1.9.2-1 2>&1", check=False)
    assert install.returncode != 0
    assert host.sh("dpkg-query -W alloy", check=False).returncode != 0


def _yum_repo(host: Host, key: str) -> None:
    host.sh(f"rpm --import http://mirror/keys/{key}.asc")
    host.sh(f"cat > /etc/yum.repos.d/grafana.repo <<'EOF'\n{YUM_REPO.format(key=key)}EOF")


def test_dnf_installs_a_signed_package_from_a_signed_repository(new_host) -> None:
    host = new_host("el9-emulated")
    _yum_repo(host, "lab")
    host.sh("dnf install -y -q alloy-1.9.2-1")
    assert host.sh("rpm -q --qf '%{VERSION}-%{RELEASE}' alloy").stdout == "1.9.2-1"
    assert "pgp" in host.sh("rpm -q --qf '%{SIGPGP:pgpsig}' alloy").stdout.lower() or \
        "rsa" in host.sh("rpm -q --qf '%{RSAHEADER:pgpsig}' alloy").stdout.lower()
    assert host.sh("grep '^CONFIG_FILE=' /etc/sysconfig/alloy").stdout.strip() == 'CONFIG_FILE="/etc/alloy/config.alloy"'
    assert host.sh("alloy --version").stdout.startswith("alloy, version v1.9.2 ")


def test_dnf_refuses_a_repository_signed_by_another_key(new_host) -> None:
    host = new_host("el9-emulated")
    _yum_repo(host, "other")
    result = host.sh("dnf install -y alloy-1.9.2-1 2>&1", check=False)
    assert result.returncode != 0
    assert "gpg" in result.stdout.lower() or "signature" in result.stdout.lower(), result.stdout
    assert host.sh("rpm -q alloy", check=False).returncode != 0
