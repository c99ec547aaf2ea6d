"""Loki and Prometheus endpoints as the alloy_config role and alloy_verify take them
(module_utils/alloy_endpoints.py and the fleet.alloy.alloy_endpoints filter): every rule
that refuses an endpoint, naming the variable, the secrets split off for the env file, and
the shape handed to the endpoint macro. Written against the survivors of ./dev mutate
(docs/testing.md)."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.fleet.alloy.plugins.filter.alloy_endpoints import FilterModule, alloy_endpoints
from ansible_collections.fleet.alloy.plugins.module_utils import alloy_endpoints as ae

URL = "https://loki.example.com/loki/api/v1/push"


def problems(endpoint: Any, kind: str = "loki") -> List[str]:
    return ae.endpoint_problems([endpoint], kind, "eps")


def test_secret_env_names() -> None:
    assert ae.secret_env_name("loki", 3, "bearer_token") == "FLEET_ALLOY_LOKI_3_BEARER_TOKEN"
    assert ae.secret_env_name("prometheus", 0, "password") == "FLEET_ALLOY_PROMETHEUS_0_PASSWORD"


def test_a_well_formed_endpoint_has_no_problem() -> None:
    assert problems({"url": URL, "tenant_id": "t", "name": "primary", "headers": {"X-Source": "fleet"},
                     "basic_auth": {"username": "u", "password": "p"}, "batch_size": "1MiB",
                     "tls": {"ca_file": "/ca.pem"}, "verify": {"backend": "loki"}}) == []
    assert problems({"url": "http://p:9090/api/v1/write", "queue_config": {"capacity": 10}, "tenant_id": "",
                     "batch_size": None, "bearer_token_file": "/t"}, "prometheus") == []


def test_endpoints_must_be_a_list_of_mappings() -> None:
    assert ae.endpoint_problems({"url": URL}, "loki", "eps") == ["eps must be a list of endpoints, got dict"]
    assert ae.endpoint_problems("x", "loki", "eps") == ["eps must be a list of endpoints, got str"]
    assert ae.endpoint_problems([URL, {"url": URL}], "loki", "eps") == ["eps[0] must be a mapping with at least url"]
    assert ae.endpoint_problems([], "loki", "eps") == []
    assert ae.endpoint_problems([{"url": URL}, "x", {"url": 5}, {"url": 5}], "prometheus", "eps") == [
        "eps[1] must be a mapping with at least url", "eps[2].url must be an http:// or https:// URL, got 5",
        "eps[3].url must be an http:// or https:// URL, got 5"]


@pytest.mark.parametrize("url", [None, 7, "", "ftp://l/push", "http://", "https:// l/push", "http://l/push\n",
                                 "http:///path", "loki:3100/push"])
def test_the_url_must_be_http_or_https_with_a_host(url: Any) -> None:
    assert problems({"url": url}) == ["eps[0].url must be an http:// or https:// URL, got %r" % (url,)]


@pytest.mark.parametrize("url", ["http://l", "https://l:3100/loki/api/v1/push?x=1"])
def test_urls_that_are_fine(url: str) -> None:
    assert problems({"url": url}) == []


def test_one_authentication_method_only() -> None:
    found = problems({"url": URL, "basic_auth": {"username": "u", "password": "p"}, "bearer_token": "t",
                      "bearer_token_file": "/f"})
    assert found == ["eps[0] sets basic_auth and bearer_token and bearer_token_file: use only one authentication "
                     "method"]
    assert problems({"url": URL, "bearer_token": "t", "bearer_token_file": ""}) == []
    assert problems({"url": URL, "bearer_token": "t", "basic_auth": {}}) == []


@pytest.mark.parametrize("field,endpoint", [
    ("bearer_token", {"bearer_token": "tok\n"}),
    ("basic_auth.password", {"basic_auth": {"username": "u", "password": "pw\r"}}),
    ("bearer_token", {"bearer_token": "a\x00b"}),
    ("bearer_token", {"bearer_token": "del\x7f"}),
])
def test_secrets_with_a_control_character_are_refused_without_repeating_them(field: str,
                                                                             endpoint: Dict[str, Any]) -> None:
    found = problems(dict(endpoint, url=URL))
    assert found == ["eps[0].%s holds a line break or control character (a trailing newline from a vault block "
                     "scalar?): remove it" % field]


def test_only_text_secrets_are_searched_for_control_characters() -> None:
    assert problems({"url": URL, "bearer_token": 5}) == []   # a vault object on ansible-core 2.16 is no str
    assert problems({"url": URL, "bearer_token": True}) == ["eps[0].bearer_token must be a string"]


@pytest.mark.parametrize("url", ["http://user:pw@l/p", "https://token@l/p", "https://:pw@l:3100/p"])
def test_credentials_in_a_url_are_refused_without_quoting_them(url: str) -> None:
    found = problems({"url": url})
    assert found == ["eps[0].url carries credentials (user:password@): put them in basic_auth or bearer_token, "
                     "which reach Alloy through the env file only"]
    assert "pw" not in found[0] and "token@" not in found[0]


@pytest.mark.parametrize("header", ["Authorization", "proxy-authorization", "X-API-Key", "Cookie", "Api-Key",
                                    "X-Auth-Token", "Private-Token"])
def test_credential_headers_are_refused(header: str) -> None:
    assert problems({"url": URL, "headers": {header: "Bearer abc"}}) == [
        "eps[0].headers.%s carries credentials, which would be written to the configuration file: use basic_auth "
        "or bearer_token (written to the env file only)" % header]


@pytest.mark.parametrize("value", [True, 5, ["a"], "a\nb"])
def test_header_values_are_one_line_strings(value: object) -> None:
    assert problems({"url": URL, "headers": {"X-Scope-OrgID": value}}) == [
        "eps[0].headers.X-Scope-OrgID must be a one-line string"]


def test_a_basic_auth_that_is_not_a_mapping_is_named() -> None:
    assert any(p.startswith("eps[0].basic_auth") for p in problems({"url": URL, "basic_auth": "u:p"}))


def test_a_tls_that_is_not_a_mapping_is_named() -> None:
    assert any(p.startswith("eps[0].tls") for p in problems({"url": URL, "tls": "/ca.pem"}))


def test_basic_auth_needs_exactly_one_password_source_and_no_username() -> None:
    assert problems({"url": URL, "basic_auth": {"password": "p"}}) == []   # Alloy's username is optional
    assert problems({"url": URL, "basic_auth": {"username": "u"}}) == [
        "eps[0].basic_auth needs exactly one of password and password_file"]
    assert problems({"url": URL, "basic_auth": {"username": "u", "password": "p", "password_file": "/f"}}) == [
        "eps[0].basic_auth needs exactly one of password and password_file"]
    assert problems({"url": URL, "basic_auth": {"username": "u", "password_file": "/f"}}) == []


def test_the_shared_auth_rules_word_what_follows_the_path() -> None:
    # The rule book's scrape jobs use these two as they are (test_rulebook: the same verdict).
    assert ae.auth_problem({"bearer_token": "t", "basic_auth": {"password": "p"}}) == (
        "sets basic_auth and bearer_token: use only one authentication method")
    assert ae.auth_problem({"bearer_token": "t", "bearer_token_file": [], "basic_auth": {}}) is None
    assert ae.auth_problem({}) is None
    assert ae.basic_auth_problem({"username": "u"}) == "needs exactly one of password and password_file"
    assert ae.basic_auth_problem({}) == "needs exactly one of password and password_file"
    assert ae.basic_auth_problem({"password": "p", "password_file": "/f"}) == (
        "needs exactly one of password and password_file")
    assert ae.basic_auth_problem({"password": "p"}) is None
    assert ae.basic_auth_problem({"password": "", "password_file": "/f"}) is None
    assert ae.BASIC_AUTH_KEYS == ("username", "password", "password_file")


def test_header_names_must_be_http_tokens() -> None:
    assert problems({"url": URL, "headers": {"X-Ok_1.~!#$%&'*+^`|": "v", "Bad Name": "v", "Colon:": "v",
                                             "New\n": "v"}}) == [
        "eps[0].headers: 'Bad Name' is not a valid HTTP header name",
        "eps[0].headers: 'Colon:' is not a valid HTTP header name",
        "eps[0].headers: 'New\\n' is not a valid HTTP header name"]


def test_the_name_must_be_an_identifier() -> None:
    assert problems({"url": URL, "name": "team-b"}) == [
        "eps[0].name must be an identifier (letters, digits, _), got 'team-b'"]
    assert problems({"url": URL, "name": "null"}) != []
    assert problems({"url": URL, "name": "team_b2"}) == [] and problems({"url": URL, "name": ""}) == []


def test_options_of_the_other_kind_are_refused() -> None:
    assert problems({"url": URL, "tenant_id": "t"}, "prometheus") == [
        "eps[0]: tenant_id and batch_size are Loki options"]
    assert problems({"url": URL, "batch_size": "1MiB"}, "prometheus") == [
        "eps[0]: tenant_id and batch_size are Loki options"]
    assert problems({"url": URL, "queue_config": {"capacity": 1}}) == ["eps[0]: queue_config is a Prometheus option"]
    assert problems({"url": URL, "queue_config": {}}) == []


def test_the_verify_mapping_is_checked_too() -> None:
    assert problems({"url": URL, "verify": {"backend": "mimir"}}) == [
        "eps[0].verify.backend must be auto or one of grafana_cloud_logs, loki, got 'mimir'"]


def test_remote_write_endpoints_on_one_url_need_distinct_names() -> None:
    one = "https://mimir/api/v1/push"
    assert ae.endpoint_problems([{"url": one}, {"url": "https://other/api/v1/push"}, {"url": one}], "prometheus",
                                "eps") == ["eps[0, 2] share the url %s: give each a distinct name" % one]
    assert ae.endpoint_problems([{"url": one, "name": "a"}, {"url": one, "name": "a"}], "prometheus", "eps") != []
    assert ae.endpoint_problems([{"url": one, "name": "a"}, {"url": one, "name": ""}], "prometheus", "eps") != []
    assert ae.endpoint_problems([{"url": one, "name": "a"}, {"url": one, "name": "b"}], "prometheus", "eps") == []
    assert ae.endpoint_problems([{"url": one}], "prometheus", "eps") == []
    # Loki's writers on one URL are told apart by their tenant
    assert ae.endpoint_problems([{"url": URL, "tenant_id": "a"}, {"url": URL, "tenant_id": "b"}], "loki", "eps") == []


def test_secrets_are_collected_per_position_as_text() -> None:
    endpoints = [{"url": URL, "bearer_token": 12345},
                 {"url": URL, "basic_auth": {"username": "u", "password": "pw"}},
                 {"url": URL, "basic_auth": {"username": "u", "password_file": "/f"}, "bearer_token": ""}]
    assert ae.endpoint_secrets(endpoints, "loki") == {"FLEET_ALLOY_LOKI_0_BEARER_TOKEN": "12345",
                                                     "FLEET_ALLOY_LOKI_1_PASSWORD": "pw"}
    assert ae.endpoint_secrets(None, "loki") == {}


def ref(name: str) -> Dict[str, str]:
    return {"__alloy_expr__": 'sys.env("%s")' % name}


def test_the_alloy_shape_of_a_loki_endpoint() -> None:
    endpoint = {"url": URL, "name": "primary", "tenant_id": "t", "headers": {"X-A": "1"}, "remote_timeout": "9s",
                "batch_size": "1MiB", "batch_wait": "2s", "bearer_token": "secret", "verify": {"query": False},
                "queue_config": {}, "tls": {"ca_file": "/ca", "server_name": "", "min_version": None,
                                             "insecure_skip_verify": False, "unknown": "x"}}
    shape = ae.alloy_endpoint(endpoint, "loki", 2)
    assert shape == {"attributes": {"url": URL, "name": "primary", "tenant_id": "t", "headers": {"X-A": "1"},
                                    "remote_timeout": "9s", "batch_size": "1MiB", "batch_wait": "2s",
                                    "bearer_token": ref("FLEET_ALLOY_LOKI_2_BEARER_TOKEN")},
                     "blocks": {"tls_config": {"ca_file": "/ca", "insecure_skip_verify": False}}}


def test_the_alloy_shape_of_a_prometheus_endpoint() -> None:
    endpoint = {"url": "http://p/api/v1/write", "tenant_id": "", "headers": {}, "bearer_token_file": "/run/t",
                "basic_auth": {"username": "u", "password": "pw"},
                "queue_config": {"capacity": 10, "max_shards": None, "min_backoff": ""}}
    shape = ae.alloy_endpoint(endpoint, "prometheus", 1)
    assert shape == {"attributes": {"url": "http://p/api/v1/write", "bearer_token_file": "/run/t"},
                     "blocks": {"basic_auth": {"username": "u", "password": ref("FLEET_ALLOY_PROMETHEUS_1_PASSWORD")},
                                "queue_config": {"capacity": 10}}}
    filed = ae.alloy_endpoint({"url": "http://p", "basic_auth": {"username": "u", "password_file": "/pw"}},
                              "prometheus", 0)
    assert filed["blocks"] == {"basic_auth": {"username": "u", "password_file": "/pw"}}
    assert ae.alloy_endpoint({"url": "http://p", "tls": {}}, "prometheus", 0) == {
        "attributes": {"url": "http://p"}, "blocks": {}}


def test_every_tls_option_and_prometheus_attribute_reaches_alloy() -> None:
    tls = {"ca_file": "/ca", "ca_pem": "PEM", "cert_file": "/c.pem", "key_file": "/c.key", "server_name": "mimir",
           "min_version": "TLS13", "insecure_skip_verify": True}
    endpoint = {"url": "https://m/api/v1/push", "name": "team_a", "headers": {"X-Scope-OrgID": "a"},
                "remote_timeout": "30s", "tls": tls}
    assert ae.alloy_endpoint(endpoint, "prometheus", 0) == {
        "attributes": {"url": "https://m/api/v1/push", "name": "team_a", "headers": {"X-Scope-OrgID": "a"},
                       "remote_timeout": "30s"},
        "blocks": {"tls_config": tls}}
    assert ae.alloy_endpoint(dict(endpoint, batch_wait="1s", tenant_id="t"), "prometheus", 0)["attributes"] == \
        ae.alloy_endpoint(endpoint, "prometheus", 0)["attributes"]  # Loki's attributes are not Prometheus'


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of loki, prometheus"):
        ae.alloy_endpoint({"url": URL}, "tempo", 0)


# --- the filter ---------------------------------------------------------------------------------

def test_the_filter_returns_problems_alone_or_endpoints_and_secrets() -> None:
    bad = alloy_endpoints([{"url": "ftp://x", "bearer_token": "s"}], "loki", "alloy_config_loki_endpoints")
    assert bad == {"problems": ["alloy_config_loki_endpoints[0].url must be an http:// or https:// URL, got "
                                "'ftp://x'"], "endpoints": [], "secrets": {}}
    good = alloy_endpoints([{"url": URL}, {"url": URL, "bearer_token": "s", "tenant_id": "b"}], "loki")
    assert good["problems"] == [] and good["secrets"] == {"FLEET_ALLOY_LOKI_1_BEARER_TOKEN": "s"}
    assert [e["attributes"].get("tenant_id") for e in good["endpoints"]] == [None, "b"]
    assert good["endpoints"][1]["attributes"]["bearer_token"] == ref("FLEET_ALLOY_LOKI_1_BEARER_TOKEN")
    assert alloy_endpoints([{"url": 1}], "prometheus")["problems"][0].startswith("endpoints[0].url")


def test_scrape_jobs_become_prometheus_scrapes_with_their_secrets_apart() -> None:
    jobs = [{"name": "integrations/node", "targets": ["h:9100", {"__address__": "g:9100", "env": "stg"}],
             "labels": {"env": "prod"}, "basic_auth": {"username": "u", "password": "s"}, "scheme": "https",
             "tls": {"ca_file": "/ca.pem", "server_name": ""}},
            {"name": "b", "targets": ["b:1"], "bearer_token": "t", "clustering": False}]
    got = alloy_endpoints(jobs, "scrape", "alloy_config_scrape_jobs")
    assert got["problems"] == [] and got["secrets"] == {"FLEET_ALLOY_SCRAPE_0_PASSWORD": "s",
                                                        "FLEET_ALLOY_SCRAPE_1_BEARER_TOKEN": "t"}
    first, second = got["endpoints"]
    assert (first["label"], first["name"], first["clustering"]) == ("job_integrations_node", "integrations/node", "auto")
    assert first["attributes"] == {"targets": [{"env": "prod", "__address__": "h:9100"},
                                               {"env": "stg", "__address__": "g:9100"}],
                                   "job_name": "integrations/node", "scheme": "https"}
    assert first["blocks"] == {"basic_auth": {"username": "u", "password": ref("FLEET_ALLOY_SCRAPE_0_PASSWORD")},
                               "tls_config": {"ca_file": "/ca.pem"}}
    assert second["attributes"]["bearer_token"] == ref("FLEET_ALLOY_SCRAPE_1_BEARER_TOKEN")
    assert second["clustering"] is False and second["blocks"] == {}
    bad = alloy_endpoints([{"name": "a", "targets": ["a"]}], "scrape", "jobs")
    assert bad == {"problems": ["jobs[0].targets[0]: expected host:port or [ipv6]:port (no scheme, no path), got "
                                "'a'"], "endpoints": [], "secrets": {}}
    assert ae.scrape_label("a-b.c/d:e_f") == "job_a_b_c_d_e_f"


def test_the_filter_refuses_an_unknown_kind() -> None:
    with pytest.raises(AnsibleFilterError, match="alloy_endpoints: kind must be one of loki, prometheus"):
        alloy_endpoints([], "tempo")
    assert FilterModule().filters() == {"alloy_endpoints": alloy_endpoints}


def test_a_shared_url_with_credentials_is_named_without_them() -> None:
    url = "https://u:S3CRET@m/api/v1/push"
    found = ae.endpoint_problems([{"url": url}, {"url": url}], "prometheus", "eps")
    assert found[-1] == "eps[0, 1] share the url https://***@m/api/v1/push: give each a distinct name"
    assert not any("S3CRET" in problem for problem in found)
