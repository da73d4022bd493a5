"""`gennaker up` started as users start it, on a temporary database, with a known admin password."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright import sync_api

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ADMIN_PASSWORD = "admin-password-1"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with running_server(tmp_path) as started:
        yield started


@contextmanager
def running_server(
    tmp_path: Path, python: str = sys.executable, **extra_env: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """`gennaker up` run by `python` on a free port and a database under `tmp_path`, from `tmp_path` (so only
    the installed package is importable); yields its URL and environment."""
    port = free_port()
    env = {
        **os.environ,
        "GENNAKER_DATA_DIR": str(tmp_path / "data"),
        "GENNAKER_CONFIG_DIR": str(tmp_path / "cli"),
        "GENNAKER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **extra_env,
    }
    for name in ("GENNAKER_DATABASE_URL", "GENNAKER_URL", "GENNAKER_TOKEN"):
        env.pop(name, None)
    log = tmp_path / "gennaker-up.log"  # a file, not a pipe: a full pipe would stall a chatty server
    process = subprocess.Popen(
        [python, "-m", "gennaker.cli", "up", "--port", str(port), "--load-examples", str(EXAMPLES)],
        env=env,
        cwd=tmp_path,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("gennaker up did not answer /health")
        yield url, env
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert ADMIN_PASSWORD not in log.read_text()


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gennaker.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
