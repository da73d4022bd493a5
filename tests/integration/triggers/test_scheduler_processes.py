"""Three `gennaker scheduler` processes on one database fire each cron time exactly once: every second of a
`* * * * * ?` trigger starts one execution, none twice and none skipped, on PostgreSQL and on SQLite."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from tests.support import make_runtime, pipeline, wait_for

pytestmark = pytest.mark.slow
SCHEDULERS = 3


def run_schedulers(rt: Runtime, tmp_path: Path, database_url: str) -> list[int]:
    """The scheduled times (ms) of the executions three scheduler processes started in a few seconds."""
    AuthService(rt.db).add_user("ops", None, ["ops"])
    with rt.db.transaction() as conn:
        rt.applications.save(conn, "demo", {"permissions": {"READ": ["ops"], "EXECUTE": ["ops"]}}, "admin")
    triggers = [{"type": "cron", "id": "every-second", "cronExpression": "* * * * * ?"}]
    rt.save_pipeline(pipeline("ticker", [{"refId": "1", "type": "wait", "waitTime": 0}], triggers=triggers), "ops")
    env = {**os.environ, "GENNAKER_DATA_DIR": str(tmp_path), "GENNAKER_DATABASE_URL": database_url}
    env.pop("GENNAKER_CONFIG", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gennaker.cli", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"scheduler-{i}.log").open("w"),
        )
        for i in range(SCHEDULERS)
    ]

    def started() -> list[int]:
        with rt.db.read() as conn:
            return [e["trigger"]["scheduledTime"] for e in rt.executions.list_json(conn, "demo", limit=1000)]

    try:
        wait_for(lambda: len(started()) >= 6, timeout=60, what="six cron fires")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    time.sleep(0.2)
    return sorted(started())


def assert_each_second_once(times: list[int]) -> None:
    assert len(times) == len(set(times)), "a fire time started more than one execution"
    assert all(later - earlier == 1000 for earlier, later in itertools.pairwise(times)), times


@pytest.mark.postgres
def test_three_schedulers_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    rt = make_runtime(tmp_path, postgres_url)
    assert_each_second_once(run_schedulers(rt, tmp_path, postgres_url))
    rt.close()


def test_three_schedulers_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gennaker.db'}"
    rt = make_runtime(tmp_path, url)
    assert_each_second_once(run_schedulers(rt, tmp_path, url))
    rt.close()
