"""TEST FIXTURE (gateway stand-in): the lab's THROWAWAY certificate authorities.

Made with the openssl CLI when the lab's `services` image is built, and by the unit tests:
- `ca.pem`: the lab CA; it signs the gateway's certificate (SAN DNS:gateway, serverAuth);
- `other-ca.pem`: an unrelated CA that signs nothing, for tests of a CA mismatch.
The CAs' private keys are thrown away; only the gateway's key is kept (in --private). The tests
also issue Alloy cluster members' certificates with make_ca and issue (IP addresses, and client
use: a member's certificate is its server's and its client's).

`python3 -m gateway_standin.lab_ca --public DIR --private DIR [--dns NAME ...]`
"""
from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

GATEWAY_CERT = Path("/etc/lab-gateway/gateway.pem")
GATEWAY_KEY = Path("/etc/lab-gateway/gateway.key")
CA_NAMES = {
    "ca": "fleet.alloy lab CA (TEST ONLY, throwaway)",
    "other-ca": "fleet.alloy other CA, signs nothing (TEST ONLY)",
}
CA_CONFIG = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
O = fleet.alloy lab
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""
LEAF_EXTENSIONS = """basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = {usage}
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(folder: Path, name: str, common_name: str, days: int = 3650) -> Pair:
    config = folder / f"{name}.cnf"
    config.write_text(CA_CONFIG.format(cn=common_name))
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    openssl("req", "-x509", "-config", str(config), "-extensions", "v3_ca", *EC_KEY,
            "-keyout", str(pair.key), "-out", str(pair.cert), "-days", str(days), "-sha256")
    return pair


def issue(ca: Pair, folder: Path, name: str, dns_names: Sequence[str], days: int = 825, ips: Sequence[str] = (),
          client: bool = False) -> Pair:
    """A server certificate for dns_names and ips (the first name is its CN), signed by ca; with
    client, for client use too."""
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    csr, extensions = folder / f"{name}.csr", folder / f"{name}.ext"
    san = ", ".join([f"DNS:{n}" for n in dns_names] + [f"IP:{ip}" for ip in ips])
    extensions.write_text(LEAF_EXTENSIONS.format(san=san, usage="serverAuth, clientAuth" if client else "serverAuth"))
    openssl("req", "-new", *EC_KEY, "-keyout", str(pair.key), "-out", str(csr),
            "-subj", f"/O=fleet.alloy lab/CN={[*dns_names, *ips][0]}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(days), "-sha256",
            "-extfile", str(extensions), "-out", str(pair.cert))
    csr.unlink()
    extensions.unlink()
    return pair


def build(public: Path, private: Path, dns_names: Sequence[str] = ("gateway",)) -> Pair:
    """Writes public/ca.pem, public/other-ca.pem, private/gateway.pem and gateway.key."""
    public.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory() as tmp:
        cas = {name: make_ca(Path(tmp), name, cn) for name, cn in CA_NAMES.items()}
        for name, pair in cas.items():
            shutil.copy(pair.cert, public / f"{name}.pem")
        issued = issue(cas["ca"], Path(tmp), "gateway", dns_names)
        gateway = Pair(private / "gateway.pem", private / "gateway.key")
        shutil.copy(issued.cert, gateway.cert)
        shutil.copy(issued.key, gateway.key)
    gateway.key.chmod(0o600)
    return gateway


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway_standin.lab_ca", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--public", type=Path, required=True, help="folder for ca.pem and other-ca.pem")
    parser.add_argument("--private", type=Path, default=GATEWAY_CERT.parent,
                        help="folder for the gateway's gateway.pem and gateway.key")
    parser.add_argument("--dns", action="append", help="a DNS name of the gateway (default: gateway)")
    args = parser.parse_args(argv)
    try:
        pair = build(args.public, args.private, args.dns or ["gateway"])
    except subprocess.CalledProcessError as err:
        print(f"openssl failed: {err.stderr.decode(errors='replace')}", file=sys.stderr)
        return 1
    print(f"lab CA (TEST ONLY) in {args.public}, gateway certificate {pair.cert}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
