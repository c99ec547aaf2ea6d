"""The stand-in's command line: exit codes and messages in the real formats."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

STANDINS = Path(__file__).resolve().parents[1] / "standins"
DATA = Path(__file__).parent / "data"


def alloy(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(STANDINS))
    return subprocess.run([sys.executable, "-m", "alloy_standin", *args], capture_output=True,
                          text=True, env=env, input=stdin, check=False)


def test_version_has_the_real_format() -> None:
    out = alloy("--version")
    assert out.returncode == 0
    assert re.match(r"^alloy, version v\S+ \(branch: \S+, revision: \S+\)\n", out.stdout)
    assert "go version:" in out.stdout


def test_fmt_prints_tab_indented_and_aligned() -> None:
    out = alloy("fmt", "-", stdin='a "b" {\n  x = 1\n  long_name = "v"\n}\n')
    assert out.returncode == 0, out.stderr
    assert out.stdout == 'a "b" {\n\tx         = 1\n\tlong_name = "v"\n}\n'


def test_fmt_reports_file_line_col_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.alloy"
    bad.write_text('a "b" {\n  x = [\n    1\n  ]\n}\n')
    out = alloy("fmt", str(bad))
    assert out.returncode == 1
    assert f"{bad}:3:6: " in out.stderr
    assert "Error: encountered errors during formatting" in out.stderr


def test_fmt_refuses_a_directory(tmp_path: Path) -> None:
    out = alloy("fmt", str(tmp_path))
    assert out.returncode == 1 and "cannot format a directory" in out.stderr


def test_validate_accepts_seed_002() -> None:
    out = alloy("validate", str(DATA / "seed002_journal.alloy"))
    assert (out.returncode, out.stderr) == (0, "")


def test_validate_fails_on_the_deprecated_env_of_seed_000() -> None:
    out = alloy("validate", str(DATA / "seed000_unix.alloy"))
    assert out.returncode == 1
    assert re.search(r"^Warning: \S+seed000_unix.alloy:33:21: ", out.stderr, re.M)
    assert out.stderr.rstrip().endswith("Error: validation failed")


def test_validate_a_directory_checks_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.alloy").write_text('loki.echo "x" {\n}\n')
    (tmp_path / "b.alloy").write_text('loki.echo "y" {\n}\n\nloki.echo "x" {\n}\n')
    (tmp_path / "ignored.txt").write_text("not alloy {")
    out = alloy("validate", str(tmp_path))
    assert out.returncode == 1
    # A directory's files are named by their joined path (loadSourceFiles walks the directory).
    assert f"Error: {tmp_path}/b.alloy:4:1: block loki.echo.x already declared at {tmp_path}/a.alloy:1:1\n" \
        in out.stderr


# Alloy's wording and quoting (Go's %q): syntax/typecheck/typecheck.go, internal/component/registry.go,
# internal/util/ast/references.go, internal/validator/validate.go.
@pytest.mark.parametrize(("body", "message"), [
    ('prometheus.scrape "s" {\n  targets = []\n}\n', '1:1: missing required attribute "forward_to"'),
    ('loki.write "w" {\n  endpoint {\n    url = "http://x"\n    colour = 1\n  }\n}\n',
     '4:5: unrecognized attribute name "colour"'),
    ('loki.nothing "w" {\n}\n', '1:1: cannot find the definition of component name "loki.nothing"'),
    ('loki.source.journal "j" {\n  forward_to = [loki.write.missing.receiver]\n}\n',
     '2:17: component "loki.write.missing.receiver" does not exist or is out of scope'),
    ('loki.echo {\n}\n', '1:1: component "loki.echo" must have a label'),
    ('loki.write "w" {\n  endpoint {\n    url = true\n  }\n}\n', "3:11: expected string, got bool"),
])
def test_validate_semantic_errors(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "c.alloy").write_text(body)
    out = alloy("validate", str(tmp_path / "c.alloy"))
    assert out.returncode == 1
    assert f"Error: {tmp_path / 'c.alloy'}:{message}\n" in out.stderr
    assert out.stderr.endswith("Error: validation failed\n")


def test_validate_prints_alloys_context_lines(tmp_path: Path) -> None:
    (tmp_path / "c.alloy").write_text('loki.write "w" {\n\tendpoint {\n\t\turl = 1.5\n\t\tbatch_wait = 5\n\t}\n}\n')
    out = alloy("validate", str(tmp_path / "c.alloy"))
    assert out.returncode == 1
    assert out.stdout == "\n"  # validator.Report's fmt.Println() goes to stdout
    assert out.stderr == (
        f'Error: {tmp_path / "c.alloy"}:4:16: time: missing unit in duration "5"\n'
        "\n"
        "3 |         url = 1.5\n"
        "4 |         batch_wait = 5\n"
        "  |                      ^\n"
        "5 |     }\n"
        "Error: validation failed\n")


# What `alloy validate` lets through and only evaluation (`alloy run`) refuses: the
# validator resolves a reference to its component, never to the field.
@pytest.mark.parametrize(("body", "message"), [
    ('loki.echo "e" {\n}\nloki.source.journal "j" {\n  forward_to = [loki.echo.e.targets]\n}\n',
     '4:29: field "targets" does not exist'),
    ('loki.write "w" {\n  endpoint {\n    url = string.shout("x")\n  }\n}\n', '3:18: field "shout" does not exist'),
])
def test_run_refuses_what_validate_lets_through(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "c.alloy").write_text(body)
    assert alloy("validate", str(tmp_path / "c.alloy")).returncode == 0
    out = alloy("run", f"--storage.path={tmp_path / 'data'}", str(tmp_path / "c.alloy"))
    assert out.returncode == 1
    assert f"{tmp_path / 'c.alloy'}:{message}" in out.stderr


def test_run_rejects_unknown_flags_and_missing_path(tmp_path: Path) -> None:
    out = alloy("run", "--log.level=debug", str(tmp_path))
    assert (out.returncode, out.stderr.strip()) == (1, "Error: unknown flag: --log.level")
    out = alloy("run", str(tmp_path / "missing.alloy"))
    assert out.returncode == 1 and "no such file or directory" in out.stderr


def test_run_refuses_to_start_on_an_invalid_config(tmp_path: Path) -> None:
    (tmp_path / "c.alloy").write_text('loki.write "w" {\n  endpoint {\n  }\n}\n')
    out = alloy("run", f"--storage.path={tmp_path / 'data'}", str(tmp_path / "c.alloy"))
    assert out.returncode == 1
    assert 'missing required attribute "url"' in out.stderr
    assert "could not perform the initial load" in out.stderr


@pytest.mark.parametrize("seed", ["seed002_journal.alloy", "seed000_unix.alloy"])
def test_fmt_accepts_both_seed_pipelines_and_keeps_their_components(seed: str) -> None:
    out = alloy("fmt", str(DATA / seed))
    assert (out.returncode, out.stderr) == (0, "")
    source_blocks = re.findall(r'^([a-z_.]+) "(\w+)"\s*\{', (DATA / seed).read_text(), re.M)
    assert re.findall(r'^([a-z_.]+) "(\w+)" \{', out.stdout, re.M) == source_blocks
