"""Canary configs and judgments through Gate's Kayenta routes (kayenta.md §1, §3.3): `/v2/canaryConfig` to
list, read, create, update and delete configs, `/v2/canary` to read judgments in Kayenta's
CanaryExecutionStatusResponse shape, and `/v2/canaries/...` for the config editor: the metrics accounts the
caller may read, the judges, and a Prometheus account's metric names.

Adapters over `gennaker.service.canary`, which checks configs and permissions: reading needs READ on one of
a config's applications (404 otherwise), saving and deleting WRITE on each of them (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from gennaker.api.deps import ActorDep, CallerDep, RuntimeDep, identity_of
from gennaker.api.errors import ERROR_RESPONSES, ApiError
from gennaker.auth.identity import account_allows
from gennaker.canary.accounts import MetricsAccountError
from gennaker.canary.judge import JUDGE_NAME
from gennaker.canary.metrics_source import MetricsSourceError
from gennaker.canary.prometheus_client import PrometheusError
from gennaker.store.canary import iso

router = APIRouter(responses=ERROR_RESPONSES, tags=["canary"])
CONFIGS = "/v2/canaryConfig"
JUDGMENTS = "/v2/canary"
CANARIES = "/v2/canaries"
MAX_METRIC_NAMES = 1000
ConfigId = Annotated[str, Path(description="The canary config's id")]
JudgmentId = Annotated[str, Path(description="The canary judgment's id (Kayenta's canary execution id)")]


def status_response(judgment: Mapping[str, Any]) -> dict[str, Any]:
    """A stored judgment as Kayenta's CanaryExecutionStatusResponse (what Orca's monitor and Deck read)."""
    created = judgment.get("createdAt")
    response: dict[str, Any] = {
        "id": judgment.get("id"),
        "application": judgment.get("application"),
        "parentPipelineExecutionId": judgment.get("executionId"),
        "pipelineId": judgment.get("pipelineId"),
        "stageId": judgment.get("stageId"),
        "complete": True,
        "status": str(judgment.get("status") or "").lower(),
        "result": {"judgeResult": judgment["result"]} if judgment.get("result") else None,
        "config": judgment.get("config"),
        "canaryExecutionRequest": {"scopes": judgment.get("scopes"), "thresholds": judgment.get("thresholds")},
        "metricSetPairList": judgment.get("metricSetPairs") or [],
        "metricsAccountName": judgment.get("metricsAccountName"),
    }
    if isinstance(created, int):
        response |= {"buildTimeMillis": created, "buildTimeIso": iso(created)}
    if judgment.get("error"):
        error = str(judgment["error"])
        response["exception"] = {"details": {"error": error, "errors": [error]}}
    return response


# -- configs ---------------------------------------------------------------------------------------------------
@router.get(CONFIGS)
def list_configs(
    rt: RuntimeDep,
    who: ActorDep,
    application: Annotated[str | None, Query(description="Only configs shared with this application")] = None,
) -> list[dict[str, Any]]:
    """Summaries (`id`, `name`, `applications`, `updatedTimestamp`, …) of the configs the caller may read."""
    return rt.canary_configs.configs(who, application or None)


@router.get(CONFIGS + "/{config_id}")
def get_config(config_id: ConfigId, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    """The config's newest version, with `id`, the timestamps and Gennaker's `version`."""
    return rt.canary_configs.config(config_id, who)


@router.post(CONFIGS)
def create_config(rt: RuntimeDep, who: ActorDep, body: dict[str, Any] = Body(...)) -> dict[str, str]:
    """Store a new config (its `id`, or a generated one; 409 if that id exists). Answers `{canaryConfigId}`."""
    saved = rt.canary_configs.create(body, who)
    return {"canaryConfigId": str(saved["id"])}


@router.put(CONFIGS + "/{config_id}")
def update_config(
    config_id: ConfigId, rt: RuntimeDep, who: ActorDep, body: dict[str, Any] = Body(...)
) -> dict[str, str]:
    """Store the next version of a config (the one before stays readable). Answers `{canaryConfigId}`."""
    saved = rt.canary_configs.update(config_id, body, who)
    return {"canaryConfigId": str(saved["id"])}


@router.delete(CONFIGS + "/{config_id}", status_code=204, response_class=Response)
def delete_config(config_id: ConfigId, rt: RuntimeDep, who: ActorDep) -> Response:
    """Delete a config and its versions; judgments keep the copy they were made with."""
    rt.canary_configs.delete(config_id, who)
    return Response(status_code=204)


# -- judgments -------------------------------------------------------------------------------------------------
@router.get(JUDGMENTS + "/{canary_id}")
def get_judgment(canary_id: JudgmentId, rt: RuntimeDep, who: ActorDep) -> dict[str, Any]:
    """One judgment (one `runCanary` run) in Kayenta's CanaryExecutionStatusResponse shape."""
    return status_response(rt.canary_configs.judgment(canary_id, who))


@router.get(JUDGMENTS)
def list_judgments(
    rt: RuntimeDep,
    who: ActorDep,
    execution_id: Annotated[str, Query(alias="executionId", description="The pipeline execution's id")],
    stage_id: Annotated[str | None, Query(alias="stageId", description="Only this `runCanary` stage's")] = None,
) -> list[dict[str, Any]]:
    """The execution's judgments, by run number, in the shape of `GET /v2/canary/{id}`."""
    found = rt.canary_configs.judgments(execution_id, who, stage_id or None)
    return [status_response(j) for j in found]


# -- metrics accounts, judges, metric names (Deck's canary config editor) -------------------------------------
@router.get(CANARIES + "/credentials")
def list_metrics_accounts(rt: RuntimeDep, who: CallerDep) -> list[dict[str, Any]]:
    """The metrics accounts the caller may READ, as Kayenta lists its credentials (never a secret)."""
    identity = identity_of(who)
    return [a.public() for a in rt.metrics.accounts if account_allows(identity, a.permissions, "READ")]


@router.get(CANARIES + "/judges")
def list_judges(who: CallerDep) -> list[dict[str, Any]]:
    """The judges a config may name: NetflixACAJudge-v1.0 only (to signed-in callers, as every route)."""
    return [{"name": JUDGE_NAME, "visible": True}]


@router.get(CANARIES + "/metadata/metricsService")
def list_metric_names(
    rt: RuntimeDep,
    who: CallerDep,
    account: Annotated[str | None, Query(alias="metricsAccountName", description="Default: the default one")] = None,
    contains: Annotated[str | None, Query(alias="filter", max_length=200, description="Part of the name")] = None,
) -> list[dict[str, str]]:
    """Metric names of a Prometheus account for the metric picker (cached for a minute), at most 1,000."""
    try:
        found = rt.metrics.accounts.resolve(account or None)
    except MetricsAccountError as error:
        raise ApiError(404, str(error)) from None
    if not account_allows(identity_of(who), found.permissions, "READ"):
        raise ApiError(404, f"metrics account '{found.name}' is not configured")
    try:
        names = rt.metrics.client(found.name).metric_names()
    except (PrometheusError, MetricsSourceError) as error:
        raise ApiError(502, str(error)) from None
    wanted = (contains or "").lower()
    return [{"name": name} for name in names if wanted in name.lower()][:MAX_METRIC_NAMES]
