"""The pages: adapters over `gennaker.service`, with the same caller and permission checks as the API.

Forms carry the CSRF token of the caller's session (`gennaker.api.security.csrf_token`): another site can
make a browser post a form, and even plant cookies, but cannot know that token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.datastructures import FormData

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, actor
from gennaker.api.errors import ApiError
from gennaker.api.security import CSRF_HEADER, require_csrf, session_csrf, set_csrf_cookie
from gennaker.model.names import application_name_problem
from gennaker.model.status import Status
from gennaker.model.summaries import awaiting_judgment, trigger_summary
from gennaker.service.access import Actor
from gennaker.service.errors import Conflict, Invalid, NotFound
from gennaker.service.executions import Detail, Executions
from gennaker.stages.canary.kayenta import stage_report_url
from gennaker.ui.graph import layout
from gennaker.ui.stage_forms import parse_one_yaml

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
RECENT_ROWS = 10  # executions per pipeline on the application page


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else ""


def _age(ms: int | None) -> str:
    """How long ago, as kubectl prints ages: 45s, 12m, 3h, 5d."""
    if not ms:
        return ""
    seconds = max(0, int(time.time() - ms / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration(item: dict[str, Any]) -> str:
    start, end = item.get("startTime"), item.get("endTime")
    if not start:
        return ""
    return f"{((end or int(time.time() * 1000)) - start) / 1000:.1f}s"


def stage_links(stage: dict[str, Any], execution_id: str = "") -> list[tuple[str, str]]:
    """Where a stage leads: its child pipeline, its canary report, its Jenkins build, the manifests it deployed or
    changed."""
    context, outputs = stage.get("context") or {}, stage.get("outputs") or {}
    links: list[tuple[str, str]] = []
    if stage.get("type") == "pipeline" and context.get("executionId"):
        links.append(
            (f"child pipeline {context.get('executionName') or ''}".strip(), f"/ui/executions/{context['executionId']}")
        )
    if stage.get("type") == "kayentaCanary" and execution_id:
        links.append(("canary report", stage_report_url(execution_id, str(stage["id"]))))
    judgments = outputs.get("canaryJudgments") or [outputs.get("canaryJudgment") or context.get("canaryJudgment")]
    for judgment in judgments if isinstance(judgments, list) else []:
        if isinstance(judgment, dict) and judgment.get("reportUrl"):
            run = f"run #{judgment['runNumber']}: " if judgment.get("runNumber") else ""
            links.append((f"canary judgment {run}{judgment.get('score')}", str(judgment["reportUrl"])))
    build = context.get("buildInfo") or {}
    if isinstance(build, dict) and str(build.get("url") or "").startswith(("http://", "https://")):
        links.append((f"Jenkins build #{build.get('number', '')}", str(build["url"])))
    account = context.get("deploy.account.name") or context.get("manifest.account.name") or context.get("account")
    names = outputs.get("manifestNamesByNamespace") or context.get("outputs.manifestNamesByNamespace") or {}
    if account and isinstance(names, dict):
        for namespace, manifest_names in names.items():
            for name in manifest_names or []:
                links.append(
                    (f"{name} ({account} · {namespace})", f"/ui/manifests/{account}/{namespace}/{quote(str(name))}")
                )
    return links


def _number(value: Any) -> str:
    """A statistic as people read it: 4 significant digits ("NaN" and the like as they are)."""
    return f"{value:.4g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


_markdown = MarkdownIt("commonmark", {"html": False})
templates.env.filters["when"] = _when
templates.env.filters["duration"] = _duration
templates.env.filters["age"] = _age
templates.env.filters["number"] = _number
templates.env.filters["markdown"] = lambda text: Markup(_markdown.render(str(text)))
templates.env.globals["stage_links"] = stage_links
templates.env.globals["trigger_summary"] = trigger_summary
templates.env.globals["waiting_for"] = awaiting_judgment


def csrf_of(request: Request) -> str:
    """The token the page's forms carry: the session's, or nothing for a caller without a session cookie."""
    return session_csrf(request) or ""


def page(request: Request, name: str, who: Caller, **context: Any) -> HTMLResponse:
    token = csrf_of(request)
    response = templates.TemplateResponse(request, name, {"user": who, "csrf": token, **context})
    if token:
        set_csrf_cookie(response, request, token)
    return response


def check_csrf(request: Request, form: FormData) -> None:
    """A form posted with the session cookie must carry the session's token (field `csrf`, or the header)."""
    require_csrf(session_csrf(request), str(form.get("csrf") or request.headers.get(CSRF_HEADER) or ""), "form")


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/applications", status_code=303)


@router.get("/ui/applications", response_class=HTMLResponse)
def applications_page(request: Request, rt: RuntimeDep, who: CallerDep, q: str = "") -> HTMLResponse:
    wanted = q.strip().lower()
    acting = actor(request, who)
    apps = rt.service.applications.visible(acting)
    shown = [a for a in apps if wanted in a["name"] or wanted in (a.get("email") or "").lower()]
    executable = [a["name"] for a in shown if acting.application(a, "EXECUTE")]
    waiting = rt.service.executions.waiting_judgments(executable, acting)
    return page(request, "applications.html", who, applications=shown, query=q, waiting=waiting)


ROLE_LISTS = ("READ", "WRITE", "EXECUTE")


def _application_form(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """Attributes from the create/edit form (roles comma-separated per permission), and field errors."""
    errors: dict[str, str] = {}
    email = str(form.get("email") or "").strip()
    if email and "@" not in email:
        errors["email"] = "must be an email address"
    permissions = {
        p: [r.strip() for r in str(form.get(f"permissions.{p}") or "").split(",") if r.strip()] for p in ROLE_LISTS
    }
    attributes: dict[str, Any] = {"email": email or None, "description": str(form.get("description") or "")}
    attributes["permissions"] = {p: roles for p, roles in permissions.items() if roles}
    return attributes, errors


def _refused_form(
    request: Request, who: Caller, current: dict[str, Any] | None, errors: dict[str, str], form: FormData
) -> Response:
    """The application form again, with its errors."""
    refused = page(request, "application_form.html", who, application=current, errors=errors, values=dict(form))
    refused.status_code = 400
    return refused


@router.get("/ui/applications/new", response_class=HTMLResponse)
def new_application_page(request: Request, who: CallerDep) -> HTMLResponse:
    return page(request, "application_form.html", who, application=None, errors={}, values={})


@router.post("/ui/applications/new", response_model=None)
async def create_application(request: Request, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    name = str(form.get("name") or "").strip().lower()
    attributes, errors = _application_form(form)
    problem = application_name_problem(name)
    if problem:
        errors["name"] = problem
    if errors:
        return _refused_form(request, who, None, errors, form)
    try:
        await asyncio.to_thread(rt.service.applications.create, name, attributes, actor(request, who))
    except Conflict as exc:
        return _refused_form(request, who, None, {"name": str(exc)}, form)
    return RedirectResponse(f"/ui/applications/{name}", status_code=303)


@router.get("/ui/applications/{application}", response_class=HTMLResponse)
def application_page(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    acting = actor(request, who)
    attributes = rt.service.applications.get(application, acting)
    can_execute = acting.application(attributes, "EXECUTE")
    pipelines = [
        {
            "config": config,
            "executions": executions,
            "can_execute": can_execute,
            "warnings": rt.service.pipelines.warnings(config),
            "next_fires": rt.service.pipelines.next_fire_times(config),
        }
        for config, executions in rt.service.executions.recent_by_pipeline(application, acting, RECENT_ROWS)
    ]
    can_write = acting.application(attributes, "WRITE")
    return page(request, "application.html", who, application=attributes, pipelines=pipelines, can_write=can_write)


@router.get("/ui/applications/{application}/edit", response_class=HTMLResponse)
def edit_application_page(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    attributes = rt.service.applications.get(application, actor(request, who), "WRITE")
    permissions = attributes.get("permissions") or {}
    values = {"email": attributes.get("email") or "", "description": attributes.get("description") or ""}
    values.update({f"permissions.{p}": ", ".join(permissions.get(p) or []) for p in ROLE_LISTS})
    return page(request, "application_form.html", who, application=attributes, errors={}, values=values)


@router.post("/ui/applications/{application}/edit", response_model=None)
async def update_application(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    acting = actor(request, who)
    current = await asyncio.to_thread(rt.service.applications.get, application, acting, "WRITE")
    attributes, errors = _application_form(form)
    if errors:
        return _refused_form(request, who, current, errors, form)
    await asyncio.to_thread(rt.service.applications.update, application, attributes, acting)
    return RedirectResponse(f"/ui/applications/{application.lower()}", status_code=303)


def _detail_context(detail: Detail) -> dict[str, Any]:
    execution = detail.execution
    return {
        "execution": execution,
        "notifications": detail.notifications,
        "waiting": awaiting_judgment(execution),
        "graph": layout(execution["stages"]),
        "failure": failing_leaf(execution),
        "can_execute": detail.can_execute,
    }


def failing_leaf(execution: dict[str, Any]) -> dict[str, str] | None:
    """The deepest failed stage that says why (child-pipeline errors already name the child's stage)."""
    if execution["status"] not in (Status.TERMINAL, Status.STOPPED, Status.CANCELED):
        return None
    failed = [s for s in execution["stages"] if s["status"] in (Status.TERMINAL, Status.STOPPED)]
    for stage in sorted(failed, key=lambda s: bool(s.get("parentStageId")), reverse=True):
        details = ((stage.get("context") or {}).get("exception") or {}).get("details") or {}
        reason = (details.get("errors") or [None])[-1] or details.get("error")
        if reason:
            return {"stage": stage["name"], "reason": str(reason)}
    if execution["status"] == Status.CANCELED:
        return {"stage": "execution", "reason": f"canceled by {execution.get('canceledBy') or 'someone'}"}
    return None


@router.get("/ui/executions/{execution_id}", response_class=HTMLResponse)
def execution_page(request: Request, execution_id: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    detail = rt.service.executions.detail(execution_id, actor(request, who))
    return page(request, "execution.html", who, **_detail_context(detail))


def sse(fragment: str, event: str = "execution") -> str:
    """One server-sent event carrying an HTML fragment for htmx to swap in."""
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in fragment.splitlines()) + "\n"


@router.get("/ui/executions/{execution_id}/stream")
def execution_stream(request: Request, execution_id: str, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """The execution's detail, re-rendered whenever it changes, swapped in place by htmx."""
    acting, executions = actor(request, who), rt.service.executions
    executions.get(execution_id, acting)
    fragment = templates.env.get_template("_execution_detail.html")
    csrf = csrf_of(request)

    async def stream() -> AsyncIterator[str]:
        async for ids in executions.changes(request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
            elif execution_id in ids or not ids:  # and once subscribed: what changed since the page was made
                try:
                    detail = await asyncio.to_thread(executions.detail, execution_id, acting)
                except NotFound:
                    return
                yield sse(fragment.render(oob=True, csrf=csrf, **_detail_context(detail)))

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/ui/applications/{application}/stream")
def application_stream(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """Only the rows of executions that changed, each replacing itself by id (or added to its pipeline)."""
    acting, executions = actor(request, who), rt.service.executions
    rt.service.applications.require(application, acting, "READ")
    row = templates.env.get_template("_execution_row.html")

    async def stream() -> AsyncIterator[str]:
        async for ids in executions.changes(request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
                continue
            try:
                if not ids:  # subscribed: rows that may have moved on since the page was made replace themselves
                    for execution in await asyncio.to_thread(_active_rows, executions, application, acting):
                        yield sse(row.render(execution=execution, oob=True))
                    continue
                found = await asyncio.to_thread(executions.of_application, ids, application, acting)
            except NotFound:
                return
            for changed in found:
                if changed["type"] == "PIPELINE":
                    html = row.render(execution=changed, oob=True)
                    # A new execution has no row yet: add it at the top of its pipeline's table.
                    table = f"executions-{changed['pipelineConfigId']}"
                    yield sse(
                        html.replace('hx-swap-oob="true"', f'hx-swap-oob="afterbegin:#{table}"', 1)
                        if changed["status"] == Status.NOT_STARTED
                        else html
                    )

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _active_rows(executions: Executions, application: str, who: Actor) -> list[dict[str, Any]]:
    """The running executions among those the application page shows."""
    shown = [e for _, found in executions.recent_by_pipeline(application, who, RECENT_ROWS) for e in found]
    return [e for e in shown if not Status(e["status"]).is_complete]


@router.post("/ui/executions/{execution_id}/stages/{stage_id}/judgment")
async def judge(request: Request, execution_id: str, stage_id: str, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    judgment = str(form.get("judgment") or "")
    chosen = str(form.get("input") or "") or None
    judge = rt.service.executions.judge
    await asyncio.to_thread(judge, execution_id, stage_id, judgment, chosen, actor(request, who))
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=303)


@router.get("/ui/expressions", response_class=HTMLResponse)
def playground(
    request: Request, rt: RuntimeDep, who: CallerDep, execution: str = "", stage: str = "", expression: str = ""
) -> HTMLResponse:
    """Evaluate `${…}` against any past execution (and stage) the caller may read."""
    answer = None
    if execution and expression:
        acting, executions = actor(request, who), rt.service.executions
        executions.get(execution.strip(), acting)  # an execution the caller may not read is not found
        try:
            answer = executions.evaluate(execution.strip(), stage.strip() or None, expression, acting)
        except NotFound as exc:  # no such stage
            answer = {"result": None, "detail": {"stage": [{"description": str(exc), "level": "ERROR"}]}}
    return page(request, "playground.html", who, execution=execution, stage=stage, expression=expression, answer=answer)


@router.get("/ui/audit", response_class=HTMLResponse)
def audit_page(request: Request, who: CallerDep, user: str = "") -> HTMLResponse:
    """The audit log, for administrators."""
    if not who.is_admin:
        raise ApiError(403, f"{who.username} is not an administrator")
    auth = getattr(request.app.state, "auth", None)
    if auth is None:
        raise ApiError(404, "this server keeps no audit log")
    return page(request, "audit.html", who, entries=auth.audit(user or None, 200), filter_user=user)


@router.post("/ui/executions/{execution_id}/{action}")
async def act(request: Request, execution_id: str, action: str, rt: RuntimeDep, who: CallerDep) -> Response:
    """Cancel, pause, resume, or restart a stage (`stage` form field), each confirmed in the page first."""
    form = await request.form()
    check_csrf(request, form)
    acting, executions = actor(request, who), rt.service.executions
    await asyncio.to_thread(executions.get, execution_id, acting, "EXECUTE")
    operations = {
        "cancel": lambda: executions.cancel(execution_id, acting, "canceled from the UI"),
        "pause": lambda: executions.pause(execution_id, acting),
        "resume": lambda: executions.resume(execution_id, acting),
        "restart": lambda: executions.restart_stage(execution_id, str(form.get("stage") or ""), acting),
    }
    if action not in operations:
        raise ApiError(404, f"unknown action {action}")
    await asyncio.to_thread(operations[action])
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=303)


# What a manual start may add to its trigger, as Deck's manual execution dialog offers it: a saved trigger to
# act as (with the build, tag or commit it would carry), artifacts, and a notification for the starter.
START_FIELDS = {"trigger_fields": {"jenkins": ("buildNumber",), "docker": ("tag",), "git": ("branch", "hash")}}


def manual_trigger(config: Mapping[str, Any], form: FormData, user: str) -> dict[str, Any]:
    """The trigger of a manual start from the start form; ValueError names a field that is wrong."""
    trigger: dict[str, Any] = {"type": "manual", "user": user}
    chosen = str(form.get("trigger") or "")
    if chosen:
        saved = config.get("triggers") or []
        if not chosen.isdigit() or int(chosen) >= len(saved):
            raise ValueError(f"trigger: no trigger {chosen!r}")
        # A manual start acts as the person starting it: never the trigger's runAsUser or secret.
        base = {k: v for k, v in saved[int(chosen)].items() if k not in ("secret", "enabled", "runAsUser")}
        wanted = START_FIELDS["trigger_fields"].get(str(base.get("type")), ())
        trigger = {**base, **{f: str(form.get(f"t.{f}")) for f in wanted if form.get(f"t.{f}")}, "user": user}
    artifacts = str(form.get("artifacts") or "").strip()
    if artifacts:
        loaded = parse_one_yaml(artifacts, "artifacts")  # budgeted: no alias bombs, no deep nesting
        if not isinstance(loaded, list) or not all(isinstance(a, dict) and a.get("type") for a in loaded):
            raise ValueError("artifacts: a list of artifacts, each with a type")
        trigger["artifacts"] = loaded
    notify = str(form.get("notify") or "").strip()
    if notify:
        if "@" not in notify:
            raise ValueError("notify: must be an email address")
        trigger["notifications"] = [
            {"type": "email", "address": notify, "level": "pipeline", "when": ["pipeline.complete", "pipeline.failed"]}
        ]
    return trigger


@router.get("/ui/applications/{application}/pipelines/{name}/start", response_class=HTMLResponse)
def start_form(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    config = rt.service.pipelines.config(application, name, actor(request, who), "EXECUTE")
    return page(request, "start.html", who, config=config, errors={}, **START_FIELDS)


@router.post("/ui/applications/{application}/pipelines/{name}/start", response_model=None)
async def start(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    acting, pipelines = actor(request, who), rt.service.pipelines
    config = await asyncio.to_thread(pipelines.config, application, name, acting, "EXECUTE")
    parameters = {str(k)[2:]: str(v) for k, v in form.items() if str(k).startswith("p.")}
    try:
        trigger = manual_trigger(config, form, who.username)
    except ValueError as exc:
        return _refused_start(request, who, config, {"": str(exc)})
    trigger["parameters"] = parameters
    try:
        execution_id = await asyncio.to_thread(pipelines.start, application, str(config["id"]), trigger, acting)
    except Invalid as exc:
        return _refused_start(request, who, config, dict(exc.problems) or {"": str(exc)})
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=303)


def _refused_start(request: Request, who: Caller, config: dict[str, Any], errors: dict[str, str]) -> Response:
    """The start form again, with what is wrong."""
    refused = page(request, "start.html", who, config=config, errors=errors, **START_FIELDS)
    refused.status_code = 400
    return refused
