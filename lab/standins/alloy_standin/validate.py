"""TEST FIXTURE (stand-in for Grafana Alloy): what `alloy validate` and `alloy run` check.

Loads a file or a directory (every *.alloy directly inside it, sorted by path, as one
configuration) like Alloy's loadSourceFiles and runtime.ParseSources: non-UTF-8 input is
refused, every file is parsed and all syntax errors of all files reported, a top-level
attribute is an error. Then a port of internal/validator: declare, config, component and
service blocks become nodes of a graph (unknown components, missing labels, blocks
declared twice, config blocks only at the root), each body is type-checked
(typecheck.py), references are resolved (`component "x" does not exist or is out of
scope`, deprecated and experimental stdlib names, which are warnings or errors) and
reference cycles are errors. Any diagnostic, warnings too, fails validate. `alloy run`
(load with run=True) also refuses what Alloy only finds when it evaluates: a component
field that is not exported, a stdlib function that does not exist, an otelcol component
whose Validate refuses its arguments (otel.evaluation_errors).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

from .components import (COMPONENTS, CONFIG_BLOCKS, DEPRECATED, EXPERIMENTAL, IDENTIFIERS, NAMESPACES, SERVICES,
                         UNCONFIGURABLE_SERVICES, Schema, _s)
from .diag import NO_POS, Diagnostic, Pos, go_quote, make
from .syntax import (Access, AlloySyntaxError, ArrayExpr, Attribute, Binary, Block, Call, Expr, Ident, Index,
                     Literal, ObjectExpr, Paren, Statement, Unary, parse)
from .typecheck import check_block

__all__ = ["Diagnostic", "Loaded", "LoadError", "load", "STABILITY_LEVELS"]

STABILITY_LEVELS = ("experimental", "public-preview", "generally-available")
CONFIG_NAMES = ("foreach", "argument", "export", "logging", "tracing", "import.file", "import.string", "import.http",
                "import.git")
IMPORTS = ("import.file", "import.string", "import.http", "import.git")
UTF_BOMS = ((b"\x00\x00\xfe\xff", "UTF32BigEndian"), (b"\xff\xfe\x00\x00", "UTF32LittleEndian"),
            (b"\xef\xbb\xbf", "UTF8"), (b"\xfe\xff", "UTF16BigEndian"), (b"\xff\xfe", "UTF16LittleEndian"))


@dataclass
class Loaded:
    """A loaded configuration: its top-level blocks (with their file), diagnostics, sources."""
    components: List[Tuple[str, Block]] = field(default_factory=list)
    diagnostics: List[Diagnostic] = field(default_factory=list)
    sources: Dict[str, bytes] = field(default_factory=dict)

    @property
    def errors(self) -> List[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "Error"]


class LoadError(Exception):
    """The configuration cannot be read at all. str() is `alloy run`'s message; `cause` is
    the error itself; `parsing` tells it came from ParseSources (validate then prints
    `validation failed: <cause>`) rather than from reading the path."""

    def __init__(self, path: str, cause: str, parsing: bool = False) -> None:
        super().__init__(f"reading config path {go_quote(path)}: {cause}")
        self.cause = cause
        self.parsing = parsing


def _os_error(op: str, path: str, err: OSError) -> str:
    text = err.strerror or str(err)
    return f"{op} {path}: {text[:1].lower()}{text[1:]}"


def read_sources(path: Union[str, Path]) -> Dict[str, bytes]:
    """loadSourceFiles: a file by its name as given, a directory's *.alloy by joined path."""
    name = str(path)
    try:
        if not os.path.isdir(name):
            with open(name, "rb") as handle:
                return {name: handle.read()}
        sources = {}
        for entry in sorted(os.scandir(name), key=lambda e: e.name):
            if entry.name.endswith(".alloy") and not entry.is_dir(follow_symlinks=False):
                file = os.path.normpath(os.path.join(name, entry.name))
                with open(file, "rb") as handle:
                    sources[file] = handle.read()
        return sources
    except OSError as err:
        op = "stat" if not os.path.exists(name) else "open"
        raise LoadError(name, _os_error(op, err.filename or name, err)) from err


def ensure_utf8(path: str, data: bytes) -> None:
    """encoder.EnsureUTF8(strict): only UTF-8 (with or without its BOM) is accepted."""
    for bom, encoding in UTF_BOMS:
        if data.startswith(bom):
            if encoding == "UTF8":
                return
            raise LoadError(path, f"configuration is encoded with {encoding} but must be utf8", parsing=True)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise LoadError(path, "unknown encoding for config", parsing=True) from None


def load(path: Union[str, Path], run: bool = True, min_stability: str = "generally-available") -> Loaded:
    """Read, parse and check a configuration; run=False checks only what `alloy validate` does."""
    sources = read_sources(path)
    result = Loaded(sources=sources)
    files: List[Tuple[str, List[Statement]]] = []
    for name in sorted(sources):
        ensure_utf8(str(path), sources[name])
        body, diags = parse_source(name, sources[name])
        result.diagnostics += diags
        if not diags:
            files.append((name, body))
    if result.diagnostics:
        return result
    result.components = [(name, stmt) for name, body in files for stmt in body if isinstance(stmt, Block)]
    result.diagnostics = Validator(min_stability, run).run([block for _, block in result.components])
    if run and not result.errors:
        result.diagnostics += evaluation_diagnostics([block for _, block in result.components])
    return result


def parse_source(name: str, data: bytes) -> Tuple[List[Statement], List[Diagnostic]]:
    """ParseSource of one file: its statements, or its syntax errors, or the error for a
    top-level attribute."""
    try:
        body = parse(data, name)
    except AlloySyntaxError as err:
        return [], [make("Error", name, (d.line, d.col), d.message, d.end) for d in err.diagnostics]
    attribute = next((s for s in body if isinstance(s, Attribute)), None)
    if attribute is not None:
        end = (attribute.line, attribute.col + len(attribute.name.encode()) - 1)
        message = f"unrecognized attribute {attribute.name}"
        return [], [make("Error", name, (attribute.line, attribute.col), message, end)]
    return body, []


def evaluation_diagnostics(blocks: List[Block]) -> List[Diagnostic]:
    """`alloy run` only: what the components' Validate methods refuse once their arguments
    are evaluated (otel.evaluation_errors), reported over the whole block as Alloy's vm does."""
    from .otel import evaluation_errors  # noqa: PLC0415 - the runtime's, not validate's, concern
    return [_err(block, message) for block in blocks if block.name.startswith("otelcol.")
            for message in evaluation_errors(block)]


# ---- the graph


def with_body(block: Block, body: List[Statement]) -> Block:
    """A copy of block (positions kept) with another body, as the validator's nodes hold."""
    copied = copy.copy(block)
    copied.body = body
    return copied


@dataclass
class Node:
    id: str
    block: Block  # for modules and foreach, a copy whose body is what the node itself checks
    kind: str  # node (config or service), component, module (declare) or foreach
    args: Optional[Schema] = None
    diags: List[Diagnostic] = field(default_factory=list)
    state: Optional["State"] = None

    @property
    def file(self) -> str:
        return self.block.file


class Graph:
    """dag.Graph with the insertion order kept and a parent for foreach templates."""

    def __init__(self, parent: Optional["Graph"] = None) -> None:
        self.ids: List[str] = []
        self.nodes: Dict[str, Node] = {}
        self.parent = parent
        self.edges: Dict[str, Dict[str, None]] = {}

    def add(self, node: Node) -> None:
        self.ids.append(node.id)
        self.nodes[node.id] = node

    def get(self, node_id: str) -> Optional[Node]:
        node = self.nodes.get(node_id)
        if node is None and self.parent is not None:
            return self.parent.get(node_id)
        return node

    def is_from_parent(self, node: Node) -> bool:
        return node.id not in self.nodes and self.parent is not None and self.parent.get(node.id) is not None

    def add_edge(self, source: Node, target: Node) -> None:
        self.edges.setdefault(source.id, {})[target.id] = None

    def __iter__(self) -> Iterator[Node]:
        return (self.nodes[node_id] for node_id in self.ids)

    def strongly_connected(self) -> List[List[Node]]:
        """dag.StronglyConnectedComponentsOrdered (Tarjan, successors in insertion order)."""
        index: Dict[str, int] = {}
        low: Dict[str, int] = {}
        stack: List[str] = []
        result: List[List[Node]] = []

        def visit(node_id: str) -> None:
            index[node_id] = low[node_id] = len(index) + 1
            stack.append(node_id)
            for succ in self.edges.get(node_id, {}):
                if succ not in index:
                    visit(succ)
                    low[node_id] = min(low[node_id], low[succ])
                elif succ in stack:
                    low[node_id] = min(low[node_id], index[succ])
            if low[node_id] == index[node_id]:
                scc: List[Node] = []
                while True:
                    popped = stack.pop()
                    scc.append(self.nodes[popped])
                    if popped == node_id:
                        break
                result.append(scc)

        for node_id in self.ids:
            if node_id not in index:
                visit(node_id)
        return result


class Registry:
    """component.Registry plus the custom components of declare and import blocks."""

    def __init__(self, min_stability: str, parent: Optional["Registry"] = None) -> None:
        self.min_stability = min_stability
        self.parent = parent
        self.custom: Dict[str, Optional[Schema]] = {}

    def get(self, name: str) -> Tuple[Optional[Schema], Optional[str]]:
        """(arguments or None, error): None arguments without error means not type-checked."""
        head = name.split(".")[0]
        if head in self.custom:
            return self.custom[head], None
        if self.parent is not None:
            return self.parent.get(name)
        schema = COMPONENTS.get(name)
        if schema is None:
            return None, f"cannot find the definition of component name {go_quote(name)}"
        error = check_allowed(schema.stability, self.min_stability, f"component {go_quote(name)}")
        return (None, error) if error else (schema, None)


def check_allowed(stability: str, minimum: str, feature: str) -> Optional[str]:
    """featuregate.CheckAllowed."""
    if STABILITY_LEVELS.index(stability) >= STABILITY_LEVELS.index(minimum):
        return None
    return (f"{feature} is at stability level {go_quote(stability)}, which is below the minimum allowed stability "
            f"level {go_quote(minimum)}. Use --stability.level command-line flag to enable {go_quote(stability)} "
            "features")


@dataclass
class State:
    root: bool
    foreach: bool
    scope: Dict[str, object]  # shared with the modules and foreach blocks inside, as in Alloy
    graph: Graph
    registry: Registry
    declares: List[Block] = field(default_factory=list)
    configs: List[Block] = field(default_factory=list)
    components: List[Block] = field(default_factory=list)
    services: List[Block] = field(default_factory=list)
    arguments: List[Block] = field(default_factory=list)


def _err(block: Block, message: str, end: Pos = NO_POS, severity: str = "Error") -> Diagnostic:
    return make(severity, block.file, (block.line, block.col), message, end if end != NO_POS else block.end)


def already_defined(seen: Dict[str, Block], block: Block) -> Optional[Diagnostic]:
    first = seen.get(block.id)
    if first is None:
        seen[block.id] = block
        return None
    where = f"{first.file}:{first.line}:{first.col}" if first.file else f"{first.line}:{first.col}"
    return _err(block, f"block {block.id} already declared at {where}", block.id_end)


def disallowed(state: State, block: Block) -> Optional[Diagnostic]:
    if not state.root:
        return _err(block, f"{block.id} not allowed in module", block.id_end)
    if state.foreach:
        return _err(block, f"{block.id} not allowed in foreach", block.id_end)
    return None


def missing_label(block: Block) -> Optional[Diagnostic]:
    return None if block.label else _err(block, f"{block.name} block must have a label", block.name_end)


def split_blocks(node: Optional[Node], body: List[Statement]) -> Tuple[List[Block], ...]:
    """extractBlocks: configs, declares, services and components of a body."""
    configs: List[Block] = []
    declares: List[Block] = []
    services: List[Block] = []
    components: List[Block] = []
    for stmt in body:
        if not isinstance(stmt, Block):
            if node is not None:
                node.diags.append(make("Error", node.file, (stmt.line, stmt.col),
                                       "unsupported statement type *ast.AttributeStmt", stmt.end))
            continue
        if stmt.name in CONFIG_NAMES:
            configs.append(stmt)
        elif stmt.name == "declare":
            declares.append(stmt)
        elif stmt.id in SERVICES:
            services.append(stmt)
        else:
            components.append(stmt)
    return configs, declares, services, components


def literal_attribute(block: Block, name: str, kind: type) -> Optional[object]:
    """typecheck.TryUnwrapBlockAttr: the last literal `name = <kind>` anywhere in block."""
    found: Optional[object] = None
    for stmt in block.body:
        if isinstance(stmt, Block):
            inner = literal_attribute(stmt, name, kind)
            found = inner if inner is not None else found
        elif stmt.name == name and isinstance(stmt.value, Literal) and type(stmt.value.value) is kind:
            found = stmt.value.value
    return found


# ---- references

Part = Tuple[str, Pos, Pos]  # one name of a traversal: name, start, end


class _Traversals:
    """internal/util/ast traversalWalker: uninterrupted a.b.c chains of a body."""

    def __init__(self) -> None:
        self.found: List[List[Part]] = []
        self.building = False
        self.current: List[Part] = []

    def flush(self) -> None:
        if self.building and self.current:
            self.found.append(self.current)
        self.building, self.current = False, []

    def statement(self, stmt: Statement) -> None:
        if isinstance(stmt, Attribute):
            self.expr(stmt.value)
        else:
            for inner in stmt.body:
                self.statement(inner)

    def expr(self, expr: Expr) -> None:
        if isinstance(expr, Ident):
            self.flush()
            self.building = True
            self.current.append((expr.name, (expr.line, expr.col), expr.end))
        elif isinstance(expr, Access):
            self.expr(expr.target)
            if self.building:
                self.current.append((expr.name, expr.name_pos, expr.end))
        elif isinstance(expr, (Index, Call)):
            self.expr(expr.target)
            self.flush()
            for inner in ([expr.index] if isinstance(expr, Index) else expr.args):
                self.expr(inner)
        else:
            for inner in _children(expr):
                self.expr(inner)


def _children(expr: Expr) -> List[Expr]:
    if isinstance(expr, ArrayExpr):
        return list(expr.items)
    if isinstance(expr, ObjectExpr):
        return [value for _, value in expr.fields]
    if isinstance(expr, Binary):
        return [expr.left, expr.right]
    if isinstance(expr, Unary):
        return [expr.operand]
    return [expr.inner] if isinstance(expr, Paren) else []


def traversals(body: List[Statement]) -> List[List[Part]]:
    walker = _Traversals()
    for stmt in body:
        walker.statement(stmt)
    walker.flush()
    return walker.found


class Validator:
    def __init__(self, min_stability: str = "generally-available", run: bool = False) -> None:
        self.min_stability = min_stability
        self.evaluate = run

    def run(self, blocks: List[Block]) -> List[Diagnostic]:
        configs, declares, services, components = split_blocks(None, list(blocks))
        root = State(True, False, {"module_path": True}, Graph(), Registry(self.min_stability),
                     declares, configs, components, services)
        return self.check_graph(self.validate(root))

    def validate(self, state: State) -> State:
        self.declares(state)
        self.configs(state)
        self.components(state)
        self.services(state)
        return state

    def _inner_state(self, state: State, body: List[Statement], node: Node, foreach: bool) -> State:
        configs, declares, services, components = split_blocks(node, body)
        graph = Graph(state.graph) if foreach else Graph()
        return State(state.root and foreach, foreach, state.scope, graph, Registry(self.min_stability, state.registry),
                     declares, configs, components, services)

    def declares(self, state: State) -> None:
        seen: Dict[str, Block] = {}
        for i, block in enumerate(state.declares):
            node = Node(block.id, with_body(block, []), "module")
            if not block.label:
                node.diags.append(_err(block, "declare block must have a label", block.name_end))
            duplicate = already_defined(seen, block)
            if duplicate:
                node.diags.append(duplicate)
                node.id = f"{node.id}-{i}"
            module = self._inner_state(state, block.body, node, foreach=False)
            node.state = self.validate(module)
            state.graph.add(node)
            if block.label:
                module.scope["argument"] = {arg.label for arg in module.arguments}
                state.registry.custom[block.label] = arguments_schema(module.arguments)

    def configs(self, state: State) -> None:
        seen: Dict[str, Block] = {}
        for i, block in enumerate(state.configs):
            node = Node(block.id, block, "node")
            duplicate = already_defined(seen, block)
            if duplicate:
                node.diags.append(duplicate)
                node.id = f"{node.id}-{i}"
            if block.name in ("logging", "tracing"):
                node.args = CONFIG_BLOCKS[block.name]
                node.diags += [d for d in [disallowed(state, block)] if d]
                state.graph.add(node)
            elif block.name == "foreach":
                self.foreach(node, state)
            elif block.name in ("argument", "export"):
                self.module_block(node, state, register=duplicate is None)
            else:
                self.import_block(node, state, register=duplicate is None)

    def module_block(self, node: Node, state: State, register: bool) -> None:
        block = node.block
        node.args = CONFIG_BLOCKS[block.name]
        if state.root:
            node.diags.append(_err(block, f"{block.name} blocks only allowed inside a module"))
        label = missing_label(block)
        if label:
            node.diags.append(label)
        elif register and block.name == "argument":
            state.arguments.append(block)
        state.graph.add(node)

    def import_block(self, node: Node, state: State, register: bool) -> None:
        label = missing_label(node.block)
        if label:
            register = False
            node.diags.append(label)
        node.args = CONFIG_BLOCKS.get(node.block.name)
        state.graph.add(node)
        if register:
            state.registry.custom[node.block.label] = None

    def foreach(self, node: Node, state: State) -> None:
        block = node.block
        error = check_allowed("experimental", self.min_stability, f"foreach block {go_quote(block.name)}")
        if error:
            node.diags.append(_err(block, error, block.name_end))
        label = missing_label(block)
        if label:
            node.diags.append(label)
        templates = [s for s in block.body if isinstance(s, Block) and s.name == "template"]
        node.block = with_body(block, [s for s in block.body if s not in templates])
        node.args = CONFIG_BLOCKS["foreach"]
        if not templates:
            node.diags.append(_err(block, 'missing required block "template"'))
            state.graph.add(node)
            return
        inner = self._inner_state(state, templates[-1].body, node, foreach=True)
        var = literal_attribute(node.block, "var", str)
        if var is not None:
            inner.scope[str(var)] = True
        node.kind, node.state = "foreach", self.validate(inner)
        state.graph.add(node)

    def components(self, state: State) -> None:
        seen: Dict[str, Block] = {}
        for i, block in enumerate(state.components):
            node = Node(block.id, block, "component")
            if not block.label:
                node.diags.append(_err(block, f"component {go_quote(block.name)} must have a label", block.name_end))
            duplicate = already_defined(seen, block)
            if duplicate:
                node.diags.append(duplicate)
                node.id = f"{node.id}-{i}"
            state.graph.add(node)

    def services(self, state: State) -> None:
        seen: Dict[str, Block] = {}
        for i, block in enumerate(state.services):
            node = Node(block.id, block, "node")
            duplicate = already_defined(seen, block)
            if duplicate:
                node.diags.append(duplicate)
                node.id = f"{node.id}-{i}"
            node.diags += [d for d in [disallowed(state, block)] if d]
            if block.name in UNCONFIGURABLE_SERVICES:
                node.diags.append(_err(block, f"service {go_quote(block.name)} does not support being configured"))
            else:
                node.args = CONFIG_BLOCKS.get(block.name)
            state.graph.add(node)

    # -- the graph: per node its own diagnostics, its type check, its references; then cycles

    def check_graph(self, state: State) -> List[Diagnostic]:
        diags: List[Diagnostic] = []
        for node in state.graph:
            if node.kind == "component":
                args, error = state.registry.get(node.block.name)
                if error:
                    node.diags.append(_err(node.block, error, node.block.name_end))
                diags += node.diags
                if error or args is None:
                    continue
                diags += check_block(node.block, args, node.file)
                diags += self.labelled(node.block.body, node.file)
            else:
                diags += node.diags
                if node.args is not None:
                    diags += check_block(node.block, node.args, node.file)
                if node.state is not None:
                    diags += self.check_graph(node.state)
            diags += self.references(node, state)
        return diags + self.cycles(state.graph)

    def cycles(self, graph: Graph) -> List[Diagnostic]:
        diags: List[Diagnostic] = []
        for cycle in graph.strongly_connected():
            if len(cycle) > 1:
                cycle.sort(key=lambda n: n.id)
                names = ", ".join(n.id for n in cycle)
                diags += [_err(n.block, f"cycle detected: {names}", n.block.lcurly) for n in cycle]
        for source, targets in graph.edges.items():
            if source in targets:
                block = graph.nodes[source].block
                diags.append(_err(block, "cannot reference self", block.lcurly))
        return diags

    def references(self, node: Node, state: State) -> List[Diagnostic]:
        """findReferences; adds the graph's edges."""
        diags: List[Diagnostic] = []
        for parts in traversals(node.block.body):
            names = [name for name, _, _ in parts]
            target, rest = resolve(names, state.graph)
            head = names[0]
            in_scope = head in state.scope or head in IDENTIFIERS
            where = (parts[0][1], parts[-1][2])
            if target is None and not in_scope:
                message = f"component {go_quote('.'.join(names))} does not exist or is out of scope"
                diags.append(make("Error", node.file, where[0], message, where[1]))
            elif target is not None:
                if head in IDENTIFIERS:
                    diags.append(make("Warning", node.file, parts[0][1],
                                      "a component is shadowing an existing stdlib name", parts[0][2]))
                if not state.graph.is_from_parent(target):
                    state.graph.add_edge(node, target)
                diags += self.exported(node, target, parts[len(parts) - len(rest):])
            elif head in DEPRECATED:
                diags.append(make("Warning", node.file, where[0], "this stdlib function is deprecated; please refer "
                                  "to the documentation for updated usage and alternatives", where[1]))
            elif ".".join(names) in EXPERIMENTAL:
                error = check_allowed("experimental", self.min_stability, ".".join(names))
                diags += [make("Error", node.file, where[0], error, where[1])] if error else []
            elif head not in state.scope:
                diags += self.stdlib_member(node, parts)
        return diags

    def labelled(self, body: List[Statement], filename: str) -> List[Diagnostic]:
        """`alloy run` only (vm.evaluateBlockLabel): blocks inside a component take no label."""
        diags: List[Diagnostic] = []
        for block in (s for s in body if isinstance(s, Block) and self.evaluate):
            if block.label:
                diags.append(make("Error", filename, (block.line, block.col),
                                  f"block {go_quote(block.name)} does not support specifying labels", block.lcurly))
            diags += self.labelled(block.body, filename)
        return diags

    def exported(self, node: Node, target: Node, rest: List[Part]) -> List[Diagnostic]:
        """`alloy run` only: reading a field a built-in component does not export."""
        schema = COMPONENTS.get(target.block.name)
        if not self.evaluate or not rest or target.kind != "component" or schema is None or rest[0][0] in schema.exports:
            return []
        return [make("Error", node.file, rest[0][1], f"field {go_quote(rest[0][0])} does not exist", rest[0][2])]

    def stdlib_member(self, node: Node, parts: List[Part]) -> List[Diagnostic]:
        """`alloy run` only: a stdlib namespace has no such member (string.shout)."""
        members = NAMESPACES.get(parts[0][0])
        if not self.evaluate or members is None or len(parts) < 2 or parts[1][0] in members:
            return []
        return [make("Error", node.file, parts[1][1], f"field {go_quote(parts[1][0])} does not exist", parts[1][2])]


def resolve(names: List[str], graph: Graph) -> Tuple[Optional[Node], List[str]]:
    """ResolveTraversal: the node the shortest prefix names, and the names after it."""
    for size in range(1, len(names) + 1):
        node = graph.get(".".join(names[:size]))
        if node is not None:
            return node, names[size:]
    return None, []


def arguments_schema(arguments: List[Block]) -> Schema:
    """generateArgumentsStruct: one attribute per argument block, required unless optional."""
    optional = {a.label for a in arguments if literal_attribute(a, "optional", bool) is True}
    return _s(required=" ".join(a.label for a in arguments if a.label not in optional),
              optional=" ".join(sorted(optional)))
