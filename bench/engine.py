"""Engine benchmarks (issues 2 and 17): stage throughput on the path real stages take, write transactions per
stage, long pipelines, a second worker process, trigger latency on an idle engine, parked executions.

    python bench/engine.py [--json] [--executions 200] [--rounds 3] [--parked 10000] [--skip-postgres]

The headline figures run `webhook` stages against a local endpoint that answers at once: their task is
external (leased, run outside the transaction, its result applied after), as every deploy, bake, webhook and
Jenkins task is. No-op `wait: 0` stages, which run inline several to a transaction, are secondary keys.
Workers run in processes of their own (`bench/workload.py worker`, what `gennaker worker` runs), so this
process only starts executions and watches them. The throughput figures are medians over `--rounds`
interleaved rounds (every workload once per round; a ratio is taken within its round): one run of a few
seconds on a 2-core machine that the database shares varies by ±20 %. Prints one line per figure and, with
--json, one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from workload import Endpoint, PostgresDatabase, Workers, fan_pipeline, loopback_config, webhook_pipeline

from gennaker.runtime import Runtime, Settings

Figures = dict[str, float]


def wait_all_done(rt: Runtime, total: int, timeout: float = 300) -> None:
    """Until `total` executions succeeded: looked at every 100 ms, then every 10 ms near the end, so watching
    costs the measured workers little CPU and the end is seen within 10 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.read() as conn:
            counts = rt.executions.status_counts(conn)
        succeeded = counts.get("SUCCEEDED", 0)
        if succeeded >= total:
            return
        if counts.get("TERMINAL") or counts.get("CANCELED"):
            raise RuntimeError(f"benchmark executions failed: {counts}")
        time.sleep(0.01 if succeeded >= 0.95 * total else 0.1)
    raise TimeoutError("benchmark executions did not finish")


class Bench:
    """One database, one pipeline and worker processes: queue executions at once and time them all."""

    def __init__(self, work: Path, url: str, *, processes: int, threads: int, synchronous: str = "NORMAL"):
        work.mkdir(parents=True, exist_ok=True)
        config_file = work / "config.yaml"
        config_file.write_text(yaml.safe_dump(loopback_config()))
        env = {
            "GENNAKER_DATABASE_URL": url,
            "GENNAKER_DATA_DIR": str(work),
            "GENNAKER_CONFIG": str(config_file),
            "GENNAKER_SQLITE_SYNCHRONOUS": synchronous,
        }
        self.rt = Runtime(Settings.from_env(env))
        self.workers = Workers(env, processes, threads, str(work / "counts"))
        self.finished = 0

    def run(self, config: dict[str, Any], executions: int) -> tuple[float, int]:
        """Seconds to run `executions` of the config, and the write transactions the workers committed."""
        writes = self.workers.writes()
        started = time.perf_counter()
        with self.rt.db.transaction() as conn:
            for _ in range(executions):
                self.rt.launcher.start(conn, config, {"type": "manual"}, "bench")
        self.rt.wakeup.notify()
        self.finished += executions
        wait_all_done(self.rt, self.finished)
        return time.perf_counter() - started, self.workers.writes() - writes

    def throughput(self, pipeline: dict[str, Any], executions: int) -> tuple[float, float]:
        """Stages per second and write transactions per stage, after a warm-up run of a few executions."""
        config = self.rt.save_pipeline(pipeline, "bench")
        stages = len(pipeline["stages"])
        self.run(config, 5)
        seconds, writes = self.run(config, executions)
        return executions * stages / seconds, writes / (executions * stages)

    def close(self) -> None:
        self.workers.stop()
        self.rt.close()


def measured(
    work: Path, url: str, pipeline: dict[str, Any], executions: int, processes: int = 1, **options: Any
) -> tuple[float, float]:
    bench = Bench(work, url, processes=processes, threads=options.pop("threads", 1), **options)
    try:
        return bench.throughput(pipeline, executions)
    finally:
        bench.close()


def sqlite_figures(work: Path, endpoint: str, executions: int, round_: int) -> Figures:
    def url(name: str) -> str:
        (work / f"{name}-{round_}").mkdir()
        return f"sqlite:///{work / f'{name}-{round_}' / 'bench.db'}"

    figures: Figures = {}
    short, long = webhook_pipeline("external10", endpoint, 10), webhook_pipeline("external200", endpoint, 200)
    rate, writes = measured(work / f"ext-{round_}", url("ext"), short, executions)
    figures["external_sqlite_stages_per_s"], figures["write_tx_per_external_stage_sqlite"] = rate, writes
    figures["external_sqlite_full_stages_per_s"] = measured(
        work / f"ext-full-{round_}", url("ext-full"), short, executions, synchronous="FULL"
    )[0]
    long_rate = measured(work / f"ext200-{round_}", url("ext200"), long, max(1, executions // 20))[0]
    figures["stages_per_s_200_over_10_sqlite"] = long_rate / rate
    figures["sqlite_stages_per_s"] = measured(work / f"noop-{round_}", url("noop"), fan_pipeline("fan"), executions)[0]
    figures["sqlite_full_stages_per_s"] = measured(
        work / f"noop-full-{round_}", url("noop-full"), fan_pipeline("fan"), executions, synchronous="FULL"
    )[0]
    return figures


def postgres_figures(work: Path, endpoint: str, executions: int, round_: int) -> Figures:
    figures: Figures = {}
    short, long = webhook_pipeline("external10", endpoint, 10), webhook_pipeline("external200", endpoint, 200)
    runs: list[tuple[str, dict[str, Any], int, int]] = [
        ("external_postgres", short, executions, 1),
        ("external_postgres_2workers", short, executions, 2),
        ("external200_postgres", long, max(1, executions // 20), 1),
        ("postgres", fan_pipeline("fan"), executions, 1),
        ("postgres_2workers", fan_pipeline("fan"), executions, 2),
    ]
    for index, (key, pipeline, count, processes) in enumerate(runs):
        with PostgresDatabase(f"gennaker_bench_{os.getpid()}_{round_}_{index}") as db:
            rate, writes = measured(work / f"{key}-{round_}", db.url, pipeline, count, processes, threads=2)
        figures[f"{key}_stages_per_s"] = rate
        if key == "external_postgres":
            figures["write_tx_per_external_stage_postgres"] = writes
    figures["external_postgres_2workers_ratio"] = (
        figures["external_postgres_2workers_stages_per_s"] / figures["external_postgres_stages_per_s"]
    )
    figures["stages_per_s_200_over_10_postgres"] = (
        figures.pop("external200_postgres_stages_per_s") / figures["external_postgres_stages_per_s"]
    )
    return figures


def medians(rounds: list[Figures]) -> Figures:
    """Each figure's median over the rounds (a ratio is taken within each round first: its two sides ran
    minutes apart at most)."""
    return {key: statistics.median(figures[key] for figures in rounds) for key in rounds[0]}


def trigger_latency(rt: Runtime, samples: int, gap_s: float) -> tuple[float, float]:
    """ms from the start request to the first stage RUNNING, each start after `gap_s` of idleness (the
    engine waits for a wake-up, as it does between real triggers)."""
    rt.save_pipeline(
        {"application": "bench", "name": "latency", "stages": [{"refId": "1", "type": "manualJudgment"}]}, "bench"
    )
    latencies = []
    for _ in range(samples):
        time.sleep(gap_s)
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
    return statistics.median(latencies), latencies[max(0, int(len(latencies) * 0.99) - 1)]


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


def in_process(directory: Path, measure: Callable[[Runtime], tuple[float, float]]) -> tuple[float, float]:
    rt = Runtime(Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'bench.db'}"))
    rt.start_workers(1)
    try:
        return measure(rt)
    finally:
        rt.close()


TARGETS = {
    "external_sqlite_stages_per_s": ">= DBOS (bench/peers.py)",
    "external_postgres_stages_per_s": ">= DBOS (bench/peers.py)",
    "write_tx_per_external_stage": "<= 1.2",
    "external_postgres_2workers_ratio": ">= 1.3",
    "stages_per_s_200_over_10": ">= 0.9",
    "sqlite_stages_per_s": ">= 500",
    "trigger_p50_ms": "<= 20",
    "parked_rss_mb": "<= 150",
    "list50_ms": "<= 50",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--parked", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each figure is their median")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Endpoint() as endpoint:
        work = Path(tmp)
        rounds: list[Figures] = []
        for round_ in range(args.rounds):
            figures = sqlite_figures(work, endpoint.url, args.executions, round_)
            if not args.skip_postgres:
                figures.update(postgres_figures(work, endpoint.url, args.executions, round_))
            rounds.append(figures)
        figures = medians(rounds)
        ratios = [v for k, v in figures.items() if k.startswith("stages_per_s_200_over_10_")]
        figures["stages_per_s_200_over_10"] = min(ratios)
        writes = [v for k, v in figures.items() if k.startswith("write_tx_per_external_stage_")]
        figures["write_tx_per_external_stage"] = max(writes)
        figures["trigger_p50_ms"], figures["trigger_p99_ms"] = in_process(
            work / "latency", lambda rt: trigger_latency(rt, args.latency_samples, gap_s=0.05)
        )
        figures["parked_rss_mb"], figures["list50_ms"] = in_process(work / "parked", lambda rt: parked(rt, args.parked))
    for key, value in figures.items():
        print(f"{key:42s} {value:10.2f}   target {TARGETS.get(key, '-')}")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
