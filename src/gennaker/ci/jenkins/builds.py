"""Jenkins JSON as Spinnaker shows it: a build as Igor's `GenericBuild` (the stage's `buildInfo`), a job as
Igor's `JobConfig` (what Deck's parameter form reads) (echo-igor.md §2.4.3, §3.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "ABORTED", "NOT_BUILT")


def generic_build(job: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """`buildInfo`: building, number, result (BUILDING while it runs), url, artifacts, test results, git data."""
    number = raw.get("number")
    building = raw.get("building") is True
    result = raw.get("result")
    timestamp = raw.get("timestamp")
    artifacts = [
        {
            "fileName": a.get("fileName"),
            "displayPath": a.get("displayPath"),
            "relativePath": a.get("relativePath"),
            "reference": a.get("relativePath"),
            "name": job,
            "version": str(number),
            "type": "jenkins/file",
            "decorated": False,
        }
        for a in raw.get("artifacts") or []
        if isinstance(a, dict)
    ]
    build: dict[str, Any] = {
        "building": building,
        "fullDisplayName": raw.get("fullDisplayName"),
        "name": job,
        "number": number,
        "duration": raw.get("duration"),
        "timestamp": str(timestamp) if timestamp is not None else None,
        "result": "BUILDING" if building else result,
        "url": raw.get("url"),
        "id": f"{job}-{number}",
        "artifacts": artifacts,
    }
    tests = test_results(raw)
    if tests:
        build["testResults"] = tests
    scm = git_details(raw)
    if scm:
        build["scm"] = scm
    return {k: v for k, v in build.items() if v is not None}


def test_results(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: action.get(k) for k in ("failCount", "skipCount", "totalCount", "urlName") if action.get(k) is not None}
        for action in _actions(raw)
        if action.get("totalCount") is not None
    ]


def git_details(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The git revision the build checked out; `branch` is the last segment of the branch name, as Igor."""
    found: list[dict[str, Any]] = []
    for action in _actions(raw):
        revision = action.get("lastBuiltRevision")
        if not isinstance(revision, dict):
            continue
        remotes = [u for u in action.get("remoteUrls") or [] if isinstance(u, str)]
        for branch in revision.get("branch") or []:
            if not isinstance(branch, dict) or not branch.get("name"):
                continue
            entry = {
                "name": branch["name"],
                "branch": str(branch["name"]).rsplit("/", 1)[-1],
                "sha1": branch.get("SHA1") or revision.get("SHA1"),
                "remoteUrl": remotes[0] if remotes else None,
            }
            entry = {k: v for k, v in entry.items() if v is not None}
            if entry not in found:
                found.append(entry)
    return found


def parameter_definitions(raw_job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A job's parameter definitions, from its `ParametersDefinitionProperty` (Jenkins' `property` list)."""
    definitions: list[dict[str, Any]] = []
    for prop in raw_job.get("property") or []:
        if isinstance(prop, dict):
            definitions += [d for d in prop.get("parameterDefinitions") or [] if isinstance(d, dict) and d.get("name")]
    return definitions


def job_config(raw_job: Mapping[str, Any]) -> dict[str, Any]:
    """Igor's `JobConfig`: what Deck's Jenkins stage form shows, with `parameterDefinitionList`."""
    parameters = []
    for definition in parameter_definitions(raw_job):
        default = definition.get("defaultParameterValue")
        entry: dict[str, Any] = {
            "name": definition["name"],
            "type": definition.get("type"),
            "description": definition.get("description"),
            "defaultParameterValue": (
                {"name": default.get("name"), "value": default.get("value")} if isinstance(default, dict) else None
            ),
            "defaultName": default.get("name") if isinstance(default, dict) else None,
            "defaultValue": default.get("value") if isinstance(default, dict) else None,
        }
        if isinstance(definition.get("choices"), list):
            entry["choices"] = [str(c) for c in definition["choices"]]
        parameters.append(entry)
    return {
        "name": raw_job.get("name"),
        "displayName": raw_job.get("displayName"),
        "description": raw_job.get("description"),
        "url": raw_job.get("url"),
        "buildable": raw_job.get("buildable"),
        "color": raw_job.get("color"),
        "concurrentBuild": raw_job.get("concurrentBuild"),
        "parameterDefinitionList": parameters,
        "upstreamProjectList": _projects(raw_job.get("upstreamProjects")),
        "downstreamProjectList": _projects(raw_job.get("downstreamProjects")),
    }


def _projects(value: Any) -> list[dict[str, Any]]:
    return [{"name": p.get("name"), "url": p.get("url")} for p in value or [] if isinstance(p, dict)]


def _actions(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [a for a in raw.get("actions") or [] if isinstance(a, dict)]
