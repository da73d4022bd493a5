"""Crash safety and scale-out: real worker processes, SIGKILL, several workers on one PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from gennaker.runtime import Runtime
from gennaker.store.tables import execution_events
from tests.support import make_runtime, pipeline, wait_for

REPO = Path(__file__).resolve().parents[3]


def fan_in_pipeline(name: str, polls: int) -> dict:
    branches = [
        {"refId": f"p{i}", "type": "testPoll", "polls": polls, "requisiteStageRefIds": ["start"]} for i in range(3)
    ]
    return pipeline(
        name,
        [
            {"refId": "start", "type": "wait", "waitTime": 0},
            *branches,
            {"refId": "join", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["p0", "p1", "p2"]},
        ],
    )


def effects_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE effects(key TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE attempts(key TEXT)")
    return path


def spawn_worker(database_url: str, data_dir: Path, effects: Path, threads: int = 1) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GENNAKER_DATABASE_URL": database_url,
        "GENNAKER_DATA_DIR": str(data_dir),
        "GENNAKER_TASK_LEASE_MS": "1500",
        "EFFECTS_DB": str(effects),
        "WORKER_THREADS": str(threads),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen([sys.executable, "-m", "tests.integration.engine.worker_process"], env=env, cwd=REPO)


def counts(rt: Runtime) -> Counter[str]:
    with rt.db.read() as conn:
        return Counter(rt.executions.status_counts(conn))


def assert_each_transition_once(rt: Runtime) -> None:
    with rt.db.read() as conn:
        rows = conn.execute(
            sa.select(
                execution_events.c.execution_id,
                execution_events.c.stage_id,
                execution_events.c.task_id,
                execution_events.c.type,
            )
        ).all()
    repeated = [key for key, n in Counter(tuple(r) for r in rows).items() if n > 1]
    assert not repeated, f"state transitions applied more than once: {repeated[:5]}"


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_finishes_everything_once(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path)
    url = rt.settings.database_url
    effects = effects_db(tmp_path / "effects.db")
    rt.save_pipeline(fan_in_pipeline("crashy", polls=3), "tester")
    ids = [rt.start_pipeline("demo", "crashy", {}, "tester") for _ in range(200)]

    first = spawn_worker(url, tmp_path, effects)
    try:
        wait_for(lambda: counts(rt)["SUCCEEDED"] >= 20, 60, "some executions to finish")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert counts(rt)["SUCCEEDED"] < 200, "the crash must happen mid-run"

    second = spawn_worker(url, tmp_path, effects)
    try:
        wait_for(lambda: counts(rt)["SUCCEEDED"] == 200, 180, "all executions to finish after the restart")
    finally:
        second.terminate()
        second.wait(timeout=30)

    with sqlite3.connect(effects) as conn:
        recorded = [k for (k,) in conn.execute("SELECT key FROM effects")]
    with rt.db.read() as conn:
        finished = [rt.executions.get_json(conn, execution_id) for execution_id in ids]
    polled_stages = {f"{e['id']}/{s['id']}" for e in finished if e for s in e["stages"] if s["type"] == "testPoll"}
    assert len(polled_stages) == 600
    assert sorted(recorded) == sorted(polled_stages), "each task's final side effect is recorded exactly once"
    assert_each_transition_once(rt)
    rt.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_share_300_executions_without_double_transitions(tmp_path: Path, postgres_url: str) -> None:
    rt = make_runtime(tmp_path, postgres_url)
    effects = effects_db(tmp_path / "effects.db")
    rt.save_pipeline(fan_in_pipeline("shared", polls=2), "tester")
    for _ in range(300):
        rt.start_pipeline("demo", "shared", {}, "tester")
    workers = [spawn_worker(postgres_url, tmp_path, effects, threads=2) for _ in range(3)]
    try:
        wait_for(lambda: counts(rt)["SUCCEEDED"] == 300, 240, "all 300 executions to finish")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    assert_each_transition_once(rt)
    with sqlite3.connect(effects) as conn:
        assert conn.execute("SELECT count(*) FROM effects").fetchone()[0] == 900
    rt.close()
