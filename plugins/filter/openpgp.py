# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters fleet.alloy.pgp_fingerprints (the fingerprints in OpenPGP key material) and
fleet.alloy.pgp_pinned (the key material, if every key in it is pinned)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: pgp_fingerprints
short_description: Fingerprints of the keys in an OpenPGP public key block
version_added: 0.1.0
description:
  - Parses ASCII-armored (or binary) OpenPGP key material without gpg and returns the
    fingerprints of its primary keys, upper-case hex without spaces.
  - Used by the alloy_install role to pin repository keys before anything is written.
options:
  _input:
    description: The key material (one or more concatenated public keys).
    type: raw
    required: true
  subkeys:
    description: Also return the fingerprints of subkeys.
    type: bool
    default: false
  source:
    description: Where the key material came from (a variable or URL), named in the error
      when it is not OpenPGP key material.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Refuse a key that is not pinned
  ansible.builtin.assert:
    that: key_text | fleet.alloy.pgp_fingerprints | difference(pinned) | length == 0
"""

RETURN = r"""
_value:
  description: Fingerprints, in the order of the keys in the input.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.plugin_utils.openpgp import OpenPGPError, fingerprints


def pgp_fingerprints(key, subkeys=False, source=""):
    try:
        return fingerprints(key, subkeys=subkeys)
    except OpenPGPError as err:
        raise AnsibleFilterError("%s: %s" % ("the key from " + source if source else "fleet.alloy.pgp_fingerprints", err))


def pgp_pinned(key, pins, source=""):
    """key itself when every primary key in it is one of pins; else a filter error that names
    the unpinned fingerprints (the task that writes the key fails before it writes)."""
    found = pgp_fingerprints(key, source=source)
    extra = [fingerprint for fingerprint in found if fingerprint not in pins]
    if extra:
        raise AnsibleFilterError(
            "the repository key from %s holds %s, which alloy_install_key_fingerprints does not accept "
            "(expected only %s; found %s). No repository file was written. To rotate the key, change the "
            "key source and alloy_install_key_fingerprints together."
            % (source or "its source", ", ".join(extra), ", ".join(pins), ", ".join(found)))
    return key


class FilterModule(object):
    def filters(self):
        return {
            "pgp_fingerprints": pgp_fingerprints,
            "pgp_pinned": pgp_pinned,
        }
