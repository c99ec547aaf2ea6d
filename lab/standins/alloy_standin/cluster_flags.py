"""TEST FIXTURE (stand-in for Grafana Alloy): the `--cluster.*` flags of `alloy run` and what
Alloy builds from them before it loads the configuration.

From grafana/alloy internal/alloycli/cmd_run.go (flags and defaults), cluster_builder.go
(node name defaults to the hostname; the advertise address is --cluster.advertise-address with
the listen port added when it has none, else, with clustering enabled, the first usable
non-loopback address of --cluster.advertise-interfaces (eth0,en0; "all" = every interface),
else 127.0.0.1:<listen port> with a warning), internal/service/cluster/discovery (join
addresses: host[:port], the listen port by default, IPs or A/AAAA lookups, unique; "at most
one of join peers and discover peers may be set"), internal/service/cluster/cluster.go (the
TLS files are read whenever --cluster.enable-tls is set, clustering enabled or not: the CA, and
this node's certificate and key, which it presents as a client; every peer's certificate is
verified for --cluster.tls-server-name, or without it for the host it dials) and ckit
node.go (the advertise host must resolve). Flag values are checked as pflag does (bool, int,
Go durations), with pflag's and Go's error texts. Nothing refuses a loopback listen address:
Alloy accepts it, then advertises an interface address nobody can reach it on (see cluster.py).

Not modelled: --cluster.discover-peers (go-discover cloud providers; refused as unsupported),
DNS SRV join addresses (dnssrv+, dnssrvnoa+ and bare SRV names never resolve here), Go's exact
resolver error texts ("lookup <host>: no such host" stands for all of them).
"""
from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import socket
import ssl
import struct
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

from .diag import go_quote

CLUSTER_FLAGS: Dict[str, Optional[str]] = {
    # flag: default value (None = boolean flag), as mountRunFlags declares them
    "cluster.enabled": None,
    "cluster.node-name": "",
    "cluster.advertise-address": "",
    "cluster.join-addresses": "",
    "cluster.discover-peers": "",
    "cluster.advertise-interfaces": "eth0,en0",
    "cluster.rejoin-interval": "1m0s",
    "cluster.max-join-peers": "5",
    "cluster.name": "",
    "cluster.enable-tls": None,
    "cluster.tls-ca-path": "",
    "cluster.tls-cert-path": "",
    "cluster.tls-key-path": "",
    "cluster.tls-server-name": "",
    "cluster.wait-for-size": "0",
    "cluster.wait-timeout": "0s",
}
_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")
SIOCGIFADDR = 0x8915
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class ClusterError(Exception):
    """A refusal of `alloy run`, printed as `Error: <message>`."""


def log(level: str, message: str, **fields: object) -> None:
    """A logfmt line on stderr, as Alloy's cluster service logs (service=cluster)."""
    ts = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    extra = "".join(f" {key}={json.dumps(str(value))}" for key, value in fields.items())
    print(f"ts={ts} level={level} msg={json.dumps(message)} service=cluster{extra}", file=sys.stderr, flush=True)


# ---- pflag values ----------------------------------------------------------------

def _invalid(flag: str, value: str, reason: str) -> ClusterError:
    return ClusterError(f"invalid argument {go_quote(value)} for \"--{flag}\" flag: {reason}")


def parse_bool(flag: str, value: str) -> bool:
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise _invalid(flag, value, f"strconv.ParseBool: parsing {go_quote(value)}: invalid syntax")


def parse_int(flag: str, value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        raise _invalid(flag, value, f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax") from None


def go_duration(text: str) -> float:
    """Seconds of a Go duration (time.ParseDuration); ValueError with Go's message."""
    rest = text[1:] if text[:1] in "+-" else text
    if rest == "0":
        return 0.0
    total, pos = 0.0, 0
    while rest and pos < len(rest):
        number = re.match(r"\d*(?:\.\d*)?", rest[pos:]).group()  # type: ignore[union-attr]
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        pos += len(number)
        unit = re.match(r"[^\d.]*", rest[pos:]).group()  # type: ignore[union-attr]
        if not unit:
            raise ValueError(f"time: missing unit in duration {go_quote(text)}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        pos += len(unit)
        total += float(number) * _UNITS[unit]
    if not rest:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    return -total if text.startswith("-") else total


def parse_duration(flag: str, value: str) -> float:
    try:
        return go_duration(value)
    except ValueError as exc:
        raise _invalid(flag, value, str(exc)) from None


# ---- options -----------------------------------------------------------------------

@dataclass
class ClusterOptions:
    """The cluster flags of one `alloy run`, typed (ClusterOptions in cluster_builder.go)."""

    enabled: bool = False
    node_name: str = ""
    advertise_address: str = ""
    join_addresses: List[str] = field(default_factory=list)
    discover_peers: str = ""
    advertise_interfaces: List[str] = field(default_factory=lambda: ["eth0", "en0"])
    rejoin_interval: float = 60.0
    max_join_peers: int = 5
    name: str = ""
    enable_tls: bool = False
    tls_ca_path: str = ""
    tls_cert_path: str = ""
    tls_key_path: str = ""
    tls_server_name: str = ""
    wait_for_size: int = 0
    wait_timeout: float = 0.0


def cluster_options(flags: Dict[str, str]) -> ClusterOptions:
    """The typed cluster options of parsed `alloy run` flags; ClusterError as pflag refuses."""
    text = {name: flags.get(name, "false" if default is None else default) for name, default in CLUSTER_FLAGS.items()}
    joins = text["cluster.join-addresses"]
    return ClusterOptions(
        enabled=parse_bool("cluster.enabled", text["cluster.enabled"]),
        node_name=text["cluster.node-name"],
        advertise_address=text["cluster.advertise-address"],
        join_addresses=joins.split(",") if joins else [],  # splitPeers: no trimming
        discover_peers=text["cluster.discover-peers"],
        advertise_interfaces=[i.strip() for i in text["cluster.advertise-interfaces"].split(",") if i.strip()],
        rejoin_interval=parse_duration("cluster.rejoin-interval", text["cluster.rejoin-interval"]),
        max_join_peers=parse_int("cluster.max-join-peers", text["cluster.max-join-peers"]),
        name=text["cluster.name"],
        enable_tls=parse_bool("cluster.enable-tls", text["cluster.enable-tls"]),
        tls_ca_path=text["cluster.tls-ca-path"],
        tls_cert_path=text["cluster.tls-cert-path"],
        tls_key_path=text["cluster.tls-key-path"],
        tls_server_name=text["cluster.tls-server-name"],
        wait_for_size=parse_int("cluster.wait-for-size", text["cluster.wait-for-size"]),
        wait_timeout=parse_duration("cluster.wait-timeout", text["cluster.wait-timeout"]),
    )


# ---- addresses -----------------------------------------------------------------------

def split_host_port(addr: str) -> Optional[Tuple[str, str]]:
    """(host, port) as net.SplitHostPort splits them; None where Go returns an error."""
    host, colon, port = addr.rpartition(":")
    if not colon:
        return None
    if host.startswith("["):
        return (host[1:-1], port) if host.endswith("]") and "]" not in host[:-1] else None
    return None if ":" in host or "[" in host or "]" in host else (host, port)


def join_host_port(host: str, port: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_port(listen: str) -> int:
    """findPort: the port of the listen address, 80 when there is none."""
    parts = split_host_port(listen)
    return int(parts[1]) if parts and parts[1].isdigit() else 80


def _ipv4_of(name: str) -> List[ipaddress.IPv4Address]:
    import fcntl  # noqa: PLC0415 - Linux only, like the lab's containers

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            raw = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return []
    return [ipaddress.IPv4Address(raw[20:24])]


def _ipv6_of(name: str) -> List[ipaddress.IPv6Address]:
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return []
    return [ipaddress.IPv6Address(bytes.fromhex(cols[0])) for cols in map(str.split, lines)
            if len(cols) == 6 and cols[5] == name]


def interface_addresses(name: str) -> List[IPAddress]:
    """The addresses of a network interface; OSError (Go's text) when there is none by that name."""
    if name not in {n for _, n in socket.if_nameindex()}:
        raise OSError("route ip+net: no such network interface")
    return [*_ipv4_of(name), *_ipv6_of(name)]


def _rank(addr: IPAddress) -> int:
    """advertise.filterBestIP's order: IPv4, IPv6, link-local IPv4, link-local IPv6."""
    return (2 if addr.is_link_local else 0) + (0 if addr.version == 4 else 1)


def first_address(interfaces: List[str], lookup: Callable[[str], List[IPAddress]]
                  = interface_addresses) -> IPAddress:
    """advertise.FirstAddress: the best non-loopback address of the interfaces (all when none)."""
    names = interfaces or [n for _, n in socket.if_nameindex()]
    errors: List[str] = []
    best: List[IPAddress] = []
    for name in names:
        try:
            found = [a for a in lookup(name) if not a.is_loopback]
        except OSError as exc:
            errors.append(f"interface {go_quote(name)}: {exc}")
            continue
        best.extend(found)
    if not best:
        listed = "[" + " ".join(names) + "]"
        detail = f": {len(errors)} error{'s' if len(errors) > 1 else ''} occurred:" + "".join(
            f"\n\t* {e}" for e in errors) + "\n\n" if errors else ""
        raise OSError(f"no useable address found for interfaces {listed}{detail}")
    return min(best, key=_rank)


def advertise_address(options: ClusterOptions, port: int,
                      lookup: Callable[[str], List[IPAddress]] = interface_addresses) -> str:
    """getAdvertiseAddress (cluster_builder.go)."""
    if options.advertise_address:
        given = options.advertise_address
        return given if split_host_port(given) else join_host_port(given, port)
    fallback = join_host_port("127.0.0.1", port)
    if not options.enabled:
        return fallback
    interfaces = [] if options.advertise_interfaces == ["all"] else options.advertise_interfaces
    try:
        return join_host_port(str(first_address(interfaces, lookup)), port)
    except OSError as exc:
        log("warn", "could not find advertise address using network interfaces falling back to localhost",
            interfaces="[" + " ".join(options.advertise_interfaces) + "]", err=exc)
        return fallback


def resolve_host(host: str) -> List[str]:
    """IP addresses of host (an IP itself, or its A/AAAA records); OSError when it has none."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _resolve_join(host: str) -> List[str]:
    if host.startswith(("dnssrv+", "dnssrvnoa+")):
        raise OSError(f"failed to resolve \"SRV\" records: lookup {host}: SRV not modelled by the stand-in")
    try:
        return resolve_host(host[len("dns+"):] if host.startswith("dns+") else host)
    except OSError:
        raise OSError(f"failed to resolve \"A/AAAA\" records: lookup {host}: no such host") from None


def join_peers(options: ClusterOptions, port: int) -> List[str]:
    """newWithJoinPeers + getRandomPeers: the unique resolved join addresses, at most
    --cluster.max-join-peers of them (a random choice) unless that is 0; OSError when none resolve."""
    found: List[str] = []
    errors: List[str] = []
    for addr in options.join_addresses:
        parts = split_host_port(addr)
        host, peer_port = parts if parts else (addr, str(port))
        try:
            found.extend(join_host_port(ip, peer_port) for ip in _resolve_join(host))
        except OSError as exc:
            errors.append(str(exc))
            log("warn", "failed to resolve provided join address", addr=addr)
    if not found:
        raise OSError("static peer discovery: failed to find any valid join addresses: " + "\n".join(errors))
    peers = list(dict.fromkeys(found))
    if options.max_join_peers == 0 or len(peers) < options.max_join_peers:
        return peers
    random.shuffle(peers)
    return peers[:options.max_join_peers]


# ---- what NewClusterService checks ----------------------------------------------------

def _open_error(path: str, exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"open {path}: {text[:1].lower()}{text[1:]}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as exc:
        raise ClusterError(_open_error(path, exc)) from None


def tls_context(options: ClusterOptions) -> ssl.SSLContext:
    """loadTLSConfigFromFile: the client TLS of the cluster transport; ClusterError with Alloy's text."""
    prefix = "failed to load TLS config from file: "
    try:
        ca = _read(options.tls_ca_path)
    except ClusterError as exc:
        raise ClusterError(f"{prefix}failed to read TLS CA file: {exc}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=ca)
    except (ssl.SSLError, ValueError):
        raise ClusterError(f"{prefix}failed to append CA from PEM with path {options.tls_ca_path}") from None
    try:
        _key_pair(context, options.tls_cert_path, options.tls_key_path)
    except ClusterError as exc:
        raise ClusterError(f"{prefix}failed to load X509 key pair: {exc}") from None
    # Go verifies every peer's certificate against the CA, for --cluster.tls-server-name or, when
    # that is empty, the host of the address it dials (http2.Transport sets ServerName to it).
    context.check_hostname = True
    return context


def _key_pair(context: ssl.SSLContext, cert: str, key: str) -> None:
    """tls.LoadX509KeyPair's checks, in its order."""
    if "-----BEGIN" not in _read(cert):
        raise ClusterError("tls: failed to find any PEM data in certificate input")
    if "-----BEGIN" not in _read(key):
        raise ClusterError("tls: failed to find any PEM data in key input")
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError:
        raise ClusterError("tls: private key does not match public key") from None


def check_advertise(address: str) -> None:
    """ckit.NewNode: the advertise host must resolve and its port be a port."""
    prefix = "failed to create cluster node: "
    parts = split_host_port(address)
    if parts is None:
        raise ClusterError(f"{prefix}failed to read advertise address: address {address}: missing port in address")
    host, port = parts
    try:
        resolve_host(host)
    except OSError:
        raise ClusterError(f"{prefix}failed to lookup advertise address {go_quote(host)}: "
                           f"lookup {host}: no such host") from None
    if not port.isdigit():
        try:
            socket.getservbyname(port, "tcp")
        except OSError:
            raise ClusterError(f"{prefix}failed to parse advertise port {go_quote(port)}: "
                               f"lookup tcp/{port}: unknown port") from None


@dataclass
class Setup:
    """What NewClusterService settled on: the node's name and advertise address, its client TLS."""

    options: ClusterOptions
    node_name: str
    advertise: str
    port: int
    tls: Optional[ssl.SSLContext]


def build(options: ClusterOptions, listen: str,
          lookup: Callable[[str], List[IPAddress]] = interface_addresses) -> Setup:
    """NewClusterService and cluster.New, in their order; ClusterError as `alloy run` refuses."""
    port = listen_port(listen)
    node_name = options.node_name or socket.gethostname()
    advertise = advertise_address(options, port, lookup)
    if options.join_addresses and options.discover_peers:
        raise ClusterError("at most one of join peers and discover peers may be set, got join peers "
                           f"[{' '.join(go_quote(a) for a in options.join_addresses)}] and discover peers "
                           f"{go_quote(options.discover_peers)}")
    if options.discover_peers:
        raise ClusterError("the stand-in does not support --cluster.discover-peers (go-discover providers)")
    tls = tls_context(options) if options.enable_tls else None
    check_advertise(advertise)
    return Setup(options, node_name, advertise, port, tls)


def time_scale() -> float:
    """LAB-ONLY: ALLOY_STANDIN_CLUSTER_TIME_SCALE multiplies memberlist's and ckit's fixed timings
    (probe interval and timeout, gossip and push/pull intervals, suspicion, leave and dead-node
    times) so tests need not wait real Alloy's 20-30 s; real Alloy has no such setting."""
    try:
        return max(float(os.environ.get("ALLOY_STANDIN_CLUSTER_TIME_SCALE", "1")), 0.001)
    except ValueError:
        return 1.0
