"""A real Prometheus (Debian's `prometheus`) scraping small local services, for the canary tests; all on 127.0.0.1.

- `MetricsService`: a child process (this file run as a script) serving prometheus-client metrics of a simulated
  web service: `http_requests_total{code}`, the `http_request_duration_seconds` histogram and the
  `http_request_latency_seconds` gauge. "healthy" answers ~1 % errors at ~50 ms; "degraded" ~20 % at ~250 ms;
  `degrade_after_s` starts healthy and degrades later. The child exits when its parent closes its stdin, so it
  never outlives the test run.
- `Prometheus`: the real server on a free loopback port with a temporary config (scrape interval 1 s, one target
  per service with static labels such as `pod="checkout-canary-wxyz"`) and storage directory; entering it waits
  until every target has been scraped.

Both stop only the process they started (terminate, then kill), on exit or `stop()`.
"""

from __future__ import annotations

import argparse
import math
import random
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
MODES = {"healthy": (0.01, 0.05), "degraded": (0.20, 0.25)}  # error ratio, mean latency in seconds
TICK_S = 0.05
REQUESTS_PER_TICK = 10


def available() -> bool:
    return Path(PROMETHEUS).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class MetricsService:
    """The simulated service in a child process; `address` is its `127.0.0.1:port` once entered."""

    def __init__(self, mode: str = "healthy", *, degrade_after_s: float | None = None, seed: int = 1):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}")
        self.mode = mode
        self.degrade_after_s = degrade_after_s
        self.seed = seed
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def __enter__(self) -> MetricsService:
        command = [sys.executable, __file__, "--mode", self.mode, "--seed", str(self.seed)]
        if self.degrade_after_s is not None:
            command += ["--degrade-after", str(self.degrade_after_s)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], 15)
        line = self._process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the metrics service did not start (it said {line!r})")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is not None and self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        _stop(self._process)


class Prometheus:
    """`prometheus` scraping `targets` (static labels → service) every second, its data in `directory`."""

    def __init__(self, directory: Path, targets: Mapping[str, tuple[Mapping[str, str], MetricsService]]):
        self.directory = directory
        self.port = free_port()
        self.targets = targets
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "checkout",
                    "static_configs": [
                        {"targets": [service.address], "labels": dict(labels)} for labels, service in targets.values()
                    ],
                }
            ],
        }
        self.config_path = directory / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = directory / "prometheus.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Prometheus:
        return self.start()

    def start(self) -> Prometheus:
        """Start the server and wait until every target has been scraped once."""
        command = [
            PROMETHEUS,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            self.wait_for_samples(1)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        _stop(self._process)

    def wait_for_samples(self, count: int, timeout_s: float = 30) -> None:
        """Wait until every target has been scraped successfully at least `count` times."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            scrapes = self._successful_scrapes()
            if len(scrapes) == len(self.targets) and min(scrapes) >= count:
                return
            time.sleep(0.2)
        raise RuntimeError(f"prometheus did not scrape every target {count} times: {self.log_path.read_text()[-2000:]}")

    def _successful_scrapes(self) -> list[float]:
        """Per target, how many scrapes succeeded (`up` is 1 for each)."""
        try:
            answer = httpx.get(f"{self.url}/api/v1/query", params={"query": "sum_over_time(up[1h])"}, timeout=2)
            return [float(series["value"][1]) for series in answer.json()["data"]["result"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return []


# -- the simulated service (this file run as a script) -----------------------------------------------------------
def _serve(mode: str, degrade_after_s: float | None, seed: int) -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests answered", ["code"], registry=registry)
    duration = Histogram(
        "http_request_duration_seconds",
        "Request latency",
        buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
        registry=registry,
    )
    latency = Gauge("http_request_latency_seconds", "Mean latency of the last tick", registry=registry)
    for code in ("200", "500"):
        requests.labels(code=code)  # both series exist from the first scrape
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    print(f"port {server.server_port}", flush=True)

    rng = random.Random(seed)
    started = time.monotonic()
    stopping = threading.Event()

    def stop_when_the_parent_closes_stdin() -> None:
        sys.stdin.read()
        stopping.set()

    threading.Thread(target=stop_when_the_parent_closes_stdin, daemon=True).start()
    while not stopping.wait(TICK_S):
        degraded = mode == "degraded" or (degrade_after_s is not None and time.monotonic() - started >= degrade_after_s)
        error_ratio, mean_latency = MODES["degraded" if degraded else "healthy"]
        total = 0.0
        for _ in range(REQUESTS_PER_TICK):
            requests.labels(code="500" if rng.random() < error_ratio else "200").inc()
            seconds = mean_latency * (1 + 0.1 * math.sin(rng.random() * 2 * math.pi))
            duration.observe(seconds)
            total += seconds
        latency.set(total / REQUESTS_PER_TICK)
    server.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=sorted(MODES), default="healthy")
    parser.add_argument("--degrade-after", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    _serve(arguments.mode, arguments.degrade_after, arguments.seed)
