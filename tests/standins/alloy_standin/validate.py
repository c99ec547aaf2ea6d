"""TEST FIXTURE (stand-in for Grafana Alloy): what `alloy validate` and `alloy run` check.

Loads a file or a directory (every *.alloy directly inside it, sorted by name, as one
configuration), parses it, then checks: attributes at the top level, unknown components,
missing labels, duplicate names across files, required and unknown attributes and
blocks, references to components that do not exist, and calls to unknown or deprecated
functions (a deprecation is a warning; `validate` fails on warnings as the real one does).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Tuple

from .components import COMPONENTS, CONFIG_BLOCKS, DEPRECATED, STDLIB, Schema
from .syntax import (Access, AlloySyntaxError, ArrayExpr, Attribute, Binary, Block, Call, Expr, Index,
                     ObjectExpr, Paren, Unary, chain_name, parse)


@dataclass
class Diagnostic:
    severity: str  # Error or Warning
    filename: str
    line: int
    col: int
    message: str

    def render(self) -> str:
        return f"{self.severity}: {self.filename}:{self.line}:{self.col}: {self.message}"


@dataclass
class Loaded:
    """A loaded configuration: its components (with their file) and the diagnostics."""
    components: List[Tuple[str, Block]] = field(default_factory=list)
    diagnostics: List[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "Error"]


class LoadError(Exception):
    """The path itself cannot be loaded (missing, empty directory, ...)."""


def config_files(path: Path) -> List[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".alloy" and p.is_file())
    if path.is_file():
        return [path]
    raise LoadError(f"reading config path {str(path)!r}: no such file or directory")


def load(path: Path) -> Loaded:
    result = Loaded()
    for file in config_files(path):
        name = str(file) if not path.is_dir() else file.name
        try:
            statements = parse(file.read_text(encoding="utf-8"))
        except AlloySyntaxError as err:
            result.diagnostics.append(Diagnostic("Error", name, err.line, err.col, err.message))
            continue
        for stmt in statements:
            if isinstance(stmt, Attribute):
                result.diagnostics.append(Diagnostic(
                    "Error", name, stmt.line, stmt.col,
                    f"unrecognized attribute name {stmt.name!r}: attributes are not allowed at the top level"))
            else:
                result.components.append((name, stmt))
    if not result.diagnostics:
        result.diagnostics += Checker(result.components).run()
    return result


class Checker:
    def __init__(self, components: List[Tuple[str, Block]]) -> None:
        self.components = components
        self.diags: List[Diagnostic] = []
        self.declared: Dict[str, Tuple[str, Block]] = {}

    def _add(self, severity: str, filename: str, line: int, col: int, message: str) -> None:
        self.diags.append(Diagnostic(severity, filename, line, col, message))

    def run(self) -> List[Diagnostic]:
        for filename, block in self.components:
            self._declare(filename, block)
        for filename, block in self.components:
            schema = COMPONENTS.get(block.name) or CONFIG_BLOCKS.get(block.name)
            if schema is not None:
                self._check_body(filename, block, schema)
        return self.diags

    def _declare(self, filename: str, block: Block) -> None:
        if block.name in COMPONENTS and not block.label:
            self._add("Error", filename, block.line, block.col, f"component {block.name!r} must have a label")
            return
        if block.name in CONFIG_BLOCKS and block.label:
            self._add("Error", filename, block.line, block.col, f"block {block.name!r} does not take a label")
            return
        if block.name not in COMPONENTS and block.name not in CONFIG_BLOCKS:
            self._add("Error", filename, block.line, block.col,
                      f"cannot find the definition of component name {block.name!r}")
            return
        if block.id in self.declared:
            other_file, other = self.declared[block.id]
            self._add("Error", filename, block.line, block.col,
                      f"block {block.id} already declared at {other_file}:{other.line}:{other.col}")
            return
        self.declared[block.id] = (filename, block)

    def _check_body(self, filename: str, block: Block, schema: Schema) -> None:
        seen = set()
        for stmt in block.body:
            if isinstance(stmt, Attribute):
                if stmt.name not in schema.attributes:
                    self._add("Error", filename, stmt.line, stmt.col, f"unrecognized attribute name {stmt.name!r}")
                elif stmt.name in seen:
                    self._add("Error", filename, stmt.line, stmt.col, f"attribute {stmt.name!r} may only be set once")
                seen.add(stmt.name)
                self._check_expr(filename, stmt.value)
            elif stmt.name not in schema.blocks or stmt.label:
                self._add("Error", filename, stmt.line, stmt.col, f"unrecognized block name {stmt.id!r}")
            else:
                self._check_body(filename, stmt, schema.blocks[stmt.name])
        for name in sorted(schema.required - seen):
            self._add("Error", filename, block.line, block.col, f"missing required attribute {name!r}")

    def _check_expr(self, filename: str, expr: Expr) -> None:
        for node in walk(expr):
            if isinstance(node, Call):
                self._check_call(filename, node)
            else:
                name = chain_name(node)
                if name is not None:
                    self._check_reference(filename, node, name)

    def _check_call(self, filename: str, call: Call) -> None:
        name = chain_name(call.target)
        if name is None:
            return
        if name in DEPRECATED:
            self._add("Warning", filename, call.target.line, call.target.col,
                      f"this stdlib function is deprecated; please refer to the documentation for "
                      f"updated usage and alternatives ({name} -> {DEPRECATED[name]})")
        elif name not in STDLIB:
            self._add("Error", filename, call.target.line, call.target.col, f"function {name!r} does not exist")

    def _check_reference(self, filename: str, node: Expr, name: str) -> None:
        if name in STDLIB or name.split(".")[0] in ("constants", "sys"):
            return
        parts = name.split(".")
        for size in range(len(parts), 1, -1):
            prefix = ".".join(parts[:size])
            if prefix in self.declared:
                _, block = self.declared[prefix]
                export = parts[size] if size < len(parts) else ""
                exports = COMPONENTS[block.name].exports if block.name in COMPONENTS else frozenset()
                if export and export not in exports:
                    self._add("Error", filename, node.line, node.col,
                              f"component {prefix} does not export {export!r}")
                return
        self._add("Error", filename, node.line, node.col,
                  f"component {name!r} does not exist or is out of scope")


def walk(expr: Expr) -> Iterator[Expr]:
    """Yield the outermost reference chains and calls of an expression (not their parts)."""
    if chain_name(expr) is not None:
        yield expr
        return
    if isinstance(expr, Call):
        yield expr
        for arg in expr.args:
            yield from walk(arg)
        return
    yield from _children(expr)


def _children(expr: Expr) -> Iterable[Expr]:
    if isinstance(expr, ArrayExpr):
        for item in expr.items:
            yield from walk(item)
    elif isinstance(expr, ObjectExpr):
        for _, value in expr.fields:
            yield from walk(value)
    elif isinstance(expr, (Paren, Unary)):
        yield from walk(expr.inner if isinstance(expr, Paren) else expr.operand)
    elif isinstance(expr, Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, Access):
        yield from walk(expr.target)
    elif isinstance(expr, Index):
        yield from walk(expr.target)
        yield from walk(expr.index)
