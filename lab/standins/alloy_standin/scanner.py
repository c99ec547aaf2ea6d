"""TEST FIXTURE (stand-in for Grafana Alloy): the lexical scanner of the Alloy syntax.

A port of grafana/alloy syntax/scanner/scanner.go and syntax/token/file.go: the input is
bytes, positions are byte offsets and columns count bytes from 1, a byte-order mark is
skipped only as the very first character, invalid UTF-8 and NUL are reported (never a
Python exception), and a newline becomes a TERMINATOR token after an identifier, a
literal, `)`, `]` or `}`. Errors go to a callback, like Alloy's ErrorHandler, and the
scanner keeps going so that the parser can report more. Python 3.9+.
"""
from __future__ import annotations

import unicodedata
from bisect import bisect_right
from typing import Callable, List, Tuple

EOF_CH = -1
BOM = 0xFEFF
RUNE_ERROR = 0xFFFD
NL, CR, TAB, SPACE = 0x0A, 0x0D, 0x09, 0x20
SLASH, STAR, DOT, BACKSLASH = ord("/"), ord("*"), ord("."), ord("\\")

# Token names as Alloy's token.Token.String() prints them.
ILLEGAL, EOF, COMMENT = "ILLEGAL", "EOF", "COMMENT"
IDENT, NUMBER, FLOAT, STRING, BOOL, NULL = "IDENT", "NUMBER", "FLOAT", "STRING", "BOOL", "NULL"
TERMINATOR = "TERMINATOR"
SINGLE = {"+": "+", "-": "-", "*": "*", "%": "%", "^": "^", "{": "{", "(": "(", "[": "[",
          ",": ",", ".": "."}
TERMINATING = {"}": "}", ")": ")", "]": "]"}
SWITCH2 = {"!": ("!", "!="), "=": ("=", "=="), "<": ("<", "<="), ">": (">", ">=")}
SIMPLE_ESCAPES = frozenset(b"abfnrtv\\\"")

ErrorHandler = Callable[[int, str], None]
Scanned = Tuple[int, str, bytes]  # (offset, token, literal)


class SourceFile:
    """Line offsets of one input (Alloy's token.File): offsets to 1-based line:column."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.lines: List[int] = [0]

    def add_line(self, offset: int) -> None:
        if self.lines[-1] < offset:
            self.lines.append(offset)

    def position(self, offset: int) -> Tuple[int, int]:
        index = bisect_right(self.lines, offset) - 1
        return index + 1, offset - self.lines[index] + 1


def decode_rune(data: bytes, i: int) -> Tuple[int, int]:
    """Go's utf8.DecodeRune: (rune, width), (U+FFFD, 1) for an invalid encoding."""
    if data[i] < 0x80:
        return data[i], 1
    for width in (2, 3, 4):
        try:
            text = data[i:i + width].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(text) == 1:
            return ord(text), width
    return RUNE_ERROR, 1


def is_letter(ch: int) -> bool:
    return (0x61 <= (ch | 0x20) <= 0x7A and ch >= 0) or ch == 0x5F or (ch >= 0x80 and chr(ch).isalpha())


def is_decimal(ch: int) -> bool:
    return 0x30 <= ch <= 0x39


def is_digit(ch: int) -> bool:
    return is_decimal(ch) or (ch >= 0x80 and unicodedata.category(chr(ch)) == "Nd")


def digit_value(ch: int) -> int:
    if is_decimal(ch):
        return ch - 0x30
    if 0x61 <= (ch | 0x20) <= 0x66 and ch >= 0:
        return (ch | 0x20) - 0x61 + 10
    return 16


def rune_u(ch: int) -> str:
    """Go's %#U: U+0027 ''' for a printable rune, U+0000 otherwise."""
    text = f"U+{ch:04X}"
    return f"{text} '{chr(ch)}'" if chr(ch).isprintable() else text


def lookup(ident: bytes) -> str:
    if ident in (b"true", b"false"):
        return BOOL
    return NULL if ident == b"null" else IDENT


class Scanner:
    """Alloy's scanner in IncludeComments mode (the parser skips COMMENT tokens)."""

    def __init__(self, file: SourceFile, src: bytes, on_error: ErrorHandler) -> None:
        self.file = file
        self.input = src
        self.on_error = on_error
        self.ch = 0
        self.offset = 0
        self.read_offset = 0
        self.insert_term = False
        self.next()
        if self.ch == BOM:
            self.next()  # a byte-order mark is ignored as the very first character

    def peek(self) -> int:
        return self.input[self.read_offset] if self.read_offset < len(self.input) else 0

    def next(self) -> None:
        if self.read_offset >= len(self.input):
            self.offset = len(self.input)
            if self.ch == NL:
                self.file.add_line(self.offset)
            self.ch = EOF_CH
            return
        self.offset = self.read_offset
        if self.ch == NL:
            self.file.add_line(self.offset)
        rune, width = self.input[self.read_offset], 1
        if rune == 0:
            self.on_error(self.offset, "illegal character NUL")
        elif rune >= 0x80:
            rune, width = decode_rune(self.input, self.read_offset)
            if rune == RUNE_ERROR and width == 1:
                self.on_error(self.offset, "illegal UTF-8 encoding")
            elif rune == BOM and self.offset > 0:
                self.on_error(self.offset, "illegal byte order mark")
        self.read_offset += width
        self.ch = rune

    def skip_whitespace(self) -> None:
        while self.ch in (SPACE, TAB, CR) or (self.ch == NL and not self.insert_term):
            self.next()

    def scan(self) -> Scanned:
        while True:
            self.skip_whitespace()
            pos, ch = self.offset, self.ch
            if is_letter(ch):
                lit = self.scan_identifier()
                tok = lookup(lit) if len(lit) > 1 else IDENT
                self.insert_term = True
                return pos, tok, lit
            if is_decimal(ch) or (ch == DOT and is_decimal(self.peek())):
                tok, lit = self.scan_number()
                self.insert_term = True
                return pos, tok, lit
            self.next()  # make progress: ch is the first character, self.ch the second
            if ch == SLASH and self.ch in (SLASH, STAR):
                if self.insert_term and self.find_line_end():
                    self.ch, self.offset, self.read_offset = SLASH, pos, pos + 1
                    self.insert_term = False
                    return pos, TERMINATOR, b"\n"
                self.insert_term = False
                return pos, COMMENT, self.scan_comment()
            return self._operator(pos, ch)

    def _operator(self, pos: int, ch: int) -> Scanned:
        if ch == EOF_CH or ch == NL:
            if ch == NL or self.insert_term:
                self.insert_term = False
                return pos, TERMINATOR, b"\n"
            return pos, EOF, b""
        insert_term, tok, lit = False, ILLEGAL, b""
        char = chr(ch)
        if char in "\"`'":
            if char == "'":
                self.on_error(pos, "illegal single-quoted string; use double quotes")
            insert_term, tok = True, (ILLEGAL if char == "'" else STRING)
            lit = self.scan_string(ch, escape=char != "`", multiline=char == "`")
        elif char in "|&":
            if self.ch != ch:
                self.on_error(self.offset, f"missing second {char} in {char * 2}")
            else:
                self.next()
            tok = char * 2
        elif char in SWITCH2:
            single, double = SWITCH2[char]
            tok = single
            if self.ch == ord("="):
                self.next()
                tok = double
        elif char == "/":
            tok = "/"
        elif char in SINGLE:
            tok = SINGLE[char]
        elif char in TERMINATING:
            insert_term, tok = True, TERMINATING[char]
        else:
            if ch != BOM:  # next() already reported a misplaced byte-order mark
                self.on_error(pos, f"illegal character {rune_u(ch)}")
            insert_term, lit = self.insert_term, chr(ch).encode("utf-8", "surrogatepass")
        self.insert_term = insert_term
        return pos, tok, lit

    def scan_identifier(self) -> bytes:
        off = self.offset
        while is_letter(self.ch) or is_digit(self.ch):
            self.next()
        return self.input[off:self.offset]

    def digits(self) -> int:
        count = 0
        while is_decimal(self.ch):
            self.next()
            count += 1
        return count

    def scan_number(self) -> Tuple[str, bytes]:
        tok, off = NUMBER, self.offset
        if self.ch != DOT:
            self.digits()
        if self.ch == DOT:
            tok = FLOAT
            self.next()
            self.digits()
        if self.ch in (ord("e"), ord("E")):
            tok = FLOAT
            self.next()
            if self.ch in (ord("+"), ord("-")):
                self.next()
            if self.digits() == 0:
                self.on_error(off, "exponent has no digits")
        return tok, self.input[off:self.offset]

    def scan_string(self, until: int, escape: bool, multiline: bool) -> bytes:
        off = self.offset - 1  # the opening quote was consumed to make progress
        while True:
            ch = self.ch
            if (not multiline and ch == NL) or ch == EOF_CH:
                self.on_error(off, "string literal not terminated")
                break
            self.next()
            if ch == until:
                break
            if escape and ch == BACKSLASH:
                self.scan_escape()
        return self.input[off:self.offset]

    def scan_escape(self) -> None:
        off = self.offset
        if 0 <= self.ch < 0x80 and self.ch in SIMPLE_ESCAPES:
            self.next()
            return
        widths = {ord("x"): (2, 16, 255), ord("u"): (4, 16, 0x10FFFF), ord("U"): (8, 16, 0x10FFFF)}
        if 0x30 <= self.ch <= 0x37:
            count, base, limit = 3, 8, 255
        elif self.ch in widths:
            count, base, limit = widths[self.ch]
            self.next()
        else:
            self.on_error(off, "escape sequence not terminated" if self.ch == EOF_CH else "unknown escape sequence")
            return
        value = 0
        for _ in range(count):
            digit = digit_value(self.ch)
            if digit >= base:
                self.on_error(off, "escape sequence not terminated" if self.ch == EOF_CH
                              else f"illegal character {rune_u(self.ch)} in escape sequence")
                return
            value = value * base + digit
            self.next()
        if value > limit or 0xD800 <= value < 0xE000:
            self.on_error(off, "escape sequence is invalid Unicode code point")

    def scan_comment(self) -> bytes:
        off = self.offset - 1  # the first '/' was consumed to make progress
        if self.ch == SLASH:
            self.next()
            while self.ch not in (NL, EOF_CH):
                self.next()
        else:
            self.next()
            while True:
                if self.ch == EOF_CH:
                    self.on_error(off, "block comment not terminated")
                    break
                ch = self.ch
                self.next()
                if ch == STAR and self.ch == SLASH:
                    self.next()
                    break
        return self.input[off:self.offset].replace(b"\r", b"")

    def find_line_end(self) -> bool:
        """Whether the comment(s) starting here run to the end of the line; rewinds."""
        off = self.offset - 1
        try:
            while self.ch in (SLASH, STAR):
                if self.ch == SLASH:
                    return True
                self.next()
                while self.ch != EOF_CH:
                    ch = self.ch
                    if ch == NL:
                        return True
                    self.next()
                    if ch == STAR and self.ch == SLASH:
                        self.next()
                        break
                self.skip_whitespace()
                if self.ch in (EOF_CH, NL):
                    return True
                if self.ch != SLASH:
                    return False
                self.next()
            return False
        finally:
            self.ch, self.offset, self.read_offset = SLASH, off, off + 1
            self.next()


def is_valid_identifier(text: str) -> bool:
    """Alloy's scanner.IsValidIdentifier: the whole text scans as one IDENT."""
    data = text.encode("utf-8", "surrogateescape")
    errors: List[str] = []
    _, tok, lit = Scanner(SourceFile(), data, lambda _o, m: errors.append(m)).scan()
    return tok == IDENT and lit == data
