# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encode Python values as Grafana Alloy configuration literals.

Strings become double-quoted Alloy strings with Go escapes (non-ASCII as \\u/\\U, so
rendered files are plain ASCII); lists become arrays; mappings become objects; None,
booleans and numbers become their literals.

Object keys are written bare when they are identifiers and otherwise between double quotes
WITHOUT escapes, because Alloy takes a quoted key literally: its parser (syntax/parser/
internal.go, parseField) keeps the characters between the quotes as the key, while a string
value is unquoted with strconv.Unquote (syntax/internal/transform/value.go). So a key is
refused (AlloyEncodeError naming it) when it is empty (Alloy strips the quotes only from a
key longer than "", so "" would be the two-character key), or holds a double quote, a
backslash, a control character (a newline ends the string; a tab would be read literally but
`alloy fmt` rewrites it as \\t) or a non-ASCII character (files stay plain ASCII).

An expression (a reference such as prometheus.exporter.unix.default.targets or a call
such as sys.env("X")) is written verbatim only when marked: a mapping whose single key
is EXPR_KEY, as returned by expr().
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

EXPR_KEY = "__alloy_expr__"
KEYWORDS = frozenset(("true", "false", "null"))
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_SHORT_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "\\": "\\\\", '"': '\\"',
}


class AlloyEncodeError(ValueError):
    """A value that has no Alloy literal."""


def is_identifier(text):
    """True when text can stand unquoted as an object key or a block label."""
    return bool(_IDENT.match(text)) and text not in KEYWORDS


def expr(text):
    """Mark text as an Alloy expression to be written verbatim."""
    if not isinstance(text, str) or not text.strip():
        raise AlloyEncodeError("an Alloy expression must be a non-empty string")
    if "\n" in text or "\r" in text:
        raise AlloyEncodeError("an Alloy expression must fit on one line: %r" % text)
    return {EXPR_KEY: text}


def env_ref(name):
    """The expression that reads an environment variable at run time."""
    return expr("sys.env(%s)" % encode_string(name))


def is_expr(value):
    return isinstance(value, dict) and len(value) == 1 and EXPR_KEY in value


def _escape_char(char):
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return "\\x%02x" % code
    if code < 0x7F:
        return char
    if code <= 0xFFFF:
        return "\\u%04x" % code
    return "\\U%08x" % code


def encode_string(text):
    """A double-quoted Alloy string holding exactly text."""
    return '"' + "".join(_escape_char(char) for char in text) + '"'


def _encode_float(number):
    if math.isnan(number) or math.isinf(number):
        raise AlloyEncodeError("Alloy has no literal for %r" % number)
    text = repr(number)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = mantissa + ".0e" + exponent
    return text


def _key_problem(key):
    """Why key cannot be written as a quoted Alloy object key, or None when it can."""
    if key == "":
        return ("an empty quoted key \"\" would be read as the two-character key '\"\"' "
                "(Alloy removes the quotes only from a longer key)")
    for char in key:
        if char == '"':
            return "it may not contain a double quote"
        if char == "\\":
            return "it may not contain a backslash"
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            return "it may not contain a control character (%r)" % char
        if code > 0x7F:
            return ("it may not contain a non-ASCII character (%r); rendered files are kept "
                    "plain ASCII" % char)
    return None


def _encode_key(key):
    if not isinstance(key, str):
        raise AlloyEncodeError("object keys must be strings, not %s" % type(key).__name__)
    if is_identifier(key):
        return key
    problem = _key_problem(key)
    if problem:
        raise AlloyEncodeError("object key %r cannot be written exactly in Alloy: a quoted key is "
                               "taken literally (Alloy does not unescape it), so %s" % (key, problem))
    return '"' + key + '"'


def encode(value):
    """The Alloy literal for value (see the module documentation)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, str):
        return encode_string(value)
    if isinstance(value, dict):
        if is_expr(value):
            return expr(value[EXPR_KEY])[EXPR_KEY]
        fields = ["%s = %s" % (_encode_key(key), encode(item)) for key, item in value.items()]
        return "{" + ", ".join(fields) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(encode(item) for item in value) + "]"
    raise AlloyEncodeError("no Alloy literal for a value of type %s" % type(value).__name__)
