"""Command line of the lab: ./dev {bootstrap,images,up,lab,down,test,molecule ARGS,bench ARGS,mutate ARGS,
platforms [--write]}."""
from __future__ import annotations

import argparse
import sys

from . import bootstrap


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev", description=__doc__)
    parser.add_argument("command", choices=["bootstrap", "images", "up", "lab", "down", "test", "molecule", "bench",
                                            "mutate", "platforms"])
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="passed to the command")
    args = parser.parse_args(argv)
    if args.command == "platforms":   # the scenarios' platforms from labtool/platforms.py: no Docker
        from . import platforms  # noqa: PLC0415

        return platforms.main(args.rest)
    if args.command == "mutate":
        # Mutation testing runs the unit tests only: the pinned venv, no Docker engine.
        bootstrap.activate(bootstrap.ensure_venv())
        bootstrap.ensure_collection_link()
    else:
        bootstrap.ensure_all()
    if args.command == "bootstrap":
        return 0
    from . import cli  # noqa: PLC0415 - needs the bootstrapped environment

    return cli.dispatch(args.command, args.rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
