"""`runCanary`: one judgment of a kayentaCanary stage ("Run Canary #n"), planned by that stage.

Where Orca asks Kayenta to run a canary and polls it, Gennaker does the work itself in one external task:
fetch every metric of the canary config for the control and experiment scopes, pair the series, judge them
with NetflixACAJudge, store the judgment (with the series, so the report can chart them) and apply Orca's
interval gate: a score at or below `marginal` fails the canary at once.

What fails an interval, as in Kayenta: a config or account that cannot be found or used, PromQL the metrics
source rejects, series that cannot be paired. A source that is down is retried for `retry_limit_ms` first. No
data only lowers the score (Nodata, or NodataFailMetric for `mustHaveData` metrics), as the judge decides.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gennaker.canary.classifier import CanaryConfigError
from gennaker.canary.intervals import StageStatus, interval_status, interval_warnings
from gennaker.canary.judge import judge
from gennaker.canary.metric_sets import MetricSetMixError, mix_metric_sets
from gennaker.canary.metrics_source import MetricsSourceError
from gennaker.engine.contracts import StageDefinition, StageFailure, Task, TaskContext, TaskResult, exception_details
from gennaker.model.execution import Stage
from gennaker.model.status import Status
from gennaker.stages.canary.access import CanaryAccess
from gennaker.stages.canary.kayenta import RUN_CANARY
from gennaker.stages.canary.schema import RunCanaryContext

log = logging.getLogger(__name__)

JUDGMENT_KEYS = ("canaryScore", "canaryScoreMessage", "canaryJudgment", "canaryPipelineExecutionId", "warnings")


def judgment_report_url(judgment_id: str) -> str:
    return f"/ui/canary/{judgment_id}"


def _iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat().replace("+00:00", "Z")


class RunCanaryStage(StageDefinition):
    type = RUN_CANARY
    context_schema = RunCanaryContext

    def tasks(self, stage: Stage) -> list[str]:
        if stage.context.get("canaryConfigId"):
            return [RunCanaryTask.name]
        return [ResolveCanaryConfigIdTask.name, RunCanaryTask.name]

    def prepare_for_restart(self, stage: Stage) -> None:
        for key in (*JUDGMENT_KEYS, "lastMetricsError"):
            stage.context.pop(key, None)
        stage.outputs.clear()


class ResolveCanaryConfigIdTask(Task):
    """`canaryConfigName` to `canaryConfigId`: a config of that name shared with the execution's application."""

    name = "resolveKayentaConfigId"

    def __init__(self, access: CanaryAccess):
        self.access = access

    def execute(self, tc: TaskContext) -> TaskResult:
        name = tc.ctx.get("canaryConfigName")
        if not name or tc.conn is None:
            raise StageFailure("the canary run needs canaryConfigId or canaryConfigName")
        found = self.access.store.config_id_by_name(tc.conn, str(name), tc.execution.application)
        if found is None:
            raise StageFailure(
                f"no canary config named '{name}' is shared with application '{tc.execution.application}'"
            )
        return TaskResult.succeeded({"canaryConfigId": found})


class RunCanaryTask(Task):
    name = "runCanary"
    external = True
    timeout_ms = 12 * 3600 * 1000  # Orca's monitorCanary

    def __init__(self, access: CanaryAccess):
        self.access = access

    def execute(self, tc: TaskContext) -> TaskResult:
        config = self._config(tc)
        account = self._account(tc)
        thresholds = tc.ctx.get("scoreThresholds") or {}
        scopes = tc.ctx.get("scopes")
        if not isinstance(scopes, Mapping) or not scopes:
            raise StageFailure("the canary run has no scopes to compare")
        try:
            control, experiment = self.access.metrics.fetch_run(account, config, scopes)
            pairs = mix_metric_sets(control, experiment)
            result = judge(config, pairs, thresholds)
        except MetricsSourceError as exc:
            if exc.retryable and self._elapsed_ms(tc) < self.access.retry_limit_ms:
                log.info("canary run %s: metrics not available yet, retrying: %s", tc.stage.name, exc)
                return TaskResult.running(backoff_ms=self.access.retry_backoff_ms, lastMetricsError=str(exc))
            return self._failed(tc, config, thresholds, str(exc))
        except (MetricSetMixError, CanaryConfigError) as exc:
            return self._failed(tc, config, thresholds, str(exc))
        score = float(result["score"]["score"])
        status, gate_message = interval_status(
            score, thresholds, continue_pipeline=tc.ctx.get("continuePipeline") is True
        )
        judgment = self._judgment(tc, config, thresholds, Status.SUCCEEDED)
        judgment.update(
            score=score,
            result=result,
            metricSetPairs=[pair.to_json() for pair in pairs],
            warnings=interval_warnings(result),
        )
        self.access.save_judgment(judgment)
        context: dict[str, Any] = {
            "canaryScore": score,
            "canaryPipelineExecutionId": judgment["id"],
            "lastUpdated": tc.now,
            "lastUpdatedIso": _iso(tc.now),
            "warnings": judgment["warnings"],
            "canaryJudgment": _summary(judgment),
            "lastMetricsError": None,
        }
        if gate_message:
            context["canaryScoreMessage"] = gate_message
        outputs = {k: v for k, v in context.items() if k != "lastMetricsError"}
        if status is StageStatus.SUCCEEDED:
            return TaskResult(Status.SUCCEEDED, context, outputs)
        context["exception"] = exception_details(f"Canary score {score} is not above the marginal score threshold.")
        return TaskResult(Status(status.value), context, outputs)

    def _config(self, tc: TaskContext) -> dict[str, Any]:
        config_id = tc.ctx.get("canaryConfigId")
        if not config_id:
            raise StageFailure("the canary run has no canaryConfigId")
        config = self.access.config(str(config_id))
        if config is None:
            raise StageFailure(f"canary config '{config_id}' does not exist")
        applications = config.get("applications") or []
        if tc.execution.application not in applications:
            raise StageFailure(
                f"canary config '{config.get('name') or config_id}' is not shared with application "
                f"'{tc.execution.application}' (its applications: {', '.join(map(str, applications)) or 'none'})"
            )
        return config

    def _account(self, tc: TaskContext) -> str:
        try:
            account, permissions = self.access.metrics.account_permissions(tc.ctx.get("metricsAccountName") or None)
        except MetricsSourceError as exc:
            raise StageFailure(str(exc)) from None
        user = tc.execution.authentication.get("user")
        if not self.access.allows(user, permissions, "READ"):
            raise StageFailure(f"{user or 'anonymous'} lacks READ permission on metrics account '{account}'")
        return account

    def _elapsed_ms(self, tc: TaskContext) -> int:
        for task in tc.stage.tasks:
            if task.implementing_class == self.name and task.status is Status.RUNNING and task.start_time:
                return max(0, tc.now - task.start_time)
        return 0

    def _judgment(
        self, tc: TaskContext, config: Mapping[str, Any], thresholds: Mapping[str, Any], status: Status
    ) -> dict[str, Any]:
        intervals = tc.execution.stage(tc.stage.parent_stage_id or "")
        return {
            "id": tc.stage.id,
            "application": tc.execution.application,
            "executionId": tc.execution.id,
            "pipelineId": tc.execution.pipeline_config_id,
            "stageId": tc.stage.id,
            "parentStageId": intervals.parent_stage_id if intervals else None,
            "canaryConfigId": config.get("id"),
            "configVersion": config.get("version"),
            "config": dict(config),
            "runNumber": tc.ctx.get("runNumber"),
            "createdAt": tc.now,
            "status": status.value,
            "score": None,
            "scopes": tc.ctx.get("scopes"),
            "thresholds": dict(thresholds),
            "metricsAccountName": tc.ctx.get("metricsAccountName"),
            "warnings": [],
        }

    def _failed(
        self, tc: TaskContext, config: Mapping[str, Any], thresholds: Mapping[str, Any], error: str
    ) -> TaskResult:
        """Store the failed judgment (so the report says why) and fail the interval with the same reason."""
        judgment = self._judgment(tc, config, thresholds, Status.TERMINAL)
        judgment["error"] = error
        self.access.save_judgment(judgment)
        summary = _summary(judgment)
        return TaskResult(
            Status.TERMINAL,
            {"exception": exception_details(error), "canaryJudgment": summary, "lastMetricsError": None},
            {"canaryJudgment": summary},
        )


def _summary(judgment: Mapping[str, Any]) -> dict[str, Any]:
    result = judgment.get("result") or {}
    return {
        "id": judgment["id"],
        "score": judgment.get("score"),
        "classification": (result.get("score") or {}).get("classification"),
        "status": judgment["status"],
        "reportUrl": judgment_report_url(str(judgment["id"])),
    }

