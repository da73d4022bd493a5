"""Infrastructure pages: an application's clusters, server groups, instances, load balancers and
firewalls; one object's YAML, status and events; pod logs; the accounts; and the actions on live objects,
each run as a task through the same stage code as pipelines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from gennaker.api.deps import (
    CallerDep,
    RuntimeDep,
    live_manifest,
    live_pod,
    permitted_accounts,
    readable_accounts,
    require_account,
    require_application,
)
from gennaker.api.errors import ApiError
from gennaker.providers.kubernetes import KubernetesError
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.infrastructure import container_logs, manifest_view
from gennaker.providers.kubernetes.kinds import full_name
from gennaker.service.live import changes
from gennaker.stages.manifest.deploy import deploy_job
from gennaker.ui.routes import check_csrf, csrf_of, page, sse, templates
from gennaker.ui.stage_forms import parse_one_yaml

SETTLE_S = 0.3  # how long a burst of watch events may take before the page is rendered again
router = APIRouter(include_in_schema=False)

# Action form value → (stage type, extra context built from the form).
ACTIONS = {
    "scale": "scaleManifest",
    "undo": "undoRolloutManifest",
    "enable": "enableManifest",
    "disable": "disableManifest",
    "pause": "pauseRolloutManifest",
    "resume": "resumeRolloutManifest",
    "restart": "rollingRestartManifest",
    "delete": "deleteManifest",
}


def _view(request: Request, rt: Any, who: Any, application: str) -> dict[str, Any]:
    attributes = require_application(request, rt, who, application, "READ")
    accounts = readable_accounts(rt, who)
    infrastructure = rt.kubernetes.infrastructure
    groups = infrastructure.server_groups(application, accounts)
    managers = infrastructure.server_group_managers(application, accounts)
    clusters: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in [*managers, *groups]:
        key = (item["account"], item["region"], item["cluster"])
        cluster = clusters.setdefault(
            key, {"account": key[0], "namespace": key[1], "name": key[2], "managers": [], "serverGroups": []}
        )
        cluster["managers" if item["kind"] == "Deployment" else "serverGroups"].append(item)
    writable = {a.name for a in permitted_accounts(rt, who, "WRITE")}
    return {
        "application": attributes or {"name": application},
        "clusters": sorted(clusters.values(), key=lambda c: (c["account"], c["namespace"], c["name"])),
        "load_balancers": infrastructure.load_balancers(application, accounts, groups),
        "firewalls": infrastructure.firewalls(application, accounts),
        "can_act": request.app.state.security.application_allows(who, attributes, "WRITE"),
        "writable_accounts": writable,
        "ages": {a: infrastructure.age_s(a) for a in accounts},
    }


@router.get("/ui/applications/{application}/infrastructure", response_class=HTMLResponse)
def infrastructure_page(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    return page(request, "infrastructure.html", who, **_view(request, rt, who, application))


@router.get("/ui/applications/{application}/infrastructure/stream")
def infrastructure_stream(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """The live part of the page, rendered again when a watched object of a readable account changes."""
    _view(request, rt, who, application)  # READ on the application is checked before the stream opens
    fragment = templates.env.get_template("_infrastructure.html")
    token = csrf_of(request)

    async def stream() -> AsyncIterator[str]:
        async for changed in changes(rt.kubernetes.infrastructure.subscribe, request.is_disconnected):
            if changed is None:
                yield ": keep-alive\n\n"
            elif changed:
                await asyncio.sleep(SETTLE_S)  # a rollout changes many objects at once: render once for them
                view = await asyncio.to_thread(_view, request, rt, who, application)
                yield sse(fragment.render(user=who, csrf=token, **view), "infrastructure")

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/ui/applications/{application}/infrastructure/actions")
async def act(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    """Run one action on a live object as a task, then show the task."""
    form = await request.form()
    check_csrf(request, form)
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        raise ApiError(400, f"unknown action '{action}'")
    account, location, name = (str(form.get(k) or "") for k in ("account", "location", "manifestName"))
    require_application(request, rt, who, application, "WRITE")
    require_account(rt, who, account, "WRITE")
    job: dict[str, Any] = {
        "type": ACTIONS[action],
        "cloudProvider": "kubernetes",
        "account": account,
        "location": location,
        "manifestName": name,
        "app": application,
    }
    if action == "scale":
        replicas = str(form.get("replicas") or "")
        if not replicas.isdigit():
            raise ApiError(400, "replicas must be a whole number", [{"field": "replicas", "problem": "not a number"}])
        job["replicas"] = int(replicas)
    if action == "undo":
        revision = str(form.get("revision") or "")
        job.update({"revision": int(revision)} if revision.isdigit() else {"numRevisionsBack": 1})
    if action == "delete":
        job["options"] = {"cascading": True}

    task_id = await asyncio.to_thread(rt.start_task, application, f"{action} {name}", [job], who.username)
    return RedirectResponse(f"/ui/executions/{task_id}", status_code=303)


@router.get("/ui/manifests/{account}/{location}/{name}", response_class=HTMLResponse)
def manifest_page(
    request: Request, account: str, location: str, name: str, rt: RuntimeDep, who: CallerDep
) -> HTMLResponse:
    """One object read live: YAML, status, events, the artifacts it uses, and its pods' logs."""
    ops, found = live_manifest(rt, who, account, location, name)
    view = manifest_view(ops.client, account, location, found)
    try:
        pods = ops.newest_pods(found)
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
    text = yaml.safe_dump(found, sort_keys=False)
    can_edit = account in {a.name for a in permitted_accounts(rt, who, "WRITE")}
    return page(
        request,
        "manifest.html",
        who,
        view=view,
        yaml_text=text,
        pods=pods,
        account=account,
        location=location,
        can_edit=can_edit,
    )


@router.get("/ui/manifests/{account}/{location}/{name}/edit", response_class=HTMLResponse)
def edit_manifest_page(
    request: Request, account: str, location: str, name: str, rt: RuntimeDep, who: CallerDep
) -> HTMLResponse:
    """The live object as YAML to edit; saving deploys it as a `deployManifest` task."""
    require_account(rt, who, account, "WRITE")
    _, live = live_manifest(rt, who, account, location, name)
    text = yaml.safe_dump(mf.editable(live), sort_keys=False)
    application = mf.read_moniker(live).get("app") or ""
    return _edit_form(request, who, account, location, name, text, application, {})


@router.post("/ui/manifests/{account}/{location}/{name}/edit", response_model=None)
async def edit_manifest(
    request: Request, account: str, location: str, name: str, rt: RuntimeDep, who: CallerDep
) -> Response:
    form = await request.form()
    check_csrf(request, form)
    require_account(rt, who, account, "WRITE")
    text, application = str(form.get("manifest") or ""), str(form.get("application") or "").strip().lower()
    errors: dict[str, str] = {}
    try:
        manifest = parse_one_yaml(text, "the manifest")  # budgeted: no alias bombs, no deep nesting
        if not isinstance(manifest, dict) or full_name(manifest) != name:
            errors["manifest"] = f"must stay one {name} (kind and name cannot change here)"
    except (ValueError, KeyError) as error:
        errors["manifest"] = f"is not a manifest: {str(error).splitlines()[0]}"
    if not application:
        errors["application"] = "is required (the moniker application the object belongs to)"
    if errors:
        refused = _edit_form(request, who, account, location, name, text, application, errors)
        refused.status_code = 400
        return refused
    require_application(request, rt, who, application, "WRITE")
    job = deploy_job(account, application, [manifest])

    task_id = await asyncio.to_thread(rt.start_task, application, f"edit {name}", [job], who.username)
    return RedirectResponse(f"/ui/executions/{task_id}", status_code=303)


def _edit_form(
    request: Request,
    who: Any,
    account: str,
    location: str,
    name: str,
    text: str,
    application: str,
    errors: dict[str, str],
) -> HTMLResponse:
    context = {"account": account, "location": location, "target": name, "text": text, "application": application}
    return page(request, "edit_manifest.html", who, errors=errors, **context)


@router.get("/ui/instances/{account}/{location}/{pod}/logs", response_class=HTMLResponse)
def logs_page(request: Request, account: str, location: str, pod: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    client, found = live_pod(rt, who, account, location, pod)
    try:
        logs = container_logs(client, found, tail_lines=2000)
    except KubernetesError as error:
        raise ApiError(502, str(error)) from None
    return page(request, "logs.html", who, pod=pod, account=account, location=location, logs=logs)


@router.get("/ui/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    accounts = [a.public() for a in permitted_accounts(rt, who, "READ")]
    artifacts = rt.artifact_accounts.public()
    return page(request, "accounts.html", who, accounts=accounts, artifact_accounts=artifacts)
