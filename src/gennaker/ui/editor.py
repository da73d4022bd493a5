"""The pipeline editor: a draft config edited on the server, one action at a time.

Each action (add, remove or connect stages, edit a stage's fields, replace the raw JSON) posts the draft
and returns the editor re-rendered, so the graph, the forms and the validation errors always come from the
same code that saves. Saving runs the full validation; its field errors are shown next to the stage or
field they name. History shows each version's diff against the one before, and restores any version.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, require_application
from gennaker.api.errors import ApiError
from gennaker.api.security import session_csrf
from gennaker.model.pipeline import PipelineValidationError, validate_pipeline
from gennaker.runtime import Runtime
from gennaker.ui.graph import layout
from gennaker.ui.routes import check_csrf, page, templates

router = APIRouter(include_in_schema=False)

# What every Kubernetes manifest stage's form starts with: the account, namespace and "kind name" it acts on.
TARGET = [
    ("account", "Account", "string"),
    ("location", "Namespace", "string"),
    ("manifestName", "Object (kind name, e.g. deployment web)", "string"),
]

# The fields each stage type's form offers: (context key, label, kind).
STAGE_FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "wait": [("waitTime", "Wait (seconds)", "number")],
    "manualJudgment": [("instructions", "Instructions (Markdown)", "text"), ("judgmentInputs", "Choices", "choices")],
    "checkPreconditions": [("preconditions", "Expression that must be true", "precondition")],
    "evaluateVariables": [("variables", "Variables (one key=value a line)", "variables")],
    "pipeline": [("pipeline", "Child pipeline id", "string"), ("waitForCompletion", "Wait for completion", "bool")],
    "deployManifest": [
        ("account", "Account", "string"),
        ("moniker.app", "Application (moniker)", "string"),
        ("namespaceOverride", "Namespace override", "string"),
        ("manifests", "Manifests (YAML, several documents)", "yaml"),
        ("skipExpressionEvaluation", "Skip expression evaluation", "bool"),
    ],
    "deleteManifest": [*TARGET, ("options.cascading", "Delete dependents (cascading)", "bool")],
    "scaleManifest": [*TARGET, ("replicas", "Replicas", "number")],
    "patchManifest": [
        *TARGET,
        ("options.mergeStrategy", "Merge strategy (strategic, merge, json)", "string"),
        ("patchBody", "Patch (JSON)", "json"),
    ],
    "undoRolloutManifest": [*TARGET, ("numRevisionsBack", "Revisions back", "number")],
    "pauseRolloutManifest": TARGET,
    "resumeRolloutManifest": TARGET,
    "rollingRestartManifest": TARGET,
    "enableManifest": TARGET,
    "disableManifest": TARGET,
    "findArtifactFromResource": TARGET,
    "runJob": [
        ("account", "Account", "string"),
        ("manifest", "Job (YAML)", "yaml-one"),
        ("propertyFile", "Capture output from container", "string"),
    ],
    "bakeManifest": [
        ("templateRenderer", "Renderer (HELM3, KUSTOMIZE)", "string"),
        ("outputName", "Release name", "string"),
        ("namespace", "Namespace", "string"),
        ("overrides", "Overrides (JSON object)", "json"),
    ],
}


def _next_ref(config: dict[str, Any]) -> str:
    numbers = [int(s["refId"]) for s in config.get("stages") or [] if str(s.get("refId", "")).isdigit()]
    return str(max(numbers, default=0) + 1)


def apply_action(config: dict[str, Any], form: FormData) -> dict[str, Any]:
    """One editor action on a copy of the draft; returns the new draft."""
    draft = json.loads(json.dumps(config))
    stages: list[dict[str, Any]] = draft.setdefault("stages", [])
    action = str(form.get("action") or "")
    if action == "add":
        stage_type = str(form.get("type") or "wait")
        requisites = [str(r) for r in form.getlist("after")]
        stages.append(
            {
                "refId": _next_ref(draft),
                "type": stage_type,
                "name": str(form.get("name") or stage_type),
                "requisiteStageRefIds": requisites,
            }
        )
    elif action.startswith("remove:"):
        ref = action.split(":", 1)[1]
        draft["stages"] = [s for s in stages if str(s.get("refId")) != ref]
        for stage in draft["stages"]:
            stage["requisiteStageRefIds"] = [r for r in stage.get("requisiteStageRefIds") or [] if r != ref]
    elif action.startswith("stage:"):
        ref = action.split(":", 1)[1]
        index = next((i for i, s in enumerate(stages) if str(s.get("refId")) == ref), None)
        if index is not None:
            _apply_stage_form(stages[index], form, index)
    elif action == "raw":
        try:
            raw = json.loads(str(form.get("raw") or ""))
        except json.JSONDecodeError as exc:
            raise EditorError("raw", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise EditorError("raw", "the pipeline must be a JSON object")
        draft = {**raw, "application": config["application"]}
    return draft


def _apply_stage_form(stage: dict[str, Any], form: FormData, index: int) -> None:
    stage["name"] = str(form.get("name") or stage.get("name") or stage["type"])
    stage["requisiteStageRefIds"] = [str(r) for r in form.getlist("after") if str(r) != str(stage["refId"])]
    for key, _label, kind in STAGE_FIELDS.get(stage["type"], []):
        value = str(form.get(f"f.{key}") or "")
        try:
            _set(stage, key, _parsed(kind, value, form.get(f"f.{key}") == "on"))
        except (ValueError, yaml.YAMLError) as error:
            raise EditorError(f"stages[{index}].{key}", f"{error}".splitlines()[0]) from None


def _parsed(kind: str, value: str, checked: bool) -> Any:
    """A form field's text as the stage context holds it."""
    if kind == "number":
        return float(value) if "." in value else int(value or 0)
    if kind == "bool":
        return checked
    if kind == "choices":
        return [{"value": v.strip()} for v in value.split(",") if v.strip()]
    if kind == "precondition":
        return [{"type": "expression", "context": {"expression": value}, "failPipeline": True}]
    if kind == "variables":
        pairs = [line.split("=", 1) for line in value.splitlines() if "=" in line]
        return [{"key": k.strip(), "value": v.strip()} for k, v in pairs]
    if kind == "yaml":
        return [d for d in yaml.safe_load_all(value) if d]
    if kind == "yaml-one":
        return yaml.safe_load(value) or {}
    if kind == "json":
        return json.loads(value or "{}")
    return value


def _get(stage: dict[str, Any], key: str) -> Any:
    """`moniker.app` reads a nested key."""
    value: Any = stage
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set(stage: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    target = stage
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def field_value(stage: dict[str, Any], key: str, kind: str) -> str:
    """A stage's field as the form shows it (the inverse of `_parsed`)."""
    value = _get(stage, key)
    if kind == "choices":
        return ", ".join(str(c.get("value")) for c in value or [])
    if kind == "precondition":
        return str(((value or [{}])[0].get("context") or {}).get("expression") or "")
    if kind == "variables":
        return "\n".join(f"{v.get('key')}={v.get('value')}" for v in value or [])
    if kind == "yaml":
        return yaml.safe_dump_all(value or [], sort_keys=False)
    if kind == "yaml-one":
        return yaml.safe_dump(value, sort_keys=False) if value else ""
    if kind == "json":
        return json.dumps(value, indent=2) if value is not None else ""
    return "" if value is None else str(value)


def field_checked(stage: dict[str, Any], key: str) -> bool:
    value = _get(stage, key)
    return True if value is None else bool(value)


templates.env.globals["field_checked"] = field_checked
templates.env.globals["field_value"] = field_value


class EditorError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def _errors_by_stage(errors: dict[str, str]) -> dict[str, list[str]]:
    """Field errors grouped by the stage index they name (`stages[2].type` → "2"), others under ""."""
    grouped: dict[str, list[str]] = {}
    for field, problem in errors.items():
        found = re.match(r"stages\[(\d+)\]\.?(.*)", field)
        key = found.group(1) if found else ""
        grouped.setdefault(key, []).append(f"{found.group(2) if found else field}: {problem}")
    return grouped


def _editor(
    request: Request, rt: Runtime, who: Caller, draft: dict[str, Any], errors: dict[str, str], saved: bool = False
) -> Response:
    context = {
        "draft": draft,
        "raw": json.dumps(draft, indent=2),
        "graph": layout(draft.get("stages") or []),
        "types": sorted(rt.registry.stage_types - {"checkPrecondition", "restrictExecutionDuringTimeWindow"}),
        "fields": STAGE_FIELDS,
        "errors": _errors_by_stage(errors),
        "saved": saved,
    }
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(
            request, "_editor.html", {"csrf": session_csrf(request) or "", **context}
        )
    return page(request, "editor.html", who, **context)


def _stored(rt: Runtime, application: str, name: str) -> dict[str, Any]:
    with rt.db.read() as conn:
        config = rt.pipelines.get_by_name(conn, application, name)
    if config is None:
        raise ApiError(404, f"pipeline '{name}' not found in application '{application.lower()}'")
    return config


@router.get("/ui/applications/{application}/pipelines/new", response_class=HTMLResponse)
def new_pipeline(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    require_application(request, rt, who, application, "WRITE")
    draft = {
        "application": application.lower(),
        "name": "",
        "stages": [],
        "triggers": [],
        "limitConcurrent": True,
        "keepWaitingPipelines": False,
        "spelEvaluator": "v4",
    }
    return _editor(request, rt, who, draft, {})


@router.get("/ui/applications/{application}/pipelines/{name}/edit", response_class=HTMLResponse)
def edit_pipeline(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> Response:
    require_application(request, rt, who, application, "WRITE")
    return _editor(request, rt, who, _stored(rt, application, name), {})


@router.post("/ui/applications/{application}/pipelines/edit", response_class=HTMLResponse)
async def editor_action(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    """Apply one action to the posted draft; `save` validates and stores it."""
    form = await request.form()
    check_csrf(request, form)
    require_application(request, rt, who, application, "WRITE")
    try:
        draft = json.loads(str(form.get("draft") or "{}"))
    except json.JSONDecodeError:
        raise ApiError(400, "the editor's draft is not valid JSON") from None
    draft = {**draft, "application": application.lower(), "name": str(form.get("pipelineName") or draft.get("name"))}
    try:
        draft = apply_action(draft, form)
    except (EditorError, ValueError) as exc:
        field = exc.field if isinstance(exc, EditorError) else "stage"
        return _editor(request, rt, who, draft, {field: str(exc)})
    if form.get("action") != "save":
        found = validate_pipeline(draft, rt.registry.stage_types) if draft.get("stages") else []
        return _editor(request, rt, who, draft, {e.field: e.problem for e in found if e.field.startswith("stages")})
    try:
        saved = rt.save_pipeline(draft, who.username)
    except PipelineValidationError as exc:
        return _editor(request, rt, who, draft, {e.field: e.problem for e in exc.errors})
    return _editor(request, rt, who, saved, {}, saved=True)


@router.get("/ui/applications/{application}/pipelines/{name}/history", response_class=HTMLResponse)
def history_page(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> Response:
    require_application(request, rt, who, application, "READ")
    config = _stored(rt, application, name)
    with rt.db.read() as conn:
        versions = rt.pipelines.history(conn, config["id"])
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        newer["diff"] = diff(older["config"] if older else {}, newer["config"])
    return page(request, "history.html", who, config=config, versions=versions)


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """A unified diff of two configs, leaving out the bookkeeping keys every save changes."""
    noise = {"updateTs", "lastModifiedBy"}

    def lines(config: dict[str, Any]) -> list[str]:
        return json.dumps({k: v for k, v in config.items() if k not in noise}, indent=2, sort_keys=True).splitlines()

    return list(difflib.unified_diff(lines(before), lines(after), "before", "after", lineterm="", n=2))[2:]


@router.post("/ui/applications/{application}/pipelines/{name}/history/{version}/restore")
async def restore(
    request: Request, application: str, name: str, version: int, rt: RuntimeDep, who: CallerDep
) -> Response:
    form = await request.form()
    check_csrf(request, form)
    require_application(request, rt, who, application, "WRITE")
    config = _stored(rt, application, name)
    with rt.db.transaction() as conn:
        restored = rt.pipelines.restore(conn, config["id"], version, who.username)
    if restored is None:
        raise ApiError(404, f"pipeline {application}/{name} has no version {version}")
    return RedirectResponse(f"/ui/applications/{application}/pipelines/{name}/history", status_code=303)
