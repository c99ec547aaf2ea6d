"""TEST FIXTURE (stand-in for Grafana Alloy): the printer behind the stand-in's `alloy fmt`.

Prints a parsed configuration with tab indentation and the `=` of consecutive attributes
aligned, as the real formatter does. Unlike the real one it does not keep comments or
the original line breaks inside expressions, so the stand-in refuses `fmt -w`.
"""
from __future__ import annotations

from typing import List

from .syntax import (Access, ArrayExpr, Attribute, Binary, Call, Expr, Ident, Index,
                     Literal, ObjectExpr, Paren, Statement, Unary, is_identifier)


def quote(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def expr(e: Expr) -> str:
    if isinstance(e, Literal) and e.text:
        return e.text  # as written, like Alloy's printer (1e3 stays 1e3, `raw` stays raw)
    if isinstance(e, Literal):
        if isinstance(e.value, bool):
            return "true" if e.value else "false"
        if e.value is None:
            return "null"
        if isinstance(e.value, str):
            return quote(e.value)
        return repr(e.value)
    if isinstance(e, Ident):
        return e.name
    if isinstance(e, Access):
        return f"{expr(e.target)}.{e.name}"
    if isinstance(e, Index):
        return f"{expr(e.target)}[{expr(e.index)}]"
    if isinstance(e, Call):
        return f"{expr(e.target)}({', '.join(expr(a) for a in e.args)})"
    if isinstance(e, ArrayExpr):
        return f"[{', '.join(expr(i) for i in e.items)}]"
    if isinstance(e, ObjectExpr):
        if not e.fields:
            return "{}"
        keys = [f'"{k.name}"' if k.quoted else k.name for k in e.keys] if e.keys else \
            [k if is_identifier(k) else quote(k) for k, _ in e.fields]
        return "{" + ", ".join(f"{k} = {expr(v)}" for k, (_, v) in zip(keys, e.fields)) + "}"
    if isinstance(e, Unary):
        return f"{e.op}{expr(e.operand)}"
    if isinstance(e, Binary):
        return f"{expr(e.left)} {e.op} {expr(e.right)}"
    if isinstance(e, Paren):
        return f"({expr(e.inner)})"
    raise TypeError(type(e))


def body(statements: List[Statement], depth: int = 0) -> List[str]:
    lines: List[str] = []
    run: List[Attribute] = []
    indent = "\t" * depth

    def flush() -> None:
        width = max((len(a.name) for a in run), default=0)
        lines.extend(f"{indent}{a.name.ljust(width)} = {expr(a.value)}" for a in run)
        run.clear()

    for stmt in statements:
        if isinstance(stmt, Attribute):
            run.append(stmt)
            continue
        flush()
        if lines and depth == 0:
            lines.append("")
        label = f' "{stmt.label}"' if stmt.label else ""  # the label as written
        lines.append(f"{indent}{stmt.name}{label} {{")
        lines.extend(body(stmt.body, depth + 1))
        lines.append(f"{indent}}}")
    flush()
    return lines


def format_file(statements: List[Statement]) -> str:
    return "\n".join(body(statements)) + "\n"


