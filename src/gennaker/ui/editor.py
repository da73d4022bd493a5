"""The pipeline editor: a draft config edited on the server, one action at a time.

Each action (add, remove or connect stages, edit a stage's fields, replace the raw JSON) posts the draft
and returns the editor re-rendered, so the graph, the forms and the validation errors always come from the
same code that saves. Saving runs the full validation; its field errors are shown next to the stage or
field they name. History shows each version's diff against the one before, and restores any version.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2.utils import htmlsafe_json_dumps
from pydantic import BaseModel
from starlette.datastructures import FormData

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, actor
from gennaker.api.errors import ApiError
from gennaker.api.security import session_csrf
from gennaker.artifacts.accounts import SECTIONS, builtin_accounts
from gennaker.model.compatibility import SPINNAKER_NOTIFICATIONS
from gennaker.model.pipeline import TRIGGER_REQUIRED_FIELDS
from gennaker.runtime import Runtime
from gennaker.service.errors import Invalid
from gennaker.ui.graph import layout
from gennaker.ui.routes import check_csrf, page, templates
from gennaker.ui.stage_forms import (
    FormError,
    FormField,
    Widget,
    apply_stage_form,
    parse_one_yaml,
    schema_for,
    stage_fields,
    submitted,
    widget,
)

router = APIRouter(include_in_schema=False)


def _next_ref(config: dict[str, Any]) -> str:
    numbers = [int(s["refId"]) for s in config.get("stages") or [] if str(s.get("refId", "")).isdigit()]
    return str(max(numbers, default=0) + 1)


def apply_action(
    config: dict[str, Any], form: FormData, schemas: Mapping[str, type[BaseModel]] | None = None
) -> dict[str, Any]:
    """One editor action on a copy of the draft; returns the new draft. `schemas` (per stage type) give the
    stage forms' fields."""
    draft = json.loads(json.dumps(config))
    action = str(form.get("action") or "")
    if action == "add":
        stage_type = str(form.get("type") or "wait")
        requisites = [str(r) for r in form.getlist("after")]
        draft.setdefault("stages", []).append(
            {
                "refId": _next_ref(draft),
                "type": stage_type,
                "name": str(form.get("name") or stage_type),
                "requisiteStageRefIds": requisites,
            }
        )
    elif action.startswith("remove:"):
        ref = action.split(":", 1)[1]
        draft["stages"] = [s for s in draft.get("stages") or [] if str(s.get("refId")) != ref]
        for stage in draft["stages"]:
            if ref in [str(r) for r in stage.get("requisiteStageRefIds") or []]:
                stage["requisiteStageRefIds"] = [r for r in stage["requisiteStageRefIds"] if str(r) != ref]
    elif action.startswith("stage:"):
        stages: list[dict[str, Any]] = draft.get("stages") or []
        index = _stage_index(stages, action.split(":", 1)[1], str(form.get("index") or ""))
        if index is not None:
            fields = stage_fields(schema_for(schemas or {}, stages[index]))
            try:
                _apply_stage_form(stages, index, fields, form)
            except FormError as error:
                raise EditorError(f"stages[{index}].{error.key}", error.problem) from None
    elif action.startswith("add-item:"):
        section = _section(action.split(":", 1)[1])
        kind = str(form.get(f"{section}_type") or "")
        if kind not in ITEM_LISTS[section].types:
            raise EditorError(section, f"unknown {ITEM_LISTS[section].noun} type {kind!r}")
        draft.setdefault(section, []).append(new_item(section, kind))
    elif action.startswith(("item:", "toggle-item:", "drop-item:")):
        verb, section_name, number = [*action.split(":"), "", ""][:3]
        section = _section(section_name)
        items: list[Any] = draft.get(section) or []
        if not number.isdigit() or int(number) >= len(items):
            raise EditorError(section, f"no {ITEM_LISTS[section].noun} {number}")
        index = int(number)
        if verb == "drop-item":
            del items[index]
        elif verb == "toggle-item":
            items[index] = {**items[index], "enabled": items[index].get("enabled") is False}
        else:
            items[index] = _item_from_yaml(section, str(form.get(f"{section}.{index}") or ""), items, index)
    elif action == "raw":
        try:
            raw = json.loads(str(form.get("raw") or ""))
        except json.JSONDecodeError as exc:
            raise EditorError("raw", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise EditorError("raw", "the pipeline must be a JSON object")
        draft = {**raw, "application": config["application"]}
    return draft


# What an expected artifact may match, offered for a new one: the types Gennaker's artifact accounts fetch
# or bind, and the Kubernetes objects a deploy binds into manifests by name (providers/kubernetes/binding.py,
# which keeps them in code rather than in a list).
ARTIFACT_TYPES: tuple[str, ...] = tuple(
    sorted(
        {t for kind in SECTIONS.values() for t in kind.types}
        | {t for account in builtin_accounts() for t in account.types}
        | {"kubernetes/configMap", "kubernetes/secret", "kubernetes/deployment", "kubernetes/replicaSet"}
    )
)


@dataclass(frozen=True)
class ItemList:
    """A pipeline list the editor edits item by item as YAML: what one item is called, and the types an added
    item may have."""

    noun: str
    types: tuple[str, ...]


ITEM_LISTS: dict[str, ItemList] = {
    "triggers": ItemList("trigger", tuple(sorted(TRIGGER_REQUIRED_FIELDS))),
    "notifications": ItemList("notification", SPINNAKER_NOTIFICATIONS),
    "expectedArtifacts": ItemList("expected artifact", ARTIFACT_TYPES),
}


def _section(name: str) -> str:
    if name not in ITEM_LISTS:
        raise EditorError("", f"the editor has no list {name!r}")
    return name


def new_item(section: str, kind: str) -> dict[str, Any]:
    """A new trigger (enabled, its required fields empty, so the save rules name them), notification, or
    expected artifact (Deck's shape, with a fresh id for stages to refer to)."""
    if section == "triggers":
        return {"type": kind, "enabled": True, **dict.fromkeys(TRIGGER_REQUIRED_FIELDS[kind], "")}
    if section == "expectedArtifacts":
        return {
            "id": str(uuid.uuid4()),
            "displayName": "",
            "matchArtifact": {"type": kind, "name": ""},
            "defaultArtifact": {"type": kind},
            "useDefaultArtifact": False,
            "usePriorArtifact": False,
        }
    return {"type": kind, "address": "", "level": "pipeline", "when": ["pipeline.failed"]}


def item_label(section: str, item: Any) -> str:
    """What an item's heading names: its type, or an expected artifact's name and the type it matches."""
    if not isinstance(item, dict):
        return ""
    if section != "expectedArtifacts":
        return str(item.get("type") or "")
    match = item.get("matchArtifact")
    kind = match.get("type") if isinstance(match, dict) else None
    return " · ".join(str(part) for part in (item.get("displayName") or item.get("id"), kind) if part)


def _item_from_yaml(section: str, text: str, items: list[Any], index: int) -> dict[str, Any]:
    """Item `index` of `items` edited as YAML: it must stay a mapping; a trigger or notification keeps a type."""
    where = f"{section}[{index}]"
    try:
        item = parse_one_yaml(text, "the YAML")
    except ValueError as error:  # the message starts "the YAML is not valid YAML" or names a budget
        raise EditorError(where, str(error)) from None
    if section == "expectedArtifacts":
        return _expected_artifact(item, items, index)
    if not isinstance(item, dict) or not item.get("type"):
        raise EditorError(where, f"a {ITEM_LISTS[section].noun} is a mapping with a type")
    return item


def _expected_artifact(item: Any, items: list[Any], index: int) -> dict[str, Any]:
    """An edited expected artifact. Stages refer to it by `id` (`expectedArtifactIds`, `manifestArtifactId`), so
    YAML without one keeps the id it had, and one another expected artifact has is refused; Orca matches with
    `matchArtifact` and may bind `defaultArtifact`, so both are mappings."""
    where = f"expectedArtifacts[{index}]"
    if not isinstance(item, dict):
        raise EditorError(where, "an expected artifact is a mapping (id, displayName, matchArtifact, …)")
    previous = items[index].get("id") if isinstance(items[index], dict) else None
    if item.get("id") in (None, ""):
        item = {"id": previous or str(uuid.uuid4()), **{k: v for k, v in item.items() if k != "id"}}
    if not isinstance(item["id"], str):
        raise EditorError(where, f"id must be text, not {item['id']!r}")
    clash = next(
        (i for i, o in enumerate(items) if i != index and isinstance(o, dict) and o.get("id") == item["id"]), None
    )
    if clash is not None:
        raise EditorError(where, f"id {item['id']!r} is already the id of expectedArtifacts[{clash}]")
    if not isinstance(item.get("matchArtifact"), dict):
        raise EditorError(where, "matchArtifact must be a mapping (type, name, …): Orca matches artifacts with it")
    if not isinstance(item.get("defaultArtifact", {}), dict):
        raise EditorError(where, "defaultArtifact must be a mapping (type, name, reference, …)")
    return item


def _stage_index(stages: list[dict[str, Any]], ref: str, index: str) -> int | None:
    """The stage a form names: by its position when that stage has the refId (refIds may repeat in a
    config being fixed), else the first stage with the refId."""
    if index.isdigit() and int(index) < len(stages) and str(stages[int(index)].get("refId")) == ref:
        return int(index)
    return next((i for i, s in enumerate(stages) if str(s.get("refId")) == ref), None)


def _single_line(text: str) -> str:
    """An input's value as a browser submits it: without line breaks."""
    return text.replace("\r", "").replace("\n", "")


def _apply_stage_form(stages: list[dict[str, Any]], index: int, fields: tuple[FormField, ...], form: FormData) -> None:
    """What the user changed in one stage's form: its name, what it runs after, its fields."""
    stage = stages[index]
    name = submitted(form, "name")
    if name is not None and name != _single_line(stage_name(stage)):
        if name.strip():
            stage["name"] = name
        else:
            stage.pop("name", None)  # Orca names it after its type
    own = str(stage.get("refId"))
    offered = [str(s.get("refId")) for s in stages if str(s.get("refId")) != own]  # as the form lists them
    current = [str(r) for r in stage.get("requisiteStageRefIds") or []]
    chosen = {str(r) for r in form.getlist("after")} & set(offered)
    if chosen != {r for r in current if r in offered}:
        # Requisites the form does not offer (no such stage) stay; the validation names them.
        stage["requisiteStageRefIds"] = [r for r in current if r not in offered] + [
            r for r in dict.fromkeys(offered) if r in chosen
        ]
    apply_stage_form(stage, fields, form)


def stage_name(stage: dict[str, Any]) -> str:
    name = stage.get("name")
    return "" if name is None else str(name)


@dataclass(frozen=True)
class StageForm:
    """What one stage's form shows."""

    name: str
    after: frozenset[str]
    widgets: list[Widget]


def stage_form(schemas: Mapping[str, type[BaseModel]], stage: dict[str, Any]) -> StageForm:
    return StageForm(
        name=stage_name(stage),
        after=frozenset(str(r) for r in stage.get("requisiteStageRefIds") or []),
        widgets=[widget(field, stage) for field in stage_fields(schema_for(schemas, stage))],
    )


@dataclass(frozen=True)
class ItemView:
    """What one list item's box shows: its heading and its YAML."""

    label: str
    yaml: str


class EditorError(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def _errors_by_stage(errors: dict[str, str]) -> dict[str, list[str]]:
    """Field errors grouped by the stage index they name (`stages[2].type` → "2") or the list item
    (`triggers[1].cronExpression` → "triggers1"), others under ""; an error about a whole item is its problem."""
    grouped: dict[str, list[str]] = {}
    for field, problem in errors.items():
        found = re.match(rf"(stages|{'|'.join(ITEM_LISTS)})\[(\d+)\]\.?(.*)", field)
        key = ("" if found.group(1) == "stages" else found.group(1)) + found.group(2) if found else ""
        where = found.group(3) if found else field
        grouped.setdefault(key, []).append(f"{where}: {problem}" if where else problem)
    return grouped


def _editor(
    request: Request, rt: Runtime, who: Caller, draft: dict[str, Any], errors: dict[str, str], saved: bool = False
) -> Response:
    schemas = rt.registry.context_schemas()
    context = {
        "draft": draft,
        # Not Jinja's `tojson`: it sorts keys, and a draft must come back exactly as it went out.
        "draft_json": htmlsafe_json_dumps(draft),
        "forms": [stage_form(schemas, s if isinstance(s, dict) else {}) for s in draft.get("stages") or []],
        "raw": json.dumps(draft, indent=2),
        "graph": layout(draft.get("stages") or []),
        "types": sorted(rt.registry.stage_types - {"checkPrecondition", "restrictExecutionDuringTimeWindow"}),
        "errors": _errors_by_stage(errors),
        # What the pipeline names but Gennaker will not act on, marked on its stage, trigger or notification.
        "warnings": _errors_by_stage({w.path: w.reason for w in rt.service.pipelines.warnings(draft)}),
        "saved": saved,
        "item_lists": ITEM_LISTS,
        "items": {
            section: [
                ItemView(
                    item_label(section, i),
                    yaml.safe_dump(i, sort_keys=False, allow_unicode=True) if isinstance(i, dict) else "",
                )
                for i in draft.get(section) or []
            ]
            for section in ITEM_LISTS
        },
    }
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(request, "_editor.html", {"csrf": session_csrf(request) or "", **context})
    return page(request, "editor.html", who, **context)


@router.get("/ui/applications/{application}/pipelines/new", response_class=HTMLResponse)
def new_pipeline(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    rt.service.applications.require(application, actor(request, who), "WRITE")
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
    config = rt.service.pipelines.config(application, name, actor(request, who), "WRITE")
    return _editor(request, rt, who, config, {})


@router.post("/ui/applications/{application}/pipelines/edit", response_class=HTMLResponse)
async def editor_action(request: Request, application: str, rt: RuntimeDep, who: CallerDep) -> Response:
    """Apply one action to the posted draft; `save` validates and stores it."""
    form = await request.form()
    check_csrf(request, form)
    acting, pipelines = actor(request, who), rt.service.pipelines
    await asyncio.to_thread(rt.service.applications.require, application, acting, "WRITE")
    try:
        draft = json.loads(str(form.get("draft") or "{}"))
    except json.JSONDecodeError:
        raise ApiError(400, "the editor's draft is not valid JSON") from None
    draft = {**draft, "application": application.lower(), "name": str(form.get("pipelineName") or draft.get("name"))}
    try:
        draft = apply_action(draft, form, rt.registry.context_schemas())
    except (EditorError, ValueError) as exc:
        field = exc.field if isinstance(exc, EditorError) else "stage"
        return _editor(request, rt, who, draft, {field: str(exc)})
    if form.get("action") != "save":
        found = pipelines.problems(draft) if any(draft.get(k) for k in ("stages", *ITEM_LISTS)) else []
        shown = [e for e in found if e.field.startswith(("stages", *ITEM_LISTS))]
        return _editor(request, rt, who, draft, {e.field: e.problem for e in shown})
    try:
        saved = await asyncio.to_thread(pipelines.save, draft, acting)
    except Invalid as exc:
        return _editor(request, rt, who, draft, dict(exc.problems))
    return _editor(request, rt, who, saved, {}, saved=True)


@router.get("/ui/applications/{application}/pipelines/{name}/history", response_class=HTMLResponse)
def history_page(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> Response:
    acting, pipelines = actor(request, who), rt.service.pipelines
    config = pipelines.config(application, name, acting)
    versions = pipelines.history(config["id"], acting)
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        newer["diff"] = diff(older["config"] if older else {}, newer["config"])
    return page(request, "history.html", who, config=config, versions=versions)


@router.get("/ui/applications/{application}/pipelines/{name}/triggers", response_class=HTMLResponse)
def trigger_history_page(request: Request, application: str, name: str, rt: RuntimeDep, who: CallerDep) -> Response:
    """What the pipeline's triggers saw: each event started an execution or was skipped, and why."""
    acting, pipelines = actor(request, who), rt.service.pipelines
    config = pipelines.config(application, name, acting)
    events = pipelines.trigger_history(config["id"], acting)
    next_fires = pipelines.next_fire_times(config)
    return page(request, "trigger_history.html", who, config=config, events=events, next_fires=next_fires)


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
    acting, pipelines = actor(request, who), rt.service.pipelines
    config = await asyncio.to_thread(pipelines.config, application, name, acting, "WRITE")
    await asyncio.to_thread(pipelines.restore, config["id"], version, acting)
    return RedirectResponse(f"/ui/applications/{application}/pipelines/{name}/history", status_code=303)
