"""The evaluation root (orca.md §4.3): what names in an expression refer to.

For a stage: its context, `execution`, `trigger`, `parameters`, `scmInfo` (and `templateVariables`), and,
for any other name, the outputs of the stage's ancestors — itself, its upstream stages and their synthetic
children, and for synthetic stages their parents — searched nearest first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gennaker.expressions.javalike import DataView


def scm_info(source: Mapping[str, Any]) -> Any:
    """The git info of the build: from a `buildInfo` in the root, else from a CI trigger's buildInfo."""
    build_info = source.get("buildInfo")
    trigger = source.get("trigger") if isinstance(source.get("trigger"), Mapping) else {}
    if not isinstance(build_info, Mapping):
        build_info = trigger.get("buildInfo") if isinstance(trigger, Mapping) else None
    scm = build_info.get("scm") if isinstance(build_info, Mapping) else None
    if not isinstance(scm, list) or not scm:
        return None
    if len(scm) == 1:
        return scm[0]
    return next((s for s in scm if isinstance(s, Mapping) and s.get("branch") not in ("master", "develop")), scm[0])


def derived(base: dict[str, Any]) -> dict[str, Any]:
    """`parameters` from the trigger when it has any, and `scmInfo` (orca.md §4.3 items 5 and 6)."""
    trigger = base.get("trigger")
    trigger_parameters = trigger.get("parameters") if isinstance(trigger, Mapping) else None
    if trigger_parameters:
        base["parameters"] = trigger_parameters
    else:
        base.setdefault("parameters", {})
    base["scmInfo"] = scm_info(base)
    return base


def plain_root(context: Mapping[str, Any]) -> dict[str, Any]:
    """A root given as a map (trigger-time evaluation, the CLI, the conformance cases without a stage)."""
    return derived(dict(context))


class StageLookup:
    """Finds stages of an execution JSON and walks their ancestry."""

    def __init__(self, execution: Mapping[str, Any]):
        self.execution = execution
        self.stages: list[Mapping[str, Any]] = list(execution.get("stages") or [])
        self.by_id = {s.get("id"): s for s in self.stages}

    def ancestors(self, stage: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """The stage itself, then everything upstream of it, nearest first, each once."""
        seen: set[Any] = set()
        frontier = [stage]
        while frontier:
            current = frontier.pop(0)
            if current.get("id") in seen:
                continue
            seen.add(current.get("id"))
            yield current
            frontier.extend(self._upstream(current))

    def _upstream(self, stage: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        parent_id, owner = stage.get("parentStageId"), stage.get("syntheticStageOwner")
        requisites = {str(r) for r in stage.get("requisiteStageRefIds") or []}
        siblings = [
            s for s in self.stages if s.get("parentStageId") == parent_id and s.get("syntheticStageOwner") == owner
        ]
        upstream = [s for s in siblings if str(s.get("refId")) in requisites]
        for previous in list(upstream):
            upstream.extend(s for s in self.stages if s.get("parentStageId") == previous.get("id"))
        parent = self.by_id.get(parent_id)
        if parent is not None:
            if owner == "STAGE_AFTER":
                upstream.extend(
                    s
                    for s in self.stages
                    if s.get("parentStageId") == parent_id and s.get("syntheticStageOwner") == "STAGE_BEFORE"
                )
            upstream.append(parent)
        return upstream

    def output(self, stage: Mapping[str, Any], key: str) -> tuple[bool, Any]:
        for ancestor in self.ancestors(stage):
            outputs = ancestor.get("outputs") or {}
            if key in outputs:
                return True, outputs[key]
        return False, None


class WithFallback(DataView):
    """A map whose missing keys are looked up in a stage's ancestors' outputs."""

    def __init__(self, base: Mapping[str, Any], stages: StageLookup, stage: Mapping[str, Any]):
        self.base, self.stages, self.stage = base, stages, stage
        self._found: dict[str, tuple[bool, Any]] = {}  # ancestor lookups, once per key

    def _fallback(self, key: str) -> tuple[bool, Any]:
        if key not in self._found:
            self._found[key] = self.stages.output(self.stage, key)
        return self._found[key]

    def __getitem__(self, key: str) -> Any:
        if key in self.base:
            return self.base[key]
        found, value = self._fallback(key)
        if found:
            return value
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self.base or (isinstance(key, str) and self._fallback(key)[0])

    def lookup(self, key: str) -> tuple[bool, Any]:
        base = self.base
        if key in base:
            return True, base[key]
        return self._fallback(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)

    @property
    def current_stage(self) -> Mapping[str, Any]:
        """The stage this root evaluates for: what `#currentStage()` returns."""
        return self.stage


class StageView(DataView):
    """A stage as helpers return it: its JSON plus `hasSucceeded`/`hasFailed`, and a context that falls
    back to ancestor outputs."""

    def __init__(self, stage: Mapping[str, Any], stages: StageLookup):
        self.stage, self.stages = stage, stages

    def __getitem__(self, key: str) -> Any:
        if key == "hasSucceeded":
            return self.stage.get("status") == "SUCCEEDED"
        if key == "hasFailed":
            return self.stage.get("status") == "TERMINAL"
        if key == "context":
            return WithFallback(self.stage.get("context") or {}, self.stages, self.stage)
        return self.stage[key]

    def __contains__(self, key: object) -> bool:
        return key in ("hasSucceeded", "hasFailed", "context") or key in self.stage

    def lookup(self, key: str) -> tuple[bool, Any]:
        return (True, self[key]) if key in self else (False, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.stage)

    def __len__(self) -> int:
        return len(self.stage)


def stage_root(execution: Mapping[str, Any], stage: Mapping[str, Any], *, v4: bool = True) -> WithFallback:
    """The root for evaluating `stage`'s context in `execution` (both in execution JSON shape)."""
    base: dict[str, Any] = dict(stage.get("context") or {})
    base["execution"] = execution
    base["trigger"] = execution.get("trigger") or {}
    if v4 and execution.get("templateVariables"):
        base["templateVariables"] = execution["templateVariables"]
    return WithFallback(derived(base), StageLookup(execution), stage)


def current_stage_of(root: Any) -> Mapping[str, Any] | None:
    """The stage a root was built for by `stage_root` (also through a wrapper that passes `current_stage`
    on), or None for roots without a stage: trigger-time evaluation, the execution-wide testing endpoint."""
    found = getattr(root, "current_stage", None) if isinstance(root, DataView | Mapping) else None
    return found if isinstance(found, Mapping) else None


def execution_root(execution: Mapping[str, Any]) -> dict[str, Any]:
    """The root of the testing endpoint: `{execution, trigger, parameters, scmInfo}`."""
    return derived({"execution": execution, "trigger": execution.get("trigger") or {}})
