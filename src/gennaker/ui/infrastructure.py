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

from gennaker.api.deps import ActorDep, RuntimeDep
from gennaker.service.access import Actor
from gennaker.service.errors import Invalid
from gennaker.service.live import changes
from gennaker.ui.routes import check_csrf, csrf_of, page, sse, templates
from gennaker.ui.stage_forms import parse_one_yaml

SETTLE_S = 0.3  # how long a burst of watch events may take before the page is rendered again
router = APIRouter(include_in_schema=False)


def _view(rt: Any, who: Actor, application: str) -> dict[str, Any]:
    view = rt.service.infrastructure.view(application, who)
    groups = view.server_groups()
    clusters: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in [*view.server_group_managers(), *groups]:
        key = (item["account"], item["region"], item["cluster"])
        cluster = clusters.setdefault(
            key, {"account": key[0], "namespace": key[1], "name": key[2], "managers": [], "serverGroups": []}
        )
        cluster["managers" if item["kind"] == "Deployment" else "serverGroups"].append(item)
    return {
        "application": view.attributes or {"name": application},
        "clusters": sorted(clusters.values(), key=lambda c: (c["account"], c["namespace"], c["name"])),
        "load_balancers": view.load_balancers(groups),
        "firewalls": view.firewalls(),
        "can_act": rt.service.applications.allows(view.attributes, who, "WRITE"),
        "writable_accounts": _writable(rt, who),
        "ages": view.ages(),
    }


def _writable(rt: Any, who: Actor) -> set[str]:
    return {a.name for a in rt.service.infrastructure.accounts(who, "WRITE")}


@router.get("/ui/applications/{application}/infrastructure", response_class=HTMLResponse)
def infrastructure_page(request: Request, application: str, rt: RuntimeDep, who: ActorDep) -> HTMLResponse:
    return page(request, "infrastructure.html", who.identity, **_view(rt, who, application))


@router.get("/ui/applications/{application}/infrastructure/stream")
def infrastructure_stream(request: Request, application: str, rt: RuntimeDep, who: ActorDep) -> StreamingResponse:
    """The live part of the page, rendered again when a watched object of a readable account changes."""
    rt.service.infrastructure.view(application, who)  # READ on the application is checked before the stream opens
    fragment = templates.env.get_template("_infrastructure.html")
    token = csrf_of(request)

    async def stream() -> AsyncIterator[str]:
        async for changed in changes(rt.service.infrastructure.subscribe, request.is_disconnected):
            if changed is None:
                yield ": keep-alive\n\n"
            elif changed:
                await asyncio.sleep(SETTLE_S)  # a rollout changes many objects at once: render once for them
                view = await asyncio.to_thread(_view, rt, who, application)
                yield sse(fragment.render(user=who.identity, csrf=token, **view), "infrastructure")

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/ui/applications/{application}/infrastructure/actions")
async def act(request: Request, application: str, rt: RuntimeDep, who: ActorDep) -> Response:
    """Run one action on a live object as a task, then show the task."""
    form = await request.form()
    check_csrf(request, form)
    action, account, location, name = (
        str(form.get(k) or "") for k in ("action", "account", "location", "manifestName")
    )
    values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    infrastructure = rt.service.infrastructure
    task_id = await asyncio.to_thread(infrastructure.act, application, action, (account, location, name), values, who)
    return RedirectResponse(f"/ui/executions/{task_id}", status_code=303)


@router.get("/ui/manifests/{account}/{location}/{name}", response_class=HTMLResponse)
def manifest_page(
    request: Request, account: str, location: str, name: str, rt: RuntimeDep, who: ActorDep
) -> HTMLResponse:
    """One object read live: YAML, status, events, the artifacts it uses, and its pods' logs."""
    found = rt.service.infrastructure.live_object(account, location, name, who, view=True, pods=True)
    return page(
        request,
        "manifest.html",
        who.identity,
        view=found.view,
        yaml_text=yaml.safe_dump(found.manifest, sort_keys=False),
        pods=found.pods,
        account=account,
        location=location,
        can_edit=account in _writable(rt, who),
    )


@router.get("/ui/manifests/{account}/{location}/{name}/edit", response_class=HTMLResponse)
def edit_manifest_page(
    request: Request, account: str, location: str, name: str, rt: RuntimeDep, who: ActorDep
) -> HTMLResponse:
    """The live object as YAML to edit; saving deploys it as a `deployManifest` task."""
    rt.service.infrastructure.account(account, who, "WRITE")
    live = rt.service.infrastructure.live_object(account, location, name, who)
    text = yaml.safe_dump(live.editable, sort_keys=False)
    return _edit_form(request, who, (account, location, name), text, live.application, {})


@router.post("/ui/manifests/{account}/{location}/{name}/edit", response_model=None)
async def edit_manifest(
    request: Request, account: str, location: str, name: str, rt: RuntimeDep, who: ActorDep
) -> Response:
    form = await request.form()
    check_csrf(request, form)
    target = (account, location, name)
    rt.service.infrastructure.account(account, who, "WRITE")
    text, application = str(form.get("manifest") or ""), str(form.get("application") or "").strip().lower()
    errors: dict[str, str] = {}
    manifest: Any = None
    try:
        manifest = parse_one_yaml(text, "the manifest")  # budgeted: no alias bombs, no deep nesting
    except ValueError as error:
        errors["manifest"] = f"is not a manifest: {str(error).splitlines()[0]}"
    if not application:
        errors["application"] = "is required (the moniker application the object belongs to)"
    if not errors:
        try:
            replace = rt.service.infrastructure.replace
            task_id = await asyncio.to_thread(replace, application, target, manifest, who)
            return RedirectResponse(f"/ui/executions/{task_id}", status_code=303)
        except Invalid as refused:
            errors.update((field, problem) for field, problem in refused.problems)
    response = _edit_form(request, who, target, text, application, errors)
    response.status_code = 400
    return response


def _edit_form(
    request: Request,
    who: Actor,
    target: tuple[str, str, str],
    text: str,
    application: str,
    errors: dict[str, str],
) -> HTMLResponse:
    account, location, name = target
    context = {"account": account, "location": location, "target": name, "text": text, "application": application}
    return page(request, "edit_manifest.html", who.identity, errors=errors, **context)


@router.get("/ui/instances/{account}/{location}/{pod}/logs", response_class=HTMLResponse)
def logs_page(request: Request, account: str, location: str, pod: str, rt: RuntimeDep, who: ActorDep) -> HTMLResponse:
    logs = rt.service.infrastructure.console(account, location, pod, who, tail_lines=2000)
    return page(request, "logs.html", who.identity, pod=pod, account=account, location=location, logs=logs)


@router.get("/ui/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, rt: RuntimeDep, who: ActorDep) -> HTMLResponse:
    accounts = [a.public() for a in rt.service.infrastructure.accounts(who)]
    artifacts = rt.artifact_accounts.public()
    return page(request, "accounts.html", who.identity, accounts=accounts, artifact_accounts=artifacts)
