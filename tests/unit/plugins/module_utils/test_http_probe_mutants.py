"""The modules' HTTP client (module_utils/http_probe.py) against real servers on 127.0.0.1:
client certificates, CA options, what is sent, what an answer or a failure reads like,
proxies from the environment ignored. Written against the survivors of ./dev mutate
(docs/testing.md)."""
from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path
from typing import Dict, Iterator

import pytest
from ansible_collections.fleet.alloy.plugins.module_utils import http_probe as hp
from local_http import LocalServer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (P-256, quick)."""
    root = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem")
    (root / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("srv", "client"):
        openssl("req", *ec, "-subj", "/CN=%s" % name, "-keyout", "%s.key" % name, "-out", "%s.csr" % name)
        openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "ext", "-out", "%s.pem" % name)
    (root / "client-both.pem").write_text((root / "client.pem").read_text() + (root / "client.key").read_text())
    return {p.name: p for p in root.iterdir()}


@pytest.fixture()
def mtls_server(pki: Dict[str, Path]) -> Iterator[LocalServer]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["srv.pem"], pki["srv.key"])
    ctx.load_verify_locations(pki["ca.pem"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = LocalServer(tls=ctx)
    srv.routes["/ready"] = (200, "ready")
    yield srv
    srv.close()


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def test_the_client_certificate_is_presented(mtls_server: LocalServer, pki: Dict[str, Path]) -> None:
    tls = hp.TLSOptions(ca_file=str(pki["ca.pem"]), cert_file=str(pki["client.pem"]), key_file=str(pki["client.key"]))
    answer = hp.request(mtls_server.url + "/ready", tls=tls, timeout=5)
    assert (answer.status, answer.body) == (200, "ready"), answer.error
    both = hp.TLSOptions(ca_file=str(pki["ca.pem"]), cert_file=str(pki["client-both.pem"]), key_file="")
    assert hp.request(mtls_server.url + "/ready", tls=both, timeout=5).status == 200


def test_without_the_client_certificate_the_server_refuses(mtls_server: LocalServer, pki: Dict[str, Path]) -> None:
    answer = hp.request(mtls_server.url + "/ready", tls=hp.TLSOptions(ca_file=str(pki["ca.pem"])), timeout=5)
    assert answer.status is None and answer.error.startswith(mtls_server.url + "/ready: ")


def test_the_ca_comes_from_a_file_or_from_pem_text(pki: Dict[str, Path]) -> None:
    pem = pki["ca.pem"].read_text()
    from_pem = hp.TLSOptions(ca_pem=pem, ca_file="").context()
    from_file = hp.TLSOptions(ca_file=str(pki["ca.pem"]), ca_pem="").context()
    for ctx in (from_pem, from_file):
        assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "test-ca"),),)]
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_skipping_verification_turns_both_checks_off() -> None:
    ctx = hp.TLSOptions(insecure_skip_verify=True).context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_only_https_urls_get_a_tls_handler(pki: Dict[str, Path]) -> None:
    plain = hp._handlers("http://x/", hp.TLSOptions(ca_file="/nonexistent"))  # its options are never read
    assert [type(h) for h in plain] == [hp.ProxyHandler, hp._NoRedirect]
    named = hp._handlers("https://x/", hp.TLSOptions(server_name="loki.lab"))
    assert isinstance(named[-1], hp._NamedHTTPSHandler) and named[-1]._server_name == "loki.lab"
    default = hp._handlers("https://x/", None)
    assert type(default[-1]) is hp.HTTPSHandler


def test_the_request_sends_its_method_and_headers(server: LocalServer) -> None:
    server.routes["/-/reload"] = (200, "config reloaded")
    answer = hp.request(server.url + "/-/reload", method="POST", headers={"X-Scope-OrgID": "ops", "X-T": "a\tb"})
    assert (answer.status, answer.body) == (200, "config reloaded")
    sent = server.requests[-1]
    assert sent.method == "POST" and sent.headers["X-Scope-OrgID"] == "ops" and sent.headers["X-T"] == "a\tb"
    hp.request(server.url + "/-/reload")
    assert server.requests[-1].method == "GET"


def test_an_http_error_is_an_answer_with_its_body(server: LocalServer) -> None:
    server.routes["/x"] = (503, "Alloy is\n  not ready.")
    answer = hp.request(server.url + "/x")
    assert (answer.status, answer.body) == (503, "Alloy is\n  not ready.")
    assert answer.describe() == "HTTP 503: Alloy is not ready."


def test_proxies_from_the_environment_are_not_used(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/ready"] = (200, "direct")
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert hp.request(server.url + "/ready").body == "direct"


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "nul\x00", "del\x7f", "esc\x1b"])
def test_a_header_value_with_a_control_character_is_refused_unrepeated(server: LocalServer, value: str) -> None:
    answer = hp.request(server.url + "/x", headers={"Authorization": "Bearer " + value})
    assert answer.status is None and value not in answer.error
    assert answer.error == server.url + "/x: the value of header Authorization holds a line break or control character"
    assert server.requests == []


def test_describe_is_one_line_of_at_most_300_characters() -> None:
    assert hp.Response(204, "").describe() == "HTTP 204"
    assert hp.Response(200, "  \n ").describe() == "HTTP 200"
    assert hp.Response(400, "x" * 500).describe() == "HTTP 400: " + "x" * 300
    assert hp.Response(None, error="u: connection refused").describe() == "u: connection refused"


def test_transport_errors_read_plainly(server: LocalServer) -> None:
    assert hp._reason(socket.timeout("timed out")) == "timed out"
    assert hp._reason(OSError("read operation timed out")) == "timed out"
    assert hp._reason(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    err = ssl.SSLCertVerificationError(1, "certificate verify failed")
    err.reason = "CERTIFICATE_VERIFY_FAILED"
    err.verify_message = "self-signed certificate"
    assert hp._reason(hp.URLError(err)) == "TLS error: CERTIFICATE_VERIFY_FAILED (self-signed certificate)"
    plain = ssl.SSLError(1, "handshake failure")
    assert hp._reason(hp.URLError(plain)) == "TLS error: %s" % plain
    assert hp._reason(hp.URLError(ConnectionRefusedError(111, "x"))) == "connection refused"
    assert hp._reason(ValueError("unknown url type: 'x'")) == "unknown url type: 'x'"
    refused = hp.request("http://127.0.0.1:9/")
    assert refused.status is None and refused.error == "http://127.0.0.1:9/: connection refused"
    assert hp.request("not-a-url").error.startswith("not-a-url: unknown url type")


def test_a_tls_failure_names_the_verification_problem(pki: Dict[str, Path]) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["srv.pem"], pki["srv.key"])
    srv = LocalServer(tls=ctx)
    try:
        answer = hp.request(srv.url + "/", timeout=5)  # the system CAs do not know the test CA
        assert answer.status is None
        assert answer.error.startswith(srv.url + "/: TLS error: CERTIFICATE_VERIFY_FAILED (")
    finally:
        srv.close()


def test_max_body_bounds_what_is_read(server: LocalServer) -> None:
    server.routes["/m"] = (200, "0123456789")
    assert hp.request(server.url + "/m", max_body=4).body == "0123"
    assert hp.request(server.url + "/m", max_body=None).body == "0123456789"
    server.routes["/e"] = (500, "y" * (hp.MAX_BODY + 10))
    assert len(hp.request(server.url + "/e").body) == hp.MAX_BODY
