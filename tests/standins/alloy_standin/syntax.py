"""TEST FIXTURE (stand-in for Grafana Alloy): a parser of the Alloy configuration syntax.

Follows the grammar in shared/docs/alloy-facts.md section 5: a scanner that turns some
newlines into statement terminators, a recursive-descent parser for bodies, blocks,
attributes and expressions, and `file:line:col: message` diagnostics. It is the piece
the stand-in's `alloy fmt`, `alloy validate` and `alloy run` share. Python 3.9+.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

KEYWORDS = {"true", "false", "null"}
# Operators, longest first so that "==" wins over "=".
OPERATORS = ("||", "&&", "==", "!=", "<=", ">=", "!", "=", "<", ">", "+", "-", "*", "/", "%",
             "^", "{", "}", "(", ")", "[", "]", ",", ".")
SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                  "v": "\v", "\\": "\\", '"': '"'}
# After these token kinds a newline ends the statement.
TERMINATES = {"IDENT", "STRING", "NUMBER", "FLOAT", ")", "]", "}"}


class AlloySyntaxError(Exception):
    """One diagnostic with its position (1-based line and column)."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(f"{line}:{col}: {message}")
        self.line = line
        self.col = col
        self.message = message

    def render(self, filename: str) -> str:
        return f"{filename}:{self.line}:{self.col}: {self.message}"


@dataclass
class Token:
    kind: str  # IDENT, STRING, NUMBER, FLOAT, TERMINATOR, EOF or the operator itself
    text: str
    line: int
    col: int
    value: object = None


def _is_letter(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def is_identifier(text: str) -> bool:
    return bool(text) and _is_letter(text[0]) and all(_is_letter(c) or c.isdigit() for c in text) \
        and text not in KEYWORDS


class Scanner:
    """Turns source text into tokens, inserting TERMINATOR tokens at significant newlines."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.line = 1
        self.col = 1
        self.last_kind = ""

    def _peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < len(self.src) else ""

    def _advance(self) -> str:
        ch = self.src[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
            self.col = 1
        else:
            self.col += 1
        return ch

    def _terminator(self, line: int, col: int) -> Optional[Token]:
        if self.last_kind in TERMINATES:
            self.last_kind = "TERMINATOR"
            return Token("TERMINATOR", "\n", line, col)
        return None

    def tokens(self) -> List[Token]:
        out: List[Token] = []
        while True:
            tok = self._next()
            out.append(tok)
            if tok.kind == "EOF":
                return out

    def _next(self) -> Token:
        while True:
            ch = self._peek()
            line, col = self.line, self.col
            if ch == "":
                term = self._terminator(line, col)
                return term or Token("EOF", "", line, col)
            if ch in " \t\r":
                self._advance()
                continue
            if ch == "\n":
                self._advance()
                term = self._terminator(line, col)
                if term:
                    return term
                continue
            if ch == "/" and self._peek(1) == "/":
                while self._peek() not in ("", "\n"):
                    self._advance()
                continue
            if ch == "/" and self._peek(1) == "*":
                if self._block_comment(line, col):
                    term = self._terminator(line, col)
                    if term:
                        return term
                continue
            tok = self._token(ch, line, col)
            self.last_kind = tok.kind
            return tok

    def _block_comment(self, line: int, col: int) -> bool:
        """Skip a /* */ comment; True when it spanned a newline."""
        self._advance()
        self._advance()
        newline = False
        while not (self._peek() == "*" and self._peek(1) == "/"):
            if self._peek() == "":
                raise AlloySyntaxError(line, col, "comment not terminated")
            newline |= self._advance() == "\n"
        self._advance()
        self._advance()
        return newline

    def _token(self, ch: str, line: int, col: int) -> Token:
        if _is_letter(ch):
            start = self.pos
            while _is_letter(self._peek()) or self._peek().isdigit():
                self._advance()
            text = self.src[start:self.pos]
            return Token("IDENT", text, line, col, text)
        if ch.isdigit() or (ch == "." and self._peek(1).isdigit()):
            return self._number(line, col)
        if ch == '"':
            return self._string(line, col)
        if ch == "`":
            return self._raw_string(line, col)
        for op in OPERATORS:
            if self.src.startswith(op, self.pos):
                for _ in op:
                    self._advance()
                return Token(op, op, line, col)
        raise AlloySyntaxError(line, col, f"illegal character U+{ord(ch):04X} {ch!r}")

    def _digits(self) -> None:
        while self._peek().isdigit():
            self._advance()

    def _number(self, line: int, col: int) -> Token:
        start = self.pos
        kind = "NUMBER"
        self._digits()
        if self._peek() == ".":
            kind = "FLOAT"
            self._advance()
            if not self._peek().isdigit():
                raise AlloySyntaxError(self.line, self.col, "expected digits after decimal point")
            self._digits()
        if self._peek() in ("e", "E"):
            kind = "FLOAT"
            self._advance()
            if self._peek() in ("+", "-"):
                self._advance()
            if not self._peek().isdigit():
                raise AlloySyntaxError(self.line, self.col, "exponent has no digits")
            self._digits()
        text = self.src[start:self.pos]
        if _is_letter(self._peek()):
            raise AlloySyntaxError(line, col, f"invalid number literal {text + self._peek()!r}")
        value: object = float(text) if kind == "FLOAT" else int(text)
        return Token(kind, text, line, col, value)

    def _string(self, line: int, col: int) -> Token:
        start = self.pos
        self._advance()
        chars: List[str] = []
        while True:
            ch = self._peek()
            if ch in ("", "\n"):
                raise AlloySyntaxError(line, col, "string literal not terminated")
            if ch == '"':
                self._advance()
                return Token("STRING", self.src[start:self.pos], line, col, "".join(chars))
            if ch == "\\":
                chars.append(self._escape())
                continue
            chars.append(self._advance())

    def _escape(self) -> str:
        """Decode one escape; errors point where Go's scanner points (after the backslash)."""
        self._advance()
        line, col, ch = self.line, self.col, self._peek()
        if ch in SIMPLE_ESCAPES:
            self._advance()
            return SIMPLE_ESCAPES[ch]
        if ch and ch in "xuU":
            width, base = {"x": 2, "u": 4, "U": 8}[ch], 16
            self._advance()
        elif ch and ch in "01234567":
            width, base = 3, 8
        else:
            raise AlloySyntaxError(line, col, "unknown escape sequence")
        digits = ""
        for _ in range(width):
            d = self._peek()
            if not d or d.lower() not in "0123456789abcdef"[:base]:
                shown = repr(d) if d else "end of input"
                raise AlloySyntaxError(self.line, self.col, f"illegal character {shown} in escape sequence")
            digits += self._advance()
        code = int(digits, base)
        if code > 0x10FFFF or 0xD800 <= code < 0xE000 or (base == 8 and code > 255):
            raise AlloySyntaxError(line, col, "escape sequence is invalid Unicode code point")
        return chr(code)

    def _raw_string(self, line: int, col: int) -> Token:
        start = self.pos
        self._advance()
        while self._peek() != "`":
            if self._peek() == "":
                raise AlloySyntaxError(line, col, "raw string literal not terminated")
            self._advance()
        self._advance()
        text = self.src[start:self.pos]
        return Token("STRING", text, line, col, text[1:-1].replace("\r", ""))


# ---- AST -------------------------------------------------------------------------

@dataclass
class Literal:
    value: object  # str, int, float, bool or None
    line: int
    col: int


@dataclass
class Ident:
    name: str
    line: int
    col: int


@dataclass
class Access:
    target: "Expr"
    name: str
    line: int
    col: int


@dataclass
class Index:
    target: "Expr"
    index: "Expr"
    line: int
    col: int


@dataclass
class Call:
    target: "Expr"
    args: List["Expr"]
    line: int
    col: int


@dataclass
class ArrayExpr:
    items: List["Expr"]
    line: int
    col: int


@dataclass
class ObjectExpr:
    fields: List[Tuple[str, "Expr"]]
    line: int
    col: int


@dataclass
class Unary:
    op: str
    operand: "Expr"
    line: int
    col: int


@dataclass
class Binary:
    op: str
    left: "Expr"
    right: "Expr"
    line: int
    col: int


@dataclass
class Paren:
    inner: "Expr"
    line: int
    col: int


Expr = Union[Literal, Ident, Access, Index, Call, ArrayExpr, ObjectExpr, Unary, Binary, Paren]


@dataclass
class Attribute:
    name: str
    value: Expr
    line: int
    col: int


@dataclass
class Block:
    name: str  # dotted name, e.g. prometheus.scrape
    label: str
    body: List["Statement"] = field(default_factory=list)
    line: int = 0
    col: int = 0

    @property
    def id(self) -> str:
        return f"{self.name}.{self.label}" if self.label else self.name


Statement = Union[Attribute, Block]

BINARY_LEVELS: Tuple[Tuple[str, ...], ...] = (
    ("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"),
)


def _describe(tok: Token) -> str:
    if tok.kind == "TERMINATOR":
        return "newline"
    if tok.kind == "EOF":
        return "end of file"
    return repr(tok.text)


class Parser:
    def __init__(self, src: str) -> None:
        self.toks = Scanner(src).tokens()
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def _take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _expect(self, kind: str, context: str) -> Token:
        if self.tok.kind != kind:
            raise AlloySyntaxError(self.tok.line, self.tok.col,
                                   f"expected {kind if len(kind) > 1 and kind.isalpha() else repr(kind)}"
                                   f" {context}, got {_describe(self.tok)}")
        return self._take()

    def parse_file(self) -> List[Statement]:
        body = self._body("EOF")
        self._expect("EOF", "at the end of the file")
        return body

    def _body(self, end: str) -> List[Statement]:
        body: List[Statement] = []
        while self.tok.kind == "TERMINATOR":
            self._take()
        while self.tok.kind != end:
            if self.tok.kind == "EOF":
                raise AlloySyntaxError(self.tok.line, self.tok.col, "expected '}' to close the block, got end of file")
            body.append(self._statement())
            if self.tok.kind == end:
                break
            if self.tok.kind != "TERMINATOR":
                raise AlloySyntaxError(self.tok.line, self.tok.col,
                                       f"expected a newline after the statement, got {_describe(self.tok)}")
            while self.tok.kind == "TERMINATOR":
                self._take()
        return body

    def _statement(self) -> Statement:
        first = self._expect("IDENT", "at the start of a statement")
        if first.text in KEYWORDS:
            raise AlloySyntaxError(first.line, first.col, f"expected an identifier, got keyword {first.text}")
        parts = [first.text]
        while self.tok.kind == ".":
            self._take()
            parts.append(self._expect("IDENT", "after '.' in a block name").text)
        if self.tok.kind == "=":
            if len(parts) > 1:
                raise AlloySyntaxError(first.line, first.col,
                                       "attribute names may only consist of a single identifier")
            self._take()
            return Attribute(first.text, self._expr(), first.line, first.col)
        label = ""
        if self.tok.kind == "STRING":
            lab = self._take()
            if not lab.text.startswith('"'):
                raise AlloySyntaxError(lab.line, lab.col, "block labels must be double-quoted strings")
            label = str(lab.value)
            if not is_identifier(label):
                raise AlloySyntaxError(lab.line, lab.col,
                                       f"expected block label to be a valid identifier, got {lab.text}")
        if self.tok.kind != "{":
            raise AlloySyntaxError(self.tok.line, self.tok.col,
                                   f"expected attribute assignment or block body, got {_describe(self.tok)}")
        self._take()
        body = self._body("}")
        self._take()
        return Block(".".join(parts), label, body, first.line, first.col)

    # -- expressions
    def _expr(self, level: int = 0) -> Expr:
        if level == len(BINARY_LEVELS):
            return self._power()
        left = self._expr(level + 1)
        while self.tok.kind in BINARY_LEVELS[level]:
            op = self._take()
            left = Binary(op.text, left, self._expr(level + 1), op.line, op.col)
        return left

    def _power(self) -> Expr:
        base = self._unary()
        if self.tok.kind == "^":
            op = self._take()
            return Binary("^", base, self._power(), op.line, op.col)
        return base

    def _unary(self) -> Expr:
        if self.tok.kind in ("!", "-"):
            op = self._take()
            return Unary(op.text, self._unary(), op.line, op.col)
        expr = self._primary()
        while self.tok.kind in (".", "[", "("):
            op = self._take()
            if op.kind == ".":
                name = self._expect("IDENT", "after '.'")
                expr = Access(expr, name.text, name.line, name.col)
            elif op.kind == "[":
                index = self._expr()
                self._expect("]", "to close the index")
                expr = Index(expr, index, op.line, op.col)
            else:
                expr = Call(expr, self._list(")", "argument list"), op.line, op.col)
        return expr

    def _list(self, close: str, what: str) -> List[Expr]:
        items: List[Expr] = []
        while self.tok.kind != close:
            items.append(self._expr())
            if self.tok.kind == ",":
                self._take()
                continue
            if self.tok.kind != close:
                raise AlloySyntaxError(self.tok.line, self.tok.col,
                                       f"missing ',' in {what} (expected ',' or {close!r}, got {_describe(self.tok)})")
        self._take()
        return items

    def _primary(self) -> Expr:
        tok = self.tok
        if tok.kind == "IDENT":
            self._take()
            if tok.text in KEYWORDS:
                return Literal({"true": True, "false": False, "null": None}[tok.text], tok.line, tok.col)
            return Ident(tok.text, tok.line, tok.col)
        if tok.kind in ("STRING", "NUMBER", "FLOAT"):
            self._take()
            return Literal(tok.value, tok.line, tok.col)
        if tok.kind == "(":
            self._take()
            inner = self._expr()
            self._expect(")", "to close the parenthesis")
            return Paren(inner, tok.line, tok.col)
        if tok.kind == "[":
            self._take()
            return ArrayExpr(self._list("]", "array"), tok.line, tok.col)
        if tok.kind == "{":
            self._take()
            return ObjectExpr(self._fields(), tok.line, tok.col)
        raise AlloySyntaxError(tok.line, tok.col, f"expected expression, got {_describe(tok)}")

    def _fields(self) -> List[Tuple[str, Expr]]:
        fields: List[Tuple[str, Expr]] = []
        while self.tok.kind != "}":
            key = self.tok
            if key.kind not in ("IDENT", "STRING"):
                raise AlloySyntaxError(key.line, key.col, f"expected field name, got {_describe(key)}")
            self._take()
            self._expect("=", "after the field name")
            fields.append((str(key.value), self._expr()))
            if self.tok.kind == ",":
                self._take()
                continue
            if self.tok.kind != "}":
                raise AlloySyntaxError(self.tok.line, self.tok.col,
                                       f"missing ',' in field list (expected ',' or '}}', got {_describe(self.tok)})")
        self._take()
        return fields


def parse(src: str) -> List[Statement]:
    """Parse a whole file; raises AlloySyntaxError with the first error's position."""
    return Parser(src).parse_file()


def parse_expression(src: str) -> Expr:
    """Parse a lone expression (used by tests that round-trip literals)."""
    parser = Parser(src)
    expr = parser._expr()
    while parser.tok.kind == "TERMINATOR":
        parser._take()
    parser._expect("EOF", "after the expression")
    return expr


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
