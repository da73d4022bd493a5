"""The context schema of every stage type: the keys Deck writes and Orca reads (orca.md §3, kubernetes.md).

Each stage definition names its schema in `context_schema`; saving a pipeline checks every stage with it
(see `gennaker.model.stage_context` for what a schema may and may not do), and the pipeline editor builds
its forms from it: a field with a `title` is offered in the stage's form, labelled with it.
Fields are optional unless the stage cannot run without them.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from gennaker.model.pipeline import NumericRange
from gennaker.model.stage_context import (
    AnyValue,
    Artifact,
    ContextModel,
    ExpectedArtifact,
    Flag,
    FlagValue,
    Free,
    Items,
    ListOf,
    Loc,
    MapValue,
    Number,
    Object,
    ObjectOf,
    OneOf,
    StageContext,
    Text,
    TextValue,
    WholeNumber,
    is_expression,
    present,
)
from gennaker.model.status import Status

# A year: longer waits are mistakes, and a number of milliseconds past this is not a time the engine can keep.
WAIT_TIME_S: NumericRange = (0, 366 * 24 * 3600)


# -- wait, manualJudgment, checkPreconditions, evaluateVariables, pipeline (orca.md §3.1-3.3, §3.10-3.11) ----


class WaitContext(StageContext):
    waitTime: Annotated[float | None, Number(*WAIT_TIME_S)] = Field(
        None, title="Wait (seconds)", description="Empty means no wait"
    )
    skipRemainingWait: FlagValue = Field(False, description="Set while running to end the wait early")


class JudgmentInput(ContextModel):
    value: TextValue = None


class ManualJudgmentContext(StageContext):
    instructions: Annotated[str | None, Text(form="text")] = Field(
        None, title="Instructions (Markdown)", description="Expressions are evaluated"
    )
    judgmentInputs: Annotated[list[ObjectOf[JudgmentInput]] | None, Items(form="choices")] = Field(
        None, title="Choices", description="Comma-separated; the judge picks one"
    )
    propagateAuthenticationContext: FlagValue = Field(
        False, title="Run later stages as the judge", description="Downstream stages use the judge's accounts"
    )
    selectedStageRoles: ListOf[TextValue] = Field(None, description="Roles allowed to judge")
    requiredJudgmentRoles: ListOf[TextValue] = None
    # Written by the judgment itself.
    judgmentStatus: Annotated[str | None, OneOf(("continue", "stop"))] = None
    judgmentInput: TextValue = None
    lastModifiedBy: TextValue = None


class PreconditionContext(ContextModel):
    expression: TextValue = Field(None, description="An expression without ${} (the default is false)")
    failureMessage: TextValue = None
    stageName: TextValue = None
    stageStatus: Annotated[str | None, OneOf(tuple(s.value for s in Status), ignore_case=False)] = None
    cluster: TextValue = None
    moniker: MapValue = None
    regions: ListOf[TextValue] = None
    zones: ListOf[TextValue] = None
    credentials: TextValue = None
    comparison: Annotated[str | None, OneOf(("<", "<=", "==", ">=", ">"))] = None
    expected: WholeNumber = None
    onlyEnabledServerGroups: FlagValue = None


class Precondition(ContextModel):
    type: TextValue = Field(None, description="expression, stageStatus or clusterSize")
    failPipeline: FlagValue = True
    cloudProvider: TextValue = None
    context: ObjectOf[PreconditionContext] = None

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        if not present(data, "type"):
            found.append((("type",), "is required"))
        if data.get("type") == "stageStatus" and not is_expression(data.get("context")):
            for key in ("stageName", "stageStatus"):
                if not present(data, "context", key):
                    found.append((("context", key), "is required for a stageStatus precondition"))
        return found


class CheckPreconditionsContext(StageContext):
    preconditions: ListOf[ObjectOf[Precondition]] = Field(
        None, title="Preconditions (YAML)", description="A list of {type, failPipeline, context}"
    )


class CheckPreconditionContext(StageContext):
    """The synthetic stage that runs one precondition: the parent's context merged with the precondition."""

    preconditionType: TextValue = None
    context: ObjectOf[PreconditionContext] = None


class Variable(ContextModel):
    key: TextValue = None
    value: AnyValue = None
    description: TextValue = None
    sourceValue: AnyValue = None


class EvaluateVariablesContext(StageContext):
    variables: Annotated[list[Annotated[Variable | None, Object()]] | None, Items(form="variables")] = Field(
        None, title="Variables (one key=value a line)", description="Later variables may use earlier ones"
    )


class PipelineContext(StageContext):
    application: TextValue = Field(None, title="Application of the child pipeline")
    pipeline: TextValue = Field(None, title="Child pipeline id")
    pipelineParameters: MapValue = Field(None, title="Parameters (YAML)", description="Override the child's")
    waitForCompletion: FlagValue = Field(True, title="Wait for completion")
    skippable: FlagValue = Field(False, description="People may skip the stage while it runs")
    skipDownstreamOutput: FlagValue = Field(False, description="Do not copy the child's outputs")
    pipelineApplication: TextValue = None
    pipelineId: TextValue = None
    # Written by the stage.
    executionId: TextValue = None
    executionName: TextValue = None

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        return [] if present(data, "pipeline") else [(("pipeline",), "is required (the child pipeline's id)")]


class ExecutionOptions(ContextModel):
    """Which of the other pipeline's executions count; none set means any."""

    succeeded: FlagValue = False
    successful: FlagValue = Field(False, description="Deck's spelling of succeeded")
    terminal: FlagValue = False
    running: FlagValue = False


class FindArtifactFromExecutionContext(StageContext):
    application: TextValue = Field(None, title="Application")
    pipeline: TextValue = Field(None, title="Pipeline id")
    executionOptions: ObjectOf[ExecutionOptions] = None
    expectedArtifact: ObjectOf[ExpectedArtifact] = Field(None, description="One artifact (older configs)")

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        if not present(data, "pipeline"):
            found.append((("pipeline",), "is required (the id of the pipeline to find artifacts in)"))
        if data.get("expectedArtifacts") is None and data.get("expectedArtifact") is None:
            found.append((("expectedArtifacts",), "is required (the artifacts to find)"))
        return found


class ExecutionWindowContext(StageContext):
    """The synthetic stage that holds its parent until `restrictedExecutionWindow` allows it (orca.md §3.16)."""

    skipRemainingWait: FlagValue = False


# -- Kubernetes manifest stages (orca.md §3.7-3.9, kubernetes.md §1, §4) ------------------------------------------


class Moniker(ContextModel):
    app: TextValue = Field(None, title="Application (moniker)")
    cluster: TextValue = None
    stack: TextValue = None
    detail: TextValue = None
    sequence: WholeNumber = None


class LabelSelector(ContextModel):
    key: TextValue = None
    kind: Annotated[str | None, OneOf(("ANY", "EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS", "EXISTS"))] = None
    values: ListOf[TextValue] = None


class LabelSelectors(ContextModel):
    selectors: ListOf[ObjectOf[LabelSelector]] = None


class ManifestContext(StageContext):
    """What every manifest stage names: the Kubernetes account it acts in."""

    account: TextValue = Field(None, title="Account")
    credentials: TextValue = Field(None, description="The account, as older configs name it")
    cloudProvider: TextValue = None
    moniker: ObjectOf[Moniker] = None

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        return [] if present(data, "account") or present(data, "credentials") else [(("account",), "is required")]


class ManifestTargetContext(ManifestContext):
    """A stage that acts on running objects: a static `manifestName`, or a dynamic `cluster` + `criteria`."""

    location: TextValue = Field(None, title="Namespace")
    manifestName: TextValue = Field(None, title="Object (kind name, e.g. deployment web)")
    mode: Annotated[str | None, OneOf(("static", "dynamic", "label"))] = None
    cluster: TextValue = None
    kind: TextValue = None
    criteria: Annotated[str | None, OneOf(("newest", "second_newest", "oldest", "largest", "smallest"))] = None
    app: TextValue = None
    kinds: ListOf[TextValue] = None
    labelSelectors: ObjectOf[LabelSelectors] = None

    # Whether the stage may select by `kinds` + `labelSelectors` instead of one target.
    selects_by_labels: ClassVar[bool] = False

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        """As `resolveTargetManifest` reads the target: a dynamic one needs both cluster and criteria."""
        found = super().rules(data)
        named = present(data, "manifestName")
        if data.get("mode") == "dynamic" or (not named and (present(data, "cluster") or present(data, "criteria"))):
            found += [
                ((key,), "is required for a dynamic target")
                for key in ("cluster", "criteria")
                if not present(data, key)
            ]
        elif not named and not (cls.selects_by_labels and present(data, "kinds")):
            found.append((("manifestName",), "is required (or cluster and criteria for a dynamic target)"))
        return found


class TrafficOptions(ContextModel):
    """How a deploy with managed traffic rolls out (kubernetes.md §3.2); read only when `enabled`."""

    enableTraffic: FlagValue = Field(
        None, title="Send traffic to the new version", description="Adds it to the services below"
    )
    namespace: TextValue = None
    services: ListOf[TextValue] = Field(
        None, title="Services (YAML list)", description="Each as kind name, e.g. - service web"
    )
    strategy: Annotated[str | None, OneOf(("redblack", "bluegreen", "highlander", "none"))] = Field(
        None,
        title="Rollout strategy",
        description="redblack and bluegreen disable the older ReplicaSets, highlander deletes them, none keeps them",
    )


class TrafficManagement(ContextModel):
    enabled: FlagValue = Field(
        False, title="Manage traffic", description="Off: the new version gets traffic and older ones are kept"
    )
    options: Annotated[TrafficOptions | None, Object(form="fields")] = None


class RequiredArtifact(ContextModel):
    expectedArtifactId: TextValue = None
    artifact: ObjectOf[Artifact] = None


def _artifact_source_rules(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """A stage whose manifest comes from an artifact (`source: artifact`) must name the artifact."""
    if present(data, "manifestArtifactId") or present(data, "manifestArtifact"):
        return []
    return [(("manifestArtifactId",), "is required when source is artifact (or manifestArtifact)")]


class DeployManifestContext(ManifestContext):
    moniker: Annotated[Moniker | None, Object(form="fields")] = None
    namespaceOverride: TextValue = Field(None, title="Namespace override")
    source: Annotated[str | None, OneOf(("text", "artifact"), ignore_case=False)] = Field(
        "text", title="Manifest source"
    )
    manifests: Annotated[list[MapValue] | None, Items(form="documents")] = Field(
        None, title="Manifests (YAML, several documents)"
    )
    manifest: MapValue = Field(None, description="One manifest (older configs)")
    manifestArtifactId: TextValue = Field(None, title="Manifest artifact (expected artifact id)")
    manifestArtifact: ObjectOf[Artifact] = None
    manifestArtifactAccount: TextValue = None
    requiredArtifactIds: ListOf[TextValue] = None
    requiredArtifacts: ListOf[ObjectOf[RequiredArtifact]] = None
    skipExpressionEvaluation: FlagValue = Field(False, title="Skip expression evaluation")
    trafficManagement: Annotated[TrafficManagement | None, Object(form="fields")] = None
    enableArtifactBinding: FlagValue = True
    labelSelectors: ObjectOf[LabelSelectors] = None
    allowNothingSelected: FlagValue = False
    skipSpecTemplateLabels: FlagValue = False
    versioned: FlagValue = None
    noOutput: FlagValue = False

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found = super().rules(data)
        if data.get("source") == "artifact":
            found += _artifact_source_rules(data)
        elif not is_expression(data.get("source")) and not present(data, "manifests") and not present(data, "manifest"):
            found.append((("manifests",), "is required when source is text"))
        return found


class ScaleManifestContext(ManifestTargetContext):
    replicas: WholeNumber = Field(None, title="Replicas")

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        return super().rules(data) + ([] if present(data, "replicas") else [(("replicas",), "is required")])


class PatchOptions(ContextModel):
    mergeStrategy: Annotated[str | None, OneOf(("strategic", "json", "merge"))] = Field(
        "strategic", title="Merge strategy"
    )
    record: FlagValue = True


class PatchManifestContext(ManifestTargetContext):
    options: Annotated[PatchOptions | None, Object(form="fields")] = None
    patchBody: Annotated[Any, Free(form="json")] = Field(
        None, title="Patch (JSON)", description="A list for json patches, an object otherwise"
    )
    source: Annotated[str | None, OneOf(("text", "artifact"), ignore_case=False)] = None
    manifestArtifactId: TextValue = None
    manifestArtifact: ObjectOf[Artifact] = None
    manifestArtifactAccount: TextValue = None
    requiredArtifactIds: ListOf[TextValue] = None
    requiredArtifacts: ListOf[ObjectOf[RequiredArtifact]] = None
    allArtifacts: FlagValue = True


class DeleteOptions(ContextModel):
    # Orca passes other text through to kubectl's --cascade.
    cascading: Annotated[bool | str | None, Flag(also=("foreground", "background", "orphan"))] = Field(
        True, title="Delete dependents (cascading)"
    )
    orphanDependents: FlagValue = None
    orphanDependants: FlagValue = None
    gracePeriodSeconds: WholeNumber = Field(None, title="Grace period (seconds)")


class DeleteManifestContext(ManifestTargetContext):
    options: Annotated[DeleteOptions | None, Object(form="fields")] = None

    selects_by_labels: ClassVar[bool] = True


class UndoRolloutManifestContext(ManifestTargetContext):
    numRevisionsBack: Annotated[int | None, Number(minimum=1, whole=True)] = Field(None, title="Revisions back")
    revision: WholeNumber = Field(None, description="A revision number, instead of numRevisionsBack")


class TrafficContext(ManifestTargetContext):
    """`enableManifest` and `disableManifest`."""

    loadBalancers: ListOf[TextValue] = None


class RunJobContext(ManifestContext):
    manifest: MapValue = Field(None, title="Job (YAML)")
    manifests: ListOf[MapValue] = None
    source: Annotated[str | None, OneOf(("text", "artifact"), ignore_case=False)] = None
    manifestArtifactId: TextValue = None
    manifestArtifact: ObjectOf[Artifact] = None
    manifestArtifactAccount: TextValue = None
    application: TextValue = None
    namespace: TextValue = None
    propertyFile: TextValue = Field(None, title="Capture output from container")
    consumeArtifactSource: Annotated[str | None, OneOf(("none", "propertyFile", "artifact"), ignore_case=False)] = None
    consumeArtifactId: TextValue = None
    consumeArtifactAccount: TextValue = None
    waitForCompletion: FlagValue = True

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found = super().rules(data)
        if data.get("source") == "artifact":
            found += _artifact_source_rules(data)
        elif not present(data, "manifest") and not present(data, "manifests"):
            found.append((("manifest",), "is required (one Job)"))
        if data.get("consumeArtifactSource") == "artifact" and not present(data, "consumeArtifactId"):
            found.append((("consumeArtifactId",), "is required when consumeArtifactSource is artifact"))
        return found


# -- bakeManifest (orca.md §3.6, kubernetes.md §5) ----------------------------------------------------------


class InputArtifact(ContextModel):
    id: TextValue = Field(None, description="An expected artifact id")
    account: TextValue = None
    artifact: ObjectOf[Artifact] = None


class BakeManifestContext(StageContext):
    templateRenderer: Annotated[str | None, OneOf(("HELM2", "HELM3", "HELMFILE", "KUSTOMIZE", "KUSTOMIZE4"))] = Field(
        None, title="Renderer"
    )
    outputName: TextValue = Field(None, title="Release name")
    namespace: TextValue = Field(None, title="Namespace")
    inputArtifacts: ListOf[ObjectOf[InputArtifact]] = Field(
        None, title="Input artifacts (YAML)", description="The chart first, then values files"
    )
    inputArtifact: ObjectOf[InputArtifact] = Field(None, description="Kustomize's one input")
    overrides: Annotated[dict[str, Any] | None, Object(form="json")] = Field(None, title="Overrides (JSON object)")
    evaluateOverrideExpressions: FlagValue = False
    rawOverrides: FlagValue = False
    includeCRDs: FlagValue = False
    apiVersions: AnyValue = Field(None, description="Comma-separated text or a list")
    kubeVersion: TextValue = None
    environment: TextValue = None
    helmChartFilePath: TextValue = None
    kustomizeFilePath: TextValue = None
    helmfileFilePath: TextValue = None

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = []
        if not present(data, "templateRenderer"):
            found.append((("templateRenderer",), "is required"))
        expected = data.get("expectedArtifacts")
        if not is_expression(expected) and (not isinstance(expected, list) or len(expected) != 1):
            found.append((("expectedArtifacts",), "must hold exactly one artifact: the baked manifest"))
        if not present(data, "inputArtifacts") and not present(data, "inputArtifact"):
            found.append((("inputArtifacts",), "must hold at least one artifact to bake"))
        return found
