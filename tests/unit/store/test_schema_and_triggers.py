"""The migrations create exactly the tables `store/tables.py` declares; trigger events are unique by key and
poller leases are held by one owner at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gennaker.store.database import Database
from gennaker.store.pipelines import PipelineStore
from gennaker.store.tables import metadata
from gennaker.store.triggers import FIRED, SKIPPED, TriggerEvent, TriggerStore


def database(tmp_path: Path, url: str | None) -> Database:
    db = Database(url or f"sqlite:///{tmp_path / 'triggers.db'}")
    db.migrate()
    return db


def test_migrations_create_exactly_the_declared_schema(tmp_path: Path) -> None:
    db = database(tmp_path, None)
    with db.read() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    db.dispose()


def check_events_and_leases(db: Database) -> None:
    store = TriggerStore()
    fire = TriggerEvent("cron:p1:t1:1000", "p1", "shop", "cron", FIRED, execution_id="e1")
    with db.transaction() as conn:
        assert store.record(conn, fire, now=1)
        assert not store.record(conn, fire, now=2)  # a second scheduler sees the key taken
        assert store.record(conn, TriggerEvent("git:abc:p1", "p1", "shop", "git", SKIPPED, reason="branch"), now=3)
    with db.read() as conn:
        history = store.history(conn, "p1")
    assert [(h["type"], h["outcome"], h["reason"]) for h in history] == [
        ("git", "skipped", "branch"),
        ("cron", "fired", None),
    ]
    with db.transaction() as conn:
        assert store.state(conn, "docker:hub/shop") is None
        assert store.try_lease(conn, "docker:hub/shop", "a", now=1000, ttl_ms=500)
        assert not store.try_lease(conn, "docker:hub/shop", "b", now=1200, ttl_ms=500)
        assert store.try_lease(conn, "docker:hub/shop", "a", now=1300, ttl_ms=500)  # the owner renews
        assert store.try_lease(conn, "docker:hub/shop", "b", now=1900, ttl_ms=500)  # after it lapsed
        assert store.state(conn, "docker:hub/shop") is None  # a lease is not a first poll
        store.save_state(conn, "docker:hub/shop", {"tags": ["1.0"]}, now=1901)
        assert store.state(conn, "docker:hub/shop") == {"tags": ["1.0"]}


def test_events_and_leases_on_sqlite(tmp_path: Path) -> None:
    db = database(tmp_path, None)
    check_events_and_leases(db)
    db.dispose()


@pytest.mark.postgres
def test_events_and_leases_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    db = database(tmp_path, postgres_url)
    check_events_and_leases(db)
    db.dispose()


def test_configs_mentioning_a_text_are_found_in_the_database(tmp_path: Path) -> None:
    db = database(tmp_path, None)
    store = PipelineStore()
    odd = 'id "with" 100%_\\ quirks é'
    waiting = {"type": "pipeline", "pipeline": odd, "status": ["successful"]}
    with db.transaction() as conn:
        store.save(conn, {"application": "shop", "name": "child", "triggers": [waiting], "stages": []}, "u")
        store.save(conn, {"application": "shop", "name": "other", "description": "id with 100 quirks"}, "u")
        assert [c["name"] for c in store.mentioning(conn, odd)] == ["child"]
        assert store.mentioning(conn, "with 1%") == []  # % is a character here, not a wildcard
    db.dispose()
