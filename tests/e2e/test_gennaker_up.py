"""`gennaker up` as users run it: one process serving the API and UI with authentication on, and the CLI
working against it after `gennaker login` (issue 4, items 1, 4 and 7)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "GENNAKER_DATA_DIR": str(tmp_path / "data"),
        "GENNAKER_CONFIG_DIR": str(tmp_path / "cli"),
        "GENNAKER_ADMIN_PASSWORD": "admin-password-1",
    }
    for name in ("GENNAKER_DATABASE_URL", "GENNAKER_URL", "GENNAKER_TOKEN"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gennaker.cli", "up", "--port", str(port), "--load-examples", str(EXAMPLES)],
        env=env,
        stdout=subprocess.PIPE,
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
        output, _ = process.communicate(timeout=30)
        assert "admin-password-1" not in output


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gennaker.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_up_serves_the_api_and_ui_with_auth_and_the_cli_works_against_it(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    assert httpx.get(f"{url}/applications").status_code == 401
    assert httpx.get(f"{url}/ui/applications", follow_redirects=False).headers["location"].startswith("/ui/login")
    admin = httpx.get(f"{url}/auth/user", auth=("admin", "admin-password-1")).json()
    assert admin["admin"] is True
    token = cli(env, "token", "create", "e2e", "--user", "admin").strip()
    cli(env, "login", url, "--token", token)
    execution = json.loads(
        cli(env, "pipeline", "execute", "demo", "hello", "-p", "environment=production", "--wait", "-o", "json")
    )
    assert {s["refId"]: s["status"] for s in execution["stages"]}["2"] == "RUNNING"
    cli(env, "execution", "judge", execution["id"], "Approve", "--judgment", "continue", "--input", "ship")
    deadline = time.monotonic() + 20
    while json.loads(cli(env, "execution", "get", execution["id"], "-o", "json"))["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.2)
    audit = json.loads(cli({k: v for k, v in env.items()}, "audit", "list", "-o", "json"))
    assert any(e["user"] == "admin" and e["resource"].endswith("/stages/Approve") for e in audit)
