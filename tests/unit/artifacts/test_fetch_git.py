import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gennaker.artifacts import ArtifactFetcher, ArtifactFetchError, artifact_accounts
from tests.emulators.github import commit_files, make_bare_repo
from tests.emulators.github.git import git
from tests.unit.artifacts.conftest import MakeFetcher


def files_of(tarball: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_bare_repo(
        tmp_path / "origin",
        {
            "master": {"README.md": b"master\n"},
            "staging": {
                "helm.tar.gz": b"not really a chart",
                "values-spin.yaml": b"a: 1\n",
                "deploy/cm.yaml": b"kind: ConfigMap\n",
            },
        },
    )


def test_branch_and_sub_path(make_fetcher: MakeFetcher, repo: Path) -> None:
    fetcher = make_fetcher()
    assert files_of(fetcher({"type": "git/repo", "reference": str(repo)})) == {"README.md": b"master\n"}
    staging = files_of(fetcher({"type": "git/repo", "reference": str(repo), "version": "staging"}))
    assert set(staging) == {"helm.tar.gz", "values-spin.yaml", "deploy/cm.yaml"}
    only = fetcher(
        {"type": "git/repo", "reference": str(repo), "version": "staging", "metadata": {"subPath": "deploy"}}
    )
    assert files_of(only) == {"deploy/cm.yaml": b"kind: ConfigMap\n"}
    located = fetcher(
        {"type": "git/repo", "reference": str(repo), "version": "staging", "location": "values-spin.yaml"}
    )
    assert files_of(located) == {"values-spin.yaml": b"a: 1\n"}


def test_updates_tags_and_commits_are_fetched(make_fetcher: MakeFetcher, repo: Path) -> None:
    fetcher = make_fetcher()
    artifact = {"type": "git/repo", "reference": str(repo), "version": "staging", "location": "values-spin.yaml"}
    assert files_of(fetcher(artifact)) == {"values-spin.yaml": b"a: 1\n"}
    first = commit_files(repo, "staging", {"values-spin.yaml": b"a: 2\n"})
    assert files_of(fetcher(artifact)) == {"values-spin.yaml": b"a: 2\n"}  # the cache is refreshed
    commit_files(repo, "staging", {"values-spin.yaml": b"a: 3\n"})
    assert files_of(fetcher({**artifact, "version": first})) == {"values-spin.yaml": b"a: 2\n"}
    assert files_of(fetcher({**artifact, "version": first[:10]})) == {"values-spin.yaml": b"a: 2\n"}
    git("tag", "-a", "-m", "release", "v2", first, cwd=repo)
    assert files_of(fetcher({**artifact, "version": "v2"})) == {"values-spin.yaml": b"a: 2\n"}


def test_default_branch_fallback_when_there_is_no_master(make_fetcher: MakeFetcher, tmp_path: Path) -> None:
    main_only = make_bare_repo(tmp_path / "main-only", {"main": {"x.txt": b"main\n"}}, default="main")
    assert files_of(make_fetcher()({"type": "git/repo", "reference": str(main_only)})) == {"x.txt": b"main\n"}


def test_errors_name_account_and_artifact(make_fetcher: MakeFetcher, repo: Path) -> None:
    fetcher = make_fetcher()
    with pytest.raises(ArtifactFetchError) as caught:
        fetcher({"type": "git/repo", "reference": str(repo), "version": "no-such-branch"})
    assert "no-auth-git-repo-account" in str(caught.value) and "version=no-such-branch" in str(caught.value)
    with pytest.raises(ArtifactFetchError, match="did not match any files"):
        fetcher({"type": "git/repo", "reference": str(repo), "location": "missing/dir"})
    with pytest.raises(ArtifactFetchError, match="must stay inside the repository"):
        fetcher({"type": "git/repo", "reference": str(repo), "location": "../etc"})


def test_concurrent_fetches_share_the_cache(make_fetcher: MakeFetcher, repo: Path, tmp_path: Path) -> None:
    fetcher = make_fetcher()
    artifacts = [
        {"type": "git/repo", "reference": str(repo), "version": "staging" if i % 2 else "master"} for i in range(12)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(fetcher, artifacts))
    for artifact, result in zip(artifacts, results, strict=True):
        names = set(files_of(result))
        assert names == (
            {"README.md"} if artifact["version"] == "master" else {"helm.tar.gz", "values-spin.yaml", "deploy/cm.yaml"}
        )
    assert len(list((tmp_path / "git-cache").glob("*.git"))) == 1


def test_token_is_sent_as_a_header_not_in_the_command_line(make_fetcher: MakeFetcher, tmp_path: Path) -> None:
    fake_git = tmp_path / "fake-git"
    log = tmp_path / "git-log"
    fake_git.write_text(f'#!/bin/sh\necho "$@ | $GIT_CONFIG_KEY_0 | $GIT_CONFIG_VALUE_0" >> {log}\nexit 1\n')
    fake_git.chmod(0o755)
    fetcher = make_fetcher(
        {"gitrepo": {"accounts": [{"name": "git", "username": "me", "token": "git-secret", "hosts": ["http://127.0.0.1:9"]}]}},
        git_executable=str(fake_git),
    )
    with pytest.raises(ArtifactFetchError) as caught:
        fetcher({"type": "git/repo", "reference": "http://127.0.0.1:9/repo.git", "artifactAccount": "git"})
    assert "git-secret" not in str(caught.value)
    calls = log.read_text()
    assert "git-secret" not in calls.split("|")[0]
    assert "http.extraHeader | Authorization: Basic " in calls


def test_command_running_git_transports_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with no address guard (the default) and a git configuration that allows it, `ext::` never runs."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[protocol \"ext\"]\n\tallow = always\n")
    monkeypatch.setenv("HOME", str(home))
    fetcher = ArtifactFetcher(artifact_accounts({}), git_cache_dir=tmp_path / "cache")
    marker = tmp_path / "ran"
    artifact = {"type": "git/repo", "reference": f"ext::sh -c touch% {marker}", "version": "master"}
    with pytest.raises(ArtifactFetchError):
        fetcher.fetch(artifact)
    assert not marker.exists()
