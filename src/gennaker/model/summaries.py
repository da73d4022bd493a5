"""Short readings of an execution's JSON that the CLI and the pages both show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def awaiting_judgment(execution: Mapping[str, Any]) -> dict[str, Any] | None:
    """The manual judgment stage the execution waits on, if any."""
    return next(
        (s for s in execution.get("stages") or [] if s["type"] == "manualJudgment" and s["status"] == "RUNNING"),
        None,
    )


def trigger_summary(trigger: Mapping[str, Any] | None) -> str:
    """What started an execution, in a few words: type, what it carried (commit, tag, build, parent), user."""
    trigger = trigger or {}
    kind = str(trigger.get("type") or "manual")
    parts = [kind]
    if kind == "pipeline":
        parent = trigger.get("parentExecution") or {}
        parts.append(
            f"from {trigger.get('parentPipelineApplication') or parent.get('application', '?')}/"
            f"{trigger.get('parentPipelineName') or parent.get('name', '?')}"
        )
    for key, shown in (("source", "{}"), ("branch", "{}"), ("hash", "@{:.7}"), ("tag", ":{}"), ("buildNumber", "#{}")):
        value = trigger.get(key)
        if value not in (None, ""):
            parts.append(shown.format(str(value)))
    if trigger.get("user"):
        parts.append(f"by {trigger['user']}")
    return " ".join(parts)
