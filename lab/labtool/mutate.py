"""./dev mutate: mutation testing of the product code against the unit tests.

Mutants are single-point changes to
- every Python file under plugins/ (AST based: comparison operators, and/or, not removed
  or inserted, constants (True/False, 0/1, n+1, strings to ""), a returned value, a
  statement removed, an if branch never taken, max/min and any/all swapped; docstrings,
  DOCUMENTATION/EXAMPLES/RETURN, documentation fragments, imports, __metaclass__ and
  human-readable messages (strings of two words or more) left alone), and
- the roles' templates (roles/*/templates/*.j2) and preflights (roles/*/tasks/preflight.yml),
  in their Jinja code only (text based: one item of a that:/when:/problems list or one
  problems.append removed, ==/!=, and/or, is/is not, not, </<= and >/>= swapped, a
  fleet.alloy filter dropped, a template's if guard made always true, a loop filter dropped).

Each mutant is applied to a copy of the repository (one copy per worker; the file is put
back after each mutant) and only the unit test files that exercise that file run: the
files that import it (directly or through another plugin), name it (fleet.alloy.<name>),
or run a role that uses it; with none, the whole unit suite. They run fastest first and
stop at the first failure. A mutant is killed when a test fails, or when the tests run
past the mutant's timeout (reported as "timeout"); it survives when they all pass. pytest
ended by a signal from outside is run again, then reported as not judged ("error").
Survivors known to be equivalent (EQUIVALENT below) are marked and counted apart.
"""
from __future__ import annotations

import argparse
import ast
import copy
import fnmatch
import hashlib
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parents[2]
# The product's unit tests (the lab's own, lab/tests, test the stand-ins, not the product).
UNIT = "tests/unit"
PYTHON_GLOB = "plugins/**/*.py"
TEMPLATE_GLOB = "roles/*/templates/*.j2"
PREFLIGHT_GLOB = "roles/*/tasks/preflight.yml"
COPY_IGNORE = (".git", ".collections", "__pycache__", "*.pyc", ".pytest_cache", ".cache", ".benchmarks",
               "output", "*.tar.gz")
SKIPPED_ASSIGNMENTS = frozenset(("DOCUMENTATION", "EXAMPLES", "RETURN", "__metaclass__"))

# Survivors that no test can kill because the program behaves the same (Mutant.key -> why);
# docs/testing.md lists them too.
_VC = "plugins/module_utils/verify_checks.py|"
_AM = "plugins/module_utils/alloy_metrics.py|"
EQUIVALENT: Dict[str, str] = {
    _VC + "Check.__init__|constant|0.0|1.0":
        "the default elapsed time is never used: every Check the module makes comes from _timed, which times it",
    _VC + "_writer_ids|constant|\"\"|'x'":
        "the error text returned beside a list of IDs is never read",
    _VC + "run_all|constant|False|True":
        "wait=True with the default deadline 0.0 stops after the first round too (clock() + interval > 0)",
    _VC + "run_all|constant|0.0|1.0":
        "the deadline is only read with wait, which is off by default; every caller with wait passes one",
    _VC + "run_all|constant|2.0|3.0":
        "the interval is only read with wait, which is off by default; every caller with wait passes one",
    _AM + "_labels|compare|pos < len(text)|pos <= len(text)":
        "at the end of the text the label pattern cannot match and the rest is blank: the extra round breaks out",
    _AM + "_sample|if branch never taken|not name|False":
        "parse() hands _sample only lines that start with a metric-name prefix, so the name always matches",
    _AM + "_sample|statement removed|raise ValueError(\"bad sample line: %s\" % line)|pass":
        "parse() hands _sample only lines that start with a metric-name prefix, so the name always matches",
    "plugins/module_utils/alloy_syntax.py|_escape_char|constant|0x7F|0x80":
        "DEL is then written \\u007f instead of \\x7f: Alloy reads both as the same character",
    "plugins/module_utils/backends.py|_is_bool|return value|False|None":
        "its callers only test the result for truth, and None reads as False does",
    "plugins/module_utils/config_apply.py|validator_for|constant|2|3":
        "VALIDATE_SINCE is (1, 9): (major, minor, patch) >= (1, 9) and (major, minor) >= (1, 9) agree for every version",
    "plugins/plugin_utils/openpgp.py|_fingerprint|constant|0xFF|0x100":
        "the upper bytes of a v5/v6 key packet's length (len >> 24, len >> 16) are 0 for packets under 64 KiB: & 0xFF and & 0x100 both give 0",
    _AM + "describe_statuses|return value|\"\"|None":
        "its one caller only tests the result for truth, and None reads as \"\" does",
}


# ---------------------------------------------------------------------------------- mutants


@dataclass(frozen=True)
class Mutant:
    path: str       # relative to the repository
    line: int
    operator: str
    before: str
    after: str
    text: str = field(repr=False, compare=False)
    scope: str = ""     # the enclosing function or class of a Python mutant

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    @property
    def key(self) -> str:
        """What EQUIVALENT knows a mutant by: stable while the code around it does not change."""
        return f"{self.path}|{self.scope}|{self.operator}|{self.before}|{self.after}"

    def describe(self) -> str:
        return f"{self.path}:{self.line}: {self.operator}: {self.before} -> {self.after}"


def _one_line(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


# --- Python: AST based ---------------------------------------------------------------------

_COMPARE_SWAPS = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                  ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_NEGATING_OPS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_BUILTIN_SWAPS = {"max": "min", "min": "max", "any": "all", "all": "any"}
_REMOVABLE = (ast.Raise, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete, ast.Continue, ast.Break)
_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class _Source:
    """The file's bytes, so that the AST's byte offsets can be cut and replaced."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8")
        self.starts = [0]
        for index, byte in enumerate(self.data):
            if byte == 0x0A:
                self.starts.append(index + 1)

    def span(self, node: ast.AST) -> Tuple[int, int]:
        start = self.starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        end = self.starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return start, end

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode("utf-8")

    def replace(self, node: ast.AST, replacement: str) -> str:
        start, end = self.span(node)
        return (self.data[:start] + replacement.encode("utf-8") + self.data[end:]).decode("utf-8")


def _skipped(tree: ast.Module) -> Set[int]:
    """ids of the nodes whose subtrees are never mutated."""
    skip: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, _SCOPES) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                skip.add(id(first))
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.JoinedStr)):
            skip.add(id(node))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in SKIPPED_ASSIGNMENTS
                                                for t in node.targets):
            skip.add(id(node))
        if isinstance(node, ast.ClassDef) and node.name == "ModuleDocFragment":
            skip.add(id(node))  # documentation fragments are documentation
    return skip


@dataclass(frozen=True)
class _Place:
    scope: str          # dotted name of the enclosing classes and functions ("" at module level)
    in_function: bool


def _walk(tree: ast.Module, skip: Set[int]) -> Iterator[Tuple[ast.AST, _Place]]:
    """(node, where it is) for every node outside the skipped subtrees, in source order."""
    stack: List[Tuple[ast.AST, _Place]] = [(tree, _Place("", False))]
    while stack:
        node, place = stack.pop()
        if id(node) in skip:
            continue
        yield node, place
        inner = place
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = "%s.%s" % (place.scope, node.name) if place.scope else node.name
            inner = _Place(name, place.in_function or not isinstance(node, ast.ClassDef))
        elif isinstance(node, ast.Lambda):
            inner = _Place(place.scope, True)
        stack.extend((child, inner) for child in reversed(list(ast.iter_child_nodes(node))))


def _compare_mutants(node: ast.Compare) -> Iterator[Tuple[str, ast.AST]]:
    for index, op in enumerate(node.ops):
        swap = _COMPARE_SWAPS.get(type(op))
        if swap is not None:
            new = copy.deepcopy(node)
            new.ops[index] = swap()
            yield "compare", new


def _is_message(value: object) -> bool:
    """Human-readable text (two words or more): its wording is what the tests that quote it check."""
    return isinstance(value, str) and re.search(r"[A-Za-z]+ +[A-Za-z(]+", value) is not None


def _constant_mutants(node: ast.Constant) -> Iterator[Tuple[str, ast.AST]]:
    value = node.value
    if isinstance(value, bool):
        yield "constant", ast.Constant(not value)
    elif isinstance(value, int):
        yield "constant", ast.Constant({0: 1, 1: 0}.get(value, value + 1))
    elif isinstance(value, float):
        yield "constant", ast.Constant(value + 1.0)
    elif isinstance(value, (str, bytes)) and not _is_message(value):
        empty = value[:0]
        yield "constant", ast.Constant(empty if value else type(value)("x" if isinstance(value, str) else b"x"))


def _test_mutants(test: ast.expr, branch: bool) -> Iterator[Tuple[str, ast.expr, ast.AST]]:
    """not inserted before a condition (unless an operator swap says the same), and for an
    if statement the branch never taken."""
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    simple_compare = isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], _NEGATING_OPS)
    if not negated and not simple_compare:
        yield "not inserted", test, ast.UnaryOp(ast.Not(), copy.deepcopy(test))
    if branch:
        yield "if branch never taken", test, ast.Constant(False)


def _expression_mutants(node: ast.AST) -> Iterator[Tuple[str, ast.AST, ast.AST]]:
    """(operator, node replaced, replacement) for one node."""
    if isinstance(node, ast.Compare):
        yield from ((name, node, new) for name, new in _compare_mutants(node))
    elif isinstance(node, ast.BoolOp):
        yield "and/or", node, ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not removed", node, node.operand
    elif isinstance(node, ast.Constant) and node.value is not None and node.value is not Ellipsis:
        yield from ((name, node, new) for name, new in _constant_mutants(node))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BUILTIN_SWAPS:
        new = copy.deepcopy(node)
        new.func = ast.Name(_BUILTIN_SWAPS[node.func.id], ast.Load())
        yield "builtin swap", node, new
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        yield from _test_mutants(node.test, isinstance(node, ast.If))
    elif isinstance(node, ast.comprehension):
        for condition in node.ifs:
            yield from _test_mutants(condition, False)
    elif isinstance(node, ast.Return) and node.value is not None \
            and not (isinstance(node.value, ast.Constant) and node.value.value is None):
        yield "return value", node.value, ast.Constant(None)


def _statement_removable(node: ast.AST, in_function: bool) -> bool:
    if not in_function:
        return False
    if isinstance(node, _REMOVABLE):
        return True
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)


def _render(new: ast.AST, original: str) -> str:
    """Source of a replacement; an integer keeps the base it was written in (0o600 -> 0o601)."""
    if isinstance(new, ast.Constant) and type(new.value) is int and original[:2].lower() in ("0o", "0x"):
        return (oct if original[:2].lower() == "0o" else hex)(new.value)
    return ast.unparse(ast.fix_missing_locations(new))


def python_mutants(path: str, text: str) -> List[Mutant]:
    tree = ast.parse(text)
    source = _Source(text)
    reference = ast.dump(tree)
    found: List[Mutant] = []
    seen: Set[str] = set()

    def add(operator: str, node: ast.AST, replacement: str, shown: str, scope: str) -> None:
        mutated = source.replace(node, replacement)
        if mutated in seen:
            return
        try:
            changed = ast.dump(ast.parse(mutated)) != reference
            compile(mutated, path, "exec")
        except SyntaxError:
            return
        if changed:
            seen.add(mutated)
            line = node.lineno  # type: ignore[attr-defined]
            found.append(Mutant(path, line, operator, _one_line(source.segment(node)), _one_line(shown), mutated,
                                scope))

    for node, place in _walk(tree, _skipped(tree)):
        for operator, target, new in _expression_mutants(node):
            rendered = _render(new, source.segment(target))
            add(operator, target, "(%s)" % rendered, rendered, place.scope)
        if _statement_removable(node, place.in_function):
            add("statement removed", node, "pass", "pass", place.scope)
    return found


# --- templates and preflights: text based -----------------------------------------------


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    replacement: str
    operator: str


def _scan(text: str, start: int, end: int, yaml_file: bool, closer: str = "") -> Tuple[int, List[Tuple[int, int]]]:
    """Walk text[start:end] to closer (when given) outside Jinja string literals: (where the
    walk stopped, the spans of code between the literals). In a YAML file \\" is a quote too
    (Jinja inside a double-quoted YAML scalar)."""
    spans: List[Tuple[int, int]] = []
    quote, begin, index = "", start, start
    while index < end:
        escaped_quote = yaml_file and text.startswith('\\"', index)
        token, width = ('"', 2) if escaped_quote else (text[index], 1)
        if quote:
            if token == quote:
                quote, begin = "", index + width
            elif token == "\\":
                width = 2
        elif token in "'\"":
            spans.append((begin, index))
            quote = token
        elif closer and text.startswith(closer, index):
            spans.append((begin, index))
            return index, [(s, e) for s, e in spans if e > s]
        index += width
    if not quote:
        spans.append((begin, end))
    return end, [(s, e) for s, e in spans if e > s]


def _jinja_regions(text: str, yaml_file: bool) -> List[Tuple[int, int, str, List[Tuple[int, int]]]]:
    """(start, end, kind, code spans) of what is inside {{ }} and {% %} (kind "{{" or "{%")."""
    regions: List[Tuple[int, int, str, List[Tuple[int, int]]]] = []
    pos = 0
    while True:
        match = _OPENER.search(text, pos)
        if not match:
            return regions
        opener, start = match.group(0), match.end()
        if opener == "{#":
            end = text.find("#}", start)
            pos = len(text) if end < 0 else end + 2
            continue
        end, spans = _scan(text, start, len(text), yaml_file, "}}" if opener == "{{" else "%}")
        regions.append((start, end, opener, spans))
        pos = end + 2


_OPENER = re.compile(r"\{[{%#]")


_CONDITION_KEY = re.compile(
    r"^(?P<indent>[ \t]*)(?:- )?(?P<key>that|when|changed_when|failed_when):[ \t]*(?P<rest>.*)$", re.M)
_LIST_KEY = re.compile(r"^(?P<indent>[ \t]*)(?:- )?(?P<key>that|when|\w+_problems):[ \t]*$", re.M)
_ITEM = re.compile(r"^(?P<indent>[ \t]*)- ")


def _bare_conditions(text: str) -> List[Tuple[int, int]]:
    """(start, end) of the expressions of that:/when: keys written without quotes or braces."""
    regions: List[Tuple[int, int]] = []
    for match in _CONDITION_KEY.finditer(text):
        rest = match.group("rest")
        if rest and rest[0] not in "\"'>|[{#":
            regions.append((match.start("rest"), match.end("rest")))
    for key, items in _list_items(text):
        if key not in ("that", "when"):
            continue
        for start, end in items:
            line = text[start:end]
            body = line.split("- ", 1)[1].rstrip("\n")
            if body and body[0] not in "\"'>|":
                body_start = start + line.index("- ") + 2
                regions.append((body_start, body_start + len(body)))
    return regions


def _list_items(text: str) -> Iterator[Tuple[str, List[Tuple[int, int]]]]:
    """(key, [(start, end) of each item, its continuation lines included]) of every YAML list
    under that:, when: or a *_problems key."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for number, line in enumerate(lines):
        key_match = _LIST_KEY.match(line.rstrip("\n"))
        if not key_match:
            continue
        items: List[Tuple[int, int]] = []
        item_indent: Optional[int] = None
        for follow in range(number + 1, len(lines)):
            current = lines[follow]
            if not current.strip():
                continue
            indent = len(current) - len(current.lstrip())
            item = _ITEM.match(current)
            if item_indent is None:
                if not item or indent < len(key_match.group("indent")):
                    break
                item_indent = indent
            if item and indent == item_indent:
                items.append((offsets[follow], offsets[follow + 1]))
            elif indent > item_indent and items:
                items[-1] = (items[-1][0], offsets[follow + 1])
            else:
                break
        if items:
            yield key_match.group("key"), items


_TOKEN_SWAPS: Sequence[Tuple[str, str, str]] = (
    (r"==", "!=", "==/!="),
    (r"!=", "==", "==/!="),
    (r"\band\b", "or", "and/or"),
    (r"\bor\b", "and", "and/or"),
    (r"\bis not\b", "is", "is/is not"),
    (r"\bis\b(?! not\b)", "is not", "is/is not"),
    (r"\bnot in\b", "in", "not removed"),
    (r"(?<!\bis )\bnot\s+(?!in\b)", "", "not removed"),
    (r"<=", "<", "boundary"),
    (r">=", ">", "boundary"),
    (r"<(?!=)", "<=", "boundary"),
    (r">(?!=)", ">=", "boundary"),
    (r"\s*\|\s*fleet\.alloy\.(?:to_alloy|alloy_expr)\b", "", "filter dropped"),
)


def _token_edits(text: str, spans: Iterable[Tuple[int, int]]) -> Iterator[_Edit]:
    for start, end in spans:
        chunk = text[start:end]
        for pattern, replacement, operator in _TOKEN_SWAPS:
            for match in re.finditer(pattern, chunk):
                yield _Edit(start + match.start(), start + match.end(), replacement, operator)


def _statement_edits(text: str, start: int, end: int, template: bool) -> Iterator[_Edit]:
    """Edits of a whole {% %} statement: an if guard made always true (templates), a loop
    filter dropped, a problems.append removed."""
    body = text[start:end]
    guard = re.match(r"^(-?\s*)(if|elif)\s+(.*?)(\s*-?\s*)$", body, re.S)
    if template and guard:
        yield _Edit(start + guard.start(3), start + guard.end(3), "true", "if guard dropped")
    loop = re.match(r"^-?\s*for\s.*?(\s+if\s+.*?)\s*-?\s*$", body, re.S)
    if loop:
        yield _Edit(start + loop.start(1), start + loop.end(1), "", "loop filter dropped")
    if re.match(r"^-?\s*set\s+_\s*=\s*problems\.append\(", body):
        yield _Edit(start - 2, end + 2, "", "problem removed")


def _list_item_edits(text: str) -> Iterator[_Edit]:
    for key, items in _list_items(text):
        if len(items) < 2:
            continue
        operator = "problem removed" if key.endswith("_problems") else "%s item removed" % key
        for start, end in items:
            yield _Edit(start, end, "", operator)


def _jinja_valid(source: str) -> bool:
    import jinja2  # noqa: PLC0415 - in the test venv, not needed for Python mutants

    try:
        jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError:
        return False
    return True


def _yaml_valid(text: str) -> bool:
    """The YAML loads and every templated string in it (and every bare condition) parses."""
    import yaml  # noqa: PLC0415

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False

    def strings(value: object, key: str = "") -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                yield from strings(v, str(k))
        elif isinstance(value, list):
            for item in value:
                yield from strings(item, key)
        elif isinstance(value, str):
            if key in ("that", "when", "changed_when", "failed_when") and "{{" not in value:
                yield "{{ %s }}" % value
            else:
                yield value
        elif value is None and key in ("that", "when"):
            yield "{{ }}"
    return all(_jinja_valid(s) for s in strings(data))


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _describe_edit(text: str, edit: _Edit) -> Tuple[str, str]:
    """(before, after) to show: a removed item or statement whole, else its line around the change."""
    if edit.operator.endswith("removed") and not edit.replacement and len(text[edit.start:edit.end]) > 20:
        return _one_line(text[edit.start:edit.end], 80), "(removed)"
    line_start = text.rfind("\n", 0, edit.start) + 1
    line_end = text.find("\n", edit.end)
    line_end = len(text) if line_end < 0 else line_end
    left = max(line_start, edit.start - 35)
    before = text[left:line_end]
    after = text[left:edit.start] + edit.replacement + text[edit.end:line_end]
    return _one_line(before, 80), _one_line(after, 80)


def text_mutants(path: str, text: str) -> List[Mutant]:
    yaml_file = path.endswith((".yml", ".yaml"))
    edits: List[_Edit] = []
    for start, end, kind, spans in _jinja_regions(text, yaml_file):
        edits.extend(_token_edits(text, spans))
        if kind == "{%":
            edits.extend(_statement_edits(text, start, end, not yaml_file))
    if yaml_file:
        for start, end in _bare_conditions(text):
            edits.extend(_token_edits(text, _scan(text, start, end, False)[1]))
        edits.extend(_list_item_edits(text))
    valid = _yaml_valid if yaml_file else _jinja_valid
    found: List[Mutant] = []
    seen: Set[str] = set()
    for edit in sorted(set(edits), key=lambda e: (e.start, e.end, e.operator, e.replacement)):
        mutated = text[:edit.start] + edit.replacement + text[edit.end:]
        if mutated == text or mutated in seen or not valid(mutated):
            continue
        seen.add(mutated)
        before, after = _describe_edit(text, edit)
        found.append(Mutant(path, _line_of(text, edit.start), edit.operator, before, after, mutated))
    return found


# --- selection ------------------------------------------------------------------------


# Generated data, not code: the rule book's Alloy schema is checked against its source
# (alloy-components.json) by tests/unit/roles/test_emitted_schema.py instead.
GENERATED = frozenset(("plugins/plugin_utils/alloy_schema.py",))


def product_files(root: Path = REPO) -> List[str]:
    files = set()
    for pattern in (PYTHON_GLOB, TEMPLATE_GLOB, PREFLIGHT_GLOB):
        files.update(str(p.relative_to(root)) for p in root.glob(pattern) if "__pycache__" not in p.parts)
    return sorted(files - GENERATED)


def mutants_of(path: str, root: Path = REPO) -> List[Mutant]:
    text = (root / path).read_text(encoding="utf-8")
    return python_mutants(path, text) if path.endswith(".py") else text_mutants(path, text)


def select(files: Sequence[str], patterns: Sequence[str]) -> List[str]:
    if not patterns:
        return list(files)
    return [f for f in files if any(fnmatch.fnmatch(f, p) or fnmatch.fnmatch(f, p.rstrip("/") + "/*")
                                    for p in patterns)]


def sample(mutants: List[Mutant], limit: Optional[int], seed: int) -> List[Mutant]:
    if limit is None or limit >= len(mutants):
        return mutants
    chosen = random.Random(seed).sample(range(len(mutants)), limit)
    return [mutants[i] for i in sorted(chosen)]


# ------------------------------------------------------------------------ which tests


class TestMap:
    """Which unit test files exercise a product file."""

    def __init__(self, root: Path = REPO) -> None:
        self.root = root
        self.tests = sorted(str(p.relative_to(root)) for p in (root / UNIT).rglob("test_*.py")
                            if "__pycache__" not in p.parts)
        self.texts = {t: self._test_text(t) for t in self.tests}
        self.plugins = sorted(str(p.relative_to(root)) for p in root.glob(PYTHON_GLOB))
        self.importers = self._importers()
        self.roles = sorted(p.name for p in (root / "roles").iterdir() if p.is_dir())
        self.role_texts = {r: self._role_text(r) for r in self.roles}

    def _role_text(self, role: str) -> str:
        """What the role runs: tasks, handlers, templates, vars, defaults, meta/main.yml (not
        its documentation, which names plugins it never calls)."""
        base = self.root / "roles" / role
        files = [p for folder in ("tasks", "handlers", "templates", "vars", "defaults")
                 for p in sorted((base / folder).rglob("*")) if p.is_file()]
        files += [p for p in (base / "meta" / "main.yml",) if p.is_file()]
        return "\n".join(p.read_text(errors="replace") for p in files)

    def _test_text(self, test: str) -> str:
        """The test's source plus the data files it names (its playbooks)."""
        text = (self.root / test).read_text()
        data = self.root / UNIT / "data"
        extra = [p.read_text(errors="replace") for p in sorted(data.glob("*")) if p.is_file() and p.name in text] \
            if data.is_dir() else []
        return "\n".join([text, *extra])

    @staticmethod
    def _dotted(plugin: str) -> Tuple[str, str]:
        parts = Path(plugin).with_suffix("").parts  # plugins, kind, name
        return parts[1], parts[2]

    def _importers(self) -> Dict[str, Set[str]]:
        """plugin -> the plugins that import it, directly or not (itself included)."""
        direct: Dict[str, Set[str]] = {p: set() for p in self.plugins}
        for plugin in self.plugins:
            text = (self.root / plugin).read_text()
            for other in self.plugins:
                if other != plugin and self._imports(text, other):
                    direct[other].add(plugin)
        closure: Dict[str, Set[str]] = {}
        for plugin in self.plugins:
            seen, todo = {plugin}, [plugin]
            while todo:
                for user in direct[todo.pop()]:
                    if user not in seen:
                        seen.add(user)
                        todo.append(user)
            closure[plugin] = seen
        return closure

    def _imports(self, text: str, plugin: str) -> bool:
        """text imports plugin (plugins.<kind>.<name>, or from plugins.<kind> import <name>)."""
        kind, name = self._dotted(plugin)
        if re.search(r"plugins[./]%s[./]%s\b" % (kind, name), text):
            return True
        for match in re.finditer(r"plugins\.%s\s+import\s+(\([^)]*\)|[^\n]*)" % kind, text):
            if re.search(r"\b%s\b" % name, match.group(1)):
                return True
        return False

    def _names(self, plugin: str) -> Set[str]:
        """How roles and tests call a plugin: fleet.alloy.<module> or the filters it defines."""
        kind, name = self._dotted(plugin)
        if kind == "modules":
            return {name}
        if kind == "filter":
            text = (self.root / plugin).read_text()
            body = text.split("class FilterModule", 1)[-1]
            return {name} | set(re.findall(r"[\"'](\w+)[\"']\s*:", body))
        return set()

    def _uses_role(self, text: str, role: str) -> bool:
        return re.search(r"fleet\.alloy\.%s\b|roles/%s\b|\"roles\" / \"%s\"" % (role, role, role), text) is not None

    def _with_importing_tests(self, tests: Set[str]) -> Set[str]:
        """Tests that import one of tests (test_emitted_schema reuses the render test)."""
        grown = set(tests)
        changed = True
        while changed:
            changed = False
            for test, text in self.texts.items():
                if test not in grown and any(re.search(r"\b(?:from|import)\s+%s\b" % Path(t).stem, text)
                                             for t in grown):
                    grown.add(test)
                    changed = True
        return grown

    def for_file(self, path: str) -> List[str]:
        if path.endswith(".py"):
            users = self.importers.get(path, {path})
            names = set().union(*(self._names(u) for u in users))
            roles = {r for r in self.roles if any(re.search(r"fleet\.alloy\.%s\b" % n, self.role_texts[r])
                                                  for n in names)}
            found = {t for t, text in self.texts.items()
                     if any(self._imports(text, u) for u in users)
                     or any(re.search(r"fleet\.alloy\.%s\b" % n, text) for n in names)
                     or any(self._uses_role(text, r) for r in roles)}
        else:
            role = Path(path).parts[1]
            found = {t for t, text in self.texts.items() if self._uses_role(text, role)}
        return sorted(self._with_importing_tests(found)) or list(self.tests)


# ------------------------------------------------------------------------------ running


@dataclass
class Outcome:
    mutant: Mutant
    status: str         # killed, timeout, survived; error (pytest killed from outside: not judged)
    seconds: float
    detail: str = ""


class Journal:
    """Outcomes appended as JSON lines while a run goes on; a later run with the same test
    files takes the outcome of an identical mutant from it instead of running it again."""

    def __init__(self, path: Optional[Path], root: Path = REPO) -> None:
        self.path = path
        self.tests = _tests_digest(root)
        self.known: Dict[Tuple[str, str], Dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if row.get("tests") == self.tests and row.get("status") != "error":
                    self.known[(row["key"], row["digest"])] = row

    def recall(self, mutant: Mutant) -> Optional[Outcome]:
        row = self.known.get((mutant.key, mutant.digest))
        return None if row is None else Outcome(mutant, row["status"], row["seconds"], row["detail"])

    def record(self, outcome: Outcome) -> None:
        if self.path is None:
            return
        row = {"key": outcome.mutant.key, "digest": outcome.mutant.digest, "tests": self.tests,
               "status": outcome.status, "seconds": round(outcome.seconds, 2), "detail": outcome.detail}
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")


def _tests_digest(root: Path) -> str:
    """What the outcomes depend on besides the mutant: the unit tests, the stand-ins and the
    product tooling (test_emitted_schema reads tools.alloy_schemas)."""
    digest = hashlib.sha256()
    for folder in (root / UNIT, root / "lab" / "standins", root / "tools"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _python() -> str:
    return sys.executable


def _environment(root: Path) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "lab")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PATH"] = os.pathsep.join([str(Path(_python()).parent), env.get("PATH", "")])
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return _one_line(line, 160)
    return ""


class Workspace:
    """A private copy of the repository in which one mutant at a time is applied."""

    def __init__(self, parent: Path, index: int) -> None:
        self.root = parent / ("repo%d" % index)
        self.basetemp = parent / ("pytest%d" % index)
        shutil.copytree(REPO, self.root, symlinks=True, ignore=shutil.ignore_patterns(*COPY_IGNORE))

    def pytest(self, tests: Sequence[str], timeout: float) -> Tuple[Optional[int], float, str]:
        """(return code, or None on timeout; seconds; output) of the tests, stopping at the first failure."""
        cmd = [_python(), "-m", "pytest", "-q", "-x", "-rfE", "-p", "no:cacheprovider",
               "--basetemp", str(self.basetemp), *tests]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.root, env=_environment(self.root), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return None, time.monotonic() - start, output
        return proc.returncode, time.monotonic() - start, output

    def run(self, mutant: Mutant, tests: Sequence[str], timeout: float) -> Outcome:
        """The mutant's outcome. pytest ended by a signal from outside (not our timeout) says
        nothing about the mutant: it runs again once, then counts as an error, not a kill."""
        target = self.root / mutant.path
        original = target.read_bytes()
        target.write_text(mutant.text, encoding="utf-8")
        try:
            for _attempt in range(2):
                code, seconds, output = self.pytest(tests, timeout)
                if code is None or code >= 0:
                    break
        finally:
            target.write_bytes(original)
        if code is None:
            return Outcome(mutant, "timeout", seconds, "no result within %.0f s" % timeout)
        if code < 0:
            return Outcome(mutant, "error", seconds, "pytest ended by signal %d, twice" % -code)
        if code == 0:
            return Outcome(mutant, "survived", seconds)
        return Outcome(mutant, "killed", seconds, _failure(output) or "pytest exit %d" % code)


class Pool:
    """jobs workspaces, each used by one mutant at a time."""

    def __init__(self, jobs: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fleet-alloy-mutate-"))
        self.free: "queue.Queue[Workspace]" = queue.Queue()
        for index in range(jobs):
            self.free.put(Workspace(self.tmp, index))
        self.jobs = jobs

    def call(self, func: Callable[[Workspace], Outcome]) -> Outcome:
        workspace = self.free.get()
        try:
            return func(workspace)
        finally:
            self.free.put(workspace)

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def baseline(pool: Pool, tests: Sequence[str]) -> Dict[str, float]:
    """Seconds each test file takes on the unmutated copy; stops when one fails."""
    times: Dict[str, float] = {}
    failed: List[str] = []

    def one(test: str) -> Tuple[str, Optional[int], float, str]:
        workspace = pool.free.get()
        try:
            for attempt in range(5):  # pytest ended by a signal from outside: again, a little later
                code, seconds, output = workspace.pytest([test], 900)
                if code is None or code >= 0:
                    break
                time.sleep(10 * (attempt + 1))
        finally:
            pool.free.put(workspace)
        return test, code, seconds, output

    with ThreadPoolExecutor(max_workers=pool.jobs) as executor:
        for test, code, seconds, output in executor.map(one, tests):
            times[test] = seconds
            if code != 0:
                failed.append("%s (exit %s)\n%s" % (test, code, output[-3000:]))
    if failed:
        raise SystemExit("the unit tests fail without any mutant; fix them first:\n" + "\n".join(failed))
    return times


def _timeout(tests: Sequence[str], times: Dict[str, float], factor: float) -> float:
    return 30.0 + factor * sum(times[t] for t in tests)


# ------------------------------------------------------------------------------ report


def _area(path: str) -> str:
    return "plugins" if path.startswith("plugins/") else "roles"


def _score(every: Sequence[Outcome]) -> str:
    outcomes = [o for o in every if o.status != "error"]
    killed = sum(o.status in ("killed", "timeout") for o in outcomes)
    total = len(outcomes)
    timeouts = sum(o.status == "timeout" for o in outcomes)
    equivalent = sum(o.status == "survived" and o.mutant.key in EQUIVALENT for o in outcomes)
    text = "%d/%d killed (%.1f %%)" % (killed, total, 100.0 * killed / total if total else 0.0)
    if timeouts:
        text += ", %d by timeout" % timeouts
    if equivalent:
        real = total - equivalent
        text += "; %d equivalent, %d/%d (%.1f %%) of the others" % (equivalent, killed, real,
                                                                    100.0 * killed / real if real else 0.0)
    if len(every) > total:
        text += "; %d not judged (error)" % (len(every) - total)
    return text


def report(outcomes: Sequence[Outcome], seconds: float) -> str:
    lines = ["", "Mutation score per file:"]
    by_file: Dict[str, List[Outcome]] = {}
    for outcome in outcomes:
        by_file.setdefault(outcome.mutant.path, []).append(outcome)
    width = max((len(p) for p in by_file), default=10)
    for path in sorted(by_file):
        lines.append("  %-*s  %s" % (width, path, _score(by_file[path])))
    lines.append("")
    for area, title in (("plugins", "plugins/"), ("roles", "roles (templates, preflights)")):
        part = [o for o in outcomes if _area(o.mutant.path) == area]
        if part:
            lines.append("  %-*s  %s" % (width, title, _score(part)))
    lines.append("  %-*s  %s" % (width, "total", _score(outcomes)))
    survivors = sorted((o for o in outcomes if o.status == "survived"), key=lambda o: (o.mutant.path, o.mutant.line))
    if survivors:
        lines += ["", "Survivors (%d):" % len(survivors)]
        for outcome in survivors:
            reason = EQUIVALENT.get(outcome.mutant.key)
            lines.append("  " + outcome.mutant.describe() + ("   [equivalent: %s]" % reason if reason else ""))
    for status, title in (("timeout", "Killed by timeout"), ("error", "Not judged (pytest ended by a signal)")):
        chosen = [o for o in outcomes if o.status == status]
        if chosen:
            lines += ["", "%s (%d):" % (title, len(chosen))]
            lines += ["  " + o.mutant.describe() for o in chosen]
    lines += ["", "%d mutants in %.0f s" % (len(outcomes), seconds)]
    return "\n".join(lines)


def _write_json(path: Path, outcomes: Sequence[Outcome], seconds: float) -> None:
    rows = []
    for outcome in outcomes:
        row = asdict(outcome.mutant)
        row.pop("text")
        row["key"] = outcome.mutant.key
        row.update(status=outcome.status, seconds=round(outcome.seconds, 2), detail=outcome.detail,
                   equivalent=EQUIVALENT.get(outcome.mutant.key, ""))
        rows.append(row)
    path.write_text(json.dumps({"seconds": round(seconds, 1), "mutants": rows}, indent=1) + "\n")


# --------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./dev mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", action="append", default=[], metavar="GLOB",
                        help="only these product files (fnmatch on the repository path; repeatable)")
    parser.add_argument("--max", type=int, metavar="N", help="at most N mutants, a sample chosen by --seed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max sample (default 0)")
    parser.add_argument("--list", action="store_true", help="show the mutants and their tests, run nothing")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="mutants run in parallel")
    parser.add_argument("--timeout-factor", type=float, default=3.0,
                        help="a mutant's timeout: 30 s + this times the unmutated run of its tests")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every outcome as JSON")
    parser.add_argument("--journal", type=Path, metavar="PATH",
                        help="append each outcome to PATH as it comes, and take the outcomes of identical mutants "
                             "from it when the unit tests have not changed (resumes an interrupted run)")
    return parser.parse_args(argv)


def collect(patterns: Sequence[str], limit: Optional[int], seed: int) -> List[Mutant]:
    files = select(product_files(), patterns)
    if not files:
        raise SystemExit("no product file matches %s" % ", ".join(patterns))
    mutants = [m for f in files for m in mutants_of(f)]
    return sample(mutants, limit, seed)


def list_mutants(mutants: Sequence[Mutant], tests: TestMap) -> None:
    by_file: Dict[str, int] = {}
    for mutant in mutants:
        by_file[mutant.path] = by_file.get(mutant.path, 0) + 1
    for path in sorted(by_file):
        print("%s: %d mutants; tests: %s" % (path, by_file[path], " ".join(Path(t).name for t in tests.for_file(path))))
    for mutant in mutants:
        print("  " + mutant.describe())
    print("%d mutants" % len(mutants))


def _progress(done: int, total: int, outcome: Outcome, note: str = "") -> None:
    print("[%d/%d] %-8s %5.1fs%s  %s" % (done, total, outcome.status, outcome.seconds, note,
                                         outcome.mutant.describe()), flush=True)


def run_mutants(mutants: Sequence[Mutant], tests: TestMap, jobs: int, factor: float,
                journal: Journal) -> List[Outcome]:
    outcomes = [o for o in (journal.recall(m) for m in mutants) if o is not None]
    for done, outcome in enumerate(outcomes, 1):
        _progress(done, len(mutants), outcome, " (journal)")
    recalled = set(id(o.mutant) for o in outcomes)
    todo = [m for m in mutants if id(m) not in recalled]
    plan = {path: tests.for_file(path) for path in sorted(set(m.path for m in todo))}
    needed = sorted(set(t for ts in plan.values() for t in ts))
    pool = Pool(max(1, jobs)) if todo else None
    try:
        if pool is not None:
            print("baseline: %d test files on the unmutated copy" % len(needed), flush=True)
            times = baseline(pool, needed)
            ordered = {path: sorted(ts, key=lambda t: (times[t], t)) for path, ts in plan.items()}

            def one(mutant: Mutant) -> Outcome:
                tests_of = ordered[mutant.path]
                return pool.call(lambda workspace: workspace.run(mutant, tests_of,
                                                                 _timeout(tests_of, times, factor)))

            with ThreadPoolExecutor(max_workers=pool.jobs) as executor:
                for future in as_completed([executor.submit(one, m) for m in todo]):
                    outcome = future.result()
                    journal.record(outcome)
                    outcomes.append(outcome)
                    _progress(len(outcomes), len(mutants), outcome)
        order = {id(m): i for i, m in enumerate(mutants)}
        return sorted(outcomes, key=lambda o: order[id(o.mutant)])
    finally:
        if pool is not None:
            pool.close()


def stale_equivalents(mutants: Sequence[Mutant]) -> List[str]:
    """EQUIVALENT entries of the files at hand that match no mutant any more (the code changed)."""
    paths = {m.path for m in mutants}
    keys = {m.key for m in mutants}
    return sorted(k for k in EQUIVALENT if k.split("|", 1)[0] in paths and k not in keys)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    mutants = collect(args.files, args.max, args.seed)
    if args.max is None:
        for key in stale_equivalents(mutants):
            print("note: EQUIVALENT entry matches no mutant any more: %s" % key)
    tests = TestMap()
    if args.list:
        list_mutants(mutants, tests)
        return 0
    start = time.monotonic()
    outcomes = run_mutants(mutants, tests, args.jobs, args.timeout_factor, Journal(args.journal))
    seconds = time.monotonic() - start
    print(report(outcomes, seconds))
    if args.json:
        _write_json(args.json, outcomes, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
