"""TEST FIXTURE (stand-in for Grafana Alloy): the parser of the Alloy configuration syntax.

A port of grafana/alloy syntax/parser/internal.go over scanner.py (a port of Alloy's
scanner): the same grammar, the same error recovery (it keeps going after an error and
reports at most one parser error per line, plus every scanner error) and the same
messages, e.g. `expected TERMINATOR, got IDENT`. The AST keeps, for every node, the
start and end positions Alloy's ast.StartPos / ast.EndPos give, so that diagnostics
point where Alloy's do. It is the piece the stand-in's `alloy fmt`, `alloy validate`
and `alloy run` share. Python 3.9+.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar, Union

from .diag import NO_POS, Pos, go_quote
from .scanner import BOOL, COMMENT, EOF, FLOAT, IDENT, NULL, NUMBER, STRING, TERMINATOR
from .scanner import Scanner as ByteScanner
from .scanner import SourceFile, is_valid_identifier

KEYWORDS = {"true", "false", "null"}
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3, "+": 4, "-": 4,
              "*": 5, "/": 5, "%": 5, "^": 6}
STATEMENT_END = frozenset({TERMINATOR, ")", "}", "]", ","})
GO_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("v"): 11,
              ord("\\"): 92, ord('"'): 34, ord("'"): 39}


@dataclass
class SyntaxDiagnostic:
    line: int
    col: int
    message: str
    end: Pos = NO_POS


class AlloySyntaxError(Exception):
    """The first diagnostic of a file (1-based line and column), with all of them."""

    def __init__(self, line: int, col: int, message: str,
                 diagnostics: Optional[List[SyntaxDiagnostic]] = None) -> None:
        super().__init__(f"{line}:{col}: {message}")
        self.line = line
        self.col = col
        self.message = message
        self.diagnostics = diagnostics or [SyntaxDiagnostic(line, col, message)]

    def render(self, filename: str) -> str:
        return f"{filename}:{self.line}:{self.col}: {self.message}"


# ---- AST. The dataclass fields are a node's content; where it lies is kept in plain
# attributes the parser sets (class defaults below), so that two parses of the same text
# compare equal wherever it sits: `line`/`col` is where the node starts (ast.StartPos),
# `end` its last character (ast.EndPos).

N = TypeVar("N")


def _place(node: N, **where: object) -> N:
    for name, value in where.items():
        setattr(node, name, value)
    return node


@dataclass
class Literal:
    value: object  # str, int, float, bool or None
    line: int
    col: int
    kind = ""  # STRING, NUMBER, FLOAT, BOOL or NULL
    text = ""  # as written
    end = NO_POS


@dataclass
class Ident:
    name: str
    line: int
    col: int
    end = NO_POS


@dataclass
class Access:
    target: "Expr"
    name: str
    line: int
    col: int
    end = NO_POS
    name_pos = NO_POS


@dataclass
class Index:
    target: "Expr"
    index: "Expr"
    line: int
    col: int
    end = NO_POS


@dataclass
class Call:
    target: "Expr"
    args: List["Expr"]
    line: int
    col: int
    end = NO_POS


@dataclass
class ArrayExpr:
    items: List["Expr"]
    line: int
    col: int
    end = NO_POS


@dataclass
class FieldKey:
    name: str  # the identifier, or a string's text between its quotes (escapes kept)
    quoted: bool
    line: int
    col: int
    end: Pos = NO_POS


@dataclass
class ObjectExpr:
    fields: List[Tuple[str, "Expr"]]
    line: int
    col: int
    end = NO_POS
    keys = ()  # type: Tuple[FieldKey, ...]


@dataclass
class Unary:
    op: str
    operand: "Expr"
    line: int
    col: int
    end = NO_POS


@dataclass
class Binary:
    op: str
    left: "Expr"
    right: "Expr"
    line: int
    col: int
    end = NO_POS


@dataclass
class Paren:
    inner: "Expr"
    line: int
    col: int
    end = NO_POS


Expr = Union[Literal, Ident, Access, Index, Call, ArrayExpr, ObjectExpr, Unary, Binary, Paren]


@dataclass
class Attribute:
    name: str
    value: Expr
    line: int
    col: int
    end = NO_POS


@dataclass
class Block:
    name: str  # dotted name, e.g. prometheus.scrape
    label: str
    body: List["Statement"] = field(default_factory=list)
    line: int = 0
    col: int = 0
    end = NO_POS  # the closing brace
    lcurly = NO_POS
    name_end = NO_POS  # last character of the name (NamePos + len(name) - 1)
    id_end = NO_POS  # NamePos + len(id) - 1, where Alloy's validator ends its ranges
    file = ""

    @property
    def id(self) -> str:
        return f"{self.name}.{self.label}" if self.label else self.name


Statement = Union[Attribute, Block]


def start_of(node: Union[Expr, Statement]) -> Pos:
    return node.line, node.col


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def go_number(text: str) -> object:
    """transform.ValueFromLiteral for NUMBER: ParseInt base 0 (a leading 0 is octal: 010 is
    8, 09 is the float 9). Unlike Alloy, which falls back to ParseFloat from 2**64 on, an
    integer that large stays an exact Python int (tests/unit/plugins/filter/test_to_alloy.py
    relies on it)."""
    try:
        return int(text[1:], 8) if len(text) > 1 and text[0] == "0" else int(text, 10)
    except ValueError:
        return float(text)


def go_unquote(lit: bytes) -> str:
    """strconv.Unquote of a literal the scanner accepted (raw strings lose their \\r)."""
    if lit[:1] == b"`":
        return _text(lit[1:-1].replace(b"\r", b""))
    out, i, end = bytearray(), 1, len(lit) - 1
    while i < end:
        if lit[i] != 0x5C:
            out.append(lit[i])
            i += 1
            continue
        kind = lit[i + 1]
        if kind in GO_ESCAPES:
            out.append(GO_ESCAPES[kind])
            i += 2
        elif 0x30 <= kind <= 0x37:
            out.append(int(lit[i + 1:i + 4], 8))
            i += 4
        else:
            width = {ord("x"): 2, ord("u"): 4, ord("U"): 8}[kind]
            code = int(lit[i + 2:i + 2 + width], 16)
            out.extend(bytes([code]) if width == 2 else chr(code).encode("utf-8"))
            i += 2 + width
    return _text(bytes(out))


def literal_value(kind: str, lit: bytes) -> object:
    text = _text(lit)
    try:
        if kind == STRING:
            return go_unquote(lit)
        if kind == NUMBER:
            return go_number(text)
        if kind == FLOAT:
            return float(text)
    except (ValueError, KeyError, IndexError):
        return None  # only after a syntax error, which the parse reports
    return {"true": True, "false": False}.get(text) if kind == BOOL else None


@dataclass
class Token:
    kind: str  # Alloy's token name: IDENT, STRING, NUMBER, FLOAT, BOOL, NULL, TERMINATOR, EOF or the operator
    text: str
    line: int
    col: int
    value: object = None


class Scanner:
    """The tokens of a source, comments left out; the first scanning error is raised."""

    def __init__(self, src: Union[str, bytes]) -> None:
        self.data = src if isinstance(src, bytes) else src.encode("utf-8", "surrogateescape")

    def tokens(self) -> List[Token]:
        file = SourceFile()
        errors: List[SyntaxDiagnostic] = []
        scanner = ByteScanner(file, self.data, lambda o, m: errors.append(SyntaxDiagnostic(*file.position(o), m)))
        out: List[Token] = []
        while not out or out[-1].kind != EOF:
            offset, tok, lit = scanner.scan()
            if tok != COMMENT:
                value = literal_value(tok, lit) if tok in (STRING, NUMBER, FLOAT, BOOL) else _text(lit)
                out.append(Token(tok, _text(lit) or tok, *file.position(offset), value=value))
        _raise_if(errors)
        return out


@dataclass
class _BlockName:
    fragments: List[str]
    start: int
    label: str = ""
    label_pos: int = -1


class Parser:
    """Alloy's parser: collects diagnostics instead of stopping at the first one."""

    def __init__(self, src: Union[str, bytes], filename: str = "") -> None:
        data = src if isinstance(src, bytes) else src.encode("utf-8", "surrogateescape")
        self.file = SourceFile(filename)
        self.diags: List[SyntaxDiagnostic] = []
        self.last_error_line = 0
        self.scanner = ByteScanner(self.file, data, self._scanner_error)
        self.pos, self.tok, self.lit = 0, EOF, b""
        self.next()

    # -- plumbing
    def at(self, offset: int) -> Pos:
        return self.file.position(offset)

    def _scanner_error(self, offset: int, message: str) -> None:
        line, col = self.at(offset)
        self.diags.append(SyntaxDiagnostic(line, col, message))

    def next(self) -> None:
        self.pos, self.tok, self.lit = self.scanner.scan()
        while self.tok == COMMENT:
            self.pos, self.tok, self.lit = self.scanner.scan()

    def add_error(self, message: str) -> None:
        line, col = self.at(self.pos)
        if self.last_error_line == line:
            return  # errors on the same line are ignored
        self.last_error_line = line
        self.diags.append(SyntaxDiagnostic(line, col, message))

    def advance(self, to: str) -> None:
        while self.tok != EOF and self.tok != to:
            self.next()

    def advance_any(self, to: frozenset) -> None:
        while self.tok != EOF and self.tok not in to:
            self.next()

    def expect(self, tok: str) -> Tuple[int, str, bytes]:
        pos, got, lit = self.pos, self.tok, self.lit
        if got != tok:
            self.add_error(f"expected {tok}, got {got}")
        self.next()
        return pos, got, lit

    def end_of(self, offset: int, lit: bytes) -> Pos:
        return self.at(offset + len(lit) - 1)

    # -- statements
    def parse_file(self) -> List[Statement]:
        return self.parse_body(EOF)

    def parse_body(self, until: str) -> List[Statement]:
        body: List[Statement] = []
        while self.tok != until and self.tok != EOF:
            stmt = self.parse_statement()
            if stmt is not None:
                body.append(stmt)
            if self.tok == until:
                break
            if self.tok != TERMINATOR:
                self.add_error(f"expected {TERMINATOR}, got {self.tok}")
                self.consume_statement()
            self.next()
        return body

    def consume_statement(self) -> None:
        pairs = {"{": 0, "[": 0, "(": 0}
        closing = {"}": "{", "]": "[", ")": "("}
        while self.tok != EOF:
            if self.tok in pairs:
                pairs[self.tok] += 1
            elif self.tok in closing:
                pairs[closing[self.tok]] -= 1
            if self.tok == TERMINATOR and all(count <= 0 for count in pairs.values()):
                return
            self.next()

    def parse_statement(self) -> Optional[Statement]:
        name = self.parse_block_name()
        if name is None:
            self.advance(IDENT)
            return None
        if self.tok == "=":
            return self._attribute(name)
        if self.tok == "{":
            return self._block(name)
        if len(name.fragments) == 1 and not name.label:
            self.add_error(f"expected attribute assignment or block body, got {self.tok}")
        else:
            self.add_error(f"expected block body, got {self.tok}")
        self.advance(IDENT)
        return None

    def _attribute(self, name: _BlockName) -> Attribute:
        self.next()  # "="
        start = self.at(name.start)
        if len(name.fragments) != 1:
            joined = ".".join(name.fragments).encode("utf-8", "surrogateescape")
            self.diags.append(SyntaxDiagnostic(
                start[0], start[1], 'attribute names may only consist of a single identifier with no "."',
                self.end_of(name.start, joined)))
        elif name.label_pos >= 0:
            line, col = self.at(name.label_pos)
            label = name.label.encode("utf-8", "surrogateescape")
            self.diags.append(SyntaxDiagnostic(line, col, "attribute names may not have labels",
                                               self.at(name.label_pos + len(label) + 1)))
        value = self.parse_expression()
        return _place(Attribute(name.fragments[0], value, start[0], start[1]), end=value.end)

    def _block(self, name: _BlockName) -> Block:
        dotted = ".".join(name.fragments)
        ident = f"{dotted}.{name.label}" if name.label else dotted
        start = self.at(name.start)
        lcurly, _, _ = self.expect("{")
        body = self.parse_body("}")
        rcurly, _, _ = self.expect("}")
        return _place(Block(dotted, name.label, body, start[0], start[1]), end=self.at(rcurly), lcurly=self.at(lcurly),
                      name_end=self.end_of(name.start, dotted.encode("utf-8", "surrogateescape")),
                      id_end=self.end_of(name.start, ident.encode("utf-8", "surrogateescape")), file=self.file.name)

    def parse_block_name(self) -> Optional[_BlockName]:
        if self.tok != IDENT:
            self.add_error(f"expected identifier, got {self.tok}")
            return None
        name = _BlockName([_text(self.lit)], self.pos)
        self.next()
        while self.tok == ".":
            self.next()
            if self.tok != IDENT:
                self.add_error(f"expected identifier, got {self.tok}")
            name.fragments.append(_text(self.lit))
            self.next()
        if self.tok not in ("=", "{"):
            if self.tok == STRING:
                self._label(name)
            else:
                self.add_error(f"expected block label, got {self.tok}")
            self.next()
        return name

    def _label(self, name: _BlockName) -> None:
        if self.lit[:1] != b'"':
            self.add_error(f"expected block label to be a double quoted string, but got {go_quote(self.lit)}")
        if len(self.lit) > 2:  # a non-empty label must be a valid identifier; "" is no label
            name.label = _text(self.lit[1:-1])
            if not is_valid_identifier(name.label):
                self.add_error(f"expected block label to be a valid identifier, but got {go_quote(self.lit[1:-1])}")
        name.label_pos = self.pos

    # -- expressions
    def parse_expression(self) -> Expr:
        return self.parse_binop(1)

    def parse_binop(self, in_prec: int) -> Expr:
        lhs = self.parse_pow()
        while True:
            tok, prec = self.tok, PRECEDENCE.get(self.tok, 0)
            if prec < in_prec:
                return lhs
            self.next()
            rhs = self.parse_binop(prec + 1)
            lhs = _place(Binary(tok, lhs, rhs, lhs.line, lhs.col), end=rhs.end)

    def parse_pow(self) -> Expr:
        lhs = self.parse_unary()
        if self.tok == "^":
            self.next()
            rhs = self.parse_pow()
            return _place(Binary("^", lhs, rhs, lhs.line, lhs.col), end=rhs.end)
        return lhs

    def parse_unary(self) -> Expr:
        if self.tok in ("!", "-"):
            op, (line, col) = self.tok, self.at(self.pos)
            self.next()
            operand = self.parse_unary()
            return _place(Unary(op, operand, line, col), end=operand.end)
        primary = self.parse_primary()
        while True:
            step = self._postfix(primary)
            if step is None:
                return primary
            primary = step

    def _postfix(self, primary: Expr) -> Optional[Expr]:
        """One `.name`, `[index]`, `(args)` after a primary; a block there is an error."""
        if self.tok == ".":
            self.next()
            pos, _, lit = self.expect(IDENT)
            return _place(Access(primary, _text(lit), primary.line, primary.col), end=self.end_of(pos, lit),
                          name_pos=self.at(pos))
        if self.tok == "[":
            self.expect("[")
            index = self.parse_expression()
            rbrack, _, _ = self.expect("]")
            return _place(Index(primary, index, primary.line, primary.col), end=self.at(rbrack))
        if self.tok == "(":
            self.expect("(")
            args = self.parse_expression_list(")") if self.tok != ")" else []
            rparen, _, _ = self.expect(")")
            return _place(Call(primary, args, primary.line, primary.col), end=self.at(rparen))
        if self.tok in (STRING, "{"):
            return self._block_as_expression(primary)
        return None

    def _block_as_expression(self, primary: Expr) -> Optional[Expr]:
        if self.tok == STRING:
            self.next()
        if self.expect("{")[1] != "{":
            self.consume_statement()
            return None
        self.parse_body("}")
        end, tok, _ = self.expect("}")
        if tok != "}":
            self.consume_statement()
            return None
        self.diags.append(SyntaxDiagnostic(primary.line, primary.col, "cannot use a block as an expression",
                                           self.at(end)))
        return primary

    def parse_primary(self) -> Expr:
        pos, tok, lit = self.pos, self.tok, self.lit
        line, col = self.at(pos)
        if tok == IDENT:
            self.next()
            return _place(Ident(_text(lit), line, col), end=self.end_of(pos, lit))
        if tok in (STRING, NUMBER, FLOAT, BOOL, NULL):
            self.next()
            return _place(Literal(literal_value(tok, lit), line, col), kind=tok, text=_text(lit),
                          end=self.end_of(pos, lit))
        if tok == "(":
            self.expect("(")
            inner = self.parse_expression()
            rparen, _, _ = self.expect(")")
            return _place(Paren(inner, line, col), end=self.at(rparen))
        if tok == "[":
            self.expect("[")
            items = self.parse_expression_list("]") if self.tok != "]" else []
            rbrack, _, _ = self.expect("]")
            return _place(ArrayExpr(items, line, col), end=self.at(rbrack))
        if tok == "{":
            self.expect("{")
            keys: List[FieldKey] = []
            values: List[Expr] = []
            if self.tok != "]":  # sic: Alloy compares with RBRACK here
                self.parse_field_list(keys, values)
            rcurly, _, _ = self.expect("}")
            return _place(ObjectExpr([(k.name, v) for k, v in zip(keys, values)], line, col), end=self.at(rcurly),
                          keys=tuple(keys))
        self.add_error(f"expected expression, got {tok}")
        self.advance_any(STATEMENT_END)
        return _place(Literal(None, line, col), kind=NULL, text="null", end=(line, col + 3))

    def parse_expression_list(self, until: str) -> List[Expr]:
        exprs: List[Expr] = []
        self._list(until, "expression list", lambda: exprs.append(self.parse_expression()))
        return exprs

    def parse_field_list(self, keys: List[FieldKey], values: List[Expr]) -> None:
        def one() -> None:
            key, value = self.parse_field()
            keys.append(key)
            values.append(value)
        self._list("}", "field list", one)

    def _list(self, until: str, what: str, parse_one: Callable[[], None]) -> None:
        while self.tok != until and self.tok != EOF:
            parse_one()
            if self.tok == until:
                break
            if self.tok != ",":
                self.add_error(f"missing ',' in {what}")
            self.next()

    def parse_field(self) -> Tuple[FieldKey, Expr]:
        line, col = self.at(self.pos)
        key = FieldKey("", False, line, col, (line, col))
        if self.tok in (STRING, IDENT):
            raw = self.lit[1:-1] if self.tok == STRING and len(self.lit) > 2 else self.lit
            key.name, key.quoted, key.end = _text(raw), raw is not self.lit, self.end_of(self.pos, raw)
            self.next()
        else:
            self.add_error(f"expected field name (string or identifier), got {self.tok}")
            self.advance("=")
        self.expect("=")
        return key, self.parse_expression()


def _raise_if(diags: Sequence[SyntaxDiagnostic]) -> None:
    if diags:
        first = diags[0]
        raise AlloySyntaxError(first.line, first.col, first.message, list(diags))


def parse(src: Union[str, bytes], filename: str = "") -> List[Statement]:
    """Parse a whole file; raises AlloySyntaxError (first position, all diagnostics)."""
    parser = Parser(src, filename)
    try:
        body = parser.parse_file()
    except RecursionError:  # Alloy has no depth limit; this parser has Python's (~120 brackets)
        line, col = parser.at(parser.pos)
        parser.diags.append(SyntaxDiagnostic(line, col, "the stand-in cannot parse expressions nested this deep"))
        body = []
    _raise_if(parser.diags)
    return body


def parse_expression(src: Union[str, bytes]) -> Expr:
    """Parse a lone expression, like Alloy's parser.ParseExpression."""
    parser = Parser(src)
    expr = parser.parse_expression()
    parser.expect(TERMINATOR)
    _raise_if(parser.diags)
    return expr


def is_identifier(text: str) -> bool:
    return is_valid_identifier(text)


def evaluate_literal(expr: Expr) -> object:
    """The Python value of a constant expression (literals, arrays, objects, unary minus)."""
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, ArrayExpr):
        return [evaluate_literal(item) for item in expr.items]
    if isinstance(expr, ObjectExpr):
        return {key: evaluate_literal(value) for key, value in expr.fields}
    if isinstance(expr, Paren):
        return evaluate_literal(expr.inner)
    if isinstance(expr, Unary) and expr.op == "-":
        value = evaluate_literal(expr.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    raise ValueError(f"{expr.line}:{expr.col}: not a constant expression")


def chain_name(expr: Expr) -> Optional[str]:
    """`a.b.c` for an access chain of identifiers, else None."""
    if isinstance(expr, Ident):
        return expr.name
    if isinstance(expr, Access):
        head = chain_name(expr.target)
        return f"{head}.{expr.name}" if head else None
    return None
