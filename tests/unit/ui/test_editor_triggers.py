"""The editor adds, changes, disables and removes triggers and notifications, with field errors from the save
rules."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gennaker.runtime import Runtime
from tests.unit.ui.test_editor_round_trip import APP, Page, open_editor, post, save, store_directly, stored

CRON_YAML = "type: cron\nenabled: true\ncronExpression: {}\n"


def edit_trigger(api: TestClient, page: Page, index: int, text: str) -> Page:
    fields = [(f"triggers.{index}", text), *page.values("editor", "draft", "csrf", "pipelineName")]
    return post(
        api,
        [f for f in fields if f[0] in (f"triggers.{index}", "draft", "csrf", "pipelineName")],
        f"item:triggers:{index}",
    )


def test_triggers_are_added_checked_changed_disabled_and_removed(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "nightly", "stages": [{"refId": "1", "type": "wait"}]})
    page = open_editor(api, "nightly")
    page = post(
        api, [*page.values("editor", "draft", "csrf", "pipelineName"), ("triggers_type", "cron")], "add-item:triggers"
    )
    assert page.draft()["triggers"] == [{"type": "cron", "enabled": True, "cronExpression": ""}]
    assert "cronExpression: is required for a cron trigger" in page.html
    page = edit_trigger(api, page, 0, CRON_YAML.format("0 0 3 * * *"))
    assert "cronExpression: day-of-month and day-of-week fields: one of them must be" in page.html
    page = edit_trigger(api, page, 0, CRON_YAML.format("'0 0 3 ? * MON-FRI'"))
    assert 'role="alert">cronExpression' not in page.html
    page = post(api, page.values("editor", "draft", "csrf", "pipelineName"), "toggle-item:triggers:0")
    save(api, page)
    assert stored(runtime, "nightly")["triggers"] == [
        {"type": "cron", "enabled": False, "cronExpression": "0 0 3 ? * MON-FRI"}
    ]
    page = post(
        api, open_editor(api, "nightly").values("editor", "draft", "csrf", "pipelineName"), "drop-item:triggers:0"
    )
    assert page.draft()["triggers"] == []
    broken = edit_trigger(api, open_editor(api, "nightly"), 0, "- not a mapping")
    assert "a trigger is a mapping with a type" in broken.html


def test_notifications_are_added_and_edited(api: TestClient, runtime: Runtime) -> None:
    store_directly(runtime, {"application": APP, "name": "noisy", "stages": [{"refId": "1", "type": "wait"}]})
    page = open_editor(api, "noisy")
    fields = [*page.values("editor", "draft", "csrf", "pipelineName"), ("notifications_type", "email")]
    page = post(api, fields, "add-item:notifications")
    assert page.draft()["notifications"] == [
        {"type": "email", "address": "", "level": "pipeline", "when": ["pipeline.failed"]}
    ]
    text = "type: email\naddress: team@example.com\nlevel: pipeline\nwhen: [pipeline.failed, pipeline.complete]\n"
    fields = [("notifications.0", text), *page.values("editor", "draft", "csrf", "pipelineName")]
    page = post(
        api, [f for f in fields if f[0] in ("notifications.0", "draft", "csrf", "pipelineName")], "item:notifications:0"
    )
    save(api, page)
    assert stored(runtime, "noisy")["notifications"][0]["when"] == ["pipeline.failed", "pipeline.complete"]


def test_the_editor_marks_what_will_not_act(api: TestClient, runtime: Runtime) -> None:
    stages = [{"refId": "1", "type": "deploy", "clusters": []}]
    triggers = [{"type": "travis", "master": "ci", "job": "build"}]
    store_directly(runtime, {"application": APP, "name": "classic", "stages": stages, "triggers": triggers})
    html = open_editor(api, "classic").html
    assert '<p class="warning" role="status">type: stage type &#39;deploy&#39; needs a VM cloud provider' in html
    assert '<p class="warning" role="status">type: travis triggers do not fire in Gennaker yet</p>' in html
