"""What `pip install` gives: a wheel built from a clean clone, installed in a fresh virtual environment with no
npm, serves a UI whose pages update live (issue 15, item 4). An execution page opened while the execution
runs shows, without a reload, the judgment it waits for, and then its success."""

from __future__ import annotations

import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_PASSWORD, CHROMIUM, REPO, running_server
from tests.e2e.test_browser import sign_in
from tests.integration.auth.conftest import basic

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make system-packages)"),
]
STATIC_FILES = ("ui/static/vendor/htmx.min.js", "ui/static/vendor/sse.js", "ui/static/app.js", "ui/static/app.css")
JUDGED = {
    "application": "shop",
    "name": "judged",
    "stages": [
        {"refId": "1", "type": "wait", "name": "Settle", "waitTime": 2},
        {"refId": "2", "type": "manualJudgment", "name": "Approve", "requisiteStageRefIds": ["1"]},
    ],
}


def run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The python of a fresh virtual environment holding the wheel built from a clean clone of HEAD."""
    work = tmp_path_factory.mktemp("wheel")
    clone = work / "clone"
    run("git", "clone", "--quiet", "--no-local", REPO, clone)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", work / "dist", clone)
    [wheel] = (work / "dist").glob("gennaker-*.whl")
    names = run(sys.executable, "-m", "zipfile", "--list", wheel)
    for static in STATIC_FILES:
        assert f"gennaker/{static}" in names, f"{static} is missing from the wheel"
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "-c", REPO / "requirements.lock", wheel)
    located = run(python, "-c", "import gennaker; print(gennaker.__file__)", cwd=work)
    assert located.startswith(str(work / "venv")), located
    yield python


def test_the_installed_wheel_serves_a_live_ui(installed: Path, tmp_path: Path, browser: object) -> None:
    with running_server(tmp_path, python=str(installed)) as (url, _):
        for static in STATIC_FILES:
            assert httpx.get(f"{url}/{static}").status_code == 200, static
        page = sign_in(browser, url, "admin", ADMIN_PASSWORD)
        admin = basic("admin", ADMIN_PASSWORD)
        assert httpx.post(f"{url}/pipelines", json=JUDGED, headers=admin).status_code == 200
        started = httpx.post(f"{url}/pipelines/shop/judged", json={}, headers=admin).json()
        page.goto(f"{url}/ui/executions/{started['ref'].rsplit('/', 1)[-1]}")
        expect(page.locator(".summary .status")).to_have_text("RUNNING")
        continue_button = page.locator("button[name=judgment][value=continue]")
        expect(continue_button).to_be_visible(timeout=20_000)  # through the live stream: the page is not reloaded
        continue_button.click()
        expect(page.locator(".summary .status")).to_have_text("SUCCEEDED", timeout=20_000)
        page.context.close()  # ends the page's event stream, which would hold the server's shutdown
