"""Build masters for the pipeline editor (Gate's `BuildController`, echo-igor.md §3.4): the Jenkins masters the
caller may read, their jobs, a job's parameters, its builds and one build.

A master whose READ permission the caller lacks is answered as unknown (404), as accounts are. Jenkins is
asked live; a master that cannot be reached gives 502 with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from gennaker.api.deps import Caller, CallerDep, RuntimeDep, identity_of
from gennaker.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from gennaker.auth.identity import account_allows
from gennaker.ci.jenkins import JenkinsClient, JenkinsError, JenkinsMaster, generic_build, job_config
from gennaker.ci.jenkins.client import InvalidJobName
from gennaker.runtime import Runtime
from gennaker.stages.jenkins import jenkins_access

router = APIRouter(
    responses={**ERROR_RESPONSES, 502: {"model": ErrorBody, "description": "The build master failed to answer"}},
    tags=["builds"],
)
BUILD_TYPES = ("jenkins",)
# Path parameters carry the names other routes use (a master is an account; a build number a version).
MasterName = Annotated[str, Path(description="The build master's name")]
JobName = Annotated[str, Path(description="The job; folder/job/name for a job in a folder")]
BuildNumber = Annotated[int, Path(description="The build number")]


def _readable(rt: Runtime, who: Caller) -> list[JenkinsMaster]:
    access = jenkins_access(rt.registry)
    if access is None:
        return []
    identity = identity_of(who)
    return [m for m in access.masters if account_allows(identity, m.permissions, "READ")]


def _client(rt: Runtime, who: Caller, master: str) -> JenkinsClient:
    access = jenkins_access(rt.registry)
    found = next((m for m in _readable(rt, who) if m.name == master), None)
    if access is None or found is None:
        raise ApiError(404, f"Build master '{master}' not found")
    return access.client(found)


def _upstream(error: JenkinsError) -> ApiError:
    if isinstance(error, InvalidJobName):
        return ApiError(400, str(error), [{"field": "job", "problem": str(error)}])
    return ApiError(404 if error.status == 404 else 502, str(error))


def _job(job: str | None) -> str:
    if not job:
        raise ApiError(400, "the job is required", [{"field": "job", "problem": "is required"}])
    return job


@router.get("/v2/builds")
@router.get("/v3/builds")
def masters(rt: RuntimeDep, who: CallerDep, type: str | None = None) -> list[str]:
    """Names of the build masters the caller may read (`type` filters by build system: only jenkins exists)."""
    if type is not None and type.lower() not in BUILD_TYPES:
        return []
    return [m.name for m in _readable(rt, who)]


@router.get("/v2/builds/{account}/jobs")
@router.get("/v3/builds/{account}/jobs")
def jobs(account: MasterName, rt: RuntimeDep, who: CallerDep) -> list[str]:
    """The master's jobs; a job in a folder is `folder/job/name`."""
    client = _client(rt, who, account)
    try:
        return client.job_names()
    except JenkinsError as exc:
        raise _upstream(exc) from None


def _job_config(rt: Runtime, who: Caller, master: str, job: str | None) -> dict[str, Any]:
    client = _client(rt, who, master)
    try:
        return job_config(client.job(_job(job)))
    except JenkinsError as exc:
        raise _upstream(exc) from None


@router.get("/v3/builds/{account}/job")
def job_by_query(account: MasterName, rt: RuntimeDep, who: CallerDep, job: str | None = Query(None)) -> dict[str, Any]:
    """A job's configuration with `parameterDefinitionList` (Deck's parameter form), the job given as `?job=`."""
    return _job_config(rt, who, account, job)


@router.get("/v2/builds/{account}/jobs/{name:path}")
@router.get("/v3/builds/{account}/job/{name:path}")
def job_by_path(account: MasterName, name: JobName, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    """A job's configuration, the job given in the path (`folder/job/name` for a job in a folder)."""
    return _job_config(rt, who, account, name)


@router.get("/v3/builds/{account}/builds")
def builds(account: MasterName, rt: RuntimeDep, who: CallerDep, job: str | None = Query(None)) -> list[dict[str, Any]]:
    """The job's newest builds (at most 100), newest first."""
    client = _client(rt, who, account)  # an unknown or unreadable master first: 404 whatever the query
    name = _job(job)
    try:
        return [generic_build(name, b) for b in client.builds(name)]
    except JenkinsError as exc:
        raise _upstream(exc) from None


@router.get("/v3/builds/{account}/build/{version}")
def build(
    account: MasterName, version: BuildNumber, rt: RuntimeDep, who: CallerDep, job: str | None = Query(None)
) -> dict[str, Any]:
    """One build as the Jenkins stage's `buildInfo` shows it."""
    client = _client(rt, who, account)  # an unknown or unreadable master first: 404 whatever the query
    name = _job(job)
    try:
        return generic_build(name, client.build(name, version))
    except JenkinsError as exc:
        raise _upstream(exc) from None
