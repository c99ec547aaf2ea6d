"""The Alloy stand-in's HTTP server over TLS (alloy_standin/http_tls.py) and TLS between cluster
members (--cluster.enable-tls), against real Alloy's behaviour: the `http { tls }` block's
refusals at load, TLS on every route from the load that brings it, plain requests answered as
Go's net/http answers them, client certificates, and members that join only peers of their
kind, with their certificates checked for the server name or the address dialed."""
from __future__ import annotations

import socket
import ssl
import urllib.error
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from alloy_standin.server import Agent, make_server
from alloy_standin.validate import load
from gateway_standin import lab_ca
from standin_harness import VERSION, get, serving
from test_standin_cluster import BASIC, alloy, sees, wait_for

SERVER_NAME = "alloy.cluster.lab"
LEAVES = {  # leaf: (its CA, its DNS names, its IP addresses)
    "member": ("ca", [SERVER_NAME], ["127.0.0.1"]),
    "named": ("ca", [SERVER_NAME], []),           # the shared name only: peers need the server name
    "stranger": ("other-ca", [SERVER_NAME], ["127.0.0.1"]),
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """The lab's throwaway CA and another one, and member certificates for server and client use."""
    root = tmp_path_factory.mktemp("cluster-pki")
    cas = {name: lab_ca.make_ca(root, name, name, days=2) for name in ("ca", "other-ca")}
    found = {name: pair.cert for name, pair in cas.items()}
    for leaf, (ca, names, ips) in LEAVES.items():
        pair = lab_ca.issue(cas[ca], root, leaf, names, days=2, ips=ips, client=True)
        found.update({leaf: pair.cert, leaf + ".key": pair.key})
    return found


def http_block(certs: Dict[str, Path], leaf: str = "member", **extra: str) -> str:
    """An http block serving TLS with leaf's certificate; extra attributes as Alloy strings."""
    lines = [f'cert_file = "{certs[leaf]}"', f'key_file = "{certs[leaf + ".key"]}"']
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    return "http {\n\ttls {\n" + "".join(f"\t\t{line}\n" for line in lines) + "\t}\n}\n"


def client(certs: Dict[str, Path], cert: str = "", check_name: bool = True, ca: str = "ca") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs[ca]))
    context.check_hostname = check_name
    if cert:
        context.load_cert_chain(str(certs[cert]), str(certs[cert + ".key"]))
    return context


def tls_flags(certs: Dict[str, Path], leaf: str = "member", ca: str = "ca", server_name: str = "") -> List[str]:
    flags = ["--cluster.enable-tls", f"--cluster.tls-ca-path={certs[ca]}", f"--cluster.tls-cert-path={certs[leaf]}",
             f"--cluster.tls-key-path={certs[leaf + '.key']}"]
    return flags + ([f"--cluster.tls-server-name={server_name}"] if server_name else [])


# ---- the http block, in process ---------------------------------------------------------

@contextmanager
def agent_serving(tmp_path: Path, config: str) -> Iterator[Tuple[Agent, str, Path]]:
    """The stand-in's Agent loaded from config and its server on 127.0.0.1 (the address, the file)."""
    path = tmp_path / "config.alloy"
    path.write_text(config)
    agent = Agent(path, tmp_path / "data", VERSION)
    ok, message = agent.load()
    assert ok, message
    with serving(make_server(agent, "127.0.0.1:0")) as server:
        yield agent, f"127.0.0.1:{server.server_address[1]}", path


@pytest.mark.parametrize("extra, message", [
    ({"cert_file": ""}, "must specify either cert_pem or cert_file"),
    ({"key_file": ""}, "must specify either key_pem or key_file"),
    ({"client_ca_file": "CA"}, "cannot specify client_ca_pem or client_ca_file when client_auth_type is NoClientCert"),
    ({"client_auth_type": "Sometimes"}, 'unknown client auth type "Sometimes"'),
    ({"min_version": "TLS14"}, 'unknown TLS version "TLS14"'),
    ({"cert_pem": "PEM"}, "cannot specify both cert_pem and cert_file"),
])
def test_the_tls_block_is_refused_at_load_as_alloy_validates_it(
        extra: Dict[str, str], message: str, certs: Dict[str, Path], tmp_path: Path) -> None:
    extra = {k: str(certs["ca"]) if v == "CA" else v for k, v in extra.items()}
    given = {"cert_file": str(certs["member"]), "key_file": str(certs["member.key"]), **extra}
    block = "http {\n\ttls {\n" + "".join(f'\t\t{k} = "{v}"\n' for k, v in given.items() if v) + "\t}\n}\n"
    path = tmp_path / "config.alloy"
    path.write_text(block)
    assert not load(path, run=False).diagnostics  # `alloy validate` only type-checks the block
    ok, said = Agent(path, tmp_path / "data", VERSION).load()
    assert not ok
    assert said == f"Error: {path}:1:1: Failed to evaluate service: decoding configuration: {message}"


def test_the_client_ca_is_read_at_load_and_the_certificate_at_each_handshake(
        certs: Dict[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.pem"
    path = tmp_path / "config.alloy"
    path.write_text(http_block(certs, client_ca_file=str(missing), client_auth_type="RequireAndVerifyClientCert"))
    ok, said = Agent(path, tmp_path / "data", VERSION).load()
    assert not ok and said.endswith(f"Failed to evaluate service: updating service: failed to read client_ca_file: "
                                    f"open {missing}: no such file or directory")
    config = http_block(certs).replace(str(certs["member"]), str(missing))
    with agent_serving(tmp_path, config) as (_, addr, _):   # accepted: GetCertificate reads it later
        with pytest.raises(urllib.error.URLError):
            get(f"https://{addr}/-/ready", client(certs))
    assert f"failed to read cert_file: open {missing}: no such file or directory" in capfd.readouterr().err


def test_every_route_is_tls_from_the_load_that_brings_the_block(
        certs: Dict[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with agent_serving(tmp_path, BASIC) as (agent, addr, path):
        assert get(f"http://{addr}/-/ready") == (200, "Alloy is ready.\n")
        path.write_text(BASIC + http_block(certs))
        assert agent.load() == (True, "config reloaded")   # a reload is enough: Update swaps the listener
        for route in ("/-/ready", "/-/healthy", "/metrics", "/api/v0/web/components"):
            assert get(f"https://{addr}{route}", client(certs))[0] == 200, route
        assert get(f"http://{addr}/-/ready") == (400, "Client sent an HTTP request to an HTTPS server.\n")
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            get(f"https://{addr}/-/ready", ssl.create_default_context(cafile=str(certs["other-ca"])))
        path.write_text(BASIC)
        assert agent.load() == (True, "config reloaded")
        assert get(f"http://{addr}/-/ready")[0] == 200
        with pytest.raises(urllib.error.URLError, match="WRONG_VERSION_NUMBER|record layer|packet length"):
            get(f"https://{addr}/-/ready", client(certs))
    err = capfd.readouterr().err
    assert "applying TLS config to HTTP server" in err and "applying non-TLS config to HTTP server" in err
    assert "http: TLS handshake error from 127.0.0.1:" in err
    assert "client sent an HTTP request to an HTTPS server" in err


def test_client_certificates_are_checked_with_require_and_verify(certs: Dict[str, Path], tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    config = http_block(certs, client_ca_file=str(certs["ca"]), client_auth_type="RequireAndVerifyClientCert")
    with agent_serving(tmp_path, config) as (_, addr, _):
        assert get(f"https://{addr}/-/ready", client(certs, "member"))[0] == 200
        for refused in ("", "stranger"):
            with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
                get(f"https://{addr}/-/ready", client(certs, refused))
    said = ("tls: client didn't provide a certificate",
            "tls: failed to verify certificate: x509: certificate signed by unknown authority")
    seen: List[str] = []

    def logged() -> bool:   # the server's threads log just after the client met the refusal
        seen.append(capfd.readouterr().err)
        return all(text in "".join(seen) for text in said)
    wait_for(logged, 2, "the refusals were not logged")


def test_a_plain_server_answers_a_tls_hello_with_400(tmp_path: Path) -> None:
    with agent_serving(tmp_path, BASIC) as (_, addr, _):
        host, port = addr.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
            assert sock.recv(64).startswith(b"HTTP/1.1 400 Bad Request")


# ---- members, in processes -------------------------------------------------------------

def test_tls_members_form_a_cluster_checked_for_the_address_or_the_server_name(
        certs: Dict[str, Path], tmp_path: Path) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(alloy(tmp_path, "alloy-1", *tls_flags(certs), config=BASIC + http_block(certs),
                                          client=client(certs)))
        second = stack.enter_context(alloy(tmp_path, "alloy-2", *tls_flags(certs), f"--cluster.join-addresses="
                                           f"{first.addr}", config=BASIC + http_block(certs), client=client(certs)))
        wait_for(sees([first, second], {"alloy-1", "alloy-2"}), 10, "two TLS members never saw each other")
        assert get(f"http://{first.addr}/api/v0/web/peers")[0] == 400   # plain HTTP refused

        # certificates that name the shared server name only: without it, the address is checked
        named = {"config": BASIC + http_block(certs, "named"), "client": client(certs, check_name=False)}
        third = stack.enter_context(alloy(tmp_path, "alloy-3", *tls_flags(certs, "named"), **named))
        fourth = stack.enter_context(alloy(tmp_path, "alloy-4", *tls_flags(certs, "named"),
                                           f"--cluster.join-addresses={third.addr}", **named))
        wait_for(lambda: "bootstrapping a new cluster" in fourth.logged(), 10, fourth.logged())
        assert (f'failed to join {third.addr}: Post \\"https://{third.addr}/api/v1/ckit/transport/stream\\": tls: '
                f"failed to verify certificate: x509: cannot validate certificate for 127.0.0.1 because it doesn't "
                f"contain any IP SANs") in fourth.logged()
        fifth = stack.enter_context(alloy(tmp_path, "alloy-5", *tls_flags(certs, "named", server_name=SERVER_NAME),
                                          f"--cluster.join-addresses={third.addr}", **named))
        wait_for(lambda: fifth.names() == {"alloy-3", "alloy-5"}, 10, "the server name did not let alloy-5 in")


def test_plain_and_tls_members_do_not_join_each_other(certs: Dict[str, Path], tmp_path: Path) -> None:
    with ExitStack() as stack:
        secure = stack.enter_context(alloy(tmp_path, "secure", *tls_flags(certs), config=BASIC + http_block(certs),
                                           client=client(certs)))
        plain = stack.enter_context(alloy(tmp_path, "plain", f"--cluster.join-addresses={secure.addr}"))
        joiner = stack.enter_context(alloy(tmp_path, "joiner", *tls_flags(certs),
                                           f"--cluster.join-addresses={plain.addr}",
                                           config=BASIC + http_block(certs), client=client(certs)))
        stranger = stack.enter_context(alloy(tmp_path, "stranger", *tls_flags(certs, "stranger", "other-ca"),
                                             f"--cluster.join-addresses={secure.addr}",
                                             config=BASIC + http_block(certs, "stranger"),
                                             client=client(certs, ca="other-ca")))
        for node in (plain, joiner, stranger):
            wait_for(lambda node=node: "bootstrapping a new cluster" in node.logged(), 10, node.logged())
        assert f'failed to join {secure.addr}: Post \\"http://{secure.addr}/api/v1/ckit/transport/stream\\": EOF' \
            in plain.logged()
        wait_for(lambda: "tls: first record does not look like a TLS handshake" in secure.logged(), 5,
                 secure.logged())   # Go's server log
        assert (f'failed to join {plain.addr}: Post \\"https://{plain.addr}/api/v1/ckit/transport/stream\\": tls: '
                "first record does not look like a TLS handshake") in joiner.logged()
        assert ("tls: failed to verify certificate: x509: certificate signed by unknown authority"
                in stranger.logged())
        wait_for(lambda: "remote error: tls: bad certificate" in secure.logged(), 5, secure.logged())
        for node in (secure, plain, joiner, stranger):
            assert node.names() == {node.name}


def test_members_requiring_client_certificates_admit_each_other(certs: Dict[str, Path], tmp_path: Path) -> None:
    mutual = BASIC + http_block(certs, client_ca_file=str(certs["ca"]), client_auth_type="RequireAndVerifyClientCert")
    with ExitStack() as stack:
        first = stack.enter_context(alloy(tmp_path, "alloy-1", *tls_flags(certs), config=mutual,
                                          client=client(certs, "member")))
        second = stack.enter_context(alloy(tmp_path, "alloy-2", *tls_flags(certs), f"--cluster.join-addresses="
                                           f"{first.addr}", config=mutual, client=client(certs, "member")))
        wait_for(sees([first, second], {"alloy-1", "alloy-2"}), 10, "members with client certificates never met")
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            get(f"https://{first.addr}/-/ready", client(certs))   # no client certificate: refused

