"""Which notifications an engine event sends (echo-igor.md §5.2, §5.4, §5.5).

Pipeline events (ExecutionStarted, ExecutionComplete) consider `execution.notifications`; stage events
(StageStarted, StageComplete) consider the stage context's `notifications` when `sendNotifications` is true
and the stage is not synthetic. An entry is kept when its `type` is one Gennaker sends and its `when`
holds `<pipeline|stage>.<starting|complete|failed>` (list membership, or a substring of a string). Manual
judgment stages also send `manualJudgment` when they start (without `sendNotifications`, as Orca) and
`manualJudgmentContinue` or `manualJudgmentStop` when they end.

Each selected notification becomes an outbox row whose payload carries the rendered texts and the link;
senders only format them for their transport.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from gennaker.model.execution import Execution, Stage
from gennaker.model.status import Status
from gennaker.store.notifications import NewNotification

MIN_REMINDER_MS = 60_000  # `notifyEveryMs` below a minute would flood the recipients
# Budgets on what pipeline authors write: entries of one `notifications` list that are considered (each is a
# row, and a delivery, per event), and the characters kept of each text they give (message, custom texts).
MAX_ENTRIES = 50
MAX_TEXT_CHARS = 10_000
JUDGMENT_WHENS = ("manualJudgment", "manualJudgmentContinue", "manualJudgmentStop")
# Orca's "successful" execution statuses: the pipeline `complete` event, every other end is `failed`.
SUCCESSFUL = (Status.SUCCEEDED, Status.STOPPED, Status.SKIPPED)
VERBS = {"starting": "is starting", "complete": "has completed successfully", "failed": "has failed"}


def select(
    execution: Execution,
    kind: str,
    status: Status,
    stage: Stage | None,
    base_url: str,
    types: Collection[str],
) -> list[NewNotification]:
    """The notifications one engine event sends, for the notification `types` Gennaker sends."""
    if kind in ("ExecutionStarted", "ExecutionComplete"):
        return _pipeline(execution, kind, status, base_url, types)
    if kind in ("StageStarted", "StageComplete") and stage is not None:
        return _stage(execution, kind, status, stage, base_url, types)
    return []


def _pipeline(
    execution: Execution, kind: str, status: Status, base_url: str, types: Collection[str]
) -> list[NewNotification]:
    if status == Status.CANCELED or execution.canceled:
        return []
    state = "starting" if kind == "ExecutionStarted" else "complete" if status in SUCCESSFUL else "failed"
    level = "pipeline" if execution.type == "PIPELINE" else "orchestration"
    when = f"{level}.{state}"
    matching = [(index, entry) for index, entry in _entries(execution.notifications, types) if _matches(entry, when)]
    if not matching:
        return []
    subject = f"{_app_pipeline(execution)} {VERBS[state]}"
    link = execution_link(base_url, execution.id)
    return [
        _row(execution, None, when, index, entry, _payload(execution, None, entry, when, state, subject, link))
        for index, entry in matching
    ]


def _stage(
    execution: Execution, kind: str, status: Status, stage: Stage, base_url: str, types: Collection[str]
) -> list[NewNotification]:
    if status == Status.CANCELED or stage.synthetic_stage_owner is not None:
        return []
    context = stage.context
    entries = list(_entries(context.get("notifications"), types))
    if not entries:
        return []
    send = context.get("sendNotifications") is True
    selected: list[NewNotification] = []
    if kind == "StageStarted":
        state = "starting"
    else:
        state = {Status.SUCCEEDED: "complete", Status.SKIPPED: "skipped"}.get(status, "failed")
    when = f"stage.{state}"
    if send:
        subject = f"{_stage_label(execution, stage)} {VERBS.get(state, 'was skipped')}"
        link = execution_link(base_url, execution.id)
        for index, entry in entries:
            if _matches(entry, when):
                payload = _payload(execution, stage, entry, when, state, subject, link)
                selected.append(_row(execution, stage, when, index, entry, payload))
    if stage.type == "manualJudgment":
        selected += _judgment(execution, kind, stage, entries, send, base_url)
    return selected


def _judgment(
    execution: Execution,
    kind: str,
    stage: Stage,
    entries: list[tuple[int, Mapping[str, Any]]],
    send: bool,
    base_url: str,
) -> list[NewNotification]:
    """Awaiting judgment when the stage starts; continue or stop when it ends (echo-igor.md §5.5)."""
    context = stage.context
    judgment = str(context.get("judgmentStatus") or "").lower()
    label = _stage_label(execution, stage)
    if kind == "StageStarted":
        when, subject = "manualJudgment", f"{label} is awaiting manual judgment"
    elif kind == "StageComplete" and send and judgment == "continue":
        judged_by = context.get("judgedBy") or context.get("lastModifiedBy") or "someone"
        when, subject = "manualJudgmentContinue", f"{label} was judged to continue by {judged_by}"
    elif kind == "StageComplete" and send and judgment == "stop":
        when, subject = "manualJudgmentStop", f"{label} was judged to stop"
    else:
        return []
    link = execution_link(base_url, execution.id, stage.ref_id)
    selected = []
    for index, entry in entries:
        wanted = entry.get("when")
        if wanted and not _contains(wanted, when):
            continue
        lines = [_message(entry, when)]
        if when == "manualJudgment" and context.get("instructions"):
            lines.insert(0, f"Instructions:\n{_bounded(context['instructions'])}")
        if when == "manualJudgmentContinue" and context.get("judgmentInput"):
            lines.append(f"Judgment '{_bounded(context['judgmentInput'])}' was selected.")
        payload = _payload(execution, stage, entry, when, when, subject, link, "\n\n".join(filter(None, lines)))
        every = entry.get("notifyEveryMs")
        if when == "manualJudgment" and isinstance(every, int) and not isinstance(every, bool) and every > 0:
            payload["notifyEveryMs"] = max(every, MIN_REMINDER_MS)  # reminders while the judgment waits
        selected.append(_row(execution, stage, when, index, entry, payload))
    return selected


def execution_link(base_url: str, execution_id: str, ref_id: str | None = None) -> str:
    link = f"{base_url.rstrip('/')}/ui/executions/{execution_id}"
    return f"{link}#stage-{ref_id}" if ref_id else link


def _entries(notifications: Any, types: Collection[str]) -> list[tuple[int, Mapping[str, Any]]]:
    """The first `MAX_ENTRIES` entries of a list that Gennaker can send, with their places in the list."""
    if not isinstance(notifications, list):
        return []
    return [
        (i, n)
        for i, n in enumerate(notifications[:MAX_ENTRIES])
        if isinstance(n, Mapping) and n.get("type") in types and _address(n)
    ]


def _matches(entry: Mapping[str, Any], when: str) -> bool:
    """`when` holds the event; entries naming a manual-judgment state never match pipeline or stage events."""
    wanted = entry.get("when")
    if not wanted:
        return False
    if isinstance(wanted, list) and any(w in JUDGMENT_WHENS for w in wanted):
        return False
    return _contains(wanted, when)


def _contains(wanted: Any, when: str) -> bool:
    if isinstance(wanted, str):
        return when in wanted
    return isinstance(wanted, list) and when in wanted


def _message(entry: Mapping[str, Any], when: str) -> str:
    message = entry.get("message")
    if isinstance(message, Mapping):
        text = (message.get(when) or {}).get("text") if isinstance(message.get(when), Mapping) else None
        if isinstance(text, str):
            return _bounded(text)
    return ""


def _bounded(text: Any) -> str:
    """A text a pipeline author gave, cut to `MAX_TEXT_CHARS`."""
    text = str(text)
    return text if len(text) <= MAX_TEXT_CHARS else f"{text[:MAX_TEXT_CHARS]}…"


def _address(entry: Mapping[str, Any]) -> str:
    address = entry.get("address") or entry.get("publisherName") or ""
    return str(address).strip()


def _app_pipeline(execution: Execution) -> str:
    build = ((execution.trigger or {}).get("buildInfo") or {}) if isinstance(execution.trigger, dict) else {}
    number = f" build #{build.get('number')}" if isinstance(build, Mapping) and build.get("url") else ""
    if execution.type != "PIPELINE":
        return f"{execution.application}'s {execution.id} task{number}"
    return f"{execution.application}'s {execution.name} pipeline{number}"


def _stage_label(execution: Execution, stage: Stage) -> str:
    return f"Stage {stage.name} for {_app_pipeline(execution)}"


def _generation(execution: Execution, stage: Stage | None) -> str:
    """Restarts make events happen again: a restarted stage (or any, for the execution) marks a new round."""
    stages = [stage] if stage is not None else execution.stages
    times = [
        int(s.context["restartDetails"].get("restartTime") or 0)
        for s in stages
        if isinstance(s.context.get("restartDetails"), Mapping)
    ]
    return f"@{max(times)}" if times and max(times) else ""


def _row(
    execution: Execution,
    stage: Stage | None,
    when: str,
    index: int,
    entry: Mapping[str, Any],
    payload: dict[str, Any],
) -> NewNotification:
    kind = str(entry.get("type"))
    address = _address(entry)
    stage_part = stage.id if stage is not None else "-"
    # The address is hashed: it is the author's text, of any length, and the key column holds 1000 characters.
    address_part = hashlib.sha256(address.encode()).hexdigest()[:16]
    key = f"{execution.id}:{stage_part}:{when}{_generation(execution, stage)}:{index}:{kind}:{address_part}"
    return NewNotification(key, execution.id, kind, address, payload)


def _payload(
    execution: Execution,
    stage: Stage | None,
    entry: Mapping[str, Any],
    when: str,
    state: str,
    subject: str,
    link: str,
    message: str | None = None,
) -> dict[str, Any]:
    """What the senders need, rendered now: texts, link and the fields transports show. `message` defaults to
    the entry's text for `when`."""
    payload: dict[str, Any] = {
        "when": when,
        "state": state,
        "subject": subject,
        "message": _message(entry, when) if message is None else message,
        "link": link,
        "application": execution.application,
        "pipelineName": execution.name,
        "executionId": execution.id,
        "executionStatus": execution.status.value,
        "stageName": stage.name if stage is not None else None,
        "stageId": stage.id if stage is not None else None,
        "refId": stage.ref_id if stage is not None else None,
    }
    for key in ("cc", "customSubject", "customBody", "customMessage", "cdEventsType"):
        value = entry.get(key)
        if isinstance(value, str) and value:
            payload[key] = _bounded(value).replace("{{executionId}}", execution.id).replace("{{link}}", link)
    return payload
