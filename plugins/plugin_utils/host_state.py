# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What alloy_install asks of a host before it changes anything, in the preflight's round trip
(the module fleet.alloy.alloy_host_state): the files it writes, its env file section (without the
values of a secret one), the package and the service. The
role skips a task whose result the host already shows (roles/alloy_install/vars/main.yml); the
paths of those files are named here only. The same round trip downloads the repository key, as
the host sees its URL (its network, alloy_install_proxy), and, when alloy_config runs after it, reads what
alloy_config_apply leaves (config_probe): the apply is skipped when the host shows it all (filter
fleet.alloy.alloy_config_current). Of alloy_config's secret section of the env file only an HMAC leaves
the host, under a key of this run and host (host_key), which goes to the host in the read's arguments
(no_log) and is in no result."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import os
import posixpath
import secrets
import tempfile

from ansible import constants as C

from ansible_collections.fleet.alloy.plugins.module_utils.runtime_fact import FACT_PATH, PIPELINES_FACT_PATH

MODULE = "fleet.alloy.alloy_host_state"
PACKAGE = "alloy"
UNIT_FILE = "/usr/lib/systemd/system/alloy.service"   # the package's unit
APT_SOURCES = "/etc/apt/sources.list.d/grafana.sources"
APT_PROXY = "/etc/apt/apt.conf.d/80grafana-proxy"
DROPIN = "/etc/systemd/system/alloy.service.d/fleet-alloy.conf"   # the role's drop-in of the unit
ENV_SECTION = "alloy_install"   # the role's section of the env file
CONFIG_ENV_SECTION = "alloy_config"   # alloy_config's (secret) section of it (roles/alloy_config/tasks/main.yml)
_KEY_FILE = "fleet-alloy-digest.key"


def install_probe(checked, facts, runtime, download_key=True):
    """The arguments of alloy_host_state for alloy_install (its checked variables, without the
    role's prefix; the host's facts; the runtime contract the preflight published); the key's
    download only with download_key (the role's repository tasks run)."""
    debian = facts.get("os_family") == "Debian"
    # alloy_env's files besides the env file (read apart, without its values): the drop-in and the runtime's
    # local fact; of the configuration the service loads, whether it exists yet (no checksum: it may be the
    # user's own file, with secrets).
    files = {"unit": UNIT_FILE, "dropin": DROPIN, "runtime_fact": FACT_PATH}
    if debian:
        files.update(keyring=checked["apt_keyring"], sources=APT_SOURCES, proxy=APT_PROXY)
    else:
        files.update(key=checked["rpm_key_file"], key_dir=posixpath.dirname(checked["rpm_key_file"]))
    probe = {"files": files, "rpm_keys": [] if debian else rpm_key_ids(checked["key_fingerprints"]),
             "package": PACKAGE, "package_manager": "dpkg" if debian else "rpm", "service": runtime["service"],
             "exists": {"config": checked["config_path"], "dropin": DROPIN}, "env_file": runtime["env_file"], "env_section": ENV_SECTION}
    url = key_url(checked, debian) if download_key else ""
    if url:
        probe.update(url=url, proxy=checked.get("proxy") or "")
    return probe


def config_probe(probe, runtime):
    """probe with what alloy_config_apply leaves on the host that the runtime describes: the files of its
    configuration directory, alloy_config's secret section of its env file, and the record (a local fact)."""
    return dict(probe, files=dict(probe["files"], pipelines_fact=PIPELINES_FACT_PATH),
                config_dir=runtime["config_dir"], env_secret_section=CONFIG_ENV_SECTION)


def read_probe(checked, facts, runtime, download_key=True, config=False):
    """The preflight's read of the host: alloy_install's (install_probe) and, with config (alloy_config runs
    after it), alloy_config's (config_probe) when Alloy is to be installed (state present): alloy_config does not
    apply on an uninstall."""
    probe = install_probe(checked, facts, runtime, download_key)
    return config_probe(probe, runtime) if config and checked.get("state") == "present" else probe


def run_key(create=True):
    """This run's key of the HMAC of a secret section: random, kept in Ansible's local temporary directory of
    the run (0600; its workers share it, and it goes when the run ends). Created on the first call with
    create; '' when there is none (no key: no HMAC, and the apply is never skipped)."""
    path = os.path.join(C.DEFAULT_LOCAL_TMP, _KEY_FILE)
    try:
        if create and not os.path.exists(path):
            _make_key(path)
        with open(path) as key_file:
            return key_file.read()
    except OSError:
        return ""


def _make_key(path):
    """A random key at path, whole or not at all (a file staged beside it, then linked): the first worker's stays."""
    handle, staged = tempfile.mkstemp(dir=os.path.dirname(path))   # mode 0600
    try:
        with os.fdopen(handle, "w") as staged_file:
            staged_file.write(secrets.token_hex(32))
        os.link(staged, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(staged)


def host_key(host, create=True):
    """The key of one host's HMAC: this run's key (run_key) made the host's own (HMAC-SHA256 of its inventory
    name), so that what one host sees of it says nothing of another's secrets; '' without a run key."""
    key = run_key(create)
    return hmac.new(key.encode("ascii"), host.encode("utf-8"), hashlib.sha256).hexdigest() if key else ""


def key_url(checked, debian):
    """Where the host downloads the repository key from: the family's key URL, when the role installs
    from the repository and the key is not given inline; else empty."""
    if (checked.get("state", "present") != "present" or checked.get("key_content")
            or checked.get("package_source", "repository") != "repository"):
        return ""
    return checked["apt_key_url" if debian else "rpm_key_url"]


def rpm_key_ids(fingerprints):
    """The ids rpm names imported keys by (gpg-pubkey-<id>): a fingerprint's last 8 hex digits, lower case."""
    return [fingerprint[-8:].lower() for fingerprint in fingerprints]


def host_state(result):
    """The part of alloy_host_state's result the role reads."""
    return dict((key, result.get(key) or {})
                for key in ("files", "exists", "rpm_keys", "package", "service", "env", "config", "download"))
