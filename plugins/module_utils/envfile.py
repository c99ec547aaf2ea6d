# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sections of an env file that systemd (EnvironmentFile=), the package scripts (which
source it with sh) and docker compose (env_file) all read the same way.

Each owner (a role) has one section between marker comments; other lines are kept, except
assignments of keys that a section now sets. Values are double-quoted with \\, ", $ and `
escaped, which systemd and sh both undo; values with a newline or NUL are refused.
A section marked secret has its values replaced by ******** in masked().
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

HEADER = "# Managed by fleet.alloy: each section below belongs to the role named in its markers.\n"
MASK = "********"
_BEGIN = re.compile(r"^# BEGIN fleet\.alloy (?P<name>[A-Za-z0-9_]+)(?P<secret> \(secret\))?$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=")


class EnvFileError(ValueError):
    """A key or value that cannot be written safely."""


def quote(value):
    text = value if isinstance(value, str) else (str(value).lower() if isinstance(value, bool) else str(value))
    if any(char in text for char in "\n\r\0"):
        raise EnvFileError("values must be one line without NUL characters")
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def _end(name, secret):
    return "# END fleet.alloy %s%s" % (name, " (secret)" if secret else "")


def render_section(name, values, secret):
    """The section's lines (markers included), keys sorted."""
    for key in values:
        if not _KEY.match(key):
            raise EnvFileError("%r is not a valid environment variable name" % key)
    begin = "# BEGIN fleet.alloy %s%s" % (name, " (secret)" if secret else "")
    body = ["%s=%s" % (key, quote(values[key])) for key in sorted(values)]
    return [begin] + body + [_end(name, secret)]


def split(text):
    """[(section name or None, secret, lines)] in file order."""
    parts = []
    current = None
    for line in text.splitlines():
        match = _BEGIN.match(line)
        if current is None and match:
            current = (match.group("name"), bool(match.group("secret")), [line])
            continue
        if current is not None:
            current[2].append(line)
            if line.startswith("# END fleet.alloy %s" % current[0]):
                parts.append(current)
                current = None
            continue
        if parts and parts[-1][0] is None:
            parts[-1][2].append(line)
        else:
            parts.append((None, False, [line]))
    if current is not None:
        parts.append(current)
    return parts


def update(text, name, values, secret):
    """text with section name set to values (removed when values is empty)."""
    new_section = render_section(name, values, secret) if values else []
    out = []
    placed = False
    for owner, _secret, lines in split(text):
        if owner == name:
            out.extend(new_section)
            placed = True
        elif owner is None:
            out.extend(line for line in lines if not _overridden(line, values))
        else:
            out.extend(lines)
    if not placed and new_section:
        if not any(line.strip() for line in out):
            out = [HEADER.rstrip("\n")]
        out.extend(new_section)
    return "\n".join(out) + "\n" if out else ""


def file_text(before, exists, name, values, secret):
    """The env file's text after setting the section. A file that does not exist yet is
    created, with the header alone when the section is empty (others name the file)."""
    after = update(before, name, values, secret)
    return after if exists or after else HEADER


def _overridden(line, values):
    match = _ASSIGNMENT.match(line)
    return bool(match) and match.group("key") in values


def masked(text):
    """text with the values of secret sections replaced by MASK (for diffs and logs)."""
    out = []
    for owner, secret, lines in split(text):
        for line in lines:
            match = _ASSIGNMENT.match(line)
            out.append("%s=%s" % (match.group("key"), MASK) if owner and secret and match else line)
    return "\n".join(out) + "\n" if out else ""
