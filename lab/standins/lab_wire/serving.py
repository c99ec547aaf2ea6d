"""TEST FIXTURE (shared by the stand-ins' HTTP(S) servers): the threaded server with optional
TLS, its server-side TLS context, and the command line's serve-until-interrupted.

The TLS handshake happens in the request's thread (bounded by the handler's timeout), so a
slow or failing client never blocks the others; such a client's TLS or connection error is
no traceback (one line on stderr when the server has a name, nothing otherwise).
"""
from __future__ import annotations

import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Tuple, Type


def server_context(cert: str, key: Optional[str] = None) -> ssl.SSLContext:
    """A server's TLS context: the certificate chain (key beside it, or in cert), TLS 1.2 at least."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key or None)
    return context


class LabServer(ThreadingHTTPServer):
    """Threaded, daemon threads; IPv6 when the host has a colon; HTTPS when given a context."""
    daemon_threads = True

    def __init__(self, address: Tuple[str, int], handler: Type[BaseHTTPRequestHandler],
                 context: Optional[ssl.SSLContext] = None, name: str = "") -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.name = name
        super().__init__(address, handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: object, client_address: object) -> None:
        err = sys.exc_info()[1]
        if isinstance(err, (ssl.SSLError, ConnectionError, TimeoutError)):
            if self.name:
                print(f"{self.name}: {client_address}: {err}", file=sys.stderr, flush=True)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def serve_until_interrupted(server: ThreadingHTTPServer, banner: str) -> int:
    """A command line's last step: says banner on stderr, serves until Ctrl-C, exits 0."""
    print(banner, file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
