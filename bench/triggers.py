"""Trigger benchmark (issue 12).

`cron_fire_lag_p99_ms`: with `--crons` (1,000) cron triggers spread over every second of a 20-second cycle,
the scheduler thread of one process fires them for `--seconds`; the lag of an execution is its store time
(`buildTime`) minus the fire time it was scheduled for (`trigger.scheduledTime`). Target ≤ 1,000 ms.

`git_webhook_to_running_p50_ms`: a signed GitHub push posted to `/webhooks/git/github` (in process) until
the started execution's first stage is RUNNING, with one worker thread. Target ≤ 50 ms.

Docker: the cost of one poll of one repository against a real registry
(Debian's `docker-registry`) on loopback, for a repository with `--tags` tags and digest tracking on (a tag
list, paginated by 100, and one manifest HEAD per tag), so about `tags + tags/100` requests per poll.

    python bench/triggers.py [--json] [--tags 50] [--polls 30]

`poll_cost_ms_per_repo`: the median wall time of `DockerPoller.poll` for an unchanged repository.
`poll_cost_ms_per_tag`: the same divided by the number of tags. `poll_cost_ms_no_digests`: the median with
`trackDigests: false` (the tag list only).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the registry fixture lives under tests/

from fastapi.testclient import TestClient
from tests.integration.triggers.registry import DockerRegistry, available

from gennaker.api.app import create_app
from gennaker.api.deps import Security
from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.runtime import Runtime, Settings
from gennaker.triggers.docker.accounts import DockerRegistryAccount
from gennaker.triggers.docker.poller import DockerPoller
from gennaker.triggers.docker.registry_client import RegistryClient


def median_poll_ms(poller: DockerPoller, polls: int) -> float:
    _, state = poller.poll(None)
    timings = []
    for _ in range(polls):
        started = time.perf_counter()
        events, state = poller.poll(state)
        timings.append((time.perf_counter() - started) * 1000)
        assert events == [] and not poller.incidents.failing, poller.incidents.message
    return statistics.median(timings)


def cron_lag_ms(crons: int, seconds: float) -> list[float]:
    """Lags (ms) of the cron fires one scheduler made in `seconds`, with `crons` triggers firing."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/cron.db"))
        stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
        for index in range(crons):
            trigger = {"type": "cron", "id": f"c{index}", "cronExpression": f"{index % 20}/20 * * * * ?"}
            rt.save_pipeline(
                {"application": "bench", "name": f"p{index}", "stages": stages, "triggers": [trigger]}, "b"
            )
        scheduler = rt.new_scheduler()
        scheduler.start()
        time.sleep(seconds)
        scheduler.stop()
        with rt.db.read() as conn:
            started = rt.executions.list_json(conn, "bench", limit=100_000)
        rt.close()
    return [float(e["buildTime"] - e["trigger"]["scheduledTime"]) for e in started]


def git_to_running_ms(runs: int) -> list[float]:
    """Milliseconds from posting a signed push to the started execution's first stage RUNNING."""
    secret = "bench-secret"
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/git.db"))
        trigger = {"type": "git", "source": "github", "project": "acme", "slug": "api", "secret": secret}
        stages = [{"refId": "1", "type": "wait", "waitTime": 5}]
        rt.save_pipeline({"application": "bench", "name": "push", "stages": stages, "triggers": [trigger]}, "b")
        rt.start_workers(1)
        timings = []
        nobody = Security(authenticate=lambda request: None, application_allows=lambda who, app, permission: False)
        with TestClient(create_app(rt, nobody)) as client:
            for run in range(runs + 1):
                body = json.dumps(
                    {
                        "ref": "refs/heads/main",
                        "after": f"{run:040x}",
                        "repository": {"name": "api", "owner": {"name": "acme"}},
                    }
                ).encode()
                signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature, "X-GitHub-Delivery": str(run)}
                started = time.perf_counter()
                answer = client.post("/webhooks/git/github", content=body, headers=headers).json()
                execution_id = answer["executions"][0].removeprefix("/pipelines/")
                while True:
                    with rt.db.read() as conn:
                        execution = rt.executions.get_json(conn, execution_id)
                    if execution and execution["stages"][0]["status"] == "RUNNING":
                        break
                    time.sleep(0.0005)
                if run:  # the first run warms up
                    timings.append((time.perf_counter() - started) * 1000)
        rt.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--crons", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--pushes", type=int, default=50)
    args = parser.parse_args()
    lags = sorted(cron_lag_ms(args.crons, args.seconds))
    figures: dict[str, float] = {
        "cron_fires": len(lags),
        "cron_fire_lag_p50_ms": statistics.median(lags),
        "cron_fire_lag_p99_ms": lags[max(0, int(len(lags) * 0.99) - 1)],
        "git_webhook_to_running_p50_ms": statistics.median(git_to_running_ms(args.pushes)),
    }
    if not available():
        sys.exit("docker-registry is not installed (make system-packages)")
    guard = public_only_guard(OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]}))
    with tempfile.TemporaryDirectory() as tmp, DockerRegistry(Path(tmp)) as registry:
        for index in range(args.tags):
            registry.push("bench/app", f"1.{index}", f"layer {index}".encode())
        figures["tags"] = args.tags
        for track, key in ((True, "poll_cost_ms_per_repo"), (False, "poll_cost_ms_no_digests")):
            account = DockerRegistryAccount(name="bench", address=registry.url, trackDigests=track)
            client = RegistryClient(account, guard)
            try:
                figures[key] = median_poll_ms(DockerPoller(account, "bench/app", client), args.polls)
            finally:
                client.close()
        figures["poll_cost_ms_per_tag"] = figures["poll_cost_ms_per_repo"] / max(args.tags, 1)
    for name, value in figures.items():
        print(f"{name:26s} {value:10.2f}")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
