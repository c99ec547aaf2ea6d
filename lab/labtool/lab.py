"""The lab network: the mirror, the backends and systemd lab hosts, as Docker containers.

Names: network `fleet-alloy-lab`; service containers answer on it as `mirror` (apt and
rpm repositories of the stand-in alloy, its packages laid out as Grafana's GitHub releases, and
the lab's throwaway CA certificates, port 80),
`loki` (the multi-tenant Loki stand-in, 3100: X-Scope-OrgID required), `prometheus` (real
Prometheus, 9090, open) and `gateway` (the TLS gateway stand-in in front of both, with
credentials: Loki shaped on 3100, Prometheus/Mimir shaped on 9090, Grafana Cloud shaped on
443), `otlp` (the OTLP sink stand-in, 4318, TLS, basic auth and a tenant header) and `fleet`
(the Fleet Management stand-in, 443, TLS, basic auth with an instance ID; lab only, without
credentials: /lab/collectors, /lab/down). Lab hosts are systemd containers named `fleet-alloy-lab-<platform>` (for example
fleet-alloy-lab-el9-emulated).

up_services exports for the inventories and tests: ALLOY_LAB_KEY_FINGERPRINT,
ALLOY_LAB_OTHER_KEY_FINGERPRINT, ALLOY_LAB_CA_FILE and ALLOY_LAB_OTHER_CA_FILE (the lab CA
and an unrelated one, PEM files in the cache), ALLOY_LAB_CREDENTIALS (the gateway's,
the OTLP sink's and the Fleet Management stand-in's throwaway credentials, JSON) and ALLOY_LAB_RELEASES_URL (the mirror's releases/, as the
controller reaches it: packages taken from the controller).
"""
from __future__ import annotations

import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List

from . import images, platforms
from .common import CACHE, LAB, PREFIX, REPO, digest, log, output, run, succeeds

NETWORK = PREFIX
# Capabilities that run systemd here (--privileged is refused by this sandbox): the same
# settings as the Molecule scenarios' (platforms.py).
SYSTEMD_RUN_ARGS = platforms.SYSTEMD.docker_args()


@dataclass(frozen=True)
class Service:
    alias: str
    image: str
    command: tuple[str, ...]
    port: int
    ready_path: str
    tls: bool = False  # HTTPS with a certificate from the lab CA


GATEWAY_COMMAND = (
    "python3", "-m", "gateway_standin", "--listen-host", "0.0.0.0",
    "--loki-port", "3100", "--prometheus-port", "9090", "--cloud-port", "443",
    "--cert", "/etc/lab-gateway/gateway.pem", "--key", "/etc/lab-gateway/gateway.key",
    "--loki-upstream", "http://loki:3100", "--prometheus-upstream", "http://prometheus:9090",
)
OTLP_COMMAND = (
    "python3", "-m", "otlp_sink", "--listen", "0.0.0.0:4318",
    "--credentials", "/build/standins/gateway_standin/lab_credentials.json", "--tenant-header", "X-Scope-OrgID",
    "--cert", "/etc/lab-gateway/gateway.pem", "--key", "/etc/lab-gateway/gateway.key",
)
# Grafana Fleet Management's collector API (a stand-in), over TLS on 443 as Grafana Cloud serves it
# (https://fleet-management-prod-<n>.grafana.net), basic auth with an instance ID; the pipelines
# shipped in the services image (one per role: molecule/alloy_fleet).
FLEET_COMMAND = (
    "python3", "-m", "fleet_standin", "--listen", "0.0.0.0:443",
    "--credentials", "/build/standins/gateway_standin/lab_credentials.json",
    "--pipelines", "/build/standins/fleet_standin/lab_pipelines",
    "--cert", "/etc/lab-gateway/gateway.pem", "--key", "/etc/lab-gateway/gateway.key",
)
SERVICES = (
    Service("mirror", "services", (), 80, "/apt/dists/stable/InRelease"),
    Service("loki", "services", ("python3", "-m", "loki_standin", "--listen", "0.0.0.0:3100"), 3100, "/ready"),
    Service("prometheus", "prometheus", (), 9090, "/-/ready"),
    # /lab/health: answered by the gateway itself, without credentials, over TLS.
    Service("gateway", "services", GATEWAY_COMMAND, 3100, "/lab/health", tls=True),
    # An OTLP backend behind basic auth and a tenant header, over TLS (the lab CA's certificate
    # names otlp too).
    Service("otlp", "services", OTLP_COMMAND, 4318, "/lab/health", tls=True),
    # Fleet Management (remotecfg's server): /lab/health needs no credentials; the certificate
    # names fleet too.
    Service("fleet", "services", FLEET_COMMAND, 443, "/lab/health", tls=True),
)
# The gateway's throwaway credentials (one file for the gateway, the inventory and tests).
CREDENTIALS = LAB / "standins" / "gateway_standin" / "lab_credentials.json"
# Environment variable => file name of a CA certificate the mirror serves under /lab/.
CA_FILES = {"ALLOY_LAB_CA_FILE": "ca.pem", "ALLOY_LAB_OTHER_CA_FILE": "other-ca.pem"}


def container_name(what: str) -> str:
    return f"{PREFIX}-{what}"


def ensure_network() -> None:
    if not succeeds(["docker", "network", "inspect", NETWORK]):
        run(["docker", "network", "create", NETWORK], capture=True)


def _running_with(name: str, image_tag: str, labels: Dict[str, str]) -> bool:
    result = run(["docker", "inspect", name], check=False, capture=True)
    if result.returncode != 0:
        return False
    info = json.loads(result.stdout)[0]
    have = info["Config"].get("Labels") or {}
    return (bool(info["State"]["Running"]) and info["Config"]["Image"] == image_tag
            and all(have.get(key) == value for key, value in labels.items()))


def _start(name: str, alias: str, image_tag: str, extra: Iterable[str], command: Iterable[str],
           labels: Dict[str, str] | None = None) -> None:
    labels = dict(labels or {}, **{PREFIX: "1"})
    if _running_with(name, image_tag, labels):
        return
    run(["docker", "rm", "-f", "-v", name], check=False, capture=True)
    label_args = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    run(["docker", "run", "-d", "--name", name, "--hostname", alias, "--network", NETWORK,
         "--network-alias", alias, *label_args, *extra, image_tag, *command], capture=True)


def ip_of(name: str) -> str:
    return output(["docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', name])


def service(alias: str) -> Service:
    return next(s for s in SERVICES if s.alias == alias)


def url_of(alias: str) -> str:
    """An URL the controller can use to reach a lab service (its address on the bridge).

    A TLS service's certificate names it (DNS:gateway), not this address: check it with
    lab_ca_context(), which verifies the chain but not the name."""
    svc = service(alias)
    return f"{'https' if svc.tls else 'http'}://{ip_of(container_name(alias))}:{svc.port}"


def _wait_http(url: str, timeout: float = 60, context: ssl.SSLContext | None = None) -> None:
    """Until url answers 200 (over TLS with context for an https URL)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as err:
            last = str(err)
        time.sleep(0.5)
    raise SystemExit(f"lab service at {url} did not answer within {timeout:.0f}s: {last}")


def up_services() -> Dict[str, str]:
    images.ensure(list(images.LAB_IMAGES))
    ensure_network()
    for svc in SERVICES:
        _start(container_name(svc.alias), svc.alias, images.tag(svc.image), (), svc.command)
    urls = {svc.alias: url_of(svc.alias) for svc in SERVICES}
    _wait_http(urls["mirror"] + service("mirror").ready_path)
    export_key_env(urls["mirror"])
    export_ca_env(urls["mirror"])
    export_credentials_env()
    os.environ["ALLOY_LAB_RELEASES_URL"] = urls["mirror"] + "/releases"
    context = lab_ca_context()
    for svc in SERVICES:
        _wait_http(urls[svc.alias] + svc.ready_path, context=context if svc.tls else None)
    log("lab services up: " + ", ".join(f"{k}={v}" for k, v in urls.items()))
    return urls


def export_key_env(mirror_url: str) -> None:
    """ALLOY_LAB_KEY_FINGERPRINT (signs the lab repositories) and ALLOY_LAB_OTHER_KEY_FINGERPRINT."""
    with urllib.request.urlopen(f"{mirror_url}/keys/fingerprints.json", timeout=5) as resp:
        fingerprints = json.loads(resp.read())
    os.environ["ALLOY_LAB_KEY_FINGERPRINT"] = fingerprints["lab"]
    os.environ["ALLOY_LAB_OTHER_KEY_FINGERPRINT"] = fingerprints["other"]


def export_ca_env(mirror_url: str) -> Dict[str, str]:
    """ALLOY_LAB_CA_FILE (signed the gateway's certificate) and ALLOY_LAB_OTHER_CA_FILE
    (signs nothing): the mirror's /lab/ca.pem and /lab/other-ca.pem, saved in the cache
    (they change with every build of the services image)."""
    folder = CACHE / "lab-ca"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for variable, name in CA_FILES.items():
        with urllib.request.urlopen(f"{mirror_url}/lab/{name}", timeout=5) as resp:
            pem = resp.read()
        if b"BEGIN CERTIFICATE" not in pem:
            raise SystemExit(f"{mirror_url}/lab/{name} is not a PEM certificate")
        paths[variable] = str(_replace_file(folder / name, pem).resolve())
        os.environ[variable] = paths[variable]
    return paths


def _replace_file(target: Path, data: bytes) -> Path:
    """Write data to target atomically (another labtool process may read it meanwhile)."""
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, target)
    return target


def export_credentials_env() -> str:
    """ALLOY_LAB_CREDENTIALS: the gateway's throwaway lab credentials (JSON)."""
    os.environ["ALLOY_LAB_CREDENTIALS"] = str(CREDENTIALS.resolve())
    return os.environ["ALLOY_LAB_CREDENTIALS"]


def lab_ca_context() -> ssl.SSLContext:
    """Trusts the lab CA (export_ca_env first). The controller reaches the gateway by its
    address on the bridge while its certificate names `gateway`: the chain is verified,
    the name is not."""
    context = ssl.create_default_context(cafile=os.environ["ALLOY_LAB_CA_FILE"])
    context.check_hostname = False
    return context


# Versions of the stand-in Alloy image, tagged as the role expects: <repo>:v<version>.
ALLOY_IMAGE_VERSIONS = ("1.9.2", "1.10.0")
ALLOY_IMAGE_REPO = f"{PREFIX}/alloy"


def export_alloy_images() -> str:
    """Save the stand-in Alloy images as fleet-alloy-lab/alloy:v<version> in one tar.

    A host that runs its own Docker engine (alloy_docker) loads it: there is no registry.
    The path goes to ALLOY_LAB_ALLOY_IMAGES; the tar is cached under the images' tags.
    """
    sources = {v: images.tag(f"alloy-standin-{v}") for v in ALLOY_IMAGE_VERSIONS}
    images.ensure([f"alloy-standin-{v}" for v in ALLOY_IMAGE_VERSIONS])
    targets = []
    for version, source in sources.items():
        target = f"{ALLOY_IMAGE_REPO}:v{version}"
        run(["docker", "tag", source, target], capture=True)
        targets.append(target)
    tar = CACHE / f"alloy-images-{digest(list(sources.values()))}.tar"
    if not tar.is_file():
        partial = tar.with_suffix(".partial")
        run(["docker", "save", "-o", str(partial), *targets], capture=True)
        partial.rename(tar)
        log(f"saved {', '.join(targets)} to {tar}")
    os.environ["ALLOY_LAB_ALLOY_IMAGES"] = str(tar)
    return str(tar)


def start_host(platform: str, name: str | None = None) -> str:
    """A systemd lab host of the given platform on the lab network; returns its name."""
    name = name or container_name(platform)
    # A host that installed packages from an older mirror (another stand-in build with the
    # same version number) is replaced, so the main job always tests the current stand-in.
    _start(name, name, images.tag(platform), SYSTEMD_RUN_ARGS, (),
           labels={f"{PREFIX}.mirror": images.tag("services")})
    wait_systemd(name)
    return name


# A lab host with its own Docker engine (alloy_docker; platforms.DOCKER_ENGINE).
DOCKER_HOST_RUN_ARGS = platforms.DOCKER_ENGINE.docker_args()


def start_docker_host(platform: str = "debian13-docker", name: str | None = None) -> str:
    """A lab host running Docker, with the stand-in Alloy images loaded and, in the local
    fact ansible_local.lab, the lab backends' addresses (`backends`: alias => address; the
    containers of its engine cannot use the lab network's DNS) and its own address on the
    lab network (`address`)."""
    name = name or container_name(platform)
    tar = export_alloy_images()
    _start(name, name, images.tag(platform), (*DOCKER_HOST_RUN_ARGS, "-v", f"{tar}:/srv/lab/alloy-images.tar:ro"),
           (), labels={f"{PREFIX}.mirror": images.tag("services"), f"{PREFIX}.images": os.path.basename(tar)})
    wait_systemd(name)
    _wait_docker(name)
    run(["docker", "exec", name, "docker", "load", "--input", "/srv/lab/alloy-images.tar"], capture=True)
    write_lab_fact(name)
    return name


def write_lab_fact(name: str) -> Dict[str, object]:
    """/etc/ansible/facts.d/lab.fact on a lab host: the backends' and its own address."""
    fact: Dict[str, object] = {
        "backends": {alias: ip_of(container_name(alias)) for alias in ("loki", "prometheus", "gateway")},
        "address": ip_of(name),
    }
    run(["docker", "exec", "-i", name, "sh", "-c",
         "mkdir -p /etc/ansible/facts.d && cat > /etc/ansible/facts.d/lab.fact"],
        input_text=json.dumps(fact), capture=True)
    return fact


def _wait_docker(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if succeeds(["docker", "exec", name, "docker", "info"]):
            return
        time.sleep(0.5)
    raise SystemExit(f"the Docker engine in {name} did not come up within {timeout:.0f}s")


def wait_systemd(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = run(["docker", "exec", name, "systemctl", "is-system-running"], check=False,
                    capture=True).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise SystemExit(f"systemd in {name} did not come up within {timeout:.0f}s (state {state!r})")


def write_inventory(folder: Path, groups: Dict[str, Dict[str, Dict[str, object]]]) -> Path:
    """An inventory of lab hosts in folder: groups => host => host vars, the docker
    connection, and the lab's group_vars (backends, mirror) beside it."""
    (folder / "group_vars").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "inventories" / "lab" / "group_vars" / "all.yml", folder / "group_vars" / "all.yml")
    path = folder / "hosts.json"
    path.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"},
        "children": {group: {"hosts": hosts} for group, hosts in groups.items()}}}))
    return path


def lab_containers() -> List[str]:
    found = output(["docker", "ps", "-a", "--filter", f"label={PREFIX}=1", "--format", "{{.Names}}"])
    return [n for n in found.splitlines() if n]


def down() -> None:
    names = lab_containers()
    if names:
        run(["docker", "rm", "-f", "-v", *names], capture=True)
    run(["docker", "network", "rm", NETWORK], check=False, capture=True)
    log(f"removed {len(names)} lab containers and the network")
