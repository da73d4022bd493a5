"""SQLite durability: WAL with synchronous NORMAL by default, FULL on request, anything else refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gennaker.settings import ConfigError, Settings
from gennaker.store.database import Database

# PRAGMA synchronous answers a number: 1 is NORMAL, 2 is FULL.
PRAGMA_VALUES = {"NORMAL": 1, "FULL": 2}


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_sqlite_runs_wal_with_the_chosen_synchronous(tmp_path: Path, synchronous: str) -> None:
    db = Database(f"sqlite:///{tmp_path / 'g.db'}", synchronous=synchronous)
    try:
        with db.transaction() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == PRAGMA_VALUES[synchronous]
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == PRAGMA_VALUES[synchronous]
    finally:
        db.dispose()


def test_an_unknown_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Database(f"sqlite:///{tmp_path / 'g.db'}", synchronous="OFF")


def test_settings_read_the_synchronous_setting(tmp_path: Path) -> None:
    base = {"GENNAKER_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).sqlite_synchronous == "NORMAL"
    assert Settings.from_env({**base, "GENNAKER_SQLITE_SYNCHRONOUS": "full"}).sqlite_synchronous == "FULL"
    with pytest.raises(ConfigError, match="GENNAKER_SQLITE_SYNCHRONOUS"):
        Settings.from_env({**base, "GENNAKER_SQLITE_SYNCHRONOUS": "OFF"})


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("GENNAKER_TASK_THREADS", "", "external_task_threads", 32),
        ("GENNAKER_TASK_THREADS", " 4 ", "external_task_threads", 4),
        ("GENNAKER_TASK_LEASE_MS", "1500", "task_lease_ms", 1500),
    ],
)
def test_settings_read_whole_numbers(tmp_path: Path, name: str, value: str, field: str, expected: int) -> None:
    settings = Settings.from_env({"GENNAKER_DATA_DIR": str(tmp_path), name: value})
    assert getattr(settings, field) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [("GENNAKER_TASK_THREADS", "0"), ("GENNAKER_TASK_THREADS", "-3"), ("GENNAKER_TASK_THREADS", "many"),
     ("GENNAKER_TASK_THREADS", "257"), ("GENNAKER_TASK_THREADS", "²"),
     ("GENNAKER_TASK_LEASE_MS", "10"), ("GENNAKER_TASK_LEASE_MS", "1e6")],
)
def test_settings_refuse_bad_whole_numbers_by_name(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: must be a whole number from"):
        Settings.from_env({"GENNAKER_DATA_DIR": str(tmp_path), name: value})
