"""Live change streams, as an async iterator the API's event streams and the pages' htmx streams read: the
ids of the executions each commit changed (workers publish them in-process, or through NOTIFY on
PostgreSQL) and the accounts whose watched Kubernetes objects changed. Nothing polls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

KEEPALIVE_S = 15.0


Subscribe = Callable[[Callable[[list[str]], None]], Callable[[], None]]


async def changes(
    subscribe: Subscribe, disconnected: Callable[[], Awaitable[bool]], keepalive_s: float = KEEPALIVE_S
) -> AsyncIterator[set[str] | None]:
    """Sets of changed ids as they are published by `subscribe`'s source (execution ids from the workers'
    wake-ups, account names from the Kubernetes watches), None on keep-alive timeouts, until the reader has
    gone.

    The first item is an empty set, yielded once the subscription is in place: a stream reads its initial
    state then, so a change made between that read and the next item is never missed.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[str]] = asyncio.Queue()

    def publish(ids: list[str]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ids)

    unsubscribe = subscribe(publish)
    try:
        yield set()
        while not await disconnected():
            try:
                ids = set(await asyncio.wait_for(queue.get(), keepalive_s))
            except TimeoutError:
                yield None
                continue
            while not queue.empty():  # coalesce bursts into one read
                ids.update(queue.get_nowait())
            yield ids
    finally:
        unsubscribe()
