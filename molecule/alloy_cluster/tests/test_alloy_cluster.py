"""alloy_install's clustering on three lab hosts: the --cluster.* flags in CUSTOM_ARGS from the
inventory (node name, the other two members as join addresses, TLS between them), the members see
each other as participants over TLS, Alloy's HTTP server serves TLS only (alloy_config's http
block) to clients with a certificate of the cluster's CA, and the rollout gate's cluster check
passes with the three."""
from __future__ import annotations

import json
import shlex
import time
from typing import Any, Dict, List

MEMBERS = ["cluster-debian12-1", "cluster-debian12-2", "cluster-debian12-3"]
SERVER_NAME = "alloy.cluster.lab"
CA, CERT, KEY = "/etc/alloy/tls/ca.pem", "/etc/alloy/tls/member.pem", "/etc/alloy/tls/member.key"
# curl as a client Alloy lets in: the cluster's CA, this member's certificate
CURL = "curl -fsS --cacert %s --cert %s --key %s" % (CA, CERT, KEY)


def _name(host) -> str:
    return host.backend.host


def _custom_args(host) -> List[str]:
    """CUSTOM_ARGS of the env file, as the unit's ExecStart splits it."""
    for line in host.file("/etc/default/alloy").content_string.splitlines():
        if line.startswith("CUSTOM_ARGS="):
            return [word for token in shlex.split(line[len("CUSTOM_ARGS="):]) for word in token.split()]
    raise AssertionError("no CUSTOM_ARGS in /etc/default/alloy")


def _peers(host) -> List[Dict[str, Any]]:
    return json.loads(host.check_output(CURL + " https://127.0.0.1:12345/api/v0/web/peers"))


def test_custom_args_hold_the_cluster_flags_from_the_inventory(host) -> None:
    args = _custom_args(host)
    others = [m for m in MEMBERS if m != _name(host)]
    assert "--cluster.enabled=true" in args
    assert "--cluster.node-name=%s" % _name(host) in args
    joins = [a for a in args if a.startswith("--cluster.join-addresses=")]
    assert len(joins) == 1
    assert sorted(joins[0].split("=", 1)[1].split(",")) == ["%s:12345" % m for m in others]
    # No IP ansible_host here (the docker connection): Alloy picks eth0's address itself.
    assert not any(a.startswith("--cluster.advertise-address=") for a in args)


def test_custom_args_hold_the_tls_flags(host) -> None:
    args = _custom_args(host)
    assert ["--cluster.enable-tls=true", "--cluster.tls-ca-path=" + CA, "--cluster.tls-cert-path=" + CERT,
            "--cluster.tls-key-path=" + KEY, "--cluster.tls-server-name=" + SERVER_NAME] == [
        a for a in args if a.startswith(("--cluster.enable-tls", "--cluster.tls-"))]


def test_alloy_config_makes_the_http_server_serve_tls(host) -> None:
    http = host.file("/etc/alloy/conf.d/fleet_http.alloy")
    assert http.exists and http.mode == 0o640
    text = http.content_string
    for attribute in ('cert_file = "%s"' % CERT, 'key_file = "%s"' % KEY, 'client_ca_file = "%s"' % CA,
                      'client_auth_type = "RequireAndVerifyClientCert"'):
        assert attribute in " ".join(text.split()), text
    runtime = json.loads(host.file("/etc/ansible/facts.d/alloy_runtime.fact").content_string)
    assert runtime["api_url"] == "https://127.0.0.1:12345"
    assert runtime["api_tls"] == {"ca_file": CA, "server_name": SERVER_NAME, "cert_file": CERT, "key_file": KEY}


def test_alloy_listens_on_every_interface_and_runs_with_the_flags(host) -> None:
    pid = host.check_output("systemctl show -p MainPID --value alloy")
    cmdline = host.check_output("tr '\\0' ' ' < /proc/%s/cmdline" % pid)
    assert "--server.http.listen-addr=0.0.0.0:12345" in cmdline
    assert "--cluster.node-name=%s" % _name(host) in cmdline
    assert "--cluster.enable-tls=true" in cmdline


def test_each_member_sees_the_three_as_participants(host) -> None:
    deadline = time.monotonic() + 60
    while True:
        peers = _peers(host)
        if sorted(p["name"] for p in peers) == MEMBERS or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(p["name"] for p in peers) == MEMBERS
    assert {p["state"] for p in peers} == {"participant"}
    assert [p["name"] for p in peers if p["isSelf"]] == [_name(host)]


def test_the_other_members_reach_this_one_over_tls_only(host) -> None:
    """The gossip goes over the HTTP listen address: the others reach it at the address it
    advertises, over TLS, its certificate checked for the cluster's server name."""
    me = next(p for p in _peers(host) if p["isSelf"])
    assert not me["addr"].startswith("127."), me
    secure = "%s --connect-to %s:12345:%s https://%s:12345/-/ready" % (CURL, SERVER_NAME, me["addr"], SERVER_NAME)
    assert host.run(secure).rc == 0
    plain = host.run("curl -sS http://%s/-/ready" % me["addr"])
    assert "Client sent an HTTP request to an HTTPS server." in plain.stdout
    anonymous = host.run("curl -fsS --cacert %s https://127.0.0.1:12345/-/ready" % CA)
    assert anonymous.rc != 0   # no client certificate: refused


def test_alloy_verify_sees_the_cluster_whole(host) -> None:
    tls = json.dumps({"ca_file": CA, "server_name": SERVER_NAME, "cert_file": CERT, "key_file": KEY})
    result = host.ansible("fleet.alloy.alloy_verify",
                          "alloy_url=https://127.0.0.1:12345 alloy_tls=%s cluster_peers=%s wait=true wait_timeout=90"
                          % (shlex.quote(tls), ",".join(MEMBERS)), become=True, check=False)
    assert result.get("healthy") is True, result.get("summary") or result
    cluster = next(c for c in result["checks"] if c["name"] == "cluster")
    assert cluster["ok"], cluster
    assert result["changed"] is False
