"""Fetches made for pipelines: no command execution through git, credentials only to their own origin,
and nothing but public addresses unless the configuration allows more.

Nothing here sends a packet beyond loopback: refused addresses are refused before connecting, and where a
refusal could be missed the HTTP client or git executable is replaced by one that fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gennaker.artifacts import ArtifactConfigError, ArtifactFetcher, ArtifactFetchError, artifact_accounts
from gennaker.artifacts.fetchers import OutboundPolicy, loopback_only_guard
from gennaker.artifacts.fetchers import guard as guard_module
from gennaker.artifacts.fetchers.guard import FetchProblem
from tests.emulators.github import LocalHttpServer, make_bare_repo, text_reply
from tests.support import make_runtime


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path / "repos" / "origin", {"master": {"README.md": b"hello\n"}})


def local_fetcher(tmp_path: Path, section: dict[str, Any] | None = None, **options: Any) -> ArtifactFetcher:
    options.setdefault("local_git_paths", [tmp_path / "repos"])
    return ArtifactFetcher(
        artifact_accounts(section or {}),
        client_factory=lambda: httpx.Client(timeout=5.0, trust_env=False),
        guard=loopback_only_guard(),
        git_cache_dir=tmp_path / "cache",
        **options,
    )


def refusing_client() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"{request.url} must not be contacted")

    return httpx.Client(transport=httpx.MockTransport(refuse))


@pytest.mark.parametrize(
    "version", ["--upload-pack=touch {marker}", "-c core.sshCommand=touch {marker}", "--output={marker}"]
)
def test_a_version_is_never_an_option_to_git(tmp_path: Path, repo: Path, version: str) -> None:
    marker = tmp_path / "ran"
    artifact = {"type": "git/repo", "reference": str(repo), "version": version.format(marker=marker)}
    with pytest.raises(ArtifactFetchError, match="is not a branch, tag or commit"):
        local_fetcher(tmp_path)(artifact)
    assert not marker.exists()


def test_the_version_reaches_git_after_end_of_options(tmp_path: Path, repo: Path) -> None:
    """Even a value the check lets through cannot become an option: git sees it after `--end-of-options`."""
    log = tmp_path / "git-args"
    fake_git = tmp_path / "fake-git"
    fake_git.write_text(
        f'#!/bin/sh\ncase " $* " in *" fetch "*) for a in "$@"; do echo "$a"; done >> {log}; exit 1;; esac\n'
    )
    fake_git.chmod(0o755)
    with pytest.raises(ArtifactFetchError):
        local_fetcher(tmp_path, git_executable=str(fake_git))({"type": "git/repo", "reference": str(repo)})
    fetch = log.read_text().split("fetch\n", 1)[1].splitlines()
    assert fetch[fetch.index("--end-of-options") + 1 :][:2] == [str(repo), "master"]


def test_local_repositories_only_under_allowed_paths(tmp_path: Path, repo: Path) -> None:
    elsewhere = make_bare_repo(tmp_path / "private" / "secrets", {"master": {"key": b"secret\n"}})
    fetcher = local_fetcher(tmp_path)
    assert fetcher({"type": "git/repo", "reference": str(repo)})  # under outbound.localGitPaths
    for reference in (str(elsewhere), f"file://{elsewhere}", f"{tmp_path}/repos/../private/secrets"):
        with pytest.raises(ArtifactFetchError, match=r"outbound\.localGitPaths"):
            fetcher({"type": "git/repo", "reference": reference})
    with pytest.raises(ArtifactFetchError, match=r"outbound\.localGitPaths"):
        local_fetcher(tmp_path, local_git_paths=[])({"type": "git/repo", "reference": str(repo)})


def test_credentials_go_only_to_their_accounts_origin(tmp_path: Path) -> None:
    with (
        LocalHttpServer(lambda r: text_reply(200, "ok")) as own,
        LocalHttpServer(lambda r: text_reply(200, "x")) as lure,
    ):
        section = {
            "http": {"accounts": [{"name": "web", "token": "web-secret", "hosts": [own.url]}]},
            "gitrepo": {"accounts": [{"name": "git", "token": "git-secret", "hosts": [own.url]}]},
            "github": {"accounts": [{"name": "gh", "token": "gh-secret", "baseUrl": own.url}]},
            "gitlab": {"accounts": [{"name": "gl", "token": "gl-secret", "baseUrl": own.url}]},
            "helm": {
                "accounts": [{"name": "charts", "repository": own.url, "username": "h", "password": "helm-secret"}]
            },
        }
        fetcher = local_fetcher(tmp_path, section)
        assert fetcher({"type": "http/file", "reference": f"{own.url}/a", "artifactAccount": "web"}) == b"ok"
        lured = [
            {"type": "http/file", "reference": f"{lure.url}/a", "artifactAccount": "web"},
            {"type": "git/repo", "reference": f"{lure.url}/repo.git", "artifactAccount": "git"},
            {"type": "github/file", "reference": f"{lure.url}/repos/o/r/contents/f", "artifactAccount": "gh"},
            {
                "type": "gitlab/file",
                "reference": f"{lure.url}/api/v4/projects/1/repository/files/f/raw",
                "artifactAccount": "gl",
            },
        ]
        for artifact in lured:
            with pytest.raises(ArtifactFetchError, match="may only be sent to"):
                fetcher(artifact)
    assert lure.requests == []
    assert [r.header("Authorization") for r in own.requests] == ["Bearer web-secret"]


def test_helm_chart_urls_elsewhere_get_no_credentials(tmp_path: Path) -> None:
    with LocalHttpServer(lambda r: text_reply(200, "x")) as lure:
        index = f"apiVersion: v1\nentries:\n  app:\n  - version: 1.0.0\n    urls: [{lure.url}/app-1.0.0.tgz]\n"
        with LocalHttpServer(lambda r: text_reply(200, index)) as repository:
            section = {
                "helm": {"accounts": [{"name": "c", "repository": repository.url, "username": "h", "password": "p"}]}
            }
            with pytest.raises(ArtifactFetchError, match="may only be sent to"):
                local_fetcher(tmp_path, section)({"type": "helm/chart", "name": "app", "artifactAccount": "c"})
    assert lure.requests == []


def test_accounts_with_credentials_must_say_where_they_go() -> None:
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.http\.accounts\[0\]: an account with credentials needs"):
        artifact_accounts({"http": {"accounts": [{"name": "web", "token": "t"}]}})
    with pytest.raises(ArtifactConfigError, match=r"artifacts\.gitrepo\.accounts\[0\]: an account with credentials"):
        artifact_accounts({"gitrepo": {"accounts": [{"name": "git", "sshPrivateKeyFilePath": "/k"}]}})
    with pytest.raises(ArtifactConfigError, match="neither a host name nor an origin"):
        artifact_accounts({"http": {"accounts": [{"name": "web", "token": "t", "hosts": ["http://"]}]}})


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/x",
        "http://10.1.2.3/x",
        "http://127.0.0.1:8084/api",
        "http://metadata.google.internal/x",
        "https://localhost/x",
        "https://intranet.example.org/x",
    ],
)
def test_the_server_fetches_only_public_addresses_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setattr(guard_module, "_resolve", lambda host: ["10.0.0.5"])  # no real DNS query either
    rt = make_runtime(tmp_path)
    try:
        rt.fetch_artifact.http.client_factory = refusing_client
        failing_git = tmp_path / "git-must-not-run"
        failing_git.write_text(f"#!/bin/sh\ntouch {tmp_path / 'git-ran'}\nexit 1\n")
        failing_git.chmod(0o755)
        rt.fetch_artifact.git.git = str(failing_git)
        with pytest.raises(ArtifactFetchError, match="not allowed"):
            rt.fetch_artifact({"type": "http/file", "reference": url})
        with pytest.raises(ArtifactFetchError, match="not allowed"):
            rt.fetch_artifact({"type": "git/repo", "reference": url})
        assert not (tmp_path / "git-ran").exists()
    finally:
        rt.close()


def test_the_runtime_guard_is_public_only_with_the_configured_exceptions(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, config={"outbound": {"allowNetworks": ["10.0.0.0/8"], "allowHosts": ["git.corp"]}})
    try:
        guard = rt.fetch_artifact.http.guard
        assert guard is not None
        with pytest.raises(FetchProblem, match=r"non-public address 169\.254\.169\.254"):
            guard("http://169.254.169.254/")
        guard("http://10.1.2.3/x")  # allowed network
        guard("https://git.corp/x")  # allowed host, whatever it resolves to
    finally:
        rt.close()


def test_outbound_configuration_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"outbound\.allowNetworks\[0\]: 'ten' is not a network"):
        OutboundPolicy.from_config({"allowNetworks": ["ten"]})
    with pytest.raises(ValueError, match=r"outbound\.allowHost: unknown key"):
        OutboundPolicy.from_config({"allowHost": ["x"]})
