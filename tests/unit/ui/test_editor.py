"""The pipeline editor: actions on a draft, validation errors next to stages, history diff and restore."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from tests.api_support import as_user

ADMIN = as_user("admin")


def draft_of(html: str) -> dict:
    found = re.search(r'<textarea name="draft" hidden>(.*?)</textarea>', html, re.S)
    assert found, "the editor carries its draft"
    return json.loads(found.group(1).replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&"))


def act(api: TestClient, draft: dict, **form: object) -> str:
    csrf = api.cookies.get("gennaker_csrf")
    body = {"csrf": csrf, "draft": json.dumps(draft), "pipelineName": draft.get("name") or "edited", **form}
    response = api.post("/ui/applications/shop/pipelines/edit", data=body, headers={**ADMIN, "HX-Request": "true"})
    assert response.status_code == 200, response.text
    return response.text


def test_build_a_pipeline_in_the_editor_and_save_it(api: TestClient) -> None:
    api.post("/tasks", json={"job": [{"type": "createApplication", "application": {"name": "shop"}}]}, headers=ADMIN)
    page = api.get("/ui/applications/shop/pipelines/new", headers=ADMIN)
    assert page.status_code == 200
    draft = draft_of(page.text)
    html = act(api, draft, action="add", type="wait", name="Settle")
    draft = draft_of(html)
    html = act(api, draft, action="add", type="manualJudgment", name="Approve", after=["1"])
    draft = draft_of(html)
    assert [s["requisiteStageRefIds"] for s in draft["stages"]] == [[], ["1"]]
    assert html.count('class="edge"') == 1
    html = act(api, draft, action="stage:1", name="Settle", **{"f.waitTime": "30"})
    draft = draft_of(html)
    assert draft["stages"][0]["waitTime"] == 30
    html = act(api, draft, action="stage:2", name="Approve", after=["1"], **{"f.judgmentInputs": "ship, hold"})
    draft = draft_of(html)
    assert draft["stages"][1]["judgmentInputs"] == [{"value": "ship"}, {"value": "hold"}]
    saved = act(api, draft, action="save", pipelineName="release")
    assert "Saved." in saved
    stored = api.get("/applications/shop/pipelineConfigs/release", headers=ADMIN).json()
    assert [s["type"] for s in stored["stages"]] == ["wait", "manualJudgment"]


def test_validation_errors_are_shown_next_to_the_stage(api: TestClient) -> None:
    api.get("/ui/applications", headers=ADMIN)
    draft = {
        "application": "shop",
        "name": "broken",
        "stages": [{"refId": "1", "type": "wait", "requisiteStageRefIds": ["9"]}],
    }
    html = act(api, draft, action="save")
    section = html.split('id="edit-stage-1"')[1].split("</fieldset>")[0]
    assert "no stage has refId &#39;9&#39;" in section or "no stage has refId '9'" in section
    bad_json = act(api, draft, action="raw", raw="{nope")
    assert "not valid JSON" in bad_json
    removed = draft_of(act(api, draft, action="remove:1"))
    assert removed["stages"] == []


def test_history_shows_diffs_and_restores(api: TestClient) -> None:
    base = {"application": "shop", "name": "release", "stages": [{"refId": "1", "type": "wait", "waitTime": 1}]}
    api.post("/pipelines", json=base, headers=ADMIN)
    api.post("/pipelines", json={**base, "stages": [{"refId": "1", "type": "wait", "waitTime": 5}]}, headers=ADMIN)
    page = api.get("/ui/applications/shop/pipelines/release/history", headers=ADMIN)
    assert '<span class="del">-      &#34;waitTime&#34;: 1</span>' in page.text
    assert '<span class="add">+      &#34;waitTime&#34;: 5</span>' in page.text
    assert "Restore version 1" in page.text
    csrf = api.cookies.get("gennaker_csrf")
    restored = api.post(
        "/ui/applications/shop/pipelines/release/history/1/restore",
        data={"csrf": csrf},
        headers=ADMIN,
        follow_redirects=False,
    )
    assert restored.status_code == 303
    assert api.get("/applications/shop/pipelineConfigs/release", headers=ADMIN).json()["stages"][0]["waitTime"] == 1


def test_kubernetes_stage_forms(api: TestClient) -> None:
    api.post("/tasks", json={"job": [{"type": "createApplication", "application": {"name": "shop"}}]}, headers=ADMIN)
    draft = draft_of(api.get("/ui/applications/shop/pipelines/new", headers=ADMIN).text)
    draft = draft_of(act(api, draft, action="add", type="deployManifest", name="Deploy"))
    manifests = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: cfg}\n---\nkind: Service\napiVersion: v1\n"
    html = act(
        api,
        draft,
        action="stage:1",
        name="Deploy",
        **{"f.account": "prod", "f.moniker.app": "shop", "f.manifests": manifests},
    )
    draft = draft_of(html)
    stage = draft["stages"][0]
    assert stage["account"] == "prod" and stage["moniker"] == {"app": "shop"}
    assert [m["kind"] for m in stage["manifests"]] == ["ConfigMap", "Service"]
    assert "kind: ConfigMap" in html  # the YAML field shows the manifests again
    draft = draft_of(act(api, draft, action="add", type="patchManifest", name="Patch", after=["1"]))
    broken = act(api, draft, action="stage:2", name="Patch", **{"f.patchBody": "{not json", "f.account": "prod"})
    section = broken.split('id="edit-stage-2"')[1].split("</fieldset>")[0]
    assert 'class="error" role="alert">patchBody: Expecting property name' in section
