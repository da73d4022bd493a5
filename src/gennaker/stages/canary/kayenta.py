"""`kayentaCanary`: judge a canary against its baseline over one or more intervals (kayenta.md §3).

The stage is laid out as Orca lays it out, so that Deck-shaped executions look the same:

    kayentaCanary                       task aggregateCanaryResults (the final verdict)
      runCanaryIntervals  (before)      no tasks; its after-stages run one after another:
        Warmup Wait                     wait `beginCanaryAnalysisAfterMins` (if any)
        Interval Wait #1, Run Canary #1 wait one interval (real-time mode), then judge the window so far
        Interval Wait #2, Run Canary #2 ...

The intervals are planned when the stage starts (`canary.intervals.plan_intervals`), so a real-time canary's
windows start then. Every run must score above `marginal` or the canary fails at once; the last one must reach
`pass`. Each run's judgment is stored with its series; `reportUrl` links to the report page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gennaker.canary.intervals import (
    IntervalPlanError,
    StageStatus,
    aggregate_final_score,
    order_run_scores,
    plan_intervals,
    request_thresholds,
)
from gennaker.engine.contracts import (
    StageDefinition,
    StageFailure,
    SyntheticStage,
    Task,
    TaskContext,
    TaskResult,
    exception_details,
)
from gennaker.model.execution import Execution, Stage
from gennaker.model.status import Status
from gennaker.stages.canary.schema import KayentaCanaryContext, RunCanaryIntervalsContext

RUN_CANARY = "runCanary"
RUN_INTERVALS = "runCanaryIntervals"
# Keys of the stage's `canaryConfig` each run needs (the scopes are planned per run).
RUN_KEYS = ("canaryConfigId", "canaryConfigName", "metricsAccountName", "storageAccountName", "siteLocal")


def stage_report_url(execution_id: str, stage_id: str) -> str:
    return f"/ui/executions/{execution_id}/canary/{stage_id}"


def canary_config_of(stage: Stage) -> dict[str, Any]:
    config = stage.context.get("canaryConfig")
    if not isinstance(config, dict):
        raise StageFailure("the kayentaCanary stage needs `canaryConfig`: the canary config id, scopes and lifetime")
    return config


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def planned_stages(stage: Stage, now: datetime) -> list[dict[str, Any]]:
    """The wait and "Run Canary #n" stages of a kayentaCanary stage starting at `now`."""
    config = canary_config_of(stage)
    if not config.get("canaryConfigId") and not config.get("canaryConfigName"):
        raise StageFailure("canaryConfig needs canaryConfigId or canaryConfigName")
    try:
        plan = plan_intervals(config, now)
    except IntervalPlanError as exc:
        raise StageFailure(str(exc)) from None
    thresholds = request_thresholds(config)
    shared = {key: config[key] for key in RUN_KEYS if config.get(key) not in (None, "")}
    stages = plan.stages()
    for number, spec in enumerate((s for s in stages if s["type"] == RUN_CANARY), start=1):
        spec["context"].update(
            shared,
            scoreThresholds=thresholds,
            continuePipeline=_flag(stage.context.get("continuePipeline")),
            runNumber=number,
        )
    return stages


class KayentaCanaryStage(StageDefinition):
    type = "kayentaCanary"
    context_schema = KayentaCanaryContext

    def before_stages(self, stage: Stage) -> list[SyntheticStage]:
        if stage.context.get("deployments"):
            raise StageFailure(
                "deploying baseline and canary server groups inside kayentaCanary (`deployments`) is not supported: "
                "use the canaryDeployment stage, or deploy them in earlier stages"
            )
        planned = planned_stages(stage, datetime.now(UTC))
        return [SyntheticStage(RUN_INTERVALS, "runCanaryIntervals", {"intervalStages": planned})]

    def tasks(self, stage: Stage) -> list[str]:
        return [AggregateCanaryResultsTask.name]

    def prepare_for_restart(self, stage: Stage) -> None:
        for key in ("canaryScores", "canaryScoreMessage", "lastUpdated", "lastUpdatedIso", "reportUrl"):
            stage.context.pop(key, None)
        stage.outputs.clear()


class RunCanaryIntervalsStage(StageDefinition):
    """Holds the planned waits and runs; they run in sequence as its after-stages."""

    type = RUN_INTERVALS
    context_schema = RunCanaryIntervalsContext

    def after_stages(self, stage: Stage) -> list[SyntheticStage]:
        planned = stage.context.get("intervalStages") or []
        return [SyntheticStage(s["type"], s["name"], dict(s["context"])) for s in planned]


def run_stages(execution: Execution, stage: Stage) -> list[Stage]:
    return [s for s in execution.descendants(stage) if s.type == RUN_CANARY]


class AggregateCanaryResultsTask(Task):
    """The verdict from the runs' scores, in run order: only the last score counts (kayenta.md §3.3)."""

    name = "aggregateCanaryResults"

    def execute(self, tc: TaskContext) -> TaskResult:
        config = canary_config_of(tc.stage)
        runs = run_stages(tc.execution, tc.stage)
        scored = [(run.name, float(run.context["canaryScore"])) for run in runs if _has_score(run)]
        result = aggregate_final_score(order_run_scores(scored), request_thresholds(config))
        now = datetime.fromtimestamp(tc.now / 1000, UTC)
        judgments = [
            {"runNumber": run.context.get("runNumber"), **run.outputs["canaryJudgment"]}
            for run in runs
            if isinstance(run.outputs.get("canaryJudgment"), Mapping)
        ]
        outputs = {
            "canaryScores": list(result.canary_scores),
            "canaryScoreMessage": result.message,
            "lastUpdated": tc.now,
            "lastUpdatedIso": now.isoformat().replace("+00:00", "Z"),
            "canaryJudgments": judgments,
            "reportUrl": stage_report_url(tc.execution.id, tc.stage.id),
        }
        if result.status is StageStatus.SUCCEEDED:
            return TaskResult(Status.SUCCEEDED, dict(outputs), outputs)
        return TaskResult(Status.TERMINAL, {**outputs, "exception": exception_details(result.message)}, outputs)


def _has_score(stage: Stage) -> bool:
    score = stage.context.get("canaryScore")
    return isinstance(score, int | float) and not isinstance(score, bool)
