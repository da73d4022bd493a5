"""Fetching artifact contents, one module per artifact type, behind `ArtifactFetcher`."""

from gennaker.artifacts.fetchers.core import ArtifactFetcher, ArtifactFetchError, Fetch
from gennaker.artifacts.fetchers.guard import (
    ConnectGuard,
    OutboundConfigError,
    OutboundPolicy,
    loopback_only_guard,
    public_only_guard,
)
from gennaker.artifacts.fetchers.http_client import ClientFactory, default_client_factory

__all__ = [
    "ArtifactFetchError",
    "ArtifactFetcher",
    "ClientFactory",
    "ConnectGuard",
    "Fetch",
    "OutboundConfigError",
    "OutboundPolicy",
    "default_client_factory",
    "loopback_only_guard",
    "public_only_guard",
]
