"""What the engine benchmarks share: the pipelines, a local HTTP endpoint that answers at once, throw-away
PostgreSQL databases, and a counter of write transactions.

    python bench/workload.py serve     (the endpoint, in its own process; prints its port)
    python bench/workload.py worker N  (engine workers with N threads, as `gennaker worker` runs them, from
                                        GENNAKER_* variables; SIGUSR1 writes its write count to BENCH_COUNTS)

Benchmarks import this module from `bench/` (`python bench/engine.py` puts that folder on the path).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


# -- pipelines ---------------------------------------------------------------------------------------
def fan_pipeline(name: str) -> dict[str, Any]:
    """20 no-op stages: 1, fan-out 5, join, fan-out 5, join, fan-out 5, join, 1."""
    stages: list[dict[str, Any]] = [{"refId": "s0", "type": "wait", "waitTime": 0}]
    previous = ["s0"]
    for layer in range(3):
        branch_ids = [f"b{layer}_{i}" for i in range(5)]
        stages += [{"refId": b, "type": "wait", "waitTime": 0, "requisiteStageRefIds": previous} for b in branch_ids]
        join = f"j{layer}"
        stages.append({"refId": join, "type": "wait", "waitTime": 0, "requisiteStageRefIds": branch_ids})
        previous = [join]
    stages.append({"refId": "last", "type": "wait", "waitTime": 0, "requisiteStageRefIds": previous})
    return {"application": "bench", "name": name, "stages": stages}


def wait_pipeline(name: str, length: int) -> dict[str, Any]:
    """`length` no-op stages (`wait: 0`) one after another: their tasks run inline, in the transaction."""
    stages = [
        {"refId": str(n), "type": "wait", "waitTime": 0, "requisiteStageRefIds": [str(n - 1)] if n else []}
        for n in range(length)
    ]
    return {"application": "bench", "name": name, "stages": stages}


def webhook_pipeline(name: str, url: str, length: int) -> dict[str, Any]:
    """`length` webhook stages one after another, each POSTing to `url` (the external path: leased, called
    outside the transaction, its answer applied after)."""
    stages = [
        {
            "refId": str(n),
            "type": "webhook",
            "name": f"Notify {n}",
            "url": url,
            "method": "POST",
            "payload": {"stage": n, "pipeline": name},
            "requisiteStageRefIds": [str(n - 1)] if n else [],
        }
        for n in range(length)
    ]
    return {"application": "bench", "name": name, "stages": stages}


def loopback_config() -> dict[str, Any]:
    """The configuration that lets webhooks reach the local endpoint (benchmarks only: the default refuses it)."""
    return {"outbound": {"allowNetworks": ["127.0.0.1/32"]}}


# -- the endpoint ------------------------------------------------------------------------------------
class Endpoint:
    """An HTTP server on 127.0.0.1 in a child process that answers every request at once (keep-alive)."""

    def __enter__(self) -> Endpoint:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/hook"
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class _Answering(asyncio.Protocol):
    """One connection: answers each complete request (head, then Content-Length bytes of body) at once.
    A protocol rather than streams: no reader, writer or task per connection, so the stand-in for a remote
    service takes as little of the two cores the measured workers share with it as asyncio allows."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(ANSWER)


async def _serve() -> None:
    server = await asyncio.get_running_loop().create_server(_Answering, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


# -- databases ---------------------------------------------------------------------------------------
class PostgresDatabase:
    """A throw-away database on the local PostgreSQL server."""

    def __init__(self, name: str):
        self.name = name
        self.url = f"postgresql://postgres@127.0.0.1:5432/{name}"

    def __enter__(self) -> PostgresDatabase:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *_: object) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class WriteCounter:
    """Counts committed transactions that wrote, asking the database at each commit (not estimated): on SQLite
    whether rows changed since the transaction began; on PostgreSQL whether the transaction took a
    transaction id, which any write does (a changed or locked row, a NOTIFY)."""

    def __init__(self, engine: Engine):
        self.count = 0
        self.extra = 0  # transactions made outside this engine (a NOTIFY on a connection of its own)
        self.sqlite = engine.dialect.name == "sqlite"
        event.listen(engine, "begin", self._began)
        event.listen(engine, "commit", self._committed)

    def _began(self, conn: Connection) -> None:
        if self.sqlite:
            conn.info["changes"] = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]

    def _committed(self, conn: Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        if self.sqlite:
            wrote = dbapi.total_changes != conn.info.pop("changes", None)
        else:
            cursor = dbapi.cursor()
            cursor.execute("SELECT txid_current_if_assigned() IS NOT NULL")
            wrote = cursor.fetchone()[0]
            cursor.close()
        if wrote:
            self.count += 1

    def wrap(self, send: Callable[[], int]) -> Callable[[], int]:
        """Count each call of `send`, a function that commits a transaction of its own."""

        def counted() -> int:
            self.extra += 1
            return send()

        return counted

    @property
    def total(self) -> int:
        return self.count + self.extra


# -- worker processes ------------------------------------------------------------------------------
class Workers:
    """`processes` worker processes with `threads` worker threads each, started and stopped together."""

    def __init__(self, env: dict[str, str], processes: int, threads: int, counts: str):
        self.counts = counts
        env = {**os.environ, **env, "BENCH_COUNTS": counts}
        with open(f"{counts}.log", "ab") as log:
            self.processes = [
                subprocess.Popen([sys.executable, __file__, "worker", str(threads)], env=env, stderr=log)
                for _ in range(processes)
            ]
        for process in self.processes:  # each reports once when its workers run
            self._answer(process)

    def _answer(self, process: subprocess.Popen[bytes]) -> int:
        path = f"{self.counts}.{process.pid}"
        deadline = time.monotonic() + 60
        while not os.path.exists(path):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"worker {process.pid} did not report its counts (see {self.counts}.log)")
            time.sleep(0.01)
        with open(path) as answer:
            count = int(answer.read())
        os.unlink(path)
        return count

    def writes(self) -> int:
        """Write transactions the processes have committed so far (each answers SIGUSR1 with its count)."""
        total = 0
        for process in self.processes:
            process.send_signal(signal.SIGUSR1)
            total += self._answer(process)
        return total

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


def _work(threads: int) -> None:
    from gennaker.engine import wakeup
    from gennaker.runtime import Runtime, Settings

    runtime = Runtime(Settings.from_env())
    counter = WriteCounter(runtime.db.writer)
    if isinstance(runtime.wakeup, wakeup.PostgresWakeup):
        runtime.wakeup.notify = counter.wrap(runtime.wakeup.notify)  # type: ignore[method-assign]

    def report(*_: object) -> None:
        path = f"{os.environ['BENCH_COUNTS']}.{os.getpid()}"
        with open(path + ".tmp", "w") as out:
            out.write(str(counter.total))
        os.replace(path + ".tmp", path)

    stop = threading.Event()
    signal.signal(signal.SIGUSR1, report)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start_workers(threads)
    report()
    stop.wait()
    runtime.close()


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    asyncio.run(_serve())
elif __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    _work(int(sys.argv[2]))
