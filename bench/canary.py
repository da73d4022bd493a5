"""Canary benchmark (issue 14).

    python bench/canary.py [--json] [--runs 15]

`judge_ms`: NetflixACAJudge over a config of 20 metrics, each a control and an experiment series of 1,000
points (p50 and p90 of `--runs`; target p50 <= 100 ms). Half the metrics remove outliers, half replace NaN.

`interval_overhead_ms`: what the kayentaCanary stage costs per interval beyond fetching and judging: a
retrospective canary of 10 intervals (no waits) on SQLite, against a metrics source that answers at once with
tiny series; stage duration / intervals - one run's fetch and judgment measured alone, median of 3 stages.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gennaker.canary.judge import judge
from gennaker.canary.metric_sets import MetricSet, mix_metric_sets

METRICS = 20
POINTS = 1000


def canary_config(metrics: int) -> dict[str, Any]:
    return {
        "id": "bench",
        "name": "bench",
        "applications": ["bench"],
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": [
            {
                "name": f"metric-{i}",
                "groups": [f"group-{i % 4}"],
                "scopeName": "default",
                "query": {"type": "prometheus", "customInlineTemplate": f"PromQL:metric_{i}"},
                "analysisConfigurations": {
                    "canary": {
                        "direction": "either",
                        "nanStrategy": "replace" if i % 2 else "remove",
                        "outliers": {"strategy": "remove" if i % 2 == 0 else "keep"},
                    }
                },
            }
            for i in range(metrics)
        ],
        "classifier": {"groupWeights": {"group-0": 40, "group-1": 20, "group-2": 20, "group-3": 20}},
    }


def series(name: str, rng: random.Random, shift: float, points: int) -> MetricSet:
    return MetricSet(
        name=name,
        tags={},
        start_time_millis=0,
        end_time_millis=points * 60_000,
        step_millis=60_000,
        values=tuple(rng.gauss(100 + shift, 10) for _ in range(points)),
        attributes={},
    )


def judge_ms(runs: int) -> dict[str, float]:
    rng = random.Random(7)
    config = canary_config(METRICS)
    control = [series(f"metric-{i}", rng, 0, POINTS) for i in range(METRICS)]
    experiment = [series(f"metric-{i}", rng, 3 if i % 5 == 0 else 0, POINTS) for i in range(METRICS)]
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        judge(config, mix_metric_sets(control, experiment), {"pass": 75, "marginal": 50}, rng=random.Random(1))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "judge_ms": round(statistics.median(timings), 1),
        "judge_p90_ms": round(timings[int(len(timings) * 0.9) - 1], 1),
    }


class InstantSource:
    """A metrics source answering at once with 10 points per side."""

    def __init__(self) -> None:
        self.rng = random.Random(3)

    def account_permissions(self, name: str | None) -> tuple[str, Mapping[str, Any]]:
        return "bench", {}

    def fetch_run(
        self, account: str, config: Mapping[str, Any], scopes: Mapping[str, Any]
    ) -> tuple[list[MetricSet], list[MetricSet]]:
        names = [m["name"] for m in config["metrics"]]
        return (
            [series(n, self.rng, 0, 10) for n in names],
            [series(n, self.rng, 0, 10) for n in names],
        )


def interval_overhead_ms(stages: int = 3, intervals: int = 10) -> dict[str, float]:
    from gennaker.runtime import Runtime, Settings
    from gennaker.stages.canary import CanaryAccess, add_canary_stages

    overheads = []
    source = InstantSource()
    small = canary_config(2)
    judged = []
    for _ in range(20):  # what one run's fetch and judgment cost outside the engine
        started = time.perf_counter()
        control, experiment = source.fetch_run("bench", small, {})
        judge(small, mix_metric_sets(control, experiment), {"pass": 50, "marginal": 10})
        judged.append((time.perf_counter() - started) * 1000)
    run_ms = statistics.median(judged)
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db", config={}))
        add_canary_stages(rt.registry, CanaryAccess(rt.db, rt.canary, source))
        with rt.db.transaction() as conn:
            rt.applications.save(conn, "bench", {"email": "bench@example.com"}, "bench")
            config_id = rt.canary.save_config(conn, canary_config(2) | {"id": None}, "bench", 0)["id"]
        rt.start_workers(1)
        pipeline = {
            "application": "bench",
            "name": "canary",
            "stages": [
                {
                    "refId": "1",
                    "type": "kayentaCanary",
                    "name": "Canary",
                    "canaryConfig": {
                        "canaryConfigId": config_id,
                        "canaryAnalysisIntervalMins": 1,
                        "scopes": [
                            {
                                "scopeName": "default",
                                "controlScope": "baseline",
                                "experimentScope": "canary",
                                "startTimeIso": "2026-01-01T00:00:00Z",
                                "endTimeIso": f"2026-01-01T00:{intervals:02d}:00Z",
                                "step": 60,
                            }
                        ],
                        "scoreThresholds": {"pass": 50, "marginal": 10},
                    },
                }
            ],
        }
        rt.save_pipeline(pipeline, "bench")
        for _ in range(stages):
            execution_id = rt.start_pipeline("bench", "canary", {"type": "manual", "user": "bench"}, "bench")
            execution = wait_done(rt, execution_id)
            stage = next(s for s in execution["stages"] if s["type"] == "kayentaCanary")
            duration = stage["endTime"] - stage["startTime"]
            overheads.append(duration / intervals - run_ms)
        rt.stop_workers()
        rt.close()
    return {"interval_overhead_ms": round(statistics.median(overheads), 1), "interval_run_ms": round(run_ms, 1)}


def wait_done(rt: Any, execution_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with rt.db.read() as conn:
            execution = rt.executions.get_json(conn, execution_id)
        if execution and execution["status"] not in ("RUNNING", "NOT_STARTED"):
            if execution["status"] != "SUCCEEDED":
                raise SystemExit(f"the benchmark canary ended {execution['status']}")
            return execution
        time.sleep(0.02)
    raise SystemExit("the benchmark canary did not finish within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    figures: dict[str, Any] = {**judge_ms(args.runs), **interval_overhead_ms()}
    figures["judge_target_ms"] = 100
    figures["judge_ratio_to_target"] = round(figures["judge_ms"] / 100, 2)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
