"""Alloy literals as the collection writes them (module_utils/alloy_syntax.py): strings are
quoted the way Go's strconv.Quote prints them, so a rendered file reads as `alloy fmt`
would leave it, and floats keep a mantissa Alloy parses. test_to_alloy.py proves the
values survive Alloy's parser; these pin the exact text. Written against the survivors of
./dev mutate (docs/testing.md)."""
from __future__ import annotations

import pytest
from alloy_standin.syntax import evaluate_literal, parse_expression
from ansible_collections.fleet.alloy.plugins.module_utils import alloy_syntax as sx


@pytest.mark.parametrize("text,quoted", [
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
    ('back\\slash "quoted"', '"back\\\\slash \\"quoted\\""'),
    ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
    (" ~", '" ~"'),
    ("\x80\u00e9\uffff", '"\\u0080\\u00e9\\uffff"'),
    ("\U00010000\U0001f680", '"\\U00010000\\U0001f680"'),
])
def test_strings_are_quoted_as_go_quotes_them(text: str, quoted: str) -> None:
    assert sx.encode_string(text) == quoted
    assert evaluate_literal(parse_expression(quoted)) == text


@pytest.mark.parametrize("number,text", [(1.5e-9, "1.5e-09"), (1e22, "1.0e+22"), (2.5, "2.5"), (-1e-05, "-1.0e-05"),
                                         (1.5e300, "1.5e+300")])
def test_floats_keep_a_mantissa_alloy_reads(number: float, text: str) -> None:
    assert sx.encode(number) == text
    assert evaluate_literal(parse_expression(text)) == number


def test_expressions_are_one_line_marked_text() -> None:
    assert sx.expr("a.b") == {sx.EXPR_KEY: "a.b"} and sx.is_expr(sx.expr("a.b"))
    assert not sx.is_expr({sx.EXPR_KEY: "a", "other": 1}) and not sx.is_expr("a.b")
    for bad in ("", "  ", None, 5, "a\nb", "a\rb"):
        with pytest.raises(sx.AlloyEncodeError):
            sx.expr(bad)  # type: ignore[arg-type]
    assert sx.env_ref("X_1") == {sx.EXPR_KEY: 'sys.env("X_1")'}
    assert sx.encode({"k": sx.expr("loki.write.a.receiver")}) == "{k = loki.write.a.receiver}"


def test_identifiers() -> None:
    assert sx.is_identifier("_a9") and sx.is_identifier("A")
    assert not sx.is_identifier("9a") and not sx.is_identifier("a-b") and not sx.is_identifier("")
    assert not sx.is_identifier("null") and not sx.is_identifier("true")


def test_a_key_with_a_trailing_newline_is_refused() -> None:
    assert not sx.is_identifier("a\n")
    with pytest.raises(sx.AlloyEncodeError):
        sx.encode({"team\n": "x"})
