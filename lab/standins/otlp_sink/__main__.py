"""TEST FIXTURE (OTLP sink stand-in: an OTLP/HTTP backend behind basic auth): the command line.

`python3 -m otlp_sink [--listen HOST:PORT] (--user NAME:PASSWORD ... | --credentials FILE)
[--tenant-header X-Scope-OrgID [--tenant ID ...]] [--cert PEM --key PEM]`

The credentials file is JSON: {"users": {"<name>": "<password>", ...}}, at its top or under
an "otlp" key.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from lab_wire.serving import serve_until_interrupted
from otlp_sink.server import Settings, load_users, make_server, parse_user


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otlp_sink",
                                description="TEST FIXTURE: an OTLP/HTTP backend behind basic auth")
    p.add_argument("--listen", default="0.0.0.0:4318", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--user", action="append", default=[], type=parse_user, help="NAME:PASSWORD (repeatable)")
    p.add_argument("--credentials", type=Path, help='JSON file {"users": {"name": "password"}}')
    p.add_argument("--tenant-header", default="", help="a header every request must carry, e.g. X-Scope-OrgID")
    p.add_argument("--tenant", action="append", default=[], help="a tenant the header may name (repeatable; "
                                                                  "default: any)")
    p.add_argument("--cert", type=Path, help="PEM certificate: serve HTTPS")
    p.add_argument("--key", type=Path, help="PEM private key of --cert")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    users = dict(args.user)
    if args.credentials:
        users.update(load_users(args.credentials))
    if not users:
        print("otlp_sink: give at least one --user NAME:PASSWORD or --credentials FILE", file=sys.stderr)
        return 2
    if bool(args.cert) != bool(args.key):
        print("otlp_sink: --cert and --key go together", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    settings = Settings(users=users, tenant_header=args.tenant_header, tenants=frozenset(args.tenant),
                        cert=args.cert, key=args.key)
    server = make_server((host.strip("[]") or "0.0.0.0", int(port)), settings)
    scheme = "https" if args.cert else "http"
    return serve_until_interrupted(
        server, f"otlp sink stand-in (TEST FIXTURE) listening on {scheme}://{host}:{server.server_address[1]}")


if __name__ == "__main__":
    sys.exit(main())
