"""The stand-in Alloy against Grafana Alloy's own expectations (parser, validator, CLI).

Every expectation here is Alloy's, position and text: from Alloy's tests (the file is
named above each table) or from the format strings of its source (grafana/alloy at
schema_data.ALLOY_COMMIT). Positions are line:column with columns counted in bytes, as
Alloy's token.File does. The tables cover what the stand-in used to get wrong: error
columns, number literals, a byte-order mark, keywords as object keys and labels, empty
labels, invalid UTF-8, reference cycles, blocks given twice, attribute types, basic_auth
without a username, and the wording and quoting of messages.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple, Union

import pytest
from alloy_standin.diag import go_quote, print_diagnostics
from alloy_standin.scanner import Scanner as ByteScanner
from alloy_standin.scanner import SourceFile
from alloy_standin.syntax import AlloySyntaxError, Literal, parse, parse_expression
from alloy_standin.validate import LoadError, load

STANDINS = Path(__file__).resolve().parents[1] / "standins"
Expected = List[Tuple[int, int, str]]


def diagnostics(src: Union[str, bytes]) -> Expected:
    try:
        parse(src)
    except AlloySyntaxError as err:
        return [(d.line, d.col, d.message) for d in err.diagnostics]
    return []


def alloy(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(STANDINS))
    return subprocess.run([sys.executable, "-m", "alloy_standin", *args], capture_output=True, text=True,
                          env=env, input=stdin, check=False)


# ---- the scanner: syntax/scanner/scanner_test.go, errorTests (input, first token, offset
# of the error, message). The offset is in bytes.
SCANNER_ERRORS = [
    (b"\a", "ILLEGAL", 0, "illegal character U+0007"),
    ("\u2026".encode(), "ILLEGAL", 0, "illegal character U+2026 '\u2026'"),
    (b"..", ".", 0, ""),
    (b"'illegal string'", "ILLEGAL", 0, "illegal single-quoted string; use double quotes"),
    (b'""', "STRING", 0, ""),
    (b'"abc', "STRING", 0, "string literal not terminated"),
    (b'"abc\n', "STRING", 0, "string literal not terminated"),
    (b'"abc\n   ', "STRING", 0, "string literal not terminated"),
    (b'"abc\x00def"', "STRING", 4, "illegal character NUL"),
    (b'"abc\x80def"', "STRING", 4, "illegal UTF-8 encoding"),
    ("\ufeff\ufeff".encode(), "ILLEGAL", 3, "illegal byte order mark"),
    ("//\ufeff".encode(), "COMMENT", 2, "illegal byte order mark"),
    ('"abc\ufeffdef"'.encode(), "STRING", 4, "illegal byte order mark"),
    (b"abc\x00def", "IDENT", 3, "illegal character NUL"),
    (b"abc\x00", "IDENT", 3, "illegal character NUL"),
    (b"10E", "FLOAT", 0, "exponent has no digits"),
]


@pytest.mark.parametrize(("src", "token", "offset", "message"), SCANNER_ERRORS)
def test_scanner_errors_are_alloys(src: bytes, token: str, offset: int, message: str) -> None:
    errors: List[Tuple[int, str]] = []
    _, got, _ = ByteScanner(SourceFile(), src, lambda o, m: errors.append((o, m))).scan()
    assert got == token
    assert errors == ([(offset, message)] if message else [])


# ---- the parser: inputs of syntax/parser/testdata/*.alloy (error_test.go checks every
# /* ERROR "rx" */ there; the ERROR comments are left out here, which moves no error), and
# of internal/validator/testdata/default/syntax_errors.txtar. Messages from
# syntax/parser/internal.go. Every diagnostic of the input is listed, in Alloy's order.
PARSER_ERRORS: Dict[str, Tuple[Union[str, bytes], Expected]] = {
    # assign_block_to_attr.alloy
    "block as an attribute value": ('rw = prometheus.remote_write "default" {\n  endpoint {\n    url = "some_url"\n  }\n}\n',
                                    [(1, 6, "cannot use a block as an expression")]),
    "block as a nested attribute value": ('block {\n\trw_2 = prometheus.remote_write "other" {\n\t}\n}\n',
                                          [(2, 9, "cannot use a block as an expression")]),
    "two labels": ('other_block {\n\trw_3 = prometheus.remote_write "other" "other" 12345\n}\n',
                   [(2, 41, "expected {, got STRING")]),
    # attribute_names.alloy
    "dotted attribute name": ("invalid.attr = 20\n",
                              [(1, 1, 'attribute names may only consist of a single identifier with no "."')]),
    "attribute with a label": ('invalid "label" = 20\n', [(1, 9, "attribute names may not have labels")]),
    # block_names.alloy
    "label not a string": ("invalid_block bad_label_name {\n}\n", [(1, 15, "expected block label, got IDENT")]),
    "label with a space": ('invalid_block "with space" {\n}\n',
                           [(1, 15, 'expected block label to be a valid identifier, but got "with space"')]),
    # commas.alloy
    "list without trailing comma": ("field = [\n  0,\n  1,\n  2\n]\n", [(4, 4, "missing ',' in expression list")]),
    "object without trailing comma": ("obj = {\n  field_a = 0,\n  field_c = 2\n}\n",
                                      [(3, 14, "missing ',' in field list")]),
    # invalid_exprs.alloy
    "two operators": ("attr = 1 + + 2\n", [(1, 12, "expected expression, got +")]),
    "empty parentheses in a call": ("invalid_func_call = a(())\n", [(1, 24, "expected expression, got )")]),
    "keyword after a dot": ("invalid_access    = a.true\n", [(1, 23, "expected IDENT, got BOOL")]),
    # invalid_object_key.alloy
    "number as an object key": ('obj {\n  map = {\n    "string_field"    = "foo",\n    1337 = "baz",\n  }\n}\n',
                                [(4, 5, "expected field name (string or identifier), got NUMBER")]),
    # syntax_errors.txtar, main.alloy and secondary.alloy (see syntax_errors.diags)
    "unterminated label": (
        '// Missing string termination.\nlocal.file_match "applogs {\n'
        '    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]\n}\n\n',
        [(2, 18, "string literal not terminated"),
         (2, 18, 'expected block label to be a valid identifier, but got "applogs "'),
         (3, 5, "expected TERMINATOR, got IDENT"), (4, 1, "expected identifier, got }")]),
    "missing right bracket": (
        '// Missing right bracket\nlocal.file_match "applogs" {\n'
        '    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}\n}\n\n',
        [(3, 59, "missing ',' in expression list"), (4, 1, "expected expression, got }"), (6, 1, "expected ], got EOF")]),
}

# ---- the disagreements found, each against syntax/scanner/scanner.go and
# syntax/parser/internal.go.
DISAGREEMENTS: Dict[str, Tuple[Union[str, bytes], Expected]] = {
    # Columns count bytes (token.File.PositionFor): 日本 is 6 bytes, the 1 is at byte 18.
    "columns are bytes": ('loki.write "w" {\n\tendpoint {\n\t\turl = "日本" 1\n\t}\n}\n',
                          [(3, 18, "expected TERMINATOR, got NUMBER")]),
    # Numbers are digits only (scanNumber): 0x10 is 0 then the identifier x10.
    "hex number": ("x = 0x10\n", [(1, 6, "expected TERMINATOR, got IDENT")]),
    "underscore in a number": ("x = 1_000\n", [(1, 6, "expected TERMINATOR, got IDENT")]),
    "exponent without digits": ("x = 1e\n", [(1, 5, "exponent has no digits")]),
    "exponent sign without digits": ("x = 2.5E+\n", [(1, 5, "exponent has no digits")]),
    "letters after a number": ('a "b" {\n  x = 12ab\n}\n', [(2, 9, "expected TERMINATOR, got IDENT")]),
    # A byte-order mark is skipped only as the first character, and still counts 3 bytes.
    "BOM then an error": (b'\xef\xbb\xbfa "b" c {\n}\n', [(1, 10, "expected block body, got IDENT")]),
    "BOM after the start": (b'a "b" {\n\tx = 1 \xef\xbb\xbf\n}\n',
                            [(2, 8, "illegal byte order mark"), (2, 8, "expected TERMINATOR, got ILLEGAL")]),
    # true, false and null are BOOL and NULL tokens, never identifiers.
    "keyword as an object key": ("x = {true = 1, null = 2}\n",
                                 [(1, 6, "expected field name (string or identifier), got BOOL")]),
    "keyword as a label": ('loki.write "null" {\n}\n',
                           [(1, 12, 'expected block label to be a valid identifier, but got "null"')]),
    "keyword as a statement": ("true = 1\n", [(1, 1, "expected identifier, got BOOL")]),
    # "" is a label (an empty one): an attribute cannot have it.
    "empty label on an attribute": ('x "" = 1\n', [(1, 3, "attribute names may not have labels")]),
    "backtick label": ("loki.write `w` {\n}\n",
                       [(1, 12, 'expected block label to be a double quoted string, but got "`w`"')]),
    # Invalid UTF-8 and NUL are diagnostics, every one of them reported.
    "invalid UTF-8 in a string": (b'x = "caf\xe9"\n', [(1, 9, "illegal UTF-8 encoding")]),
    "invalid UTF-8 outside a string": (b"x = 1 \xff\n", [
        (1, 7, "illegal UTF-8 encoding"), (1, 7, "illegal character U+FFFD '\ufffd'"),
        (1, 7, "expected TERMINATOR, got ILLEGAL")]),
    "NUL": (b'x = "a\x00"\n', [(1, 7, "illegal character NUL")]),
    "single-quoted": ("x = 'a'\n", [(1, 5, "illegal single-quoted string; use double quotes"),
                                   (1, 5, "expected expression, got ILLEGAL")]),
    "missing second pipe": ("x = true | false\n", [(1, 11, "missing second | in ||")]),
    "octal escape out of range": ('x = "\\400"\n', [(1, 7, "escape sequence is invalid Unicode code point")]),
    "surrogate escape": ('x = "\\ud800"\n', [(1, 7, "escape sequence is invalid Unicode code point")]),
    "escaped single quote": ('x = "it\\\'s"\n', [(1, 9, "unknown escape sequence")]),
    "short unicode escape": ('x = "\\u12"\n', [(1, 7, "illegal character U+0022 '\"' in escape sequence")]),
    "escape at end of input": ('x = "\\', [(1, 7, "escape sequence not terminated"),
                                          (1, 5, "string literal not terminated")]),
    "illegal character": ("x = 1 # comment\n", [(1, 7, "illegal character U+0023 '#'"),
                                                 (1, 7, "expected TERMINATOR, got ILLEGAL")]),
    "unterminated block comment": ("x = 1 /* never\n", [(1, 7, "block comment not terminated")]),
    # The parser reports one error per line (addErrorf), the scanner every one.
    "three errors on one line": ("x = [1 2 3] @\n", [(1, 8, "missing ',' in expression list"),
                                                      (1, 13, "illegal character U+0040 '@'")]),
    "expected expression at EOF": ("x =", [(1, 4, "expected expression, got EOF")]),
    "unclosed object": ("x = {\n  a = 1,\n", [(3, 1, "expected }, got EOF")]),
}


@pytest.mark.parametrize("name", sorted(PARSER_ERRORS))
def test_parser_errors_are_alloys(name: str) -> None:
    src, expected = PARSER_ERRORS[name]
    assert diagnostics(src) == expected


@pytest.mark.parametrize("name", sorted(DISAGREEMENTS))
def test_former_disagreements_now_agree(name: str) -> None:
    src, expected = DISAGREEMENTS[name]
    assert diagnostics(src) == expected


# What Alloy accepts (syntax/parser/testdata/valid and the cases above).
VALID = [
    b'\xef\xbb\xbflogging {\n\tlevel = "info"\n}\n',  # a leading byte-order mark
    'loki.echo "" {\n}\n',  # an empty label is no label
    'x = {"true" = 1, `null` = 2, "" = 3}\n',  # keywords as quoted keys
    'x = [1., .5, 1e3, 1E-3, 010, 09, 2.71828e-1000]\n',
    'x = "\\a\\b\\f\\n\\r\\t\\v\\\\\\"\\101\\x41\\u0041\\U00000041"\n',
    'block "label" { attr = 1 }\n',
    'x = a.b[0](1, 2,)\n',
]


@pytest.mark.parametrize("src", VALID)
def test_alloy_accepts(src: Union[str, bytes]) -> None:
    assert diagnostics(src) == []


# transform.ValueFromLiteral: NUMBER is ParseInt base 0 (010 is octal), then ParseFloat.
@pytest.mark.parametrize(("src", "kind", "value"), [
    ("1.", "FLOAT", 1.0), (".5", "FLOAT", 0.5), ("1e3", "FLOAT", 1000.0), ("1.e2", "FLOAT", 100.0),
    ("010", "NUMBER", 8), ("09", "NUMBER", 9.0), ("0", "NUMBER", 0), ("18446744073709551615", "NUMBER", 2 ** 64 - 1),
    ('"a\\x41"', "STRING", "aA"), ("`a\\x41`", "STRING", "a\\x41"), ("true", "BOOL", True), ("null", "NULL", None),
])
def test_literal_values_are_alloys(src: str, kind: str, value: object) -> None:
    expr = parse_expression(src)
    assert isinstance(expr, Literal)
    assert (expr.kind, expr.value, type(expr.value)) == (kind, value, type(value))


def test_object_keys_keep_their_text_between_quotes() -> None:
    # parseField takes the text between the quotes as it is; "" stays the key '""'.
    expr = parse_expression('{"a\\tb" = 1, "" = 2, `c` = 3}')
    assert [(k.name, k.quoted) for k in expr.keys] == [("a\\tb", True), ('""', False), ("c", True)]


@pytest.mark.parametrize(("text", "quoted"), [
    ("plain", '"plain"'), ('say "hi"', '"say \\"hi\\""'), ("tab\t", '"tab\\t"'), ("日本", '"日本"'),
    ("\x7f", '"\\x7f"'), ("\u200b", '"\\u200b"'), (b"\xff", '"\\xff"'),
])
def test_messages_quote_like_go(text: Union[str, bytes], quoted: str) -> None:
    assert go_quote(text) == quoted
VALIDATOR_TESTDATA: Dict[str, Tuple[str, str]] = {}
# internal/validator/testdata/default/cycle.txtar, then cycle.diags
VALIDATOR_TESTDATA['cycle'] = ("""\
cyclic graph
-- main.alloy --

prometheus.relabel "label1" {
  forward_to = [prometheus.relabel.label2.receiver]
}

prometheus.relabel "label2" {
  forward_to = [prometheus.relabel.label1.receiver]
}

prometheus.relabel "label3" {
  forward_to = [prometheus.relabel.label4.receiver]
}

prometheus.relabel "label4" {
  forward_to = [prometheus.relabel.label5.receiver]
}

prometheus.relabel "label5" {
  forward_to = [prometheus.relabel.label3.receiver]
}

prometheus.relabel "label6" {
  forward_to = [prometheus.relabel.label6.receiver]
}
""", """\
Error: main.alloy:2:1: cycle detected: prometheus.relabel.label1, prometheus.relabel.label2

1 |
2 | prometheus.relabel "label1" {
  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
3 |   forward_to = [prometheus.relabel.label2.receiver]

Error: main.alloy:6:1: cycle detected: prometheus.relabel.label1, prometheus.relabel.label2

5 |
6 | prometheus.relabel "label2" {
  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
7 |   forward_to = [prometheus.relabel.label1.receiver]

Error: main.alloy:10:1: cycle detected: prometheus.relabel.label3, prometheus.relabel.label4, prometheus.relabel.label5

 9 |
10 | prometheus.relabel "label3" {
   | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
11 |   forward_to = [prometheus.relabel.label4.receiver]

Error: main.alloy:14:1: cycle detected: prometheus.relabel.label3, prometheus.relabel.label4, prometheus.relabel.label5

13 |
14 | prometheus.relabel "label4" {
   | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
15 |   forward_to = [prometheus.relabel.label5.receiver]

Error: main.alloy:18:1: cycle detected: prometheus.relabel.label3, prometheus.relabel.label4, prometheus.relabel.label5

17 |
18 | prometheus.relabel "label5" {
   | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
19 |   forward_to = [prometheus.relabel.label3.receiver]

Error: main.alloy:22:1: cannot reference self

21 |
22 | prometheus.relabel "label6" {
   | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
23 |   forward_to = [prometheus.relabel.label6.receiver]
""")

# internal/validator/testdata/default/duplicates.txtar, then duplicates.diags
VALIDATOR_TESTDATA['duplicates'] = ("""\
duplicated components and declares
-- main.alloy --
local.file_match "applogs" {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
}
local.file_match "applogs" {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
}

declare "self_collect" {}
declare "self_collect" {}

import.file "math" {
  filename = "path/to/module/config.alloy"
}

import.file "math" {
  filename = "path/to/module/config.alloy"
}

logging {}
logging {}

http {}
http {}
""", """\
Error: main.alloy:9:1: block declare.self_collect already declared at main.alloy:8:1

 8 | declare "self_collect" {}
 9 | declare "self_collect" {}
   | ^^^^^^^^^^^^^^^^^^^^
10 |

Error: main.alloy:15:1: block import.file.math already declared at main.alloy:11:1

14 |
15 | import.file "math" {
   | ^^^^^^^^^^^^^^^^
16 |   filename = "path/to/module/config.alloy"

Error: main.alloy:20:1: block logging already declared at main.alloy:19:1

19 | logging {}
20 | logging {}
   | ^^^^^^^
21 |

Error: main.alloy:4:1: block local.file_match.applogs already declared at main.alloy:1:1

3 | }
4 | local.file_match "applogs" {
  | ^^^^^^^^^^^^^^^^^^^^^^^^
5 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]

Error: main.alloy:23:1: block http already declared at main.alloy:22:1

22 | http {}
23 | http {}
   | ^^^^
24 |
""")

# internal/validator/testdata/default/missing.txtar, then missing.diags
VALIDATOR_TESTDATA['missing'] = ("""\
missing component
-- main.alloy --
local.missing "applogs" {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
}
""", """\
Error: main.alloy:1:1: cannot find the definition of component name "local.missing"

1 | local.missing "applogs" {
  | ^^^^^^^^^^^^^
2 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
""")

# internal/validator/testdata/default/mixed.txtar, then mixed.diags
VALIDATOR_TESTDATA['mixed'] = ("""\
mixed
-- missing.alloy --
local.missing "missing" {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
}

-- missing_label.alloy --
local.file {
	filename = "/tmp/app-logs/app.log"
}

-- valid.alloy --
local.file_match "applogs" {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
}

loki.source.file "local_files" {
    targets    = local.file_match.applogs.targets

    forward_to = [loki.process.add_new_label.receiver]
}

loki.process "add_new_label" {
    stage.logfmt {
        mapping = {
            "extracted_level" = "level",
        }
    }

    stage.labels {
        values = {
            "level" = "extracted_level",
        }
    }

    forward_to = [loki.write.local_loki.receiver]
}

loki.write "local_loki" {
    endpoint {
        url = "http://loki:3100/loki/api/v1/push"
    }
}

""", """\
Error: missing.alloy:1:1: cannot find the definition of component name "local.missing"

1 | local.missing "missing" {
  | ^^^^^^^^^^^^^
2 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]

Error: missing_label.alloy:1:1: component "local.file" must have a label

1 | local.file {
  | ^^^^^^^^^^
2 |     filename = "/tmp/app-logs/app.log"
""")

# internal/validator/testdata/default/stdlib.txtar, then stdlib.diags
VALIDATOR_TESTDATA['stdlib'] = ("""\
stdlib references
-- main.alloy --

declare "sys" {
	export "env" {
		value = "test"
	}
}

sys "sys" {}

local.file "file" {
	filename = sys.sys.env
}

local.file "file2" {
	filename = env("test")
}
""", """\
Warning: main.alloy:11:13: a component is shadowing an existing stdlib name

10 | local.file "file" {
11 |     filename = sys.sys.env
   |                ^^^
12 | }

Warning: main.alloy:15:13: this stdlib function is deprecated; please refer to the documentation for updated usage and alternatives

14 | local.file "file2" {
15 |     filename = env("test")
   |                ^^^
16 | }
""")

# internal/validator/testdata/default/syntax_errors.txtar, then syntax_errors.diags
VALIDATOR_TESTDATA['syntax_errors'] = ("""\
syntaxt errors across multiple files
-- main.alloy --
// Missing string termination.
local.file_match "applogs {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
}

-- secondary.alloy --
// Missing right bracket
local.file_match "applogs" {
    path_targets = [{"__path__" = "/tmp/app-logs/app.log"}
}
""", """\
Error: main.alloy:2:18: string literal not terminated

1 | // Missing string termination.
2 | local.file_match "applogs {
  |                  ^
3 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]

Error: main.alloy:2:18: expected block label to be a valid identifier, but got "applogs "

1 | // Missing string termination.
2 | local.file_match "applogs {
  |                  ^
3 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]

Error: main.alloy:3:5: expected TERMINATOR, got IDENT

2 | local.file_match "applogs {
3 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
  |     ^
4 | }

Error: main.alloy:4:1: expected identifier, got }

3 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}]
4 | }
  | ^
5 |

Error: secondary.alloy:3:59: missing ',' in expression list

2 | local.file_match "applogs" {
3 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}
  |
4 | }

Error: secondary.alloy:4:1: expected expression, got }

3 |     path_targets = [{"__path__" = "/tmp/app-logs/app.log"}
4 | }
  | ^
5 |

Error: secondary.alloy:5:1: expected ], got EOF

4 | }
5 |
  |
""")

# internal/validator/testdata/ga/non_ga.txtar, then non_ga.diags
VALIDATOR_TESTDATA['non_ga'] = ("""\
not generally available
-- main.alloy --
// Collect metrics for each Redis instance.
foreach "foreach" {
	collection = []
	var        = "each"

	template {}
}

prometheus.scrape "scrape" {
  targets    = array.combine_maps([], [], [])
  forward_to = array.combine_maps([], [], [])
}


""", """\
Error: main.alloy:2:1: foreach block "foreach" is at stability level "experimental", which is below the minimum allowed stability level "generally-available". Use --stability.level command-line flag to enable "experimental" features

1 | // Collect metrics for each Redis instance.
2 | foreach "foreach" {
  | ^^^^^^^
3 |     collection = []

Error: main.alloy:10:16: array.combine_maps is at stability level "experimental", which is below the minimum allowed stability level "generally-available". Use --stability.level command-line flag to enable "experimental" features

 9 | prometheus.scrape "scrape" {
10 |   targets    = array.combine_maps([], [], [])
   |                ^^^^^^^^^^^^^^^^^^
11 |   forward_to = array.combine_maps([], [], [])

Error: main.alloy:11:16: array.combine_maps is at stability level "experimental", which is below the minimum allowed stability level "generally-available". Use --stability.level command-line flag to enable "experimental" features

10 |   targets    = array.combine_maps([], [], [])
11 |   forward_to = array.combine_maps([], [], [])
   |                ^^^^^^^^^^^^^^^^^^
12 | }
""")



# ---- the validator: internal/validator/testdata (validate_test.go runs default/ at the
# experimental stability level, ga/ at generally-available) with the exact output of
# validator.Report, which prints through syntax/diag/printer.go. Trailing spaces of the
# .diags are left out (the comparison strips them on both sides).

def txtar(text: str) -> Dict[str, str]:
    files: Dict[str, str] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        header = re.match(r"^-- (.+) --\n$", line)
        if header:
            name = header.group(1)
            files[name] = ""
        elif name:
            files[name] += line
    return files


def strip_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n"))


@pytest.mark.parametrize("name", sorted(VALIDATOR_TESTDATA))
def test_validator_testdata_prints_what_alloy_prints(name: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    archive, expected = VALIDATOR_TESTDATA[name]
    for filename, content in txtar(archive).items():
        (tmp_path / filename).write_text(content)
    monkeypatch.chdir(tmp_path)
    loaded = load(".", run=False, min_stability="generally-available" if name == "non_ga" else "experimental")
    assert strip_lines(print_diagnostics(loaded.diagnostics, loaded.sources)) == strip_lines(expected)


# ---- validate's checks of a body (syntax/typecheck/typecheck.go, the value decoding of
# syntax/internal/value, Go's time.ParseDuration), of references (internal/util/ast,
# internal/validator/references.go) and of the graph (internal/validator/graph.go),
# against the schemas of alloy-components.json: (severity, line, column, message).
W = 'loki.write "w" {\n\tendpoint {\n\t\turl = "http://l/p"\n%s\t}\n}\n'
P = 'prometheus.remote_write "p" {\n\tendpoint {\n\t\turl = "http://p/w"\n%s\t}\n}\n'
QUEUE = P % "\t\tqueue_config {\n\t\t\t%s\n\t\t}\n"
GA_ONLY = ('is at stability level "experimental", which is below the minimum allowed stability level '
           '"generally-available". Use --stability.level command-line flag to enable "experimental" features')
VALIDATE: Dict[str, Tuple[str, List[Tuple[str, int, int, str]]]] = {
    # Attribute types where the value is a literal.
    "string given a bool": (W % "\t\tname = true\n", [("Error", 4, 10, "expected string, got bool")]),
    "string given a number": (W % "\t\tname = 10\n", []),  # numbers convert to strings
    "duration without a unit": (W % "\t\tbatch_wait = 5\n", [("Error", 4, 16, 'time: missing unit in duration "5"')]),
    "duration zero": (W % "\t\tbatch_wait = 0\n", []),
    "duration with a space": (W % '\t\tbatch_wait = "2 s"\n',
                              [("Error", 4, 16, 'time: unknown unit " s" in duration "2 s"')]),
    "duration in days": (W % '\t\tbatch_wait = "2d"\n', [("Error", 4, 16, 'time: unknown unit "d" in duration "2d"')]),
    "duration as a string": (W % '\t\tbatch_wait = "1m30s"\n', []),
    "int given a word": (QUEUE % 'max_shards = "ten"', [("Error", 5, 17, "expected number, got string")]),
    "int given a numeric string": (QUEUE % 'max_shards = "10"', []),
    "bool given a string": (QUEUE % 'retry_on_http_429 = "yes"', [("Error", 5, 24, "expected bool, got string")]),
    "map given an array": (W % '\t\theaders = ["a"]\n', [("Error", 4, 13, "expected object, got array")]),
    "map values typed": (W % "\t\theaders = {a = true, b = 1}\n", [("Error", 4, 18, "expected string, got bool")]),
    "list given a string": ('loki.source.journal "j" {\n\tforward_to = "loki.write.w.receiver"\n}\n',
                            [("Error", 2, 15, "expected array, got string")]),
    "secret given a number": (W % "\t\tbearer_token = 42\n", [("Error", 4, 18, "expected capsule, got number")]),
    "secret given an object": (W % "\t\tbearer_token = {}\n", [("Error", 4, 18, "expected capsule, got object")]),
    "negated string": (QUEUE % 'max_shards = -"x"', [("Error", 5, 18, "expected number, got string")]),
    "not a number": (QUEUE % "retry_on_http_429 = !1", [("Error", 5, 25, "expected bool, got number")]),
    "calls are not type-checked": (W % '\t\tname = sys.env("X")\n', []),
    # basic_auth's username is optional (prometheus common config): a password alone is valid.
    "basic_auth with only a password": (W % '\t\tbasic_auth {\n\t\t\tpassword = sys.env("P")\n\t\t}\n', []),
    # A block that is not a list may be given once; every occurrence is reported.
    "basic_auth twice": (W % '\t\tbasic_auth {\n\t\t\tusername = "u"\n\t\t}\n\t\tbasic_auth {\n\t\t\tusername = "v"\n\t\t}\n',
                         [("Error", 4, 3, 'block "basic_auth" may only be specified once'),
                          ("Error", 7, 3, 'block "basic_auth" may only be specified once')]),
    "wal twice": ('prometheus.remote_write "p" {\n\twal {\n\t}\n\twal {\n\t\ttruncate_frequency = 1\n\t}\n}\n',
                  [("Error", 2, 2, 'block "wal" may only be specified once'),
                   ("Error", 4, 2, 'block "wal" may only be specified once')]),
    "endpoint repeats": (W % '\t}\n\tendpoint {\n\t\turl = "http://m/p"\n', []),
    "attribute twice": (W % '\t\turl = "http://x"\n', [("Error", 4, 3, 'attribute "url" may only be provided once')]),
    "block used as an attribute": (W % "\t\tbasic_auth = {}\n",
                                   [("Error", 4, 3, '"basic_auth" must be a block, but is used as an attribute')]),
    "attribute used as a block": (W % "\t\turl {\n\t\t}\n",
                                  [("Error", 4, 3, '"url" must be an attribute, but is used as a block')]),
    "unknown block": (W % "\t\tbasic {\n\t\t}\n", [("Error", 4, 3, 'unrecognized block name "basic"')]),
    "labelled inner block": (W % '\t\tbasic_auth "x" {\n\t\t}\n', []),  # validate checks no label there
    "stage kinds": ('loki.process "p" {\n\tforward_to = []\n\tstage.json {\n\t\texpressions = {a = "b"}\n\t}\n'
                    '\tstage.match {\n\t\tselector = "{a=\\"b\\"}"\n\t\tstage.drop {\n\t\t\texpression = ".*"\n\t\t}\n'
                    '\t}\n\tstage.nonsense {\n\t}\n}\n',
                    [("Error", 12, 2, 'unrecognized block name "stage.nonsense"')]),
    # Missing required attributes in the order of Alloy's struct fields.
    "stage without its required attributes": (
        'loki.process "p" {\n\tforward_to = []\n\tstage.timestamp {\n\t}\n}\n',
        [("Error", 3, 2, 'missing required attribute "source"'), ("Error", 3, 2, 'missing required attribute "format"')]),
    "scrape without its required attributes": ('prometheus.scrape "s" {\n}\n', [
        ("Error", 1, 1, 'missing required attribute "targets"'),
        ("Error", 1, 1, 'missing required attribute "forward_to"')]),
    "cycle of two": ('loki.relabel "a" {\n\tforward_to = [loki.relabel.b.receiver]\n}\n\n'
                     'loki.relabel "b" {\n\tforward_to = [loki.relabel.a.receiver]\n}\n',
                     [("Error", 1, 1, "cycle detected: loki.relabel.a, loki.relabel.b"),
                      ("Error", 5, 1, "cycle detected: loki.relabel.a, loki.relabel.b")]),
    "self reference": ('prometheus.relabel "a" {\n\tforward_to = [prometheus.relabel.a.receiver]\n}\n',
                       [("Error", 1, 1, "cannot reference self")]),
    "empty label": ('loki.echo "" {\n}\n', [("Error", 1, 1, 'component "loki.echo" must have a label')]),
    "logging twice": ("logging {\n}\n\nlogging {\n\tlevel = 1\n}\n",
                      [("Error", 4, 1, "block logging already declared at c.alloy:1:1")]),
    "service without configuration": ("cluster {\n}\n",
                                      [("Error", 1, 1, 'service "cluster" does not support being configured')]),
    "top-level attribute": ('level = "info"\nlogging {\n}\n', [("Error", 1, 1, "unrecognized attribute level")]),
    "unknown function": (W.replace('"http://l/p"', 'shout("x")') % "",
                         [("Error", 3, 9, 'component "shout" does not exist or is out of scope')]),
    "deprecated function": (W.replace('"http://l/p"', 'env("X")') % "", [
        ("Warning", 3, 9, "this stdlib function is deprecated; please refer to the documentation for updated "
                          "usage and alternatives")]),
    "experimental function": ('prometheus.scrape "s" {\n\ttargets = array.combine_maps([], [], [])\n\tforward_to = []\n}\n',
                              [("Error", 2, 12, f"array.combine_maps {GA_ONLY}")]),
    "foreach at GA": ('foreach "f" {\n\tcollection = []\n\tvar = "each"\n\ttemplate {\n\t}\n}\n',
                      [("Error", 1, 1, f'foreach block "foreach" {GA_ONLY}')]),
    "declare and use": ('declare "m" {\n\targument "in" {\n\t}\n}\n\nm "x" {\n}\n',
                        [("Error", 6, 1, 'missing required attribute "in"')]),
    "component shadowing stdlib": ('declare "sys" {\n}\n\nsys "x" {\n}\n\nlocal.file "f" {\n\tfilename = sys.x\n}\n',
                                   [("Warning", 8, 13, "a component is shadowing an existing stdlib name")]),
}


@pytest.mark.parametrize("name", sorted(VALIDATE))
def test_validate_checks_what_alloy_checks(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, expected = VALIDATE[name]
    (tmp_path / "c.alloy").write_text(src)
    monkeypatch.chdir(tmp_path)
    got = [(d.severity, d.line, d.col, d.message) for d in load("c.alloy", run=False).diagnostics]
    assert got == expected


def test_the_case_tables_are_not_empty() -> None:
    assert len(SCANNER_ERRORS) >= 15 and len(PARSER_ERRORS) >= 15 and len(DISAGREEMENTS) >= 25
    assert len(VALIDATOR_TESTDATA) == 7 and len(VALIDATE) >= 40


# ---- the command line (internal/alloycli/cmd_fmt.go, cmd_validate.go, validator/report.go)

@pytest.mark.parametrize(("content", "cause"), [
    (b'x = "caf\xe9"\n', "unknown encoding for config"),
    (b"\xff\xfex\x00", "configuration is encoded with UTF16LittleEndian but must be utf8"),
])
def test_validate_refuses_what_is_not_utf8(tmp_path: Path, content: bytes, cause: str) -> None:
    (tmp_path / "c.alloy").write_bytes(content)
    with pytest.raises(LoadError) as err:
        load(tmp_path / "c.alloy", run=False)
    assert (err.value.cause, err.value.parsing) == (cause, True)
    out = alloy("validate", str(tmp_path / "c.alloy"))
    # encoder.EnsureUTF8 fails before parsing; Report prints it without a newline.
    assert (out.returncode, out.stderr) == (1, f"validation failed: {cause}Error: validation failed\n")


def test_fmt_reports_invalid_utf8_as_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "c.alloy").write_bytes(b"x = 1 \xff\n")
    out = alloy("fmt", str(tmp_path / "c.alloy"))
    name = tmp_path / "c.alloy"
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == (f"{name}:1:7: illegal UTF-8 encoding\n{name}:1:7: illegal character U+FFFD '\ufffd'\n"
                          f"{name}:1:7: expected TERMINATOR, got ILLEGAL\nError: encountered errors during formatting\n")


def test_fmt_names_stdin_and_lists_every_error() -> None:
    out = alloy("fmt", stdin='a "b" {\n  x = [\n    1\n  ]\n  y = 1 @\n}\n')
    assert out.returncode == 1
    assert out.stderr == ("<stdin>:3:6: missing ',' in expression list\n"
                          "<stdin>:5:9: illegal character U+0040 '@'\n"
                          "<stdin>:5:9: expected TERMINATOR, got ILLEGAL\n"
                          "Error: encountered errors during formatting\n")


def test_validate_and_fmt_of_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.alloy"
    for command in ("validate", "fmt"):
        out = alloy(command, str(missing))
        assert (out.returncode, out.stderr) == (1, f"Error: stat {missing}: no such file or directory\n")


def test_validate_reads_a_bom_file_and_counts_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "c.alloy").write_bytes(b'\xef\xbb\xbfloki.echo "" {\n}\n')
    diags = load(tmp_path / "c.alloy", run=False).diagnostics
    assert [(d.line, d.col, d.end_line, d.end_col, d.message) for d in diags] == [
        (1, 4, 1, 12, 'component "loki.echo" must have a label')]
