"""The small filters: fleet.alloy.alloy_local_url (where a process on the host reaches
Alloy), fleet.alloy.pgp_fingerprints and fleet.alloy.to_alloy / alloy_expr as Ansible
calls them (errors as AnsibleFilterError naming the filter). Written against the
survivors of ./dev mutate (docs/testing.md)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.filter import alloy_local_url as local_url
from ansible_collections.fleet.alloy.plugins.filter import openpgp as pgp
from ansible_collections.fleet.alloy.plugins.filter import to_alloy as to


@pytest.mark.parametrize("address,port,url", [
    ("0.0.0.0:12345", None, "http://127.0.0.1:12345"),
    ("[::]:12345", None, "http://[::1]:12345"),
    (":12345", None, "http://127.0.0.1:12345"),
    (" 127.0.0.1:80 ", None, "http://127.0.0.1:80"),
    ("10.0.0.5:9", None, "http://10.0.0.5:9"),
    ("[fe80::1]:12345", None, "http://[fe80::1]:12345"),
    ("alloy.lab:12345", None, "http://alloy.lab:12345"),
    ("10.0.0.5", 12345, "http://10.0.0.5:12345"),
    ("0.0.0.0", "12345", "http://127.0.0.1:12345"),
    ("::", 12345, "http://[::1]:12345"),
    ("fe80::2", 80, "http://[fe80::2]:80"),
    ("", 80, "http://127.0.0.1:80"),
])
def test_alloy_local_url(address: str, port: object, url: str) -> None:
    assert local_url.alloy_local_url(address, port) == url


@pytest.mark.parametrize("address", ["alloy.lab", "host:", "host:http", "[::1]"])
def test_alloy_local_url_needs_a_port(address: str) -> None:
    with pytest.raises(AnsibleFilterError, match="alloy_local_url: expected host:port or \\[ipv6\\]:port, got"):
        local_url.alloy_local_url(address)


def test_alloy_local_url_is_the_filter_of_its_name() -> None:
    assert local_url.FilterModule().filters() == {"alloy_local_url": local_url.alloy_local_url}


def test_pgp_fingerprints_reports_bad_key_material_as_a_filter_error() -> None:
    with pytest.raises(AnsibleFilterError, match="^fleet.alloy.pgp_fingerprints: no '-----BEGIN PGP PUBLIC KEY"):
        pgp.pgp_fingerprints("not a key")
    assert pgp.FilterModule().filters() == {"pgp_fingerprints": pgp.pgp_fingerprints, "pgp_pinned": pgp.pgp_pinned}


def test_pgp_pinned_passes_pinned_key_material_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgp, "fingerprints", lambda key, subkeys=False: ["AAAA", "BBBB"])
    assert pgp.pgp_pinned("key text", ["BBBB", "AAAA", "CCCC"], source="http://mirror/k") == "key text"


def test_pgp_pinned_names_every_key_that_is_not_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgp, "fingerprints", lambda key, subkeys=False: ["AAAA", "DDDD", "EEEE"])
    with pytest.raises(AnsibleFilterError) as err:
        pgp.pgp_pinned("key text", ["AAAA", "BBBB"], source="http://mirror/k")
    assert str(err.value) == (
        "the repository key from http://mirror/k holds DDDD, EEEE, which alloy_install_key_fingerprints does not "
        "accept (expected only AAAA, BBBB; found AAAA, DDDD, EEEE). No repository file was written. To rotate the "
        "key, change the key source and alloy_install_key_fingerprints together.")


def test_pgp_pinned_reports_material_that_is_no_key_with_its_source() -> None:
    with pytest.raises(AnsibleFilterError, match="^the key from alloy_install_key_content: no '-----BEGIN PGP"):
        pgp.pgp_pinned("not a key", ["AAAA"], source="alloy_install_key_content")


def test_pgp_fingerprints_passes_the_subkeys_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []
    monkeypatch.setattr(pgp, "fingerprints", lambda key, subkeys=False: asked.append((key, subkeys)) or ["F"])
    assert pgp.pgp_fingerprints("k") == ["F"] and pgp.pgp_fingerprints("k", subkeys=True) == ["F"]
    assert asked == [("k", False), ("k", True)]


def test_to_alloy_errors_name_the_filter() -> None:
    with pytest.raises(AnsibleFilterError, match="^to_alloy: no Alloy literal for a value of type set"):
        to.to_alloy({1})
    with pytest.raises(AnsibleFilterError, match="^alloy_expr: an Alloy expression must be a non-empty string"):
        to.alloy_expr("  ")
    assert to.alloy_expr(42) == {"__alloy_expr__": "42"}
    assert (to.to_alloy.__name__, to.alloy_expr.__name__) == ("to_alloy", "alloy_expr")
    assert to.FilterModule().filters() == {"to_alloy": to.to_alloy, "alloy_expr": to.alloy_expr}
