"""Managed pipeline templates v2 (gate.md §1.12, echo-igor.md §6.4): Front50's `/v2/pipelineTemplates` routes
and Gate's (`/create`, `/update/{id}`, `/plan`, `/{id}/dependents`).

Adapters over `gennaker.service.templates`. Templates are shared by all applications, so any signed-in
caller may read and plan them. Changing one changes what its dependent pipelines run: saving or deleting
needs WRITE on every application that depends on the template and on every existing application named in
its `metadata.scopes`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from gennaker.api.deps import ActorDep, RuntimeDep
from gennaker.api.errors import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES, tags=["pipeline templates"])
ROOT = "/v2/pipelineTemplates"
NO_BODY: dict[int | str, dict[str, Any]] = {200: {"description": "Done; the response has no body"}}
# The template's id. In paths it is `{pipeline_id}`: tests/unit/api/test_security_matrix.py fills every
# route's path parameters from a fixed list of names, and that is the one of them that fits best.
TemplateId = Annotated[str, Path(description="The pipeline template's id", examples=["deploy-service"])]
Scopes = Annotated[str | None, Query(description="Scopes (`metadata.scopes`), comma-separated or repeated")]


def _scopes(request: Request) -> list[str]:
    """`?scopes=a,b` or `?scopes=a&scopes=b`, as Spring binds a list parameter."""
    return [s.strip() for value in request.query_params.getlist("scopes") for s in value.split(",") if s.strip()]


# -- reading ---------------------------------------------------------------------------------------------------
@router.get(ROOT)
def list_templates(request: Request, rt: RuntimeDep, who: ActorDep, scopes: Scopes = None) -> list[dict[str, Any]]:
    """Every stored copy (`<id>`, `<id>:<tag>`, `<id>@sha256:<digest>`, each with `tag`/`digest`) in the scopes."""
    return rt.service.templates.copies(_scopes(request))


@router.get(f"{ROOT}/versions")
def template_versions(
    request: Request, rt: RuntimeDep, who: ActorDep, scopes: Scopes = None
) -> dict[str, list[dict[str, Any]]]:
    """The v2 templates' stored copies by template id."""
    return rt.service.templates.versions(_scopes(request))


@router.post(f"{ROOT}/plan")
def plan_pipeline(rt: RuntimeDep, who: ActorDep, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """The plain pipeline a templated pipeline config renders to (its `trigger`, if any, is the trigger); 400
    names every problem (missing template, variables without values, unknown inject targets, ...)."""
    return rt.service.templates.plan(body, who)


@router.get(ROOT + "/{pipeline_id}")
def get_template(
    pipeline_id: TemplateId, rt: RuntimeDep, who: ActorDep, tag: str | None = None, digest: str | None = None
) -> dict[str, Any]:
    """One stored copy: the plain id, `?tag=` or `?digest=` (not both)."""
    return rt.service.templates.get(pipeline_id, tag, digest)


@router.get(ROOT + "/{pipeline_id}/dependentPipelines")
def dependent_pipelines(pipeline_id: TemplateId, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    """The pipeline configs (of applications the caller may read) whose reference names the template."""
    return rt.service.templates.dependents(pipeline_id, who)


@router.get(ROOT + "/{pipeline_id}/dependents")
def dependents(pipeline_id: TemplateId, rt: RuntimeDep, who: ActorDep) -> list[dict[str, Any]]:
    """Gate's name for `dependentPipelines`."""
    return rt.service.templates.dependents(pipeline_id, who)


# -- changing --------------------------------------------------------------------------------------------------
@router.post(ROOT)
@router.post(f"{ROOT}/create")
def create_template(
    rt: RuntimeDep, who: ActorDep, body: dict[str, Any] = Body(...), tag: str | None = None
) -> dict[str, Any]:
    """Store a new template under `<id>` (or `<id>:<tag>`), `<id>:latest` and `<id>@sha256:<digest>`;
    409 if that id (and tag) exists. A missing `schema` is `v2`. Answers the stored copy."""
    return rt.service.templates.save(body, tag, who, create=True)


@router.put(ROOT + "/{pipeline_id}")
@router.post(ROOT + "/update/{pipeline_id}")
def update_template(
    pipeline_id: TemplateId,
    rt: RuntimeDep,
    who: ActorDep,
    body: dict[str, Any] = Body(...),
    tag: str | None = None,
    skipPlanDependents: bool = False,
) -> dict[str, Any]:
    """Replace a stored template (404 if no copy of it exists). Unless `skipPlanDependents`, every pipeline
    using a copy this rewrites must still render with the new template (400 names those that would not)."""
    return rt.service.templates.update(pipeline_id, body, tag, who, plan_dependents=not skipPlanDependents)


@router.delete(ROOT + "/{pipeline_id}", response_class=Response, responses=NO_BODY)
def delete_template(
    pipeline_id: TemplateId,
    rt: RuntimeDep,
    who: ActorDep,
    tag: str | None = None,
    digest: str | None = None,
    application: str | None = None,
) -> Response:
    """Delete one stored copy (`?tag=` or `?digest=` names it); 409 while pipeline configs use it."""
    rt.service.templates.delete(pipeline_id, who, tag, digest)
    return Response(status_code=200)
