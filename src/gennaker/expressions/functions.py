"""The helper functions (`#name(...)`, orca.md §4.5).

Helpers that need the execution take it from `#root.execution` (Orca passes it implicitly). Helpers that need
data from outside the execution (pipeline ids, applications, the current user) ask a `Lookups` object the
caller supplies; URL helpers go through `UrlFetcher` (see `urls.py`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from gennaker.expressions import documents
from gennaker.expressions.compiler import Scope
from gennaker.expressions.javalike import DoNotEval, ExpressionError, dumps_json, ensure_text, parse_long, to_text
from gennaker.expressions.roots import StageLookup, StageView, current_stage_of
from gennaker.expressions.urls import UrlFetcher


class Lookups(Protocol):
    """Data helpers need from outside the execution; the engine and the API provide it."""

    def pipeline_id(self, application: str, name: str, user: str | None) -> str | None: ...
    def application(self, name: str, user: str | None) -> dict[str, Any] | None: ...
    def canary_config_id(self, name: str, application: str, user: str | None) -> str | None: ...
    def current_user(self) -> str | None: ...


class NoLookups:
    """Lookups when none are wired (the CLI's `expr eval` on a file): nothing is found."""

    def pipeline_id(self, application: str, name: str, user: str | None) -> str | None:
        return None

    def application(self, name: str, user: str | None) -> dict[str, Any] | None:
        return None

    def canary_config_id(self, name: str, application: str, user: str | None) -> str | None:
        return None

    def current_user(self) -> str | None:
        return None


DEPLOY_TYPES = {"deploy", "createServerGroup", "cloneServerGroup", "rollingPush"}


def _execution(scope: Scope) -> Mapping[str, Any]:
    root = scope.root
    execution = root.get("execution") if isinstance(root, Mapping) else None
    if not isinstance(execution, Mapping):
        raise ExpressionError("An execution context is required for this function")
    return execution


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"{what} must be a string, got {to_text(value)}")
    return value


# -- conversions (kork) ---------------------------------------------------------------------------------
def to_json(scope: Scope, value: Any) -> str:
    text = dumps_json(value)
    if "${" in text and not isinstance(value, DoNotEval):
        raise ExpressionError("result for toJson cannot contain an expression", "SpelHelperFunctionException")
    return text


def to_int(scope: Scope, value: Any) -> int:
    return parse_long(to_text(value).strip())


def to_float(scope: Scope, value: Any) -> float:
    try:
        return float(to_text(value).strip())
    except ValueError:
        raise ExpressionError(
            f'NumberFormatException: For input string: "{to_text(value)}"', "NumberFormatException"
        ) from None


def to_boolean(scope: Scope, value: Any) -> bool:
    return (isinstance(value, str) and value.lower() == "true") or value is True


def to_base64(scope: Scope, value: Any) -> str:
    raw = to_text(value).encode()
    ensure_text(4 * ((len(raw) + 2) // 3))
    return base64.b64encode(raw).decode()


def from_base64(scope: Scope, value: Any) -> str:
    try:
        return base64.b64decode(_text(value, "base64 input"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ExpressionError(f"invalid base64: {exc}") from None


def alphanumerical(scope: Scope, value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", to_text(value))


def read_json(scope: Scope, text: Any) -> Any:
    parsed = documents.read_json(_text(text, "readJson input").strip(), "readJson input")
    if not isinstance(parsed, list | dict):
        raise ExpressionError("readJson needs a JSON object or list")
    return parsed


def read_yaml(scope: Scope, text: Any) -> Any:
    found = read_all_yaml(scope, text)
    if len(found) != 1:
        raise ExpressionError(f"expected a single YAML document, found {len(found)}")
    return found[0]


def read_all_yaml(scope: Scope, text: Any) -> list[Any]:
    parsed = documents.read_yaml(_text(text, "YAML input"), "YAML input", scope.deadline)
    return [d for d in parsed if d is not None]


# -- stages of the execution (orca) ----------------------------------------------------------------------------
def _lookup(scope: Scope) -> StageLookup:
    return StageLookup(_execution(scope))


def stage(scope: Scope, name_or_id: Any) -> StageView:
    lookup = _lookup(scope)
    found = next((s for s in lookup.stages if s.get("name") == name_or_id or s.get("id") == name_or_id), None)
    if found is None:
        raise ExpressionError(
            f"Unable to locate [{to_text(name_or_id)}] using #stage({to_text(name_or_id)}) in execution "
            f"{lookup.execution.get('id')}"
        )
    return StageView(found, lookup)


def stage_by_ref_id(scope: Scope, ref_id: Any) -> StageView:
    lookup = _lookup(scope)
    found = next((s for s in lookup.stages if ref_id is not None and str(s.get("refId")) == str(ref_id)), None)
    if found is None:
        raise ExpressionError(
            f"Unable to locate [{to_text(ref_id)}] using #stageByRefId({to_text(ref_id)}) in execution "
            f"{lookup.execution.get('id')}"
        )
    return StageView(found, lookup)


def stage_exists(scope: Scope, name_or_id: Any) -> bool:
    return any(s.get("name") == name_or_id or s.get("id") == name_or_id for s in _lookup(scope).stages)


def current_stage(scope: Scope) -> StageView:
    """The stage being evaluated: the one the root was built for (`stage_root`), read from the execution so it
    is the same object `#stage()` finds; a `currentStage` variable, when a caller passes one, wins."""
    current = scope.variables.get("currentStage")
    if not isinstance(current, Mapping):
        current = current_stage_of(scope.root)
    if not isinstance(current, Mapping):
        raise ExpressionError("An execution context is required for this function")
    lookup = _lookup(scope)
    stage_id = current.get("id")
    return StageView(lookup.by_id.get(stage_id, current) if stage_id is not None else current, lookup)


def judgment(scope: Scope, name: Any) -> Any:
    for candidate in _lookup(scope).stages:
        context = candidate.get("context") or {}
        if (
            candidate.get("name") == name
            and candidate.get("type") == "manualJudgment"
            and context.get("judgmentInput") is not None
        ):
            return context["judgmentInput"]
    raise ExpressionError(f"Unable to locate manual Judgment stage [{to_text(name)}] in execution")


def deployed_server_groups(scope: Scope, *names: Any) -> list[dict[str, Any]]:
    lookup = _lookup(scope)
    wanted = {to_text(n) for n in names}
    result = []
    for candidate in lookup.stages:
        context = candidate.get("context") or {}
        if candidate.get("type") not in DEPLOY_TYPES or candidate.get("status") != "SUCCEEDED":
            continue
        if "deploy.server.groups" not in context or (
            wanted and not wanted & {candidate.get("name"), candidate.get("id")}
        ):
            continue
        zones = context.get("availabilityZones") or {}
        region = context.get("region") or (next(iter(zones)) if zones else None)
        if not region:
            continue
        groups = (context.get("deploy.server.groups") or {}).get(region) or [None]
        deployments = [
            d
            for task in ((context.get("kato.tasks") or []) if isinstance(context.get("kato.tasks"), list) else [])
            for result_object in task.get("resultObjects") or []
            for d in result_object.get("deployments") or []
        ]
        entry: dict[str, Any] = {
            "account": context.get("account") or context.get("credentials"),
            "capacity": context.get("capacity"),
            "parentStage": candidate.get("parentStageId"),
            "region": region,
            "serverGroup": groups[0],
            "deployments": deployments,
        }
        found, details = (
            lookup.output(candidate, "deploymentDetails")
            if "deploymentDetails" not in context
            else (True, context["deploymentDetails"])
        )
        if found and isinstance(details, list):
            entry.update(next((d for d in details if isinstance(d, Mapping) and d.get("region") == region), {}))
        result.append(entry)
    return result


def manifest_label_value(scope: Scope, stage_name: Any, kind: Any, label: Any) -> Any:
    if kind not in ("Deployment", "ReplicaSet"):
        raise ExpressionError(
            f"Only Deployment and ReplicaSet kinds are supported, not {to_text(kind)}", "IllegalArgumentException"
        )
    lookup = _lookup(scope)
    found = next(
        (
            s
            for s in lookup.stages
            if s.get("name") == stage_name and s.get("type") == "deployManifest" and s.get("status") == "SUCCEEDED"
        ),
        None,
    )
    if found is None:
        raise ExpressionError(f"A SUCCEEDED deployManifest stage named {to_text(stage_name)} could not be found")
    manifests = (
        (found.get("context") or {}).get("outputs.manifests")
        or (found.get("outputs") or {}).get("manifests")
        or (found.get("context") or {}).get("manifests")
        or []
    )
    manifest = next((m for m in manifests if isinstance(m, Mapping) and m.get("kind") == kind), None)
    if manifest is None:
        raise ExpressionError(f"No manifest of kind {kind} was deployed by stage {to_text(stage_name)}")
    labels = (((manifest.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    if label not in labels:
        raise ExpressionError(f"Label {to_text(label)} was not found in the {kind}'s pod template")
    return labels[label]


def _resolved_expected(scope: Scope) -> list[Mapping[str, Any]]:
    trigger = _execution(scope).get("trigger") or {}
    return [r for r in trigger.get("resolvedExpectedArtifacts") or [] if isinstance(r, Mapping)]


def trigger_resolved_artifact(scope: Scope, name: Any) -> Any:
    for resolved in _resolved_expected(scope):
        bound = resolved.get("boundArtifact") or {}
        if bound.get("name") == name:
            return bound
    raise ExpressionError(f"Unable to locate trigger resolved artifact named {to_text(name)}")


def trigger_resolved_artifact_by_type(scope: Scope, artifact_type: Any) -> Any:
    for resolved in _resolved_expected(scope):
        bound = resolved.get("boundArtifact") or {}
        if bound.get("type") == artifact_type:
            return bound
    raise ExpressionError(f"Unable to locate trigger resolved artifact of type {to_text(artifact_type)}")


def resolved_artifacts(scope: Scope) -> list[Any]:
    return [a for s in _lookup(scope).stages for a in ((s.get("outputs") or {}).get("artifacts") or [])]


def cf_service_key(scope: Scope, name_or_id: Any) -> Any:
    """The service key a SUCCEEDED `createServiceKey` stage reported in its kato task results; {} if none."""
    for candidate in _lookup(scope).stages:
        named = candidate.get("name") == name_or_id or candidate.get("id") == name_or_id
        if candidate.get("type") != "createServiceKey" or candidate.get("status") != "SUCCEEDED" or not named:
            continue
        tasks = (candidate.get("context") or {}).get("kato.tasks") or []
        for task in tasks if isinstance(tasks, list) else []:
            for result in task.get("resultObjects") or []:
                if isinstance(result, Mapping) and isinstance(result.get("serviceKey"), Mapping):
                    return result["serviceKey"]
    return {}


def _execution_user(scope: Scope) -> str | None:
    """Who the evaluation acts as: the execution's user, or before the execution exists (v3 trigger-time
    evaluation) the trigger's user, which the launcher sets to the same server-decided name."""
    root = scope.root
    if not isinstance(root, Mapping):
        return None
    execution = root.get("execution")
    if isinstance(execution, Mapping):
        authentication = execution.get("authentication")
        return authentication.get("user") if isinstance(authentication, Mapping) else None
    trigger = root.get("trigger")
    return trigger.get("user") if isinstance(trigger, Mapping) else None


def fetched(scope: Scope, fetch: Callable[[str], Any], url: Any) -> Any:
    """A URL helper's fetch, with the clock stopped: waiting on the network (bounded by the fetcher's own
    timeout) does not hold the server."""
    with scope.deadline.paused():
        return fetch(to_text(url))


# -- the function table ---------------------------------------------------------------------------------------
def function_table(lookups: Lookups, urls: UrlFetcher) -> dict[str, Callable[..., Any]]:
    def application_of(scope: Scope) -> str:
        return str(_execution(scope).get("application") or "")

    def pipeline_id(scope: Scope, name: Any) -> str:
        found = lookups.pipeline_id(application_of(scope), to_text(name), _execution_user(scope))
        if found is None:
            raise ExpressionError(f"Pipeline with name '{to_text(name)}' could not be found in the current application")
        return found

    def canary_config_name_to_id(scope: Scope, name: Any, application: Any) -> str:
        found = lookups.canary_config_id(to_text(name), to_text(application), _execution_user(scope))
        if found is None:
            raise ExpressionError(
                f"Canary config '{to_text(name)}' could not be found in application '{to_text(application)}'"
            )
        return found

    def yaml_from_url(scope: Scope, url: Any) -> Any:
        found = documents.read_yaml(fetched(scope, urls.text, url), to_text(url), scope.deadline)
        if len(found) > 1:
            raise ExpressionError(f"{to_text(url)} holds more than one YAML document")
        return found[0] if found else None

    return {
        "toJson": to_json,
        "doNotEval": lambda scope, value: DoNotEval(value),
        "toInt": to_int,
        "toFloat": to_float,
        "toBoolean": to_boolean,
        "toBase64": to_base64,
        "fromBase64": from_base64,
        "alphanumerical": alphanumerical,
        "fetchReference": lambda scope, value: value,
        "readJson": read_json,
        "readYaml": read_yaml,
        "readAllYaml": read_all_yaml,
        "fromUrl": lambda scope, url: fetched(scope, urls.text, url),
        "jsonFromUrl": lambda scope, url: documents.read_json(fetched(scope, urls.text, url), to_text(url)),
        "yamlFromUrl": yaml_from_url,
        "propertiesFromUrl": lambda scope, url: fetched(scope, urls.properties, url),
        "stage": stage,
        "stageByRefId": stage_by_ref_id,
        "stageExists": stage_exists,
        "currentStage": current_stage,
        "currentUser": lambda scope: lookups.current_user() or _execution_user(scope) or "anonymous",
        "judgment": judgment,
        "judgement": judgment,
        "deployedServerGroups": deployed_server_groups,
        "manifestLabelValue": manifest_label_value,
        "triggerResolvedArtifact": trigger_resolved_artifact,
        "triggerResolvedArtifactByType": trigger_resolved_artifact_by_type,
        "resolvedArtifacts": resolved_artifacts,
        "pipelineId": pipeline_id,
        "pipelineIdOrNull": lambda scope, name: lookups.pipeline_id(
            application_of(scope), to_text(name), _execution_user(scope)
        ),
        "pipelineIdInApplication": lambda scope, name, app: lookups.pipeline_id(
            to_text(app), to_text(name), _execution_user(scope)
        ),
        "applicationMetadata": lambda scope, app: lookups.application(to_text(app), _execution_user(scope)),
        "canaryConfigNameToId": canary_config_name_to_id,
        "cfServiceKey": cf_service_key,
    }
