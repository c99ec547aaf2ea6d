"""TEST FIXTURE (stand-in for Grafana Alloy): the configuration the remotecfg service loads, as
Alloy's isolated "remotecfg" controller loads it (internal/runtime/alloy_services.go
ServiceController.LoadSource: ParseSource("", content), then a module-mode load).

The content is parsed as one file without a name (diagnostics read `line:col: message`) and
checked by the stand-in's validator in module mode (`logging not allowed in module`, unknown
components, missing required arguments, references out of scope, ...). Every error makes the
load fail with diag.Diagnostics.AllMessages (each `line:col: message`, joined by "; ").

`declare "<name>" { argument "x" { optional = true } ... }` blocks define custom components;
instantiating `<name> "label" { x = ... }` creates the module "remotecfg/<name>.<label>"
(the module controller's ID is the custom component's global ID,
internal/runtime/internal/controller/node_custom_component.go) whose built-in components get
`argument.<x>.value` replaced by the value given (its `default`, else null), with indexes
such as `argument.attributes.value["env"]` folded (a missing key is null). Declares nest.

Not modelled: the exact wording of Alloy's loader for errors found only at evaluation
(the validator's wording is used), `export` blocks and reading a module's exports,
`import.*` blocks in remote content, arguments that are references to other components
(passed through unevaluated), expressions other than constants, sys.env, arrays, objects and
index folding.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .components import COMPONENTS
from .diag import Diagnostic
from .syntax import (Access, ArrayExpr, Attribute, Binary, Block, Call, Expr, Ident, Index, Literal, ObjectExpr,
                     Paren, Statement, Unary, chain_name)
from .telemetry import attr, evaluate
from .validate import CONFIG_NAMES, Graph, Registry, State, Validator, parse_source, split_blocks

CONTROLLER_ID = "remotecfg"
MODULE_BLOCKS = ("argument", "export", "declare")


class RemoteLoadError(Exception):
    """The content does not load; str() is diag.Diagnostics.AllMessages()."""


@dataclass
class Entry:
    """One component of a module: a built-in one, or a custom one with the module it created."""
    block: Block
    created: List[str] = field(default_factory=list)

    @property
    def custom(self) -> bool:
        return bool(self.created)


Modules = Dict[str, Dict[str, Entry]]  # module ID ("remotecfg" is the root) -> local ID -> entry


def all_messages(diags: List[Diagnostic]) -> str:
    """diag.Diagnostics.AllMessages."""
    return "; ".join(d.error() for d in diags) if diags else "no errors"


def check(content: str, min_stability: str) -> List[Block]:
    """The content's top-level blocks; RemoteLoadError when it does not parse or validate."""
    body, diags = parse_source("", content.encode("utf-8", "surrogateescape"))
    if diags:
        raise RemoteLoadError(all_messages(diags))
    blocks = [s for s in body if isinstance(s, Block)]
    configs, declares, services, components = split_blocks(None, list(blocks))
    validator = Validator(min_stability, run=True)
    root = State(False, False, {"module_path": True}, Graph(), Registry(min_stability), declares, configs,
                 components, services)
    errors = [d for d in validator.check_graph(validator.validate(root)) if d.severity == "Error"]
    if errors:
        raise RemoteLoadError(all_messages(errors))
    return blocks


def load(content: str, min_stability: str = "generally-available") -> Modules:
    """The modules of a remote configuration, its root first."""
    blocks = check(content, min_stability)
    modules: Modules = {}
    expand(blocks, {}, {}, CONTROLLER_ID, modules)
    return modules


def expand(body: List[Statement], declares: Dict[str, Block], args: Dict[str, object], module_id: str,
           modules: Modules) -> None:
    """The components of one module body into modules[module_id], custom ones expanded into theirs."""
    visible = dict(declares)
    visible.update({s.label: s for s in body if isinstance(s, Block) and s.name == "declare"})
    entries = modules.setdefault(module_id, {})
    for stmt in body:
        if not isinstance(stmt, Block) or stmt.name in MODULE_BLOCKS or stmt.name in CONFIG_NAMES:
            continue
        block = substitute_block(stmt, args)
        declare = visible.get(block.name)
        if declare is not None:
            child = f"{module_id}/{block.id}"
            entries[block.id] = Entry(block, [child])
            expand(declare.body, visible, instance_arguments(declare, block), child, modules)
        elif block.name in COMPONENTS:
            entries[block.id] = Entry(block)


def instance_arguments(declare: Block, instance: Block) -> Dict[str, object]:
    """argument.<x>.value for every argument block: the instance's value, its default, or null."""
    values: Dict[str, object] = {}
    for arg in (s for s in declare.body if isinstance(s, Block) and s.name == "argument"):
        given = attr(instance, arg.label)
        values[arg.label] = evaluate(given if given is not None else attr(arg, "default"))
    return values


def substitute_block(block: Block, args: Dict[str, object]) -> Block:
    """A copy of block (positions kept) whose expressions read the module's arguments."""
    copied = copy.copy(block)
    copied.body = [substitute_block(s, args) if isinstance(s, Block) else _attribute(s, args) for s in block.body]
    return copied


def _attribute(stmt: Attribute, args: Dict[str, object]) -> Attribute:
    copied = copy.copy(stmt)
    copied.value = substitute(stmt.value, args)
    return copied


def _argument(expr: Expr) -> Optional[str]:
    """x for `argument.x.value`."""
    name = chain_name(expr)
    parts = name.split(".") if name else []
    return parts[1] if len(parts) == 3 and parts[0] == "argument" and parts[2] == "value" else None


def to_expr(value: object, at: Expr) -> Expr:
    """A value as the constant expression that evaluates to it, placed where at is."""
    if isinstance(value, dict):
        return ObjectExpr([(str(k), to_expr(v, at)) for k, v in value.items()], at.line, at.col)
    if isinstance(value, list):
        return ArrayExpr([to_expr(v, at) for v in value], at.line, at.col)
    return Literal(value, at.line, at.col)


def _index(target: Expr, index: Expr, at: Expr) -> Optional[Expr]:
    """target[index] when both are constants: the element, null for a missing key."""
    if not isinstance(index, Literal):
        return None
    if isinstance(target, ObjectExpr):
        return dict(target.fields).get(str(index.value), Literal(None, at.line, at.col))
    if isinstance(target, ArrayExpr) and isinstance(index.value, int) and 0 <= index.value < len(target.items):
        return target.items[index.value]
    return None


def substitute(expr: Expr, args: Dict[str, object]) -> Expr:
    """expr with every argument.<x>.value replaced by its value and constant indexes folded."""
    name = _argument(expr)
    if name is not None:
        return to_expr(args.get(name), expr)
    copied = copy.copy(expr)
    if isinstance(copied, Index):
        copied.target, copied.index = substitute(copied.target, args), substitute(copied.index, args)
        return _index(copied.target, copied.index, expr) or copied
    for attr_name in _CHILDREN.get(type(copied), ()):
        setattr(copied, attr_name, substitute(getattr(copied, attr_name), args))
    if isinstance(copied, (ArrayExpr, Call)):
        items = "items" if isinstance(copied, ArrayExpr) else "args"
        setattr(copied, items, [substitute(item, args) for item in getattr(copied, items)])
    elif isinstance(copied, ObjectExpr):
        copied.fields = [(key, substitute(value, args)) for key, value in copied.fields]
    return copied


_CHILDREN: Dict[type, Tuple[str, ...]] = {Access: ("target",), Binary: ("left", "right"), Unary: ("operand",),
                                          Paren: ("inner",), Call: ("target",), Ident: ()}
