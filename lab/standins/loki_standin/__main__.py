"""TEST FIXTURE (Loki stand-in, multi-tenant like Loki with auth_enabled): the command line.

`python3 -m loki_standin [--listen HOST:PORT] [--ready-after SECONDS]`
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from lab_wire.serving import serve_until_interrupted
from loki_standin.server import make_server


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="loki_standin", description="TEST FIXTURE: a multi-tenant Loki stand-in")
    parser.add_argument("--listen", default="0.0.0.0:3100", help="HOST:PORT (port 0: any free port)")
    parser.add_argument("--ready-after", type=float, default=0.0, help="seconds of 503 on /ready")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    server = make_server((host, int(port)), args.ready_after)
    return serve_until_interrupted(
        server, f"loki stand-in (TEST FIXTURE, multi-tenant) listening on {host}:{server.server_address[1]}")


if __name__ == "__main__":
    sys.exit(main())
