from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from gennaker.artifacts import ArtifactFetcher, artifact_accounts
from gennaker.artifacts.fetchers import loopback_only_guard

MakeFetcher = Callable[..., ArtifactFetcher]


def local_client() -> httpx.Client:
    """No proxies from the environment: tests only ever talk to 127.0.0.1."""
    return httpx.Client(timeout=5.0, trust_env=False, follow_redirects=False)


@pytest.fixture
def make_fetcher(tmp_path: Path) -> MakeFetcher:
    """A fetcher over the given `artifacts:` section that refuses anything but loopback addresses."""

    def make(section: Mapping[str, Any] | None = None, **options: Any) -> ArtifactFetcher:
        options.setdefault("git_cache_dir", tmp_path / "git-cache")
        options.setdefault("local_git_paths", [tmp_path])
        return ArtifactFetcher(
            artifact_accounts(section or {}), client_factory=local_client, guard=loopback_only_guard(), **options
        )

    return make
