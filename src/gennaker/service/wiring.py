"""The application service as one object (`Runtime.service`): what the API, the pages and the local CLI call.

Each concern is a small class over the database and the stores; what needs the engine (operations, starts,
expressions, the wake-ups) is asked of the runtime when first used. Checks are wired here, once, from the
settings: a user name is judged by the stored users' roles where permissions are enforced (`up`, `worker`,
`scheduler`) and trusted where they are not (the local CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from gennaker.service.access import Access
from gennaker.service.applications import Applications
from gennaker.service.executions import Executions
from gennaker.service.infrastructure import Infrastructure
from gennaker.service.pipelines import PipelineRules, Pipelines
from gennaker.service.system import System
from gennaker.service.tasks import Tasks
from gennaker.service.templates import Templates
from gennaker.service.webhooks import Webhooks

if TYPE_CHECKING:
    from gennaker.engine.launcher import Launcher
    from gennaker.engine.operations import Operations
    from gennaker.engine.registry import Registry
    from gennaker.engine.wakeup import Wakeup
    from gennaker.expressions import Expressions
    from gennaker.providers.base import Providers
    from gennaker.service.starts import Starts
    from gennaker.store.applications import ApplicationStore
    from gennaker.store.database import Database
    from gennaker.store.executions import ExecutionStore
    from gennaker.store.notifications import NotificationStore
    from gennaker.store.pipelines import PipelineStore
    from gennaker.store.queue import QueueStore


class Parts(PipelineRules, Protocol):
    """What the services are built from: the runtime's settings, database, stores and engine."""

    @property
    def db(self) -> Database: ...
    @property
    def applications(self) -> ApplicationStore: ...
    @property
    def pipelines(self) -> PipelineStore: ...
    @property
    def executions(self) -> ExecutionStore: ...
    @property
    def queue(self) -> QueueStore: ...
    @property
    def notifications(self) -> NotificationStore: ...
    @property
    def access(self) -> Access: ...
    @property
    def starts(self) -> Starts: ...
    @property
    def operations(self) -> Operations: ...
    @property
    def launcher(self) -> Launcher: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def expressions(self) -> Expressions: ...
    @property
    def wakeup(self) -> Wakeup: ...
    @property
    def providers(self) -> Providers: ...


class Services:
    def __init__(self, parts: Parts):
        self.access = parts.access
        self.applications = Applications(parts.db, parts.applications, self.access)
        self.pipelines = Pipelines(
            parts.db, parts.pipelines, self.access, lambda: parts, lambda: parts.starts, parts.starts.triggers
        )
        self.executions = Executions(
            parts.db,
            parts.executions,
            parts.pipelines,
            parts.notifications,
            self.access,
            lambda: parts.operations,
            lambda: parts.wakeup,
            lambda: parts.expressions,
        )
        self.templates = Templates(parts.db, lambda: parts.launcher.templates, self.access, lambda: parts.registry)
        self.tasks = Tasks(
            parts.db, self.access, self.applications, lambda: parts.starts, lambda name: _account(parts, name)
        )
        self.infrastructure = Infrastructure(parts.providers, self.access, self.applications, self.tasks)
        self.webhooks = Webhooks(parts.db, parts.pipelines, self.access, lambda: parts.starts)
        self.system = System(parts.db, parts.executions, parts.queue)


def _account(parts: Parts, name: str) -> Mapping[str, Any] | None:
    """A provider account's permissions (LookupError for an account that is not configured)."""
    return parts.providers.account(name).permissions
