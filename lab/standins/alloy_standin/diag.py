"""TEST FIXTURE (stand-in for Grafana Alloy): diagnostics and how Alloy prints them.

Diagnostic is one `file:line:col: message` (positions as Alloy's token.Position: 1-based,
columns in bytes). print_diagnostics ports syntax/diag/printer.go without colour (what
Alloy prints when stderr is not a terminal): a header `Error: file:line:col: msg`, then
the lines around it with `^` under the range. go_quote is Go's %q (strconv.Quote),
which Alloy uses for the names inside its messages. Python 3.9+.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple, Union

from .scanner import RUNE_ERROR, decode_rune

Pos = Tuple[int, int]
NO_POS: Pos = (0, 0)
TAB_WIDTH = 4
_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
            0x5C: "\\\\", 0x22: '\\"'}


def go_quote(text: Union[str, bytes]) -> str:
    """Go's strconv.Quote: printable runes kept, the rest escaped; invalid bytes as \\xNN."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    out, i = ['"'], 0
    while i < len(data):
        rune, width = decode_rune(data, i)
        if rune == RUNE_ERROR and width == 1:
            out.append(f"\\x{data[i]:02x}")
        elif rune in _ESCAPES:
            out.append(_ESCAPES[rune])
        elif rune < 0x20 or rune == 0x7F:
            out.append(f"\\x{rune:02x}")
        elif chr(rune).isprintable():
            out.append(chr(rune))
        else:
            out.append(f"\\u{rune:04x}" if rune < 0x10000 else f"\\U{rune:08x}")
        i += width
    out.append('"')
    return "".join(out)


@dataclass
class Diagnostic:
    severity: str  # Error or Warning
    filename: str
    line: int
    col: int
    message: str
    end_line: int = 0
    end_col: int = 0

    @property
    def position(self) -> str:
        """Alloy's token.Position.String()."""
        text = self.filename
        if self.line > 0:
            text = f"{text}:{self.line}" if text else str(self.line)
            if self.col:
                text += f":{self.col}"
        return text or "-"

    def error(self) -> str:
        """diag.Diagnostic.Error(): what `alloy fmt` prints."""
        return f"{self.position}: {self.message}"

    def render(self) -> str:
        """The header line Alloy's printer writes for the diagnostic."""
        return f"{self.severity}: {self.error()}"


def make(severity: str, filename: str, start: Pos, message: str, end: Pos = NO_POS) -> Diagnostic:
    return Diagnostic(severity, filename, start[0], start[1], message, end[0], end[1])


def print_diagnostics(diags: Sequence[Diagnostic], files: Dict[str, bytes]) -> str:
    """diag.Printer.Fprint with one line of context before and after, no colour."""
    out: List[str] = []
    for i, diag in enumerate(diags):
        out.append(diag.render() + "\n")
        if diag.filename in files:
            out.extend(_print_range(files[diag.filename], diag))
        if i + 1 < len(diags):
            out.append("\n")
    return "".join(out)


def _runes(line: bytes) -> List[Tuple[int, int]]:
    """(byte index, rune) of every character, as Go's `for i, ch := range string`."""
    runes, i = [], 0
    while i < len(line):
        rune, width = decode_rune(line, i)
        runes.append((i, rune))
        i += width
    return runes


def _in_range(line: int, col: int, start: Pos, end: Pos) -> bool:
    if line < start[0] or line > end[0]:
        return False
    if line == start[0]:
        return col >= start[1]
    if line == end[0]:
        return col <= end[1]
    return True


def _print_range(file: bytes, diag: Diagnostic) -> List[str]:
    start: Pos = (diag.line, diag.col)
    end: Pos = (diag.end_line, diag.end_col) if diag.end_line > 0 else start
    lines = file.split(b"\n")
    first, last = max(start[0] - 1, 1), min(end[0] + 1, len(lines))
    multiline = end[0] - start[0] > 0
    width = len(str(last))
    out = ["\n"]
    for number in range(first, last + 1):
        text = lines[number - 1]
        margin = ("| " if _in_range(number, 0, start, end) else "  ") if multiline else ""
        shown = "".join(" " * TAB_WIDTH if ch in (0x09, 0x0B) else chr(ch) for _, ch in _runes(text) if ch != 0x0D)
        out.append(f"{str(number).rjust(width)} | {margin}{shown}\n")
        if number == start[0] or (multiline and number == end[0]):
            if multiline:
                lead = " |  _" if number == start[0] else " | |_"
            else:
                lead = " | "
            out.append(" " * width + lead + _focus(text, number, start, end) + "\n")
    return out


def _focus(text: bytes, line: int, start: Pos, end: Pos) -> str:
    blank = "_" if end[0] - start[0] > 0 else " "
    out: List[str] = []
    for index, ch in _runes(text):
        column = index + 1
        if line == end[0] and column > end[1]:
            break
        if ch in (0x09, 0x0B):
            out.append(blank * TAB_WIDTH)
        elif _in_range(line, column, start, end):
            out.append("^")
        else:
            out.append(blank)
    return "".join(out)
