"""Fixtures for the polled triggers: a real Docker registry (plain, Basic, token) and the Kubernetes emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulators.kube import KubeEmulator
from tests.integration.triggers.registry import DockerRegistry, TokenServer

USERS = {"ci": "s3cret-registry-password"}
LOOPBACK = {"outbound": {"allowNetworks": ["127.0.0.0/8"]}}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[DockerRegistry]:
    """A registry without authentication."""
    with DockerRegistry(directory(tmp_path, "plain")) as running:
        yield running


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[DockerRegistry]:
    """A registry with htpasswd (Basic) authentication for `USERS`."""
    with DockerRegistry(directory(tmp_path, "basic"), htpasswd=USERS) as running:
        yield running


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    with TokenServer(directory(tmp_path, "token"), USERS) as server:
        yield server


@pytest.fixture
def token_registry(tmp_path: Path, token_server: TokenServer) -> Iterator[DockerRegistry]:
    """A registry with token authentication whose realm is `token_server` on the same host."""
    with DockerRegistry(directory(tmp_path, "bearer"), token=token_server) as running:
        yield running


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


def directory(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path
