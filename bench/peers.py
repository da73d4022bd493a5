"""Gennaker next to DBOS Transact (durable Python workflows, one checkpoint per step) on the same workloads
and the same databases (issue 17), in interleaved rounds, printing Gennaker ÷ DBOS.

    pip install -e '.[peers]'
    python bench/peers.py [--json] [--executions 100] [--rounds 1] [--skip-postgres]

Workloads, each `--executions` runs started at once:
- `external10`: 10 steps in sequence that each POST to a local endpoint answering at once. Gennaker runs
  `webhook` stages (the external path: leased, called outside the transaction, the answer applied after);
  DBOS runs a workflow of 10 steps, each calling the endpoint with a shared keep-alive HTTP client.
- `noop10`: 10 steps that do nothing: `wait: 0` stages (run inline) against DBOS steps returning at once.
- `external200`: as `external10` with 200 steps and a twentieth of the runs (the same number of steps).

SQLite runs in WAL mode with synchronous=NORMAL for both; PostgreSQL is the server on 127.0.0.1:5432 (a
database of each run's own, dropped after). Gennaker runs one worker process (`bench/workload.py worker`),
DBOS its own process; write transactions are counted the same way for both (`workload.WriteCounter`).
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

from engine import measured
from workload import Endpoint, PostgresDatabase, WriteCounter, wait_pipeline, webhook_pipeline

WORKLOADS = {"external10": (10, True, 1), "noop10": (10, False, 1), "external200": (200, True, 20)}


def gennaker(work: Path, url: str, workload: str, endpoint: str, executions: int) -> tuple[float, float]:
    length, external, divisor = WORKLOADS[workload]
    pipeline = webhook_pipeline(workload, endpoint, length) if external else wait_pipeline(workload, length)
    threads = 1 if url.startswith("sqlite") else 2
    return measured(work, url, pipeline, max(1, executions // divisor), threads=threads)


def dbos(url: str, workload: str, endpoint: str, executions: int) -> tuple[float, float]:
    """Run DBOS in a process of its own (it keeps one global instance per process)."""
    answer = subprocess.run(
        [sys.executable, __file__, "dbos", url, workload, endpoint, str(executions)],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"the DBOS run failed:\n{answer.stderr[-3000:]}")
    rate, writes = answer.stdout.split()[-2:]
    return float(rate), float(writes)


def _dbos_process(url: str, workload: str, endpoint: str, executions: int) -> None:
    import httpx
    import sqlalchemy as sa
    from dbos import DBOS
    from sqlalchemy import event

    length, external, divisor = WORKLOADS[workload]
    runs = max(1, executions // divisor)
    client = httpx.Client(trust_env=False)

    @DBOS.step()
    def call(n: int) -> int:
        client.post(endpoint, json={"stage": n, "pipeline": workload}).raise_for_status()
        return n

    @DBOS.step()
    def nothing(n: int) -> int:
        return n

    @DBOS.workflow()
    def pipeline(steps: int, calls: bool) -> int:
        for n in range(steps):
            call(n) if calls else nothing(n)
        return steps

    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:  # DBOS's own settings, plus WAL
            dbapi_connection.isolation_level = "IMMEDIATE"
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

    else:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=20)
    DBOS(config={"name": "peers", "system_database_engine": engine, "log_level": "WARNING"})
    DBOS.launch()
    for handle in [DBOS.start_workflow(pipeline, length, external) for _ in range(3)]:  # warm up
        handle.get_result()
    counter = WriteCounter(engine)
    started = time.perf_counter()
    handles = [DBOS.start_workflow(pipeline, length, external) for _ in range(runs)]
    for handle in handles:
        handle.get_result()
    seconds = time.perf_counter() - started
    steps = runs * length
    print(steps / seconds, counter.total / steps)
    DBOS.destroy()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--executions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    databases = ["sqlite"] + ([] if args.skip_postgres else ["postgres"])
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Endpoint() as endpoint:
        work = Path(tmp)
        for round_ in range(args.rounds):
            for database in databases:
                for workload in WORKLOADS:
                    for system in ("gennaker", "dbos"):
                        name = f"{system}_{workload}_{database}_{round_}"
                        key = f"{system}_{workload}_{database}"
                        if database == "sqlite":
                            (work / name).mkdir()
                            rate, writes = run(system, work / name, f"sqlite:///{work / name / 'b.db'}", workload,
                                               endpoint.url, args.executions)
                        else:
                            with PostgresDatabase(f"peers_{os.getpid()}_{len(rates)}_{round_}") as db:
                                rate, writes = run(system, work / name, db.url, workload, endpoint.url,
                                                   args.executions)
                        rates.setdefault(f"{key}_steps_per_s", []).append(rate)
                        rates.setdefault(f"{key}_write_tx_per_step", []).append(writes)
    figures = {key: statistics.median(values) for key, values in rates.items()}
    for database in databases:
        for workload in WORKLOADS:
            ours, theirs = (figures[f"{s}_{workload}_{database}_steps_per_s"] for s in ("gennaker", "dbos"))
            figures[f"ratio_{workload}_{database}"] = ours / theirs
        for system in ("gennaker", "dbos"):
            long, short = (figures[f"{system}_{w}_{database}_steps_per_s"] for w in ("external200", "external10"))
            figures[f"{system}_200_over_10_{database}"] = long / short
    for key, value in figures.items():
        print(f"{key:46s} {value:10.2f}")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


def run(system: str, work: Path, url: str, workload: str, endpoint: str, executions: int) -> tuple[float, float]:
    if system == "gennaker":
        return gennaker(work, url, workload, endpoint, executions)
    return dbos(url, workload, endpoint, executions)


if __name__ == "__main__" and sys.argv[1:2] == ["dbos"]:
    _dbos_process(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
elif __name__ == "__main__":
    main()
