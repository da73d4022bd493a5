"""Jenkins stage benchmark (issue 13): the engine's own cost around a Jenkins build, against the Jenkins
emulator on loopback with builds that take no time and never wait in the queue.

    python bench/jenkins.py [--json] [--runs 30]

`start_to_request_p50_ms`: from the stage's start to the build request reaching Jenkins (the job is read first,
as Igor does). `finish_to_succeeded_p50_ms`: from the build's end to the stage SUCCEEDED (queue poll, build poll,
property file download). `jenkins_stage_overhead_ms` is their sum.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the emulator lives under tests/

from tests.emulators.jenkins import BuildPlan, JenkinsEmulator, string_param

from gennaker.runtime import Runtime, Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    to_request: list[float] = []
    to_succeeded: list[float] = []
    with JenkinsEmulator(username="bench", password="bench-token") as jenkins, tempfile.TemporaryDirectory() as tmp:
        job = jenkins.add_job(
            "app",
            parameters=[string_param("VERSION", "1")],
            plan=BuildPlan(artifacts={"build.properties": b"IMAGE=registry.example/app:1\n"}),
        )
        config = {
            "ci": {
                "jenkins": {
                    "masters": [{"name": "ci", "address": jenkins.url, "username": "bench", "password": "bench-token"}]
                }
            },
            "outbound": {"allowNetworks": ["127.0.0.0/8"]},
        }
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db", config=config))
        rt.start_workers(1)
        stage = {
            "refId": "1",
            "type": "jenkins",
            "name": "Build",
            "master": "ci",
            "job": "app",
            "parameters": {"VERSION": "${trigger.parameters.version}"},
            "propertyFile": "build.properties",
        }
        pipeline = {
            "application": "bench",
            "name": "build",
            "stages": [stage],
            "parameterConfig": [{"name": "version"}],
        }
        rt.save_pipeline(pipeline, "bench")
        for index in range(args.runs + 3):  # the first runs warm up
            trigger = {"type": "manual", "user": "bench", "parameters": {"version": str(index)}}
            execution_id = rt.start_pipeline("bench", "build", trigger, "bench")
            finished = wait(rt, execution_id)
            built = job.builds[-1]
            item = jenkins.queue[built.queue_id]
            ran = finished["stages"][0]
            if ran["status"] != "SUCCEEDED":
                raise SystemExit(f"the Jenkins stage ended {ran['status']}: {ran['context'].get('exception')}")
            if index >= 3:
                to_request.append(item.created_wall * 1000 - ran["startTime"])
                to_succeeded.append(ran["endTime"] - built.finished_wall * 1000)
        rt.close()
    figures = {
        "start_to_request_p50_ms": statistics.median(to_request),
        "finish_to_succeeded_p50_ms": statistics.median(to_succeeded),
    }
    figures["jenkins_stage_overhead_ms"] = figures["start_to_request_p50_ms"] + figures["finish_to_succeeded_p50_ms"]
    for key, value in figures.items():
        print(f"{key:28s} {value:10.1f}")
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


def wait(rt: Runtime, execution_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.read() as conn:
            found = rt.executions.get_json(conn, execution_id)
        if found is not None and found["status"] not in ("NOT_STARTED", "RUNNING", "PAUSED"):
            return found
        time.sleep(0.002)
    raise SystemExit(f"execution {execution_id} did not finish within {timeout} s")


if __name__ == "__main__":
    main()
