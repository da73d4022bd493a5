"""Managed pipeline templates v2 (echo-igor.md §6): checking templates and templated pipeline configs, and
rendering a templated config into the plain pipeline it stands for.

A *template* holds a whole pipeline whose values may read `${templateVariables.x}`, and declares those
variables. A *templated pipeline config* (`schema: "v2"`, `type: "templatedPipeline"`) names the template
(`template.reference`, `spinnaker://<id>[:<tag>|@sha256:<digest>]`), gives the variables' values, and may
replace, add or inject stages and add or exclude triggers, parameters and notifications. `plan` renders one
in the §6.3 order: variables, then the stage graph, then expressions over the whole pipeline.

Nothing of Gennaker but the pipeline model is imported: the caller hands in how to fetch a template
(`Fetch`) and how to evaluate expressions (`Evaluate`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gennaker.model.pipeline import MAX_STAGES, FieldError, PipelineValidationError, validate_pipeline

SCHEMA = "v2"
TEMPLATED_PIPELINE = "templatedPipeline"
REFERENCE_PREFIX = "spinnaker://"
ARTIFACT_TYPE = "front50/pipelineTemplate"
ARTIFACT_ACCOUNT = "front50ArtifactCredentials"
TAGS = ("latest", "stable", "unstable", "experimental", "test", "canary")
INHERITABLE = ("triggers", "parameters", "notifications")
# What `digest` leaves out: the digest itself and who changed the template when (a copy's `tag` too).
NOT_DIGESTED = ("digest", "lastModified", "lastModifiedBy", "tag")
SOURCE = {"type": TEMPLATED_PIPELINE, "version": SCHEMA}
VARIABLE_NAME = re.compile(r"^[a-zA-Z0-9_]+$")
# A template id is part of storage keys (`<id>:<tag>`, `<id>@sha256:<digest>`) and of URLs.
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
TEMPLATE_ID_RULE = "letters, digits, '_', '.' and '-' (not first), at most 255 characters"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_REQUISITE_FIELD = re.compile(r"^stages\[(\d+)\]\.requisiteStageRefIds\[(\d+)\]$")
_VARIABLE_READ = re.compile(
    r"templateVariables\s*\??\.\s*([A-Za-z0-9_]+)|templateVariables\s*\[\s*['\"]([^'\"]+)['\"]\s*\]"
)
NO_INJECTION_RULE = "A configuration-defined stage should have either dependsOn or an inject rule defined"
PROTECTED = "Modification of the stage graph (adding, removing, editing) is disallowed"

Summary = dict[str, list[dict[str, Any]]]


class Evaluate(Protocol):
    """Process every `${…}` in `value` against `root`; `strict` forbids unknown keys. Returns the processed
    value and the evaluation summary (expression text → entries with a `level`)."""

    def __call__(self, value: Any, root: Mapping[str, Any], *, strict: bool) -> tuple[Any, Summary]: ...


class TemplateError(PipelineValidationError):
    """A template or templated pipeline that cannot be stored or rendered; `errors` name each field."""


@dataclass(frozen=True)
class TemplateReference:
    """Which stored copy of a template a config uses: the plain id, a tag, or a content digest."""

    id: str
    tag: str | None = None
    digest: str | None = None

    @property
    def key(self) -> str:
        return template_key(self.id, self.tag, self.digest)

    def __str__(self) -> str:
        return REFERENCE_PREFIX + self.key


Fetch = Callable[[TemplateReference], dict[str, Any] | None]


def template_key(template_id: str, tag: str | None = None, digest: str | None = None) -> str:
    """The storage key of one copy: `<id>`, `<id>:<tag>` or `<id>@sha256:<digest>`."""
    if digest:
        return f"{template_id}@sha256:{digest}"
    return f"{template_id}:{tag}" if tag else template_id


def _fail(field: str, problem: str) -> TemplateError:
    return TemplateError([FieldError(field, problem)])


def parse_reference(reference: Any, field: str = "template.reference") -> TemplateReference:
    """`spinnaker://<id>`, `spinnaker://<id>:<tag>` or `spinnaker://<id>@sha256:<hex>`."""
    if not isinstance(reference, str) or not reference:
        raise _fail(field, "is required: spinnaker://<template id>[:<tag>|@sha256:<digest>]")
    if not reference.startswith(REFERENCE_PREFIX):
        raise _fail(field, f"'{reference}' is not a Front50 template reference: it must start with {REFERENCE_PREFIX}")
    rest = reference[len(REFERENCE_PREFIX) :]
    malformed = _fail(field, f"Malformed Front50 artifact reference: {reference}")
    template_id, tag, digest = rest, None, None
    if "@" in rest:
        template_id, _, version = rest.partition("@")
        algorithm, _, digest = version.partition(":")
        if ":" in template_id or "@" in version or algorithm != "sha256" or not _DIGEST.match(digest):
            raise malformed
    elif ":" in rest:
        template_id, _, tag = rest.partition(":")
        if ":" in tag or not tag:
            raise malformed
    if not TEMPLATE_ID.match(template_id):
        raise malformed
    return TemplateReference(template_id, tag, digest)


def references(config: Any) -> str | None:
    """The template reference text of a stored pipeline config, if it has one."""
    template = config.get("template") if isinstance(config, Mapping) else None
    reference = template.get("reference") if isinstance(template, Mapping) else None
    return reference if isinstance(reference, str) else None


def uses_copy(reference: str, key: str) -> bool:
    """Whether a config's reference keeps the stored copy `key` in use: the plain `<id>` copy is in use by
    every reference to that id (as Front50 sees it); a tagged or digest copy only by references to it."""
    try:
        parsed = parse_reference(reference)
    except TemplateError:
        return False
    return parsed.key == key or parsed.id == key


def scopes_of(template: Any) -> list[str]:
    """The template's `metadata.scopes` (applications, or `global`)."""
    metadata = template.get("metadata") if isinstance(template, Mapping) else None
    scopes = metadata.get("scopes") if isinstance(metadata, Mapping) else None
    return [s for s in scopes if isinstance(s, str)] if isinstance(scopes, list) else []


def is_templated(config: Any) -> bool:
    """A config that is rendered from a template before it runs (§6.3 step 1)."""
    if not isinstance(config, Mapping):
        return False
    return config.get("type") == TEMPLATED_PIPELINE or (config.get("schema") == SCHEMA and bool(config.get("template")))


def tag_problems(tag: str | None) -> list[FieldError]:
    if tag is None or tag in TAGS:
        return []
    return [FieldError("tag", f"The provided tag {tag} is not supported. Supported tags: {', '.join(TAGS)}")]


def template_digest(template: Mapping[str, Any]) -> str:
    """SHA-256 of the template's content: keys sorted at every level, all white space removed."""
    content = {k: v for k, v in template.items() if k not in NOT_DIGESTED}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(re.sub(r"\s+", "", text).encode()).hexdigest()


# -- checks ------------------------------------------------------------------------------------------------
def template_problems(
    template: Any,
    stage_types: Collection[str] | None = None,
    stage_schemas: Mapping[str, Any] | None = None,
) -> list[FieldError]:
    """What is wrong with a template (§6.1). With `stage_types`, its stages are checked as a pipeline's are:
    known types, refIds, requisites, and what `validate_pipeline` checks with `stage_schemas` (expressions
    pass)."""
    if not isinstance(template, Mapping):
        return [FieldError("", "a pipeline template must be a JSON object")]
    errors = _schema_problems("template", template)
    template_id = template.get("id")
    if not isinstance(template_id, str) or not template_id:
        errors.append(FieldError("id", "is required"))
    elif not TEMPLATE_ID.match(template_id):
        errors.append(FieldError("id", f"must be {TEMPLATE_ID_RULE}"))
    if "protect" in template and not isinstance(template["protect"], bool):
        errors.append(FieldError("protect", "must be true or false"))
    metadata = template.get("metadata", {})
    if not isinstance(metadata, Mapping):
        errors.append(FieldError("metadata", "must be an object"))
    else:
        scopes = metadata.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            errors.append(FieldError("metadata.scopes", "must be a list of strings"))
    errors += _variable_declaration_problems(template.get("variables", []))
    pipeline = template.get("pipeline")
    if not isinstance(pipeline, Mapping):
        errors.append(FieldError("pipeline", "is required: the templated pipeline, with its stages"))
    else:
        errors += _template_pipeline_problems(pipeline, stage_types, stage_schemas)
    return errors


def _schema_problems(what: str, document: Mapping[str, Any]) -> list[FieldError]:
    schema = document.get("schema")
    if schema == SCHEMA:
        return []
    return [FieldError("schema", f"{what} schema version is unsupported: expected '{SCHEMA}', got '{schema}'")]


def _variable_declaration_problems(variables: Any) -> list[FieldError]:
    if not isinstance(variables, list):
        return [FieldError("variables", "must be a list of variable declarations")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, variable in enumerate(variables):
        where = f"variables[{index}]"
        if not isinstance(variable, Mapping):
            errors.append(FieldError(where, "must be an object with a name"))
            continue
        name = variable.get("name")
        if not isinstance(name, str) or not VARIABLE_NAME.match(name):
            errors.append(FieldError(f"{where}.name", f"must match {VARIABLE_NAME.pattern}"))
        elif name in seen:
            errors.append(FieldError(f"{where}.name", f"duplicate variable '{name}'"))
        else:
            seen.add(name)
        if not isinstance(variable.get("type", "object"), str):
            errors.append(FieldError(f"{where}.type", "must be a type name such as string, int, list or object"))
        for flag in ("nullable", "merge", "remove"):
            if flag in variable and not isinstance(variable[flag], bool):
                errors.append(FieldError(f"{where}.{flag}", "must be true or false"))
    return errors


def _template_pipeline_problems(
    pipeline: Mapping[str, Any], stage_types: Collection[str] | None, stage_schemas: Mapping[str, Any] | None
) -> list[FieldError]:
    stages = pipeline.get("stages", [])
    if not isinstance(stages, list) or not all(isinstance(s, Mapping) for s in stages):
        return [FieldError("pipeline.stages", "must be a list of stage objects")]
    errors = [
        FieldError(f"pipeline.{key}", "must be a list")
        for key in ("triggers", "parameterConfig", "notifications", "expectedArtifacts")
        if pipeline.get(key) is not None and not isinstance(pipeline[key], list)
    ]
    errors += [
        FieldError(f"pipeline.stages[{i}].inject", problem)
        for i, stage in enumerate(stages)
        if "inject" in stage and (problem := _inject_shape_problem(stage["inject"]))
    ]
    if stage_types is None:
        return errors + _ref_id_problems(stages, "pipeline.stages")
    # Checked as a pipeline: a stand-in name and application, every type let through (checked just below).
    types = {str(s.get("type")) for s in stages}
    as_pipeline = {**pipeline, "application": "template", "name": "template"}
    errors += [
        FieldError(f"pipeline.{e.field}", e.problem) for e in validate_pipeline(as_pipeline, types, stage_schemas)
    ]
    errors += [
        FieldError(f"pipeline.stages[{i}].type", f"unknown stage type '{stage.get('type')}'")
        for i, stage in enumerate(stages)
        if isinstance(stage.get("type"), str)
        and stage["type"] not in stage_types
        and not (isinstance(stage.get("alias"), str) and stage["alias"] in stage_types)
    ]
    return errors


def _ref_id_problems(stages: list[Any], where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        ref_id = stage.get("refId")
        if not _is_ref(ref_id) or ref_id == "":
            errors.append(FieldError(f"{where}[{index}].refId", "is missing"))
        elif str(ref_id) in seen:
            errors.append(FieldError(f"{where}[{index}].refId", f"duplicate refId '{ref_id}'"))
        else:
            seen.add(str(ref_id))
        requisites = stage.get("requisiteStageRefIds")
        if requisites is not None and (not isinstance(requisites, list) or not all(_is_ref(r) for r in requisites)):
            errors.append(FieldError(f"{where}[{index}].requisiteStageRefIds", "must be a list of stage refIds"))
    return errors


def _inject_shape_problem(inject: Any) -> str | None:
    if not isinstance(inject, Mapping):
        return "must be an object: {first: true}, {last: true}, {before: [refIds]} or {after: [refIds]}"
    for key in ("before", "after"):
        targets = inject.get(key)
        if targets is not None and (not isinstance(targets, list) or not all(_is_ref(t) for t in targets)):
            return f"{key} must be a list of stage refIds"
    return None


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def config_problems(config: Any) -> list[FieldError]:
    """What is wrong with a templated pipeline config on its own (§6.2, §6.3 step 4)."""
    if not isinstance(config, Mapping):
        return [FieldError("", "a pipeline config must be a JSON object")]
    errors = _schema_problems("config", config)
    if not isinstance(config.get("application"), str) or not config.get("application"):
        errors.append(FieldError("application", "Missing 'application' configuration"))
    template = config.get("template")
    if template is not None and not isinstance(template, Mapping):
        errors.append(FieldError("template", "must be an object with a reference"))
    elif template:
        if not isinstance(template.get("reference"), str):
            errors.append(FieldError("template.reference", "is required: spinnaker://<template id>[:<tag>]"))
        if template.get("type") not in (None, ARTIFACT_TYPE):
            errors.append(FieldError("template.type", f"only '{ARTIFACT_TYPE}' templates (stored here) are supported"))
    if not isinstance(config.get("variables", {}), Mapping):
        errors.append(FieldError("variables", "must be an object of variable name: value"))
    exclude = config.get("exclude", [])
    if not isinstance(exclude, list):
        errors.append(FieldError("exclude", f"must be a list naming some of {', '.join(INHERITABLE)}"))
    else:
        errors += [
            FieldError(f"exclude[{i}]", f"must be one of {', '.join(INHERITABLE)}")
            for i, item in enumerate(exclude)
            if item not in INHERITABLE
        ]
    for key in (*INHERITABLE, "parameterConfig", "expectedArtifacts"):
        if config.get(key) is not None and not isinstance(config.get(key), list):
            errors.append(FieldError(key, "must be a list"))
    stages = config.get("stages", [])
    if not isinstance(stages, list) or not all(isinstance(s, Mapping) for s in stages):
        errors.append(FieldError("stages", "must be a list of stage objects"))
    elif len(stages) > MAX_STAGES:  # rendering places each stage with a pass over the graph: keep it bounded
        errors.append(FieldError("stages", f"a pipeline may have at most {MAX_STAGES} stages, not {len(stages)}"))
    else:
        errors += [
            FieldError(f"stages[{i}].inject", problem)
            for i, stage in enumerate(stages)
            if "inject" in stage and (problem := _inject_shape_problem(stage["inject"]))
        ]
        errors += _ref_id_problems(stages, "stages")
    return errors


# -- planning ----------------------------------------------------------------------------------------------
def plan(
    request: Mapping[str, Any],
    fetch: Fetch,
    evaluate: Evaluate,
    trigger: Mapping[str, Any] | None = None,
    *,
    planning: bool = False,
) -> dict[str, Any]:
    """The plain pipeline a templated config stands for (§6.3); raises TemplateError.

    `trigger` defaults to the request's own `trigger`. With `planning` (the plan endpoint, saving), values
    that still hold an expression are not type-checked: what they read may only exist when triggered."""
    config = {k: v for k, v in request.items() if k != "trigger"}
    run_trigger = dict(trigger if trigger is not None else request.get("trigger") or {})
    errors = config_problems(config)
    if errors:
        raise TemplateError(errors)
    if not config.get("template"):
        return _untemplated(config, evaluate, run_trigger)
    template = fetch_template(config, fetch, evaluate, run_trigger)
    return render(config, template, evaluate, run_trigger, planning=planning)


def fetch_template(
    config: Mapping[str, Any], fetch: Fetch, evaluate: Evaluate, trigger: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template the config names; its `template` may hold expressions over `{application, trigger}`."""
    root = {"application": config.get("application"), "trigger": dict(trigger or {})}
    spec, _ = evaluate(config.get("template"), root, strict=False)
    reference = parse_reference(spec.get("reference") if isinstance(spec, Mapping) else None)
    template = fetch(reference)
    if template is None:
        raise _fail("template.reference", f"Configured pipeline template not found: {reference}")
    return template


def render(
    config: Mapping[str, Any],
    template: Mapping[str, Any],
    evaluate: Evaluate,
    trigger: Mapping[str, Any] | None = None,
    *,
    planning: bool = False,
) -> dict[str, Any]:
    """Render `config` with `template` (§6.3 steps 3-8) into a plain pipeline config; raises TemplateError."""
    run_trigger = dict(trigger or {})
    errors = config_problems(config) + [
        FieldError(f"pipelineTemplate.{e.field}" if e.field else "pipelineTemplate", e.problem)
        for e in template_problems(template)
    ]
    if template.get("protect") is True and config.get("stages"):
        errors.append(FieldError("stages", PROTECTED))
    if errors:
        raise TemplateError(errors)
    variables = _variables(config, template, evaluate, run_trigger, planning)
    pipeline_template: Mapping[str, Any] = template["pipeline"]
    stages = stage_graph(list(pipeline_template.get("stages") or []), list(config.get("stages") or []))
    pipeline = _generate(config, pipeline_template, variables, stages, run_trigger)
    return _evaluate_pipeline(pipeline, evaluate, run_trigger, variables, planning)


def _untemplated(config: dict[str, Any], evaluate: Evaluate, trigger: dict[str, Any]) -> dict[str, Any]:
    """A v2 config without a template is its own pipeline; its `variables` are the template variables."""
    variables = dict(config.get("variables") or {})
    pipeline = {k: v for k, v in config.items() if k not in ("schema", "type", "template", "variables", "exclude")}
    pipeline["stages"] = [_without_inject(s) for s in config.get("stages") or []]
    pipeline["templateVariables"] = variables
    if trigger:
        pipeline["trigger"] = trigger
    return _evaluate_pipeline(pipeline, evaluate, trigger, variables)


# -- variables (§6.3 steps 3 and 5) ------------------------------------------------------------------------
def _variables(
    config: Mapping[str, Any],
    template: Mapping[str, Any],
    evaluate: Evaluate,
    trigger: dict[str, Any],
    planning: bool,
) -> dict[str, Any]:
    declared = [v for v in template.get("variables") or [] if isinstance(v, Mapping)]
    names = {str(v.get("name")) for v in declared}
    supplied = {k: v for k, v in dict(config.get("variables") or {}).items() if k in names}
    defaults = {str(v.get("name")): v.get("defaultValue") for v in declared}
    root = {
        "application": config.get("application"),
        "pipelineTemplate": dict(template),
        "trigger": trigger,
        **defaults,
        **supplied,
    }
    values: dict[str, Any] = {}
    missing: list[str] = []
    mistyped: list[str] = []
    errors: list[FieldError] = []
    for variable in declared:
        name = str(variable.get("name"))
        nullable = variable.get("nullable") is True
        if name in supplied:
            value = supplied[name]
            if value is None and not nullable:
                problem = f"variable '{name}' supplied value is null but variable is not nullable"
                errors.append(FieldError(f"variables.{name}", problem))
                continue
        elif variable.get("defaultValue") is not None:
            value, _ = evaluate(variable["defaultValue"], root, strict=False)
        elif nullable:
            value = None
        else:
            missing.append(name)
            continue
        expected = str(variable.get("type") or "object")
        unresolved = planning and isinstance(value, str) and "${" in value
        if value is not None and not unresolved and not type_matches(expected, value):
            mistyped.append(f"{name} (expected type '{expected}' found type '{java_type(value)}')")
        values[name] = value
    if missing:
        errors.insert(0, FieldError("variables", f"Missing variable values for: {', '.join(missing)}"))
    if mistyped:
        errors.append(FieldError("variables", f"Incorrectly defined variable(s): {', '.join(mistyped)}"))
    if errors:
        raise TemplateError(errors)
    return values


def java_type(value: Any) -> str:
    """The Java class name Orca would see for a JSON value (used in type errors and as a type name)."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer" if -(2**31) <= value < 2**31 else "Long"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "ArrayList"
    if isinstance(value, Mapping):
        return "LinkedHashMap"
    return type(value).__name__


def type_matches(expected: str, value: Any) -> bool:
    """`object` takes anything; `int` whole numbers; `float` any number; `bool`, `list`, `string`; any other
    name must be the value's Java class name (`Boolean`, `LinkedHashMap`, …), case ignored."""
    kind = expected.strip().lower()
    number = isinstance(value, int | float) and not isinstance(value, bool)
    checks: dict[str, bool] = {
        "object": True,
        "int": number and float(value).is_integer(),
        "float": number,
        "bool": isinstance(value, bool),
        "list": isinstance(value, list),
        "string": isinstance(value, str),
    }
    return checks[kind] if kind in checks else kind == java_type(value).lower()


# -- stages (§6.3 step 6) ----------------------------------------------------------------------------------
def stage_graph(template_stages: list[Any], config_stages: list[Any]) -> list[dict[str, Any]]:
    """Template stages with the config's stages applied: same refId replaces, stages with parents are added,
    the whole ordered by dependencies; then template stages' `inject` rules, then config stages' ones."""
    stages = [_normalised(s) for s in template_stages if isinstance(s, Mapping)]
    injected: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(config_stages):
        if not isinstance(raw, Mapping):
            continue
        stage = _normalised(raw)
        position = _position(stages, stage["refId"])
        if stage.get("inject"):
            injected.append(stage)
        elif position is not None:
            if "requisiteStageRefIds" not in raw:  # an edited template stage keeps its place
                stage["requisiteStageRefIds"] = list(stages[position]["requisiteStageRefIds"])
            stages[position] = stage
        elif stage["requisiteStageRefIds"]:
            stages.append(stage)
        else:
            errors.append(FieldError(f"stages[{index}]", f"{NO_INJECTION_RULE} (id: {stage['refId']})"))
    if errors:
        raise TemplateError(errors)
    stages = _topological(stages)
    for stage in [s for s in stages if s.get("inject")]:
        _inject(stages, stage)
    for stage in injected:
        _inject(stages, stage)
    return [_without_inject(s) for s in _topological(stages)]  # injection keeps it acyclic: re-checked here


def _normalised(stage: Mapping[str, Any]) -> dict[str, Any]:
    copied = copy.deepcopy(dict(stage))
    copied["refId"] = str(copied.get("refId"))
    copied["requisiteStageRefIds"] = [str(r) for r in copied.get("requisiteStageRefIds") or []]
    return copied


def _without_inject(stage: Any) -> Any:
    return {k: v for k, v in stage.items() if k != "inject"} if isinstance(stage, Mapping) else stage


def _position(stages: list[dict[str, Any]], ref_id: str) -> int | None:
    return next((i for i, s in enumerate(stages) if s["refId"] == ref_id), None)


def _topological(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stages in dependency order, keeping the given order among independent ones."""
    known = {s["refId"] for s in stages}
    errors = [
        FieldError("stages", f"stage '{s['refId']}' depends on unknown stage '{r}'")
        for s in stages
        for r in s["requisiteStageRefIds"]
        if r not in known
    ]
    if errors:
        raise TemplateError(errors)
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    remaining = list(stages)
    while remaining:
        ready = [s for s in remaining if set(s["requisiteStageRefIds"]) <= done]
        if not ready:
            raise _fail("stages", f"Cycle detected in graph (discovered on stage: {remaining[0]['refId']})")
        for stage in ready:
            done.add(stage["refId"])
            ordered.append(stage)
        remaining = [s for s in remaining if s["refId"] not in done]
    return ordered


def _splice_out(stages: list[dict[str, Any]], ref_id: str) -> None:
    """Remove a stage; what depended on it depends on its parents instead."""
    position = _position(stages, ref_id)
    if position is None:
        return
    parents = stages.pop(position)["requisiteStageRefIds"]
    for stage in stages:
        if ref_id in stage["requisiteStageRefIds"]:
            stage["requisiteStageRefIds"] = _unique(
                p for r in stage["requisiteStageRefIds"] for p in (parents if r == ref_id else [r])
            )


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


def _inject(stages: list[dict[str, Any]], stage: dict[str, Any]) -> None:
    """Place `stage` by its `inject` rule (the first of first, last, before, after that is set); a stage
    already there with its refId is taken out first."""
    rule: Mapping[str, Any] = stage.get("inject") or {}
    ref_id = stage["refId"]
    _splice_out(stages, ref_id)
    before = [str(t) for t in rule.get("before") or []]
    after = [str(t) for t in rule.get("after") or []]
    for target_id in before or after:
        if _position(stages, target_id) is None:
            raise _fail("stages", f"could not inject '{ref_id}' stage: unknown target stage id '{target_id}'")
    if rule.get("first") is True:
        for root in stages:
            if not root["requisiteStageRefIds"]:
                root["requisiteStageRefIds"] = [ref_id]
        stage["requisiteStageRefIds"] = []
        stages.insert(0, stage)
    elif rule.get("last") is True:
        parents = {r for s in stages for r in s["requisiteStageRefIds"]}
        stage["requisiteStageRefIds"] = [s["refId"] for s in stages if s["refId"] not in parents]
        stages.append(stage)
    elif before:
        targets = [s for s in stages if s["refId"] in before]
        stage["requisiteStageRefIds"] = _unique(
            r for t in targets for r in t["requisiteStageRefIds"] if r not in before
        )
        for target in targets:
            target["requisiteStageRefIds"] = [ref_id]
        stages.insert(min(stages.index(t) for t in targets), stage)
    elif after:
        stage["requisiteStageRefIds"] = after
        for other in stages:
            if other["refId"] not in after and any(r in after for r in other["requisiteStageRefIds"]):
                other["requisiteStageRefIds"] = _unique(
                    [*(r for r in other["requisiteStageRefIds"] if r not in after), ref_id]
                )
        stages.insert(max(i for i, s in enumerate(stages) if s["refId"] in after) + 1, stage)
    else:
        raise _fail("stages", f"stage did not have any valid injections defined (id: {ref_id})")


# -- the pipeline (§6.3 steps 7 and 8) ---------------------------------------------------------------------
def merged_items(kind: str, config: Mapping[str, Any], pipeline: Mapping[str, Any]) -> list[Any]:
    """Triggers, parameters or notifications: the config's alone when excluded; else the template's (marked
    `inherited`) then the config's, exact duplicates left out."""
    template_key = "parameterConfig" if kind == "parameters" else kind
    own = config.get(kind)
    if own is None and kind == "parameters":
        own = config.get("parameterConfig")
    items = list(own or [])
    if kind in (config.get("exclude") or []):
        return items
    inherited = [
        {**item, "inherited": True} if isinstance(item, Mapping) else item for item in pipeline.get(template_key) or []
    ]
    seen = [_plain(i) for i in inherited]
    merged = list(inherited)
    for item in items:
        if _plain(item) not in seen:
            seen.append(_plain(item))
            merged.append(item)
    return merged


def _plain(item: Any) -> Any:
    return {k: v for k, v in item.items() if k != "inherited"} if isinstance(item, Mapping) else item


# Keys taken from the config unless the template's pipeline sets them.
_CONFIG_DEFAULTS = (
    "limitConcurrent",
    "maxConcurrentExecutions",
    "keepWaitingPipelines",
    "description",
    "spelEvaluator",
)
# Keys about the stored config itself, always the config's.
_CONFIG_OWN = ("disabled", "roles", "serviceAccount", "lastModifiedBy", "updateTs")


def _generate(
    config: Mapping[str, Any],
    pipeline_template: Mapping[str, Any],
    variables: dict[str, Any],
    stages: list[dict[str, Any]],
    trigger: dict[str, Any],
) -> dict[str, Any]:
    pipeline = copy.deepcopy(dict(pipeline_template))
    pipeline["id"] = config.get("id") or config.get("pipelineConfigId") or "unknown"
    pipeline["application"] = config["application"]
    if config.get("executionId"):
        pipeline["executionId"] = config["executionId"]
    pipeline["name"] = config.get("name") or "Unnamed Execution"
    for key in _CONFIG_DEFAULTS:
        if key not in pipeline_template and key in config:
            pipeline[key] = config[key]
    for key in _CONFIG_OWN:
        if key in config:
            pipeline[key] = config[key]
    pipeline["triggers"] = merged_items("triggers", config, pipeline_template)
    pipeline["parameterConfig"] = merged_items("parameters", config, pipeline_template)
    pipeline["notifications"] = merged_items("notifications", config, pipeline_template)
    own_artifacts = [a for a in config.get("expectedArtifacts") or [] if isinstance(a, Mapping)]
    own_ids = {a.get("id") for a in own_artifacts}
    pipeline["expectedArtifacts"] = [
        a
        for a in pipeline_template.get("expectedArtifacts") or []
        if not (isinstance(a, Mapping) and a.get("id") in own_ids)
    ] + own_artifacts
    pipeline["stages"] = stages
    pipeline["templateVariables"] = variables
    if trigger:
        pipeline["trigger"] = trigger
    return pipeline


def _evaluate_pipeline(
    pipeline: dict[str, Any],
    evaluate: Evaluate,
    trigger: dict[str, Any],
    variables: dict[str, Any],
    planning: bool = False,
) -> dict[str, Any]:
    """Expressions over the whole pipeline with `{trigger, templateVariables}`, unknown keys refused: what
    cannot resolve yet stays for later, except reads of template variables, which are errors (when
    `planning`, not those that also read the trigger or its parameters, which only a run brings)."""
    # The trigger (it may carry a webhook's payload) and the variables' values are data, never evaluated.
    data: dict[str, Any] = {k: pipeline.pop(k) for k in ("trigger", "templateVariables") if k in pipeline}
    value, summary = evaluate(pipeline, {"trigger": trigger, "templateVariables": variables}, strict=True)
    failed: list[str] = []
    for expression, entries in summary.items():
        if planning and re.search(r"\b(trigger|parameters)\b", expression):
            continue
        if "templateVariables" in expression and any(e.get("level") == "ERROR" for e in entries):
            names = [a or b for a, b in _VARIABLE_READ.findall(expression)] or [expression]
            failed += [n for n in names if n not in failed]
    if failed:
        problem = f"Missing template variable values for the following variables: {', '.join(failed)}"
        raise _fail("templateVariables", problem)
    rendered: dict[str, Any] = {**value, **data}
    rendered.setdefault("source", dict(SOURCE))
    return rendered


# -- saving a templated config -----------------------------------------------------------------------------
def save_problems(
    config: Mapping[str, Any], errors: list[FieldError], fetch: Fetch, evaluate: Evaluate
) -> list[FieldError]:
    """The errors of a templated config about to be saved: those of the plain checks (`errors`) except
    requisites naming template stages, which the config may depend on, plus everything planning finds."""
    problems = config_problems(config)
    template: dict[str, Any] | None = None
    if not problems and config.get("template"):
        try:
            template = fetch_template(config, fetch, evaluate)
        except TemplateError as error:
            problems += error.errors
    pipeline = template.get("pipeline") if template is not None else None
    stages = pipeline.get("stages") if isinstance(pipeline, Mapping) else None
    template_refs = (
        {str(s.get("refId")) for s in stages if isinstance(s, Mapping)} if isinstance(stages, list) else set()
    )
    kept = [e for e in errors if not _names_stage_in(e, config, template_refs)]
    if template is not None and not problems:
        try:
            render(config, template, evaluate, planning=True)
        except TemplateError as error:
            problems += error.errors
    fields = {e.field for e in kept}
    return kept + [p for p in problems if p.field not in fields]


def _names_stage_in(error: FieldError, config: Mapping[str, Any], refs: set[str]) -> bool:
    """Whether `error` is about a config stage's requisite that is one of `refs`."""
    match = _REQUISITE_FIELD.match(error.field)
    if not match or not refs:
        return False
    try:
        requisite = config["stages"][int(match.group(1))]["requisiteStageRefIds"][int(match.group(2))]
    except (KeyError, IndexError, TypeError):
        return False
    return str(requisite) in refs
