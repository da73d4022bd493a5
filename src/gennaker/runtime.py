"""The wired-up system: settings from the environment, the database, stores, engine and operations.

The CLI, the API and the tests all build one `Runtime` and use its parts; nothing else holds global state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from gennaker.artifacts import ArtifactFetcher, artifact_accounts
from gennaker.artifacts.fetchers import OutboundPolicy, public_only_guard
from gennaker.auth.identity import DefaultPolicy, Identity
from gennaker.auth.permissions import Permissions
from gennaker.auth.service import AuthService
from gennaker.canary.accounts import metrics_accounts
from gennaker.canary.metrics_source import PrometheusMetricsSource
from gennaker.engine.contracts import EngineServices, ExpressionEvaluator
from gennaker.engine.evaluation import PipelineExpressions
from gennaker.engine.handlers import Handlers
from gennaker.engine.launcher import Launcher
from gennaker.engine.operations import Operations
from gennaker.engine.registry import Registry
from gennaker.engine.unit import Unit
from gennaker.engine.wakeup import PostgresWakeup, Wakeup
from gennaker.engine.worker import Worker
from gennaker.engine.zombies import find_zombies, repair
from gennaker.expressions import Expressions
from gennaker.model.compatibility import SPINNAKER_STAGES_NOT_RUN, FieldWarning, pipeline_warnings
from gennaker.model.pipeline import FieldError, PipelineValidationError, assign_ref_ids, validate_pipeline
from gennaker.model.pipeline_templates import is_templated
from gennaker.notifications.config import NotificationSettings
from gennaker.notifications.outbox import SENT_TYPES, Outbox, OutboxRecorder
from gennaker.notifications.senders import senders_from_settings
from gennaker.providers.base import Providers
from gennaker.providers.kubernetes import KubernetesProvider
from gennaker.service.access import Access
from gennaker.service.canary import CanaryConfigs
from gennaker.service.starts import Starts
from gennaker.service.wiring import Services
from gennaker.settings import Settings
from gennaker.stages import core_registry
from gennaker.stages.bake_manifest import BakeManifestStage, CreateBakeManifestTask
from gennaker.stages.canary import CanaryAccess, add_canary_stages
from gennaker.stages.jenkins import jenkins_stage  # Jenkins stage (issue 13)
from gennaker.stages.manifest import add_manifest_stages
from gennaker.stages.webhook import add_webhook_stages
from gennaker.store.applications import ApplicationStore
from gennaker.store.canary import CanaryStore
from gennaker.store.database import Database
from gennaker.store.executions import ExecutionStore
from gennaker.store.notifications import NotificationStore
from gennaker.store.pipelines import PipelineStore
from gennaker.store.queue import QueueStore
from gennaker.triggers import FIRING_TRIGGER_TYPES
from gennaker.triggers.pollers import PollerFactory
from gennaker.triggers.scheduler import CronTrigger, Scheduler, SchedulerSettings, next_fire_times


def _stored_identities(db: Database) -> Callable[[str], Identity | None]:
    return AuthService(db).identity


def _path_between(edges: Mapping[str, list[str]], start: str, goal: str) -> list[str] | None:
    """A path `start` → … → `goal` along `edges`, or None."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        if current == goal:
            return paths[current]
        for nxt in edges.get(current, []):
            if nxt not in paths:
                paths[nxt] = [*paths[current], nxt]
                frontier.append(nxt)
    return None


class StoreLookups:
    """What expression helpers look up outside the execution (`#pipelineId`, `#applicationMetadata`).

    Each lookup acts as the execution's user: an application that user may not READ is not found, so an
    expression cannot read another team's application or pipeline ids."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def pipeline_id(self, application: str, name: str, user: str | None) -> str | None:
        if self.application(application, user) is None:
            return None
        with self.runtime.db.read() as conn:
            config = self.runtime.pipelines.get_by_name(conn, application, name)
        return str(config["id"]) if config else None

    def application(self, name: str, user: str | None) -> dict[str, Any] | None:
        with self.runtime.db.read() as conn:
            found = self.runtime.applications.get(conn, name)
        if found is None or not self.runtime.settings.enforce_permissions:
            return found
        return found if self.runtime.permissions.application(user, found, "READ") else None

    def canary_config_id(self, name: str, application: str, user: str | None) -> str | None:
        return self.runtime.canary_configs.id_by_name(name, application, user)

    def current_user(self) -> str | None:
        return None  # the execution's own user is used


class Runtime:
    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        expressions: ExpressionEvaluator | None = None,
    ):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.database_url, synchronous=settings.sqlite_synchronous)
        self.db.migrate()
        # Deployment targets: each provider built from its section, in `providers`, its stages registered below.
        self.kubernetes = KubernetesProvider.from_config((settings.config.get("providers") or {}).get("kubernetes"))
        self.providers = Providers([self.kubernetes])
        self.artifact_accounts = artifact_accounts(settings.config.get("artifacts") or {})
        outbound = OutboundPolicy.from_config(settings.config.get("outbound"))
        self.fetch_artifact = ArtifactFetcher(
            self.artifact_accounts,
            guard=public_only_guard(outbound),
            git_cache_dir=settings.data_dir / "git-cache",
            local_git_paths=outbound.local_git_paths,
        )
        self.registry = registry or core_registry()
        add_manifest_stages(self.registry, self.kubernetes, fetch=self.fetch_artifact)
        self.registry.add_stage(
            BakeManifestStage(), CreateBakeManifestTask.from_config(self.fetch_artifact, settings.config.get("bake"))
        )
        add_webhook_stages(self.registry, settings.config.get("webhook"), outbound)
        self.registry.add_stage(  # Jenkins stage (issue 13): masters from ci.jenkins, used as the execution's user
            *jenkins_stage(
                settings.config, lambda u, p, w: not settings.enforce_permissions or self.permissions.account(u, p, w)
            )
        )
        self.applications = ApplicationStore()
        self.pipelines = PipelineStore()
        self.executions = ExecutionStore()
        self.queue = QueueStore()
        self.notifications = NotificationStore()
        self.permissions = Permissions(_stored_identities(self.db), DefaultPolicy(settings.default_application_roles))
        self.canary = CanaryStore()  # canary configs and judgments (issue 14)
        # Who may do what to applications and accounts: one rule for the services and the canary configs.
        self.access = Access(self.applications, self.permissions if settings.enforce_permissions else None)
        self.canary_configs = CanaryConfigs(self.db, self.canary, self.access)
        self.metrics = PrometheusMetricsSource(metrics_accounts(settings.config), public_only_guard(outbound))
        add_canary_stages(  # kayentaCanary and canaryDeployment (issue 14), metrics read as the execution's user
            self.registry,
            CanaryAccess(
                self.db, self.canary, self.metrics, self.permissions.account if settings.enforce_permissions else None
            ),
            self.kubernetes,
        )
        if settings.enforce_permissions:
            self.kubernetes.account_check = lambda user, account, permission: self.permissions.account(
                user, account.permissions, permission
            )
        self.expressions = Expressions(StoreLookups(self))
        self.launcher = Launcher(self.executions, self.queue, self.expressions)
        self.wakeup: Wakeup = Wakeup(settings.data_dir / "wakeup") if self.db.is_sqlite else PostgresWakeup(self.db.url)
        self.starts = Starts(
            self.db,
            self.pipelines,
            self.applications,
            self.launcher,
            self.permissions,
            settings.enforce_permissions,
            lambda: self.wakeup,
        )
        self.services = EngineServices(
            expressions=expressions or PipelineExpressions(self.expressions),
            start_child=self.starts.child,
            start_task=self.launcher.start_orchestration,
            on_execution_complete=self.starts.dependents,
            on_events=OutboxRecorder(NotificationSettings.from_config(settings.config.get("notifications"))),
            read_execution=self.executions.get_json,
            list_executions=self.executions.list_json,
            application_allows=self.starts.allows,
            resource_allows=self.permissions.account if settings.enforce_permissions else None,
            settings=settings.engine,
        )
        self.handlers = Handlers(self.registry, self.services, self.executions, self.queue)
        self.operations = Operations(self.db, self.executions, self.queue, self.registry, self.wakeup)
        self.service = Services(self)  # what the API, the pages and the local CLI call (issue 15)
        self._workers: list[tuple[Worker, threading.Thread]] = []
        # Metrics hooks, set by the API when it serves /metrics.
        self.on_batch_handled: Callable[[float], None] | None = None
        self.on_stage_complete: Callable[[str, str, float], None] | None = None

    # -- configs -----------------------------------------------------------------------------------
    def save_pipeline(self, config: dict[str, Any], user: str | None, *, allow_unknown: bool = False) -> dict[str, Any]:
        """Validate and store a pipeline config, creating its application if it does not exist.

        Spinnaker types Gennaker cannot act on save (see `pipeline_warnings`); types Spinnaker does not
        define are refused unless `allow_unknown`."""
        config = assign_ref_ids(config)
        errors = self.pipeline_problems(config, allow_unknown=allow_unknown)
        errors += self._run_as_errors(config, user)
        errors += self._trigger_loop_errors(config)
        errors = self._templated_errors(config, errors)
        if errors:
            raise PipelineValidationError(errors)
        with self.db.transaction() as conn:
            if config.get("id"):
                existing = self.pipelines.get(conn, str(config["id"]))
                if existing is not None and existing["application"] != config["application"].lower():
                    raise PipelineValidationError([FieldError("id", "is the id of a pipeline of another application")])
            if self.applications.get(conn, config["application"]) is None:
                self.applications.save(conn, config["application"], {}, user)
            return self.pipelines.save(conn, config, user)

    def pipeline_problems(self, config: dict[str, Any], *, allow_unknown: bool = False) -> list[FieldError]:
        """What stops `config` from being saved: its shape, stage graph, types and stage contexts."""
        return validate_pipeline(
            config,
            self.registry.stage_types | set(SPINNAKER_STAGES_NOT_RUN),
            self.registry.context_schemas(),
            allow_unknown=allow_unknown,
        )

    def pipeline_warnings(self, config: Mapping[str, Any]) -> list[FieldWarning]:
        """What a stored config names that will not act: stages that fail if run, triggers that do not fire,
        notifications that are not sent."""
        return pipeline_warnings(config, self.registry.runs, FIRING_TRIGGER_TYPES, sent_notifications=SENT_TYPES)

    def _trigger_loop_errors(self, config: dict[str, Any]) -> list[FieldError]:
        """`pipeline` triggers that would make this pipeline start itself again, directly or through others."""
        own_id = config.get("id")
        with self.db.read() as conn:
            stored = {c["id"]: c for c in self.pipelines.all(conn)}
        if not own_id:  # a new pipeline: found by name, or nobody can wait for it yet
            own_id = next(
                (
                    i
                    for i, c in stored.items()
                    if (c["application"], c["name"]) == (str(config.get("application", "")).lower(), config.get("name"))
                ),
                None,
            )
        if not own_id:
            return []
        stored[own_id] = {**config, "id": own_id}
        waiting: dict[str, list[str]] = {}  # a pipeline id -> the pipelines its end starts
        for other in stored.values():
            for trigger in other.get("triggers") or []:
                if isinstance(trigger, dict) and trigger.get("type") == "pipeline" and trigger.get("enabled", True):
                    waiting.setdefault(str(trigger.get("pipeline")), []).append(other["id"])
        errors = []
        for index, trigger in enumerate(config.get("triggers") or []):
            if not (isinstance(trigger, dict) and trigger.get("type") == "pipeline" and trigger.get("enabled", True)):
                continue
            path = _path_between(waiting, own_id, str(trigger.get("pipeline")))
            if path is not None:
                names = " → ".join(str(stored[i]["name"]) if i in stored else i for i in [*path, own_id])
                errors.append(FieldError(f"triggers[{index}].pipeline", f"would start a loop: {names}"))
        return errors

    def _run_as_errors(self, config: dict[str, Any], user: str | None) -> list[FieldError]:
        """Triggers naming a `runAsUser` the saving user may not act as."""
        if not self.settings.enforce_permissions:
            return []
        return [
            FieldError(f"triggers[{index}].runAsUser", f"{user or 'anonymous'} may not run pipelines as {run_as}")
            for index, trigger in enumerate(config.get("triggers") or [])
            if isinstance(trigger, dict)
            and (run_as := trigger.get("runAsUser"))
            and not self.permissions.may_run_as(user, str(run_as))
        ]

    def _templated_errors(self, config: dict[str, Any], errors: list[FieldError]) -> list[FieldError]:
        """A templated pipeline (v2) is checked with its stored template: its stages may depend on the
        template's, and it must render (a missing template is an error on `template.reference`)."""
        if not is_templated(config):
            return errors
        with self.db.read() as conn:
            return self.launcher.templates.save_problems(conn, config, errors)

    # -- executions --------------------------------------------------------------------------------
    def start_pipeline(self, application: str, name: str, trigger: dict[str, Any], user: str) -> str:
        """Start a pipeline by name as `user` (the CLI's and the tests' way in; see `service/starts.py`)."""
        return self.starts.manual_by_name(application, name, trigger, user)

    # -- the scheduler ------------------------------------------------------------------------------
    def new_scheduler(self) -> Scheduler:
        """Cron triggers and pollers, started as the pipeline's last editor unless a `runAsUser` is allowed."""

        def fire(conn: Connection, config: Mapping[str, Any], trigger: dict[str, Any]) -> str:
            return self.starts.by_trigger(conn, config, trigger, str(config.get("lastModifiedBy") or "anonymous"))

        settings = SchedulerSettings.from_config(self.settings.config.get("scheduler"))
        pollers = PollerFactory(self.settings.config)  # a bad docker, helm, ci or outbound section stops here
        return Scheduler(self.db, fire, settings, on_started=self._wake_workers, pollers_for=pollers)

    def next_fire_times(
        self, config: Mapping[str, Any], count: int = 3
    ) -> list[tuple[int, CronTrigger, list[datetime]]]:
        """The next fire times of the config's cron triggers, in the scheduler's time zone unless they name one."""
        zone_name = SchedulerSettings.from_config(self.settings.config.get("scheduler")).timezone
        return next_fire_times(config, zone_name, datetime.now(UTC), count)

    def new_outbox(self) -> Outbox:
        """The notification sender (`start()` runs its loop); any number of processes may run one."""
        settings = NotificationSettings.from_config(self.settings.config.get("notifications"))
        guard = public_only_guard(OutboundPolicy.from_config(self.settings.config.get("outbound")))
        return Outbox(self.db, senders_from_settings(settings, guard), settings=settings)

    def _wake_workers(self) -> None:
        self.wakeup.notify()

    # -- zombies -----------------------------------------------------------------------------------
    def find_zombies(self) -> list[str]:
        with self.db.read() as conn:
            return find_zombies(conn, self.executions, self.queue)

    def repair_zombies(self, execution_ids: list[str]) -> int:
        """Rebuild the missing messages of these executions; returns how many messages were queued."""
        queued = 0
        for execution_id in execution_ids:
            with self.db.transaction() as conn:
                self.executions.lock(conn, [execution_id])
                unit = Unit(conn, self.executions, self.queue, [execution_id], lambda _e, _m: True)
                execution = unit.execution(execution_id)
                if execution is None or execution.status.is_complete:
                    continue
                queued += repair(unit, execution)
                unit.flush()
        self.wakeup.notify()
        return queued

    # -- workers -----------------------------------------------------------------------------------
    def new_worker(self) -> Worker:
        return Worker(
            self.db,
            self.handlers,
            self.wakeup,
            external_threads=self.settings.external_task_threads,
            lease_ms=self.settings.task_lease_ms,
            on_handled=self.on_batch_handled,
            on_stage_complete=self.on_stage_complete,
        )

    def start_workers(self, count: int | None = None) -> None:
        for index in range(count or self.settings.worker_threads):
            worker = self.new_worker()
            thread = threading.Thread(target=worker.run_supervised, name=f"worker-{index}", daemon=True)
            thread.start()
            self._workers.append((worker, thread))

    def stop_workers(self) -> None:
        for worker, _ in self._workers:
            worker.stop()
        for _, thread in self._workers:
            thread.join(timeout=10)
        self._workers.clear()

    def close(self) -> None:
        self.stop_workers()
        self.providers.close()
        self.metrics.close()
        self.wakeup.close()
        self.db.dispose()
