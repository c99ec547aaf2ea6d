"""The stand-in's parser: the seeds' pipelines pass, malformed inputs fail at the right place."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from alloy_standin.syntax import AlloySyntaxError, Block, Literal, evaluate_literal, parse, parse_expression
from alloy_standin.validate import load

DATA = Path(__file__).parent / "data"


def test_seed_002_journal_pipeline_parses_into_its_three_components() -> None:
    statements = parse((DATA / "seed002_journal.alloy").read_text())
    assert [s.id for s in statements if isinstance(s, Block)] == [
        "loki.relabel.journal", "loki.source.journal.read", "loki.write.endpoint"]
    assert load(DATA / "seed002_journal.alloy").diagnostics == []


def test_seed_000_unix_pipeline_parses_with_its_japanese_comments() -> None:
    statements = parse((DATA / "seed000_unix.alloy").read_text())
    assert [s.id for s in statements if isinstance(s, Block)] == [
        "prometheus.exporter.unix.default", "prometheus.scrape.internal_node_metrics",
        "prometheus.relabel.set_instance_name", "prometheus.remote_write.stg_prometheus"]


def test_seed_000_env_call_is_a_deprecation_that_fails_validate() -> None:
    diags = load(DATA / "seed000_unix.alloy").diagnostics
    assert [(d.severity, d.line, d.col) for d in diags] == [("Warning", 33, 21)]
    # Alloy's wording (internal/validator/references.go), without naming the replacement.
    assert diags[0].message == ("this stdlib function is deprecated; please refer to the documentation for "
                                "updated usage and alternatives")


# (source, line, column) of the first error; at least 15 kinds of malformed input.
MALFORMED = {
    "unterminated string": ('a "b" {\n  x = "abc\n}\n', 2, 7),
    "single quotes": ("a \"b\" {\n  x = 'abc'\n}\n", 2, 7),
    "missing trailing comma in list": ('a "b" {\n  x = [\n    "one",\n    "two"\n  ]\n}\n', 4, 10),
    "missing trailing comma in object": ('a "b" {\n  x = {\n    k = 1\n  }\n}\n', 3, 10),
    "label not an identifier": ('loki.write "my-app" {\n}\n', 1, 12),
    "label single-quoted": ("loki.write 'x' {\n}\n", 1, 12),
    "bad escape": ('a "b" {\n  x = "tab\\qx"\n}\n', 2, 12),
    "escaped single quote": ('a "b" {\n  x = "it\\\'s"\n}\n', 2, 11),
    "two statements on one line": ('a "b" {\n  x = 1 y = 2\n}\n', 2, 9),
    "unclosed block": ('a "b" {\n  x = 1\n', 3, 1),
    "dotted attribute name": ('a "b" {\n  x.y = 1\n}\n', 2, 3),
    "missing value": ('a "b" {\n  x =\n}\n', 3, 1),
    "unterminated raw string": ('a "b" {\n  x = `abc\n}\n', 2, 7),
    "unterminated block comment": ('/* never closed\na "b" {}\n', 1, 1),
    "number with letters": ('a "b" {\n  x = 12ab\n}\n', 2, 9),  # 12, then the identifier ab
    "stray closing brace": ('a "b" {\n}\n}\n', 3, 1),
    "illegal character": ('a "b" {\n  x = 1 @ 2\n}\n', 2, 9),
    "unclosed call": ('a "b" {\n  x = sys.env("A"\n}\n', 2, 18),
    "bad unicode escape": ('a "b" {\n  x = "\\u12"\n}\n', 2, 9),  # Alloy points at the u
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_is_rejected_at_its_position(name: str) -> None:
    src, line, col = MALFORMED[name]
    with pytest.raises(AlloySyntaxError) as err:
        parse(src)
    assert (err.value.line, err.value.col) == (line, col), err.value.message


def test_top_level_attribute_is_rejected_by_validate(tmp_path: Path) -> None:
    (tmp_path / "c.alloy").write_text('logging {\n}\nlevel = "info"\n')
    diags = load(tmp_path / "c.alloy").errors
    assert [(d.line, d.col) for d in diags] == [(3, 1)]
    assert diags[0].message == "unrecognized attribute level"  # internal/runtime/source.go


def shape(node: object) -> object:
    """A parse result without positions: each node as (class name, fields...); a literal also
    names its Python type, so that 1, 1.0 and True (equal in Python) stay apart."""
    if isinstance(node, Literal):
        return ("Literal", type(node.value).__name__, node.value)
    if isinstance(node, list):
        return [shape(item) for item in node]
    if isinstance(node, tuple):
        return tuple(shape(item) for item in node)
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,) + tuple(
            shape(getattr(node, f.name)) for f in dataclasses.fields(node) if f.name not in ("line", "col"))
    return node


def lit(value: object) -> tuple:
    return ("Literal", type(value).__name__, value)


def block_b(*attributes: tuple) -> list:
    """The shape of `a "b" { ... }` holding the given (name, value shape) attributes."""
    return [("Block", "a", "b", [("Attribute", name, value) for name, value in attributes])]


VALID = {
    "one-line list": ('a "b" { x = [1, 2, 3] }\n',
                      block_b(("x", ("ArrayExpr", [lit(1), lit(2), lit(3)])))),
    "list with trailing comma": ('a "b" {\n  x = [\n    1,\n    2,\n  ]\n}\n',
                                 block_b(("x", ("ArrayExpr", [lit(1), lit(2)])))),
    "object with quoted key": ('a "b" {\n  x = {\n    "key-1" = true,\n    k2 = null,\n  }\n}\n',
                               block_b(("x", ("ObjectExpr", [("key-1", lit(True)), ("k2", lit(None))])))),
    "call with trailing comma": ('a "b" {\n  x = f(\n    "a",\n    1.5e3,\n  )\n}\n',
                                 block_b(("x", ("Call", ("Ident", "f"), [lit("a"), lit(1500.0)])))),
    # || < && < comparison < + < * % < ^ (right of unary), and the comment is skipped.
    "operator precedence": (
        'a "b" {\n  /* a\n  comment */\n  x = -1 + 2 * 3 ^ 2 % 4 == 5 || !false && (1 <= 2)\n}\n',
        block_b(("x", (
            "Binary", "||",
            ("Binary", "==",
             ("Binary", "+",
              ("Unary", "-", lit(1)),
              ("Binary", "%", ("Binary", "*", lit(2), ("Binary", "^", lit(3), lit(2))), lit(4))),
             lit(5)),
            ("Binary", "&&", ("Unary", "!", lit(False)), ("Paren", ("Binary", "<=", lit(1), lit(2)))))))),
    "access, index and raw string": (
        'a "b" {\n  x = c.d["e"][0].f\n  y = `raw\nlines`\n}\n',
        block_b(("x", ("Access", ("Index", ("Index", ("Access", ("Ident", "c"), "d"), lit("e")), lit(0)), "f")),
                ("y", lit("raw\nlines")))),
    "only a comment": ('// only a comment\n', []),
    "empty file": ('', []),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_syntax_is_accepted(name: str) -> None:
    src, expected = VALID[name]
    assert shape(parse(src)) == expected


def test_the_case_tables_are_not_empty() -> None:
    # An empty table would turn the parametrized tests above into no tests at all.
    assert len(MALFORMED) >= 15 and len(VALID) >= 8


@pytest.mark.parametrize(("src", "value"), [
    ('"a\\tb\\n\\"q\\"\\\\"', 'a\tb\n"q"\\'),
    ('"\\x41\\101\\u00e9\\U0001F600"', "AAé😀"),
    ('"日本語"', "日本語"),
    ("[1, -2, 3.5, true, null]", [1, -2, 3.5, True, None]),
    ('{a = 1, "b c" = [], }', {"a": 1, "b c": []}),
])
def test_literal_values_decode(src: str, value: object) -> None:
    assert evaluate_literal(parse_expression(src)) == value
