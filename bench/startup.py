"""Start-up and idle benchmark (issue 17, item 8): a real `gennaker up` process on a fresh data directory, with
one Kubernetes account whose kubeconfig points at the Kubernetes API emulator (run in this process).

- `startup_s`: from starting the process until `/health` answers 200, median of the runs (target ≤ 2 s);
  each run starts on a new data directory, so it includes creating the database and the admin user. Python's
  compiled bytecode is kept (in a cache folder of the benchmark's, filled by one unmeasured start), as for an
  installed package: with PYTHONDONTWRITEBYTECODE set, an editable install compiles every module at each start;
- `startup_cpu_s`: CPU time (user and system) the process used until then, which a busy machine inflates far less;
- `restart_s`: the same as `startup_s` on the data directory of the previous run (the database exists);
- `idle_rss_mb`: resident memory of the process after it has been idle for `--idle` seconds (target < 150 MB);
- `used_rss_mb`: resident memory after the home page, the account list and the account's live objects are read.

    python bench/startup.py [--json] [--runs 3] [--idle 5]
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
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the emulator lives under tests/

from tests.emulators.kube import KubeEmulator

GENNAKER = [sys.executable, "-m", "gennaker.cli"]
PASSWORD = "bench-password-1"
TARGETS = {"startup_s": 2.0, "idle_rss_mb": 150.0}
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User and system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    """One `gennaker up` on `data_dir`, with the configuration file `config`."""

    def __init__(self, data_dir: Path, config: Path, bytecode: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "GENNAKER_DATA_DIR": str(data_dir), "GENNAKER_CONFIG": str(config)}
        env.update(GENNAKER_ADMIN_PASSWORD=PASSWORD, PYTHONPYCACHEPREFIX=str(bytecode))
        for name in ("GENNAKER_URL", "GENNAKER_TOKEN", "GENNAKER_DATABASE_URL", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        self.log = data_dir.with_suffix(".log")  # a file, not a pipe: a full pipe would stall the server's logging
        self.started = time.perf_counter()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*GENNAKER, "up", "--port", str(self.port)], env=env, stdout=subprocess.DEVNULL, stderr=log
            )

    def wait_healthy(self) -> float:
        """Seconds from the process start until /health answers 200."""
        with httpx.Client(timeout=1) as client:
            while time.perf_counter() - self.started < START_TIMEOUT_S:
                if self.process.poll() is not None:
                    error = self.log.read_text(errors="replace")[-2000:]
                    raise SystemExit(f"gennaker up exited with {self.process.returncode}: {error}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return time.perf_counter() - self.started
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
        raise SystemExit(f"gennaker up did not answer /health within {START_TIMEOUT_S:g} s")

    def use(self) -> None:
        """What a person does first: the home page, the accounts, the account's live objects."""
        with httpx.Client(base_url=self.url, timeout=30, auth=("admin", PASSWORD)) as client:
            for path in ("/ui/applications", "/credentials", "/applications/bench/serverGroups"):
                response = client.get(path)
                if response.status_code >= 400:
                    raise SystemExit(f"GET {path}: {response.status_code} {response.text[:200]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(runs: int, idle: float) -> dict[str, Any]:
    starts: list[float] = []
    start_cpu: list[float] = []
    restarts: list[float] = []
    idle_rss: list[float] = []
    used_rss: list[float] = []
    with KubeEmulator() as kube, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = kube.write_kubeconfig(Path(tmp) / "kubeconfig")
        config = Path(tmp) / "gennaker.yaml"
        account = {"name": "emulator", "kubeconfigFile": str(kubeconfig)}
        config.write_text(yaml.safe_dump({"providers": {"kubernetes": {"accounts": [account]}}}))
        bytecode = Path(tmp) / "bytecode"
        warm_up = Server(Path(tmp) / "data-warm-up", config, bytecode)
        try:
            warm_up.wait_healthy()
            warm_up.use()
        finally:
            warm_up.stop()
        for index in range(runs):
            data_dir = Path(tmp) / f"data-{index}"
            server = Server(data_dir, config, bytecode)
            try:
                starts.append(server.wait_healthy())
                start_cpu.append(cpu_s(server.process.pid))
                time.sleep(idle)
                idle_rss.append(rss_mb(server.process.pid))
                server.use()
                used_rss.append(rss_mb(server.process.pid))
            finally:
                server.stop()
            server = Server(data_dir, config, bytecode)
            try:
                restarts.append(server.wait_healthy())
            finally:
                server.stop()
    return {
        "startup_s": round(statistics.median(starts), 3),
        "startup_cpu_s": round(statistics.median(start_cpu), 3),
        "restart_s": round(statistics.median(restarts), 3),
        "idle_rss_mb": round(statistics.median(idle_rss), 1),
        "used_rss_mb": round(statistics.median(used_rss), 1),
        "runs": runs,
        "target_startup_s": TARGETS["startup_s"],
        "target_idle_rss_mb": TARGETS["idle_rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before the memory is read")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 0 <= args.idle <= 120:
        parser.error("--runs must be 1-20 and --idle 0-120")
    figures = measure(args.runs, args.idle)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:20} {value}")


if __name__ == "__main__":
    main()
