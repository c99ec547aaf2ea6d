"""TEST FIXTURE (stand-in for Grafana Alloy): the `alloy` command line.

`alloy --version`, `alloy fmt FILE|-`, `alloy validate FILE|DIR` and `alloy run PATH`
with the flags of shared/docs/alloy-facts.md section 3; errors as `Error: ...` on
stderr with exit 1, as cobra prints them (internal/alloycli/cmd_fmt.go and
cmd_validate.go: fmt prints each diagnostic as `file:line:col: msg`, validate through
Alloy's diagnostics printer). The version is baked in when the lab packages the stand-in.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import fmt
from .cluster_flags import CLUSTER_FLAGS, ClusterError, build, cluster_options
from .diag import go_quote, print_diagnostics
from .syntax import AlloySyntaxError, parse
from .validate import STABILITY_LEVELS, LoadError, load

try:
    from ._version import VERSION  # written by the lab's package build
except ImportError:  # running from the source tree
    VERSION = "0.0.0-dev"
# Tests run the stand-in from source as any Alloy version (e.g. one without `validate`).
VERSION = os.environ.get("ALLOY_STANDIN_VERSION", VERSION)

RUN_FLAGS: Dict[str, Optional[str]] = {
    # flag: default value (None = boolean flag)
    "server.http.listen-addr": "127.0.0.1:12345",
    "storage.path": "data-alloy/",
    "stability.level": "generally-available",
    "config.format": "alloy",
    "config.extra-args": "",
    "disable-reporting": None,
    "feature.community-components.enabled": None,
    "server.http.ui-path-prefix": "/",
    "server.http.enable-pprof": None,
    **CLUSTER_FLAGS,
}
VALIDATE_FLAGS: Dict[str, Optional[str]] = {
    "config.format": "alloy",
    "config.bypass-conversion-errors": None,
    "config.extra-args": "",
    "stability.level": "generally-available",
    "feature.community-components.enabled": None,
}
STABILITY = STABILITY_LEVELS


def err(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return 1


def bad_stability(level: str) -> str:
    """pflag's message for a value featuregate.Stability.Set refuses."""
    return (f"invalid argument {go_quote(level)} for \"--stability.level\" flag: "
            f"invalid stability level {go_quote(level)}")


def version_text() -> str:
    return (f"alloy, version v{VERSION} (branch: HEAD, revision: standin)\n"
            f"  build user:       fleet-alloy-lab\n"
            f"  build date:       2026-01-01T00:00:00Z\n"
            f"  go version:       go1.24.0\n"
            f"  platform:         linux/amd64\n"
            f"  tags:             builtinassets\n")


def parse_flags(args: List[str], known: Optional[Dict[str, Optional[str]]] = None
                ) -> Tuple[Dict[str, str], List[str]]:
    known = RUN_FLAGS if known is None else known
    values = {k: v for k, v in known.items() if v is not None}
    positional: List[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            positional.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        if name not in known:
            raise ValueError(f"unknown flag: --{name}")
        if known[name] is None:
            values[name] = value if eq else "true"
            continue
        if not eq:
            if i >= len(args):
                raise ValueError(f"flag needs an argument: --{name}")
            value = args[i]
            i += 1
        values[name] = value
    return values, positional


def _stat_error(name: str, exc: OSError) -> str:
    """Go's *PathError text, e.g. `stat x.alloy: no such file or directory`."""
    text = exc.strerror or str(exc)
    return f"stat {name}: {text[:1].lower()}{text[1:]}"


def cmd_fmt(args: List[str]) -> int:
    """`alloy fmt`: each syntax diagnostic as `file:line:col: msg`, then the error."""
    flags = [a for a in args if a.startswith("-") and a != "-"]
    files = [a for a in args if not (a.startswith("-") and a != "-")]
    if flags:
        return err(f"the stand-in does not support {' '.join(flags)} (it cannot keep comments)")
    if len(files) > 1:
        return err(f"accepts between 0 and 1 arg(s), received {len(files)}")
    name = files[0] if files else "-"
    try:
        if name != "-" and Path(name).is_dir():
            return err("cannot format a directory")
        src = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        return err(_stat_error(name, exc))
    try:
        statements = parse(src, "<stdin>" if name == "-" else name)
    except AlloySyntaxError as exc:
        for diag in exc.diagnostics:
            position = f"{'<stdin>' if name == '-' else name}:{diag.line}:{diag.col}"
            print(f"{position}: {diag.message}", file=sys.stderr)
        return err("encountered errors during formatting")
    sys.stdout.write(fmt.format_file(statements))
    return 0


def cmd_validate(args: List[str]) -> int:
    """`alloy validate`: Alloy's diagnostics printer on stderr, a newline on stdout."""
    try:
        flags, paths = parse_flags(args, VALIDATE_FLAGS)
    except ValueError as exc:
        return err(str(exc))
    if len(paths) != 1:
        return err(f"accepts 1 arg(s), received {len(paths)}")
    if flags["stability.level"] not in STABILITY:
        return err(bad_stability(flags["stability.level"]))
    try:
        loaded = load(paths[0], run=False, min_stability=flags["stability.level"])
    except LoadError as exc:
        if not exc.parsing:
            return err(exc.cause)
        sys.stderr.write(f"validation failed: {exc.cause}")  # validator.Report writes no newline here
        return err("validation failed")
    if not loaded.diagnostics:
        return 0
    sys.stderr.write(print_diagnostics(loaded.diagnostics, loaded.sources))
    print()  # validator.Report ends with fmt.Println(), on stdout
    return err("validation failed")


def cmd_run(args: List[str]) -> int:
    try:
        flags, paths = parse_flags(args)
        cluster = cluster_options(flags)  # pflag checks the values as it parses
    except (ValueError, ClusterError) as exc:
        return err(str(exc))
    if len(paths) != 1:
        return err("run expects exactly one path to a config file or directory")
    if flags["stability.level"] not in STABILITY:
        return err(bad_stability(flags["stability.level"]))
    try:
        setup = build(cluster, flags["server.http.listen-addr"])  # before the initial load, as Alloy
    except ClusterError as exc:
        return err(str(exc))
    from .server import serve  # noqa: PLC0415 - only run needs the server

    return serve(Path(paths[0]), flags["server.http.listen-addr"], Path(flags["storage.path"]), VERSION,
                 cluster=setup)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print("usage: alloy [--version] <run|fmt|validate> ...  (fleet.alloy lab stand-in)")
        return 0 if args else 1
    if args[0] in ("--version", "-v", "version"):
        sys.stdout.write(version_text())
        return 0
    commands = {"fmt": cmd_fmt, "validate": cmd_validate, "run": cmd_run}
    if args[0] not in commands:
        return err(f"unknown command {args[0]!r} for \"alloy\"")
    return commands[args[0]](args[1:])
