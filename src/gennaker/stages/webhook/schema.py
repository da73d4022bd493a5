"""The `webhook` stage's context keys (orca.md §3.4, echo-igor.md §4), for saving and the pipeline editor."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from gennaker.model.stage_context import (
    AnyValue,
    ContextModel,
    FlagValue,
    Items,
    Loc,
    MapValue,
    Number,
    Object,
    ObjectOf,
    OneOf,
    StageContext,
    TextValue,
    is_expression,
    present,
)
from gennaker.stages.webhook.config import HTTP_METHODS, STATUS_URL_RESOLUTIONS

StatusCode = Annotated[int | None, Number(100, 599, whole=True)]
StatusCodes = Annotated[list[StatusCode] | None, Items()]
Method = Annotated[str | None, OneOf(HTTP_METHODS)]
# A year: longer waits are mistakes.
WAIT_BEFORE_MONITOR_S = 366 * 24 * 3600


class Retry(ContextModel):
    maxAttempts: Annotated[int | None, Number(minimum=0, whole=True)] = Field(
        None, description="Polls answered with this status before the stage fails"
    )


def truthy(value: Any) -> bool:
    """A flag as Orca reads it: true, or the text "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class WebhookContext(StageContext):
    url: TextValue = Field(None, title="URL", description="Expressions are evaluated")
    method: Method = Field("POST", title="Method")
    customHeaders: MapValue = Field(None, title="Headers (YAML)", description="Name: value, or a list of values")
    payload: AnyValue = Field(None, title="Payload (YAML or JSON)")
    failFastStatusCodes: StatusCodes = Field(None, title="Fail fast on status codes", description="Default [504]")
    webhookRetryStatusCodes: StatusCodes = Field(None, description="Also retry the call on these status codes")
    waitForCompletion: FlagValue = Field(False, title="Wait for completion")
    waitBeforeMonitor: Annotated[float | None, Number(0, WAIT_BEFORE_MONITOR_S)] = Field(
        None, title="Wait before monitoring (seconds)"
    )
    statusUrlResolution: Annotated[str | None, OneOf(STATUS_URL_RESOLUTIONS, ignore_case=False)] = Field(
        None, title="Status URL", description="getMethod (poll the URL), locationHeader or webhookResponse"
    )
    statusUrlJsonPath: TextValue = Field(None, title="Status URL JsonPath", description="For webhookResponse")
    statusJsonPath: TextValue = Field(None, title="Status JsonPath", description="Without it, any answer succeeds")
    progressJsonPath: TextValue = Field(None, title="Progress JsonPath")
    successStatuses: TextValue = Field(None, title="Success statuses", description="Comma-separated")
    canceledStatuses: TextValue = Field(None, title="Canceled statuses", description="Comma-separated")
    terminalStatuses: TextValue = Field(None, title="Terminal statuses", description="Comma-separated")
    retryStatusCodes: StatusCodes = Field(None, description="Also retry status polls on these status codes")
    retries: Annotated[dict[str, ObjectOf[Retry]] | None, Object()] = Field(
        None, description="Per status code, {maxAttempts} of status polls"
    )
    monitorOnly: FlagValue = Field(False, description="Only poll statusEndpoint (or the URL); make no call")
    cancelEndpoint: TextValue = Field(
        None, title="Cancel URL", description="Called when the stage fails or is canceled"
    )
    cancelMethod: Method = Field("POST", title="Cancel method")
    cancelPayload: AnyValue = Field(None, title="Cancel payload (YAML or JSON)")
    signalCancellation: FlagValue = Field(False, description="Deck shows the cancel fields when set")
    parameterValues: MapValue = Field(None, description="Values of a preconfigured webhook's parameters")
    # Written by the stage.
    statusEndpoint: TextValue = None
    webhook: MapValue = None

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        monitor_only, wait = data.get("monitorOnly"), data.get("waitForCompletion")
        if truthy(monitor_only) and not truthy(wait) and not is_expression(wait):
            found.append((("monitorOnly",), "needs waitForCompletion: true (there is nothing else to do)"))
        if not present(data, "url") and not (truthy(monitor_only) and present(data, "statusEndpoint")):
            found.append((("url",), "is required"))
        if (
            truthy(wait)
            and data.get("statusUrlResolution") == "webhookResponse"
            and not present(data, "statusUrlJsonPath")
        ):
            found.append((("statusUrlJsonPath",), "is required when the status URL comes from the response"))
        return found


class PreconfiguredWebhookContext(WebhookContext):
    """A preconfigured webhook's stage: its fields come from the configuration, so none is required here."""

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        return []


class WebhookCancellationContext(StageContext):
    """The synthetic stage a failed webhook stage adds to call its cancel endpoint: it reads its parent's fields."""
