"""TEST FIXTURE (gateway stand-in: authenticating HTTPS gateways in front of Loki and
Prometheus, Mimir and Grafana Cloud shaped): the command line. See __init__.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional
from urllib.parse import urlsplit

from gateway_standin.credentials import DEFAULT_PATH
from gateway_standin.lab_ca import GATEWAY_CERT, GATEWAY_KEY
from gateway_standin.server import Gateway, Settings
from gateway_standin.shapes import Upstreams


def http_url(text: str) -> str:
    url = urlsplit(text)
    if url.scheme != "http" or not url.hostname:
        raise argparse.ArgumentTypeError(f"an upstream is an http://host:port URL, not {text!r}")
    return text.rstrip("/")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway_standin",
                                description="TEST FIXTURE: authenticating TLS gateways in front of the lab's backends")
    p.add_argument("--listen-host", default="0.0.0.0")
    p.add_argument("--loki-port", type=int, default=3100, help="Loki behind an auth gateway (0: any free port)")
    p.add_argument("--prometheus-port", type=int, default=9090, help="Prometheus/Mimir behind an auth gateway")
    p.add_argument("--cloud-port", type=int, default=443, help="Grafana Cloud shaped")
    p.add_argument("--cert", type=Path, default=GATEWAY_CERT, help="PEM certificate (SAN DNS:gateway)")
    p.add_argument("--key", type=Path, default=GATEWAY_KEY, help="PEM private key")
    p.add_argument("--credentials", type=Path, default=DEFAULT_PATH, help="the lab credentials (JSON)")
    p.add_argument("--loki-upstream", type=http_url, default="http://loki:3100")
    p.add_argument("--prometheus-upstream", type=http_url, default="http://prometheus:9090")
    p.add_argument("--upstream-timeout", type=float, default=10.0, help="seconds per upstream request")
    p.add_argument("--client-timeout", type=float, default=30.0, help="seconds of client inactivity")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    gateway = Gateway(Settings(
        cert=args.cert, key=args.key, credentials=args.credentials, host=args.listen_host,
        upstreams=Upstreams(loki=args.loki_upstream, prometheus=args.prometheus_upstream),
        ports={"loki": args.loki_port, "prometheus": args.prometheus_port, "cloud": args.cloud_port},
        upstream_timeout=args.upstream_timeout, client_timeout=args.client_timeout))
    listening = " ".join(f"{name}={port}" for name, port in gateway.ports().items())
    print(f"gateway stand-in (TEST FIXTURE) listening on {args.listen_host}: {listening}",
          file=sys.stderr, flush=True)
    gateway.serve()
    try:
        gateway.wait()
    except KeyboardInterrupt:
        gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
