"""The webhook stage's configuration section, URL allow-list matching, address checks and JsonPath reads.
No test here opens a connection or looks a name up: resolvers are injected."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.artifacts.fetchers import OutboundPolicy
from gennaker.stages import core_registry
from gennaker.stages.webhook import WebhookConfigError, WebhookSettings, add_webhook_stages
from gennaker.stages.webhook.client import Refused, Unresolved, WebhookClient, encode_payload, request_headers
from gennaker.stages.webhook.config import prefix_matches
from gennaker.stages.webhook.jsonpath import PathNotFound, read_path
from gennaker.stages.webhook.stage import PreconfiguredWebhookStage


@pytest.mark.parametrize(
    ("prefix", "url", "matches"),
    [
        ("https://ci.example.com/api/", "https://ci.example.com/api/jobs?x=1", True),
        ("https://ci.example.com", "https://ci.example.com/anything", True),
        ("https://ci.example.com", "https://CI.example.com:443/anything", True),
        ("https://ci.example.com/api/", "https://ci.example.com/other", False),
        ("https://ci.example.com", "https://ci.example.com.evil.org/", False),
        ("https://ci.example.com", "https://ci.example.com@evil.org/", False),
        ("https://ci.example.com", "http://ci.example.com/", False),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:80801/", False),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080@10.0.0.1/", False),
    ],
)
def test_a_url_prefix_matches_as_a_url_not_as_text(prefix: str, url: str, matches: bool) -> None:
    assert prefix_matches(prefix, url) is matches


def test_both_spellings_of_the_allow_list_read_the_same() -> None:
    entries = [{"httpMethods": ["post"], "urlPrefix": "https://ci.example.com/"}]
    orca = WebhookSettings.from_config({"allowedRequestsEnabled": True, "allowedRequests": entries})
    mapping = WebhookSettings.from_config({"allowedRequests": {"enabled": True, "list": entries}})
    assert orca == mapping
    assert orca.allowed_requests_enabled
    [entry] = orca.allowed_requests
    assert entry.matches("POST", "https://ci.example.com/run") and not entry.matches(
        "GET", "https://ci.example.com/run"
    )


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"retries": 3}, "webhook.retries: unknown key"),
        ({"trust": {"enabled": True}}, "webhook.trust: not supported"),
        ({"followRedirects": True}, "webhook.followRedirects"),
        ({"allowedRequests": [{"httpMethods": ["GET"]}]}, "needs exactly one of urlPrefix and urlPattern"),
        ({"allowedRequests": [{"httpMethods": ["FETCH"], "urlPrefix": "https://x.example.com"}]}, "httpMethods"),
        ({"allowedRequests": [{"urlPrefix": "ci.example.com"}]}, "must be an http(s) URL with a host"),
        ({"allowedRequests": [{"urlPattern": "(unclosed"}]}, "not a valid regular expression"),
        ({"readTimeoutMs": 0}, "webhook.readTimeoutMs"),
        ({"preconfigured": [{"label": "no type"}]}, "webhook.preconfigured[0].type"),
        ({"preconfigured": [{"type": "a", "urlz": "x"}]}, "webhook.preconfigured[0].urlz: unknown key"),
        ({"preconfigured": [{"type": "a", "method": "FETCH"}]}, "webhook.preconfigured[0].method"),
        ({"preconfigured": [{"type": "a"}, {"type": "a"}]}, "webhook.preconfigured[1].type"),
        ({"preconfigured": [{"type": "a", "permissions": {"EXECUTE": ["x"]}}]}, "only READ and WRITE"),
        ({"preconfigured": [{"type": "a", "parameters": [{"label": "x"}]}]}, "parameters[0].name: is required"),
    ],
)
def test_an_invalid_section_names_the_key(section: dict[str, Any], words: str) -> None:
    with pytest.raises(WebhookConfigError) as raised:
        WebhookSettings.from_config(section)
    assert words in str(raised.value)


def test_preconfigured_webhooks_become_stage_types_unless_disabled_or_taken() -> None:
    registry = core_registry()
    section = {"preconfigured": [{"type": "notify", "url": "https://x.example.com"}, {"type": "off", "enabled": False}]}
    add_webhook_stages(registry, section)
    assert isinstance(registry.find("notify"), PreconfiguredWebhookStage)
    assert registry.find("off") is None
    add_webhook_stages(registry, section)  # registering again replaces them
    with pytest.raises(WebhookConfigError, match="'wait' is already the type of another stage"):
        add_webhook_stages(registry, {"preconfigured": [{"type": "wait"}]})


def test_a_checked_name_is_pinned_to_its_address_with_the_original_host() -> None:
    client = WebhookClient(WebhookSettings(), resolver=lambda host: ["93.184.216.34"])
    target = client.check("POST", "https://hooks.example.com:8443/run?x=1")
    assert target.url == "https://93.184.216.34:8443/run?x=1"
    assert target.headers == {"Host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}


def test_outbound_hosts_and_networks_widen_the_address_rules() -> None:
    outbound = OutboundPolicy.from_config({"allowNetworks": ["10.20.0.0/16"], "allowHosts": ["ci.corp.example"]})
    client = WebhookClient(WebhookSettings(), outbound, resolver=lambda host: ["10.20.3.4"])
    assert client.check("GET", "http://ci.corp.example/x").url == "http://ci.corp.example/x"
    assert client.check("GET", "http://build.corp.example/x").url == "http://10.20.3.4/x"
    with pytest.raises(Refused, match=r"non-public address 10\.30\.0\.1"):
        WebhookClient(WebhookSettings(), outbound, resolver=lambda host: ["10.30.0.1"]).check("GET", "http://a.b.c/")


def test_unresolvable_names_and_bad_methods() -> None:
    with pytest.raises(Unresolved):
        WebhookClient(WebhookSettings(), resolver=lambda host: []).check("GET", "https://gone.example.com/")
    with pytest.raises(Refused, match="'FETCH' is not an HTTP method"):
        WebhookClient(WebhookSettings()).check("FETCH", "https://a.example.com/")
    with pytest.raises(Refused, match="did not evaluate"):
        WebhookClient(WebhookSettings()).check("GET", "https://a.example.com/${nope}")


def test_payloads_and_headers() -> None:
    assert encode_payload({"a": 1}) == (b'{"a": 1}', "application/json")
    assert encode_payload('{"a": 1}') == (b'{"a": 1}', "application/json")
    assert encode_payload("plain words") == (b"plain words", "text/plain; charset=utf-8")
    assert encode_payload(None) == (None, None)
    headers = {"X-A": ["1", "2"], "x-spinnaker-user": "admin", "Host": "evil", "X-N": 3, "X-None": None}
    assert request_headers(headers) == [("X-A", "1"), ("X-A", "2"), ("X-N", "3")]


def test_json_paths_read_as_jayway_reads_them() -> None:
    document = {"job": {"state": "RUNNING", "steps": [{"name": "a"}, {"name": "b"}]}, "empty": None}
    assert read_path(document, "$.job.state") == "RUNNING"
    assert read_path(document, "job.steps[1].name") == "b"
    assert read_path(document, "$.job.steps[*].name") == ["a", "b"]
    assert read_path(document, "$..nothing") == []
    assert read_path(document, "$.empty") is None
    with pytest.raises(PathNotFound):
        read_path(document, "$.job.missing")
    with pytest.raises(PathNotFound):
        read_path("not json", "$.state")
