"""TEST FIXTURE (stand-in for Grafana Alloy): `alloy validate`'s check of a block's body.

A port of grafana/alloy syntax/typecheck/typecheck.go against the stand-in's schemas
(components.py, from alloy-components.json): unknown attributes and blocks, attributes
given twice, non-repeatable blocks given twice, missing required attributes and blocks,
and the type of literal values (as syntax/internal/value decodes them: a number is a
valid string, a numeric string a valid number, a duration is a string time.ParseDuration
accepts, a secret is a capsule). Expressions that are not literals, arrays, objects or a
unary operator on a literal are not checked, as in Alloy. Python 3.9+.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from decimal import Decimal
from typing import List, Optional, Union

from .components import Schema
from .diag import NO_POS, Diagnostic, Pos, go_quote, make
from .syntax import ArrayExpr, Attribute, Block, Expr, Literal, ObjectExpr, Statement, Unary

NUMBER_TYPES = frozenset({"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
                          "float32", "float64"})
SCALAR_NAMES = {"string": "string", "secret": "capsule", "bool": "bool", "duration": "number"}
DURATION_UNITS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9,
                  "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_GO_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def expected_name(kind: str) -> Optional[str]:
    """The Alloy type a Go field of this kind decodes from, None when unpredictable (opaque)."""
    if kind in NUMBER_TYPES:
        return "number"
    if kind.startswith("list("):
        return "array"
    if kind.startswith("map("):
        return "object"
    return SCALAR_NAMES.get(kind)


def element_kind(kind: str) -> str:
    """list(string) -> string, map(string,list(secret)) -> list(secret)."""
    inner = kind[kind.index("(") + 1:-1]
    return inner.split(",", 1)[1] if kind.startswith("map(") else inner


def value_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "string"


# ---- blocks


def check_block(block: Block, schema: Schema, filename: str) -> List[Diagnostic]:
    """typecheck.Block: the diagnostics of block's body against schema."""
    diags: List[Diagnostic] = []
    counts = Counter(stmt.name for stmt in block.body if isinstance(stmt, Block))
    seen: set = set()
    for stmt in block.body:
        if isinstance(stmt, Block):
            diags += _check_child(stmt, counts, schema, filename)
        else:
            diags += _check_attribute(stmt, seen, schema, filename)
    for name in schema.order:
        child = schema.blocks.get(name)
        if name in schema.required and name not in seen:
            diags.append(_error(filename, block, f"missing required attribute {go_quote(name)}"))
        elif child is not None and child.block_required and not counts[name]:
            diags.append(_error(filename, block, f"missing required block {go_quote(name)}"))
    return diags


def _error(filename: str, node: Union[Statement, Expr], message: str, start: Pos = NO_POS) -> Diagnostic:
    return make("Error", filename, start if start != NO_POS else (node.line, node.col), message, node.end)


def _check_child(block: Block, counts: Counter, schema: Schema, filename: str) -> List[Diagnostic]:
    child = schema.blocks.get(block.name)
    if child is None:
        if block.name in schema.attributes:
            return [_error(filename, block, f"{go_quote(block.name)} must be an attribute, but is used as a block")]
        return [_error(filename, block, f"unrecognized block name {go_quote(block.name)}")]
    if not child.repeatable and counts[block.name] > 1:
        return [_error(filename, block, f"block {go_quote(block.name)} may only be specified once")]
    return check_block(block, child, filename)


def _check_attribute(attr: Attribute, seen: set, schema: Schema, filename: str) -> List[Diagnostic]:
    if attr.name not in schema.attributes:
        if attr.name in schema.blocks:
            return [_error(filename, attr, f"{go_quote(attr.name)} must be a block, but is used as an attribute")]
        return [_error(filename, attr, f"unrecognized attribute name {go_quote(attr.name)}")]
    if attr.name in seen:
        return [_error(filename, attr, f"attribute {go_quote(attr.name)} may only be provided once")]
    seen.add(attr.name)
    return check_expr(attr.value, schema.types.get(attr.name, "opaque"), filename)


# ---- expressions


def check_expr(expr: Expr, kind: str, filename: str) -> List[Diagnostic]:
    """typecheckExpr: literals, arrays, objects and a unary operator on a literal."""
    if isinstance(expr, Literal):
        message = literal_error(expr.value, kind)
        return [_error(filename, expr, message)] if message else []
    if isinstance(expr, Unary):
        return _check_unary(expr, kind, filename)
    expected = expected_name(kind)
    if isinstance(expr, ArrayExpr):
        if kind.startswith("list("):
            return [d for item in expr.items for d in check_expr(item, element_kind(kind), filename)]
        return [_error(filename, expr, f"expected {expected}, got array")] if expected else []
    if isinstance(expr, ObjectExpr):
        if kind.startswith("map("):
            return [d for _, value in expr.fields for d in check_expr(value, element_kind(kind), filename)]
        return [_error(filename, expr, f"expected {expected}, got object")] if expected else []
    return []


def _check_unary(expr: Unary, kind: str, filename: str) -> List[Diagnostic]:
    operand = expr.operand
    if not isinstance(operand, Literal):
        return []
    wanted = "number" if expr.op == "-" else "bool"
    if value_type(operand.value) != wanted:
        return [_error(filename, operand, f"expected {wanted}, got {value_type(operand.value)}")]
    return check_expr(operand, kind, filename)


def literal_error(value: object, kind: str) -> Optional[str]:
    """value.DecodeCopy of a literal into a Go field of this kind: the error text, if any."""
    have = value_type(value)
    expected = expected_name(kind)
    if have == "null" or expected is None:
        return None
    if kind == "duration":
        if have == "bool":
            return "expected string, got bool"
        return duration_error(value if isinstance(value, str) else number_text(value))
    if expected == "string":
        return "expected string, got bool" if have == "bool" else None
    if expected == "capsule":
        return None if have == "string" else f"expected capsule, got {have}"
    if expected == "number" and have == "string":
        return None if string_is_number(str(value)) else "expected number, got string"
    return None if have == expected else f"expected {expected}, got {have}"


def number_text(value: object) -> str:
    """Number.ToString: integers as they are, floats as strconv.FormatFloat(f, 'f', -1, 64)."""
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def string_is_number(text: str) -> bool:
    """convertValue string -> number: ParseInt for "-...", ParseFloat with . e E, else ParseUint."""
    if text.startswith("-"):
        return re.fullmatch(r"-\d+", text) is not None and int(text) >= -(1 << 63)
    if any(c in text for c in ".eE"):
        return _GO_FLOAT.match(text) is not None and not math.isinf(float(text))
    return text.isdigit() and text.isascii() and int(text) < 1 << 64


def _time_quote(text: str) -> str:
    """time's own quote(): non-ASCII and control bytes as \\xNN."""
    out = ['"']
    for ch in text:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return "".join(out) + '"'


_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^.0-9]*)")


def duration_error(text: str) -> Optional[str]:
    """time.ParseDuration's error for text, None when it parses ([-+]?([0-9]*(.[0-9]*)?[a-z]+)+)."""
    invalid = "time: invalid duration " + _time_quote(text)
    rest, negative = text, text[:1] == "-"
    rest = rest[1:] if rest[:1] in ("-", "+") else rest
    if rest == "0":
        return None
    if not rest:
        return invalid
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        whole, frac, unit = match.group(1), match.group(2) or "", match.group(3)  # type: ignore[union-attr]
        if not whole and not frac:  # the next character is not [0-9.], or "." has no digits around it
            return invalid
        if not unit:
            return "time: missing unit in duration " + _time_quote(text)
        if unit not in DURATION_UNITS:
            return f"time: unknown unit {_time_quote(unit)} in duration {_time_quote(text)}"
        scale = DURATION_UNITS[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        if total > 1 << 63:
            return invalid
        rest = rest[match.end():]  # type: ignore[union-attr]
    return invalid if total > (1 << 63) - (0 if negative else 1) else None
