"""Inbound events that start pipelines: generic webhooks and git pushes (gate.md §1.9, echo-igor.md §2.2).

A webhook's caller must hold EXECUTE on each application whose pipeline the event starts. A git delivery
signed with a trigger's `secret` starts that trigger's pipeline as its `runAsUser` or the pipeline's last
editor; a trigger without a secret fires only for a signed-in caller with EXECUTE, as that caller. Every
pipeline an event matched gets an entry in its trigger history: started, or skipped with the reason; the
start itself is `starts.py`'s.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gennaker.model.execution import now_ms
from gennaker.service.access import Access, Actor, Who
from gennaker.service.errors import Invalid
from gennaker.store.database import Database
from gennaker.store.pipelines import PipelineStore
from gennaker.triggers import git
from gennaker.triggers.webhook import match_webhook

if TYPE_CHECKING:
    from gennaker.service.starts import Starts

log = logging.getLogger("gennaker.triggers")


@dataclass
class Outcome:
    """What an event did: the executions it started and the pipelines it matched but did not start."""

    event_id: str | None = None
    started: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    processed: bool = True  # False: not an event that can start anything (e.g. a git ping)

    def to_json(self) -> dict[str, Any]:
        """Gate's answer to a webhook."""
        if not self.processed:
            return {"eventProcessed": False, "executions": [], "skipped": []}
        executions = [f"/pipelines/{i}" for i in self.started]
        return {"eventProcessed": True, "eventId": self.event_id, "executions": executions, "skipped": self.skipped}


class Webhooks:
    def __init__(self, db: Database, pipelines: PipelineStore, access: Access, starts: Callable[[], Starts]):
        self.db = db
        self.pipelines = pipelines
        self.access = access
        self.starts = starts

    def webhook(self, source: str, payload: Mapping[str, Any], who: Who) -> Outcome:
        """Start the pipelines whose `webhook` trigger for `source` matches the payload, as `who`."""
        actor = self.access.actor(who)
        with self.db.read() as conn:
            configs = self.pipelines.all(conn)
            executable = self.access.permitted(conn, actor, (c["application"] for c in configs), "EXECUTE")
        outcome = Outcome()
        for match in match_webhook(configs, source, dict(payload)):
            outcome.event_id = match.trigger["eventId"]
            event_key = f"webhook:{outcome.event_id}:{match.config['id']}"
            if match.config["application"] not in executable:
                self.starts().skipped(match.config, "webhook", event_key, f"{actor.name} lacks EXECUTE", now_ms())
                continue
            self._start(outcome, match.config, match.trigger, actor.name, event_key)
        return outcome

    def git(self, source: str, headers: Mapping[str, str], body: bytes, caller: Actor | None) -> Outcome:
        """A push or pull-request delivery from GitHub, GitLab or Bitbucket; `caller` is the signed-in caller,
        if any (`headers` by lower-case name)."""
        try:
            event = git.read_event(source, dict(headers), json.loads(body or b"null"))
        except (ValueError, git.GitEventError) as error:
            raise Invalid(f"not a {source} event: {error}") from None
        if event is None:
            return Outcome(processed=False)
        outcome = Outcome(event.delivery or str(uuid.uuid4()))
        with self.db.read() as conn:
            configs = [c for c in self.pipelines.all(conn) if not c.get("disabled")]
            executable = (
                self.access.permitted(conn, caller, (c["application"] for c in configs), "EXECUTE") if caller else set()
            )
        for config in configs:
            trigger = next(
                (t for t in config.get("triggers") or [] if _git_trigger(t) and git.trigger_problem(t, event) is None),
                None,
            )
            if trigger is None:
                continue
            event_key = f"git:{event.source}:{outcome.event_id}:{event.hash}:{config['id']}"
            reason = git.signature_problem(trigger.get("secret"), dict(headers), body)
            run_as = str(config.get("lastModifiedBy") or "anonymous")
            if reason is None and not trigger.get("secret"):  # unsigned: only a signed-in caller with EXECUTE
                if caller is None or config["application"] not in executable:
                    reason = "the event is not signed and the caller may not EXECUTE the pipeline"
                else:
                    run_as = caller.name
            if reason is not None:
                pipeline = f"{config['application']}/{config['name']}"
                log.warning("git event %s for %s not accepted: %s", outcome.event_id, pipeline, reason)  # no secret
                self.starts().skipped(config, "git", event_key, reason, now_ms())
                outcome.skipped.append({"pipeline": pipeline, "reason": reason})
                continue
            self._start(outcome, config, git.runtime_trigger(trigger, event, str(outcome.event_id)), run_as, event_key)
        return outcome

    def _start(
        self, outcome: Outcome, config: dict[str, Any], trigger: dict[str, Any], caller: str, event_key: str
    ) -> None:
        execution_id, refused = self.starts().event(config, trigger, caller, event_key, now_ms())
        if execution_id:
            outcome.started.append(execution_id)
        elif refused:  # e.g. its expected artifacts are not in this payload: the others still start
            outcome.skipped.append({"pipeline": f"{config['application']}/{config['name']}", "reason": refused})


def _git_trigger(trigger: Any) -> bool:
    return isinstance(trigger, dict) and trigger.get("type") == "git" and trigger.get("enabled", True) is not False
