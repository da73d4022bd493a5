"""Pushed wake-ups for idle workers: nobody polls the queue table.

In one process an Event wakes the worker threads. SQLite deployments with several processes (a CLI next
to `gennaker up`) also send a datagram to every worker process's socket in the data directory.
PostgreSQL deployments use LISTEN/NOTIFY, sent inside the transaction so it arrives when it commits; each
process signs its wake-ups and ignores its own, since it woke its threads itself when it committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # psycopg (10 MB) is imported by PostgresWakeup only: SQLite deployments never load it
    import psycopg

log = logging.getLogger(__name__)
CHANNEL = "gennaker_queue"
CHANGES_CHANNEL = "gennaker_changes"
ChangeListener = Callable[[list[str]], None]


class Wakeup:
    """In-process wake-up, optionally extended across processes through Unix datagram sockets."""

    def __init__(self, socket_dir: Path | None = None):
        self._changed = threading.Condition()
        self._generation = 0
        self._socket_dir = socket_dir
        self._listener: socket.socket | None = None
        self._path: Path | None = None
        self._listen_lock = threading.Lock()
        self._change_listeners: list[ChangeListener] = []

    # -- execution changes, for live views ---------------------------------------------------------
    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener(execution_ids)` after every commit that changed executions; returns an unsubscribe."""
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener)

    def changed_sql(self, execution_ids: Iterable[str]) -> str | None:
        """SQL announcing changes to other processes from inside the committing transaction, if any."""
        return None

    def publish_changes(self, execution_ids: Iterable[str]) -> None:
        ids = list(execution_ids)
        if not ids:
            return
        for listener in list(self._change_listeners):
            try:
                listener(ids)
            except Exception:
                log.exception("change listener failed")

    def notify_sql(self) -> str | None:
        """SQL to run inside a committing transaction to wake other processes, if the backend has one."""
        return None

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wake_local(self) -> None:
        """Wake this process's idle workers only (other processes were told another way, or need not be)."""
        self._bump()

    def generation(self) -> int:
        """Take this before looking for work; `wait` returns at once if a wake-up came since."""
        return self._generation

    def notify(self) -> int:
        """Wake local waiters and other processes; returns how many other processes were reached."""
        self._bump()
        if self._socket_dir is None or not self._socket_dir.exists():
            return 0
        reached = 0
        for path in self._socket_dir.glob("*.sock"):
            if path == self._path:
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                try:
                    sender.sendto(b"!", str(path))
                    reached += 1
                except OSError:  # a process that died without removing its socket
                    with contextlib.suppress(OSError):
                        path.unlink()
        return reached

    def workers_elsewhere(self) -> bool:
        """Whether another live process would handle queued work."""
        return self.notify() > 0

    def listen(self) -> None:
        """Start receiving wake-ups sent by other processes (once, however many worker threads ask)."""
        with self._listen_lock:
            self._listen()

    def _listen(self) -> None:
        if self._socket_dir is None or self._listener is not None:
            return
        self._socket_dir.mkdir(parents=True, exist_ok=True)
        self._path = self._socket_dir / f"{os.getpid()}-{id(self)}.sock"
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(self._path))
        self._listener = listener
        threading.Thread(target=self._receive, name="wakeup-socket", daemon=True).start()

    def _receive(self) -> None:
        assert self._listener is not None
        while True:
            try:
                self._listener.recv(16)
            except OSError:
                return
            self._bump()

    def wait(self, seen_generation: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen_generation, timeout)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()


class PostgresWakeup(Wakeup):
    """LISTEN on a dedicated connection; NOTIFY is issued by the committing transaction itself, with this
    process's token as its payload so the process's own listener can tell the echo of its own wake-ups."""

    def __init__(self, dsn: str):
        super().__init__(None)
        self._token = uuid.uuid4().hex
        self._dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._sender: psycopg.Connection[tuple[object, ...]] | None = None
        self._send_lock = threading.Lock()

    def notify(self) -> int:
        """Wake this process and, through NOTIFY, every other worker process."""
        import psycopg

        self._bump()
        with self._send_lock:
            if self._sender is None or self._sender.closed:
                self._sender = psycopg.connect(self._dsn, autocommit=True)
            self._sender.execute(self.notify_sql())
        return 0

    def notify_sql(self) -> str:
        return f"NOTIFY {CHANNEL}, '{self._token}'"

    def changed_sql(self, execution_ids: Iterable[str]) -> str | None:
        ids = ",".join(i for i in execution_ids if i.isalnum())
        return f"NOTIFY {CHANGES_CHANNEL}, '{ids}'" if ids else None

    def workers_elsewhere(self) -> bool:
        return True  # scale-out deployments run their workers as separate processes

    def _listen(self) -> None:
        import psycopg

        if self._conn is not None:
            return
        self._conn = psycopg.connect(self._dsn, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")
        self._conn.execute(f"LISTEN {CHANGES_CHANNEL}")
        threading.Thread(target=self._receive_notifies, name="wakeup-listen", daemon=True).start()

    def _receive_notifies(self) -> None:
        import psycopg

        assert self._conn is not None
        try:
            for notice in self._conn.notifies():
                if notice.channel == CHANGES_CHANNEL:
                    self.publish_changes(notice.payload.split(","))
                elif notice.payload != self._token:  # the sender woke its own threads when it committed
                    self._bump()
        except psycopg.Error:
            log.info("wake-up listener stopped")

    def close(self) -> None:
        for conn in (self._conn, self._sender):
            if conn is not None:
                conn.close()
        self._conn = self._sender = None
