"""The `webhook` stage (orca.md §3.4) and preconfigured webhooks (echo-igor.md §4); see docs/webhooks.md."""

from __future__ import annotations

from typing import Any

import httpx

from gennaker.artifacts.fetchers import OutboundPolicy
from gennaker.engine.registry import Registry
from gennaker.stages.webhook.client import Resolver, WebhookClient
from gennaker.stages.webhook.config import WebhookConfigError, WebhookSettings
from gennaker.stages.webhook.stage import (
    PreconfiguredWebhookStage,
    WebhookCancellationStage,
    WebhookStage,
    preconfigured_stage,
)
from gennaker.stages.webhook.tasks import (
    CancelWebhookTask,
    CreateWebhookTask,
    MonitorWebhookTask,
    WaitBeforeMonitorTask,
    Webhooks,
)

__all__ = ["WebhookConfigError", "WebhookSettings", "add_webhook_stages"]


def add_webhook_stages(
    registry: Registry,
    section: Any,
    outbound: OutboundPolicy | None = None,
    *,
    resolver: Resolver | None = None,
    transport: httpx.BaseTransport | None = None,
) -> WebhookSettings:
    """Register `webhook`, its cancellation stage and every enabled preconfigured webhook from the configuration
    file's `webhook` section (which raises `WebhookConfigError` naming the key when it does not validate).
    Registering again replaces them (tests inject a resolver or a transport this way)."""
    settings = WebhookSettings.from_config(section)
    hooks = Webhooks(settings, WebhookClient(settings, outbound, resolver, transport))
    for preset in settings.preconfigured:
        existing = registry.find(preset.type)
        if existing is not None and not isinstance(existing, PreconfiguredWebhookStage):
            raise WebhookConfigError(
                f"webhook.preconfigured: type {preset.type!r} is already the type of another stage"
            )
    tasks = (CreateWebhookTask(hooks), WaitBeforeMonitorTask(hooks), MonitorWebhookTask(hooks))
    registry.add_stage(WebhookStage(hooks), *tasks)
    registry.add_stage(WebhookCancellationStage(), CancelWebhookTask(hooks))
    for preset in settings.preconfigured:
        registry.add_stage(preconfigured_stage(hooks, preset))
    return settings
