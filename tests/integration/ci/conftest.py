"""A Jenkins emulator and runtimes configured with it as master `ci` (loopback allowed by `outbound`)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gennaker.runtime import Runtime
from tests.emulators.jenkins import JenkinsEmulator
from tests.support import make_runtime

USER, SECRET = "deploy-bot", "s3cret-token"
RuntimeFor = Callable[..., Runtime]


@pytest.fixture
def jenkins() -> Iterator[JenkinsEmulator]:
    with JenkinsEmulator(username=USER, password=SECRET) as emulator:
        yield emulator


def jenkins_config(address: str, *, section: dict[str, Any] | None = None, **master: Any) -> dict[str, Any]:
    entry = {"name": "ci", "address": address, "username": USER, "password": SECRET, **master}
    entry = {k: v for k, v in entry.items() if v is not None}
    return {
        "ci": {"jenkins": {"masters": [entry], "maxPollIntervalSeconds": 0.2, **(section or {})}},
        "outbound": {"allowNetworks": ["127.0.0.0/8"]},
    }


@pytest.fixture
def runtime_for(tmp_path: Path) -> Iterator[RuntimeFor]:
    """`runtime_for(config, enforce_permissions=False)`: a runtime with one worker, closed after the test."""
    made: list[Runtime] = []

    def make(config: dict[str, Any], enforce_permissions: bool = False) -> Runtime:
        rt = make_runtime(tmp_path / f"rt{len(made)}", config=config, enforce_permissions=enforce_permissions)
        rt.start_workers(1)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
