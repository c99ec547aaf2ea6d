"""TEST FIXTURE (Fleet Management stand-in: Grafana Fleet Management's collector API): the command line.

`python3 -m fleet_standin [--listen HOST:PORT] --credentials FILE --pipelines DIR [--cert PEM --key PEM]`

The credentials file is JSON: {"fleet": {"users": {"<instance ID>": "<token>"}}} (or
{"users": ...} at its top). The pipelines directory holds <name>.alloy files, each with a
<name>.json sidecar {"matchers": [...], "enabled": true} (see __init__.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from lab_wire.serving import serve_until_interrupted

from .fleet import Fleet, load_pipelines
from .server import Settings, load_users, make_server


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fleet_standin",
                                description="TEST FIXTURE: Grafana Fleet Management's collector API")
    p.add_argument("--listen", default="0.0.0.0:8080", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--credentials", type=Path, required=True,
                   help='JSON file {"fleet": {"users": {"<instance ID>": "<token>"}}}')
    p.add_argument("--pipelines", type=Path, required=True, help="directory of <name>.alloy + <name>.json")
    p.add_argument("--cert", type=Path, help="PEM certificate: serve HTTPS")
    p.add_argument("--key", type=Path, help="PEM private key of --cert")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    if bool(args.cert) != bool(args.key):
        print("fleet_standin: --cert and --key go together", file=sys.stderr)
        return 2
    try:
        users = load_users(args.credentials)
        pipelines = load_pipelines(args.pipelines)
    except (OSError, ValueError) as err:
        print(f"fleet_standin: {err}", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    server = make_server((host.strip("[]") or "0.0.0.0", int(port)),
                         Settings(users=users, cert=args.cert, key=args.key), Fleet(pipelines))
    scheme = "https" if args.cert else "http"
    return serve_until_interrupted(
        server, f"fleet management stand-in (TEST FIXTURE) listening on {scheme}://{host}:{server.server_address[1]} "
                f"with {len(pipelines)} pipeline(s)")


if __name__ == "__main__":
    sys.exit(main())
