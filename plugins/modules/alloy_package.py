# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action fleet.alloy.alloy_package (plugins/action/alloy_package.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: alloy_package
short_description: Put Grafana's Alloy package on a host from the controller, checked against its SHA256 first
version_added: 0.3.0
description:
  - For hosts that reach no package repository (air-gapped networks) - only the controller fetches.
  - Names the release asset for the host (C(alloy-<version>-<release>.<arch>.deb) on the Debian family,
    C(.rpm) on the RHEL family; the architecture from the host's fact C(architecture)), takes it from a
    directory on the controller or downloads it there from a URL, and checks its SHA256 against
    O(checksums) on the controller. A package that is not listed there, or whose SHA256 differs,
    fails the task before anything on the host changes.
  - Then copies it with M(ansible.builtin.copy) to O(dest)C(/alloy.deb) (or C(alloy.rpm)), root-owned
    C(0644) - one file per host, replaced when the version changes, so a run that changes nothing
    transfers nothing. Installing it is left to M(ansible.builtin.apt) (C(deb=)) or M(ansible.builtin.dnf).
  - A download is kept in O(cache_dir) on the controller under its SHA256, only once it matched;
    later runs and other hosts use that copy.
options:
  location:
    description:
      - A directory on the controller that holds the release's packages, or the http(s) URL of such a
        directory (for example C(https://github.com/grafana/alloy/releases/download/v1.10.0)).
      - A URL is fetched through the controller's proxy settings (C(https_proxy)) and trusted CAs
        (C(SSL_CERT_FILE) for a private CA).
    type: str
    required: true
  version:
    description: The version of Alloy, such as C(1.10.0).
    type: str
    required: true
  release:
    description: The package release appended to the version (Grafana builds C(1)).
    type: str
    default: "1"
  checksums:
    description:
      - The lines of the release's C(SHA256SUMS) file (C(<64 hexadecimal digits>  <file name>)), or a
        mapping of file name to SHA256. Only these are trusted - the checksum is never taken from where
        the package comes from.
    type: raw
    required: true
  cache_dir:
    description: Where the controller keeps downloaded packages.
    type: path
    default: ~/.cache/fleet.alloy/packages
  dest:
    description: The directory on the host that keeps the package (created C(0755) if missing).
    type: path
    default: /var/cache/fleet-alloy
  validate_certs:
    description: Verify the TLS certificate of an https O(location).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The package is fetched and checked on the controller; the copy reports what it would change.
  diff_mode:
    support: none
    description: A package is binary.
  platform:
    support: full
    platforms: posix
    description: Fetches and checks on the controller; the host needs only what M(ansible.builtin.copy) needs.
author: fleet.alloy maintainers (@fleet-alloy)
notes:
  - Runs on the controller (an action plugin); the only round trip to the host is M(ansible.builtin.copy)'s.
  - Used by the role C(fleet.alloy.alloy_install) with C(alloy_install_package_source=controller).
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.get_url
"""

EXAMPLES = r"""
- name: Put Alloy 1.10.0 on the host from a directory on the controller
  fleet.alloy.alloy_package:
    location: /srv/packages/alloy
    version: "1.10.0"
    checksums: "{{ lookup('ansible.builtin.file', '/srv/packages/alloy/SHA256SUMS') }}"
  register: alloy_package

- name: Install it
  ansible.builtin.apt:
    deb: "{{ alloy_package.path }}"
"""

RETURN = r"""
name:
  description: The release asset taken for this host.
  returned: success
  type: str
  sample: alloy-1.10.0-1.amd64.deb
sha256:
  description: Its SHA256, as O(checksums) gives it and as checked.
  returned: success
  type: str
  sample: 0f3a4e0c2d7c1b4f9e8a6d5c4b3a29181716151413121110090807060504030201
source:
  description: Where it was taken from (a controller path or a URL).
  returned: success
  type: str
  sample: https://github.com/grafana/alloy/releases/download/v1.10.0/alloy-1.10.0-1.amd64.deb
path:
  description: The package on the host.
  returned: success
  type: str
  sample: /var/cache/fleet-alloy/alloy.deb
"""
