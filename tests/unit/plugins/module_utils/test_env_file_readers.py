"""Every character a secret may hold comes back byte for byte from the env file's three readers: systemd's
EnvironmentFile= (a port of its parser), the package scripts' sh (the real /bin/sh, dash here) and Docker Compose's
env_file (a port of compose-go's dotenv parser, and the real `docker compose config` when it is installed)."""
from __future__ import annotations

import functools
import json
import os
import random
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils.envfile import (
    EnvFileError, masked, render_section, update, value_problem)

# --- systemd ------------------------------------------------------------------------------------------------------
# Ported from systemd src/basic/env-file.c, parse_env_file_internal(): the states a KEY="..." or KEY='...' line and
# a comment go through (unquoted values, VALUE and VALUE_ESCAPE, are not ported), and load_env_file_push() ->
# check_utf8ness_and_warn(), whose -EINVAL fails the whole file (src/basic/utf8.c unichar_is_valid()).
WHITESPACE, NEWLINE, COMMENTS = " \t\n\r", "\n\r", "#;"  # src/basic/string-util.h
SHELL_NEED_ESCAPE = "\"\\`$"  # src/basic/escape.h


def unichar_is_valid(code: int) -> bool:
    return not (code >= 0x110000 or (code & 0xFFFFF800) == 0xD800 or 0xFDD0 <= code <= 0xFDEF
                or (code & 0xFFFE) == 0xFFFE)


def systemd_read(text: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    state, key, value, key_ws = "PRE_KEY", "", "", -1  # key_ws: last_key_whitespace (-1 for SIZE_MAX)

    def push() -> None:
        if not all(unichar_is_valid(ord(char)) for char in value):
            raise ValueError("EINVAL: invalid UTF-8 value for key %s" % key)
        out[key[:key_ws] if key_ws >= 0 else key] = value

    for char in text.split("\0")[0]:  # for (char *p = contents; *p; p++)
        if state == "PRE_KEY":
            if char in COMMENTS:
                state = "COMMENT"
            elif char not in WHITESPACE:
                state, key, key_ws = "KEY", char, -1
        elif state == "KEY":
            if char in NEWLINE:
                state, key = "PRE_KEY", ""
            elif char == "=":
                state, value = "PRE_VALUE", ""
            else:
                key_ws = -1 if char not in WHITESPACE else (len(key) if key_ws < 0 else key_ws)
                key += char
        elif state == "PRE_VALUE":
            if char in NEWLINE:
                push()
                state, key, value = "PRE_KEY", "", ""
            elif char in "'\"":
                state = "SINGLE_QUOTE_VALUE" if char == "'" else "DOUBLE_QUOTE_VALUE"
            elif char not in WHITESPACE:
                raise NotImplementedError("unquoted values (VALUE, VALUE_ESCAPE) are not ported")
        elif state == "SINGLE_QUOTE_VALUE":
            state, value = ("PRE_VALUE", value) if char == "'" else (state, value + char)
        elif state == "DOUBLE_QUOTE_VALUE":
            state = {'"': "PRE_VALUE", "\\": "DOUBLE_QUOTE_VALUE_ESCAPE"}.get(char, state)
            value += "" if char in '"\\' else char
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if char in SHELL_NEED_ESCAPE:  # a char that needs escaping: unescape it
                value += char
            elif char != "\n":  # other chars keep the backslash "like the real shell does"
                value += "\\" + char
        elif state == "COMMENT":
            state = "COMMENT_ESCAPE" if char == "\\" else ("PRE_KEY" if char in NEWLINE else state)
        else:  # COMMENT_ESCAPE
            state = "PRE_KEY" if char in NEWLINE else "COMMENT"
    if state in ("PRE_VALUE", "SINGLE_QUOTE_VALUE", "DOUBLE_QUOTE_VALUE", "DOUBLE_QUOTE_VALUE_ESCAPE"):
        push()
    return out


# --- Docker Compose -----------------------------------------------------------------------------------------------
# Ported from compose-spec/compose-go (v2, the same code from v2.0.0 to v2.9.1) dotenv/parser.go: parser.parse,
# getStatementStart, locateKeyName, extractVarValue (its quoted branch), expandEscapes (escapeSeqRegex, and the
# strconv.UnquoteChar it calls); dotenv/godotenv.go parseWithLookup and expandVariables -> template/template.go
# Substitute (DefaultPattern; the ${VAR:-default} family is not ported).
ESCAPE_SEQ = re.compile(r'(\\(?:[abcfnrtv$"\\]|0[0-9]{0,3}))')  # Go's \d is [0-9]
GO_ESCAPES = dict(zip('abfnrtv"\\', '\a\b\f\n\r\t\v"\\'))  # strconv.UnquoteChar; \c is an error: kept as is
TEMPLATE = re.compile(r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*"
                      r"(?::?[-+?](?P<modifier>.*))?)\}|(?P<invalid>)))")
ISSPACE = "\t\v\f\r \x85\xa0"  # parser.go isSpace (no \n)


def go_is_space(char: str) -> bool:  # unicode.IsSpace: Latin-1 spaces, then the White_Space property
    return char in ISSPACE or char == "\n" or (char > "\xff" and char.isspace())


def _unescape(match: re.Match[str]) -> str:
    seq = match.group(0)
    if seq == "\\$":
        return "$$"  # "the expansion parser uses the special `$$` syntax"
    if seq.startswith("\\0"):
        seq = "\\" + seq[2:]  # `\0123` -> `\123`; UnquoteChar wants exactly 3 octal digits <= 0377
        digits = seq[1:]
        good = len(digits) == 3 and set(digits) <= set("01234567") and int(digits, 8) <= 0o377
        return chr(int(digits, 8)) if good else seq
    return GO_ESCAPES.get(seq[1], seq)


def _substitute(value: str, env: Dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("modifier") is not None:
            raise NotImplementedError("${VAR:-default} and friends are not ported")
        name = match.group("named") or match.group("braced")
        if not name:
            raise ValueError("Invalid template: %r" % value)
        return env.get(name, "")  # unset: a warning and ""
    return TEMPLATE.sub(replace, value)


def compose_read(text: str, lookup: Dict[str, str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    src = text[1:] if text.startswith("\ufeff") else text
    while True:
        while True:  # getStatementStart: skip spaces, then a comment up to its \n
            src = src[next((i for i, char in enumerate(src) if not go_is_space(char)), len(src)):]
            if not src.startswith("#"):
                break
            src = src[src.index("\n"):] if "\n" in src else ""
        if not src:
            return out
        src = re.sub(r"^export\s+", "", src)  # locateKeyName
        end = next(i for i, char in enumerate(src) if char in "=:\n")
        key = src[:end].rstrip("".join(char for char in src[:end] if go_is_space(char)))  # TrimRightFunc
        if src[end] == "\n" or not re.fullmatch(r"[\w.\-\[\]]+", key):
            raise NotImplementedError("inherited keys and bad key names are not ported: %r" % key)
        src = src[end + 1:].lstrip(ISSPACE)
        out[key], src = _extract_var_value(src, {**out, **lookup})  # lookupFn first, then the file's own keys


def _extract_var_value(src: str, env: Dict[str, str]) -> Tuple[str, str]:
    quote = src[:1]
    if quote not in ("'", '"') or not quote:
        raise NotImplementedError("unquoted values are not ported")
    chars: List[str] = []
    escaped = False
    for i in range(1, len(src)):
        char = src[i]
        if char != quote or escaped:
            if char == "\\" and not escaped:
                escaped = True
                continue
            chars.append("\\" + char if escaped and char != quote else char)  # \" (or \') drops the backslash
            escaped = False
            continue
        value = "".join(chars)
        if quote == '"':
            value = _substitute(ESCAPE_SEQ.sub(_unescape, value), env)
        return value, src[i + 1:]
    raise ValueError("unterminated quoted value")


# --- the real readers ---------------------------------------------------------------------------------------------
def sh_read(text: str, folder: Path) -> bytes:
    (folder / "alloy.env").write_bytes(text.encode("utf-8"))
    return subprocess.run(["sh", "-c", '. "$1"; printf %s "$KEY"', "sh", str(folder / "alloy.env")],
                          capture_output=True, check=True).stdout


@functools.lru_cache(maxsize=None)
def compose_missing() -> str:
    try:
        found = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return "no docker CLI on PATH"
    return "" if found else "`docker compose version` fails: no Compose plugin"


def compose_config(text: str, folder: Path) -> Dict[str, bytes]:
    if compose_missing():
        pytest.skip("the real Compose is not run: %s" % compose_missing())
    (folder / "alloy.env").write_bytes(text.encode("utf-8"))
    (folder / "compose.yaml").write_text("services:\n  alloy:\n    image: grafana/alloy\n    env_file: alloy.env\n")
    out = subprocess.run(["docker", "compose", "-f", str(folder / "compose.yaml"), "config", "--format", "json"],
                         capture_output=True, check=True).stdout
    environment = json.loads(out)["services"]["alloy"].get("environment", {})
    # config writes a compose file: every $ of a value comes out as $$
    return {key: (value or "").replace("$$", "$").encode("utf-8") for key, value in environment.items()}


# --- the cases ----------------------------------------------------------------------------------------------------
def _random(seed: int, length: int, ascii_only: bool) -> str:
    rng = random.Random(seed)
    chars: List[str] = []
    while len(chars) < length:
        char = chr(rng.randrange(0x20, 0x7F) if ascii_only else rng.randrange(0x110000))
        if unicodedata.category(char) not in ("Cc", "Cs") and unichar_is_valid(ord(char)):
            chars.append(char)
    return "".join(chars)


CASES: Dict[str, str] = {}
for _char in map(chr, range(0x20, 0x7F)):  # alone, then first, doubled and last
    CASES["alone:U+%04X:%s" % (ord(_char), _char)] = _char
    CASES["context:U+%04X:%s" % (ord(_char), _char)] = _char + "a" + _char * 2 + "b" + _char
for _code in [c for c in range(1, 0xA0) if unicodedata.category(chr(c)) == "Cc" and chr(c) not in "\n\r"]:
    CASES["control:U+%04X" % _code] = "a%sb" % chr(_code)
for _char in 'nrt$"`\\aqx0':
    CASES["backslash-before:" + _char] = "\\" + _char
    CASES["backslash-before-in-context:" + _char] = "a\\%sb\\" % _char
CASES.update({name: name for name in ("${HOME}", "$HOME", "$$", "\\$", "$", "${HOME:-x}", "$KEY", "$(id)", "`id`",
                                      "\\0123", "\\x41\\u00e9", "'", '"', "it's", 'say "hi"', "'\"'\"", '""', "''",
                                      "a #b", "a  #b", "a\t#b", "#a", " # c", "a;b", ";a", "=a=", "KEY=b")})
CASES.update({"empty": "", "space": " ", "tab": "\t", "leading-spaces": "  a", "trailing-spaces": "a  ",
              "leading-tab": "\ta", "trailing-tab": "a\t", "both": " \t a \t ", "é": "é", "café": "café",
              "emoji": "😀", "zwj-family": "👩‍👩‍👧", "hebrew-rtl": "שלום", "arabic-rtl": "مرحبا",
              "rtl-override": "a\u202eb", "nbsp": "a\u00a0b", "bom-first": "\ufeffa", "line-separator": "a\u2028b",
              "nel": "a\x85b", "cjk": "日本語", "dash-ctlesc": "Ł\u0141\u0181\u0201"})
CASES.update({"random-unicode-%d" % seed: _random(seed, 3000, False) for seed in (1, 2, 3)})
CASES.update({"random-ascii-%d" % seed: _random(seed, 3000, True).replace("'", "") + "." for seed in (4, 5)})
CASES["random-ascii-no-backtick"] = _random(6, 3000, True).replace("`", "")
# A backtick with a single quote or a final backslash has no quoting all readers agree on:
# quote() refuses it (test_values_no_quoting_can_carry_are_refused), the rest round-trip.
CASES.update({"backtick-and-quote": "a`b'c", "backtick-final-backslash": "`x\\"})
REFUSED = {name: value for name, value in CASES.items() if value_problem(value)}
CASES = {name: value for name, value in CASES.items() if name not in REFUSED}
KEYS = {name: "K%03d" % index for index, name in enumerate(CASES)}
READERS = ("systemd-port", "sh", "compose-port", "compose")


def test_values_no_quoting_can_carry_are_refused() -> None:
    assert len(REFUSED) >= 3 and any("`" in value for value in CASES.values())
    for value in REFUSED.values():
        with pytest.raises(EnvFileError, match="backtick"):
            render_section("x", {"KEY": value}, True)


def _text(values: Dict[str, str]) -> str:
    return "\n".join(render_section("alloy_config", values, True)) + "\n"


@pytest.fixture(scope="module")
def real_compose(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, bytes]:
    return compose_config(_text({KEYS[name]: value for name, value in CASES.items()}), tmp_path_factory.mktemp("c"))


def _params() -> List[object]:
    return [pytest.param(reader, name, id="%s-%s" % (reader, name)) for name in CASES for reader in READERS]


@pytest.mark.parametrize("reader,name", _params())
def test_each_reader_reads_back_what_render_section_wrote(reader: str, name: str, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    value, text = CASES[name], _text({"KEY": CASES[name]})
    if reader == "compose":
        assert request.getfixturevalue("real_compose")[KEYS[name]] == value.encode("utf-8")
    elif reader == "sh":
        assert sh_read(text, tmp_path) == value.encode("utf-8")
    else:
        port = systemd_read(text) if reader == "systemd-port" else compose_read(text, dict(os.environ))
        assert port["KEY"].encode("utf-8") == value.encode("utf-8")


HOME = os.environ.get("HOME", "")  # compose's lookup is the environment, as sh's is
HAND_WRITTEN = [  # (line, what systemd, sh and Compose read: as their sources say; None: not asked)
    ('KEY="a\\nb"', "a\\nb", "a\\nb", "a\nb"),
    ('KEY="a\\qb"', "a\\qb", "a\\qb", "a\\qb"),
    ('KEY="a\\`b"', "a`b", "a`b", "a\\`b"),
    ('KEY="\\0101\\t"', "\\0101\\t", "\\0101\\t", "A\t"),
    ('KEY="$HOME"', "$HOME", HOME, HOME),
    ('KEY="\\$HOME\\\\"', "$HOME\\", "$HOME\\", "$HOME\\"),
    ('KEY="$$"', "$$", None, "$"),
    ("KEY='a\\b'", "a\\b", "a\\b", "a\\b"),
]


@pytest.mark.parametrize("line,systemd,sh,compose", HAND_WRITTEN, ids=[row[0] for row in HAND_WRITTEN])
def test_the_readers_differ_where_their_sources_say(line: str, systemd: str, sh: Optional[str], compose: str,
                                                    tmp_path: Path) -> None:
    text = "# comment \\\n" + line + "\n"
    assert systemd_read(text) == {"KEY": systemd}
    assert compose_read(text, dict(os.environ)) == {"KEY": compose}
    assert sh is None or sh_read(text, tmp_path) == sh.encode("utf-8")
    assert compose_config(text, tmp_path) == {"KEY": compose.encode("utf-8")}


@pytest.mark.parametrize("value", ["\n", "a\nb", "\r", "a\r\nb", "\0", "a\0b", "\ud800", "\uffff", "\ufdd0", "\ufdef",
                                   "a\U0001fffeb", "\U0010ffff"])
def test_what_a_reader_cannot_read_back_is_refused(value: str) -> None:
    with pytest.raises(EnvFileError):
        render_section("alloy_config", {"KEY": value}, True)
    if "\n" not in value and "\r" not in value and "\0" not in value:  # what systemd would do with it
        with pytest.raises(ValueError, match="EINVAL"):
            systemd_read('KEY="%s"\n' % value)


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
                         ids=lambda separator: "U+%04X" % ord(separator))
def test_a_value_survives_an_update_of_another_section(separator: str, tmp_path: Path) -> None:
    value = "top" + separator + "s3cr3t"
    text = update(update("", "alloy_config", {"KEY": value}, True), "alloy_install", {"OTHER": "1"}, False)
    assert systemd_read(text)["KEY"] == value == compose_read(text, {})["KEY"]
    assert sh_read(text, tmp_path) == value.encode("utf-8")
    assert "s3cr3t" not in masked(text)
