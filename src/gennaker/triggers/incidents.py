"""Logging a failing polled source once per incident, not once per poll.

A registry that is down for an hour would otherwise write a warning every 30 seconds. The first failure of
a kind (`http-500`, `timeout`, `auth`, ...) is a warning; the same kind again is DEBUG; a different kind is a
new incident (a warning again); the first success after a failure is one INFO line saying how long it lasted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class IncidentLog:
    def __init__(self, logger: logging.Logger, source: str, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.source = source
        self.clock = clock
        self.kind: str | None = None
        self.message: str | None = None  # the latest failure, for status pages and tests
        self.since = 0.0
        self.repeats = 0

    @property
    def failing(self) -> bool:
        return self.kind is not None

    def failed(self, kind: str, message: str) -> None:
        if kind == self.kind:
            self.repeats += 1
            self.message = message
            self.logger.debug("%s still failing (%d times): %s", self.source, self.repeats + 1, message)
            return
        self.kind, self.message, self.since, self.repeats = kind, message, self.clock(), 0
        self.logger.warning("%s: %s (logged once until it changes or recovers)", self.source, message)

    def succeeded(self) -> None:
        if self.kind is None:
            return
        lasted = self.clock() - self.since
        self.logger.info("%s recovered after %.0fs and %d failed polls", self.source, lasted, self.repeats + 1)
        self.kind, self.message, self.repeats = None, None, 0
