"""`checkPreconditions`: one parallel synthetic stage per precondition, each running one check (orca.md §3.3).

Kinds: `expression` (the expression must evaluate to true), `stageStatus` (a named stage must be in a
given status) and `clusterSize` (a Kubernetes cluster must have a given number of server groups in each of
its namespaces). A precondition with `failPipeline: false` halts only its branch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gennaker.engine.contracts import (
    StageDefinition,
    StageFailure,
    SyntheticStage,
    Task,
    TaskContext,
    TaskResult,
)
from gennaker.expressions import to_text
from gennaker.model.execution import Stage
from gennaker.model.status import Status
from gennaker.providers.kubernetes import KubeClient, KubernetesError, KubernetesProvider, UnknownAccountError
from gennaker.providers.kubernetes import manifest as mf
from gennaker.providers.kubernetes.infrastructure import SERVER_GROUP_KINDS, server_group
from gennaker.stages.schemas import CheckPreconditionContext, CheckPreconditionsContext

CHECK_STAGE_TYPE = "checkPrecondition"


class CheckPreconditionsStage(StageDefinition):
    type = "checkPreconditions"
    context_schema = CheckPreconditionsContext

    def before_stages(self, stage: Stage) -> list[SyntheticStage]:
        parent_context = {k: v for k, v in stage.context.items() if k != "preconditions"}
        checks = []
        for precondition in stage.context.get("preconditions") or []:
            if not isinstance(precondition, dict) or not precondition.get("type"):
                raise StageFailure("every precondition needs a type")
            kind = str(precondition["type"])
            context: dict[str, Any] = {
                **parent_context,
                **{k: v for k, v in precondition.items() if k != "type"},
                "preconditionType": kind,
                "failPipeline": precondition.get("failPipeline", True),
            }
            checks.append(SyntheticStage(CHECK_STAGE_TYPE, f"Check precondition ({kind})", context))
        return checks


class CheckPreconditionStage(StageDefinition):
    """The synthetic child: runs the check its `preconditionType` names."""

    type = CHECK_STAGE_TYPE
    context_schema = CheckPreconditionContext

    def tasks(self, stage: Stage) -> list[str]:
        kind = stage.context.get("preconditionType")
        if kind == "expression":
            return [ExpressionPreconditionTask.name]
        if kind == "stageStatus":
            return [StageStatusPreconditionTask.name]
        if kind == "clusterSize":
            return [ClusterSizePreconditionTask.name]
        raise StageFailure(f"unsupported precondition type '{kind}' (supported: expression, stageStatus, clusterSize)")


class ExpressionPreconditionTask(Task):
    """`context.expression`, written bare or as `${…}`, must evaluate to true. When the parent stage started,
    its context (this precondition's included) was evaluated; a value that is already a result (`true`, a
    boolean) is used as it is, never evaluated a second time."""

    name = "checkPreconditionExpression"

    def execute(self, tc: TaskContext) -> TaskResult:
        config = tc.ctx.get("context") or {}
        raw = config.get("expression")
        if raw is None or raw == "":
            raw = "false"  # Orca's default expression
        result = raw if isinstance(raw, bool) else tc.services.expressions.evaluate(tc.execution, tc.stage, str(raw))
        passed = to_text(result).lower() == "true"
        context = {"expressionResult": result if isinstance(result, str | int | float | bool) else to_text(result)}
        if passed:
            return TaskResult(Status.SUCCEEDED, context=context)
        shown = raw if isinstance(raw, str) else to_text(raw)
        message = config.get("failureMessage") or f"Expression check failed: {shown} was {to_text(result)}"
        return TaskResult.terminal(str(message), **context)


class StageStatusPreconditionTask(Task):
    name = "checkPreconditionStageStatus"

    def execute(self, tc: TaskContext) -> TaskResult:
        config = tc.ctx.get("context") or {}
        name, wanted = config.get("stageName"), config.get("stageStatus")
        if not name or not wanted:
            raise StageFailure("stageName and stageStatus are both required for a stageStatus precondition")
        target = next((s for s in tc.execution.stages if s.name == name), None)
        actual = target.status.value if target else "missing"
        if actual == str(wanted):
            return TaskResult.succeeded()
        raise StageFailure(f"The status of stage {name} was asserted to be {wanted}, but was actually {actual}")


# -- clusterSize -------------------------------------------------------------------------------------------
COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}
# Engine settings: how often a failing check looks again, and for how long (Orca: every 5 s for 30 s).
CLUSTER_SIZE_POLL_SETTING = "cluster_size_poll_ms"
CLUSTER_SIZE_TIMEOUT_SETTING = "cluster_size_timeout_ms"
DEFAULT_CLUSTER_SIZE_POLL_MS = 5000
DEFAULT_CLUSTER_SIZE_TIMEOUT_MS = 30000


@dataclass(frozen=True)
class ClusterSizeCheck:
    """A clusterSize precondition's settings (`context.*`, each defaulting to the parent stage's key)."""

    account: str
    cluster: str
    application: str
    regions: tuple[str, ...]
    comparison: str
    expected: int
    only_enabled: bool

    @classmethod
    def from_stage(cls, stage_context: Mapping[str, Any], application: str) -> ClusterSizeCheck:
        """The check, or StageFailure naming every setting that is missing or wrong."""
        config = stage_context.get("context") or {}

        def setting(key: str) -> Any:
            value = config.get(key)
            return stage_context.get(key) if value is None else value

        errors: list[str] = []
        provider = setting("cloudProvider")
        if provider not in (None, "", "kubernetes"):
            errors.append(f"Unsupported cloudProvider {provider} (clusterSize checks Kubernetes accounts)")
        cluster = setting("cluster")
        if not cluster or not isinstance(cluster, str):
            errors.append("Missing cluster")
        account = setting("credentials") or setting("account")
        if not account or not isinstance(account, str):
            errors.append("Missing credentials")
        raw_regions = setting("regions")
        regions = [raw_regions] if isinstance(raw_regions, str) else list(raw_regions or [])
        if not regions or not all(isinstance(r, str) and r for r in regions):
            errors.append("Missing regions")
        comparison = setting("comparison") or "=="
        if comparison not in COMPARISONS:
            errors.append(f"Unsupported comparison {to_text(comparison)}")
        raw_expected = setting("expected")
        expected = 1 if raw_expected is None or raw_expected == "" else _whole_number(raw_expected)
        if expected is None or expected < 0:
            errors.append(f"Invalid value for expected {to_text(raw_expected)}")
        if errors:
            raise StageFailure("Invalid configuration " + ", ".join(errors))
        moniker = setting("moniker")
        app = moniker.get("app") if isinstance(moniker, Mapping) else None
        return cls(
            account=str(account),
            cluster=str(cluster),
            application=str(app or application),
            regions=tuple(dict.fromkeys(str(r) for r in regions)),
            comparison=str(comparison),
            expected=int(expected or 0),
            only_enabled=setting("onlyEnabledServerGroups") is True,
        )

    def describe(self, region: str, groups: list[dict[str, Any]]) -> str | None:
        """Why `region` fails the comparison, or None when it passes."""
        if COMPARISONS[self.comparison](len(groups), self.expected):
            return None
        which = "enabled server groups" if self.only_enabled else "server groups"
        names = ", ".join(str(g["name"]) for g in groups)
        return (
            f"expected {self.comparison} {self.expected} {which} of cluster '{self.cluster}' in namespace "
            f"'{region}' (account '{self.account}') but found {len(groups)}: [{names}]"
        )


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def cluster_server_groups(client: KubeClient, check: ClusterSizeCheck, namespace: str) -> list[dict[str, Any]]:
    """The server groups (ReplicaSets, StatefulSets, DaemonSets) of the check's cluster in `namespace`, read
    from the cluster and named, grouped and judged enabled as the infrastructure view does. A namespace the
    account leaves out holds none, as in that view."""
    if client.account.allows_namespace(namespace) is not None:
        return []
    deployments = client.list_objects("apps/v1", "Deployment", namespace)
    services = client.list_objects("v1", "Service", namespace) if check.only_enabled else []
    found = []
    for kind in SERVER_GROUP_KINDS:
        for obj in client.list_objects("apps/v1", kind, namespace):
            group = server_group(check.account, obj, [], services, deployments)
            application = mf.read_moniker(obj).get("app") or group["moniker"].get("app")
            if application != check.application or group["cluster"] != check.cluster:
                continue
            if check.only_enabled and group["disabled"]:
                continue
            found.append(group)
    return sorted(found, key=lambda g: (g.get("createdTime") or 0, str(g["name"])))


class ClusterSizePreconditionTask(Task):
    """`clusterSize`: count the cluster's server groups in each namespace (`regions`) and compare the count
    with `expected`. A failing check looks again every 5 s; still failing after 30 s, it fails the stage,
    naming each namespace that failed and the server groups found there."""

    name = "checkPreconditionClusterSize"
    external = True
    backoff_ms = DEFAULT_CLUSTER_SIZE_POLL_MS
    # The check ends itself with its own message when its time is up; this is only a safety net.
    timeout_ms = 5 * 60 * 1000

    def __init__(self, provider: KubernetesProvider):
        self.provider = provider

    def execute(self, tc: TaskContext) -> TaskResult:
        check = ClusterSizeCheck.from_stage(tc.ctx, tc.execution.application)
        try:
            client = self.provider.client(check.account)
        except UnknownAccountError as error:
            raise StageFailure(str(error)) from None
        failures: list[str] = []
        found: dict[str, list[str]] = {}
        for region in check.regions:
            try:
                groups = cluster_server_groups(client, check, region)
            except KubernetesError as error:  # the cluster may be briefly unreachable: look again
                failures.append(f"reading namespace '{region}' of account '{check.account}' failed: {error}")
                continue
            except ValueError as error:  # e.g. a malformed traffic annotation
                raise StageFailure(str(error)) from None
            found[region] = [str(g["name"]) for g in groups]
            problem = check.describe(region, groups)
            if problem:
                failures.append(problem)
        context: dict[str, Any] = {"clusterSizeServerGroups": found, "messages": failures}
        if not failures:
            return TaskResult.succeeded(context)
        message = "Precondition check failed: " + "; ".join(failures)
        settings = tc.services.settings
        timeout = int(settings.get(CLUSTER_SIZE_TIMEOUT_SETTING, DEFAULT_CLUSTER_SIZE_TIMEOUT_MS))
        if tc.now - self._started(tc) >= timeout:
            return TaskResult.terminal(message, **context)
        poll = int(settings.get(CLUSTER_SIZE_POLL_SETTING, DEFAULT_CLUSTER_SIZE_POLL_MS))
        return TaskResult.running(backoff_ms=poll, **context)

    def _started(self, tc: TaskContext) -> int:
        task = next((t for t in tc.stage.tasks if t.name == self.name and t.start_time is not None), None)
        return task.start_time if task is not None and task.start_time is not None else tc.now
