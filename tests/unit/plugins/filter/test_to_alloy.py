"""fleet.alloy.to_alloy and its encoder: every value must come back unchanged through the
stand-in's parser (a Go-syntax scanner written from Alloy's grammar)."""
from __future__ import annotations

import math
import re

import pytest
from alloy_standin.syntax import (
    AlloySyntaxError, Attribute, Call, Scanner, chain_name, evaluate_literal, parse, parse_expression)
from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.filter.to_alloy import alloy_expr, to_alloy
from ansible_collections.fleet.alloy.plugins.module_utils.alloy_syntax import (
    AlloyEncodeError, encode, env_ref, is_identifier)

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
    tokens = Scanner(rendered).tokens()
    assert [tok.kind for tok in tokens] == ["STRING", "TERMINATOR", "EOF"]
    assert tokens[0].text == rendered
    # Inside an attribute of a block, a hostile string cannot end the block or the file: the
    # block keeps exactly its two attributes, and the first one holds exactly the text.
    statements = parse(f'loki.write "x" {{\n\tv = {rendered}\n\tw = 1\n}}\n')
    assert len(statements) == 1 and statements[0].id == "loki.write.x"
    body = statements[0].body
    assert [(type(s), s.name) for s in body] == [(Attribute, "v"), (Attribute, "w")]
    assert evaluate_literal(body[0].value) == text


@pytest.mark.parametrize("value", [
    None, True, False, 0, 42, -7, 1.5, -0.25, 1e-9, 1e22, 123456789012345678901234567890,
    [], [1, "two", None, [3.0]], {}, {"a": 1, "b": [True]},
    {"not-ident": "x", "with space": 1, "true": 2, "null": 3, "9lives": 4, "ok_key": 6},
    {"nested": {"deeper": {"list": ["}", "]"]}}},
])
def test_values_roundtrip(value: object) -> None:
    assert roundtrip(value) == value


def test_non_identifier_keys_are_quoted_and_identifiers_are_not() -> None:
    assert to_alloy({"cluster": "x", "team-name": "y", "false": 1}) == \
        '{cluster = "x", "team-name" = "y", "false" = 1}'


# ---- object keys -------------------------------------------------------------------
# Alloy takes a quoted object key literally: parseField (syntax/parser/internal.go) keeps the
# characters between the quotes, with no unescaping, and only when the token is longer than
# "" (which stays the two-character key '""'). String VALUES are unquoted with strconv.Unquote
# (syntax/internal/transform/value.go). So keys are written without escapes, or refused.


def alloy_field_name(token_text: str) -> str:
    """The key Alloy's parseField makes of a field-name token (an identifier or a string)."""
    if token_text.startswith(('"', "`")) and len(token_text) > 2:
        return token_text[1:-1]
    return token_text


FINE_KEYS = [
    "with space", "team-name", "a.b.c", "k8s.io/app", "host:port", "-", ".", " ", "  padded  ",
    "9lives", "true", "false", "null", "'single'", "`tick`", "$HOME", "${VAR}", "a=b", "a,b",
    "{braces}", "[x]", "(y)", "// not a comment", "/* nor this */", "#hash", "100%", "~!@^&*+|<>?",
]


@pytest.mark.parametrize("key", FINE_KEYS)
def test_printable_ascii_keys_are_quoted_verbatim_and_read_back_exactly(key: str) -> None:
    rendered = to_alloy({key: 1})
    assert rendered == '{"%s" = 1}' % key
    tokens = Scanner(rendered).tokens()
    assert [tok.kind for tok in tokens[:3]] == ["{", "STRING", "="]
    # Grafana Alloy's reading of the key, and the stand-in's, are both exactly the key.
    assert alloy_field_name(tokens[1].text) == key
    assert tokens[1].value == key
    assert roundtrip({key: 1}) == {key: 1}


@pytest.mark.parametrize("key", ["cluster", "_x", "ok_key", "A9"])
def test_identifier_keys_stay_bare(key: str) -> None:
    rendered = to_alloy({key: "v"})
    assert rendered == '{%s = "v"}' % key
    assert alloy_field_name(Scanner(rendered).tokens()[1].text) == key
    assert roundtrip({key: "v"}) == {key: "v"}


REFUSED_KEYS = {
    'say "hi"': "double quote",
    '"': "double quote",
    "back\\slash": "backslash",
    "\\u0041": "backslash",
    "trailing\\": "backslash",
    "tab\there": "control character",
    "two\nlines": "control character",
    "cr\r": "control character",
    "nul\x00": "control character",
    "bell\a": "control character",
    "esc\x1b[0m": "control character",
    "del\x7f": "control character",
    "ünï": "non-ASCII character",
    "日本語": "non-ASCII character",
    "nbsp\u00a0": "non-ASCII character",
    "rocket 🚀": "non-ASCII character",
    "bom\ufeff": "non-ASCII character",
    "": "two-character key",
}


@pytest.mark.parametrize("key", sorted(REFUSED_KEYS))
def test_keys_alloy_would_read_differently_are_refused_by_the_filter(key: str) -> None:
    with pytest.raises(AnsibleFilterError) as err:
        to_alloy({"ok": 1, key: 1})
    message = str(err.value)
    assert message.startswith("to_alloy: ")
    assert "object key %r cannot be written exactly in Alloy" % key in message
    assert "taken literally" in message
    assert REFUSED_KEYS[key] in message


@pytest.mark.parametrize("key", sorted(REFUSED_KEYS))
def test_keys_alloy_would_read_differently_are_refused_by_the_encoder(key: str) -> None:
    with pytest.raises(AlloyEncodeError, match=re.escape(repr(key))) as err:
        encode({key: 1})
    assert isinstance(err.value, ValueError)
    assert REFUSED_KEYS[key] in str(err.value)


def test_refused_key_deep_inside_a_value_is_named() -> None:
    value = {"stages": [{"labels": {"values": {"fine-key": "x", 'b"ad': "y"}}}]}
    with pytest.raises(AnsibleFilterError, match=re.escape(repr('b"ad'))):
        to_alloy(value)


def test_key_refusal_is_about_keys_only() -> None:
    # The same texts are fine as values (Alloy unescapes values) and as nested values.
    texts = sorted(REFUSED_KEYS)
    assert roundtrip(texts) == texts
    assert roundtrip({"k": texts}) == {"k": texts}


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
                                           ("null", False), ("true", False), ("", False),
                                           ("ünï", False), ("a b", False)])
def test_identifiers(text: str, expected: bool) -> None:
    assert is_identifier(text) is expected
