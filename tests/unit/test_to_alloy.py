"""fleet.alloy.to_alloy and its encoder: every value must come back unchanged through the
stand-in's parser (a Go-syntax scanner written from Alloy's grammar)."""
from __future__ import annotations

import math

import pytest
from alloy_standin.syntax import AlloySyntaxError, Call, chain_name, evaluate_literal, parse, parse_expression
from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.filter.to_alloy import alloy_expr, to_alloy
from ansible_collections.fleet.alloy.plugins.module_utils.alloy_syntax import env_ref, is_identifier

HOSTILE = [
    'say "hi"', "back\\slash", "two\nlines", "tab\there", "close } brace", "// not a comment",
    "/* nor this */", "back`tick", "日本語のログ", "emoji 🚀 outside the BMP", "bell\a and \x7f",
    "${LOKI_HOSTNAME}", "'single'", "\\u0041 stays literal", "", " ", "\r\n", "null", "true",
    "a\x00nul",
]


def roundtrip(value: object) -> object:
    return evaluate_literal(parse_expression(to_alloy(value)))


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_roundtrip(text: str) -> None:
    assert roundtrip(text) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_stay_one_ascii_token(text: str) -> None:
    rendered = to_alloy(text)
    assert rendered.isascii() and "\n" not in rendered
    # Inside an attribute of a block, a hostile string cannot end the block or the file.
    body = parse(f'loki.write "x" {{\n\tv = {rendered}\n}}\n')
    assert body[0].body[0].name == "v"


@pytest.mark.parametrize("value", [
    None, True, False, 0, 42, -7, 1.5, -0.25, 1e-9, 1e22, 123456789012345678901234567890,
    [], [1, "two", None, [3.0]], {}, {"a": 1, "b": [True]},
    {"not-ident": "x", "with space": 1, "true": 2, "null": 3, "9lives": 4, "ünï": 5, "ok_key": 6},
    {"nested": {"deeper": {"list": ["}", "]"]}}},
])
def test_values_roundtrip(value: object) -> None:
    assert roundtrip(value) == value


def test_non_identifier_keys_are_quoted_and_identifiers_are_not() -> None:
    assert to_alloy({"cluster": "x", "team-name": "y", "false": 1}) == \
        '{cluster = "x", "team-name" = "y", "false" = 1}'


def test_float_without_a_dot_still_parses_as_float() -> None:
    assert to_alloy(1e22) == "1.0e+22"
    assert isinstance(roundtrip(1e22), float)


@pytest.mark.parametrize("bad", [math.nan, math.inf, {1: "int key"}, b"bytes", {1, 2}])
def test_values_without_a_literal_are_refused(bad: object) -> None:
    with pytest.raises(AnsibleFilterError, match="to_alloy"):
        to_alloy(bad)


def test_expressions_pass_only_when_marked() -> None:
    ref = "prometheus.exporter.unix.default.targets"
    assert to_alloy(ref) == f'"{ref}"'
    assert chain_name(parse_expression(to_alloy(alloy_expr(ref)))) == ref
    assert to_alloy([alloy_expr("loki.write.endpoint.receiver")]) == "[loki.write.endpoint.receiver]"


def test_env_reference_is_a_sys_env_call() -> None:
    parsed = parse_expression(to_alloy(env_ref('WEIRD"NAME')))
    assert isinstance(parsed, Call) and chain_name(parsed.target) == "sys.env"
    assert evaluate_literal(parsed.args[0]) == 'WEIRD"NAME'


@pytest.mark.parametrize("bad", ["", "  ", "a\nb"])
def test_bad_expressions_are_refused(bad: str) -> None:
    with pytest.raises(AnsibleFilterError, match="alloy_expr"):
        alloy_expr(bad)


def test_a_marked_but_broken_expression_is_caught_by_the_parser() -> None:
    # The filter writes marked text verbatim; Alloy's parser (and validate) is the judge.
    with pytest.raises(AlloySyntaxError):
        parse_expression(to_alloy(alloy_expr("sys.env(")))


@pytest.mark.parametrize("text,expected", [("abc", True), ("_x1", True), ("1x", False), ("a-b", False),
                                           ("null", False), ("", False)])
def test_identifiers(text: str, expected: bool) -> None:
    assert is_identifier(text) is expected
