"""The newest migration read without Alembic: the same answer as Alembic's, or "unknown" and Alembic decides."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from gennaker.store import revisions
from gennaker.store.database import MIGRATIONS, Database


def script(folder: Path, revision: str, down: str | None, down_text: str | None = None) -> None:
    down_line = down_text or (f'down_revision = "{down}"' if down else "down_revision = None")
    (folder / f"{revision}_step.py").write_text(f'"""Step."""\n\nrevision = "{revision}"\n{down_line}\n')


def test_the_head_of_the_real_migrations_is_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert revisions.head(MIGRATIONS / "versions") == ScriptDirectory.from_config(config).get_current_head()


def test_a_plain_chain_has_its_last_revision_as_head(tmp_path: Path) -> None:
    script(tmp_path, "a1", None)
    script(tmp_path, "b2", "a1")
    script(tmp_path, "c3", "b2")
    assert revisions.head(tmp_path) == "c3"


@pytest.mark.parametrize(
    "layout",
    [
        [("a1", None, None), ("b2", "a1", None), ("c3", "a1", None)],  # two branches
        [("a1", None, None), ("b2", "a1", 'down_revision = ("a1", "x9")')],  # a merge
        [("b2", "a1", None)],  # a parent that is not there
        [],  # no scripts
    ],
    ids=["branches", "merge", "dangling parent", "empty"],
)
def test_anything_but_one_plain_chain_is_left_to_alembic(
    tmp_path: Path, layout: list[tuple[str, str | None, str | None]]
) -> None:
    for revision, down, text in layout:
        script(tmp_path, revision, down, text)
    assert revisions.head(tmp_path) is None


def test_at_head_only_when_the_database_records_the_newest_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'g.db'}")
    versions = MIGRATIONS / "versions"
    try:
        with db.read() as conn:
            assert not revisions.at_head(conn, versions)  # a new database: Alembic must run
        db.migrate()
        with db.read() as conn:
            assert revisions.at_head(conn, versions)
        with db.transaction() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
        with db.read() as conn:
            assert not revisions.at_head(conn, versions)  # an older database: Alembic must run
    finally:
        db.dispose()
