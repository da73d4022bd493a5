"""The keys Deck's `kayentaCanary` stage writes (kayenta.md §3.1), checked when a pipeline is saved."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from gennaker.model.stage_context import (
    ContextModel,
    ListOf,
    Loc,
    MapValue,
    Number,
    ObjectOf,
    OneOf,
    StageContext,
    TextValue,
    WholeNumber,
    is_expression,
    present,
)

# Deck writes thresholds and minutes as numbers or numeric strings; both are read as numbers.
Score = Annotated[float | None, Number(0, 100)]
Minutes = Annotated[int | None, Number(minimum=0, whole=True)]


class CanaryScope(ContextModel):
    scopeName: TextValue = Field(None, description="The metrics' scopeName, normally default")
    controlScope: TextValue = Field(None, title="Baseline scope")
    controlLocation: TextValue = None
    experimentScope: TextValue = Field(None, title="Canary scope")
    experimentLocation: TextValue = None
    startTimeIso: TextValue = None
    endTimeIso: TextValue = None
    step: WholeNumber = Field(None, description="Seconds between points (default 60)")
    extendedScopeParams: MapValue = None


class ScoreThresholds(ContextModel):
    marginal: Score = Field(None, description="An interval at or below this score fails the canary")
    # `pass` is a Python keyword: the key is declared through its alias.
    pass_: Score = Field(None, alias="pass", description="The last interval must reach this score")


class CanaryConfig(ContextModel):
    scopes_required: ClassVar[bool] = True

    canaryConfigId: TextValue = Field(None, title="Canary config id")
    canaryConfigName: TextValue = None
    metricsAccountName: TextValue = Field(None, title="Metrics account")
    configurationAccountName: TextValue = None
    storageAccountName: TextValue = None
    scopes: ListOf[ObjectOf[CanaryScope]] = None
    scoreThresholds: ObjectOf[ScoreThresholds] = None
    lifetimeDuration: TextValue = Field(None, title="Lifetime (ISO-8601, e.g. PT1H)")
    lifetimeHours: Annotated[float | None, Number(minimum=0)] = None
    beginCanaryAnalysisAfterMins: Minutes = None
    baselineAnalysisOffsetInMins: Minutes = None
    lookbackMins: Minutes = None
    canaryAnalysisIntervalMins: Minutes = None
    siteLocal: MapValue = None

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        if not present(data, "canaryConfigId") and not present(data, "canaryConfigName"):
            found.append((("canaryConfigId",), "is required (or canaryConfigName)"))
        if cls.scopes_required and not present(data, "scopes"):
            found.append((("scopes",), "needs at least one scope"))
        if not any(present(data, key) for key in ("lifetimeDuration", "lifetimeHours")) and not _has_end(data):
            found.append((("lifetimeDuration",), "is required unless the scope gives endTimeIso"))
        return found


class CanaryAnalysis(CanaryConfig):
    """canaryDeployment's `analysis`: the scopes default to its baseline and canary copies."""

    scopes_required: ClassVar[bool] = False


def _has_end(data: dict[str, Any]) -> bool:
    scopes = data.get("scopes")
    return (
        isinstance(scopes, list) and bool(scopes) and isinstance(scopes[0], dict) and present(scopes[0], "endTimeIso")
    )


class KayentaCanaryContext(StageContext):
    analysisType: Annotated[str | None, OneOf(("realTime", "realTimeAutomatic", "retrospective"))] = None
    canaryConfig: ObjectOf[CanaryConfig] = Field(None, title="Canary analysis")
    deployments: MapValue = Field(None, description="Server groups to deploy for the analysis (not supported)")

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        if not present(data, "canaryConfig"):
            found.append((("canaryConfig",), "is required"))
        deployments = data.get("deployments")
        if deployments not in (None, "", {}, []) and not is_expression(deployments):
            found.append(
                (
                    ("deployments",),
                    "deploying baseline and canary server groups inside kayentaCanary is not supported; "
                    "use the canaryDeployment stage, or deploy them in earlier stages",
                )
            )
        return found


class RunCanaryIntervalsContext(StageContext):
    """The planned waits and runs of a kayentaCanary stage: written by that stage, never by people."""

    intervalStages: ListOf[MapValue] = None


class RunCanaryContext(StageContext):
    """A planned "Run Canary #n": written by the kayentaCanary stage, never by people."""

    canaryConfigId: TextValue = None
    canaryConfigName: TextValue = None
    metricsAccountName: TextValue = None
    scopes: MapValue = None
    scoreThresholds: MapValue = None
    siteLocal: MapValue = None
