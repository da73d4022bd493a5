"""The pages. Every page and action goes through the same caller and permission checks as the API.

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
from sqlalchemy.engine import Connection
from starlette.datastructures import FormData

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, execution_for, existing_application, require_application
from gennaker.api.errors import ApiError
from gennaker.api.security import CSRF_HEADER, require_csrf, session_csrf, set_csrf_cookie
from gennaker.engine.launcher import LaunchError
from gennaker.engine.operations import NotFound, OperationError
from gennaker.model.pipeline import application_name_problem
from gennaker.model.status import Status
from gennaker.model.summaries import awaiting_judgment, trigger_summary
from gennaker.runtime import Runtime
from gennaker.service.evaluation import evaluate_in
from gennaker.service.live import changes
from gennaker.stages.canary.kayenta import stage_report_url
from gennaker.ui.graph import layout
from gennaker.ui.stage_forms import parse_one_yaml

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
RECENT_ROWS = 10  # executions per pipeline on the application page
RUNNING_SCAN = 200  # running executions per application read to count those waiting for judgment


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


_markdown = MarkdownIt("commonmark", {"html": False})
templates.env.filters["when"] = _when
templates.env.filters["duration"] = _duration
templates.env.filters["age"] = _age
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


def _allows(request: Request, who: Caller, attributes: dict[str, Any] | None, permission: str) -> bool:
    return bool(request.app.state.security.application_allows(who, attributes, permission))


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/applications", status_code=303)


@router.get("/ui/applications", response_class=HTMLResponse)
def applications_page(request: Request, rt: RuntimeDep, who: CallerDep, q: str = "") -> HTMLResponse:
    wanted = q.strip().lower()
    with rt.db.read() as conn:
        apps = [a for a in rt.applications.all(conn) if _allows(request, who, a, "READ")]
        shown = [a for a in apps if wanted in a["name"] or wanted in (a.get("email") or "").lower()]
        executable = [a["name"] for a in shown if _allows(request, who, a, "EXECUTE")]
        waiting = {name: _waiting_judgments(rt, conn, name) for name in executable}
    return page(request, "applications.html", who, applications=shown, query=q, waiting=waiting)


def _waiting_judgments(rt: Runtime, conn: Connection, application: str) -> int:
    """Running executions of the application that wait for a manual judgment."""
    running = rt.executions.list_json(conn, application, statuses=[Status.RUNNING.value], limit=RUNNING_SCAN)
    return sum(1 for execution in running if awaiting_judgment(execution))


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


def _save_application(
    request: Request,
    rt: Runtime,
    who: Caller,
    name: str,
    current: dict[str, Any] | None,
    attributes: dict[str, Any],
    errors: dict[str, str],
    form: FormData,
) -> Response:
    """Store the form's attributes and go to the application, or show the form again with its errors."""
    if errors:
        refused = page(request, "application_form.html", who, application=current, errors=errors, values=dict(form))
        refused.status_code = 400
        return refused
    with rt.db.transaction() as conn:
        rt.applications.save(conn, name, attributes, who.username)
    return RedirectResponse(f"/ui/applications/{name}", status_code=303)


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
    with rt.db.read() as conn:
        if not errors.get("name") and rt.applications.get(conn, name) is not None:
            errors["name"] = f"application '{name}' already exists"
    return _save_application(request, rt, who, name, None, attributes, errors, form)


@router.get("/ui/applications/{application}", response_class=HTMLResponse)
def application_page(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    attributes = existing_application(request, rt, who, application, "READ")
    with rt.db.read() as conn:
        can_execute = _allows(request, who, attributes, "EXECUTE")
        pipelines = [
            {
                "config": config,
                "executions": executions,
                "can_execute": can_execute,
                "warnings": rt.pipeline_warnings(config),
                "next_fires": rt.next_fire_times(config),
            }
            for config, executions in _recent_by_pipeline(rt, conn, application)
        ]
    can_write = _allows(request, who, attributes, "WRITE")
    return page(request, "application.html", who, application=attributes, pipelines=pipelines, can_write=can_write)


@router.get("/ui/applications/{application}/edit", response_class=HTMLResponse)
def edit_application_page(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> HTMLResponse:
    attributes = existing_application(request, rt, who, application, "WRITE")
    permissions = attributes.get("permissions") or {}
    values = {"email": attributes.get("email") or "", "description": attributes.get("description") or ""}
    values.update({f"permissions.{p}": ", ".join(permissions.get(p) or []) for p in ROLE_LISTS})
    return page(request, "application_form.html", who, application=attributes, errors={}, values=values)


@router.post("/ui/applications/{application}/edit", response_model=None)
async def update_application(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    current = existing_application(request, rt, who, application, "WRITE")
    attributes, errors = _application_form(form)
    return _save_application(request, rt, who, application.lower(), current, attributes, errors, form)


def _detail_context(request: Request, rt: Runtime, who: Caller, execution: dict[str, Any]) -> dict[str, Any]:
    with rt.db.read() as conn:
        attributes = rt.applications.get(conn, execution["application"])
        notifications = rt.notifications.for_execution(conn, execution["id"])
    return {
        "execution": execution,
        "notifications": notifications,
        "waiting": awaiting_judgment(execution),
        "graph": layout(execution["stages"]),
        "failure": failing_leaf(execution),
        "can_execute": _allows(request, who, attributes, "EXECUTE"),
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
    execution = execution_for(request, rt, who, execution_id, "READ")
    return page(request, "execution.html", who, **_detail_context(request, rt, who, execution))


def sse(fragment: str, event: str = "execution") -> str:
    """One server-sent event carrying an HTML fragment for htmx to swap in."""
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in fragment.splitlines()) + "\n"


@router.get("/ui/executions/{execution_id}/stream")
def execution_stream(request: Request, execution_id: str, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """The execution's detail, re-rendered whenever it changes, swapped in place by htmx."""
    execution_for(request, rt, who, execution_id, "READ")
    detail = templates.env.get_template("_execution_detail.html")
    csrf = csrf_of(request)

    async def stream() -> AsyncIterator[str]:
        async for ids in changes(rt.wakeup.subscribe, request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
            elif execution_id in ids or not ids:  # and once subscribed: what changed since the page was made
                execution = await asyncio.to_thread(execution_for, request, rt, who, execution_id, "READ")
                context = _detail_context(request, rt, who, execution)
                yield sse(detail.render(oob=True, csrf=csrf, **context))

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/ui/applications/{application}/stream")
def application_stream(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> StreamingResponse:
    """Only the rows of executions that changed, each replacing itself by id (or added to its pipeline)."""
    require_application(request, rt, who, application, "READ")
    row = templates.env.get_template("_execution_row.html")
    wanted = application.lower()

    async def stream() -> AsyncIterator[str]:
        async for ids in changes(rt.wakeup.subscribe, request.is_disconnected):
            if ids is None:
                yield ": keep-alive\n\n"
                continue
            if not ids:  # subscribed: rows that may have moved on since the page was made replace themselves
                for execution in await asyncio.to_thread(_active_rows, rt, wanted):
                    yield sse(row.render(execution=execution, oob=True))
                continue
            for execution_id in sorted(ids):
                with rt.db.read() as conn:
                    changed = rt.executions.get_json(conn, execution_id)
                if changed and changed["application"] == wanted and changed["type"] == "PIPELINE":
                    html = row.render(execution=changed, oob=True)
                    # A new execution has no row yet: add it at the top of its pipeline's table.
                    table = f"executions-{changed['pipelineConfigId']}"
                    yield sse(
                        html.replace('hx-swap-oob="true"', f'hx-swap-oob="afterbegin:#{table}"', 1)
                        if changed["status"] == Status.NOT_STARTED
                        else html
                    )

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _recent_by_pipeline(
    rt: Runtime, conn: Connection, application: str
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each pipeline config of the application with its newest executions, as the application page shows them."""
    return [
        (config, rt.executions.list_json(conn, application, pipeline_config_ids=[config["id"]], limit=RECENT_ROWS))
        for config in rt.pipelines.for_application(conn, application)
    ]


def _active_rows(rt: Runtime, application: str) -> list[dict[str, Any]]:
    """The running executions among those the application page shows."""
    with rt.db.read() as conn:
        shown = [e for _, executions in _recent_by_pipeline(rt, conn, application) for e in executions]
    return [e for e in shown if not Status(e["status"]).is_complete]


@router.post("/ui/executions/{execution_id}/stages/{stage_id}/judgment")
async def judge(request: Request, execution_id: str, stage_id: str, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    await asyncio.to_thread(execution_for, request, rt, who, execution_id, "EXECUTE")
    judgment = str(form.get("judgment") or "")
    chosen = form.get("input")
    try:
        await asyncio.to_thread(
            rt.operations.judge, execution_id, stage_id, judgment, str(chosen) if chosen else None, who.username
        )
    except OperationError as exc:
        raise ApiError(409, str(exc)) from None
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=303)


@router.get("/ui/expressions", response_class=HTMLResponse)
def playground(
    request: Request, rt: RuntimeDep, who: CallerDep, execution: str = "", stage: str = "", expression: str = ""
) -> HTMLResponse:
    """Evaluate `${…}` against any past execution (and stage) the caller may read."""
    answer = None
    if execution and expression:
        found = execution_for(request, rt, who, execution.strip(), "READ")
        try:
            answer = evaluate_in(rt.expressions, found, stage.strip() or None, expression)
        except NotFound as exc:
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
    await asyncio.to_thread(execution_for, request, rt, who, execution_id, "EXECUTE")
    operations = {
        "cancel": lambda: rt.operations.cancel(execution_id, who.username, "canceled from the UI"),
        "pause": lambda: rt.operations.pause(execution_id, who.username),
        "resume": lambda: rt.operations.resume(execution_id, who.username),
        "restart": lambda: rt.operations.restart_stage(execution_id, str(form.get("stage") or ""), who.username),
    }
    if action not in operations:
        raise ApiError(404, f"unknown action {action}")
    try:
        await asyncio.to_thread(operations[action])
    except (OperationError, NotFound) as exc:
        raise ApiError(409 if isinstance(exc, OperationError) else 404, str(exc)) from None
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
    require_application(request, rt, who, application, "EXECUTE")
    with rt.db.read() as conn:
        config = rt.pipelines.get_by_name(conn, application, name)
    if config is None:
        raise ApiError(404, f"pipeline '{name}' not found in application '{application.lower()}'")
    return page(request, "start.html", who, config=config, errors={}, **START_FIELDS)


@router.post("/ui/applications/{application}/pipelines/{name}/start", response_model=None)
async def start(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> Response:
    form = await request.form()
    check_csrf(request, form)
    require_application(request, rt, who, application, "EXECUTE")
    parameters = {str(k)[2:]: str(v) for k, v in form.items() if str(k).startswith("p.")}
    with rt.db.read() as conn:
        config = rt.pipelines.get_by_name(conn, application, name) or {}
    try:
        trigger = manual_trigger(config, form, who.username)
    except ValueError as exc:
        refused = page(request, "start.html", who, config=config, errors={"": str(exc)}, **START_FIELDS)
        refused.status_code = 400
        return refused
    trigger["parameters"] = parameters
    try:
        execution_id = await asyncio.to_thread(rt.start_pipeline, application, name, trigger, who.username)
    except LaunchError as exc:
        errors = {e.field: e.problem for e in exc.errors} or {"": str(exc)}
        refused = page(request, "start.html", who, config=config, errors=errors, **START_FIELDS)
        refused.status_code = 400
        return refused
    return RedirectResponse(f"/ui/executions/{execution_id}", status_code=303)
