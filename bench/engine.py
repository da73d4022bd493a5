"""Engine benchmarks (issue 2): stage throughput, trigger latency, parked executions.

    python bench/engine.py [--json] [--executions 200] [--parked 10000] [--skip-postgres]

Prints one line per figure and, with --json, one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from gennaker.runtime import Runtime, Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def fan_pipeline(name: str) -> dict[str, Any]:
    """20 no-op stages: 1, fan-out 5, join, fan-out 5, join, fan-out 5, join, 1."""
    stages: list[dict[str, Any]] = []
    previous = ["s0"]
    stages.append({"refId": "s0", "type": "wait", "waitTime": 0})
    for layer in range(3):
        branch_ids = [f"b{layer}_{i}" for i in range(5)]
        stages += [{"refId": b, "type": "wait", "waitTime": 0, "requisiteStageRefIds": previous} for b in branch_ids]
        join = f"j{layer}"
        stages.append({"refId": join, "type": "wait", "waitTime": 0, "requisiteStageRefIds": branch_ids})
        previous = [join]
    stages.append({"refId": "last", "type": "wait", "waitTime": 0, "requisiteStageRefIds": previous})
    assert len(stages) == 20
    return {"application": "bench", "name": name, "stages": stages}


def wait_all_done(rt: Runtime, total: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.read() as conn:
            counts = rt.executions.status_counts(conn)
        if counts.get("SUCCEEDED", 0) >= total:
            return
        if counts.get("TERMINAL") or counts.get("CANCELED"):
            raise RuntimeError(f"benchmark executions failed: {counts}")
        time.sleep(0.05)
    raise TimeoutError("benchmark executions did not finish")


def throughput(rt: Runtime, executions: int, start_workers: Any, warm_up_s: float = 0.0) -> float:
    """Start the workers, then queue `executions` runs of the fan pipeline at once and time them all."""
    config = rt.save_pipeline(fan_pipeline("fan"), "bench")
    start_workers()
    time.sleep(warm_up_s)  # let worker processes import and connect before the clock starts
    started = time.perf_counter()
    with rt.db.transaction() as conn:
        for _ in range(executions):
            rt.launcher.start(conn, config, {"type": "manual"}, "bench")
    rt.wakeup.notify()
    wait_all_done(rt, executions)
    return executions * 20 / (time.perf_counter() - started)


def trigger_latency(rt: Runtime, samples: int) -> tuple[float, float]:
    """ms from the start request to the first stage RUNNING, with an idle engine."""
    rt.save_pipeline(
        {"application": "bench", "name": "latency", "stages": [{"refId": "1", "type": "manualJudgment"}]}, "bench"
    )
    latencies = []
    for _ in range(samples):
        requested = time.time() * 1000
        execution_id = rt.start_pipeline("bench", "latency", {}, "bench")
        while True:
            with rt.db.read() as conn:
                events = rt.executions.events(conn, execution_id)
            started = [e["at"] for e in events if e["type"] == "StageStarted"]
            if started:
                latencies.append(started[0] - requested)
                break
            time.sleep(0.001)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parked(rt: Runtime, count: int) -> tuple[float, float]:
    """`count` executions waiting at a judgment: process RSS and the time to list the newest 50."""
    rt.save_pipeline(
        {"application": "parked", "name": "judge", "stages": [{"refId": "1", "type": "manualJudgment"}]}, "bench"
    )
    for _ in range(count):
        rt.start_pipeline("parked", "judge", {}, "bench")
    while True:
        with rt.db.read() as conn:
            counts = rt.executions.status_counts(conn)
            stats = rt.queue.stats(conn, int(time.time() * 1000))
        if counts.get("RUNNING", 0) >= count and stats["due"] == 0:
            break
        time.sleep(0.2)
    timings = []
    for _ in range(20):
        begin = time.perf_counter()
        with rt.db.read() as conn:
            listed = rt.executions.list_json(conn, "parked", limit=50)
        timings.append((time.perf_counter() - begin) * 1000)
        assert len(listed) == 50
    return rss_mb(), statistics.median(timings)


def sqlite_runtime(directory: Path) -> Runtime:
    return Runtime(Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'bench.db'}"))


class PostgresDatabase:
    """A throw-away database on the local PostgreSQL server."""

    def __init__(self, name: str):
        self.name = name
        self.url = f"postgresql://postgres@127.0.0.1:5432/{name}"

    def __enter__(self) -> PostgresDatabase:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *_: object) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def postgres_figures(executions: int, work: Path) -> dict[str, float]:
    figures = {}
    with PostgresDatabase(f"gennaker_bench_{os.getpid()}_a") as db:
        rt = Runtime(Settings(data_dir=work / "pg1", database_url=db.url, worker_threads=2))
        figures["postgres_stages_per_s"] = throughput(rt, executions, lambda: rt.start_workers(2))
        rt.close()
    with PostgresDatabase(f"gennaker_bench_{os.getpid()}_b") as db:
        rt = Runtime(Settings(data_dir=work / "pg2", database_url=db.url))
        env = {**os.environ, "GENNAKER_DATABASE_URL": db.url, "GENNAKER_DATA_DIR": str(work / "pg2")}
        processes: list[subprocess.Popen[bytes]] = []

        def start() -> None:
            for _ in range(2):
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "gennaker.cli", "worker", "--threads", "2"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

        try:
            figures["postgres_2workers_stages_per_s"] = throughput(rt, executions, start, warm_up_s=5.0)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
            rt.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--parked", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rt = sqlite_runtime(work / "throughput")
        figures["sqlite_stages_per_s"] = throughput(rt, args.executions, lambda: rt.start_workers(1))
        rt.close()
        rt = sqlite_runtime(work / "latency")
        rt.start_workers(1)
        figures["trigger_p50_ms"], figures["trigger_p99_ms"] = trigger_latency(rt, args.latency_samples)
        rt.close()
        if not args.skip_postgres:
            figures.update(postgres_figures(args.executions, work))
        rt = sqlite_runtime(work / "parked")
        rt.start_workers(1)
        figures["parked_rss_mb"], figures["list50_ms"] = parked(rt, args.parked)
        rt.close()
    targets = {
        "sqlite_stages_per_s": ">= 500",
        "trigger_p50_ms": "<= 20",
        "parked_rss_mb": "<= 150",
        "list50_ms": "<= 50",
    }
    for key, value in figures.items():
        print(f"{key:34s} {value:10.1f}   target {targets.get(key, '-')}")
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
