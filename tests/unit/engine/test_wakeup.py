"""Wake-ups between processes on PostgreSQL: every other process is woken, the sender only by itself."""

from __future__ import annotations

import threading

import psycopg

from gennaker.engine.wakeup import CHANGES_CHANNEL, CHANNEL, PostgresWakeup


def test_a_wake_up_reaches_the_other_processes_and_not_the_senders_own_listener_again(postgres_url: str) -> None:
    sender, other = PostgresWakeup(postgres_url), PostgresWakeup(postgres_url)
    marker_seen = threading.Event()
    sender.subscribe(lambda ids: marker_seen.set() if ids == ["marker"] else None)
    sender.listen()
    other.listen()
    try:
        seen_sender, seen_other = sender.generation(), other.generation()
        with psycopg.connect(postgres_url) as conn:  # a committing transaction's wake-up, as the worker sends it
            conn.execute(sender.notify_sql())
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"NOTIFY {CHANGES_CHANNEL}, 'marker'")
        other.wait(seen_other, 10)
        assert other.generation() == seen_other + 1
        # A listener gets notifications in commit order: with the marker in, the sender has had its echo.
        assert marker_seen.wait(10)
        assert sender.generation() == seen_sender
        # One from elsewhere (another version, psql) wakes everyone.
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"NOTIFY {CHANNEL}")
        sender.wait(seen_sender, 10)
        assert sender.generation() == seen_sender + 1
    finally:
        sender.close()
        other.close()
