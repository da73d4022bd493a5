from pathlib import Path

import pytest

from gennaker.artifacts import ArtifactConfigError, artifact_accounts

SECTION = {
    "http": {
        "enabled": True,
        "accounts": [
            {"name": "my-http", "username": "u", "password": "p", "hosts": ["files.example.org"]},
            {"name": "bearer", "token": "t0ken", "hosts": ["https://files.example.org:8443"]},
        ],
    },
    "gitrepo": {
        "enabled": True,
        "accounts": [{"name": "git", "username": "me", "token": "git-secret", "hosts": ["git.example.org"]}],
    },
    "github": {
        "enabled": True,
        "accounts": [{"name": "gh", "token": "gh-secret", "baseUrl": "https://ghe.example/api/v3"}],
    },
    "gitlab": {"enabled": True, "accounts": [{"name": "gl", "token": "gl-secret"}]},
    "helm": {
        "enabled": True,
        "accounts": [{"name": "charts", "repository": "https://charts.example.com", "username": "h", "password": "hp"}],
    },
    "s3": {"enabled": False, "accounts": [{"name": "ignored"}]},
}


def test_accounts_and_builtins_are_listed_without_secrets() -> None:
    accounts = artifact_accounts({"artifacts": SECTION})
    public = accounts.public()
    assert {"name": "embedded-artifact", "types": ["embedded/base64"]} in public
    assert {"name": "docker-registry", "types": ["docker/image"]} in public
    assert {"name": "no-auth-http-account", "types": ["http/file"]} in public
    assert {"name": "gh", "types": ["github/file"]} in public
    assert {"name": "charts", "types": ["helm/chart"]} in public
    text = repr(list(accounts)) + str(public) + str(list(accounts))
    for secret in ("t0ken", "git-secret", "gh-secret", "gl-secret", "hp", "'p'"):
        assert secret not in text
    assert accounts.get("ignored") is None


def test_defaults_per_type() -> None:
    accounts = artifact_accounts(SECTION)
    assert accounts.default_for("http/file").name == "no-auth-http-account"  # type: ignore[union-attr]
    assert accounts.default_for("git/repo").name == "no-auth-git-repo-account"  # type: ignore[union-attr]
    assert accounts.default_for("github/file").name == "gh"  # type: ignore[union-attr] # the only one
    assert accounts.default_for("kubernetes/deployment") is None


def test_validation_errors_name_the_field() -> None:
    with pytest.raises(ArtifactConfigError) as caught:
        artifact_accounts(
            {"http": {"enabled": True, "accounts": [{"username": "x"}]}, "helm": {"accounts": [{"name": "h"}]}}
        )
    message = str(caught.value)
    assert "artifacts.http.accounts[0].name: field required" in message
    assert "artifacts.helm.accounts[0].repository: field required" in message


def test_unsupported_kind_and_duplicates_are_errors() -> None:
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.bitbucket: artifact kind not supported"):
        artifact_accounts({"bitbucket": {"enabled": True, "accounts": []}})
    with pytest.raises(ArtifactConfigError, match="used more than once"):
        artifact_accounts({"http": {"accounts": [{"name": "embedded-artifact"}]}})


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "up").write_text("alice:s3cret\n")
    (tmp_path / "tok").write_text("file-token\n")
    accounts = artifact_accounts(
        {
            "http": {
                "accounts": [
                    {"name": "a", "usernamePasswordFile": str(tmp_path / "up"), "hosts": ["a.example.org"]},
                    {"name": "b", "tokenFile": str(tmp_path / "tok"), "hosts": ["b.example.org"]},
                ]
            }
        }
    )
    a, b = accounts.get("a"), accounts.get("b")
    assert a.basic_auth() == ("alice", "s3cret")  # type: ignore[union-attr]
    assert b.token_value() == "file-token"  # type: ignore[union-attr]
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.http\.accounts\[0\]: cannot read tokenFile"):
        artifact_accounts({"http": {"accounts": [{"name": "c", "tokenFile": str(tmp_path / "missing")}]}})
