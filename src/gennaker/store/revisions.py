"""Whether a database is at the newest migration, answered without Alembic.

Importing Alembic and having it read its scripts costs a fifth of a second at every process start, nearly always
to find nothing to do. The newest revision is read from the scripts' `revision` and `down_revision` lines; when
that is not one plain chain (a merge, a branch, a line written another way) the answer is "unknown" and
`Database.migrate` runs Alembic as before.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']\s*$""", re.M)
DOWN_REVISION = re.compile(r"""^down_revision\s*=\s*(?:None|["']([^"']+)["'])\s*$""", re.M)
MAX_SCRIPTS = 1000  # far more migrations than a project has; beyond it, Alembic decides


def head(versions: Path) -> str | None:
    """The one newest revision of the scripts in `versions`, or None when the scripts do not say it plainly."""
    revisions: set[str] = set()
    parents: set[str] = set()
    scripts = sorted(versions.glob("*.py"))
    if not scripts or len(scripts) > MAX_SCRIPTS:
        return None
    for script in scripts:
        text = script.read_text()
        revision, down = REVISION.findall(text), DOWN_REVISION.findall(text)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def at_head(conn: Connection, versions: Path) -> bool:
    """True only when the database records exactly the scripts' newest revision."""
    newest = head(versions)
    if newest is None or not sa.inspect(conn).has_table("alembic_version"):
        return False
    recorded = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(recorded) == [newest]
