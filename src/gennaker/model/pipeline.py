"""Pipeline configs in Spinnaker's JSON shape (orca.md §1) and their validation.

Configs are stored as the JSON the user sent, so unknown keys survive a round trip. Pydantic checks the
typed parts; the graph rules (refIds, requisites, cycles, stage types) are checked by hand because they
span several fields. Every problem is reported as a `FieldError` naming its JSON path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from gennaker.model.names import application_name_problem, pipeline_name_problem
from gennaker.triggers import cron


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "problem": self.problem}


class PipelineValidationError(ValueError):
    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.problem}" for e in errors))


# Budgets for one pipeline config: beyond them saving, validating and running it would cost every user.
MAX_STAGES = 500
MAX_CONFIG_BYTES = 1024 * 1024
# A numeric stage field's allowed range: (minimum, maximum), inclusive.
NumericRange = tuple[float, float]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ParameterOption(_Loose):
    value: Any = None


class ParameterConfig(_Loose):
    name: str = Field(min_length=1)
    label: str | None = None
    description: str | None = None
    default: Any = None
    required: StrictBool = False
    pinned: StrictBool = False
    hasOptions: StrictBool = False
    options: list[ParameterOption] = Field(default_factory=list)


class TriggerConfig(_Loose):
    type: str = Field(min_length=1)
    enabled: StrictBool = True
    runAsUser: str | None = None
    expectedArtifactIds: list[str] = Field(default_factory=list)


class StageConfig(_Loose):
    type: str = Field(min_length=1)
    name: str | None = None
    refId: str | None = None
    requisiteStageRefIds: list[str] = Field(default_factory=list)

    @field_validator("refId", mode="before")
    @classmethod
    def _ref_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("requisiteStageRefIds", mode="before")
    @classmethod
    def _requisites_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


class PipelineConfig(_Loose):
    name: str = Field(min_length=1)
    application: str = Field(min_length=1)
    id: str | None = None
    stages: list[StageConfig] = Field(default_factory=list)
    triggers: list[TriggerConfig] = Field(default_factory=list)
    parameterConfig: list[ParameterConfig] = Field(default_factory=list)
    limitConcurrent: StrictBool = False
    keepWaitingPipelines: StrictBool = False
    maxConcurrentExecutions: StrictInt = Field(default=0, ge=0)
    disabled: StrictBool = False
    spelEvaluator: str | None = None

    @field_validator("spelEvaluator")
    @classmethod
    def _known_evaluator(cls, value: str | None) -> str | None:
        if value not in (None, "v3", "v4"):
            raise ValueError("must be 'v3' or 'v4'")
        return value

    @field_validator("application", "name")
    @classmethod
    def _names_follow_the_rules(cls, value: str, info: ValidationInfo) -> str:
        rule = application_name_problem if info.field_name == "application" else pipeline_name_problem
        problem = rule(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("stages")
    @classmethod
    def _not_too_many_stages(cls, value: list[StageConfig]) -> list[StageConfig]:
        if len(value) > MAX_STAGES:
            raise ValueError(f"a pipeline may have at most {MAX_STAGES} stages, not {len(value)}")
        return value


# Fields each trigger type needs before it can ever fire (orca.md §1.4).
TRIGGER_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "cron": ("cronExpression",),
    "webhook": ("source",),
    "git": ("source", "project", "slug"),
    "jenkins": ("master", "job"),
    "travis": ("master", "job"),
    "wercker": ("master", "job"),
    "concourse": ("master",),
    "docker": ("account", "repository"),
    "pipeline": ("application", "pipeline"),
    "artifactory": ("artifactorySearchName",),
    "nexus": ("nexusSearchName",),
    "pubsub": ("pubsubSystem", "subscriptionName"),
    "helm": ("account", "chart"),
    "plugin": ("pluginId",),
    "cdevents": ("source",),
    "manual": (),
}
# Trigger fields holding a regular expression (matched against the whole branch, tag or version).
REGEX_TRIGGER_FIELDS: dict[str, tuple[str, ...]] = {"git": ("branch",), "docker": ("tag",)}
GIT_SOURCES = {"github", "gitlab", "bitbucket", "stash"}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def assign_ref_ids(config: dict[str, Any]) -> dict[str, Any]:
    """If no stage has a refId, number them "0", "1", ... and chain them in order, as Orca does."""
    stages = config.get("stages")
    if not isinstance(stages, list) or not stages or not all(isinstance(s, dict) for s in stages):
        return config
    if any(s.get("refId") not in (None, "") for s in stages):
        return config
    chained = []
    for index, stage in enumerate(stages):
        chained.append({**stage, "refId": str(index), "requisiteStageRefIds": [] if index == 0 else [str(index - 1)]})
    return {**config, "stages": chained}


def validate_pipeline(
    config: Any,
    known_stage_types: Collection[str],
    context_schemas: Mapping[str, type[BaseModel]] | None = None,
    *,
    allow_unknown: bool = False,
) -> list[FieldError]:
    """All problems with a pipeline config; an empty list means it can be saved.

    A stage whose `type` and `alias` are both outside `known_stage_types`, and a trigger of a type Spinnaker
    does not define, are errors unless `allow_unknown` (an import that keeps them, with warnings).

    `context_schemas` gives, per stage type (or alias), the schema its context must pass (stages/schemas.py)."""
    if not isinstance(config, dict):
        return [FieldError("", "a pipeline config must be a JSON object")]
    size = len(json.dumps(config, default=str))
    if size > MAX_CONFIG_BYTES:
        return [FieldError("", f"a pipeline config may have at most {MAX_CONFIG_BYTES} bytes of JSON, not {size}")]
    try:
        parsed = PipelineConfig.model_validate(config)
    except ValidationError as exc:
        return [FieldError(_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    errors = _stage_graph_errors(parsed.stages, None if allow_unknown else known_stage_types)
    errors += _context_errors(config.get("stages") or [], context_schemas or {})
    errors += _parameter_errors(parsed.parameterConfig)
    errors += _trigger_errors(parsed.triggers, allow_unknown)
    return errors


def _stage_graph_errors(stages: list[StageConfig], known_stage_types: Collection[str] | None) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, stage in enumerate(stages):
        alias = (stage.model_extra or {}).get("alias")
        if known_stage_types is not None and stage.type not in known_stage_types and alias not in known_stage_types:
            errors.append(
                FieldError(
                    f"stages[{i}].type",
                    f"unknown stage type '{stage.type}' (not a Spinnaker stage; save with allowUnknown to keep it)",
                )
            )
        if not stage.refId:
            errors.append(FieldError(f"stages[{i}].refId", "is missing"))
        elif stage.refId in seen:
            errors.append(
                FieldError(
                    f"stages[{i}].refId",
                    f"duplicate refId '{stage.refId}' (also stages[{seen[stage.refId]}])",
                )
            )
        else:
            seen[stage.refId] = i
    for i, stage in enumerate(stages):
        for j, req in enumerate(stage.requisiteStageRefIds):
            if req not in seen:
                errors.append(FieldError(f"stages[{i}].requisiteStageRefIds[{j}]", f"no stage has refId '{req}'"))
            elif req == stage.refId:
                errors.append(FieldError(f"stages[{i}].requisiteStageRefIds[{j}]", "a stage cannot depend on itself"))
    if not errors:
        cycle = _find_cycle({s.refId or "": s.requisiteStageRefIds for s in stages})
        if cycle:
            first = seen[cycle[0]]
            errors.append(FieldError(f"stages[{first}].requisiteStageRefIds", "cycle: " + " -> ".join(cycle)))
    return errors


def _context_errors(stages: list[Any], context_schemas: Mapping[str, type[BaseModel]]) -> list[FieldError]:
    """Each stage checked against its type's schema (by `type`, then `alias`). Expressions (`${…}`) pass; their
    values are checked when the stage runs. Only validates: the config is stored as it was sent."""
    errors: list[FieldError] = []
    for i, stage in enumerate(stages):
        alias = stage.get("alias")
        schema = context_schemas.get(str(stage.get("type"))) or (
            context_schemas.get(alias) if isinstance(alias, str) else None
        )
        if schema is None:
            continue
        try:
            schema.model_validate(stage)
        except ValidationError as exc:
            for e in exc.errors():
                path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in e["loc"])
                errors.append(FieldError(f"stages[{i}]{path}", e["msg"]))
    return errors


def number_problem(value: Any, bounds: NumericRange, *, expressions: bool = True) -> str | None:
    """Why `value` is not a number within `bounds`, or None. With `expressions`, an expression string passes
    (at save time); a stage checks the evaluated value with `expressions=False`."""
    if value is None or (expressions and isinstance(value, str) and "${" in value):
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            number = None
    low, high = bounds
    if number is None or not math.isfinite(number):
        return f"must be a number from {low:g} to {high:g}, or an expression, not {str(value)[:40]!r}"
    if not low <= number <= high:
        return f"must be from {low:g} to {high:g}, not {number:g}"
    return None


def _find_cycle(requisites: dict[str, list[str]]) -> list[str] | None:
    """A cycle through the requisite graph as a list of refIds, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in requisites:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path = [root]
        state[root] = 1
        while stack:
            node, index = stack[-1]
            reqs = requisites.get(node, [])
            if index < len(reqs):
                stack[-1] = (node, index + 1)
                nxt = reqs[index]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def _parameter_errors(parameters: list[ParameterConfig]) -> list[FieldError]:
    errors: list[FieldError] = []
    names: dict[str, int] = {}
    for i, param in enumerate(parameters):
        if param.name in names:
            errors.append(FieldError(f"parameterConfig[{i}].name", f"duplicate parameter '{param.name}'"))
        names.setdefault(param.name, i)
        values = [o.value for o in param.options]
        if param.hasOptions and not values:
            errors.append(FieldError(f"parameterConfig[{i}].options", "hasOptions is set but no options are given"))
        if param.hasOptions and param.default not in (None, "") and param.default not in values:
            errors.append(FieldError(f"parameterConfig[{i}].default", f"'{param.default}' is not one of the options"))
    return errors


def _trigger_errors(triggers: list[TriggerConfig], allow_unknown: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, trigger in enumerate(triggers):
        required = TRIGGER_REQUIRED_FIELDS.get(trigger.type)
        if required is None:
            if not allow_unknown:
                errors.append(FieldError(f"triggers[{i}].type", f"unknown trigger type '{trigger.type}'"))
            continue
        extra = trigger.model_extra or {}
        for key in required:
            if extra.get(key) in (None, ""):
                errors.append(FieldError(f"triggers[{i}].{key}", f"is required for a {trigger.type} trigger"))
        if trigger.type == "cron" and extra.get("cronExpression"):
            problem = cron.validate(str(extra["cronExpression"]))
            if problem:
                errors.append(FieldError(f"triggers[{i}].cronExpression", problem))
        if trigger.type == "git" and extra.get("source") and extra["source"] not in GIT_SOURCES:
            errors.append(FieldError(f"triggers[{i}].source", f"must be one of {sorted(GIT_SOURCES)}"))
        for key in REGEX_TRIGGER_FIELDS.get(trigger.type, ()):
            problem = _regex_problem(extra.get(key))
            if problem:
                errors.append(FieldError(f"triggers[{i}].{key}", problem))
        for key in ("payloadConstraints", "attributeConstraints"):
            constraints = extra.get(key)
            if constraints is not None and not isinstance(constraints, dict):
                errors.append(FieldError(f"triggers[{i}].{key}", "must be an object of key: regex"))
    return errors


def _regex_problem(value: Any) -> str | None:
    if value in (None, "") or not isinstance(value, str) or "${" in value:
        return None
    try:
        re.compile(value)
    except re.error as error:
        return f"is not a regular expression: {error}"
    return None
