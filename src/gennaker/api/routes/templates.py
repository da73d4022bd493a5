"""Managed pipeline templates v2 (gate.md §1.12, echo-igor.md §6.4): Front50's `/v2/pipelineTemplates` routes
and Gate's (`/create`, `/update/{id}`, `/plan`, `/{id}/dependents`).

Templates are shared by all applications, so any signed-in caller may read and plan them. Changing one
changes what its dependent pipelines run: saving or deleting needs WRITE on every application that depends
on the template and on every existing application named in its `metadata.scopes`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from gennaker.api.deps import CallerDep, RuntimeDep, require_application
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.model.pipeline_templates import TEMPLATE_ID, TemplateError, scopes_of, template_key
from gennaker.runtime import Runtime
from gennaker.store.templates import TemplateConflict

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


def _invalid(error: TemplateError, what: str = "invalid pipeline template") -> ApiError:
    return ApiError(400, f"{what}: {error}", [e.to_json() for e in error.errors])


def _require_write(request: Request, rt: Runtime, who: Any, template_id: str, scopes: list[str]) -> None:
    """WRITE on the applications using the template and on those its scopes name (403 otherwise)."""
    with rt.db.read() as conn:
        names = {str(c.get("application")) for c in rt.launcher.templates.store.dependents(conn, template_id)}
        names |= {s.lower() for s in scopes if rt.applications.get(conn, s) is not None}
    for application in sorted(names):
        require_application(request, rt, who, application, "WRITE")


def _stored_scopes(rt: Runtime, template_id: str) -> list[str]:
    """The scopes of every stored copy of the template (an update cannot drop them to escape a check)."""
    with rt.db.read() as conn:
        copies = rt.launcher.templates.store.copies(conn, template_id=template_id)
    return [s for t in copies for s in scopes_of(t)]


def _save(
    request: Request, rt: Runtime, who: Any, body: dict[str, Any], tag: str | None, *, create: bool, plan: bool = True
) -> dict[str, Any]:
    template_id = body.get("id")
    if isinstance(template_id, str) and TEMPLATE_ID.match(template_id):
        _require_write(request, rt, who, template_id, scopes_of(body) + _stored_scopes(rt, template_id))
    try:
        with rt.db.transaction() as conn:
            return rt.launcher.templates.save(
                conn,
                body,
                tag or None,
                who.username,
                create=create,
                registry=rt.registry,
                plan_dependents=plan,
            )
    except TemplateError as error:
        raise _invalid(error) from None
    except TemplateConflict as error:
        raise ApiError(409, str(error)) from None


def _existing(rt: Runtime, template_id: str) -> None:
    with rt.db.read() as conn:
        if not rt.launcher.templates.store.exists(conn, template_id):
            raise ApiError(404, f"pipeline template {template_id} not found")


def _one_version(tag: str | None, digest: str | None) -> None:
    if tag and digest:
        problem = "Cannot query pipeline by 'tag' and 'digest' simultaneously. Specify one of 'tag' or 'digest'."
        raise ApiError(400, problem, [{"field": "digest", "problem": problem}])


# -- reading ---------------------------------------------------------------------------------------------------
@router.get(ROOT)
def list_templates(request: Request, rt: RuntimeDep, who: CallerDep, scopes: Scopes = None) -> list[dict[str, Any]]:
    """Every stored copy (`<id>`, `<id>:<tag>`, `<id>@sha256:<digest>`, each with `tag`/`digest`) in the scopes."""
    with rt.db.read() as conn:
        return rt.launcher.templates.store.copies(conn, _scopes(request))


@router.get(f"{ROOT}/versions")
def template_versions(
    request: Request, rt: RuntimeDep, who: CallerDep, scopes: Scopes = None
) -> dict[str, list[dict[str, Any]]]:
    """The v2 templates' stored copies by template id."""
    with rt.db.read() as conn:
        return rt.launcher.templates.store.versions(conn, _scopes(request))


@router.post(f"{ROOT}/plan")
def plan_pipeline(request: Request, rt: RuntimeDep, who: CallerDep, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """The plain pipeline a templated pipeline config renders to (its `trigger`, if any, is the trigger); 400
    names every problem (missing template, variables without values, unknown inject targets, ...)."""
    application = body.get("application")
    if isinstance(application, str) and application:
        with rt.db.read() as conn:
            exists = rt.applications.get(conn, application) is not None
        if exists:
            require_application(request, rt, who, application, "READ")
    try:
        with rt.db.read() as conn:
            return rt.launcher.templates.plan(conn, body, planning=True)
    except TemplateError as error:
        raise _invalid(error, "the pipeline cannot be planned") from None


@router.get(ROOT + "/{pipeline_id}")
def get_template(
    pipeline_id: TemplateId, rt: RuntimeDep, who: CallerDep, tag: str | None = None, digest: str | None = None
) -> dict[str, Any]:
    """One stored copy: the plain id, `?tag=` or `?digest=` (not both)."""
    _one_version(tag, digest)
    with rt.db.read() as conn:
        found = rt.launcher.templates.store.get(conn, pipeline_id, tag or None, digest or None)
    if found is None:
        raise ApiError(404, f"pipeline template {template_key(pipeline_id, tag, digest)} not found")
    return found


def _dependents(request: Request, rt: Runtime, who: Any, template_id: str) -> list[dict[str, Any]]:
    _existing(rt, template_id)
    security = request.app.state.security
    with rt.db.read() as conn:
        found = rt.launcher.templates.store.dependents(conn, template_id)
        apps = {c["application"]: rt.applications.get(conn, c["application"]) for c in found}
    return [c for c in found if security.application_allows(who, apps[c["application"]], "READ")]


@router.get(ROOT + "/{pipeline_id}/dependentPipelines")
def dependent_pipelines(
    pipeline_id: TemplateId, request: Request, rt: RuntimeDep, who: CallerDep
) -> list[dict[str, Any]]:
    """The pipeline configs (of applications the caller may read) whose reference names the template."""
    return _dependents(request, rt, who, pipeline_id)


@router.get(ROOT + "/{pipeline_id}/dependents")
def dependents(pipeline_id: TemplateId, request: Request, rt: RuntimeDep, who: CallerDep) -> list[dict[str, Any]]:
    """Gate's name for `dependentPipelines`."""
    return _dependents(request, rt, who, pipeline_id)


# -- changing --------------------------------------------------------------------------------------------------
@router.post(ROOT)
@router.post(f"{ROOT}/create")
def create_template(
    request: Request, rt: RuntimeDep, who: CallerDep, body: dict[str, Any] = Body(...), tag: str | None = None
) -> dict[str, Any]:
    """Store a new template under `<id>` (or `<id>:<tag>`), `<id>:latest` and `<id>@sha256:<digest>`;
    409 if that id (and tag) exists. A missing `schema` is `v2`. Answers the stored copy."""
    return _save(request, rt, who, body, tag, create=True)


@router.put(ROOT + "/{pipeline_id}")
@router.post(ROOT + "/update/{pipeline_id}")
def update_template(
    pipeline_id: TemplateId,
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    body: dict[str, Any] = Body(...),
    tag: str | None = None,
    skipPlanDependents: bool = False,
) -> dict[str, Any]:
    """Replace a stored template (404 if no copy of it exists). Unless `skipPlanDependents`, every pipeline
    using a copy this rewrites must still render with the new template (400 names those that would not)."""
    _existing(rt, pipeline_id)
    body = {**body, "id": body.get("id", pipeline_id)}
    if body["id"] != pipeline_id:
        problem = f"must be the id in the path, '{pipeline_id}'"
        raise ApiError(400, f"id: {problem}", [{"field": "id", "problem": problem}])
    return _save(request, rt, who, body, tag, create=False, plan=not skipPlanDependents)


@router.delete(ROOT + "/{pipeline_id}", response_class=Response, responses=NO_BODY)
def delete_template(
    pipeline_id: TemplateId,
    request: Request,
    rt: RuntimeDep,
    who: CallerDep,
    tag: str | None = None,
    digest: str | None = None,
    application: str | None = None,
) -> Response:
    """Delete one stored copy (`?tag=` or `?digest=` names it); 409 while pipeline configs use it."""
    _one_version(tag, digest)
    _existing(rt, pipeline_id)
    _require_write(request, rt, who, pipeline_id, _stored_scopes(rt, pipeline_id))
    try:
        with rt.db.transaction() as conn:
            deleted = rt.launcher.templates.delete(conn, pipeline_id, tag or None, digest or None)
    except TemplateConflict as error:
        raise ApiError(409, str(error)) from None
    if not deleted:
        raise ApiError(404, f"pipeline template {template_key(pipeline_id, tag, digest)} not found")
    return Response(status_code=200)
