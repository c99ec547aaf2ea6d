"""TEST FIXTURE (stand-in for Grafana Alloy): clustering (`alloy run --cluster.*`).

A model of grafana/alloy internal/service/cluster (cluster.go, cluster_readonly.go) on top of
grafana/ckit (node.go, metrics.go, internal/gossiphttp) and hashicorp/memberlist (state.go,
util.go, suspicion.go, config.go DefaultLANConfig with ckit's overrides):

- Membership is SWIM gossip at the HTTP listen address, on ckit's paths: push/pull state
  syncs at POST /api/v1/ckit/transport/stream (on join, then every 30 s with one random
  member), probes and gossip at POST /api/v1/ckit/transport/message (a probe every 5 s in
  shuffled round robin, 2 s timeout, then 3 indirect probes through other members; changes
  gossiped every 200 ms to 3 random members, each message retransmitted 4*ceil(log10(n+1))
  times). Alive/suspect/dead messages carry incarnations; a node told it is suspect or dead
  refutes with a higher incarnation. A suspect is declared dead after memberlist's suspicion
  timeout: 4*max(1, log10(n))*5 s = 20 s below ten nodes when fewer than 2 other members can
  confirm (n < 4), else starting at 6x that and shrinking with confirmations. So a process
  that dies without leaving vanishes from the others' peers within about one probe round plus
  20 s (~30 s for three nodes); one that stops cleanly (SIGTERM) moves to "terminating" and
  broadcasts a leave, and vanishes at once. Dead members are forgotten after 30 s.
- ckit's node states viewer -> participant (after the initial load) -> terminating (on stop),
  gossiped with Lamport times; GET /api/v0/web/peers lists what Alloy's Cluster.Peers returns:
  the non-viewer peers, sorted by name, as {"name","addr","isSelf","state"} (ckit peer.go).
- The cluster name is memberlist's label: a request with another label is discarded
  ("discarding stream/packet with unacceptable label"), so a joiner with a different
  --cluster.name fails to join, logs "failed to connect to peers; bootstrapping a new
  cluster" and runs as a cluster of its own, retrying every --cluster.rejoin-interval.
- Alloy never refuses a loopback listen address: a node listening on 127.0.0.1 advertises
  its interface address (cluster_flags.advertise_address); it can join others, but they
  cannot reach it there, so they suspect it and declare it dead, it refutes when it hears,
  and it keeps flapping in and out of their peers.
- --cluster.wait-for-size / --cluster.wait-timeout: until that many participants (or the
  timeout), clustered components own nothing (cluster_ready_for_traffic 0).
- prometheus.scrape with clustering { enabled = true } scrapes only the targets whose key
  the read-write ring gives this node (cluster_ring.py; discovery/distributed_targets.go),
  duplicates once. Per-host targets (prometheus.exporter.unix: instance = hostname) differ
  between hosts, so each host's own target is owned by whichever node the ring picks, which
  usually has no such target: most hosts' metrics are scraped by nobody. Alloy warns
  ("detected clustering is configured while using a host-specific exporter ...") and so
  does the stand-in.
- /metrics (with --cluster.enabled only, as Alloy registers them): cluster_node_info,
  cluster_node_peers, cluster_node_gossip_alive_peers, cluster_node_gossip_health_score,
  cluster_node_gossip_proto_version, cluster_node_gossip_received_events_total,
  cluster_node_gossip_broadcasts_total, cluster_node_lamport_time, cluster_node_update_*,
  cluster_transport_* (packets and bytes sent to and received at the message endpoint, push/pull
  syncs as stream packets; cluster_transport_streams stays 0), cluster_ready_for_traffic,
  cluster_minimum_size.

- TLS (--cluster.enable-tls, cluster.go and ckit's gossiphttp): peers are dialed over HTTPS
  with the CA, this node's certificate and key (presented as a client certificate) and the
  server name (--cluster.tls-server-name, else the host dialed), so the HTTP server must serve
  TLS (`http { tls { ... } }`, http_tls.py). A TLS member cannot join a plain one ("failed to
  join <addr>: Post \"https://<addr>/api/v1/ckit/transport/stream\": tls: first record does not
  look like a TLS handshake") nor a plain one a TLS member (the TLS server drops the plain
  request, logging "http: TLS handshake error from <addr>: tls: first record does not look
  like a TLS handshake"; the joiner reads EOF); a certificate from another CA or without the
  name fails as Go's verification says ("tls: failed to verify certificate: x509: ...").
  Both bootstrap clusters of their own and retry every --cluster.rejoin-interval.

Not modelled: HTTP/2 and ckit's binary framing (the stand-in speaks JSON over HTTP/1.1 on the
same paths; real ckit answers HTTP/1.x with 505, so stand-in and real Alloy cannot form one
cluster); msgpack; memberlist's awareness (health score stays 0), compression, encryption
and TCP fallback pings; Go's exact texts for transport errors other than the TLS ones above
and refused connections; component rate limiting of cluster changes and the targets-moved metrics; node name
conflicts. Timings can be shortened for tests only with the lab-only environment variable
ALLOY_STANDIN_CLUSTER_TIME_SCALE (cluster_flags.time_scale).
"""
from __future__ import annotations

import http.client
import json
import math
import random
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import urlsplit

from lab_wire.handler import TextHandler

from . import cluster_targets
from .cluster_flags import Setup, join_peers, log, split_host_port, time_scale
from .http_tls import transport_error
from .cluster_ring import Ring, target_key
from .syntax import Block
from .telemetry import Labels, _first, _flag, attr, number_text

if TYPE_CHECKING:  # server imports this module
    from .server import Agent

MESSAGE_PATH = "/api/v1/ckit/transport/message"
STREAM_PATH = "/api/v1/ckit/transport/stream"
PEERS_PATH = "/api/v0/web/peers"
CONTENT_TYPE = "application/x.ckit"
STATES = ("viewer", "participant", "terminating")
# memberlist DefaultLANConfig with ckit's overrides (seconds), before the lab-only scale.
PROBE_INTERVAL, PROBE_TIMEOUT, TCP_TIMEOUT = 5.0, 2.0, 2.0
GOSSIP_INTERVAL, PUSH_PULL_INTERVAL, GOSSIP_TO_THE_DEAD, LEAVE_TIMEOUT = 0.2, 30.0, 30.0, 5.0
GOSSIP_NODES, INDIRECT_CHECKS, RETRANSMIT_MULT, SUSPICION_MULT, SUSPICION_MAX_MULT = 3, 3, 4, 4, 6
HOST_EXPORTERS = ("prometheus.exporter.unix", "prometheus.exporter.process", "prometheus.exporter.cadvisor",
                  "prometheus.exporter.windows")
Answer = Tuple[int, str, str]  # status, body, content type
Message = Dict[str, object]


@dataclass
class Suspicion:
    """memberlist suspicion.go: k confirmations expected; the timeout shrinks from max to min."""

    start: float
    k: int
    low: float
    high: float
    confirmers: Set[str] = field(default_factory=set)

    def deadline(self) -> float:
        if self.k < 1:
            return self.start + self.low
        frac = math.log(len(self.confirmers) + 1) / math.log(self.k + 1)
        return self.start + max(self.low, self.high - frac * (self.high - self.low))


@dataclass
class Member:
    name: str
    addr: str
    incarnation: int
    status: str = "alive"  # alive, suspect, dead, left
    changed: float = 0.0
    suspicion: Optional[Suspicion] = None

    def wire(self) -> Message:
        return {"name": self.name, "addr": self.addr, "incarnation": self.incarnation, "status": self.status}


class Metrics:
    """ckit's node and transport metrics, labelled as it registers them."""

    def __init__(self) -> None:
        self.events: Dict[str, int] = {}
        self.broadcasts: Dict[str, int] = {}
        self.transport: Dict[str, float] = {}

    def event(self, name: str) -> None:
        self.events[name] = self.events.get(name, 0) + 1

    def count(self, name: str, amount: float = 1) -> None:
        self.transport[name] = self.transport.get(name, 0) + amount


class _PeerConnection(http.client.HTTPSConnection):
    """HTTPS to a peer, its certificate checked for server_name (Go's tls.Config.ServerName)."""

    def __init__(self, host: str, port: int, timeout: float, context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)  # type: ignore[attr-defined]


def _post(addr: str, path: str, payload: Message, timeout: float, tls: Optional[ssl.SSLContext],
          server_name: str = "") -> bytes:
    """POST payload as JSON to a peer's listen address (HTTPS with tls, the peer's certificate
    checked for server_name or its host); OSError when it does not answer, in Go's words."""
    host, port = split_host_port(addr) or (addr, "80")
    conn: http.client.HTTPConnection = (
        _PeerConnection(host, int(port), timeout, tls, server_name or host)
        if tls else http.client.HTTPConnection(host, int(port), timeout=timeout))
    url = f"{'https' if tls else 'http'}://{addr}{path}"
    try:
        conn.request("POST", path, json.dumps(payload).encode(), {"Content-Type": CONTENT_TYPE})
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise OSError(f"unexpected status {answer.status}")
        return body
    except (http.client.RemoteDisconnected, ssl.SSLError) as exc:   # an SSLCertVerificationError is a ValueError
        raise OSError(f'Post "{url}": ' + transport_error(exc, host, int(port), server_name or host, timeout)) \
            from None
    except (http.client.HTTPException, ValueError) as exc:
        raise OSError(str(exc) or "EOF") from None
    except OSError as exc:
        if str(exc).startswith("unexpected status"):
            raise
        raise OSError(f'Post "{url}": ' + transport_error(exc, host, int(port), server_name or host, timeout)) \
            from None
    finally:
        conn.close()


class ClusterNode:
    """One `alloy run`'s cluster service: a memberlist member and a ckit node."""

    def __init__(self, setup: Setup, clock: Callable[[], float] = time.monotonic, scale: Optional[float] = None,
                 post: Callable[..., bytes] = _post) -> None:
        self.setup = setup
        self.options = setup.options
        self.name = setup.node_name
        self.label = setup.options.name
        self.clock = clock
        self.scale = time_scale() if scale is None else scale
        self.post = post
        self.lock = threading.RLock()
        self.metrics = Metrics()
        self.incarnation = 1
        self.lamport = 0
        self.local_state = "viewer"
        self.members: Dict[str, Member] = {self.name: Member(self.name, setup.advertise, 1, changed=clock())}
        self.states: Dict[str, Tuple[str, int]] = {}
        self.peers: Dict[str, Dict[str, object]] = {}
        self.queue: List[List[object]] = []  # [message, transmits]
        self.probe_order: List[str] = []
        self.last_seen: Tuple[Tuple[str, str], ...] = ()
        self.stopped = threading.Event()
        self.leaving = False
        # cluster_readonly.go: "ready", "not_ready" or "deadline_passed" (ready too)
        self.admission = "not_ready" if self.options.enabled and self.options.wait_for_size != 0 else "ready"
        self.ready_deadline: Optional[float] = None
        if self.admission == "not_ready" and self.options.wait_timeout:
            self.ready_deadline = clock() + self.options.wait_timeout
        self._peers_changed(quiet=True)  # memberlist's own member: logged once peers change

    # ---- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Service.Run: join the discovered peers (or bootstrap), then gossip in the background."""
        if not self.options.enabled:
            return
        try:
            peers = join_peers(self.options, self.setup.port) if self.options.join_addresses else []
        except OSError as exc:
            log("warn", "failed to get peers to join at startup; will create a new cluster", err=exc)
            peers = []
        log("info", "starting cluster node", peers_count=len(peers), peers=",".join(peers),
            advertise_addr=self.setup.advertise, minimum_cluster_size=self.options.wait_for_size,
            minimum_size_wait_timeout=f"{self.options.wait_timeout:g}s")
        error = self.join(peers)
        if error:
            log("warn", "failed to connect to peers; bootstrapping a new cluster", err=error)
        for loop in (self._gossip_loop, self._probe_loop, self._push_pull_loop, self._rejoin_loop):
            threading.Thread(target=loop, daemon=True).start()

    def run(self) -> None:
        """After the initial load: join (Service.Run), then become a participant (cmd_run.go)."""
        self.start()
        self.change_state("participant")

    def join(self, peers: List[str]) -> str:
        """memberlist.Join: a push/pull with every address; the error text when none answered."""
        errors = []
        for addr in peers:
            try:
                self.push_pull(addr, join=True)
            except OSError as exc:
                errors.append(f"failed to join {addr}: {exc}")
        if not errors or len(errors) < len(peers):
            return ""
        listed = "".join(f"\n\t* {e}" for e in errors)
        count = f"{len(errors)} error{'s' if len(errors) > 1 else ''} occurred:"
        return f"failed to join memberlist: {count}{listed}\n\n"

    def change_state(self, state: str) -> None:
        """ckit Node.ChangeState: store and gossip the local state with a new Lamport time."""
        with self.lock:
            self.local_state = state
            self.lamport += 1
            message: Message = {"type": "state", "name": self.name, "state": state, "time": self.lamport}
            self._store_state(message)
            self._queue(message)

    def stop(self) -> None:
        """Service.stop: terminating, then memberlist's Leave (a dead message about itself)."""
        if self.stopped.is_set():
            return
        if self.options.enabled:
            self.change_state("terminating")
            with self.lock:
                self.leaving = True
                me = self.members[self.name]
                me.status = "left"
                self._queue({"type": "dead", "name": self.name, "incarnation": me.incarnation, "from": self.name})
            self._flush(LEAVE_TIMEOUT * self.scale)
        self.stopped.set()

    # ---- loops -----------------------------------------------------------------

    def _every(self, interval: float, action: Callable[[], None]) -> None:
        while not self.stopped.wait(interval * self.scale):
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - a loop of the fixture must survive
                log("error", "cluster loop failed", err=exc)

    def _gossip_loop(self) -> None:
        self._every(GOSSIP_INTERVAL, self._gossip_tick)

    def _probe_loop(self) -> None:
        self._every(PROBE_INTERVAL, self.probe)

    def _push_pull_loop(self) -> None:
        self._every(PUSH_PULL_INTERVAL, self._push_pull_random)

    def _rejoin_loop(self) -> None:
        if self.options.rejoin_interval > 0:
            while not self.stopped.wait(self.options.rejoin_interval):
                self.rejoin()

    def rejoin(self) -> None:
        """Every --cluster.rejoin-interval: discover the join addresses again and join them."""
        try:
            peers = join_peers(self.options, self.setup.port) if self.options.join_addresses else []
        except OSError as exc:
            log("warn", "failed to refresh list of peers", err=exc)
            return
        log("info", "rejoining peers", peers_count=len(peers), min_cluster_size=self.options.wait_for_size,
            peers=",".join(peers))
        error = self.join(peers)
        if error:
            log("error", "failed to rejoin list of peers", err=error)

    def _gossip_tick(self) -> None:
        self.check_timers()
        self._flush(TCP_TIMEOUT * self.scale, wait=False)

    def _gossip_targets(self) -> List[Member]:
        now = self.clock()
        with self.lock:
            found = [m for m in self.members.values() if m.name != self.name and (
                m.status in ("alive", "suspect")
                or m.status == "dead" and now - m.changed <= GOSSIP_TO_THE_DEAD * self.scale)]
        return random.sample(found, min(GOSSIP_NODES, len(found)))

    def _flush(self, timeout: float, wait: bool = True) -> None:
        """Sends the queued broadcasts to up to 3 random members (memberlist gossip())."""
        targets = self._gossip_targets()
        with self.lock:
            limit = RETRANSMIT_MULT * math.ceil(math.log10(len(self.members) + 1))
            batch = [entry[0] for entry in self.queue]
            for entry in self.queue:
                entry[1] = int(entry[1]) + len(targets)  # type: ignore[call-overload]
            self.queue = [entry for entry in self.queue if int(entry[1]) < limit]  # type: ignore[call-overload]
        if not batch or not targets:
            return
        threads = [threading.Thread(target=self._send, args=(m.addr, batch, timeout), daemon=True) for m in targets]
        for thread in threads:
            thread.start()
        for thread in threads if wait else []:
            thread.join(timeout)

    def _send(self, addr: str, messages: List[Message], timeout: float) -> Optional[Message]:
        payload: Message = {"label": self.label, "from": self.name, "messages": messages}
        size = len(json.dumps(payload))
        self.metrics.count("tx_packets")
        self.metrics.count("tx_bytes", size)
        try:
            return json.loads(self.post(addr, MESSAGE_PATH, payload, timeout, self.setup.tls,
                                        self.options.tls_server_name) or b"{}")
        except (OSError, ValueError):
            self.metrics.count("tx_failed")
            return None

    # ---- failure detection -----------------------------------------------------------

    def probe(self) -> None:
        """memberlist probe(): the next member in shuffled round robin, then indirect probes."""
        target = self._next_probe()
        if target is None:
            return
        if self._ping(target.addr, target.name, PROBE_TIMEOUT * self.scale):
            return
        helpers = [m for m in self._alive_others() if m.name != target.name][:INDIRECT_CHECKS]
        request: Message = {"type": "ping-req", "name": target.name, "addr": target.addr}
        for helper in helpers:
            answer = self._send(helper.addr, [request], PROBE_TIMEOUT * self.scale * 2)
            if answer and answer.get("acks"):
                return
        log("info", f"memberlist: Suspect {target.name} has failed, no acks received", subsystem="memberlist")
        self.apply({"type": "suspect", "name": target.name, "incarnation": target.incarnation, "from": self.name})

    def _next_probe(self) -> Optional[Member]:
        with self.lock:
            if not self.probe_order:
                self.probe_order = [n for n in self.members if n != self.name]
                random.shuffle(self.probe_order)
            while self.probe_order:
                member = self.members.get(self.probe_order.pop())
                if member is not None and member.status in ("alive", "suspect"):
                    return member
        return None

    def _alive_others(self) -> List[Member]:
        with self.lock:
            found = [m for m in self.members.values() if m.name != self.name and m.status == "alive"]
        random.shuffle(found)
        return found

    def _ping(self, addr: str, name: str, timeout: float) -> bool:
        answer = self._send(addr, [{"type": "ping", "name": name}], timeout)
        return bool(answer and answer.get("acks"))

    def check_timers(self) -> None:
        """Suspicion timeouts, the reaping of dead members, the wait-for-size deadline."""
        now = self.clock()
        with self.lock:
            for member in list(self.members.values()):
                if member.status == "suspect" and member.suspicion and now >= member.suspicion.deadline():
                    log("info", f"memberlist: Marking {member.name} as failed, suspect timeout reached "
                        f"({len(member.suspicion.confirmers)} peer confirmations)", subsystem="memberlist")
                    self.apply({"type": "dead", "name": member.name, "incarnation": member.incarnation,
                                "from": self.name})
                elif member.status in ("dead", "left") and now - member.changed > GOSSIP_TO_THE_DEAD * self.scale:
                    del self.members[member.name]
            if self.ready_deadline is not None and now >= self.ready_deadline and self.admission == "not_ready":
                self.ready_deadline, self.admission = None, "deadline_passed"
                log("warn", "deadline passed, marking cluster as ready to admit traffic",
                    minimum_cluster_size=self.options.wait_for_size, peers_count=len(self.sharder_peers()))

    # ---- memberlist messages -----------------------------------------------------

    def apply(self, message: Message) -> bool:
        """Applies a gossiped message; True (and queued to gossip on) when it changed anything."""
        kinds: Dict[str, Callable[[Message], bool]] = {
            "alive": self._alive, "suspect": self._suspect, "dead": self._dead, "state": self._state_message}
        handler = kinds.get(str(message.get("type")))
        if handler is None:
            return False
        with self.lock:
            if message.get("type") == "state":
                self.metrics.event("state_change_message")
            changed = handler(message)
            if changed:
                self._queue(message)
                if message.get("type") == "state":
                    self.metrics.broadcasts["state_change_message"] = (
                        self.metrics.broadcasts.get("state_change_message", 0) + 1)
        return changed

    def _alive(self, msg: Message) -> bool:
        name, incarnation = str(msg["name"]), int(msg["incarnation"])  # type: ignore[call-overload]
        if name == self.name:
            return False
        current = self.members.get(name)
        if current is not None and incarnation <= current.incarnation:
            return False
        was_member = current is not None and current.status in ("alive", "suspect")
        self.members[name] = Member(name, str(msg["addr"]), incarnation, changed=self.clock())
        self.metrics.event("node_update" if was_member else "node_join")
        self._set_peer(name, str(msg["addr"]))
        return True

    def _live_member(self, msg: Message) -> Optional[Tuple[str, int, Member]]:
        """(name, incarnation, member) when a suspect or dead message is news: about a live
        member, with an incarnation not older than the one known; else None."""
        name, incarnation = str(msg["name"]), int(msg["incarnation"])  # type: ignore[call-overload]
        current = self.members.get(name)
        if current is None or incarnation < current.incarnation or current.status in ("dead", "left"):
            return None
        return name, incarnation, current

    def _suspect(self, msg: Message) -> bool:
        found = self._live_member(msg)
        if found is None:
            return False
        name, incarnation, current = found
        if name == self.name:
            return self._refute(incarnation)
        if current.status == "suspect":
            if current.suspicion and len(current.suspicion.confirmers) < current.suspicion.k:
                current.suspicion.confirmers.add(str(msg["from"]))
            return False
        nodes = len(self.members)
        low = SUSPICION_MULT * max(1.0, math.log10(max(1, nodes))) * PROBE_INTERVAL * self.scale
        k = SUSPICION_MULT - 2 if nodes - 2 >= SUSPICION_MULT - 2 else 0
        current.status, current.incarnation, current.changed = "suspect", incarnation, self.clock()
        current.suspicion = Suspicion(self.clock(), k, low, SUSPICION_MAX_MULT * low)
        return True

    def _dead(self, msg: Message) -> bool:
        found = self._live_member(msg)
        if found is None:
            return False
        name, incarnation, current = found
        if name == self.name and not self.leaving:
            return self._refute(incarnation)
        current.status = "left" if msg.get("from") == name else "dead"
        current.incarnation, current.changed, current.suspicion = incarnation, self.clock(), None
        if name != self.name:
            self.metrics.event("node_leave")
            self.peers.pop(name, None)
            self.states.pop(name, None)
            self._peers_changed()
        return True

    def _refute(self, incarnation: int) -> bool:
        """memberlist refute(): an alive message about itself with a higher incarnation."""
        self.incarnation = max(self.incarnation, incarnation) + 1
        me = self.members[self.name]
        me.incarnation, me.status = self.incarnation, "alive"
        self._queue({"type": "alive", "name": self.name, "addr": me.addr, "incarnation": self.incarnation})
        return False

    def _queue(self, message: Message) -> None:
        key = (message.get("type") == "state", message.get("name"))
        self.queue = [e for e in self.queue if (e[0].get("type") == "state", e[0].get("name")) != key]  # type: ignore
        self.queue.append([message, 0])

    # ---- ckit states -----------------------------------------------------------

    def _state_message(self, msg: Message) -> bool:
        """ckit handleStateMessage: newer Lamport times win; a stale one about itself is replaced."""
        name, stamp = str(msg["name"]), int(msg["time"])  # type: ignore[call-overload]
        self.lamport = max(self.lamport, stamp) + 1
        current = self.states.get(name)
        if current is not None and stamp <= current[1]:
            return False
        if name == self.name:
            msg = {"type": "state", "name": name, "state": self.local_state, "time": self.lamport}
        self._store_state(msg)
        return True

    def _store_state(self, msg: Message) -> None:
        name = str(msg["name"])
        self.states[name] = (str(msg["state"]), int(msg["time"]))  # type: ignore[call-overload]
        if name in self.peers:
            self.peers[name]["state"] = str(msg["state"])
            self._peers_changed()

    def _set_peer(self, name: str, addr: str) -> None:
        state = self.states.get(name, ("viewer", 0))[0]
        self.peers[name] = {"name": name, "addr": addr, "isSelf": name == self.name, "state": state}
        self._peers_changed()

    def _peers_changed(self, quiet: bool = False) -> None:
        """handlePeersChanged, then the cluster service's ready state and its log line."""
        if self.name not in self.peers and self.members[self.name].status == "alive":
            state = self.states.get(self.name, (self.local_state, 0))[0]
            self.peers[self.name] = {"name": self.name, "addr": self.members[self.name].addr, "isSelf": True,
                                     "state": state}
        if self.options.wait_for_size and self.options.enabled:
            self._update_ready()
        seen = tuple(sorted((str(p["name"]), str(p["state"])) for p in self.peers.values()))
        if self.options.enabled and seen != self.last_seen:
            self.last_seen = seen
            if not quiet:
                    log("info", "peers changed", peers_count=len(seen), min_cluster_size=self.options.wait_for_size,
                    peers=",".join(name for name, _ in seen))

    @property
    def ready(self) -> bool:
        """Cluster.Ready(): whether clustered components may take work."""
        return self.admission != "not_ready"

    def _update_ready(self) -> None:
        """alloyCluster.updateReadyState."""
        count = len(self.sharder_peers())
        if count >= self.options.wait_for_size:
            if self.admission != "ready":
                log("info", "minimum cluster size reached, marking cluster as ready to admit traffic",
                    minimum_cluster_size=self.options.wait_for_size, peers_count=count)
            self.admission, self.ready_deadline = "ready", None
        elif self.admission == "ready":
            self.admission = "not_ready"
            if self.options.wait_timeout:
                self.ready_deadline = self.clock() + self.options.wait_timeout
            log("warn", "minimum cluster size requirements are not met - marking cluster as not ready for traffic",
                minimum_cluster_size=self.options.wait_for_size, peers_count=count)

    # ---- push/pull ---------------------------------------------------------------

    def local_state_wire(self, join: bool) -> Message:
        with self.lock:
            self.metrics.event("get_local_state")
            states = [{"name": n, "state": self.states.get(n, ("viewer", 0))[0], "time": self.states.get(n, ("", 0))[1]}
                      for n in self.peers]
            return {"label": self.label, "from": self.name, "join": join, "time": self.lamport,
                    "members": [m.wire() for m in self.members.values()], "states": states}

    def merge(self, remote: Message) -> None:
        """memberlist mergeState (a remote dead is only a suspicion here) and ckit MergeRemoteState."""
        for member in remote.get("members") or []:  # type: ignore[union-attr]
            status = member["status"]
            kind = {"alive": "alive", "left": "dead"}.get(status, "suspect")
            source = member["name"] if status == "left" else self.name
            self.apply({"type": kind, **member, "from": source})
        with self.lock:
            self.metrics.event("merge_remote_state")
            self.lamport = max(self.lamport, int(remote.get("time") or 0))  # type: ignore[call-overload]
        for state in remote.get("states") or []:  # type: ignore[union-attr]
            if state["name"] in self.peers and state["time"]:
                self.apply({"type": "state", **state})

    def push_pull(self, addr: str, join: bool = False) -> None:
        """A full state sync with the member at addr; OSError when it fails."""
        self.metrics.count("streams_tx")
        body = self.post(addr, STREAM_PATH, self.local_state_wire(join), TCP_TIMEOUT * self.scale, self.setup.tls,
                         self.options.tls_server_name)
        try:
            remote = json.loads(body) if body else None
        except ValueError:
            remote = None
        if not isinstance(remote, dict):
            raise OSError("EOF")
        self.merge(remote)

    def _push_pull_random(self) -> None:
        others = self._alive_others()
        if others:
            try:
                self.push_pull(others[0].addr)
            except OSError as exc:
                log("error", f"memberlist: Push/Pull with {others[0].name} failed: {exc}", subsystem="memberlist")

    # ---- HTTP ----------------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes) -> Optional[Answer]:
        """The cluster's routes on the HTTP server; None for other paths."""
        if path == PEERS_PATH:
            return 200, json.dumps(self.sharder_peers(), separators=(",", ":")), "text/plain; charset=utf-8"
        if not path.startswith("/api/v1/ckit/transport/"):
            return None
        if not self.options.enabled:
            return 404, "clustering is disabled\n", "text/plain; charset=utf-8"
        if method != "POST" or path not in (MESSAGE_PATH, STREAM_PATH):
            return 404, "404 page not found\n", "text/plain; charset=utf-8"
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, "bad request\n", "text/plain; charset=utf-8"
        return self._stream(request) if path == STREAM_PATH else self._message(request, len(body))

    def serve(self, handler: TextHandler) -> bool:
        """Answers handler's request when it is the cluster's; False to leave it to the server."""
        path = urlsplit(handler.path).path
        if path != PEERS_PATH and not path.startswith("/api/v1/ckit/transport/"):
            return False
        length = int(handler.headers.get("Content-Length") or 0)
        answer = self.handle(handler.command, path, handler.rfile.read(length) if length else b"")
        if answer is None:
            return False
        handler._send(*answer)  # noqa: SLF001 - the stand-ins' shared text handler
        return True

    def _label_ok(self, request: Message, kind: str) -> bool:
        label = str(request.get("label", ""))
        if label != self.label:
            log("error", f"memberlist: discarding {kind} with unacceptable label \"{label}\": "
                f"from={request.get('from')}", subsystem="memberlist")
        return label == self.label

    def _stream(self, request: Message) -> Answer:
        self.metrics.count("streams_rx")
        if not self._label_ok(request, "stream") or self.stopped.is_set():
            return 200, "", CONTENT_TYPE  # memberlist closes the stream: the joiner reads EOF
        answer = self.local_state_wire(bool(request.get("join")))
        self.merge(request)
        return 200, json.dumps(answer), CONTENT_TYPE

    def _message(self, request: Message, size: int) -> Answer:
        self.metrics.count("rx_packets")
        self.metrics.count("rx_bytes", size)
        if not self._label_ok(request, "packet") or self.stopped.is_set():
            return 200, "", CONTENT_TYPE
        acks = []
        for message in request.get("messages") or []:  # type: ignore[union-attr]
            if message.get("type") == "ping":
                acks.append(message.get("name") == self.name)
            elif message.get("type") == "ping-req":
                acks.append(self._ping(str(message["addr"]), str(message["name"]), PROBE_TIMEOUT * self.scale))
            else:
                self.apply(message)
        return 200, json.dumps({"acks": [a for a in acks if a]}), CONTENT_TYPE

    # ---- what components and /metrics see ----------------------------------------------

    def sharder_peers(self) -> List[Dict[str, object]]:
        """Cluster.Peers(): the participant and terminating peers, sorted by name."""
        with self.lock:
            found = [dict(p) for p in self.peers.values() if p["state"] != "viewer"]
        return sorted(found, key=lambda p: str(p["name"]))

    def owned(self, targets: List[Labels]) -> List[Labels]:
        """DistributedTargets.LocalTargets: each distinct target (by key) this node owns."""
        with self.lock:
            ready = self.ready
            ring = Ring([str(p["name"]) for p in self.sharder_peers() if p["state"] == "participant"])
        if not ready:
            return []
        out: Dict[int, Labels] = {}
        for target in targets:
            key = target_key(target)
            owner = ring.owner(key)
            if key not in out and (owner is None or owner == self.name):
                out[key] = target
        return list(out.values())

    def scrape_targets(self, scrape: Block, blocks: Dict[str, Block]) -> Optional[List[Labels]]:
        """For telemetry: the targets a clustered prometheus.scrape scrapes here; None when the
        component does not use clustering (the stand-in's unclustered scrape then applies)."""
        if not _flag(_first(scrape, "clustering"), "enabled", False):
            return None
        return self.owned(cluster_targets.resolve(attr(scrape, "targets"), blocks))

    def loaded(self, blocks: Dict[str, Block]) -> None:
        """createExporter's WarningIfUsedInCluster, for every host-specific exporter loaded."""
        if self.ready and not self.sharder_peers():
            return
        for block in blocks.values():
            if block.name in HOST_EXPORTERS:
                log("warn", "detected clustering is configured while using a host-specific exporter - please "
                    "make sure your configuration is correct", component_path="/", component_id=block.id,
                    exporter=block.id)

    def render(self) -> str:
        """The cluster metrics on /metrics (none unless --cluster.enabled)."""
        if not self.options.enabled:
            return ""
        return "\n".join(self._metric_lines()) + "\n"

    def _metric_lines(self) -> Iterator[str]:
        cname = f'cluster_name={json.dumps(self.label)}'
        with self.lock:
            by_state = {s: sum(1 for p in self.peers.values() if p["state"] == s) for s in STATES}
            alive = sum(1 for m in self.members.values() if m.status in ("alive", "suspect"))
            events, broadcasts, transport = dict(self.metrics.events), dict(self.metrics.broadcasts), dict(
                self.metrics.transport)
            lamport, local, ready = self.lamport, self.local_state, self.ready
        yield from _family("cluster_node_info", "gauge", [(f'{cname},state="{local}"', 1)])
        yield from _family("cluster_node_peers", "gauge", [(f'{cname},state="{s}"', n) for s, n in by_state.items()])
        yield from _family("cluster_node_gossip_alive_peers", "gauge", [(cname, alive)])
        yield from _family("cluster_node_gossip_health_score", "gauge", [(cname, 0)])
        yield from _family("cluster_node_gossip_proto_version", "gauge", [(cname, 2)])
        yield from _family("cluster_node_gossip_received_events_total", "counter",
                           [(f'{cname},event="{e}"', n) for e, n in sorted(events.items()) if e])
        yield from _family("cluster_node_gossip_broadcasts_total", "counter",
                           [(f'{cname},event="{e}"', n) for e, n in sorted(broadcasts.items())])
        yield from _family("cluster_node_lamport_time", "gauge", [("", lamport)])
        yield from _family("cluster_node_update_observers", "gauge", [(cname, 1)])
        yield from _family("cluster_node_updating", "gauge", [(cname, 0)])
        for name, key in (("rx_packets_total", "rx_packets"), ("rx_bytes_total", "rx_bytes"),
                          ("tx_packets_total", "tx_packets"), ("tx_bytes_total", "tx_bytes"),
                          ("tx_packets_failed_total", "tx_failed"), ("stream_rx_packets_total", "streams_rx"),
                          ("stream_tx_packets_total", "streams_tx")):
            yield from _family(f"cluster_transport_{name}", "counter", [("", transport.get(key, 0))])
        yield from _family("cluster_transport_streams", "gauge", [("", 0)])
        yield from _family("cluster_ready_for_traffic", "gauge", [(cname, 1 if ready else 0)])
        yield from _family("cluster_minimum_size", "gauge", [(cname, self.options.wait_for_size)])


def attach(agent: "Agent", setup: Setup) -> ClusterNode:
    """The cluster service of an `alloy run`: answers on the agent's server, shards its scrapes."""
    node = ClusterNode(setup)
    agent.cluster = node
    agent.telemetry.scrape_targets = node.scrape_targets
    return node


def _family(name: str, kind: str, series: List[Tuple[str, float]]) -> Iterator[str]:
    yield f"# TYPE {name} {kind}"
    for labels, value in series:
        yield f"{name}{{{labels}}} {number_text(value)}" if labels else f"{name} {number_text(value)}"

