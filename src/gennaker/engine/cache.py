"""Executions kept decoded between a worker's transactions, so a transition costs what it touches.

Decoding every stage of an execution for every transition makes long pipelines slow per stage. A worker
process keeps the executions it handled last (a bounded number of stages, least recently used first) and
reuses one while its stored header is unchanged: every save stores a new revision in the header, so any
change by anyone (another worker, an operation from the API) shows there. The entries are changed in place
by the transaction that holds the execution's lock; a transaction that fails, at its commit too, drops them
(`Worker._transaction`).

Tasks that run outside the transaction read a snapshot instead (`snapshot`): the execution as just
committed, built from stage objects decoded once per stored stage document and never changed afterwards
(tasks treat the execution as read-only), plus a fresh copy of the task's own stage. Between two snapshots
only the stages rewritten in between are decoded again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from gennaker.model.execution import Execution, Stage
from gennaker.store import codec
from gennaker.store.executions import ExecutionStore, Loaded, header_data

# Stage objects kept, counting both the live and the snapshot copies (a few KB each).
MAX_CACHED_STAGES = 6000


@dataclass(slots=True)
class Entry:
    loaded: Loaded
    frozen: dict[str, tuple[str, Stage]] = field(default_factory=dict)  # stage id -> (stored doc, decoded)
    weight: int = 0  # stages counted against the bound: the live ones and their snapshot copies
    # The snapshot stages in order, and the live stage list and length they were built for.
    stages: list[Stage] = field(default_factory=list)
    shape: tuple[list[Stage], int] | None = None


class ExecutionCache:
    def __init__(self, store: ExecutionStore, max_stages: int = MAX_CACHED_STAGES):
        self._store = store
        self._max_stages = max_stages
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def load(self, conn: Connection, execution_id: str, header: str | None = None) -> Loaded | None:
        """The execution as stored now: the kept one if its header has not changed, else read afresh.
        The caller holds the execution's lock (and may pass the header it read when taking it)."""
        if header is None:
            header = self._store.header(conn, execution_id)
        if header is None:
            self.evict([execution_id])
            return None
        with self._lock:
            entry = self._entries.get(execution_id)
            if entry is not None and entry.loaded.header == header:
                self._entries.move_to_end(execution_id)
                return entry.loaded
        # Changed by someone else: the stages it did not rewrite are taken from the kept entry, live and
        # snapshot copies alike (each is checked against its stored document).
        loaded = self._store.load_stages(conn, execution_id, header, entry.loaded if entry else None)
        with self._lock:
            self._drop(execution_id)
            entry = self._entries[execution_id] = Entry(
                loaded, frozen=entry.frozen if entry else {}, weight=2 * len(loaded.execution.stages)
            )
            self._weight += entry.weight
            while self._weight > self._max_stages and len(self._entries) > 1:
                self._drop(next(iter(self._entries)))
        return loaded

    def evict(self, execution_ids: Iterable[str]) -> None:
        with self._lock:
            for execution_id in execution_ids:
                self._drop(execution_id)

    def _drop(self, execution_id: str) -> None:
        entry = self._entries.pop(execution_id, None)
        if entry is not None:
            self._weight -= entry.weight

    def snapshot(self, loaded: Loaded, stage_id: str) -> tuple[Execution, Stage]:
        """A read-only copy of the saved execution for a task of `stage_id`, and that stage (its own copy)."""
        with self._lock:
            entry = self._entries.get(loaded.execution.id)
        if entry is None or entry.loaded is not loaded:
            entry = Entry(loaded)  # not kept: a copy built from scratch
        live = loaded.execution.stages
        if entry.shape is None or entry.shape[0] is not live or entry.shape[1] != len(live):
            entry.stages = [self._frozen(entry, stage.id) for stage in live]
        else:
            for rewritten in loaded.rewritten:
                entry.stages[loaded.stage_docs[rewritten][0]] = self._frozen(entry, rewritten)
        loaded.rewritten.clear()
        entry.shape = (live, len(live))
        position, doc = loaded.stage_docs[stage_id]
        own = Stage.from_json(codec.loads(doc))
        stages = list(entry.stages)
        stages[position] = own
        execution = Execution.from_json(header_data(loaded.header))
        execution.stages = stages
        return execution, own

    @staticmethod
    def _frozen(entry: Entry, stage_id: str) -> Stage:
        """The stage as stored, decoded once per stored document."""
        doc = entry.loaded.stage_docs[stage_id][1]
        kept = entry.frozen.get(stage_id)
        if kept is None or kept[0] != doc:
            kept = entry.frozen[stage_id] = (doc, Stage.from_json(codec.loads(doc)))
        return kept[1]
