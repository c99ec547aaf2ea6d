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
    assert "Error: b.alloy:4:1: block loki.echo.x already declared at a.alloy:1:1" in out.stderr


@pytest.mark.parametrize(("body", "message"), [
    ('prometheus.scrape "s" {\n  targets = []\n}\n', "missing required attribute 'forward_to'"),
    ('loki.write "w" {\n  endpoint {\n    url = "http://x"\n    colour = 1\n  }\n}\n', "unrecognized attribute name 'colour'"),
    ('loki.nothing "w" {\n}\n', "cannot find the definition of component name 'loki.nothing'"),
    ('loki.source.journal "j" {\n  forward_to = [loki.write.missing.receiver]\n}\n', "does not exist"),
    ('loki.echo "e" {\n}\nloki.source.journal "j" {\n  forward_to = [loki.echo.e.targets]\n}\n', "does not export 'targets'"),
    ('loki.write "w" {\n  endpoint {\n    url = string.shout("x")\n  }\n}\n', "function 'string.shout' does not exist"),
    ('loki.echo {\n}\n', "must have a label"),
])
def test_validate_semantic_errors(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "c.alloy").write_text(body)
    out = alloy("validate", str(tmp_path / "c.alloy"))
    assert out.returncode == 1
    assert message in out.stderr


def test_run_rejects_unknown_flags_and_missing_path(tmp_path: Path) -> None:
    out = alloy("run", "--log.level=debug", str(tmp_path))
    assert (out.returncode, out.stderr.strip()) == (1, "Error: unknown flag: --log.level")
    out = alloy("run", str(tmp_path / "missing.alloy"))
    assert out.returncode == 1 and "no such file or directory" in out.stderr


def test_run_refuses_to_start_on_an_invalid_config(tmp_path: Path) -> None:
    (tmp_path / "c.alloy").write_text('loki.write "w" {\n  endpoint {\n  }\n}\n')
    out = alloy("run", f"--storage.path={tmp_path / 'data'}", str(tmp_path / "c.alloy"))
    assert out.returncode == 1
    assert "missing required attribute 'url'" in out.stderr
    assert "could not perform the initial load" in out.stderr


@pytest.mark.parametrize("seed", ["seed002_journal.alloy", "seed000_unix.alloy"])
def test_fmt_accepts_both_seed_pipelines_and_keeps_their_components(seed: str) -> None:
    out = alloy("fmt", str(DATA / seed))
    assert (out.returncode, out.stderr) == (0, "")
    source_blocks = re.findall(r'^([a-z_.]+) "(\w+)"\s*\{', (DATA / seed).read_text(), re.M)
    assert re.findall(r'^([a-z_.]+) "(\w+)" \{', out.stdout, re.M) == source_blocks
