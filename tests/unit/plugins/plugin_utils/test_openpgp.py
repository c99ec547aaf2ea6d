"""Key fingerprints computed without gpg agree with gpg's own."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.fleet.alloy.plugins.plugin_utils.openpgp import OpenPGPError, dearmor, fingerprints


def _gpg(home: Path, *args: str) -> str:
    env = dict(os.environ, GNUPGHOME=str(home))
    return subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                          env=env, check=True, capture_output=True, text=True).stdout


def _colons(home: Path, kind: str) -> list[str]:
    out, fprs, current = _gpg(home, "--with-colons", "--list-keys"), [], ""
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub"):
            current = fields[0]
        elif fields[0] == "fpr" and current == kind:
            fprs.append(fields[9])
    return fprs


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    for uid, algo in (("one <one@example.invalid>", "rsa2048"), ("two <two@example.invalid>", "ed25519")):
        _gpg(home, "--quick-gen-key", uid, algo, "sign", "never")
    primary = _colons(home, "pub")[0]
    _gpg(home, "--quick-add-key", primary, "cv25519", "encr", "never")
    return home


def test_armored_block_of_two_keys_gives_both_primary_fingerprints(keyring: Path) -> None:
    armored = _gpg(keyring, "--armor", "--export")
    assert fingerprints(armored) == _colons(keyring, "pub")


def test_subkeys_on_request(keyring: Path) -> None:
    armored = _gpg(keyring, "--armor", "--export")
    found = fingerprints(armored, subkeys=True)
    assert len(found) == 3
    assert set(found) == set(_colons(keyring, "pub")) | set(_colons(keyring, "sub"))


def test_binary_key_and_concatenated_armor(keyring: Path) -> None:
    first, second = _colons(keyring, "pub")
    binary = subprocess.run(["gpg", "--batch", "--export", first], env=dict(os.environ, GNUPGHOME=str(keyring)),
                            check=True, capture_output=True).stdout
    assert fingerprints(binary) == [first]
    two_blocks = _gpg(keyring, "--armor", "--export", second) + _gpg(keyring, "--armor", "--export", first)
    assert fingerprints(two_blocks) == [second, first]


@pytest.mark.parametrize("text", ["", "hello", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n-----END PGP PUBLIC KEY BLOCK-----\n"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(OpenPGPError):
        fingerprints(text)


def test_truncated_key_is_refused(keyring: Path) -> None:
    data = dearmor(_gpg(keyring, "--armor", "--export"))
    with pytest.raises(OpenPGPError):
        fingerprints(data[:40])
