"""What `gennaker up` loads before it answers: libraries only some deployments use (PostgreSQL's driver and
dialect, LDAP, OIDC, numpy for canary judgments) and Alembic on an up-to-date database stay unloaded, as the
start-up time and idle memory targets of docs/operations.md need (bench/startup.py measures them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

OPTIONAL = ("numpy", "psycopg", "ldap3", "authlib", "joserfc", "alembic", "sqlalchemy.dialects.postgresql")


def loaded_after(code: str) -> set[str]:
    """The OPTIONAL modules a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_server_command_imports_no_optional_library() -> None:
    assert loaded_after("import gennaker.cli.server") == set()


def test_an_up_to_date_database_starts_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    start = f"from gennaker.store.database import Database\nDatabase({url!r}).migrate()"
    assert "alembic" in loaded_after(start)  # a new database is migrated by Alembic
    assert loaded_after(start) == set()  # then it is at the newest revision
