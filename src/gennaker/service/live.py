"""Live change streams: the ids of the executions each commit changed, as an async iterator the API's event
streams and the pages' htmx streams both read. Workers publish them (in-process, or through NOTIFY on
PostgreSQL); nothing polls the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from gennaker.engine.wakeup import Wakeup

KEEPALIVE_S = 15.0


async def changes(
    wakeup: Wakeup, disconnected: Callable[[], Awaitable[bool]], keepalive_s: float = KEEPALIVE_S
) -> AsyncIterator[set[str] | None]:
    """Sets of changed execution ids as they are published (None on keep-alive timeouts), until the reader
    has gone.

    The first item is an empty set, yielded once the subscription is in place: a stream reads its initial
    state then, so a change made between that read and the next item is never missed.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[list[str]] = asyncio.Queue()

    def publish(ids: list[str]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, ids)

    unsubscribe = wakeup.subscribe(publish)
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
