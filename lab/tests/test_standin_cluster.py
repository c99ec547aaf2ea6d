"""The Alloy stand-in's clustering (alloy_standin/cluster*.py) against real Alloy's behaviour:
`alloy run --cluster.*` processes gossip at their HTTP listen addresses, list each other at
GET /api/v0/web/peers, drop a member that stops, refuse another cluster's name, and a clustered
prometheus.scrape scrapes only the targets the hash ring gives it. The processes run with the
lab-only ALLOY_STANDIN_CLUSTER_TIME_SCALE=0.1 (memberlist's 5 s probes and 20 s suspicion
become 0.5 s and 2 s)."""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from alloy_standin import cli
from alloy_standin.cluster import PEERS_PATH, ClusterNode
from alloy_standin.cluster_flags import (ClusterOptions, IPAddress, Setup, advertise_address, build, cluster_options,
                                         go_duration)
from alloy_standin.cluster_ring import Ring, owners, target_key, xxh64
from lab_wire import decode_write_request
from local_http import LocalServer
from standin_harness import WRITE, get

STANDINS = Path(__file__).resolve().parents[1] / "standins"
SCALE = "0.1"
NAMES = ("alloy-1", "alloy-2", "alloy-3")
SHARED = [{"__address__": f"10.0.0.{i}:9100", "job": "shared"} for i in range(1, 10)]
BASIC = 'prometheus.exporter.unix "default" { }\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str
    addr: str
    proc: "subprocess.Popen[bytes]"
    log: Path
    client: Optional[ssl.SSLContext] = None  # how a test reaches a node that serves TLS

    @property
    def url(self) -> str:
        return f"{'https' if self.client else 'http'}://{self.addr}"

    def get(self, path: str) -> Tuple[int, str]:
        return get(self.url + path, self.client)

    def peers(self) -> List[Dict[str, object]]:
        status, body = self.get(PEERS_PATH)
        assert status == 200, body
        return json.loads(body)

    def names(self) -> Set[str]:
        return {str(p["name"]) for p in self.peers()}

    def metrics(self) -> str:
        return self.get("/metrics")[1]

    def logged(self) -> str:
        return self.log.read_text()


@contextmanager
def alloy(tmp_path: Path, name: str, *flags: str, config: str = BASIC, port: int = 0,
          advertise: Optional[str] = None, client: Optional[ssl.SSLContext] = None) -> Iterator[Node]:
    """An `alloy run --cluster.enabled` process named name on 127.0.0.1, ready; killed at the end.
    With client, its configuration serves TLS and the test reaches it with that context."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.alloy").write_text(config)
    addr = f"127.0.0.1:{port or free_port()}"
    env = dict(os.environ, PYTHONPATH=f"{STANDINS}{os.pathsep}{STANDINS.parent}",
               ALLOY_STANDIN_CLUSTER_TIME_SCALE=SCALE)
    args = [sys.executable, "-m", "alloy_standin", "run", str(folder / "config.alloy"),
            f"--storage.path={folder / 'data'}", f"--server.http.listen-addr={addr}", "--cluster.enabled",
            f"--cluster.node-name={name}", f"--cluster.advertise-address={advertise or addr}", *flags]
    log = folder / "stderr.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, stderr=sink, env=env)
    node = Node(name, addr, proc, log, client)
    try:
        wait_for(lambda: _ready(node), 20, f"{name} never became ready:\n{log.read_text()}")
        yield node
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _ready(node: Node) -> bool:
    assert node.proc.poll() is None, node.logged()
    try:
        return node.get("/-/ready")[0] == 200
    except OSError:
        return False


def wait_for(check: Callable[[], bool], timeout: float, message: str = "") -> float:
    """Seconds until check() held; fails the test after timeout."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, message or "timed out"
        time.sleep(0.1)
    return time.monotonic() - start


def sees(nodes: List[Node], expected: Set[str]) -> Callable[[], bool]:
    return lambda: all(n.names() == expected for n in nodes)


# ---- processes ------------------------------------------------------------------------

def test_three_nodes_form_one_cluster_and_a_stopped_one_disappears(tmp_path: Path) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(alloy(tmp_path, "alloy-1"))
        second = stack.enter_context(alloy(tmp_path, "alloy-2", f"--cluster.join-addresses={first.addr}"))
        third = stack.enter_context(alloy(tmp_path, "alloy-3", f"--cluster.join-addresses={second.addr}"))
        nodes = [first, second, third]
        wait_for(sees(nodes, set(NAMES)), 10, "the three nodes never saw each other")
        for node in nodes:  # real Alloy's shape: ckit peer.Peer's JSON, sorted by name
            peers = node.peers()
            assert [list(p) for p in peers] == [["name", "addr", "isSelf", "state"]] * 3
            assert [(p["name"], p["addr"], p["isSelf"], p["state"]) for p in peers] == [
                (n.name, n.addr, n is node, "participant") for n in nodes]
        text = first.metrics()
        assert 'cluster_node_peers{cluster_name="",state="participant"} 3' in text
        assert 'cluster_node_info{cluster_name="",state="participant"} 1' in text
        assert 'cluster_node_gossip_alive_peers{cluster_name=""} 3' in text

        later = stack.enter_context(alloy(tmp_path, "alloy-4", f"--cluster.join-addresses={third.addr}"))
        wait_for(sees(nodes + [later], {*NAMES, "alloy-4"}), 10, "a node joining later was not seen by all")

        later.proc.kill()  # a crash: no leave message, found by probes and the suspicion timeout
        crashed_after = wait_for(sees(nodes, set(NAMES)), 15, "a killed node stayed in the others' peers")
        assert crashed_after >= 1.5, "a crashed member must outlive memberlist's suspicion timeout (2 s scaled)"
        assert "memberlist: Marking alloy-4 as failed, suspect timeout reached" in "".join(n.logged() for n in nodes)

        third.proc.send_signal(signal.SIGTERM)  # a clean stop: terminating, then a leave broadcast
        assert third.proc.wait(10) == 0
        left_after = wait_for(sees([first, second], {"alloy-1", "alloy-2"}), 10, "a stopped node stayed")
        assert left_after < 1.5, "a node that left cleanly must vanish before any suspicion timeout"


def test_a_node_with_another_cluster_name_is_refused(tmp_path: Path) -> None:
    with alloy(tmp_path, "blue-1", "--cluster.name=blue") as blue, \
            alloy(tmp_path, "green-1", "--cluster.name=green", f"--cluster.join-addresses={blue.addr}") as green:
        wait_for(lambda: "failed to connect to peers; bootstrapping a new cluster" in green.logged(), 10,
                 "the green node did not give up joining the blue cluster")
        assert f"failed to join {blue.addr}: EOF" in green.logged()
        assert 'memberlist: discarding stream with unacceptable label \\"green\\"' in blue.logged()
        time.sleep(1.0)
        assert blue.names() == {"blue-1"} and green.names() == {"green-1"}
        assert 'cluster_node_info{cluster_name="green",state="participant"} 1' in green.metrics()


def test_a_node_that_listens_on_loopback_but_advertises_elsewhere_is_dropped(tmp_path: Path) -> None:
    """Alloy accepts a loopback listen address with clustering on and advertises an interface
    address (cluster_builder.go); peers cannot reach it there, so they declare it dead while it
    still sees them. Here it advertises 127.0.0.2, where nothing listens."""
    port = free_port()
    with alloy(tmp_path, "remote") as remote, \
            alloy(tmp_path, "local", f"--cluster.join-addresses={remote.addr}", port=port,
                  advertise=f"127.0.0.2:{port}") as local:
        wait_for(lambda: "local" in remote.names(), 10, "the join itself works")
        wait_for(lambda: remote.names() == {"remote"}, 15, "an unreachable member was never dropped")
        assert local.proc.poll() is None and local.names() == {"local", "remote"}
        assert "memberlist: Suspect local has failed, no acks received" in remote.logged()


def test_a_clustered_scrape_scrapes_only_the_targets_it_owns(tmp_path: Path, backend: LocalServer) -> None:
    backend.routes[WRITE] = (204, "")

    def config(name: str) -> str:
        shared = ",\n".join("\t\t{" + ", ".join(f'"{k}" = "{v}"' for k, v in t.items()) + "}" for t in SHARED)
        return f'''
prometheus.scrape "shared" {{
	targets = [
{shared},
	]
	forward_to = [prometheus.remote_write.out.receiver]
	scrape_interval = "1s"
	scrape_timeout = "300ms"
	clustering {{
		enabled = true
	}}
}}
prometheus.scrape "local" {{
	targets = [{{"__address__" = "localhost:9100", "instance" = "{name}", "job" = "node"}}]
	forward_to = [prometheus.remote_write.out.receiver]
	scrape_interval = "1s"
	scrape_timeout = "300ms"
	clustering {{
		enabled = true
	}}
}}
prometheus.remote_write "out" {{
	external_labels = {{"scraper" = "{name}"}}
	endpoint {{
		url = "{backend.url}{WRITE}"
	}}
}}
'''
    with ExitStack() as stack:
        first = stack.enter_context(alloy(tmp_path, NAMES[0], config=config(NAMES[0])))
        nodes = [first] + [stack.enter_context(alloy(tmp_path, name, f"--cluster.join-addresses={first.addr}",
                                                     config=config(name))) for name in NAMES[1:]]
        wait_for(sees(nodes, set(NAMES)), 10, "the cluster never formed")
        time.sleep(0.5)  # one gossip round for the participants' states
        start = len(backend.requests)
        time.sleep(2.5)
        scraped = {(s["scraper"], s["instance"]) for r in backend.requests[start:]
                   for s, _, _ in decode_write_request(r.body) if s["__name__"] == "up"}
    shared_owner = dict(zip((t["__address__"] for t in SHARED), owners(NAMES, SHARED)))
    assert {(o, a) for a, o in shared_owner.items()} == {p for p in scraped if p[1].startswith("10.")}
    local = [{"__address__": "localhost:9100", "instance": n, "job": "node"} for n in NAMES]
    expected_local = {(owner, n) for n, owner in zip(NAMES, owners(NAMES, local)) if owner == n}
    assert expected_local == {p for p in scraped if not p[1].startswith("10.")}
    # the inconvenient consequence: a per-host target is scraped only where its key lands on its
    # own host; with these names two hosts' local metrics are scraped by nobody
    assert len(expected_local) == 1


# ---- flags -----------------------------------------------------------------------------

@pytest.mark.parametrize("flag, message", [
    ("--cluster.wait-for-size=abc", 'invalid argument "abc" for "--cluster.wait-for-size" flag: '
                                    'strconv.ParseInt: parsing "abc": invalid syntax'),
    ("--cluster.wait-timeout=5x", 'invalid argument "5x" for "--cluster.wait-timeout" flag: '
                                  'time: unknown unit "x" in duration "5x"'),
    ("--cluster.rejoin-interval=10", 'invalid argument "10" for "--cluster.rejoin-interval" flag: '
                                     'time: missing unit in duration "10"'),
    ("--cluster.enabled=maybe", 'invalid argument "maybe" for "--cluster.enabled" flag: '
                                'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ("--cluster.bogus=1", "unknown flag: --cluster.bogus"),
])
def test_bad_flag_values_are_refused_as_pflag_does(flag: str, message: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", flag, str(tmp_path / "missing.alloy")]) == 1
    assert capsys.readouterr().err == f"Error: {message}\n"


def test_setup_refusals_use_alloys_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.alloy"
    config.write_text(BASIC)
    cases = [
        (["--cluster.join-addresses=a:1,b", "--cluster.discover-peers=provider=aws"],
         'at most one of join peers and discover peers may be set, got join peers ["a:1" "b"] '
         'and discover peers "provider=aws"'),
        # cluster.New reads the TLS files whenever --cluster.enable-tls is set, clustering on or not
        (["--cluster.enable-tls", f"--cluster.tls-ca-path={tmp_path}/none.pem"],
         f"failed to load TLS config from file: failed to read TLS CA file: open {tmp_path}/none.pem: "
         "no such file or directory"),
        (["--cluster.enabled", "--cluster.advertise-address=no-such-host.invalid"],
         'failed to create cluster node: failed to lookup advertise address "no-such-host.invalid": '
         "lookup no-such-host.invalid: no such host"),
    ]
    for flags, message in cases:
        assert cli.main(["run", *flags, str(config)]) == 1
        assert capsys.readouterr().err.endswith(f"Error: {message}\n")


def test_tls_files_are_loaded_for_the_peer_client(pki: Dict[str, Path]) -> None:
    flags = {"cluster.enable-tls": "true", "cluster.tls-ca-path": str(pki["ca.pem"]),
             "cluster.tls-cert-path": str(pki["client.pem"]), "cluster.tls-key-path": str(pki["srv.key"])}
    with pytest.raises(Exception, match="failed to load X509 key pair: tls: private key does not match"):
        build(cluster_options(flags), "127.0.0.1:12345")
    flags["cluster.tls-key-path"] = str(pki["client.key"])
    assert build(cluster_options(flags), "127.0.0.1:12345").tls is not None


def test_flag_defaults_are_alloys() -> None:
    options = cluster_options({})
    assert options == ClusterOptions(enabled=False, advertise_interfaces=["eth0", "en0"], rejoin_interval=60.0,
                                     max_join_peers=5, wait_for_size=0, wait_timeout=0.0)
    assert go_duration("1m30s") == 90.0 and go_duration("0") == 0.0 and go_duration("1.5h") == 5400.0


def test_the_advertise_address_follows_cluster_builder() -> None:
    eth0 = {"eth0": [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("fe80::1"),
                     ipaddress.ip_address("10.1.2.3")]}

    def lookup(name: str) -> List[IPAddress]:
        if name not in eth0:
            raise OSError("route ip+net: no such network interface")
        return eth0[name]

    on = ClusterOptions(enabled=True)
    # the listen address does not matter: a loopback listener advertises its interface address
    assert advertise_address(on, 12345, lookup) == "10.1.2.3:12345"
    assert advertise_address(ClusterOptions(), 12345, lookup) == "127.0.0.1:12345"  # clustering off
    assert advertise_address(ClusterOptions(enabled=True, advertise_interfaces=["en0"]), 80, lookup) == "127.0.0.1:80"
    assert advertise_address(ClusterOptions(advertise_address="10.9.9.9"), 12345, lookup) == "10.9.9.9:12345"
    assert advertise_address(ClusterOptions(advertise_address="fd00::1"), 9, lookup) == "[fd00::1]:9"
    assert advertise_address(ClusterOptions(advertise_address="10.9.9.9:7"), 9, lookup) == "10.9.9.9:7"


# ---- in-process ----------------------------------------------------------------------

def node(options: ClusterOptions, clock: Callable[[], float] = time.monotonic) -> ClusterNode:
    return ClusterNode(Setup(options, "self", "127.0.0.1:12345", 12345, None), clock=clock, scale=1.0)


def test_without_clustering_the_peers_api_lists_only_itself() -> None:
    single = node(ClusterOptions())
    single.run()
    status, body, _ = single.handle("GET", PEERS_PATH, b"")  # type: ignore[misc]
    assert (status, body) == (200, '[{"name":"self","addr":"127.0.0.1:12345","isSelf":true,"state":"participant"}]')
    assert single.handle("POST", "/api/v1/ckit/transport/stream", b"{}")[:2] == (  # type: ignore[index]
        404, "clustering is disabled\n")
    assert single.render() == ""  # Alloy registers the cluster metrics only with --cluster.enabled


def test_wait_for_size_holds_clustered_work_until_the_size_or_the_timeout() -> None:
    now = [100.0]
    waiting = node(ClusterOptions(enabled=True, wait_for_size=2, wait_timeout=30.0), clock=lambda: now[0])
    waiting.change_state("participant")
    assert waiting.owned(SHARED) == []
    assert 'cluster_ready_for_traffic{cluster_name=""} 0' in waiting.render()
    assert 'cluster_minimum_size{cluster_name=""} 2' in waiting.render()
    now[0] += 31
    waiting.check_timers()
    assert waiting.owned(SHARED) == SHARED  # the deadline passed: the only participant owns all
    assert 'cluster_ready_for_traffic{cluster_name=""} 1' in waiting.render()


def test_a_suspect_is_declared_dead_after_memberlists_suspicion_timeout() -> None:
    now = [0.0]
    watcher = node(ClusterOptions(enabled=True), clock=lambda: now[0])
    for name in ("b", "c"):
        watcher.apply({"type": "alive", "name": name, "addr": f"{name}:1", "incarnation": 1})
        watcher.apply({"type": "state", "name": name, "state": "participant", "time": 1})
    watcher.apply({"type": "suspect", "name": "b", "incarnation": 1, "from": "self"})
    now[0] = 19.9  # 4 * max(1, log10(3)) * 5 s = 20 s for three members
    watcher.check_timers()
    assert {str(p["name"]) for p in watcher.sharder_peers()} == {"b", "c"}
    now[0] = 20.0
    watcher.check_timers()
    assert {str(p["name"]) for p in watcher.sharder_peers()} == {"c"}
    # b refutes with a higher incarnation and is a member again
    assert watcher.apply({"type": "alive", "name": "b", "addr": "b:1", "incarnation": 2})


def test_a_node_refutes_rumours_of_its_death() -> None:
    target = node(ClusterOptions(enabled=True))
    target.apply({"type": "suspect", "name": "self", "incarnation": 1, "from": "other"})
    assert target.incarnation == 2 and target.members["self"].status == "alive"
    assert any(m[0] == {"type": "alive", "name": "self", "addr": "127.0.0.1:12345", "incarnation": 2}
               for m in target.queue)


# ---- the ring ------------------------------------------------------------------------

def test_hashes_are_alloys() -> None:
    assert xxh64(b"") == 0xEF46DB3751D8E999 and xxh64(b"abc") == 0x44BC2CF5AD770999
    # internal/component/discovery/target_test.go: label_0..9 = value_0..9, meta labels ignored
    labels = {f"label_{i}": f"value_{i}" for i in range(10)}
    assert target_key(labels) == 0xA28155048FF30D6F
    assert target_key({**labels, "__meta_x": "y"}) == target_key(labels)
    assert target_key({**labels, "__address__": "x"}) != target_key(labels)  # __address__ is not meta


def test_the_ring_gives_every_key_one_owner_and_spreads_them() -> None:
    ring = Ring(list(NAMES))
    counts: Dict[Optional[str], int] = {}
    for index in range(3000):
        owner = ring.owner(xxh64(str(index).encode()))
        counts[owner] = counts.get(owner, 0) + 1
    assert set(counts) == set(NAMES) and min(counts.values()) > 800
    assert Ring([]).owner(1) is None
    smaller: Tuple[str, ...] = NAMES[:2]  # a node leaving moves only its own keys
    moved = [i for i in range(300) if ring.owner(i * 2**55) in smaller
             and Ring(list(smaller)).owner(i * 2**55) != ring.owner(i * 2**55)]
    assert moved == []
