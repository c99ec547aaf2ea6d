"""TEST FIXTURE (shared by the stand-ins): JSON as Go's encoding/json writes it.

Object keys sorted (Go sorts map keys), no spaces, floats in the ES6 form Go uses
(encode.go floatEncoder: fixed notation unless the magnitude is below 1e-6 or at least 1e21,
shortest digits, exponents without padding), strings with Go's escapes (\\b \\f \\n \\r \\t,
other control characters as \\u00XX, U+2028 and U+2029 always, < > & when escape_html is on,
as json.Marshal has it). Bytes are base64, as Go marshals []byte.
"""
from __future__ import annotations

import base64
import math
from decimal import Decimal
from typing import Any, List

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def es6_float(value: float) -> str:
    """A float64 as encoding/json writes it (and pcommon's AsString, which returns NaN and
    Infinity where JSON has none)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, exponent = repr(value).split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_string(text: str, escape_html: bool = True) -> str:
    out: List[str] = ['"']
    for char in text:
        if char in _SHORT:
            out.append(_SHORT[char])
        elif escape_html and char in _HTML:
            out.append(_HTML[char])
        elif ord(char) < 0x20 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            out.append("\ufffd")  # invalid UTF-8 becomes the replacement character
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def dumps(value: Any, escape_html: bool = True) -> str:
    """json.Marshal of a value made of dicts, lists, str, bool, int, float, bytes and None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"json: unsupported value: {es6_float(value)}")
        return es6_float(value)
    if isinstance(value, bytes):
        return go_string(base64.b64encode(value).decode("ascii"), escape_html)
    if isinstance(value, str):
        return go_string(value, escape_html)
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_string(str(k), escape_html)}:{dumps(v, escape_html)}"
                              for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v, escape_html) for v in value) + "]"
    return go_string(str(value), escape_html)
