"""TEST FIXTURE (stand-in for Grafana Alloy): Alloy's HTTP server over TLS, the `http` block's
`tls` (`http { tls { cert_file = ..., key_file = ... } }`).

From grafana/alloy internal/service/http (http.go, tls.go) and Go's net/http and crypto/tls:
- TLSArguments.Validate runs when the block is evaluated (`alloy run` and every reload; not
  `alloy validate`, whose type check never calls it): at most one of cert_pem/cert_file,
  key_pem/key_file, client_ca_pem/client_ca_file; a certificate and a key are required; a client
  CA is refused while client_auth_type is NoClientCert, its default. client_auth_type,
  min_version and max_version are decoded then ("unknown client auth type ..."). The loader
  reports each as "Failed to evaluate service: decoding configuration: <error>".
- Service.Update builds the tls.Config: the client CA is read now ("Failed to evaluate service:
  updating service: failed to read client_ca_file: open ..."); the certificate and key are read
  at every handshake (GetCertificate), so a missing one fails each handshake, not the load
  ("http: TLS handshake error from <addr>: failed to read cert_file: open ..."), and a renewed
  certificate is served without a reload. ALPN offers h2 and http/1.1 (since 1.16.3/1.17.0:
  1.16.2 served TLS without h2, and its TLS clusters never formed, grafana/alloy#6436).
- Update swaps the listener the server accepts on: after a load with `tls` every new
  connection is TLS - every route, /-/ready, /-/reload, /metrics, /api/v0/web/* and the
  cluster's /api/v1/ckit/transport/* - and after one without it plain again; connections
  already open keep what they were.
- net/http on a TLS connection whose client does not speak TLS: when its first bytes look like
  HTTP/1 ("GET /", "HEAD ", "POST ", "PUT /", "OPTIO") it answers "HTTP/1.0 400 Bad
  Request ... Client sent an HTTP request to an HTTPS server." and closes; other bytes (a
  peer's h2c preface, "PRI * HTTP/2.0") are dropped unanswered. Each failed handshake is
  logged by Go's standard logger: "<date> <time> http: TLS handshake error from <addr>:
  <reason>". A plain server that receives a TLS ClientHello answers "400 Bad Request" (the
  client's TLS then fails with "tls: first record does not look like a TLS handshake").

Not modelled: HTTP/2 (ALPN offers http/1.1 only: the stand-in speaks HTTP/1.1), cipher_suites
and curve_preferences (accepted, not applied), windows_certificate_filter (refused),
RequestClientCert and RequireAnyClientCert (Python's ssl cannot ask for a certificate without
verifying it: the first acts as NoClientCert, the second as RequireAndVerifyClientCert). A
stand-in peer's gossip is HTTP/1.1 (cluster.py): on a TLS server its plain "POST
/api/v1/ckit/transport/..." is dropped unanswered, as real Alloy drops a peer's h2c preface.
"""
from __future__ import annotations

import http.client
import os
import socket
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .cluster_flags import join_host_port
from .diag import go_quote
from .syntax import Attribute, Block
from .telemetry import _first, evaluate

CLIENT_AUTH = ("NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven",
               "RequireAndVerifyClientCert")
_VERIFY = {"NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_NONE,
           "RequireAnyClientCert": ssl.CERT_REQUIRED, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
           "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2,
            "TLS13": ssl.TLSVersion.TLSv1_3}
HTTP_LOOKING = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")
GOSSIP = b"POST /api/v1/ckit/transport/"   # the stand-in's peers: stands for h2c's "PRI * HTTP/2.0"
TLS_HANDSHAKE = 0x16
NOT_HTTPS = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
NOT_HTTP = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
            b"400 Bad Request")
PEEK_SECONDS = 5.0


class TLSConfigError(Exception):
    """What the loader reports for the http block (str: the diagnostic's message)."""


class HandshakeError(Exception):
    """A failed handshake, in Go's words (str: the reason net/http logs)."""


def _open_error(path: str, exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"open {path}: {text[:1].lower()}{text[1:]}"


@dataclass
class HttpTLS:
    """The tls block of the http service, evaluated and updated (TLSArguments and its tls.Config)."""

    cert_pem: str = ""
    cert_file: str = ""
    key_pem: str = ""
    key_file: str = ""
    client_ca: str = ""          # the client CA's PEM, read at Update
    client_auth: str = "NoClientCert"
    min_version: str = ""
    max_version: str = ""

    def _read(self, pem: str, path: str, what: str) -> str:
        if pem:
            return pem
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError as exc:
            raise HandshakeError(f"failed to read {what}: {_open_error(path, exc)}") from None

    def context(self) -> ssl.SSLContext:
        """The server's TLS for one handshake: the certificate and key read now (GetCertificate);
        HandshakeError with Go's words when they cannot be used."""
        cert = self._read(self.cert_pem, self.cert_file, "cert_file")
        key = self._read(self.key_pem, self.key_file, "key_file")
        if "-----BEGIN" not in cert:
            raise HandshakeError("tls: failed to find any PEM data in certificate input")
        if "-----BEGIN" not in key:
            raise HandshakeError("tls: failed to find any PEM data in key input")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.min_version:
            context.minimum_version = VERSIONS[self.min_version]
        if self.max_version:
            context.maximum_version = VERSIONS[self.max_version]
        try:
            if self.cert_pem or self.key_pem:   # Python loads a key pair from files only
                with tempfile.TemporaryDirectory() as folder:
                    paths = []
                    for name, text in (("cert.pem", cert), ("key.pem", key)):
                        path = os.path.join(folder, name)
                        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
                            handle.write(text)
                        paths.append(path)
                    context.load_cert_chain(paths[0], paths[1])
            else:
                context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError:
            raise HandshakeError("tls: private key does not match public key") from None
        context.verify_mode = _VERIFY[self.client_auth]
        if context.verify_mode != ssl.CERT_NONE:
            if self.client_ca:
                context.load_verify_locations(cadata=self.client_ca)
            else:
                context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        context.set_alpn_protocols(["http/1.1"])
        return context


def _text(block: Block, name: str) -> str:
    value = evaluate(next((s.value for s in block.body if isinstance(s, Attribute) and s.name == name), None))
    return "" if value is None else str(value)


def configure(http: Optional[Block]) -> Optional[HttpTLS]:
    """The http service's TLS from its block (None: plain HTTP); TLSConfigError as the loader
    reports the block's evaluation or the service's Update."""
    tls = _first(http, "tls") if http is not None else None
    if tls is None:
        return None
    decoding = "Failed to evaluate service: decoding configuration: "
    if _first(tls, "windows_certificate_filter") is not None:
        raise TLSConfigError(decoding + "the stand-in does not model windows_certificate_filter")
    values = {name: _text(tls, name) for name in ("cert_pem", "cert_file", "key_pem", "key_file", "client_ca_pem",
                                                  "client_ca_file", "client_auth_type", "min_version",
                                                  "max_version")}
    auth = values["client_auth_type"] or "NoClientCert"
    if auth not in CLIENT_AUTH:
        raise TLSConfigError(decoding + f"unknown client auth type {go_quote(auth)}")
    for name in ("min_version", "max_version"):
        if values[name] and values[name] not in VERSIONS:
            raise TLSConfigError(decoding + f"unknown TLS version {go_quote(values[name])}")
    problem = _validate(values, auth)
    if problem:
        raise TLSConfigError(decoding + problem)
    client_ca = values["client_ca_pem"]
    if values["client_ca_file"]:
        try:
            with open(values["client_ca_file"], encoding="utf-8", errors="replace") as handle:
                client_ca = handle.read()
        except OSError as exc:
            raise TLSConfigError("Failed to evaluate service: updating service: failed to read client_ca_file: "
                                 + _open_error(values["client_ca_file"], exc)) from None
    return HttpTLS(values["cert_pem"], values["cert_file"], values["key_pem"], values["key_file"], client_ca, auth,
                   values["min_version"], values["max_version"])


def _validate(values: Dict[str, str], auth: str) -> str:
    """TLSArguments.validateTLS, in its order."""
    for first, second in (("client_ca_pem", "client_ca_file"), ("cert_pem", "cert_file"), ("key_pem", "key_file")):
        if values[first] and values[second]:
            return f"cannot specify both {first} and {second}"
    if not (values["cert_pem"] or values["cert_file"]):
        return "must specify either cert_pem or cert_file"
    if not (values["key_pem"] or values["key_file"]):
        return "must specify either key_pem or key_file"
    if (values["client_ca_pem"] or values["client_ca_file"]) and auth == "NoClientCert":
        return "cannot specify client_ca_pem or client_ca_file when client_auth_type is NoClientCert"
    return ""


# ---- the listener ---------------------------------------------------------------------

def go_log(message: str) -> None:
    """A line of Go's standard logger on stderr (net/http's server errors go there in Alloy)."""
    print(f"{time.strftime('%Y/%m/%d %H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _peek(sock: socket.socket, wanted: int) -> bytes:
    """The first bytes the client sent (up to wanted, fewer once they cannot start GOSSIP),
    without reading them; b"" when it sent nothing in PEEK_SECONDS or closed."""
    deadline = time.monotonic() + PEEK_SECONDS
    data = b""
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(wanted, socket.MSG_PEEK)
            if not data or len(data) >= wanted or not GOSSIP.startswith(data):
                break
            time.sleep(0.01)
    except OSError:
        pass
    sock.settimeout(None)
    return data


def _handshake_reason(exc: ssl.SSLError) -> str:
    """A failed server handshake, as Go's crypto/tls names it."""
    reason = str(getattr(exc, "reason", "") or "")
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return "tls: client didn't provide a certificate"
    if isinstance(exc, ssl.SSLCertVerificationError) or reason == "CERTIFICATE_VERIFY_FAILED":
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if "ALERT" in reason:   # the client refused the server's certificate: Go's client says bad_certificate
        alert = reason.split("ALERT_", 1)[1]
        return "remote error: tls: " + ("bad certificate" if alert in ("UNKNOWN_CA", "BAD_CERTIFICATE",
                                                                       "CERTIFICATE_UNKNOWN")
                                         else alert.lower().replace("_", " "))
    return "EOF" if "EOF" in reason or not reason else "tls: " + reason.lower().replace("_", " ")


def accept(sock: socket.socket, client: Tuple[str, int], tls: Optional[HttpTLS],
           log: Callable[[str], None] = go_log) -> Optional[socket.socket]:
    """The connection the HTTP server reads requests from: sock itself (plain), or sock with
    TLS once the handshake succeeded; None when net/http would have closed it (logged)."""
    where = f"{client[0]}:{client[1]}" if ":" not in client[0] else f"[{client[0]}]:{client[1]}"
    first = _peek(sock, len(GOSSIP) if tls is not None else 1)
    if tls is None:
        if first[:1] == bytes([TLS_HANDSHAKE]):
            _answer_and_close(sock, NOT_HTTP)
            return None
        return sock
    if first[:1] != bytes([TLS_HANDSHAKE]):   # logged first: the client learns nothing before the log
        if first and first[:5] in HTTP_LOOKING and not first.startswith(GOSSIP):
            log(f"http: TLS handshake error from {where}: client sent an HTTP request to an HTTPS server")
            _answer_and_close(sock, NOT_HTTPS)
        else:
            log(f"http: TLS handshake error from {where}: "
                + ("tls: first record does not look like a TLS handshake" if first else "EOF"))
            _answer_and_close(sock, b"")
        return None
    try:
        context = tls.context()
    except HandshakeError as exc:
        log(f"http: TLS handshake error from {where}: {exc}")
        _answer_and_close(sock, b"")
        return None
    sock.settimeout(PEEK_SECONDS)
    try:
        wrapped = context.wrap_socket(sock, server_side=True)
    except (ssl.SSLError, OSError) as exc:
        log(f"http: TLS handshake error from {where}: "
            + (_handshake_reason(exc) if isinstance(exc, ssl.SSLError) else "EOF"))
        return None
    wrapped.settimeout(None)
    return wrapped


def _answer_and_close(sock: socket.socket, data: bytes) -> None:
    try:
        if data:
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


# ---- the client side: Go's words for what a TLS client met ---------------------------------

def _sans(der: bytes) -> Tuple[List[str], List[str]]:
    """(DNS names, IP addresses) of a DER certificate, read with CPython's own decoder."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
        handle.write(ssl.DER_cert_to_PEM_cert(der))
    try:
        decoded = ssl._ssl._test_decode_cert(handle.name)  # type: ignore[attr-defined]  # noqa: SLF001
    finally:
        os.unlink(handle.name)
    names = decoded.get("subjectAltName") or ()
    return ([v for k, v in names if k == "DNS"],
            [v.rstrip("\n") for k, v in names if k == "IP Address"])


def hostname_error(host: str, port: int, name: str, timeout: float) -> str:
    """x509.HostnameError's text for the certificate the server at host:port presents, not
    valid for name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=None) as wrapped:
            der = wrapped.getpeercert(binary_form=True) or b""
        dns, ips = _sans(der)
    except (OSError, ssl.SSLError, ValueError):
        return f"x509: certificate is not valid for {name}"
    try:
        import ipaddress  # noqa: PLC0415
        ipaddress.ip_address(name)
        if not ips:
            return f"x509: cannot validate certificate for {name} because it doesn't contain any IP SANs"
        valid = ", ".join(ips)
    except ValueError:
        valid = ", ".join(dns)
    if not valid:
        return f"x509: certificate is not valid for any names, but wanted to match {name}"
    return f"x509: certificate is valid for {valid}, not {name}"


def client_error(exc: BaseException, host: str, port: int, name: str, timeout: float) -> str:
    """What Go's TLS client (an Alloy peer dialing host:port, checking name) says it met."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0)
        if code in (62, 64):   # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
            return "tls: failed to verify certificate: " + hostname_error(host, port, name, timeout)
        if code == 10:
            return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    reason = str(getattr(exc, "reason", "") or "")
    if reason in ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST",
                  "UNKNOWN_PROTOCOL"):
        return "tls: first record does not look like a TLS handshake"
    if "ALERT" in reason:
        return "remote error: tls: " + {"UNKNOWN_CA": "unknown certificate authority"}.get(
            reason.split("ALERT_", 1)[1], reason.split("ALERT_", 1)[1].lower().replace("_", " "))
    if isinstance(exc, ssl.SSLError):
        return "EOF" if "EOF" in reason or not reason else "tls: " + reason.lower().replace("_", " ")
    return ""


def transport_error(exc: Exception, host: str, port: int, name: str, timeout: float) -> str:
    """Go's words for a request to host:port (its certificate checked for name) that got no
    answer (net/http's and crypto/tls's), without the `Post "<url>": ` that *url.Error adds."""
    said = client_error(exc, host, port, name, timeout)
    if said:
        return said
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {join_host_port(host, port)}: connect: connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "context deadline exceeded"
    if isinstance(exc, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    # A server that closes before reading the request (a TLS listener given plain HTTP/2) breaks the
    # write or the read, depending on timing; Go's transport reports EOF either way.
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return "EOF"
    return (exc.strerror if isinstance(exc, OSError) else "") or str(exc)
