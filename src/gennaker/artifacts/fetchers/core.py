"""`ArtifactFetcher`: pick the account for an artifact and fetch its content with that account's credentials.

The account is the artifact's `artifactAccount`; without one, the type's built-in account (or the only
configured account for the type) is used. Every failure is an `ArtifactFetchError` naming the account and
the artifact.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gennaker.artifacts.accounts import (
    ArtifactAccount,
    ArtifactAccounts,
    GcsAccount,
    GitHubAccount,
    GitLabAccount,
    GitRepoAccount,
    HelmAccount,
    HttpAccount,
    S3Account,
)
from gennaker.artifacts.fetchers.embedded import fetch_embedded
from gennaker.artifacts.fetchers.gcs_object import GcsObjectFetcher
from gennaker.artifacts.fetchers.git_repo import GitRepoFetcher
from gennaker.artifacts.fetchers.github import fetch_github_file
from gennaker.artifacts.fetchers.gitlab import fetch_gitlab_file
from gennaker.artifacts.fetchers.guard import ConnectGuard, FetchProblem
from gennaker.artifacts.fetchers.helm_chart import fetch_helm_chart
from gennaker.artifacts.fetchers.http_client import ClientFactory, HttpGetter, default_client_factory
from gennaker.artifacts.fetchers.http_file import fetch_http_file
from gennaker.artifacts.fetchers.s3_object import S3ObjectFetcher
from gennaker.artifacts.model import describe_artifact

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# What stages and the bake need from a fetcher: an artifact in, its bytes out (`ArtifactFetcher` is one).
Fetch = Callable[[Mapping[str, Any]], bytes]


class ArtifactFetchError(RuntimeError):
    """An artifact could not be fetched; the message names the account, the artifact and the reason."""


class ArtifactFetcher:
    """Fetches artifact contents as bytes; callable, so it can be passed where a `fetch(artifact)` is wanted."""

    def __init__(
        self,
        accounts: ArtifactAccounts,
        *,
        client_factory: ClientFactory | None = None,
        guard: ConnectGuard | None = None,
        git_cache_dir: Path | None = None,
        git_executable: str = "git",
        local_git_paths: Sequence[Path] = (),
        timeout_s: float = 60.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        """`guard` checks every address before it is contacted (None: any address, for tests and tools only);
        `local_git_paths` are the directories whose repositories `git/repo` artifacts may read."""
        self.accounts = accounts
        self.http = HttpGetter(client_factory or default_client_factory(timeout_s), guard, max_bytes)
        cache = git_cache_dir or Path(tempfile.gettempdir()) / f"gennaker-{os.getuid()}" / "git-artifacts"
        self.git = GitRepoFetcher(
            cache, git=git_executable, timeout_s=max(timeout_s, 300.0), guard=guard, local_paths=local_git_paths
        )
        # Cloud objects: boto3 (`gennaker[aws]`) and google-auth (`gennaker[gcp]`) are imported on first use.
        self.s3 = S3ObjectFetcher(guard, timeout_s=timeout_s, max_bytes=max_bytes)
        self.gcs = GcsObjectFetcher(self.http, timeout_s)

    def __call__(self, artifact: Mapping[str, Any]) -> bytes:
        return self.fetch(artifact)

    def fetch(self, artifact: Mapping[str, Any]) -> bytes:
        account = self.account_for(artifact)
        try:
            return self._fetch_with(artifact, account)
        except FetchProblem as problem:
            raise ArtifactFetchError(
                f"cannot fetch artifact {describe_artifact(artifact)} with account {account.name}: {problem}"
            ) from None

    def account_for(self, artifact: Mapping[str, Any]) -> ArtifactAccount:
        """The account named by `artifactAccount`, or the default one for the artifact's type."""
        artifact_type = str(artifact.get("type") or "")
        name = artifact.get("artifactAccount")
        if name:
            account = self.accounts.get(str(name))
            if account is None:
                raise ArtifactFetchError(
                    f"artifact account {name} does not exist (artifact {describe_artifact(artifact)})"
                )
            if artifact_type not in account.types:
                raise ArtifactFetchError(
                    f"artifact account {name} handles {', '.join(account.types)}, not {artifact_type or 'untyped'} "
                    f"artifacts (artifact {describe_artifact(artifact)})"
                )
            return account
        account = self.accounts.default_for(artifact_type)
        if account is None:
            raise ArtifactFetchError(
                f"no artifact account given and no default account for type {artifact_type or '<none>'} "
                f"(artifact {describe_artifact(artifact)})"
            )
        return account

    def _fetch_with(self, artifact: Mapping[str, Any], account: ArtifactAccount) -> bytes:
        artifact_type = artifact.get("type")
        if artifact_type == "embedded/base64":
            return fetch_embedded(artifact)
        if artifact_type == "http/file" and isinstance(account, HttpAccount):
            return fetch_http_file(artifact, account, self.http)
        if artifact_type == "github/file" and isinstance(account, GitHubAccount):
            return fetch_github_file(artifact, account, self.http)
        if artifact_type == "gitlab/file" and isinstance(account, GitLabAccount):
            return fetch_gitlab_file(artifact, account, self.http)
        if artifact_type == "helm/chart" and isinstance(account, HelmAccount):
            return fetch_helm_chart(artifact, account, self.http)
        if artifact_type == "git/repo" and isinstance(account, GitRepoAccount):
            return self.git.fetch(artifact, account)
        if artifact_type == "s3/object" and isinstance(account, S3Account):
            return self.s3.fetch(artifact, account)
        if artifact_type == "gcs/object" and isinstance(account, GcsAccount):
            return self.gcs.fetch(artifact, account)
        if artifact_type == "docker/image":
            raise FetchProblem(
                "docker/image artifacts are image references to bind into manifests; they have no content"
            )
        raise FetchProblem(f"fetching {artifact_type} artifacts is not supported")
