# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sections of an env file that systemd (EnvironmentFile=), the package scripts (which
source it with sh) and docker compose (env_file) all read the same way.

Each owner (a role) has one section between marker comments; other lines are kept, except
assignments of keys that a section now sets. Values are double-quoted with \\, ", $ and `
escaped, which systemd and sh both undo (a value with a backtick is single-quoted: Compose keeps
the backslash of \\`); values with a newline or NUL are refused, and so are
the code points systemd refuses as invalid UTF-8 (surrogates, U+FDD0..U+FDEF, U+xxFFFE/U+xxFFFF:
utf8.c unichar_is_valid), which would make it refuse the whole file.
Lines are split at LF, CR and CRLF only, not at the other line boundaries of str.splitlines()
(U+2028, U+0085, VT, FF, ...), which values may hold.
A section marked secret has its values replaced by ******** in masked().
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import io
import os
import re

HEADER = "# Managed by fleet.alloy: each section below belongs to the role named in its markers.\n"
MASK = "********"
_BEGIN = re.compile(r"^# BEGIN fleet\.alloy (?P<name>[A-Za-z0-9_]+)(?P<secret> \(secret\))?$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=")


class EnvFileError(ValueError):
    """A key or value that cannot be written safely."""


def value_problem(text):
    """Why text cannot be written so that every reader reads it back exactly, or None."""
    if any(char in text for char in "\n\r\0"):
        return "values must be one line without NUL characters"
    if any(not _valid_for_systemd(ord(char)) for char in text):
        return "values must not hold surrogates or Unicode noncharacters (systemd refuses them)"
    if "`" in text and ("'" in text or text.endswith("\\")):
        return ("a value with a backtick can hold no single quote and cannot end with a backslash (no quoting "
                "of it reads the same in systemd, sh and Compose's env_file)")
    return None


def quote(value):
    """Double quotes with \\ " $ ` escaped; a value with a backtick in single quotes instead,
    because Compose's env_file keeps the backslash of \\` (compose-go dotenv: no such escape)."""
    text = value if isinstance(value, str) else (str(value).lower() if isinstance(value, bool) else str(value))
    problem = value_problem(text)
    if problem:
        raise EnvFileError(problem)
    if "`" in text:
        return "'" + text + "'"
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def _valid_for_systemd(code):
    return not ((code & 0xFFFFF800) == 0xD800 or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


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
    lines = re.split(r"\r\n|\r|\n", text)
    for line in lines[:-1] if lines[-1] == "" else lines:
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


class SectionChange(object):
    """An env file with one section set, read but not written yet."""

    def __init__(self, path, before, after):
        self.path = path
        self.before = before    # its text now ("" when missing)
        self.after = after      # its text with the section set

    @property
    def changed(self):
        return self.before != self.after

    def diff(self):
        """The diff with the values of every secret section masked."""
        return dict(before_header=self.path, after_header=self.path,
                    before=masked(self.before), after=masked(self.after))


def section_change(path, name, values, secret):
    """The env file at path with section name set to values (read only; EnvFileError names
    a value that cannot be written, before anything changes)."""
    exists = os.path.exists(path)
    before = read_text(path) if exists else ""
    return SectionChange(path, before, file_text(before, exists, name, values, secret))


def read_text(path):
    """The env file's text as alloy_env reads it (UTF-8, line ends read as line feeds)."""
    with io.open(path, "r", encoding="utf-8") as handle:
        return handle.read()


def section_digest(lines):
    """The SHA1 of a section's lines (markers included) as render_section gives them."""
    return hashlib.sha1("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def section_keyed_digest(lines, key):
    """The HMAC-SHA256 of a section's lines (markers included) under key (text): what may leave the
    host of a secret section - it tells whether the section is one the holder of key expects, and
    nothing of its values to anyone without key."""
    return hmac.new(key.encode("utf-8"), "\n".join(lines).encode("utf-8", "surrogateescape"),
                    hashlib.sha256).hexdigest()


def secret_section_read(text, name, key):
    """Of a secret section (one that holds values the controller must not learn): whether it is
    there and, when it is there once, marked secret and whole (its own END marker last, no other
    marker inside), section_keyed_digest() of it under key."""
    own = [lines for owner, dummy, lines in split(text) if owner == name]
    found = {"found": bool(own)}
    if len(own) == 1 and key and _whole(name, own[0], secret=True):
        found["hmac"] = section_keyed_digest(own[0], key)
    return found


def section_read(text, name):
    """What the controller may know of an env file's text to tell whether setting section name would
    change it, and nothing of a secret: the SHA1 of that section when it is there once, whole (its own
    END marker last, no other marker inside) and not marked secret; the keys assigned outside the
    sections (names, no values); whether the text is as update() writes it (a last line end)."""
    stray, own = [], []
    parts = split(text)
    for owner, secret, lines in parts:
        if owner is None:
            stray.extend(match.group("key") for match in (_ASSIGNMENT.match(line) for line in lines) if match)
        elif owner == name:
            own.append((secret, lines))
    section = {"found": bool(own)}
    if len(own) == 1 and not own[0][0] and _whole(name, own[0][1]):
        section["sha1"] = section_digest(own[0][1])
    joined = "\n".join(line for dummy, dummy, lines in parts for line in lines)
    return {"section": section, "stray_keys": sorted(set(stray)),
            "canonical": text == (joined + "\n" if parts else "")}


def _whole(name, lines, secret=False):
    """A section (not secret, unless secret) with its own END marker last and no other marker inside."""
    return (len(lines) >= 2 and lines[-1] == _end(name, secret)
            and not any(_BEGIN.match(line) or line.startswith("# END fleet.alloy") for line in lines[1:-1]))


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
