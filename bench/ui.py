"""UI benchmark (issue 7): with 100,000 stored executions, render an application's page (five pipelines,
each with its ten newest executions as rows of stage boxes) over HTTP and measure time and size.

    python bench/ui.py [--json] [--executions 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from api import fill, serving  # bench/api.py: stored executions and a server on loopback

from gennaker.runtime import Runtime, Settings

PIPELINES = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/ui.db"))
        for index in range(PIPELINES):
            config = rt.save_pipeline({"application": "bench", "name": f"deploy-{index}", "stages": []}, "bench")
            fill(rt, args.executions // PIPELINES, config["id"])
        timings, sizes = [], []
        with serving(rt) as client:
            client.get("/ui/applications/bench").raise_for_status()  # warm up
            for _ in range(args.requests):
                begin = time.perf_counter()
                response = client.get("/ui/applications/bench")
                timings.append((time.perf_counter() - begin) * 1000)
                response.raise_for_status()
                sizes.append(len(response.content))
        rt.close()
    timings.sort()
    figures = {
        "stored_executions": args.executions,
        "app_page_p50_ms": round(statistics.median(timings), 2),
        "app_page_p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2),
        "app_page_kb": round(max(sizes) / 1024, 1),
        "target_p95_ms": 200,
        "target_kb": 200,
    }
    for key, value in figures.items():
        print(f"{key:20s} {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
