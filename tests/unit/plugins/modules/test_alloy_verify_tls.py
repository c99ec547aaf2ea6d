"""What talks to Alloy's own API reaches it over HTTPS when the cluster's members gossip over TLS
(alloy_install_cluster_tls: Alloy's http block serves TLS): alloy_verify, given the runtime contract's
api_url and api_tls (the CA, the name the certificate carries, the member's client certificate), and
alloy_config_apply's reload. Against stand-in `alloy run` processes (lab/standins/alloy_standin:
http_tls.py, cluster.py) whose certificates name the cluster's server name only, not 127.0.0.1, and
which ask every client for a certificate from the cluster's CA."""
from __future__ import annotations

import ssl
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Dict, List

import pytest
from ansible_collections.fleet.alloy.plugins.modules import alloy_verify as av
from ansible_collections.fleet.alloy.plugins.modules.alloy_config_apply import ConfigApply
from gateway_standin import lab_ca
from module_main import run_main
from test_alloy_verify_fleet import LOCAL, Alloy, alloy, by_name, free_port, no_runner, params
from test_config_apply import FakeModule

SERVER_NAME = "alloy.cluster.lab"
NAMES = ("alloy-1", "alloy-2")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """The lab's throwaway CA, another one, and a member certificate for the server name only."""
    root = tmp_path_factory.mktemp("cluster-pki")
    ca, other = (lab_ca.make_ca(root, name, name, days=2) for name in ("ca", "other-ca"))
    member = lab_ca.issue(ca, root, "member", [SERVER_NAME], days=2, client=True)
    return {"ca_file": str(ca.cert), "other_ca": str(other.cert), "cert_file": str(member.cert),
            "key_file": str(member.key)}


def api_tls(pki: Dict[str, str], **changes: str) -> Dict[str, str]:
    """The runtime contract's api_tls of a member that asks clients for certificates."""
    return dict({"ca_file": pki["ca_file"], "server_name": SERVER_NAME, "cert_file": pki["cert_file"],
                 "key_file": pki["key_file"]}, **changes)


def secure_config(pki: Dict[str, str]) -> str:
    """What alloy_config writes into fleet_http.alloy for such a member, beside a pipeline."""
    return LOCAL + ('http {\n\ttls {\n\t\tcert_file = "%s"\n\t\tkey_file = "%s"\n\t\tclient_ca_file = "%s"\n'
                    '\t\tclient_auth_type = "RequireAndVerifyClientCert"\n\t}\n}\n'
                    % (pki["cert_file"], pki["key_file"], pki["ca_file"]))


def member_client(pki: Dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca_file"])
    context.check_hostname = False   # the test's own readiness probe: the certificate names the server name
    context.load_cert_chain(pki["cert_file"], pki["key_file"])
    return context


def members(stack: ExitStack, tmp_path: Path, pki: Dict[str, str]) -> List[Alloy]:
    nodes: List[Alloy] = []
    for name in NAMES:
        port = free_port()
        join = ["--cluster.join-addresses=%s" % nodes[0].addr] if nodes else []
        nodes.append(stack.enter_context(alloy(
            tmp_path, name, secure_config(pki), "--cluster.enabled", "--cluster.node-name=%s" % name,
            "--cluster.advertise-address=127.0.0.1:%d" % port, "--cluster.enable-tls",
            "--cluster.tls-ca-path=%s" % pki["ca_file"], "--cluster.tls-cert-path=%s" % pki["cert_file"],
            "--cluster.tls-key-path=%s" % pki["key_file"], "--cluster.tls-server-name=%s" % SERVER_NAME, *join,
            port=port, context=member_client(pki))))
    return nodes


def test_verify_reaches_a_tls_member_with_the_runtimes_ca_name_and_certificate(tmp_path: Path,
                                                                                pki: Dict[str, str]) -> None:
    with ExitStack() as stack:
        first = members(stack, tmp_path, pki)[0]
        assert first.url.startswith("https://127.0.0.1:")
        joined = av.verify(params(alloy_url=first.url, alloy_tls=api_tls(pki), cluster_peers=list(NAMES), wait=True,
                                  wait_timeout=15), no_runner)
        assert joined["healthy"], joined["summary"]
        # the runtime contract gives the URL and its TLS (as playbooks/tasks/verify.yml passes it)
        runtime = {"kind": "systemd", "service": "alloy.service", "api_url": first.url, "instance": "alloy-1",
                   "api_tls": api_tls(pki)}
        failed, result = run_main(av.main, {"runtime": runtime, "delivery": False, "cluster_peers": list(NAMES),
                                            "fail_on_unhealthy": False})
        checks = by_name(result)
        assert checks["alloy ready"]["detail"] == "HTTP 200: Alloy is ready."
        assert checks["cluster"]["detail"] == "2 expected peers participating"
        assert checks["components"]["ok"], checks["components"]
        assert [name for name in result["failed_checks"]] == ["service"]   # no alloy.service on this machine

        def ready(**options: Any) -> str:
            found = av.verify(params(**dict({"alloy_url": first.url}, **options)), no_runner)
            return str(by_name(found)["alloy ready"]["detail"])
        # what fails, and says why: no CA, another CA, the URL's host checked, no client certificate,
        # plain HTTP to the HTTPS server
        assert "CERTIFICATE_VERIFY_FAILED" in ready()
        assert "CERTIFICATE_VERIFY_FAILED" in ready(alloy_tls=api_tls(pki, ca_file=pki["other_ca"]))
        assert "IP address mismatch" in ready(alloy_tls=api_tls(pki, server_name=None))
        # Under TLS 1.3 the server refuses a missing client certificate after the client's handshake
        # ended: the client sees the server's alert, or only the connection closed, depending on timing.
        without_cert = ready(alloy_tls=api_tls(pki, cert_file=None, key_file=None))
        assert "CERTIFICATE_REQUIRED" in without_cert or "EOF occurred" in without_cert, without_cert
        assert ready(alloy_url=first.url.replace("https://", "http://"), alloy_tls=api_tls(pki)) == \
            "HTTP 400: Client sent an HTTP request to an HTTPS server."


def test_the_reload_reaches_a_tls_member(tmp_path: Path, pki: Dict[str, str]) -> None:
    with ExitStack() as stack:
        first = members(stack, tmp_path, pki)[0]
        live = tmp_path / "conf.d"
        files = {"fleet_x.alloy": 'loki.echo "a" {\n}\n'}
        result = ConfigApply(FakeModule({"path": str(live), "files": files, "reload_url": first.url + "/-/reload",
                                         "reload_tls": api_tls(pki)})).run()
        assert result["reloaded"] and result["reload_message"] == "config reloaded"
        assert "config reloaded" in first.log()


def test_a_change_of_the_http_block_asks_for_a_restart_not_a_reload(tmp_path: Path) -> None:
    live = tmp_path / "conf.d"
    module = FakeModule({"path": str(live), "files": {"fleet_http.alloy": 'http {\n}\n'},
                         "reload_url": "http://127.0.0.1:9/-/reload", "restart_on": ["fleet_http.alloy"]})
    result = ConfigApply(module).run()
    assert (result["restart_needed"], result["reloaded"]) == (True, False)
    assert result["reload_message"] == "not asked: fleet_http.alloy changed, which Alloy is to apply by a restart"
    removed = ConfigApply(FakeModule({"path": str(live), "files": {}, "restart_on": ["fleet_http.alloy"]})).run()
    assert removed["removed"] == ["fleet_http.alloy"] and removed["restart_needed"] is True
    other = ConfigApply(FakeModule({"path": str(live), "files": {"fleet_y.alloy": 'loki.echo "b" {\n}\n'},
                                    "restart_on": ["fleet_http.alloy"]})).run()
    assert other["restart_needed"] is False
