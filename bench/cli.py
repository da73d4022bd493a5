"""CLI start-up benchmark (issue 15, item 5): wall-clock time of whole `gennaker` processes, medians of 10.

- `help_ms`: `gennaker --help`;
- `local_get_ms`: `gennaker execution get ID` on a local SQLite database;
- `remote_get_ms`: the same against `gennaker up` over HTTP (GENNAKER_URL and GENNAKER_TOKEN);
- `python_ms`: `python -c pass`, the floor every figure includes;
- `sqlalchemy_import_ms`: `python -c "import sqlalchemy"`, the floor of every command on the local database
  (the service reads through SQLAlchemy).

    python bench/cli.py [--json] [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

GENNAKER = [sys.executable, "-m", "gennaker.cli"]
TARGETS = {"help_ms": 150.0, "local_get_ms": 300.0}


def timed(command: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall-clock milliseconds of `runs` runs of `command` (after one unmeasured warm-up)."""
    timings = []
    for index in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
        if index:
            timings.append(elapsed)
    return statistics.median(timings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GENNAKER_DATA_DIR": f"{tmp}/data", "GENNAKER_ADMIN_PASSWORD": "bench-password-1"}
        for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL", "GENNAKER_CONFIG"):
            env.pop(name, None)
        pipeline = Path(tmp) / "bench.json"
        stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
        pipeline.write_text(json.dumps({"application": "bench", "name": "noop", "stages": stages}))
        subprocess.run([*GENNAKER, "pipeline", "save", "-f", str(pipeline)], env=env, check=True, capture_output=True)
        execution_id = subprocess.run(
            [*GENNAKER, "pipeline", "execute", "bench", "noop"], env=env, check=True, capture_output=True, text=True
        ).stdout.split()[-1]
        figures = {
            "python_ms": timed([sys.executable, "-c", "pass"], env, args.runs),
            "sqlalchemy_import_ms": timed([sys.executable, "-c", "import sqlalchemy"], env, args.runs),
            "help_ms": timed([*GENNAKER, "--help"], env, args.runs),
            "local_get_ms": timed([*GENNAKER, "execution", "get", execution_id], env, args.runs),
            "remote_get_ms": remote_get_ms(env, execution_id, args.runs),
        }
    for key, value in figures.items():
        target = TARGETS.get(key)
        print(f"{key:16s} {value:8.1f}" + (f"   target <= {target:g}" if target else ""))
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in figures.items()}))


def remote_get_ms(env: dict[str, str], execution_id: str, runs: int) -> float:
    """`gennaker execution get` against `gennaker up` on the same database, with an API token."""
    port = free_port()
    server = subprocess.Popen(
        [*GENNAKER, "up", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("gennaker up did not answer") from None
                time.sleep(0.2)
        token = subprocess.run(
            [*GENNAKER, "token", "create", "bench", "--user", "admin"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        remote = {**env, "GENNAKER_URL": url, "GENNAKER_TOKEN": token}
        return timed([*GENNAKER, "execution", "get", execution_id], remote, runs)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
