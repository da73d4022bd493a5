"""A worker process with the test stage types, for crash and scale-out tests.

    python -m tests.integration.engine.worker_process   (GENNAKER_DATABASE_URL, GENNAKER_DATA_DIR,
                                                         GENNAKER_TASK_LEASE_MS, EFFECTS_DB)

`testPoll` tasks record their final side effect in EFFECTS_DB: an attempts row every time, and an
effects row keyed by execution/stage that is written at most once (the task is idempotent).
"""

import os
import signal
import sqlite3
import threading

from gennaker.runtime import Runtime, Settings
from tests.support import PollTask, test_registry


def record_effect(key: str) -> None:
    with sqlite3.connect(os.environ["EFFECTS_DB"], timeout=30) as conn:
        conn.execute("INSERT INTO attempts(key) VALUES (?)", (key,))
        conn.execute("INSERT OR IGNORE INTO effects(key) VALUES (?)", (key,))


def main() -> None:
    PollTask.side_effects = record_effect
    runtime = Runtime(Settings.from_env(), registry=test_registry())
    runtime.start_workers(int(os.environ.get("WORKER_THREADS", "1")))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    runtime.close()


if __name__ == "__main__":
    main()
