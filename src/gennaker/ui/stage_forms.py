"""The pipeline editor's stage forms, built from the stage types' context schemas (stages/schemas.py).

A schema field with a `title` is offered, labelled with it and explained by its `description`; its widget
follows the field's marker: `Number` a number box, `Flag` a checkbox, `OneOf` a menu, `Text` a text box,
structures a YAML (or JSON) area, and `Object(form="fields")` offers the nested model's titled fields.
Every stage's form also offers its run condition, `stageEnabled`, as one expression (`STAGE_ENABLED`).

A form never rewrites what the user did not change. Each submitted value is compared with the text the
widget showed for the stage's current value, and only a different one is parsed and stored; a cleared
field removes its key. So a key the stage does not have stays absent (an unset checkbox shows Orca's
default, and stays unset unless clicked), and a value a widget cannot show exactly (an expression where a
checkbox would be, a list in a shape the widget does not know) is shown as text or YAML instead.
"""

from __future__ import annotations

import functools
import json
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from starlette.datastructures import FormData

from gennaker.expressions.compiler import Deadline
from gennaker.expressions.documents import read_yaml
from gennaker.expressions.javalike import ExpressionError
from gennaker.model.stage_context import ContextValue, OneOf

# Widgets shown as a text area; all others are one-line controls.
TEXT_AREAS = frozenset({"text", "json", "yaml", "documents", "variables"})
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class FormField:
    """A context key the form offers: `key` is its dotted path (`moniker.app`), `kind` its widget."""

    key: str
    label: str
    help: str
    kind: str
    choices: tuple[str, ...] = ()
    # Orca's value when the key is absent (what an unset checkbox shows).
    default: Any = None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model in `Model | None`."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


@functools.cache
def form_fields(schema: type[BaseModel], prefix: str = "") -> tuple[FormField, ...]:
    """The titled fields of a context schema, in declaration order (the common stage keys come first)."""
    found: list[FormField] = []
    for name, info in schema.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, ContextValue)), None)
        if marker is None:
            continue
        key = prefix + name
        if marker.form == "fields":
            nested = _model_in(info.annotation)
            if nested is not None:
                found += form_fields(nested, key + ".")
            continue
        if info.title is None:
            continue
        default = None if info.default is PydanticUndefined else info.default
        choices = marker.values if isinstance(marker, OneOf) else ()
        found.append(FormField(key, info.title, info.description or "", marker.form, choices, default))
    return tuple(found)


# Orca's run condition, which every stage may carry (orca.md §1.2); the form writes Deck's shape,
# `{"type": "expression", "expression": <text>}`, and an emptied input removes the key.
STAGE_ENABLED = FormField(
    "stageEnabled",
    "Run only when (expression)",
    "e.g. trigger.branch == 'main' (with or without ${}); the stage is skipped unless it is true. Empty: always run",
    "condition",
)


def stage_fields(schema: type[BaseModel] | None) -> tuple[FormField, ...]:
    """What a stage's form offers: its run condition, then its schema's titled fields (none without one)."""
    return (STAGE_ENABLED, *(form_fields(schema) if schema else ()))


def schema_for(schemas: Mapping[str, type[BaseModel]], stage: Mapping[str, Any]) -> type[BaseModel] | None:
    """A stage's schema, by `type` then `alias`, as saving finds it."""
    alias = stage.get("alias")
    return schemas.get(str(stage.get("type"))) or (schemas.get(alias) if isinstance(alias, str) else None)


def get_path(stage: Mapping[str, Any], key: str) -> Any:
    value: Any = stage
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class FormError(ValueError):
    """A submitted field that cannot be read; `key` is the field's context key."""

    def __init__(self, key: str, problem: str):
        super().__init__(problem)
        self.key, self.problem = key, problem


@dataclass(frozen=True)
class Widget:
    """One field as the form shows it for one stage: `kind` may differ from the field's when the value does
    not fit the field's widget, and `text` is exactly what the widget holds ("true"/"false" for a checkbox)."""

    field: FormField
    kind: str
    text: str
    options: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"f.{self.field.key}"

    @property
    def text_area(self) -> bool:
        return self.kind in TEXT_AREAS


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _yaml_text(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).removesuffix("...\n")


def _plain_choices(value: Any) -> bool:
    """Judgment choices a comma-separated line shows exactly."""
    return isinstance(value, list) and all(
        isinstance(c, dict)
        and set(c) == {"value"}
        and isinstance(c["value"], str)
        and c["value"]
        and c["value"] == c["value"].strip()
        and not re.search(r"[,\r\n]", c["value"])
        for c in value
    )


def _plain_variables(value: Any) -> bool:
    """Variables `key=value` lines show exactly."""
    return isinstance(value, list) and all(
        isinstance(v, dict)
        and set(v) == {"key", "value"}
        and isinstance(v["key"], str)
        and isinstance(v["value"], str)
        and v["key"]
        and v["key"] == v["key"].strip()
        and v["value"] == v["value"].strip()
        and not re.search(r"[=\r\n]", v["key"])
        and not re.search(r"[\r\n]", v["value"])
        for v in value
    )


def _plain_condition(value: Any) -> bool:
    """A run condition one input line shows exactly: Deck's expression shape and nothing else."""
    return (
        isinstance(value, dict)
        and set(value) == {"type", "expression"}
        and value["type"] == "expression"
        and isinstance(value["expression"], str)
        and not re.search(r"[\r\n]", value["expression"])
    )


# The widgets that show only some values of their kind; others are shown (and edited) as YAML.
_SHOWN_EXACTLY: dict[str, Callable[[Any], bool]] = {
    "documents": lambda value: isinstance(value, list) and all(isinstance(d, dict) for d in value),
    "choices": _plain_choices,
    "variables": _plain_variables,
    "condition": _plain_condition,
}


def _kind_for(kind: str, value: Any) -> str:
    """The widget that shows `value` exactly: the field's own, or text / YAML when the value does not fit."""
    if kind == "bool" and not (value is None or isinstance(value, bool)):
        kind = "string"
    if kind in ("number", "string", "text", "choice") and value is not None and not isinstance(value, _SCALARS):
        return "yaml"
    if kind in ("number", "string", "choice") and isinstance(value, str) and re.search(r"[\r\n]", value):
        return "text"
    shows_exactly = _SHOWN_EXACTLY.get(kind)
    if shows_exactly is not None and not (value is None or shows_exactly(value)):
        return "yaml"
    return kind


def widget(field: FormField, stage: Mapping[str, Any]) -> Widget:
    value = get_path(stage, field.key)
    kind = _kind_for(field.kind, value)
    text = ""
    if kind == "bool":
        text = _scalar_text(value if isinstance(value, bool) else field.default is True)
    elif value is None:
        text = ""
    elif kind in ("number", "string", "text", "choice"):
        text = _scalar_text(value)
    elif kind == "json":
        text = json.dumps(value, indent=2, ensure_ascii=False)
    elif kind == "documents":
        text = yaml.safe_dump_all(value, sort_keys=False, allow_unicode=True)
    elif kind == "choices":
        text = ", ".join(c["value"] for c in value)
    elif kind == "variables":
        text = "\n".join(f"{v['key']}={v['value']}" for v in value)
    elif kind == "condition":
        text = value["expression"]
    else:
        text = _yaml_text(value)
    options = ("", *field.choices, *([text] if text and text not in field.choices else [])) if kind == "choice" else ()
    return Widget(field, kind, text, options)


def _normal(text: str) -> str:
    """Line ends as a browser submits them, made comparable."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Absent:
    """A cleared field: its key is removed."""


ABSENT = _Absent()


def _number(text: str) -> Any:
    """Numbers as numbers; anything else stays text (an expression, or a mistake the validation names)."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)
    try:
        number = float(stripped)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_yaml(text: str, source: str) -> list[Any]:
    """Every document of a YAML text a user typed, read with the expression language's budgets (length,
    depth, time, and size with aliases expanded: a few hundred bytes of aliases must not become gigabytes)."""
    try:
        return read_yaml(text, source, Deadline())
    except ExpressionError as error:
        raise ValueError(str(error)) from None


def parse_one_yaml(text: str, source: str) -> Any:
    """One YAML document (None for an empty text), read as `parse_yaml` reads them."""
    documents = parse_yaml(text, source)
    if len(documents) > 1:
        raise ValueError(f"{source} holds more than one YAML document")
    return documents[0] if documents else None


def parse(kind: str, text: str, *, flag: bool = False) -> Any:
    """A widget's submitted text as the stage context holds it (the inverse of `widget`). `flag`: the field is
    a boolean shown as text (it held an expression), so the words true and false are booleans. JSON and YAML
    are read within budgets (`parse_yaml`)."""
    if kind == "bool":
        return text == "true"
    if not text.strip():
        return ABSENT
    if kind == "number":
        return _number(text)
    if flag and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    if kind == "json":
        try:
            return json.loads(text)  # no aliases: as large as the text at most
        except RecursionError:
            raise ValueError("the JSON nests too deeply") from None
    if kind == "yaml":
        return parse_one_yaml(text, "the YAML")
    if kind == "documents":
        return [d for d in parse_yaml(text, "the YAML") if d is not None]
    if kind == "choices":
        return [{"value": v.strip()} for v in text.split(",") if v.strip()]
    if kind == "variables":
        lines = [line for line in text.splitlines() if line.strip()]
        if any("=" not in line for line in lines):
            raise ValueError("write one key=value a line")
        return [{"key": k.strip(), "value": v.strip()} for k, v in (line.split("=", 1) for line in lines)]
    if kind == "condition":
        return {"type": "expression", "expression": text}
    return text


def _set(stage: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    target = stage
    for part in parents:
        child = target.get(part)
        if child is None:
            if value is ABSENT:
                return
            child = target[part] = {}
        if not isinstance(child, dict):
            raise FormError(key, f"{part} is not an object here; edit it as JSON")
        target = child
    if value is ABSENT:
        target.pop(last, None)
    else:
        target[last] = value


def submitted(form: FormData, name: str) -> str | None:
    """A control's submitted text, or None when the form did not carry it. A checkbox sends its hidden
    "false" first and, when checked, "true" after it."""
    values = form.getlist(name)
    return _normal(str(values[-1])) if values else None


def apply_stage_form(stage: dict[str, Any], fields: tuple[FormField, ...], form: FormData) -> None:
    """Store the fields the user changed; raises `FormError` for one that cannot be read."""
    for field in fields:
        text = submitted(form, f"f.{field.key}")
        if text is None:
            continue
        shown = widget(field, stage)
        if text == _normal(shown.text):
            continue
        try:
            value = parse(shown.kind, text, flag=field.kind == "bool")
        except (ValueError, yaml.YAMLError) as error:
            raise FormError(field.key, str(error).splitlines()[0]) from None
        _set(stage, field.key, value)
