"""The import rules of docs/architecture.md hold (`[tool.importlinter]` in pyproject.toml): the core knows no
front end, the pages and the CLI do not reach into the API's routes, the model is the bottom layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout and "4 kept, 0 broken" in done.stdout
