"""Pipeline templates and inbound webhooks through the service."""

from __future__ import annotations

from typing import Any

import pytest

from gennaker.service.errors import Conflict, Forbidden, Invalid, NotFound
from gennaker.service.templates import MAX_SCOPES
from gennaker.service.wiring import Services

TEMPLATE: dict[str, Any] = {
    "schema": "v2",
    "id": "wait-a-bit",
    "metadata": {"name": "Wait a bit", "scopes": ["shop"]},
    "variables": [],
    "pipeline": {"stages": [{"refId": "w", "requisiteStageRefIds": [], "type": "wait", "name": "W", "waitTime": 1}]},
}
TEMPLATED = {
    "schema": "v2",
    "type": "templatedPipeline",
    "application": "shop",
    "name": "templated",
    "template": {"type": "front50/pipelineTemplate", "reference": "spinnaker://wait-a-bit"},
    "variables": {},
    "stages": [],
}


def test_templates_scoped_to_an_application_need_write_on_it(service: Services) -> None:
    with pytest.raises(Forbidden):
        service.templates.save(TEMPLATE, None, "viewer", create=True)
    service.templates.save(TEMPLATE, None, "dev", create=True)
    with pytest.raises(Conflict):
        service.templates.save(TEMPLATE, None, "dev", create=True)
    with pytest.raises(Invalid, match="simultaneously"):
        service.templates.get("wait-a-bit", "stable", "abc")
    assert service.templates.plan(dict(TEMPLATED), "viewer")["stages"][0]["type"] == "wait"
    service.pipelines.save(dict(TEMPLATED), "dev")
    assert [c["name"] for c in service.templates.dependents("wait-a-bit", "viewer")] == ["templated"]
    assert service.templates.dependents("wait-a-bit", "outsider") == []
    with pytest.raises(Conflict, match="depend on this template"):
        service.templates.delete("wait-a-bit", "dev")
    with pytest.raises(NotFound):
        service.templates.update("nope", TEMPLATE, None, "dev")


def test_a_template_names_a_bounded_number_of_scopes(service: Services) -> None:
    """Each scope is looked up while the save holds the write lock: a body naming a million is refused first."""
    scopes = [f"app-{n}" for n in range(MAX_SCOPES + 1)]
    crowded = {**TEMPLATE, "metadata": {"name": "Wide", "scopes": scopes}}
    with pytest.raises(Invalid, match=f"metadata.scopes: names {MAX_SCOPES + 1} applications, more than {MAX_SCOPES}"):
        service.templates.save(crowded, None, "admin", create=True)
    within = {**TEMPLATE, "metadata": {"name": "Wide", "scopes": ["SHOP", "shop", *scopes[: MAX_SCOPES - 1]]}}
    with pytest.raises(Forbidden, match="viewer lacks WRITE permission on application 'shop'"):
        service.templates.save(within, None, "viewer", create=True)
    assert service.templates.save(within, None, "dev", create=True)["id"] == "wait-a-bit"


def test_a_webhook_starts_only_what_its_caller_may_execute(service: Services) -> None:
    config = service.pipelines.config("shop", "release", "admin")
    triggered = {**config, "triggers": [{"type": "webhook", "enabled": True, "source": "ci"}]}
    service.pipelines.save(triggered, "dev")
    refused = service.webhooks.webhook("ci", {}, "viewer")
    assert refused.started == [] and refused.event_id is not None
    [event] = service.pipelines.trigger_history(config["id"], "viewer")
    assert event["outcome"] == "skipped" and event["reason"] == "viewer lacks EXECUTE"
    started = service.webhooks.webhook("ci", {}, "dev")
    assert len(started.started) == 1
    assert service.executions.get(started.started[0], "dev")["trigger"]["type"] == "webhook"
    assert service.webhooks.webhook("elsewhere", {}, "dev").to_json()["executions"] == []


def test_a_git_delivery_that_is_not_json_is_refused_naming_the_source(service: Services) -> None:
    with pytest.raises(Invalid, match="not a github event"):
        service.webhooks.git("github", {"x-github-event": "push"}, b"{not json", None)
