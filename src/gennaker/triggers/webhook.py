"""Generic webhook triggers: `POST /webhooks/webhook/{source}` starts every matching pipeline (gate.md §3.3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gennaker.triggers.constraints import constraints_hold


@dataclass(frozen=True)
class Match:
    """A pipeline config whose trigger matched an event, and the runtime trigger to start it with."""

    config: dict[str, Any]
    trigger: dict[str, Any]


def webhook_matches(trigger: dict[str, Any], source: str, payload: dict[str, Any]) -> bool:
    return (
        str(trigger.get("type", "")).lower() == "webhook"
        and trigger.get("enabled", True) is True
        and trigger.get("source") == source
        and constraints_hold(trigger.get("payloadConstraints"), payload)
    )


def match_webhook(configs: list[dict[str, Any]], source: str, payload: dict[str, Any]) -> Iterator[Match]:
    """Each enabled pipeline with a matching webhook trigger, once, with its trigger enriched by the event."""
    event_id = str(uuid.uuid4())
    parameters = payload.get("parameters") if isinstance(payload.get("parameters"), dict) else {}
    artifacts = payload.get("artifacts") if isinstance(payload.get("artifacts"), list) else []
    for config in configs:
        if config.get("disabled"):
            continue
        trigger = next((t for t in config.get("triggers") or [] if webhook_matches(t, source, payload)), None)
        if trigger is None:
            continue
        runtime_trigger = {
            **trigger,
            "type": "webhook",
            "source": source,
            "payload": payload,
            "parameters": dict(parameters or {}),
            "artifacts": list(artifacts or []),
            "eventId": event_id,
        }
        yield Match(config, runtime_trigger)
