"""API benchmark (issues 4 and 17): with 100,000 stored executions, list an application's newest 50 and get
one 30-stage execution over HTTP (uvicorn on loopback). The same again for an application whose executions
carry what deploys leave behind: 30 stages each, every third a deploy holding a ~20 KB manifest and its
outputs (`realistic_*`). Then the cost of authentication: `GET /applications` with a local user's Basic
credentials and with an API token, through the real AuthService (the Basic check is remembered after the
first argon2 verification, so the two should cost about the same).

    python bench/api.py [--json] [--executions 100000] [--realistic 300] [--requests 300]
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from gennaker.api.app import create_app
from gennaker.api.deps import Security
from gennaker.api.security import local_security
from gennaker.auth.identity import DefaultPolicy
from gennaker.auth.service import AuthService
from gennaker.model.execution import Execution, Stage, now_ms
from gennaker.model.ids import new_id
from gennaker.model.status import Status
from gennaker.runtime import Runtime, Settings
from gennaker.store.tables import executions


@dataclass(frozen=True)
class BenchCaller:
    username: str = "bench"
    is_admin: bool = True


def fill(rt: Runtime, count: int, config_id: str) -> str:
    """Store `count` finished 5-stage executions and one 30-stage one; returns the latter's id."""
    base = now_ms() - count * 1000
    chunk = 5000
    with rt.db.transaction() as conn:
        for start in range(0, count, chunk):
            batch = [_execution(config_id, base + i * 1000, 5) for i in range(start, min(count, start + chunk))]
            rt.executions.insert_many(conn, batch)
        big = _execution(config_id, base - 1, 30)
        rt.executions.insert_many(conn, [big])
    return big.id


def fill_realistic(rt: Runtime, count: int, config_id: str) -> str:
    """Store `count` finished 30-stage executions of the `deploys` application whose deploy stages carry
    ~20 KB manifests; returns the newest one's id."""
    base = now_ms() - count * 1000
    newest = ""
    with rt.db.transaction() as conn:
        for start in range(0, count, 50):
            batch = [_deploys(config_id, base + i * 1000) for i in range(start, min(count, start + 50))]
            rt.executions.insert_many(conn, batch)
            newest = batch[-1].id
    return newest


def manifest(name: str, size: int = 20_000) -> dict[str, Any]:
    """A Deployment of about `size` bytes of JSON: labels, annotations and the environment of its container."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "spinnaker", "team": "payments"}
    document: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": labels, "annotations": {}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": f"registry.example.com/{name}:1.4.2", "env": []}]},
            },
        },
    }
    env = document["spec"]["template"]["spec"]["containers"][0]["env"]
    while len(json.dumps(document)) < size:
        env.append({"name": f"SETTING_{len(env)}", "value": f"value-{len(env)}-" + "x" * 60})
    return document


def _deploys(config_id: str, build_time: int) -> Execution:
    execution = _execution(config_id, build_time, 30, application="deploys")
    for n, stage in enumerate(execution.stages):
        if n % 3 == 0:
            stage.type = "deployManifest"
            deployed = manifest(f"service-{n}")
            stage.context = {"account": "prod", "source": "text", "manifests": [deployed], "moniker": {"app": "shop"}}
            stage.outputs = {"outputs.manifests": [deployed], "outputs.createdArtifacts": []}
    return execution


def _execution(config_id: str, build_time: int, stage_count: int, application: str = "bench") -> Execution:
    execution = Execution(
        id=new_id(),
        application=application,
        name="deploy",
        pipeline_config_id=config_id,
        status=Status.SUCCEEDED,
        build_time=build_time,
        start_time=build_time,
        end_time=build_time + 900,
        trigger={"type": "manual", "user": "b"},
    )
    for n in range(stage_count):
        execution.stages.append(
            Stage(
                id=new_id(),
                ref_id=str(n),
                type="wait",
                name=f"Stage {n}",
                status=Status.SUCCEEDED,
                context={"waitTime": 0},
                requisite_stage_ref_ids=[str(n - 1)] if n else [],
                start_time=build_time,
                end_time=build_time + 10,
            )
        )
    return execution


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(rt: Runtime, auth: AuthService | None = None) -> Iterator[httpx.Client]:
    """The API and UI on loopback (uvicorn), and a client for it: with `auth`, its users and tokens sign in;
    without, every caller is an admin."""
    if auth is None:
        security = Security(authenticate=lambda _request: BenchCaller(), application_allows=lambda *_: True)
    else:
        security = local_security(auth, DefaultPolicy())
    port = free_port()
    app = create_app(rt, security, auth=auth)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join()


def measure(
    client: httpx.Client, path: str, params: dict[str, Any], requests: int, headers: dict[str, str] | None = None
) -> dict[str, float]:
    timings = []
    for _ in range(requests):
        begin = time.perf_counter()
        response = client.get(path, params=params, headers=headers)
        timings.append((time.perf_counter() - begin) * 1000)
        response.raise_for_status()
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p99": timings[max(0, int(len(timings) * 0.99) - 1)],
        "rps": 1000 / statistics.mean(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--realistic", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/api.db"))
        config = rt.save_pipeline({"application": "bench", "name": "deploy", "stages": []}, "bench")
        big_id = fill(rt, args.executions, config["id"])
        deploys = rt.save_pipeline({"application": "deploys", "name": "deploy", "stages": []}, "bench")
        realistic_id = fill_realistic(rt, args.realistic, deploys["id"])
        with rt.db.read() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(executions)).scalar_one()
        with serving(rt) as client:
            measure(client, "/health", {}, 20)  # warm up
            listed = measure(client, "/applications/bench/pipelines", {"limit": 50}, args.requests)
            got = measure(client, f"/pipelines/{big_id}", {}, args.requests)
            fewer = max(10, args.requests // 10)
            realistic_listed = measure(client, "/applications/deploys/pipelines", {"limit": 50}, fewer)
            realistic_got = measure(client, f"/pipelines/{realistic_id}", {}, args.requests)
        basic, token = measure_authentication(rt, args.requests)
        rt.close()
    figures = {
        "stored_executions": stored,
        "list50_p50_ms": listed["p50"],
        "list50_p99_ms": listed["p99"],
        "list50_rps": listed["rps"],
        "get_p50_ms": got["p50"],
        "get_p99_ms": got["p99"],
        "get_rps": got["rps"],
        "realistic_list50_p50_ms": realistic_listed["p50"],
        "realistic_list50_p99_ms": realistic_listed["p99"],
        "realistic_get_p50_ms": realistic_got["p50"],
        "realistic_get_p99_ms": realistic_got["p99"],
        "basic_auth_p50_ms": basic["p50"],
        "token_auth_p50_ms": token["p50"],
        "basic_token_ratio": basic["p50"] / token["p50"],
    }
    targets = {"list50_p99_ms": "   target <= 50", "basic_token_ratio": "   target <= 2"}
    for key, value in figures.items():
        print(f"{key:24s} {value:10.1f}" + targets.get(key, ""))
    if args.json:
        print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


def measure_authentication(rt: Runtime, requests: int) -> tuple[dict[str, float], dict[str, float]]:
    """`GET /applications` as a local user with Basic credentials, then with an API token."""
    auth = AuthService(rt.db)
    password = secrets.token_urlsafe(18)
    auth.add_user("bench-user", password, ["bench"], is_admin=True)
    token = auth.create_token("bench-user", "bench").token
    credentials = base64.b64encode(f"bench-user:{password}".encode()).decode()
    with serving(rt, auth) as client:
        basic = measure(client, "/applications", {}, requests, {"Authorization": f"Basic {credentials}"})
        bearer = measure(client, "/applications", {}, requests, {"Authorization": f"Bearer {token}"})
    return basic, bearer


if __name__ == "__main__":
    main()
