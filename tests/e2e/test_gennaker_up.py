"""`gennaker up` as users run it: one process serving the API and UI with authentication on, and the CLI
working against it after `gennaker login` (issue 4, items 1, 4 and 7)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.e2e.conftest import cli


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
