"""Canary report pages: one judgment (every metric's classification, reason, statistics and a chart of its
baseline and canary series) and one kayentaCanary stage (its runs' scores against the thresholds). The data is
what the API serves at `/v2/canary/{id}`; both come from `gennaker.service.canary`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gennaker.api.deps import ActorDep, RuntimeDep
from gennaker.api.errors import ApiError
from gennaker.canary.intervals import request_thresholds
from gennaker.ui.charts import score_chart, series_chart
from gennaker.ui.routes import page

router = APIRouter(include_in_schema=False)


def _threshold(thresholds: Mapping[str, Any] | None, key: str) -> float | None:
    value = (thresholds or {}).get(key)
    return None if value in (None, "") else float(value)


def metric_rows(judgment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each judged metric with its series and chart, in the config's order."""
    result = judgment.get("result") or {}
    pairs = {pair.get("id"): pair for pair in judgment.get("metricSetPairs") or []}
    rows = []
    for metric in result.get("results") or []:
        values = (pairs.get(metric.get("id")) or {}).get("values") or {}
        rows.append(
            {
                **metric,
                "chart": series_chart(
                    metric.get("name") or "", values.get("control") or [], values.get("experiment") or []
                ),
            }
        )
    return rows


@router.get("/ui/canary/{judgment_id}", response_class=HTMLResponse)
def judgment_page(request: Request, judgment_id: str, rt: RuntimeDep, who: ActorDep) -> HTMLResponse:
    judgment = rt.canary_configs.judgment(judgment_id, who)
    return page(request, "canary_judgment.html", who.identity, judgment=judgment, metrics=metric_rows(judgment))


@router.get("/ui/executions/{execution_id}/canary/{stage_id}", response_class=HTMLResponse)
def stage_report_page(
    request: Request, execution_id: str, stage_id: str, rt: RuntimeDep, who: ActorDep
) -> HTMLResponse:
    execution = rt.service.executions.get(execution_id, who)
    stage = next((s for s in execution["stages"] if s["id"] == stage_id), None)
    if stage is None or stage.get("type") != "kayentaCanary":
        raise ApiError(404, f"execution {execution_id} has no kayentaCanary stage {stage_id}")
    runs = {s["id"] for s in execution["stages"] if s.get("type") == "runCanary" and _under(execution, s, stage_id)}
    judgments = [j for j in rt.canary_configs.judgments(execution_id, who) if j.get("stageId") in runs]
    thresholds = request_thresholds((stage.get("context") or {}).get("canaryConfig") or {})
    scores = [float(j["score"]) for j in judgments if isinstance(j.get("score"), int | float)]
    chart = score_chart("Scores per run", scores, _threshold(thresholds, "marginal"), _threshold(thresholds, "pass"))
    return page(
        request,
        "canary_stage.html",
        who.identity,
        execution=execution,
        stage=stage,
        judgments=judgments,
        chart=chart,
        thresholds=thresholds,
    )


def _under(execution: Mapping[str, Any], stage: Mapping[str, Any], ancestor_id: str) -> bool:
    by_id = {s["id"]: s for s in execution["stages"]}
    parent = stage.get("parentStageId")
    for _ in range(len(by_id)):
        if parent is None:
            return False
        if parent == ancestor_id:
            return True
        parent = by_id.get(parent, {}).get("parentStageId")
    return False
