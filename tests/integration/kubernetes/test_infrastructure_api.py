"""Live infrastructure and infrastructure actions over the API (issue 5, item 5), with account permissions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.providers.kubernetes import manifest as mf
from gennaker.runtime import Runtime
from tests.api_support import as_user, header_security
from tests.emulators.kube import KubeEmulator
from tests.integration.kubernetes.conftest import error_of, run
from tests.integration.kubernetes.manifests import deploy_stage, deployment, replica_set, service
from tests.support import make_runtime, wait_for, wait_status

pytestmark = pytest.mark.slow
ADMIN, DEV, VIEWER = as_user("admin"), as_user("dev"), as_user("viewer")


@pytest.fixture
def infra(kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[Runtime, TestClient]]:
    """Accounts `emu` (open to all) and `guarded` (READ for dev, WRITE for nobody but admins)."""
    accounts = [
        {"name": "emu", "kubeconfigFile": str(kubeconfig)},
        {"name": "guarded", "kubeconfigFile": str(kubeconfig), "permissions": {"READ": ["dev"], "WRITE": ["ops"]}},
    ]
    config = {"providers": {"kubernetes": {"accounts": accounts}}}
    rt = make_runtime(tmp_path, config=config, engine={"manifest_poll_ms": 50})
    rt.start_workers(1)
    with TestClient(create_app(rt, header_security())) as client:
        client.post(
            "/tasks",
            headers=ADMIN,
            json={
                "job": [
                    {
                        "type": "createApplication",
                        "application": {"name": "shop", "permissions": {"READ": ["dev"], "WRITE": ["dev"]}},
                    }
                ]
            },
        )
        yield rt, client
    rt.close()


def test_clusters_server_groups_instances_and_load_balancers_follow_a_deploy(
    infra: tuple[Runtime, TestClient], kube: KubeEmulator
) -> None:
    rt, api = infra
    execution = run(rt, [deploy_stage([deployment(config=None), service()])])
    assert execution["status"] == "SUCCEEDED", error_of(execution)

    def groups() -> list[dict[str, Any]]:
        found = api.get("/applications/shop/serverGroups", headers=DEV).json()
        return [g for g in found if g["instanceCounts"]["up"] == 2]

    group = wait_for(groups, what="the ReplicaSet with two ready pods")[0]
    assert group["cluster"] == "deployment web" and group["region"] == "default" and group["account"] == "emu"
    assert group["serverGroupManagers"][0]["name"] == "web"
    assert group["buildInfo"]["images"] == ["nginx:1.25"]
    assert group["loadBalancers"] == ["service web"]
    assert {i["healthState"] for i in group["instances"]} == {"Up"}
    assert api.get("/applications/shop/clusters", headers=DEV).json()["emu"] == ["deployment web"]
    expanded = api.get("/applications/shop", headers=DEV).json()["clusters"]["emu"][0]
    assert expanded["name"] == "deployment web" and expanded["serverGroups"] == [group["name"]]
    balancers = api.get("/applications/shop/loadBalancers", headers=DEV).json()
    web = next(b for b in balancers if b["account"] == "emu")
    assert web["name"] == "service web" and web["serverGroups"][0]["name"] == group["name"]

    response = api.get(f"/manifests/emu/default/{quote('deployment web')}", headers=DEV)
    assert response.status_code == 200
    body = response.json()
    assert body["status"]["stable"]["state"] is True and body["manifest"]["kind"] == "Deployment"
    pod = group["instances"][0]["id"]
    console = api.get(f"/instances/emu/default/{pod}/console", headers=DEV).json()
    assert console["output"][0]["name"] == "web"
    details = api.get(f"/instances/emu/default/{pod}", headers=DEV).json()
    assert details["healthState"] == "Up" and details["manifest"]["kind"] == "Pod"
    one = api.get(f"/applications/shop/serverGroups/emu/default/{group['displayName']}", headers=DEV)
    assert one.status_code == 200 and one.json()["name"] == group["name"]
    assert api.get("/applications/shop/serverGroups/emu/default/nope", headers=DEV).status_code == 404
    [manager] = [
        m for m in api.get("/applications/shop/serverGroupManagers", headers=DEV).json() if m["account"] == "emu"
    ]
    assert manager["name"] == "deployment web" and manager["revisions"][0]["serverGroup"] == group["displayName"]


def test_actions_are_tasks_that_run_the_stage_code(infra: tuple[Runtime, TestClient], kube: KubeEmulator) -> None:
    rt, api = infra
    run(rt, [deploy_stage([deployment(config=None)])])
    job = {
        "type": "scaleManifest",
        "account": "emu",
        "cloudProvider": "kubernetes",
        "manifestName": "deployment web",
        "location": "default",
        "replicas": 4,
        "app": "shop",
    }
    created = api.post("/tasks", headers=DEV, json={"application": "shop", "description": "Scale web", "job": [job]})
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    task = wait_status(rt, task_id, "SUCCEEDED", "TERMINAL", timeout=30)
    assert task["status"] == "SUCCEEDED" and task["type"] == "ORCHESTRATION"
    assert kube.get_object("apps/v1", "Deployment", "default", "web")["spec"]["replicas"] == 4
    assert api.get(f"/tasks/{task_id}", headers=DEV).json()["stages"][0]["type"] == "scaleManifest"


def test_account_permissions(infra: tuple[Runtime, TestClient], kube: KubeEmulator) -> None:
    _, api = infra
    listed = {a["name"]: a for a in api.get("/credentials", headers=DEV).json()}
    assert set(listed) == {"emu", "guarded"} and "kubeconfigFile" not in str(listed)
    assert [a["name"] for a in api.get("/credentials", headers=VIEWER).json()] == ["emu"]
    assert api.get("/credentials/guarded", headers=VIEWER).status_code == 404
    job = {"type": "deleteManifest", "account": "guarded", "manifestName": "deployment web", "location": "default"}
    refused = api.post("/tasks", headers=DEV, json={"application": "shop", "job": [job]})
    assert refused.status_code == 403 and "WRITE permission on account 'guarded'" in refused.json()["message"]
    assert api.get(f"/manifests/guarded/default/{quote('deployment web')}", headers=VIEWER).status_code == 404
    no_app = api.post("/tasks", headers=VIEWER, json={"application": "shop", "job": [{**job, "account": "emu"}]})
    assert no_app.status_code in (403, 404)


def test_red_black_server_groups_show_which_one_is_disabled(infra: tuple[Runtime, TestClient]) -> None:
    rt, api = infra
    traffic = {
        "enabled": True,
        "options": {"enableTraffic": True, "services": ["service front"], "strategy": "redblack"},
    }
    manifests = [service("front", selector={"frontedBy": "front"})]
    for index in range(2):
        rs = replica_set(image=f"nginx:{index}", history=3)
        execution = run(rt, [deploy_stage([*manifests, rs], trafficManagement=traffic)], name=f"d{index}")
        assert execution["status"] == "SUCCEEDED", error_of(execution)

    def disabled() -> dict[str, bool] | None:
        groups = api.get("/applications/shop/serverGroups", headers=DEV).json()
        found = {g["displayName"]: g["disabled"] for g in groups if g["account"] == "emu"}
        return found if found == {"front-v000": True, "front-v001": False} else None

    wait_for(disabled, what="front-v000 disabled and front-v001 enabled")


def test_infrastructure_pages_show_and_act(infra: tuple[Runtime, TestClient], kube: KubeEmulator) -> None:
    rt, api = infra
    run(rt, [deploy_stage([deployment(config=None), service()])])
    run(rt, [deploy_stage([deployment(image="nginx:1.26", config=None), service()])], name="v2")
    page = wait_for(
        lambda: (lambda p: p if "2/2 up" in p and "nginx:1.26" in p else None)(
            api.get("/ui/applications/shop/infrastructure", headers=DEV).text
        ),
        what="the new ReplicaSet up on the page",
    )
    assert "deployment web" in page and "service web" in page and "Undo rollout" in page
    assert 'data-confirm="Scale deployment web in namespace default of account emu?"' in page
    manifest = api.get(f"/ui/manifests/emu/default/{quote('deployment web')}", headers=DEV)
    assert (
        manifest.status_code == 200 and "kind: Deployment" in manifest.text and "stable: <strong>True" in manifest.text
    )
    token = str(api.cookies.get("gennaker_csrf"))
    form = {
        "csrf": token,
        "action": "undo",
        "account": "emu",
        "location": "default",
        "manifestName": "deployment web",
        "revision": "1",
    }
    acted = api.post("/ui/applications/shop/infrastructure/actions", data=form, headers=DEV, follow_redirects=False)
    assert acted.status_code == 303
    task = wait_status(rt, acted.headers["location"].rsplit("/", 1)[-1], "SUCCEEDED", "TERMINAL", timeout=30)
    assert task["status"] == "SUCCEEDED", error_of(task)
    task_page = api.get(acted.headers["location"], headers=DEV)
    assert task_page.status_code == 200 and "undoRolloutManifest" in task_page.text
    live = kube.get_object("apps/v1", "Deployment", "default", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    refused = api.post(
        "/ui/applications/shop/infrastructure/actions",
        headers=DEV,
        data={**form, "account": "guarded", "action": "delete"},
    )
    assert refused.status_code == 403
    pod = kube.list_objects("v1", "Pod", "default")[0]["metadata"]["name"]
    logs = api.get(f"/ui/instances/emu/default/{pod}/logs", headers=DEV)
    assert logs.status_code == 200 and "<h2>web</h2>" in logs.text
    accounts = api.get("/ui/accounts", headers=VIEWER).text
    assert "<td>emu</td>" in accounts and "guarded" not in accounts


def test_an_account_limited_to_namespaces_watches_and_shows_only_those(k8s: Runtime, kube: KubeEmulator) -> None:
    kube.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "allowed"}})
    for namespace in ("allowed", "default"):
        execution = run(k8s, [deploy_stage([deployment(config=None, namespace=namespace)])], name=f"to-{namespace}")
        assert execution["status"] == "SUCCEEDED", error_of(execution)
    infrastructure = k8s.kubernetes.infrastructure

    def regions(account: str) -> set[str]:
        return {g["region"] for g in infrastructure.server_groups("shop", [account])}

    assert wait_for(lambda: regions("emu") == {"allowed", "default"}, what="both namespaces in emu")
    assert regions("narrow") == {"allowed"}
    watched = infrastructure.watch("narrow")._streams
    assert {scope for _, _, scope in watched} == {"allowed"}  # namespace-scoped lists, for namespace-scoped RBAC


def test_edit_a_live_manifest_and_deploy_it(infra: tuple[Runtime, TestClient], kube: KubeEmulator) -> None:
    rt, api = infra
    run(rt, [deploy_stage([deployment(config=None)])])
    edit_url = f"/ui/manifests/emu/default/{quote('deployment web')}/edit"
    kube.reset_request_log()
    form_page = api.get(edit_url, headers=DEV)
    assert form_page.status_code == 200 and "kind: Deployment" in form_page.text
    assert not [path for _, path in kube.requests if path.endswith("/events")]  # the form needs no live view
    assert "resourceVersion" not in form_page.text and 'name="application" value="shop"' in form_page.text
    live = kube.get_object("apps/v1", "Deployment", "default", "web")
    edited = mf.editable(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    token = str(api.cookies.get("gennaker_csrf"))
    form = {"csrf": token, "application": "shop", "manifest": yaml.safe_dump(edited)}
    saved = api.post(edit_url, data=form, headers=DEV, follow_redirects=False)
    assert saved.status_code == 303
    task = wait_status(rt, saved.headers["location"].rsplit("/", 1)[-1], "SUCCEEDED", "TERMINAL", timeout=30)
    assert task["status"] == "SUCCEEDED", error_of(task)
    assert (
        kube.get_object("apps/v1", "Deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "nginx:1.27"
    )
    renamed = api.post(
        edit_url, headers=DEV, data={**form, "manifest": yaml.safe_dump({**edited, "kind": "StatefulSet"})}
    )
    assert renamed.status_code == 400 and "kind and name cannot change here" in renamed.text
    broken = api.post(edit_url, headers=DEV, data={**form, "manifest": "kind: [unclosed"})
    assert broken.status_code == 400 and "is not a manifest" in broken.text
    assert api.get(f"/ui/manifests/guarded/default/{quote('deployment web')}/edit", headers=DEV).status_code == 403


def test_an_account_with_a_broken_kubeconfig_fails_its_stages_and_leaves_the_views_working(
    kubeconfig: Path, tmp_path: Path
) -> None:
    accounts = [
        {"name": "emu", "kubeconfigFile": str(kubeconfig)},
        {"name": "broken", "kubeconfigFile": str(tmp_path / "missing-kubeconfig")},
    ]
    rt = make_runtime(
        tmp_path, config={"providers": {"kubernetes": {"accounts": accounts}}}, engine={"manifest_poll_ms": 50}
    )
    rt.start_workers(1)
    try:
        execution = run(rt, [deploy_stage([deployment(config=None)], account="broken")])
        assert execution["status"] == "TERMINAL"
        assert error_of(execution).startswith("account 'broken': cannot load its kubeconfig from ")
        with TestClient(create_app(rt, header_security())) as client:
            response = client.get("/applications/shop/serverGroups", headers=ADMIN)
            assert response.status_code == 200 and response.headers["X-Gennaker-View-Age"] == "inf"
    finally:
        rt.close()


def test_the_page_follows_the_watch_instead_of_polling(infra: tuple[Runtime, TestClient]) -> None:
    rt, api = infra
    page = api.get("/ui/applications/shop/infrastructure", headers=DEV).text
    assert 'sse-connect="/ui/applications/shop/infrastructure/stream"' in page and "every 5s" not in page
    changed: list[list[str]] = []
    unsubscribe = rt.kubernetes.infrastructure.subscribe(changed.append)
    try:
        run(rt, [deploy_stage([deployment(config=None)])])
        wait_for(lambda: ["emu"] in changed, what="a watch event reported for account emu")
    finally:
        unsubscribe()
