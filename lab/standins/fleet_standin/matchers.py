"""TEST FIXTURE (Fleet Management stand-in): pipeline matchers.

Fleet Management's matchers follow Alertmanager's (alloy-remote-config api/pipeline/v1/
pipeline.proto: "They follow the syntax of the Prometheus Alertmanager matchers"; the Fleet
Management glossary): `name OP value`, the name and the value each an unquoted literal or a
double-quoted string (Go escapes), OP one of `=`, `!=`, `=~`, `!~`. Unquoted literals hold any
character but whitespace and `{ } ! = ~ " ' \\`. As in Alertmanager, a regular expression
matches the whole value (`^(?s:re)$`) and an attribute the collector does not have is the
empty string, so `env!="prod"` selects a collector without `env`. A pipeline's matchers must
all hold. Regular expressions are Python's `re`, not Go's RE2 (the same for the usual syntax).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Pattern, Tuple

OPERATORS = ("=~", "!~", "!=", "=")  # longest first
_RESERVED = set('{}!=~"\'\\')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: Pattern[str]

    def matches(self, attributes: Dict[str, str]) -> bool:
        actual = attributes.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self.pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def _quoted(text: str, pos: int) -> Tuple[str, int]:
    """The double-quoted string at pos (Go escapes) and the position after it."""
    end = pos + 1
    while end < len(text) and text[end] != '"':
        end += 2 if text[end] == "\\" else 1
    if end >= len(text):
        raise ValueError("unterminated quoted string")
    try:
        value = ast.literal_eval(text[pos:end + 1])
    except (SyntaxError, ValueError):
        raise ValueError(f"invalid quoted string {text[pos:end + 1]}") from None
    return str(value), end + 1


def _literal(text: str, pos: int) -> Tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        return _quoted(text, pos)
    end = pos
    while end < len(text) and not text[end].isspace() and text[end] not in _RESERVED:
        end += 1
    return text[pos:end], end


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def parse(text: str) -> Matcher:
    """One matcher; ValueError `bad matcher "...": why` when it is not one."""
    try:
        name, pos = _literal(text, _skip_spaces(text, 0))
        if not name:
            raise ValueError("expected an attribute name")
        pos = _skip_spaces(text, pos)
        op = next((o for o in OPERATORS if text.startswith(o, pos)), "")
        if not op:
            raise ValueError("expected one of =, !=, =~, !~")
        value, pos = _literal(text, _skip_spaces(text, pos + len(op)))
        if _skip_spaces(text, pos) != len(text):
            raise ValueError(f"unexpected {text[pos:]!r}")
        pattern = re.compile(f"(?s:{value})" if op in ("=~", "!~") else re.escape(value))
    except (ValueError, re.error) as err:
        raise ValueError(f"bad matcher {text!r}: {err}") from None
    return Matcher(name, op, value, pattern)


def parse_all(texts: Iterable[str]) -> List[Matcher]:
    return [parse(text) for text in texts]


def select(matchers: List[Matcher], attributes: Dict[str, str]) -> bool:
    """Whether every matcher holds for the attributes (no matchers: every collector)."""
    return all(m.matches(attributes) for m in matchers)
