"""The `webhook` stage type and one stage type per preconfigured webhook (orca.md §3.4, echo-igor.md §4)."""

from __future__ import annotations

import copy

from gennaker.engine.contracts import StageDefinition, StageFailure, SyntheticStage
from gennaker.model.execution import Stage
from gennaker.model.stage_context import as_number
from gennaker.stages.artifacts import with_artifact_binding
from gennaker.stages.webhook.config import Preconfigured
from gennaker.stages.webhook.schema import (
    PreconfiguredWebhookContext,
    WebhookCancellationContext,
    WebhookContext,
    truthy,
)
from gennaker.stages.webhook.tasks import (
    CancelWebhookTask,
    CreateWebhookTask,
    MonitorWebhookTask,
    WaitBeforeMonitorTask,
    Webhooks,
    wants_cancel,
)

CANCELLATION_TYPE = "webhookCancellation"
CANCELLATION_TIMEOUT_MS = 5 * 60 * 1000


class WebhookStage(StageDefinition):
    type = "webhook"
    context_schema = WebhookContext

    def __init__(self, hooks: Webhooks):
        self.hooks = hooks

    def tasks(self, stage: Stage) -> list[str]:
        """createWebhook unless monitorOnly; with waitForCompletion, waitBeforeMonitorWebhook (if set) and
        monitorWebhook; bindProducedArtifacts with expectedArtifacts."""
        context = stage.context
        monitor_only, wait = truthy(context.get("monitorOnly")), truthy(context.get("waitForCompletion"))
        if monitor_only and not wait:
            raise StageFailure("Can't specify monitorOnly = true and waitForCompletion = false at the same time")
        names = [] if monitor_only else [CreateWebhookTask.name]
        if wait:
            if (as_number(context.get("waitBeforeMonitor")) or 0) > 0:
                names.append(WaitBeforeMonitorTask.name)
            names.append(MonitorWebhookTask.name)
        return with_artifact_binding(stage, names)

    def prepare_for_restart(self, stage: Stage) -> None:
        """A restarted stage calls the webhook afresh."""
        stage.context.pop("webhook", None)
        stage.context.pop("statusEndpoint", None)

    def on_failure_stages(self, stage: Stage) -> list[SyntheticStage]:
        """A failed stage (TERMINAL, STOPPED, FAILED_CONTINUE) calls its cancel endpoint, in a stage of its own
        so the call happens outside the transaction and shows in the execution."""
        if not wants_cancel(stage.context):
            return []
        # Its own time limit: the failed stage's stageTimeoutMs has usually run out already.
        return [SyntheticStage(CANCELLATION_TYPE, "Cancel webhook", {"stageTimeoutMs": CANCELLATION_TIMEOUT_MS})]


class PreconfiguredWebhookStage(WebhookStage):
    """A preconfigured webhook: its configured fields replace the stage's own when the stage is planned (and
    again before every call), and missing `parameterValues` get the parameters' default values."""

    context_schema = PreconfiguredWebhookContext

    def __init__(self, hooks: Webhooks, preset: Preconfigured):
        super().__init__(hooks)
        self.preset = preset

    def tasks(self, stage: Stage) -> list[str]:
        for key, value in self.preset.fields.items():
            stage.context[key] = copy.deepcopy(value)
        values = stage.context.get("parameterValues")
        values = dict(values) if isinstance(values, dict) else {}
        for parameter in self.preset.parameters:
            if values.get(parameter.name) is None and parameter.default_value is not None:
                values[parameter.name] = parameter.default_value
        if values or self.preset.parameters:
            stage.context["parameterValues"] = values
        return super().tasks(stage)


def preconfigured_stage(hooks: Webhooks, preset: Preconfigured) -> PreconfiguredWebhookStage:
    """The stage definition of one preconfigured webhook, registered under its own type."""

    class Preset(PreconfiguredWebhookStage):
        type = preset.type

    return Preset(hooks, preset)


class WebhookCancellationStage(StageDefinition):
    """The synthetic stage in which a failed webhook stage calls its cancel endpoint."""

    type = CANCELLATION_TYPE
    context_schema = WebhookCancellationContext

    def tasks(self, stage: Stage) -> list[str]:
        return [CancelWebhookTask.name]
