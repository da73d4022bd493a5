"""The parts of the registry client that need no registry: challenges, next-page links and where an account's
credentials may go."""

from __future__ import annotations

import pytest

from gennaker.triggers.docker.accounts import DockerRegistryAccount
from gennaker.triggers.docker.registry_client import RegistryClient, RegistryError, parse_challenge


def account(**extra: object) -> DockerRegistryAccount:
    return DockerRegistryAccount.model_validate({"name": "r", "address": "https://registry.example:5000", **extra})


def test_challenges_are_parsed_with_quoted_and_bare_values() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="Registry \\"x\\""').params == {"realm": 'Registry "x"'}
    assert parse_challenge("Bearer realm=https://a/token, service=s").params == {
        "realm": "https://a/token",
        "service": "s",
    }


def test_next_page_links() -> None:
    client = RegistryClient(account(), None)
    assert client._next_page(['</v2/_catalog?last=b&n=2>; rel="next"'], "/v2/_catalog?n=2") == "/v2/_catalog?last=b&n=2"
    absolute = ['<https://registry.example:5000/v2/a/tags/list?last=1.2&n=2>; rel="next"']
    assert client._next_page(absolute, "/v2/a/tags/list?n=2") == "/v2/a/tags/list?last=1.2&n=2"
    assert client._next_page([], "/v2/a/tags/list") is None
    with pytest.raises(RegistryError, match="more than one next-page Link"):
        client._next_page(['</v2/x?a>; rel="next", </v2/y?b>; rel="next"'], "/v2/a/tags/list")
    with pytest.raises(RegistryError, match="is not under /v2/"):
        client._next_page(['</elsewhere>; rel="next"'], "/v2/a/tags/list")


def test_addresses_are_normalised_as_clouddriver_does() -> None:
    assert account(address="registry.example/v2/").base_url == "https://registry.example"
    assert account(address="http://127.0.0.1:5000/").registry == "127.0.0.1:5000"
    assert account(address="https://host/artifactory/api/docker/repo").registry == "host/artifactory/api/docker/repo"


def test_credentials_go_to_the_registry_and_its_own_host_or_listed_token_services() -> None:
    plain = account(username="u", password="p")
    assert plain.may_send_credentials_to("https://registry.example:5000/v2/a/tags/list")
    assert not plain.may_send_credentials_to("https://registry.example/v2/")  # another port is another origin
    assert plain.may_send_credentials_to_token_service("https://registry.example/token")
    assert plain.may_send_credentials_to_token_service("https://registry.example:8443/token")
    assert not plain.may_send_credentials_to_token_service("http://registry.example/token")  # not in the clear
    assert not plain.may_send_credentials_to_token_service("https://auth.example/token")
    assert not plain.may_send_credentials_to_token_service("https://registry.example.evil.test/token")
    listed = account(username="u", password="p", tokenHosts=["auth.example", "http://10.0.0.5:8080"])
    assert listed.may_send_credentials_to_token_service("https://auth.example/token")
    assert not listed.may_send_credentials_to_token_service("https://auth.example:444/token")
    assert listed.may_send_credentials_to_token_service("http://10.0.0.5:8080/token")
    assert not listed.may_send_credentials_to_token_service("http://10.0.0.5:8081/token")
