"""TEST FIXTURE (stand-in for Grafana Alloy): the telemetry the stand-in sends, and how.

A mimic of the two pipelines' data flow, enough for a lab to see data arrive:
- every prometheus.scrape scrapes its targets (scrape_loop.py: with clustering only those it
  owns, cluster.py; an exporter's target is the stand-in's own, any other a real GET of its
  URL) and produces, per target that answered, `up` 1, `node_load1` (the real load average) and
  `node_time_seconds`, per target that did not only `up` 0, with the target's labels, instance
  its __address__ and job the job_name unless the target has them (an exporter's target
  has job="integrations/<name>"), as Prometheus' PopulateLabels; follows forward_to through
  prometheus.relabel rules (replace/keep/drop with regex) to prometheus.remote_write,
  which adds its external_labels, appends the samples to its WAL and queues them for
  every endpoint;
- every loki.source.journal produces one heartbeat line from synthetic journal fields
  relabelled by its relabel_rules, adds its static labels, follows forward_to (through
  loki.process static_labels stages) to loki.write, which adds its external_labels and
  queues the line for every endpoint;
- every loki.source.file reads the files of its targets (local.file_match's doublestar globs
  less __path_exclude__, or targets written inline) as Alloy's tailers do: one tailer per file
  and label set (the target's labels less those starting "__"), each sending the new complete
  lines since its own position with those labels and filename, through forward_to, to
  loki.write; from the start of a file without a position (after its last newline with
  tail_from_end), from 0 again when the file shrank or another file took its path. Positions
  are kept in <storage>/<component id>/positions.yml keyed by (path, labels) as Alloy writes
  it (`? path: ...` / `labels: '{job="app"}'` / `: "<offset>"`); a tailer whose target is gone
  drops its position, so a file whose labels changed is read again from its start.
  Files are read every tick (tail_files), matched again every sync_period.
It does not read the journal or /proc beyond the load average.

Delivery mimics Alloy's writers (grafana/alloy internal/component/common/loki/client
shards.go and metrics.go; Prometheus storage/remote/queue_manager.go): each endpoint has
one batch in flight, sent with the endpoint's auth, headers and tls_config, and retried
with doubling backoff on 429, 5xx or no answer; the outcome of every attempt is counted
under Alloy's own metric names, labelled component_id and component_path as Alloy's
per-component registries are. Nothing here touches component health: Alloy's writers
stay healthy whatever their backend answers.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import math
import os
import re
import socket
import ssl
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (BinaryIO, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Pattern, Sequence, Set,
                    Tuple, Type, cast)
from urllib.parse import SplitResult, urlsplit

from lab_wire import encode_push, encode_write_request

from .syntax import Access, ArrayExpr, Attribute, Block, Call, Expr, Ident, ObjectExpr, chain_name, evaluate_literal

Labels = Dict[str, str]
Series = Tuple[Labels, float, int]  # labels (with __name__), value, timestamp in ms
Entry = Tuple[Labels, int, str]  # stream labels, timestamp in ns, line
Clock = Callable[[], float]
Log = Callable[[str, str], None]  # (level, message)
# A clustered prometheus.scrape's own targets (cluster.ClusterNode.scrape_targets); None: not clustered.
ScrapeTargets = Callable[[Block, Dict[str, Block]], Optional[List[Dict[str, str]]]]


class TargetScrape(NamedTuple):
    """A target's last scrape (scrape_loop.py): Alloy's last_error ("" when the target answered,
    health up) and how long it took."""

    target: Labels
    error: str = ""
    seconds: float = 0.001


TICK_SECONDS = 0.5
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


# ---- configuration values --------------------------------------------------------

def duration(text: str, default: float) -> float:
    parts = _DURATION.findall(text or "")
    return sum(float(n) * _UNITS[u] for n, u in parts) if parts else default


def evaluate(expr: Optional[Expr]) -> object:
    """Constants, sys.env("X"), constants.hostname, arrays and objects of those."""
    if expr is None:
        return None
    if isinstance(expr, Call) and chain_name(expr.target) == "sys.env" and expr.args:
        return os.environ.get(str(evaluate(expr.args[0])), "")
    if isinstance(expr, (Access, Ident)) and chain_name(expr) == "constants.hostname":
        return socket.gethostname()
    if isinstance(expr, ArrayExpr):
        return [evaluate(item) for item in expr.items]
    if isinstance(expr, ObjectExpr):
        return {key: evaluate(value) for key, value in expr.fields}
    try:
        return evaluate_literal(expr)
    except ValueError:
        return None


def attr(block: Block, name: str) -> Optional[Expr]:
    for stmt in block.body:
        if isinstance(stmt, Attribute) and stmt.name == name:
            return stmt.value
    return None


def children(block: Block, name: str) -> List[Block]:
    return [s for s in block.body if isinstance(s, Block) and s.name == name]


def references(expr: Optional[Expr]) -> List[str]:
    """Component IDs referenced by a forward_to list (x.y.label.receiver -> x.y.label)."""
    if not isinstance(expr, ArrayExpr):
        return []
    names = [chain_name(item) for item in expr.items]
    return [name.rsplit(".", 1)[0] for name in names if name]


def relabel(labels: Labels, rules: List[Block]) -> Optional[Labels]:
    """Prometheus relabelling for replace, keep and drop; None when the series is dropped."""
    out = dict(labels)
    for rule in rules:
        action = str(evaluate(attr(rule, "action")) or "replace")
        sources = evaluate(attr(rule, "source_labels"))
        separator = str(evaluate(attr(rule, "separator")) or ";")
        value = separator.join(out.get(str(s), "") for s in (sources if isinstance(sources, list) else []))
        match = re.fullmatch(str(evaluate(attr(rule, "regex")) or "(.*)"), value)
        if action == "keep" and not match or action == "drop" and match:
            return None
        target = evaluate(attr(rule, "target_label"))
        if action == "replace" and match and target:
            replacement = str(evaluate(attr(rule, "replacement")) if attr(rule, "replacement") else "$1")
            out[str(target)] = match.expand(re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", replacement))
    return {k: v for k, v in out.items() if v != ""}


def _text(block: Optional[Block], name: str, default: str = "") -> str:
    value = evaluate(attr(block, name)) if block is not None else None
    return default if value is None else str(value)


def _flag(block: Optional[Block], name: str, default: bool) -> bool:
    value = evaluate(attr(block, name)) if block is not None else None
    return default if value is None else bool(value)


def _number_attr(block: Optional[Block], name: str, default: int) -> int:
    value = evaluate(attr(block, name)) if block is not None else None
    return default if isinstance(value, bool) or not isinstance(value, (int, float)) else int(value)


def _string_map(value: object) -> Labels:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _first(block: Block, name: str) -> Optional[Block]:
    found = children(block, name)
    return found[0] if found else None


# ---- what the pipelines produce --------------------------------------------------

class Producer:
    """One round of the pipelines' data: what each writer receives from its sources."""

    def __init__(self, blocks: Dict[str, Block], scrape_targets: Optional[ScrapeTargets] = None) -> None:
        self.blocks = blocks
        self.scrape_targets = scrape_targets
        self.scraped: Dict[str, List[TargetScrape]] = {}  # prometheus.scrape ID -> its targets' scrapes this round

    def active_targets(self, scrape: Block) -> List[Labels]:
        """The targets a prometheus.scrape scrapes here: a clustered one's own (cluster.py), else
        every one it references (scrape_loop.targets)."""
        from . import scrape_loop  # noqa: PLC0415 - scrape_loop builds on this module
        owned = self.scrape_targets(scrape, self.blocks) if self.scrape_targets else None
        return owned if owned is not None else scrape_loop.targets(scrape, self.blocks)

    def interval(self) -> float:
        scrapes = [b for b in self.blocks.values() if b.name == "prometheus.scrape"]
        return min([duration(_text(b, "scrape_interval"), 60.0) for b in scrapes] or [60.0])

    def samples(self, now_ms: int) -> Iterator[Tuple[str, List[Series]]]:
        """(prometheus.remote_write ID, samples with its external labels) per scrape and sink."""
        for block in self.blocks.values():
            if block.name == "prometheus.scrape":
                yield from self._scrape(block, now_ms)

    def entries(self, now_ms: int) -> Iterator[Tuple[str, Entry]]:
        """(loki.write ID, heartbeat entry with its external labels) per journal source and sink."""
        for block in self.blocks.values():
            if block.name == "loki.source.journal":
                yield from self._journal(block, now_ms)

    def _follow(self, start: Block, labels: Labels) -> Iterator[Tuple[Block, Labels]]:
        """(sink, labels) for every sink that start's forward_to reaches."""
        for cid in references(attr(start, "forward_to")):
            target = self.blocks.get(cid)
            if target is None:
                continue
            if target.name in ("prometheus.relabel", "loki.relabel"):
                changed = relabel(labels, children(target, "rule"))
                if changed is not None:
                    yield from self._follow(target, changed)
            elif target.name == "loki.process":
                extra: Labels = {}
                for stage in children(target, "stage.static_labels"):
                    extra.update(_string_map(evaluate(attr(stage, "values"))))
                yield from self._follow(target, dict(labels, **extra))
            else:
                yield target, labels

    def _scrape(self, scrape: Block, now_ms: int) -> Iterator[Tuple[str, List[Series]]]:
        from . import scrape_loop  # noqa: PLC0415 - scrape_loop builds on this module
        job = _text(scrape, "job_name", scrape.id)
        self.scraped[scrape.id] = done = scrape_loop.scrape_round(scrape, self.active_targets(scrape))
        answered = [("up", 1.0), ("node_load1", os.getloadavg()[0]), ("node_time_seconds", now_ms / 1000)]
        for result in done:  # one series set per target (target labels win)
            values = [("up", 0.0)] if result.error else answered
            for sink, labels in self._follow(scrape, scrape_loop.series_labels(job, result.target)):
                if sink.name != "prometheus.remote_write":
                    continue
                # External labels never override a series' own labels (Prometheus processExternalLabels).
                external = _string_map(evaluate(attr(sink, "external_labels")))
                yield sink.id, [({**external, **labels, "__name__": name}, value, now_ms) for name, value in values]

    def _journal(self, source: Block, now_ms: int) -> Iterator[Tuple[str, Entry]]:
        fields = {"__journal__systemd_unit": "alloy.service", "__journal__hostname": socket.gethostname(),
                  "__journal_priority": "6", "__journal_priority_keyword": "info"}
        rules_expr = attr(source, "relabel_rules")
        rules_ref = chain_name(rules_expr) if rules_expr is not None else None
        rules_block = self.blocks.get(rules_ref.rsplit(".", 1)[0]) if rules_ref else None
        labels = relabel(fields, children(rules_block, "rule")) if rules_block else dict(fields)
        if labels is None:
            return
        labels = {k: v for k, v in labels.items() if not k.startswith("__")}
        labels.update(_string_map(evaluate(attr(source, "labels"))))
        line = f"alloy stand-in heartbeat from {socket.gethostname()}"
        for sink_id, final in self.loki_sinks(source, labels):
            yield sink_id, (final, now_ms * 1_000_000, line)

    def prometheus_sinks(self, source: Block, labels: Labels) -> Iterator[Tuple[str, Labels]]:
        """(prometheus.remote_write ID, the series' final labels) for every remote_write that
        source's forward_to reaches (otelcol.exporter.prometheus); external labels never
        override the series' own."""
        for sink, final in self._follow(source, labels):
            if sink.name == "prometheus.remote_write":
                external = _string_map(evaluate(attr(sink, "external_labels")))
                yield sink.id, {**external, **final}

    def loki_sinks(self, source: Block, labels: Labels) -> Iterator[Tuple[str, Labels]]:
        """(loki.write ID, the entry's final labels) for every loki.write that source's forward_to
        reaches; the writer's external_labels never override the entry's own."""
        for sink, final in self._follow(source, labels):
            if sink.name == "loki.write":
                external = _string_map(evaluate(attr(sink, "external_labels")))
                yield sink.id, {**external, **final}


# ---- log files: local.file_match and loki.source.file ----------------------------

READ_LIMIT = 1 << 20  # bytes read from one file per pass (the rest next tick), completed to a newline
_MAGIC = frozenset("*?[\\")
_NEVER = re.compile(r"(?!)")


def expand_braces(pattern: str) -> List[str]:
    """The pattern with every {a,b} alternative (nested too) spelled out, left to right:
    "/x/*.{log,txt}" -> ["/x/*.log", "/x/*.txt"]; an unmatched brace stays as it is."""
    depth, start, i = 0, 0, 0
    commas: List[int] = []
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 1
        elif char == "{":
            depth += 1
            if depth == 1:
                start, commas = i, []
        elif char == "," and depth == 1:
            commas.append(i)
        elif char == "}" and depth:
            depth -= 1
            if not depth:
                cuts, head, tail = [start, *commas, i], pattern[:start], pattern[i + 1:]
                return [out for a, b in zip(cuts, cuts[1:]) for out in expand_braces(head + pattern[a + 1:b] + tail)]
        i += 1
    return [pattern]


def _element(part: str) -> Pattern[str]:
    """One path element of a glob (no "/" nor braces) as a regex: * any run, ? one character,
    [...] a class ([!...] or [^...] negated), \\x x itself; a bad class matches nothing."""
    out: List[str] = []
    i = 0
    while i < len(part):
        char, close = part[i], part.find("]", i + 2) if part[i] == "[" else -1
        if char in "*?":
            out.append(".*" if char == "*" else ".")
        elif char == "\\" and i + 1 < len(part):
            i += 1
            out.append(re.escape(part[i]))
        elif close > 0:
            body = part[i + 1:close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + "^" * negate + "".join(c if c == "-" else re.escape(c) for c in body) + "]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return _NEVER


def _elements(path: str) -> Tuple[str, List[str]]:
    """("/" or "", the non-empty elements) of a path or glob."""
    return ("/" if path.startswith("/") else ""), [part for part in path.split("/") if part]


def _entries(folder: str) -> List[Tuple[str, bool]]:
    """(name, is a directory and not a symlink) of folder's entries, sorted; none if unreadable."""
    try:
        with os.scandir(folder or ".") as found:
            return sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in found)
    except OSError:
        return []


def _walk(base: str, parts: Sequence[str]) -> Iterator[str]:
    """The existing paths below base that match the glob elements parts ("**": any depth)."""
    if not parts:
        if base and os.path.lexists(base):
            yield base
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _walk(base, rest)
        for name, is_dir in _entries(base):
            if is_dir:
                yield from _walk(os.path.join(base, name), parts)
    elif _MAGIC.isdisjoint(head):
        yield from _walk(os.path.join(base, head), rest)
    else:
        regex = _element(head)
        for name, _ in _entries(base):
            if regex.fullmatch(name):
                yield from _walk(os.path.join(base, name), rest)


def glob_paths(pattern: str) -> List[str]:
    """doublestar.FilepathGlob: the paths that match pattern, sorted, each once."""
    found: Set[str] = set()
    for alternative in expand_braces(pattern):
        root, parts = _elements(alternative)
        found.update(_walk(root, parts))
    return sorted(found)


def _match_elements(parts: Sequence[str], names: Sequence[str]) -> bool:
    if not parts:
        return not names
    if parts[0] == "**":
        return any(_match_elements(parts[1:], names[skip:]) for skip in range(len(names) + 1))
    return bool(names) and _element(parts[0]).fullmatch(names[0]) is not None \
        and _match_elements(parts[1:], names[1:])


def glob_match(pattern: str, path: str) -> bool:
    """doublestar.PathMatch: whether the whole path matches pattern (* within one element)."""
    root, names = _elements(path)
    for alternative in expand_braces(pattern):
        other, parts = _elements(alternative)
        if other == root and _match_elements(parts, names):
            return True
    return False


def _targets(value: object) -> List[Labels]:
    """An evaluated list of targets (objects of strings)."""
    return [_string_map(item) for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def match_files(targets: Sequence[Labels], ignore_older_than: float = 0.0, now: float = 0.0) -> List[Labels]:
    """local.file_match (watch.go getPaths): one target per regular file that __path__ matches and
    __path_exclude__ does not, with its labels and __path__ set to the file's absolute path;
    with ignore_older_than, files not modified since then are left out."""
    found: List[Labels] = []
    for target in targets:
        exclude = target.get("__path_exclude__", "")
        for match in glob_paths(target.get("__path__", "")):
            if exclude and glob_match(exclude, match):
                continue
            path = os.path.abspath(match)
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and not (ignore_older_than and info.st_mtime < now - ignore_older_than):
                found.append(dict(target, __path__=path))
    return found


class PositionEntry(NamedTuple):
    """positions.Entry, the key of a position: a file and the String() of the labels its
    tailer was started with (the target's labels less the reserved "__" ones)."""
    path: str
    labels: str


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(value: str) -> str:
    """Go's strconv.Quote: printable characters kept, `"` and `\\` escaped, the rest as \\a..\\v,
    \\xNN (control characters, bytes that are no UTF-8), \\uNNNN or \\UNNNNNNNN."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("".join(f"\\x{byte:02x}" for byte in char.encode("utf-8", "surrogatepass")))
        elif char.isprintable():  # unicode.IsPrint: letters, marks, numbers, punctuation, symbols, " "
            out.append(char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out) + '"'


def label_set_string(labels: Labels) -> str:
    """model.LabelSet.String() (prometheus/common labelset_string.go): `{a="1", b="2"}`, names
    sorted, values quoted by strconv.Quote; `{}` for no labels."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


# ---- positions.yml as gopkg.in/yaml.v2 writes and reads File{Positions: map[Entry]string} ----

_WIDTH = 80  # yaml.v2's best_width: a quoted or plain scalar breaks at a space past it
_NOT_STRINGS = re.compile(  # plain scalars yaml.v2 resolves to something else than a string
    r"|~|null|Null|NULL|[yY]|yes|Yes|YES|[nN]|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|[-+]?0[xX][0-9a-fA-F_]+|[-+]?0b[01_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?|<<")
_YAML_OUT = {"\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f", "\r": "r", "\x1b": "e",
             '"': '"', "\\": "\\", "\x85": "N", "\u2028": "L", "\u2029": "P"}
_YAML_IN = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
            "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028",
            "P": "\u2029"}
_YAML_HEX = {"x": 2, "u": 4, "U": 8}
_FIELD = re.compile(r"""(["']?)([A-Za-z_][\w-]*)\1[ \t]*:(?=[ \t]|$)""")
_TOP = re.compile(r"""(["']?)positions\1[ \t]*:(?=[ \t]|$)""")
_BINARY = ("!!binary", "!<tag:yaml.org,2002:binary>")
_STRING = ("", "!!str", "!<tag:yaml.org,2002:str>")


def _printable(char: str) -> bool:
    """yaml.v2's is_printable less line breaks: what a single-quoted scalar may hold as is."""
    code = ord(char)
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029)
            or 0xE000 <= code <= 0xFFFD and code != 0xFEFF)


def _style(value: str) -> str:
    """The quote yaml.v2 puts around a string in block context ("" for plain): double where
    plain would not read back as that string or a character must be escaped, single where a
    plain scalar may not start or hold what value does."""
    if _NOT_STRINGS.fullmatch(value) or not all(_printable(char) for char in value):
        return '"'
    if (value[0] in " #,[]{}&*!|>'\"%@`" or value[0] in "?:-" and value[1:2] in ("", " ")
            or value[-1] in " :" or ": " in value or " #" in value or value.startswith(("---", "..."))):
        return "'"
    return ""


def _yaml_string(value: str, column: int, indent: int) -> str:
    """value as yaml.v2 writes a string that starts at column: a line past 80 columns breaks at
    a single space and goes on at indent; bytes that are no UTF-8 go as !!binary base64."""
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        encoded = base64.b64encode(data).decode("ascii")
        if len(encoded) < 70:  # yaml.v2 encodeBase64: 70 characters a line, a literal block past one
            return "!!binary " + encoded
        return "!!binary |" + "".join(f"\n{' ' * indent}{encoded[i:i + 70]}" for i in range(0, len(encoded), 70))
    quote = _style(value)
    out, column, spaces, last = [quote], column + len(quote), False, len(value) - 1
    for i, char in enumerate(value):
        if char == " ":
            lone = value[i + 1:i + 2] != " "
            if not spaces and column > _WIDTH and (0 < i < last or not quote) and (lone or quote == '"'):
                out.append("\n" + " " * indent + ("" if lone else "\\"))
                column = indent + (0 if lone else 1)
            else:
                out.append(" ")
                column += 1
            spaces = True
            continue
        piece = char
        if quote == "'" and char == "'":
            piece = "''"
        elif quote == '"' and (char in '"\\' or not _printable(char)):
            code = ord(char)
            piece = "\\" + _YAML_OUT.get(char, f"x{code:02X}" if code <= 0xFF else
                                         f"u{code:04X}" if code <= 0xFFFF else f"U{code:08X}")
        out.append(piece)
        column += len(piece)
        spaces = False
    return "".join(out) + quote


def positions_yaml(positions: Dict[PositionEntry, str]) -> str:
    """positions.yml as Alloy writes it (yaml.v2 Marshal of File): each key a complex key,
    `? path: ...` then `labels: ...` under it, then `: "<offset>"`; in (path, labels) order
    where Alloy's is random."""
    if not positions:
        return "positions: {}\n"
    out = ["positions:\n"]
    for entry in sorted(positions):
        out.append(f"  ? path: {_yaml_string(entry.path, 10, 6)}\n"
                   f"    labels: {_yaml_string(entry.labels, 12, 6)}\n"
                   f"  : {_yaml_string(str(positions[entry]), 4, 4)}\n")
    return "".join(out)


def _uncomment(text: str) -> str:
    return re.split(r"(?:^|[ \t])#", text, maxsplit=1)[0].strip(" \t")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _quoted(lines: List[str], row: int, col: int) -> Tuple[str, int, int]:
    """The single- or double-quoted scalar opening at lines[row][col], folded over its lines as
    YAML does: its value, the row of its closing quote and the column after it."""
    quote, col = lines[row][col], col + 1
    out: List[str] = []
    keep = 0  # out[keep:] are blanks a line break cuts
    while True:
        line = lines[row]
        escaped = quote == '"' and col == len(line) - 1 and line[col] == "\\"
        if col >= len(line) or escaped:
            if not escaped:
                del out[keep:]
            row, blank = row + 1, 0
            while row < len(lines) and not lines[row].strip(" \t"):
                row, blank = row + 1, blank + 1
            if row >= len(lines):
                raise ValueError("a quoted scalar without its closing quote")
            out.append("\n" * blank if blank or escaped else " ")
            keep, col = len(out), len(lines[row]) - len(lines[row].lstrip(" \t"))
            continue
        char = line[col]
        if char == quote:
            if quote == "'" and line[col + 1:col + 2] == "'":
                out.append("'")
                keep, col = len(out), col + 2
                continue
            return "".join(out), row, col + 1
        if quote == '"' and char == "\\":
            code = line[col + 1]
            if code in _YAML_HEX:
                digits = line[col + 2:col + 2 + _YAML_HEX[code]]
                if len(digits) != _YAML_HEX[code] or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise ValueError(f"a bad escape \\{code}{digits}")
                out.append(chr(int(digits, 16)))
                col += 2 + len(digits)
            elif code in _YAML_IN:
                out.append(_YAML_IN[code])
                col += 2
            else:
                raise ValueError(f"an unknown escape \\{code}")
            keep = len(out)
            continue
        out.append(char)
        col += 1
        if char not in " \t":
            keep = len(out)


def _block(lines: List[str], row: int, parent: int, header: str) -> Tuple[str, int]:
    """A literal block scalar (`|`, `|-`, `|+`, with an indentation digit or not) whose lines
    start at row, under a key at column parent: its value and the row after it."""
    if header[0] != "|" or not re.fullmatch(r"\|(?:[1-9]?[-+]?|[-+][1-9])", header):
        raise ValueError(f"a block scalar {header!r} that is not literal")
    digits = [int(c) for c in header if c.isdigit()]
    indent: Optional[int] = parent + digits[0] if digits else None
    body: List[str] = []
    while row < len(lines):
        line = lines[row]
        if not line.strip(" "):
            body.append("")
        elif indent is None and _indent(line) > parent or indent is not None and _indent(line) >= indent:
            indent = _indent(line) if indent is None else indent
            body.append(line[indent:])
        else:
            break
        row += 1
    trailing = 0
    while body and not body[-1]:
        body.pop()
        trailing += 1
    text = "\n".join(body)
    if not body or "-" in header:
        return text, row
    return text + "\n" * (1 + trailing if "+" in header else 1), row


def _scalar(lines: List[str], row: int, col: int, parent: int) -> Tuple[str, int]:
    """The string at lines[row][col:], the value of a key at column parent (plain, quoted or a
    literal block, tagged !!str or !!binary or not): its value and the row after it."""
    line = lines[row]
    col = len(line) - len(line[col:].lstrip(" \t"))
    tag = ""
    if line.startswith("!", col):
        tag = line[col:].split()[0]
        col = len(line) - len(line[col + len(tag):].lstrip(" \t"))
    if tag not in _BINARY + _STRING:
        raise ValueError(f"a {tag} where a string was expected")
    if line[col:col + 1] in ("'", '"'):
        value, row, col = _quoted(lines, row, col)
        if _uncomment(lines[row][col:]):
            raise ValueError(f"text after a quoted scalar: {lines[row][col:]!r}")
        row += 1
    elif line[col:col + 1] in ("|", ">"):
        value, row = _block(lines, row + 1, parent, _uncomment(line[col:]))
    else:
        value, row, folded = _uncomment(line[col:]), row + 1, False
        while row < len(lines):  # a plain scalar goes on over the lines indented past its key
            after = row
            while after < len(lines) and not lines[after].strip(" \t"):
                after += 1
            more = lines[after] if after < len(lines) else ""
            if not more.strip() or _indent(more) <= parent or more.lstrip(" \t").startswith("#"):
                break
            part = _uncomment(more)
            value = value + ("\n" * (after - row) or " ") + part if value else part
            row, folded = after + 1, True
        if not folded and value in ("~", "null", "Null", "NULL"):
            value = ""  # null leaves a Go string empty
    if tag in _BINARY:
        value = base64.b64decode("".join(value.split()), validate=True).decode("utf-8", "surrogateescape")
    return value, row


def _field(entry: Dict[str, str], lines: List[str], row: int, col: int) -> int:
    """One `name: value` of a key's mapping at lines[row][col:]: path and labels are kept,
    other names ignored as yaml.v2 does; the row after it."""
    found = _FIELD.match(lines[row], col)
    if not found:
        raise ValueError(f"line {row + 1}: expected path: or labels:, found {lines[row][col:]!r}")
    value, after = _scalar(lines, row, found.end(), col)
    entry[found.group(2)] = value
    return after


def _position_entries(lines: List[str], row: int, positions: Dict[PositionEntry, str]) -> int:
    """The complex keys and values of the positions mapping from row on; the row after them."""
    entry: Optional[Dict[str, str]] = None
    indent = 0
    while row < len(lines):
        line = lines[row]
        body = line.lstrip(" ")
        if not body.strip() or body.startswith("#"):
            row += 1
            continue
        if line == body:
            break
        if body[0] == "?" and body[1:2] in ("", " "):
            if entry is not None:
                raise ValueError(f"line {row + 1}: a key without a value")
            entry, indent = {}, _indent(line)
            rest = body[1:].lstrip(" ")
            row = _field(entry, lines, row, len(line) - len(rest)) if rest.strip() else row + 1
        elif body[0] == ":" and body[1:2] in ("", " "):
            if entry is None or _indent(line) != indent:
                raise ValueError(f"line {row + 1}: a value without a key")
            value, row = _scalar(lines, row, _indent(line) + 1, indent)
            positions[PositionEntry(entry.get("path", ""), entry.get("labels", ""))] = value
            entry = None
        elif entry is not None and _indent(line) > indent:
            row = _field(entry, lines, row, _indent(line))
        else:
            raise ValueError(f"line {row + 1}: {line!r} is no position of Alloy's (path and labels)")
    if entry is not None:
        raise ValueError("a key without a value at the end")
    return row


def parse_positions(text: str) -> Dict[PositionEntry, str]:
    """The positions of a positions.yml (readPositionsFile): the `positions` mapping of complex
    keys as Alloy writes it, other top-level properties ignored. ValueError for what yaml.v2
    would refuse, Promtail's old `<file>: "<offset>"` form included (Alloy reads that only
    through legacy_positions_file)."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    positions: Dict[PositionEntry, str] = {}
    row = 0
    while row < len(lines):
        line = lines[row]
        row += 1
        found = _TOP.match(line)
        if not found:
            continue  # blank, a comment, a document marker or another property (or its lines)
        rest = _uncomment(line[found.end():])
        if rest in ("", "~", "null", "Null", "NULL", "{}"):
            row = _position_entries(lines, row, positions) if not rest else row
        else:
            raise ValueError(f"line {row}: positions as {rest!r}")
    return positions


def read_positions(path: Path) -> Dict[PositionEntry, str]:
    """positions.yml read back: (path, labels) -> offset as written; nothing when it is missing,
    unreadable or no YAML Alloy would read (where Alloy would refuse to start the component)."""
    try:
        return parse_positions(path.read_text(encoding="utf-8", errors="surrogateescape"))
    except (OSError, ValueError, IndexError):
        return {}


def write_positions(path: Path, positions: Dict[PositionEntry, str]) -> None:
    """positions.yml written whole as renameio.WriteFile does for Alloy (write_positions_unix.go):
    a temporary file beside it, mode 0600, synced, renamed over it."""
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(positions_yaml(positions))
            out.flush()
            os.fchmod(out.fileno(), 0o600)
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _offset(value: Optional[str]) -> int:
    """positions.Get: the stored offset, 0 for none; a value that is no offset counts as 0, as
    on_positions_file_error's default (restart_from_beginning) has it."""
    return int(value) if value is not None and re.fullmatch(r"\+?[0-9]{1,18}", value) else 0


def _after_last_newline(handle: BinaryIO, size: int) -> int:
    """tail_from_end's start (tail/util.go lastNewline): just after the file's last newline."""
    end = size
    while end > 0:
        start = max(0, end - 4096)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _line(raw: bytes) -> str:
    return (raw[:-1] if raw.endswith(b"\r") else raw).decode("utf-8", errors="replace")


@dataclass
class _Tailer:
    """A running tailer: the file it has open ((device, inode)) and the offset it has read to."""
    identity: Tuple[int, int]
    offset: int


class FileSource:
    """A loki.source.file's tailers, one per (file, labels) as Alloy's scheduler keys them
    (positions.Entry), and their positions, kept in <storage>/<component id>/positions.yml
    (Alloy: filepath.Join(DataPath, "positions.yml")), read back when the component starts."""

    def __init__(self, component_id: str, storage: Path) -> None:
        self.id = component_id
        self.positions_file = storage / component_id / "positions.yml"
        self.positions: Dict[PositionEntry, str] = read_positions(self.positions_file)
        self._tailers: Dict[PositionEntry, _Tailer] = {}
        self._denied: Set[PositionEntry] = set()  # tailers whose unreadable file was logged
        self._unwritable = False  # the last write failed: written again only on a change

    def tail(self, targets: Sequence[Labels], from_end: bool, log: Log) -> List[Tuple[Labels, str]]:
        """(labels, line) for the new complete lines of every target's file: the target's labels
        less the reserved "__" ones, plus filename. Each (file, labels) is read on its own, so a
        file of two label sets is sent twice. A tailer whose (file, labels) is gone from the
        targets stops and drops its position (tailer.go: the component is not stopping), so a
        file whose labels changed is read again from its start; positions of files that no
        longer exist are dropped (positions.go cleanup), others no tailer runs for are kept."""
        wanted: Dict[PositionEntry, Labels] = {}
        for target in targets:
            path = target.get("__path__", "")
            labels = {k: v for k, v in target.items() if not k.startswith("__")}
            key = PositionEntry(path, label_set_string(labels))
            if path and key not in wanted:
                wanted[key] = dict(labels, filename=path)
        before = dict(self.positions)
        for gone in set(self._tailers).difference(wanted):
            del self._tailers[gone]
            self.positions.pop(gone, None)
        self._denied.intersection_update(wanted)
        lines = [(labels, line) for key, labels in wanted.items() for line in self._read(key, from_end, log)]
        self._cleanup()
        # Alloy saves every 10 s (sync_period): here on a change, or when the file went missing.
        if self.positions != before or not (self._unwritable or self.positions_file.exists()):
            try:
                write_positions(self.positions_file, self.positions)
                self._unwritable = False
            except OSError as err:
                self._unwritable = True
                log("warn", f"{self.id}: cannot write {self.positions_file}: {err}")
        return lines

    def _cleanup(self) -> None:
        """positions.go cleanup: positions of files that no longer exist are dropped (not the
        cursor-/journal- ones, which are no files)."""
        for key in list(self.positions):
            if key.path.startswith(("cursor-", "journal-")):
                continue
            try:
                os.stat(key.path)
            except FileNotFoundError:
                del self.positions[key]
            except (OSError, ValueError):
                pass

    def _read(self, key: PositionEntry, from_end: bool, log: Log) -> List[str]:
        """The complete lines added to key's file since its tailer's offset, which moves past
        them; the position is put only when lines were read (tailer.go updateStats)."""
        path = key.path
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return []
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                start = self._start(key, handle, info, from_end)
                handle.seek(start)
                data = handle.read(READ_LIMIT)
                data += handle.readline() if len(data) == READ_LIMIT else b""
        except PermissionError as err:
            if key not in self._denied:
                self._denied.add(key)
                log("warn", f"{self.id}: failed to tail file {path}: {err}")
            return []
        except (OSError, ValueError):  # gone since it was matched
            return []
        self._denied.discard(key)
        end = data.rfind(b"\n") + 1  # a partial last line waits for its newline
        self._tailers[key].offset = start + end
        if end:
            self.positions[key] = str(start + end)
        return [_line(raw) for raw in data[:end].split(b"\n")[:-1]]

    def _start(self, key: PositionEntry, handle: BinaryIO, info: os.stat_result, from_end: bool) -> int:
        """Where to read from. A tailer starting (tailer.go initRun): its stored position, 0 and
        the position dropped when the file is smaller, with none (or 0) 0 or (tail_from_end)
        just after the last newline. A running one: its offset, 0 when the file shrank below
        it or another file took the path."""
        identity = (info.st_dev, info.st_ino)
        tailer = self._tailers.get(key)
        if tailer is None:
            position = _offset(self.positions.get(key))
            if info.st_size < position:
                self.positions.pop(key, None)
                position = 0
            elif not position and from_end:
                position = _after_last_newline(handle, info.st_size)
            self._tailers[key] = _Tailer(identity, position)
            return position
        if tailer.identity != identity or info.st_size < tailer.offset:
            tailer.identity = identity
            return 0
        return tailer.offset


# ---- metrics in the Prometheus text format ---------------------------------------

FAMILIES: Dict[str, Tuple[str, str]] = {
    "loki_write_sent_entries_total": ("counter", "Number of log entries sent to the ingester."),
    "loki_write_sent_bytes_total": ("counter", "Number of bytes sent."),
    "loki_write_dropped_entries_total": (
        "counter", "Number of log entries dropped because failed to be sent to the ingester after all retries."),
    "loki_write_dropped_bytes_total": (
        "counter", "Number of bytes dropped because failed to be sent to the ingester after all retries."),
    "loki_write_batch_retries_total": ("counter", "Number of times batches has had to be retried."),
    "loki_write_request_duration_seconds": ("histogram", "Duration of send requests."),
    "prometheus_remote_storage_samples_total": ("counter", "Total number of samples sent to remote storage."),
    "prometheus_remote_storage_samples_failed_total": (
        "counter", "Total number of samples which failed on send to remote storage, non-recoverable errors."),
    "prometheus_remote_storage_samples_retried_total": (
        "counter", "Total number of samples which failed on send to remote storage but were retried because "
                   "the send error was recoverable."),
    "prometheus_remote_storage_samples_dropped_total": (
        "counter", "Total number of samples which were dropped after being read from the WAL before being sent "
                   "via remote write, either via relabelling, due to being too old or unintentionally because of "
                   "an unknown reference ID."),
    "prometheus_remote_storage_samples_pending": (
        "gauge", "The number of samples pending in the queues shards to be sent to the remote storage."),
    "prometheus_remote_storage_queue_highest_sent_timestamp_seconds": (
        "gauge", "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds "
                 "since epoch. Initialized to 0 when no data has been sent yet."),
    "prometheus_remote_storage_highest_timestamp_in_seconds": (
        "gauge", "Highest timestamp that has come into the remote storage via the Appender interface, in seconds "
                 "since epoch. Initialized to 0 when no data has been received yet."),
    "prometheus_remote_write_wal_samples_appended_total": ("counter", "Total number of samples appended to the WAL"),
}
BUCKETS: Tuple[float, ...] = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)  # Prometheus DefBuckets
Sample = Tuple[str, str, Labels, float]  # family, sample name, labels, value
_Key = Tuple[str, Tuple[Tuple[str, str], ...]]


def number_text(value: float) -> str:
    """A sample value or bucket bound as the Prometheus text format writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def labels_text(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


class Registry:
    """One component's metrics, every series labelled component_id and component_path like
    Alloy's wrapped per-component registries; thread-safe."""

    def __init__(self, component_id: str) -> None:
        self.const = {"component_id": component_id, "component_path": "/"}
        self._lock = threading.Lock()
        self._values: Dict[_Key, float] = {}
        self._histograms: Dict[_Key, List[float]] = {}  # cumulative bucket counts, +Inf, then sum

    def _key(self, name: str, labels: Labels) -> _Key:
        return name, tuple(sorted({**labels, **self.const}.items()))

    def add(self, name: str, labels: Labels, amount: float = 1.0) -> None:
        key = self._key(name, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def raise_to(self, name: str, labels: Labels, value: float) -> None:
        key = self._key(name, labels)
        with self._lock:
            self._values[key] = max(self._values.get(key, 0.0), value)

    def observe(self, name: str, labels: Labels, value: float) -> None:
        key = self._key(name, labels)
        with self._lock:
            counts = self._histograms.setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for index, bound in enumerate(BUCKETS):
                if value <= bound:
                    counts[index] += 1
            counts[-2] += 1
            counts[-1] += value

    def forget(self, **match: str) -> None:
        """Removes the series whose labels include match (a queue that is gone)."""
        with self._lock:
            for store in (self._values, self._histograms):
                for key in [k for k in store if match.items() <= dict(k[1]).items()]:
                    del store[key]

    def samples(self) -> List[Sample]:
        with self._lock:
            values = sorted(self._values.items())
            histograms = sorted((key, list(counts)) for key, counts in self._histograms.items())
        out: List[Sample] = [(name, name, dict(labels), value) for (name, labels), value in values]
        for (name, labels), counts in histograms:
            for bound, count in zip(BUCKETS + (math.inf,), counts[:len(BUCKETS) + 1]):
                out.append((name, f"{name}_bucket", dict(labels, le=number_text(bound)), count))
            out.append((name, f"{name}_sum", dict(labels), counts[-1]))
            out.append((name, f"{name}_count", dict(labels), counts[-2]))
        return out


def render(samples: Iterable[Sample]) -> str:
    """Prometheus text format: per family its HELP and TYPE lines, then its samples."""
    families: Dict[str, List[str]] = {}
    for family, name, labels, value in samples:
        families.setdefault(family, []).append(f"{name}{labels_text(labels)} {number_text(value)}")
    lines: List[str] = []
    for family in sorted(families):
        kind, help_text = FAMILIES.get(family, ("untyped", family))
        lines += [f"# HELP {family} {_escape_help(help_text)}", f"# TYPE {family} {kind}", *families[family]]
    return "\n".join(lines) + "\n" if lines else ""


# ---- endpoints: configuration, auth, TLS, one POST -------------------------------

@dataclass
class Endpoint:
    """An endpoint block of loki.write (kind "loki") or prometheus.remote_write ("prometheus"), or
    a prometheus.scrape's client settings ("scrape": its auth and tls_config)."""

    kind: str
    url: str
    name: str = ""
    tenant: str = ""
    headers: Labels = field(default_factory=dict)
    bearer_token: str = ""
    bearer_token_file: str = ""
    basic_auth: Optional[Tuple[str, str, str]] = None  # username, password, password_file
    authorization: Optional[Tuple[str, str, str]] = None  # type, credentials, credentials_file
    tls: Dict[str, object] = field(default_factory=dict)
    timeout: float = 10.0
    min_backoff: float = 0.5
    max_backoff: float = 300.0
    max_retries: int = 10  # 0: retry for ever
    retry_429: bool = True
    max_per_send: int = 0  # samples per request (prometheus); 0: no limit

    @property
    def key(self) -> Tuple[str, str]:
        return self.url, self.name


def endpoint(kind: str, block: Block) -> Endpoint:
    """The evaluated endpoint block, with Alloy's defaults for what it leaves out."""
    ep = Endpoint(kind=kind, url=_text(block, "url"), name=_text(block, "name"),
                  headers=_string_map(evaluate(attr(block, "headers"))),
                  bearer_token=_text(block, "bearer_token"), bearer_token_file=_text(block, "bearer_token_file"))
    basic, auth, tls = _first(block, "basic_auth"), _first(block, "authorization"), _first(block, "tls_config")
    if basic is not None:
        ep.basic_auth = (_text(basic, "username"), _text(basic, "password"), _text(basic, "password_file"))
    if auth is not None:
        ep.authorization = (_text(auth, "type", "Bearer"), _text(auth, "credentials"),
                            _text(auth, "credentials_file"))
    if tls is not None:
        ep.tls = {s.name: evaluate(s.value) for s in tls.body if isinstance(s, Attribute)}
    if kind == "loki":
        ep.tenant = _text(block, "tenant_id")
        ep.timeout = duration(_text(block, "remote_timeout"), 10.0)
        ep.min_backoff = duration(_text(block, "min_backoff_period"), 0.5)
        ep.max_backoff = duration(_text(block, "max_backoff_period"), 300.0)
        ep.max_retries = _number_attr(block, "max_backoff_retries", 10)
        ep.retry_429 = _flag(block, "retry_on_http_429", True)
    elif kind == "prometheus":
        queue = _first(block, "queue_config")
        ep.timeout = duration(_text(block, "remote_timeout"), 30.0)
        ep.min_backoff = duration(_text(queue, "min_backoff"), 0.03)
        ep.max_backoff = duration(_text(queue, "max_backoff"), 5.0)
        ep.max_retries = 0
        ep.retry_429 = _flag(queue, "retry_on_http_429", True)
        ep.max_per_send = _number_attr(queue, "max_samples_per_send", 2000)
    return ep


def remote_name(ep: Endpoint) -> str:
    """The remote_name label: the endpoint's name, else a short hash (of the URL here; real
    Prometheus hashes the whole endpoint configuration)."""
    return ep.name or hashlib.sha256(ep.url.encode()).hexdigest()[:6]


def _secret(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def auth_header(ep: Endpoint) -> str:
    """The Authorization header of the endpoint's auth method ("" for none); files are read
    at every request, as Alloy's HTTP client does."""
    if ep.bearer_token or ep.bearer_token_file:
        return f"Bearer {ep.bearer_token or _secret(ep.bearer_token_file)}"
    if ep.basic_auth is not None:
        user, password, password_file = ep.basic_auth
        password = _secret(password_file) if password_file else password
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if ep.authorization is not None:
        kind, credentials, credentials_file = ep.authorization
        return f"{kind} {_secret(credentials_file) if credentials_file else credentials}"
    return ""


def request_headers(ep: Endpoint, base: Labels) -> Labels:
    """base, X-Scope-OrgID (loki), the custom headers that set nothing already set, then auth."""
    headers = dict(base)
    if ep.kind == "loki" and ep.tenant:
        headers["X-Scope-OrgID"] = ep.tenant
    present = {k.lower() for k in headers}
    for key, value in ep.headers.items():
        if key.lower() not in present:
            headers[key] = value
            present.add(key.lower())
    auth = "" if "authorization" in present else auth_header(ep)
    if auth:
        headers["Authorization"] = auth
    return headers


def tls_context(tls: Dict[str, object]) -> ssl.SSLContext:
    """An ssl context for tls_config: ca_file / ca_pem, the client certificate, insecure_skip_verify,
    min_version (TLS 1.2 at least, as Go's client)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if str(tls.get("min_version") or "").upper() == "TLS13":
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    if tls.get("insecure_skip_verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.get("ca_file") or tls.get("ca_pem"):
        if tls.get("ca_file"):
            context.load_verify_locations(cafile=str(tls["ca_file"]))
        if tls.get("ca_pem"):
            context.load_verify_locations(cadata=str(tls["ca_pem"]))
    else:
        context.load_default_certs()
    _client_certificate(context, tls)
    return context


def _client_certificate(context: ssl.SSLContext, tls: Dict[str, object]) -> None:
    """cert_file + key_file, or cert_pem + key_pem (through files: ssl loads chains from files only)."""
    if tls.get("cert_file"):
        context.load_cert_chain(str(tls["cert_file"]), str(tls.get("key_file") or "") or None)
    elif tls.get("cert_pem"):
        with tempfile.TemporaryDirectory() as folder:
            cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert.write_text(str(tls["cert_pem"]))
            key.write_text(str(tls.get("key_pem") or ""))
            context.load_cert_chain(str(cert), str(key) if tls.get("key_pem") else None)


class NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate is checked for tls_config.server_name when one is set."""

    def __init__(self, host: str, port: Optional[int], server_name: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_name = server_name
        self.tls = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.server_name or self.host)


def _connection(ep: Endpoint, parts: SplitResult) -> http.client.HTTPConnection:
    host = parts.hostname or ""
    if parts.scheme == "https":
        return NamedHTTPSConnection(host, parts.port, str(ep.tls.get("server_name") or ""), tls_context(ep.tls),
                                ep.timeout)
    return http.client.HTTPConnection(host, parts.port, timeout=ep.timeout)


def exchange(ep: Endpoint, method: str, payload: Optional[bytes], headers: Labels) -> Tuple[int, str, bytes]:
    """(HTTP status, reason, the body's first KiB) of one request to ep.url with ep's tls_config
    and timeout; OSError, http.client.HTTPException or ValueError when no answer came."""
    parts = urlsplit(ep.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _connection(ep, parts)
    try:
        connection.request(method, path, body=payload, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.reason, answer.read(1024)
    finally:
        connection.close()


def post(ep: Endpoint, payload: bytes, base_headers: Labels) -> Tuple[int, str]:
    """(HTTP status, outcome text) of one POST; status -1 when no HTTP answer came
    (refused, timed out, TLS failure, unreadable credentials file)."""
    try:
        status, _, body = exchange(ep, "POST", payload, request_headers(ep, base_headers))
    except (OSError, http.client.HTTPException, ValueError) as err:
        return -1, f"error: {err}"
    if 200 <= status < 300:
        return status, f"HTTP {status}"
    first_line = body.decode(errors="replace").splitlines()[0][:300] if body.strip() else ""
    return status, f"HTTP {status}: {first_line}"


def user_agent(version: str) -> str:
    """Alloy's User-Agent: Alloy/vX.Y.Z (linux; <ALLOY_DEPLOY_MODE or binary>)."""
    mode = os.environ.get("ALLOY_DEPLOY_MODE", "")
    mode = mode if mode in ("operator", "helm", "docker", "deb", "rpm", "brew") else "binary"
    return f"Alloy/v{version.lstrip('v')} (linux; {mode})"


# ---- per-endpoint queues ----------------------------------------------------------

@dataclass
class Batch:
    items: List[object]
    payload: bytes
    count: int  # entries or samples
    newest_ms: int = 0  # newest sample timestamp (prometheus)
    failures: int = 0  # recoverable failures so far
    due: float = 0.0  # clock time of the next attempt
    exhausted: bool = False  # no retries left: dropped when due (loki)
    last_status: int = 0


def backoff(ep: Endpoint, failures: int) -> float:
    """The wait after the n-th recoverable failure: min_backoff doubling up to max_backoff."""
    return min(ep.min_backoff * 2.0 ** min(failures - 1, 64), ep.max_backoff)


class EndpointQueue:
    """What one endpoint has still to deliver. One batch is in flight at a time (one shard);
    what arrives meanwhile waits behind it, as in Alloy."""

    base_headers: Labels = {}

    def __init__(self, ep: Endpoint, metrics: Registry, clock: Clock) -> None:
        self.endpoint = ep
        self.metrics = metrics
        self.clock = clock
        self.lock = threading.Lock()
        self.queued: List[object] = []
        self.batch: Optional[Batch] = None
        self.busy = False
        self.outcome = ""  # "HTTP 204", "HTTP 401: ...", "error: ..." of the last attempt

    @property
    def labels(self) -> Labels:
        raise NotImplementedError

    def append(self, items: Sequence[object]) -> None:
        with self.lock:
            self.queued.extend(items)
            self._appended(len(items))

    def claim(self, now: float) -> Optional[Batch]:
        """The batch to attempt now, marked in flight; None when nothing is due."""
        with self.lock:
            if self.busy:
                return None
            if self.batch is None and self.queued:
                self.batch = self._make_batch()
            if self.batch is None or now < self.batch.due:
                return None
            self.busy = True
            return self.batch

    def attempt(self, batch: Batch, agent: str) -> None:
        """Sends a claimed batch once (or drops it when its retries are used up) and counts it."""
        try:
            if batch.exhausted:
                with self.lock:
                    self._give_up(batch)
                return
            with self.lock:
                self._starting(batch)
            started = time.perf_counter()
            status, outcome = post(self.endpoint, batch.payload, dict(self.base_headers, **{"User-Agent": agent}))
            with self.lock:
                self.outcome = outcome
                self._record(batch, status, time.perf_counter() - started)
        finally:
            with self.lock:
                self.busy = False

    def _retry_later(self, batch: Batch) -> None:
        batch.failures += 1
        batch.due = self.clock() + backoff(self.endpoint, batch.failures)

    def _appended(self, count: int) -> None:
        raise NotImplementedError

    def _starting(self, batch: Batch) -> None:
        """Counted as a try begins (before its answer is known)."""

    def _make_batch(self) -> Batch:
        raise NotImplementedError

    def _record(self, batch: Batch, status: int, seconds: float) -> None:
        raise NotImplementedError

    def _give_up(self, batch: Batch) -> None:
        self.batch = None


LOKI_COUNTERS = ("loki_write_batch_retries_total", "loki_write_sent_bytes_total", "loki_write_sent_entries_total")
LOKI_DROPPED = ("loki_write_dropped_bytes_total", "loki_write_dropped_entries_total")
LOKI_REASONS = ("ingester_error", "rate_limited", "stream_limited", "line_too_long", "queue_is_full")


def loki_payload(entries: Sequence[Entry]) -> bytes:
    """A snappy-compressed logproto.PushRequest, entries grouped into streams by labels."""
    streams: Dict[Tuple[Tuple[str, str], ...], List[List[str]]] = {}
    for labels, stamp, line in entries:
        streams.setdefault(tuple(sorted(labels.items())), []).append([str(stamp), line])
    return encode_push([{"stream": {k: _escape(v) for k, v in key}, "values": values}  # Go-quoted values
                        for key, values in streams.items()])


class LokiQueue(EndpointQueue):
    """A loki.write endpoint (shards.go sendBatch): 2xx sent; 429, 5xx or no answer retried
    up to max_backoff_retries, then dropped; any other status dropped at once."""

    base_headers = {"Content-Type": "application/x-protobuf"}

    @property
    def labels(self) -> Labels:
        return {"host": urlsplit(self.endpoint.url).netloc.rpartition("@")[2], "tenant": self.endpoint.tenant}

    def _appended(self, count: int) -> None:
        labels = self.labels  # initBatchMetrics: the series exist at 0 once a tenant has data
        for name in LOKI_COUNTERS:
            self.metrics.add(name, labels, 0)
        for name in LOKI_DROPPED:
            for reason in LOKI_REASONS:
                self.metrics.add(name, dict(labels, reason=reason), 0)

    def _make_batch(self) -> Batch:
        entries, self.queued = self.queued, []
        return Batch(entries, loki_payload(cast(List[Entry], entries)), len(entries))

    def _record(self, batch: Batch, status: int, seconds: float) -> None:
        labels, ep = self.labels, self.endpoint
        self.metrics.observe("loki_write_request_duration_seconds", dict(labels, status_code=str(status)), seconds)
        batch.last_status = status
        if 200 <= status < 300:
            self.metrics.add("loki_write_sent_entries_total", labels, batch.count)
            self.metrics.add("loki_write_sent_bytes_total", labels, len(batch.payload))
            self.batch = None
        elif status == 429 and not ep.retry_429:
            self._drop(batch, "rate_limited")
        elif status in (-1, 429) or status // 100 == 5:
            self.metrics.add("loki_write_batch_retries_total", labels)
            self._retry_later(batch)
            batch.exhausted = 0 < ep.max_retries <= batch.failures
        else:
            self._drop(batch, "ingester_error")

    def _give_up(self, batch: Batch) -> None:
        self._drop(batch, "rate_limited" if batch.last_status == 429 else "ingester_error")

    def _drop(self, batch: Batch, reason: str) -> None:
        labels = dict(self.labels, reason=reason)
        self.metrics.add("loki_write_dropped_entries_total", labels, batch.count)
        self.metrics.add("loki_write_dropped_bytes_total", labels, len(batch.payload))
        self.batch = None


PROM_QUEUE_SERIES = ("prometheus_remote_storage_samples_total", "prometheus_remote_storage_samples_failed_total",
                     "prometheus_remote_storage_samples_retried_total",
                     "prometheus_remote_storage_samples_dropped_total", "prometheus_remote_storage_samples_pending",
                     "prometheus_remote_storage_queue_highest_sent_timestamp_seconds")


class RemoteWriteQueue(EndpointQueue):
    """A prometheus.remote_write endpoint (queue_manager.go): every try counts its samples as it
    begins, every retry as it begins after the backoff; 2xx sent; 429, 5xx or no answer
    retried for ever; any other status fails the batch.
    Sent and failed batches both advance the highest sent timestamp."""

    base_headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                    "X-Prometheus-Remote-Write-Version": "0.1.0"}

    def __init__(self, ep: Endpoint, metrics: Registry, clock: Clock) -> None:
        super().__init__(ep, metrics, clock)
        for name in PROM_QUEUE_SERIES:
            metrics.add(name, self.labels, 0)

    @property
    def labels(self) -> Labels:
        return {"remote_name": remote_name(self.endpoint), "url": self.endpoint.url}

    def _appended(self, count: int) -> None:
        self.metrics.add("prometheus_remote_storage_samples_pending", self.labels, count)

    def _make_batch(self) -> Batch:
        limit = self.endpoint.max_per_send or len(self.queued)
        taken, self.queued = self.queued[:limit], self.queued[limit:]
        samples = cast(List[Series], taken)
        newest = max(stamp for _, _, stamp in samples)
        return Batch(taken, encode_write_request(samples), len(samples), newest_ms=newest)

    def _starting(self, batch: Batch) -> None:
        # queue_manager.go: onRetry counts a retry after the backoff, as the next try
        # begins; attemptStore counts the samples before the request is made.
        if batch.failures:
            self.metrics.add("prometheus_remote_storage_samples_retried_total", self.labels, batch.count)
        self.metrics.add("prometheus_remote_storage_samples_total", self.labels, batch.count)

    def _record(self, batch: Batch, status: int, seconds: float) -> None:
        labels, count = self.labels, batch.count
        batch.last_status = status
        if status == -1 or status // 100 == 5 or status == 429 and self.endpoint.retry_429:
            self._retry_later(batch)
            return
        if not 200 <= status < 300:
            self.metrics.add("prometheus_remote_storage_samples_failed_total", labels, count)
        self.metrics.raise_to("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", labels,
                              batch.newest_ms // 1000)
        self.metrics.add("prometheus_remote_storage_samples_pending", labels, -count)
        self.batch = None


# ---- the writer components --------------------------------------------------------

class Writer:
    """A loki.write or prometheus.remote_write component: its registry and one queue per
    endpoint. Kept across reloads while its ID stays; so is each queue while its URL does."""

    kind = ""
    queue_type: Type[EndpointQueue] = EndpointQueue

    def __init__(self, component_id: str, storage: Path, clock: Clock) -> None:
        self.id = component_id
        self.storage = storage
        self.clock = clock
        self.metrics = Registry(component_id)
        self.queues: Dict[Tuple[str, str], EndpointQueue] = {}

    def configure(self, block: Block) -> None:
        fresh: Dict[Tuple[str, str], EndpointQueue] = {}
        for sub in children(block, "endpoint"):
            ep = endpoint(self.kind, sub)
            queue = fresh.get(ep.key) or self.queues.get(ep.key)
            if queue is None:
                queue = self.queue_type(ep, self.metrics, self.clock)
            queue.endpoint = ep
            fresh[ep.key] = queue
        for key, queue in self.queues.items():
            if key not in fresh:
                self._forget(queue)
        self.queues = fresh

    def _forget(self, queue: EndpointQueue) -> None:
        """A removed endpoint; loki.write's counter vectors keep their series."""


class LokiWrite(Writer):
    kind = "loki"
    queue_type = LokiQueue

    def receive(self, entries: Sequence[Entry]) -> None:
        for queue in list(self.queues.values()):
            queue.append(entries)


class RemoteWrite(Writer):
    kind = "prometheus"
    queue_type = RemoteWriteQueue

    def __init__(self, component_id: str, storage: Path, clock: Clock) -> None:
        super().__init__(component_id, storage, clock)
        self.metrics.add("prometheus_remote_write_wal_samples_appended_total", {}, 0)
        self.metrics.add("prometheus_remote_storage_highest_timestamp_in_seconds", {}, 0)

    def receive(self, series: Sequence[Series]) -> None:
        if not series:
            return
        self._wal(encode_write_request(list(series)))
        self.metrics.add("prometheus_remote_write_wal_samples_appended_total", {}, len(series))
        self.metrics.raise_to("prometheus_remote_storage_highest_timestamp_in_seconds", {},
                              max(stamp for _, _, stamp in series) // 1000)
        for queue in list(self.queues.values()):
            queue.append(series)

    def _forget(self, queue: EndpointQueue) -> None:
        self.metrics.forget(**queue.labels)  # Prometheus deletes a stopped queue's series

    def _wal(self, payload: bytes) -> None:
        segment = self.storage / self.id / "wal" / "00000000"
        if segment.parent.is_dir() and (not segment.exists() or segment.stat().st_size < 4 * 1024 * 1024):
            with segment.open("ab") as handle:
                handle.write(len(payload).to_bytes(4, "big") + payload)


WRITERS: Dict[str, Type[Writer]] = {"loki.write": LokiWrite, "prometheus.remote_write": RemoteWrite}


def _quiet(level: str, message: str) -> None:
    """A Log that drops what it is told."""


class Telemetry:
    """The stand-in's data flow: produce() every scrape interval, tail_files() and tick()
    every TICK_SECONDS (new file lines, then what each endpoint has due), render() for /metrics.

    clock (monotonic seconds) decides when retries are due and wall (epoch seconds) stamps
    the data; tests inject both and call produce() and tick() themselves; `alloy run`
    calls run() in a thread."""

    def __init__(self, storage: Path, version: str = "0.0.0-dev", clock: Clock = time.monotonic,
                 wall: Clock = time.time) -> None:
        self.storage = storage
        self.user_agent = user_agent(version)
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._blocks: Dict[str, Block] = {}
        self._writers: Dict[str, Writer] = {}
        self._sources: Dict[str, FileSource] = {}
        self._matched: Dict[str, Tuple[float, List[Labels]]] = {}  # glob owner -> (next match, targets)
        self.scrape_targets: Optional[ScrapeTargets] = None  # set by cluster.attach
        self._scraped: Dict[str, Tuple[float, List[TargetScrape]]] = {}  # scrape ID -> (wall time, scrapes), last round

    def update(self, blocks: Dict[str, Block]) -> None:
        """The components of a (re)loaded configuration; writers and file sources that stay keep
        their state (queues, positions); globs are matched again."""
        with self._lock:
            sources = {cid: self._sources.get(cid) or FileSource(cid, self.storage)
                       for cid, block in blocks.items() if block.name == "loki.source.file"}
            self._sources, self._matched = sources, {}
            writers: Dict[str, Writer] = {}
            for cid, block in blocks.items():
                kind = WRITERS.get(block.name)
                if kind is None:
                    continue
                old = self._writers.get(cid)
                writer = old if old is not None and type(old) is kind else kind(cid, self.storage, self.clock)
                writer.configure(block)
                writers[cid] = writer
            self._blocks, self._writers = dict(blocks), writers

    def writers(self) -> Dict[str, Writer]:
        with self._lock:
            return dict(self._writers)

    def scrape_view(self, cid: str) -> Tuple[Producer, Optional[Tuple[float, List[TargetScrape]]]]:
        """For a prometheus.scrape's debug info (scrape_status.py): a producer of the current
        configuration and cluster view, and the scrape's last round (wall time, its targets' scrapes)."""
        with self._lock:
            return Producer(dict(self._blocks), self.scrape_targets), self._scraped.get(cid)

    def interval(self) -> float:
        with self._lock:
            return Producer(self._blocks).interval()

    def produce(self) -> None:
        """One scrape round: samples to remote_write (and its WAL), one heartbeat to loki.write."""
        with self._lock:
            producer, writers = Producer(self._blocks, self.scrape_targets), dict(self._writers)
        now_ms = int(self.wall() * 1000)
        for sink_id, series in producer.samples(now_ms):
            writer = writers.get(sink_id)
            if isinstance(writer, RemoteWrite):
                writer.receive(series)
        with self._lock:
            self._scraped.update((cid, (now_ms / 1000, targets)) for cid, targets in producer.scraped.items())
        for sink_id, entry in producer.entries(now_ms):
            writer = writers.get(sink_id)
            if isinstance(writer, LokiWrite):
                writer.receive([entry])

    def tail_files(self, log: Log = _quiet) -> None:
        """Every loki.source.file's new complete lines, as entries to the loki.write components
        its forward_to reaches; each line stamped a nanosecond after the one before, as lines
        read one by one are."""
        with self._lock:
            producer, writers, sources = Producer(self._blocks), dict(self._writers), dict(self._sources)
        stamp = int(round(self.wall() * 1_000_000)) * 1_000
        batches: Dict[str, List[Entry]] = {}
        for cid, source in sources.items():
            block = producer.blocks.get(cid)
            if block is None:
                continue
            routes: Dict[Tuple[Tuple[str, str], ...], List[Tuple[str, Labels]]] = {}
            for labels, line in source.tail(self._file_targets(producer.blocks, block),
                                            _flag(block, "tail_from_end", False), log):
                key = tuple(sorted(labels.items()))
                if key not in routes:
                    routes[key] = list(producer.loki_sinks(block, labels))
                for sink_id, final in routes[key]:
                    batches.setdefault(sink_id, []).append((final, stamp, line))
                stamp += 1
        for sink_id, entries in batches.items():
            writer = writers.get(sink_id)
            if isinstance(writer, LokiWrite):
                writer.receive(entries)

    def _file_targets(self, blocks: Dict[str, Block], source: Block) -> List[Labels]:
        """A loki.source.file's targets: local.file_match.X.targets, or targets written inline
        (taken as files, unless its file_match block enables globbing)."""
        expr = attr(source, "targets")
        ref = chain_name(expr) if expr is not None else None
        matcher = blocks.get(ref.rsplit(".", 1)[0]) if ref else None
        if matcher is not None and matcher.name == "local.file_match":
            return self._globbed(matcher.id, matcher, attr(matcher, "path_targets"))
        options = _first(source, "file_match")
        if _flag(options, "enabled", False):
            return self._globbed(source.id, options, expr)
        return _targets(evaluate(expr))

    def _globbed(self, owner: str, options: Optional[Block], targets: Optional[Expr]) -> List[Labels]:
        """targets matched to files, again once every sync_period (10s by default) of options."""
        now = self.clock()
        due, found = self._matched.get(owner, (now, []))
        if now >= due:
            found = match_files(_targets(evaluate(targets)), duration(_text(options, "ignore_older_than"), 0.0),
                                self.wall())
            self._matched[owner] = (now + duration(_text(options, "sync_period"), 10.0), found)
        return found

    def tick(self, wait: bool = True) -> None:
        """Attempts every due batch, each endpoint in its own thread; wait=True joins them."""
        now = self.clock()
        threads: List[threading.Thread] = []
        for queue in self._queues():
            batch = queue.claim(now)
            if batch is not None:
                thread = threading.Thread(target=queue.attempt, args=(batch, self.user_agent), daemon=True)
                thread.start()
                threads.append(thread)
        for thread in threads if wait else []:
            thread.join()

    def _queues(self) -> List[EndpointQueue]:
        return [q for w in self.writers().values() for q in list(w.queues.values())]

    def outcomes(self) -> Dict[str, str]:
        """"<component> <url>" -> the last attempt's outcome, for endpoints attempted so far."""
        return {f"{w.id} {q.endpoint.url}": q.outcome
                for w in self.writers().values() for q in list(w.queues.values()) if q.outcome}

    def samples(self) -> List[Sample]:
        return [s for w in self.writers().values() for s in w.metrics.samples()]

    def render(self) -> str:
        return render(self.samples())

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called name whose labels include labels (0 when none)."""
        return sum(v for _, n, ls, v in self.samples() if n == name and labels.items() <= ls.items())

    def run(self, log: Log, stop: Optional[threading.Event] = None, tick_seconds: float = TICK_SECONDS) -> None:
        """The `alloy run` loop: produce every interval (in a thread of its own, one round at a
        time: a target that does not answer holds up its scrape, not the writers, as in Alloy),
        tail the files and tick, log outcomes when they change."""
        stop = stop or threading.Event()
        next_round = self.clock()
        producing: Optional[threading.Thread] = None
        reported: Dict[str, str] = {}
        while not stop.is_set():
            if self.clock() >= next_round and (producing is None or not producing.is_alive()):
                producing = threading.Thread(target=self._guarded, args=(self.produce, log), daemon=True)
                producing.start()
                next_round = self.clock() + self.interval()
            self._guarded(lambda: self.tail_files(log), log)
            self._guarded(lambda: self.tick(wait=False), log)
            reported = self.report(log, reported)
            stop.wait(tick_seconds)
        if producing is not None:   # nothing feeds the writers after the loop (at most a scrape_timeout)
            producing.join()

    def report(self, log: Log, reported: Dict[str, str]) -> Dict[str, str]:
        """Logs "telemetry <component> <url>: <outcome>" for outcomes that changed."""
        current = self.outcomes()
        for key, outcome in current.items():
            if reported.get(key) != outcome:
                log("info" if outcome.startswith("HTTP 2") else "warn", f"telemetry {key}: {outcome}")
        return current

    @staticmethod
    def _guarded(action: Callable[[], None], log: Log) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 - a fixture must keep serving
            log("warn", f"telemetry error: {err}")
