from pathlib import Path

import pytest

from gennaker.artifacts import ArtifactFetchError
from tests.emulators.github import GitHubEmulator, LocalHttpServer, Request, make_bare_repo, text_reply
from tests.unit.artifacts.conftest import MakeFetcher

FILES = {
    "acme/deploy": {"master": {"manifests/app.yaml": b"kind: Deployment\n"}, "v2": {"manifests/app.yaml": b"v2\n"}}
}


def github_section(base_url: str, token: str = "gh-secret") -> dict[str, object]:
    return {"github": {"enabled": True, "accounts": [{"name": "gh", "token": token, "baseUrl": base_url}]}}


def test_github_file_by_ref_with_token(make_fetcher: MakeFetcher) -> None:
    with GitHubEmulator(files=FILES, token="gh-secret") as github:
        fetcher = make_fetcher(github_section(github.url))
        url = github.contents_url("acme/deploy", "manifests/app.yaml")
        assert fetcher({"type": "github/file", "reference": url, "artifactAccount": "gh"}) == b"kind: Deployment\n"
        assert fetcher({"type": "github/file", "reference": url, "version": "v2"}) == b"v2\n"
        relative = {"type": "github/file", "reference": "acme/deploy/contents/manifests/app.yaml", "version": "v2"}
        assert fetcher(relative) == b"v2\n"
    assert [r.param("ref") for r in github.requests] == ["master", "v2", "v2"]
    assert {r.header("Authorization") for r in github.requests} == {"token gh-secret"}


def test_github_large_file_uses_download_url(make_fetcher: MakeFetcher) -> None:
    with GitHubEmulator(files=FILES, token="gh-secret", inline_limit=4) as github:
        fetcher = make_fetcher(github_section(github.url))
        assert fetcher(
            {"type": "github/file", "reference": github.contents_url("acme/deploy", "manifests/app.yaml")}
        ) == (b"kind: Deployment\n")
    assert github.requests[-1].path.startswith("/raw/acme/deploy/master/")


def test_github_backed_by_git_repository(make_fetcher: MakeFetcher, tmp_path: Path) -> None:
    repo = make_bare_repo(tmp_path, {"master": {"a.txt": b"A\n"}, "staging": {"values-spin.yaml": b"replicas: 2\n"}})
    with GitHubEmulator(git_repos={"acme/app": repo}) as github:
        fetcher = make_fetcher(github_section(github.url))
        url = github.contents_url("acme/app", "values-spin.yaml")
        assert fetcher({"type": "github/file", "reference": url, "version": "staging"}) == b"replicas: 2\n"


def test_github_errors(make_fetcher: MakeFetcher) -> None:
    with GitHubEmulator(files=FILES, token="gh-secret") as github:
        wrong = make_fetcher(github_section(github.url, token="wrong"))
        with pytest.raises(ArtifactFetchError, match=r"account gh: GET .* returned HTTP 401"):
            wrong({"type": "github/file", "reference": github.contents_url("acme/deploy", "manifests/app.yaml")})
        fetcher = make_fetcher(github_section(github.url))
        with pytest.raises(ArtifactFetchError, match="is not a file"):
            fetcher({"type": "github/file", "reference": github.contents_url("acme/deploy", "manifests")})
        with pytest.raises(ArtifactFetchError, match="HTTP 404"):
            fetcher({"type": "github/file", "reference": github.contents_url("acme/deploy", "nope.yaml")})


def _gitlab(request: Request):  # type: ignore[no-untyped-def]
    if request.header("PRIVATE-TOKEN") != "gl-secret":
        return text_reply(401, '{"message":"401 Unauthorized"}')
    expected = "/api/v4/projects/42/repository/files/deploy/app.yaml/raw"
    if request.path != expected:
        return text_reply(404, '{"message":"404 File Not Found"}')
    return text_reply(200, f"ref: {request.param('ref')}\n")


def test_gitlab_file(make_fetcher: MakeFetcher) -> None:
    with LocalHttpServer(_gitlab) as gitlab:
        fetcher = make_fetcher({"gitlab": {"accounts": [{"name": "gl", "token": "gl-secret", "baseUrl": gitlab.url}]}})
        url = f"{gitlab.url}/api/v4/projects/42/repository/files/deploy%2Fapp.yaml/raw"
        assert fetcher({"type": "gitlab/file", "reference": url, "artifactAccount": "gl"}) == b"ref: master\n"
        relative = "api/v4/projects/42/repository/files/deploy%2Fapp.yaml/raw"
        assert fetcher({"type": "gitlab/file", "reference": relative, "version": "staging"}) == b"ref: staging\n"
        with pytest.raises(ArtifactFetchError, match=r"gitlab/file reference=.*version=v9 with account gl: .*HTTP 404"):
            fetcher(
                {"type": "gitlab/file", "reference": url.replace("/projects/42/", "/projects/43/"), "version": "v9"}
            )
