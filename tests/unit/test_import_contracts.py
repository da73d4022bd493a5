"""The import rules of docs/architecture.md hold (`[tool.importlinter]` in pyproject.toml): the core knows no
front end, the pages and the CLI do not reach into the API's routes, the front ends use no SQLAlchemy of their
own, the model is the bottom layer. And the front ends open no transactions: the service does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRONT_ENDS = ("api", "ui", "cli")
# A transaction or read opened on a database (`rt.db.read()`, `self.db.transaction()`), or SQLAlchemy itself.
DATABASE_WORK = re.compile(r"\bdb\.(read|transaction)\(|^\s*(from|import) sqlalchemy\b", re.MULTILINE)


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout and "6 kept, 0 broken" in done.stdout


def test_the_front_ends_leave_the_database_to_the_service() -> None:
    """Routes, pages and commands call `gennaker.service`, which owns transactions and permission checks."""
    offending = [
        f"{path.relative_to(ROOT)}:{text[: found.start()].count(chr(10)) + 1}: {found.group(0).strip()}"
        for package in FRONT_ENDS
        for path in sorted((ROOT / "src" / "gennaker" / package).rglob("*.py"))
        for text in [path.read_text()]
        for found in DATABASE_WORK.finditer(text)
    ]
    assert offending == []


def test_the_database_check_finds_what_it_looks_for() -> None:
    samples = ["    with rt.db.read() as conn:", "with self.rt.db.transaction() as c:", "from sqlalchemy import text"]
    assert all(DATABASE_WORK.search(sample) for sample in samples)
    assert not DATABASE_WORK.search("rt.service.executions.get(execution_id, who)")
