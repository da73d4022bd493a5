"""Metrics accounts from `canary.serviceIntegrations` (halconfig's shape): credentials inline or from files, the
default account, errors naming each key, secrets never shown."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gennaker.canary.accounts import (
    MetricsAccountConfigError,
    MetricsAccountError,
    PrometheusAccount,
    metrics_accounts,
)


def config(*accounts: Mapping[str, Any], **canary: Any) -> dict[str, Any]:
    integration = {"name": "prometheus", "enabled": True, "accounts": list(accounts)}
    return {"canary": {"serviceIntegrations": [integration], **canary}}


def only(*accounts: Mapping[str, Any]) -> PrometheusAccount:
    return metrics_accounts(config(*accounts)).default()


def test_accounts_with_inline_and_file_credentials(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("file-password\n")
    (tmp_path / "token").write_text("file-token\n")
    (tmp_path / "pair").write_text("halyard:pair-password\n")
    accounts = metrics_accounts(
        config(
            {
                "name": "prod",
                "endpoint": {"baseUrl": "https://prometheus.example.com/"},
                "username": "canary",
                "passwordFile": str(tmp_path / "password"),
                "scopeLabel": "pod",
                "permissions": {"READ": ["dev"], "WRITE": ["ops"]},
            },
            {
                "name": "token",
                "endpoint": {"baseUrl": "http://10.0.0.5:9090/prom"},
                "bearerTokenFile": str(tmp_path / "token"),
            },
            {"name": "inline", "endpoint": {"baseUrl": "http://p.example"}, "bearerToken": "inline-token"},
            {
                "name": "pair",
                "endpoint": {"baseUrl": "http://p.example"},
                "usernamePasswordFile": str(tmp_path / "pair"),
            },
            {
                "name": "open",
                "endpoint": {"baseUrl": "http://p.example"},
                "password": "",
                "supportedTypes": ["METRICS_STORE"],
            },
            defaultMetricsAccount="prod",
        )
    )
    assert accounts.names == ["prod", "token", "inline", "pair", "open"] and len(accounts) == 5
    prod, token, inline, pair, open_account = (accounts.get(name) for name in accounts.names)
    assert prod is not None and token is not None and inline is not None and pair is not None
    assert open_account is not None and accounts.get("missing") is None
    assert prod.base_url == "https://prometheus.example.com" and prod.scopeLabel == "pod"
    assert prod.authorization() == "Basic Y2FuYXJ5OmZpbGUtcGFzc3dvcmQ="  # canary:file-password
    assert token.base_url == "http://10.0.0.5:9090/prom" and token.authorization() == "Bearer file-token"
    assert inline.authorization() == "Bearer inline-token"
    assert pair.username == "halyard" and pair.authorization() == "Basic aGFseWFyZDpwYWlyLXBhc3N3b3Jk"
    assert open_account.authorization() is None and open_account.scopeLabel == "instance"
    assert open_account.timeoutSeconds == 30 and accounts.metadata_caching_ms == 60_000
    assert accounts.default() is prod
    shown = repr(list(accounts)) + str(list(accounts)) + str(accounts.public())
    for secret in ("file-password", "file-token", "inline-token", "pair-password"):
        assert secret not in shown
    assert accounts.public()[0] == {
        "name": "prod",
        "type": "prometheus",
        "supportedTypes": ["METRICS_STORE"],
        "endpoint": {"baseUrl": "https://prometheus.example.com"},
        "scopeLabel": "pod",
        "permissions": {"READ": ["dev"], "WRITE": ["ops"]},
    }


def test_the_default_account() -> None:
    one = {"name": "one", "endpoint": {"baseUrl": "http://a.example"}}
    two = {"name": "two", "endpoint": {"baseUrl": "http://b.example"}}
    assert metrics_accounts(config(one)).default().name == "one"
    assert metrics_accounts(config(one)).resolve(None).name == "one"
    assert metrics_accounts(config(one, two, defaultMetricsAccount="two")).resolve("").name == "two"
    assert metrics_accounts(config(one, two)).resolve("two").name == "two"
    with pytest.raises(MetricsAccountError, match=r"several metrics accounts \(one, two\): name one in metricsAccount"):
        metrics_accounts(config(one, two)).default()
    with pytest.raises(MetricsAccountError, match="no metrics account is configured"):
        metrics_accounts({}).default()
    with pytest.raises(
        MetricsAccountError, match=r"metrics account 'three' is not configured \(configured: one, two\)"
    ):
        metrics_accounts(config(one, two)).resolve("three")


def test_an_integration_without_enabled_is_enabled() -> None:
    integration = {"name": "prometheus", "accounts": [{"name": "p", "endpoint": {"baseUrl": "http://p.example"}}]}
    assert metrics_accounts({"canary": {"serviceIntegrations": [integration]}}).names == ["p"]


def test_halconfigs_other_settings() -> None:
    halconfig = {
        "canary": {
            "enabled": True,
            "serviceIntegrations": [
                {"name": "google", "enabled": False, "accounts": [], "gcsEnabled": False},
                {
                    "name": "prometheus",
                    "enabled": True,
                    "metadataCachingIntervalMS": 30_000,
                    "accounts": [
                        {"name": "p", "endpoint": {"baseUrl": "http://p.example"}, "supportedTypes": ["METRICS_STORE"]}
                    ],
                },
                {"name": "datadog", "enabled": False},
            ],
            "reduxLoggerEnabled": True,
            "defaultJudge": "NetflixACAJudge-v1.0",
            "defaultMetricsStore": "prometheus",
            "defaultStorageAccount": "",
            "stagesEnabled": True,
            "templatesEnabled": True,
            "showAllConfigsEnabled": True,
        }
    }
    accounts = metrics_accounts(halconfig)
    assert accounts.names == ["p"] and accounts.metadata_caching_ms == 30_000


@pytest.mark.parametrize(
    "section",
    [
        None,
        {
            "enabled": False,
            "serviceIntegrations": [
                {
                    "name": "prometheus",
                    "enabled": True,
                    "accounts": [{"name": "x", "endpoint": {"baseUrl": "http://p.example"}}],
                }
            ],
        },
        {"serviceIntegrations": [{"name": "prometheus", "enabled": False, "accounts": [{"name": "x"}]}]},
    ],
)
def test_no_section_or_disabled_means_no_accounts(section: Any) -> None:
    assert len(metrics_accounts({"canary": section} if section is not None else {})) == 0


@pytest.mark.parametrize(
    ("account", "problem"),
    [
        ({"endpoint": {"baseUrl": "http://p.example"}}, "accounts[0].name: field required"),
        ({"name": "a b", "endpoint": {"baseUrl": "http://p.example"}}, "accounts[0].name: 'a b' must be letters"),
        ({"name": "a"}, "accounts[0].endpoint: field required"),
        (
            {"name": "a", "endpoint": {"baseUrl": "ftp://p.example"}},
            "accounts[0].endpoint.baseUrl: 'ftp://p.example' is not",
        ),
        ({"name": "a", "endpoint": {"baseUrl": "http://u:p@p.example"}}, "endpoint.baseUrl: must not hold credentials"),
        ({"name": "a", "endpoint": {"baseUrl": "http://p.example?x=1"}}, "must not have a query or a fragment"),
        ({"name": "a", "endpoint": {"baseUrl": "http://p.example:99999"}}, "has an invalid port"),
        ({"name": "a", "endpoint": {"baseURL": "http://p.example"}}, "accounts[0].endpoint.baseURL: unknown key"),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "pasword": "x"},
            "accounts[0].pasword: unknown key",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "password": "x"},
            "accounts[0]: a password needs a username",
        ),
        ({"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "username": "u"}, "a username needs a password"),
        (
            {
                "name": "a",
                "endpoint": {"baseUrl": "http://p.example"},
                "username": "u",
                "password": "p",
                "bearerToken": "t",
            },
            "give either a username and password or a bearer token, not both",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "password": "p", "passwordFile": "/x"},
            "password and passwordFile are mutually exclusive",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "bearerToken": "t", "bearerTokenFile": "/x"},
            "bearerToken and bearerTokenFile are mutually exclusive",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "bearerTokenFile": "/nonexistent/token"},
            "accounts[0]: cannot read bearerTokenFile /nonexistent/token: No such file or directory",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "scopeLabel": "pod-name"},
            "'pod-name' is not a Prometheus label name",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "permissions": {"EXECUTE": []}},
            "unknown permission 'EXECUTE'",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "supportedTypes": ["OBJECT_STORE"]},
            "a Prometheus account is a METRICS_STORE only",
        ),
        (
            {"name": "a", "endpoint": {"baseUrl": "http://p.example"}, "timeoutSeconds": 600},
            "timeoutSeconds: input should be less than or equal to 120",
        ),
    ],
)
def test_bad_accounts_are_named(account: Mapping[str, Any], problem: str) -> None:
    with pytest.raises(MetricsAccountConfigError) as caught:
        metrics_accounts(config(account))
    assert str(caught.value).startswith("invalid canary: canary.serviceIntegrations[0].")
    assert problem in str(caught.value)


def test_secret_files_must_hold_something(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "pair").write_text("no-colon\n")
    base = {"name": "a", "endpoint": {"baseUrl": "http://p.example"}}
    with pytest.raises(MetricsAccountConfigError, match=r"accounts\[0\]: passwordFile .*/empty is empty"):
        metrics_accounts(config({**base, "username": "u", "passwordFile": str(tmp_path / "empty")}))
    with pytest.raises(MetricsAccountConfigError, match=r"usernamePasswordFile .*/pair must hold username:password"):
        metrics_accounts(config({**base, "usernamePasswordFile": str(tmp_path / "pair")}))
    with pytest.raises(MetricsAccountConfigError, match="usernamePasswordFile replaces username and password"):
        metrics_accounts(config({**base, "username": "u", "usernamePasswordFile": str(tmp_path / "pair")}))


@pytest.mark.parametrize(
    ("canary", "problem"),
    [
        ("yes", "invalid canary: must be a mapping"),
        ({"serviceIntegration": []}, "canary.serviceIntegration: unknown key"),
        ({"serviceIntegrations": {"name": "prometheus"}}, "canary.serviceIntegrations: must be a list"),
        ({"serviceIntegrations": ["prometheus"]}, "canary.serviceIntegrations[0]: must be a mapping"),
        (
            {"serviceIntegrations": [{"name": "datadog", "enabled": True}]},
            "canary.serviceIntegrations[0]: 'datadog' is not supported (supported: prometheus; or set enabled: false)",
        ),
        (
            {"serviceIntegrations": [{"name": "prometheus", "enabled": True, "accounts": {}}]},
            "canary.serviceIntegrations[0].accounts: must be a list",
        ),
        (
            {"serviceIntegrations": [{"name": "prometheus", "enabled": True, "acounts": []}]},
            "canary.serviceIntegrations[0].acounts: unknown key",
        ),
        (
            {"serviceIntegrations": [{"name": "prometheus", "enabled": True, "metadataCachingIntervalMS": 0}]},
            "canary.serviceIntegrations[0].metadataCachingIntervalMS: must be a positive number of milliseconds",
        ),
        ({"defaultMetricsAccount": ["a"]}, "canary.defaultMetricsAccount: must be an account name"),
        ({"serviceIntegrations": [{"name": "prometheus", "enabled": "no"}]}, "serviceIntegrations[0].enabled: must be"),
    ],
)
def test_bad_sections_are_named(canary: Any, problem: str) -> None:
    with pytest.raises(MetricsAccountConfigError) as caught:
        metrics_accounts({"canary": canary})
    assert problem in str(caught.value)


def test_account_names_and_the_default_must_exist() -> None:
    account = {"name": "a", "endpoint": {"baseUrl": "http://p.example"}}
    with pytest.raises(MetricsAccountConfigError, match="metrics account name 'a' is used more than once"):
        metrics_accounts(config(account, account))
    with pytest.raises(
        MetricsAccountConfigError,
        match=r"canary.defaultMetricsAccount: 'b' is not a configured metrics account \(configured: a\)",
    ):
        metrics_accounts(config(account, defaultMetricsAccount="b"))


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(MetricsAccountConfigError) as caught:
        metrics_accounts(config({"name": "a"}, {"name": "b", "endpoint": {"baseUrl": "x"}}, typo=1))
    message = str(caught.value)
    assert "canary.typo: unknown key" in message
    assert "accounts[0].endpoint: field required" in message and "accounts[1].endpoint.baseUrl: 'x' is not" in message
