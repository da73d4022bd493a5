"""Notification benchmark (issue 13): how many e-mail notifications per second the outbox delivers to a local
SMTP server (aiosmtpd on loopback), with one sender loop and with two loops sharing the table.

    python bench/notifications.py [--json] [--count 500]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the SMTP server fixture lives under tests/

from tests.integration.notifications.servers import MailHandler, SmtpServer

from gennaker.notifications.config import NotificationSettings
from gennaker.notifications.outbox import Outbox
from gennaker.notifications.senders import EmailSender
from gennaker.runtime import Runtime, Settings
from gennaker.store.notifications import NewNotification, NotificationStore


def fill(rt: Runtime, execution_id: str, count: int) -> None:
    rows = [
        NewNotification(
            f"{execution_id}:-:pipeline.failed:{i}:email:team@example.com",
            execution_id,
            "email",
            "team@example.com",
            {"subject": f"bench {i}", "message": "text", "link": f"http://127.0.0.1:8084/ui/executions/{execution_id}"},
        )
        for i in range(count)
    ]
    with rt.db.transaction() as conn:
        NotificationStore().add(conn, rows, int(time.time() * 1000))


def per_second(count: int, loops: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, SmtpServer(MailHandler()) as server:
        section = {"email": {"enabled": True, "from": "bench@example.com", "host": "127.0.0.1", "port": server.port}}
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db"))
        try:
            fill(rt, "01BENCH", count)
            settings = NotificationSettings.from_config({**section, "batchSize": 20})
            outboxes = [Outbox(rt.db, {"email": EmailSender(settings.email)}, settings=settings) for _ in range(loops)]
            started = time.perf_counter()
            threads = [threading.Thread(target=_drain, args=(o,)) for o in outboxes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            assert len(server.handler.messages) == count, "every notification is delivered exactly once"
            return count / elapsed
        finally:
            rt.close()


def _drain(outbox: Outbox) -> None:
    while outbox.deliver_due():
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    figures = {
        "notifications": float(args.count),
        "notifications_per_s": per_second(args.count, 1),
        "notifications_per_s_2_loops": per_second(args.count, 2),
    }
    for name, value in figures.items():
        print(f"{name:30s} {value:10.2f}")
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
