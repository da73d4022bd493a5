"""Typed stage contexts: the keys a stage type reads from its context, declared once as a Pydantic model.

A context schema only *judges* a stage config; it never rewrites one. Configs are stored as sent, so the
model instance built while validating is thrown away: no default is written, no value is coerced, and
keys a schema does not declare (Deck's bookkeeping, plugins, keys added later) are kept as they are.
Defaults declared on fields are Orca's defaults, documentation for people and for the pipeline editor.

Orca evaluates expressions anywhere in a stage context before the stage reads it (orca.md §4.1), so
every field also accepts a string holding `${…}`; its value is checked when the stage runs. Fields are
declared with `Annotated[<type>, <marker>]`, where the marker (`Number`, `Flag`, `Text`, `OneOf`,
`Object`, `Items`, `Free`) checks the value, words the error, and names the editor's widget (`form`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationError, model_validator
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema


def is_expression(value: Any) -> bool:
    """A string Orca evaluates before the stage reads it."""
    return isinstance(value, str) and "${" in value


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(str(value)[:40])


def _problem(kind: str, message: str) -> PydanticCustomError:
    # No context: the message is used as written, braces included.
    return PydanticCustomError(kind, message)


class ContextValue:
    """A marker in `Annotated[...]` that checks one context value. `None` and expressions always pass."""

    form: str = "string"

    def check(self, value: Any) -> None:
        """Raise `PydanticCustomError` when `value` (not None, not an expression) is wrong."""

    def _validate(self, value: Any) -> Any:
        if value is not None and not is_expression(value):
            self.check(value)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self._validate)


def as_number(value: Any) -> float | None:
    """The number a context value stands for (Jackson reads "30" as 30), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _number_text(number: float) -> str:
    number = float(number)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:g}"


@dataclass(frozen=True)
class Number(ContextValue):
    """A number (or numeric text), optionally whole and within bounds."""

    minimum: float | None = None
    maximum: float | None = None
    whole: bool = False
    form: str = "number"

    def _wanted(self) -> str:
        what = "a whole number" if self.whole else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{what} from {_number_text(self.minimum)} to {_number_text(self.maximum)}, or an expression"
        if self.minimum is not None:
            return f"{what} of at least {_number_text(self.minimum)}, or an expression"
        return f"{what} or an expression"

    def check(self, value: Any) -> None:
        number = as_number(value)
        if number is None or (self.whole and not number.is_integer()):
            raise _problem("number", f"must be {self._wanted()}, not {_shown(value)}")
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if not low <= number <= high:
            bounds = f"at least {_number_text(low)}"
            if self.maximum is not None:
                bounds = f"from {_number_text(low)} to {_number_text(high)}"
            raise _problem("number_range", f"must be {bounds}, not {_number_text(number)}")


@dataclass(frozen=True)
class Flag(ContextValue):
    """A boolean; Orca also reads the text "true" and "false". `also` names other words the key takes."""

    also: tuple[str, ...] = ()
    form: str = "bool"

    def check(self, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, str) and value.lower() in ("true", "false", *self.also):
            return
        words = ", ".join(("true", "false", *self.also))
        raise _problem("flag", f"must be {words} or an expression, not {_shown(value)}")


@dataclass(frozen=True)
class Text(ContextValue):
    """Text; numbers and booleans pass, as Orca reads them as text. `form="text"` shows a text area."""

    form: str = "string"

    def check(self, value: Any) -> None:
        if isinstance(value, dict | list):
            raise _problem("text", f"must be text or an expression, not {_shown(value)}")


@dataclass(frozen=True)
class OneOf(ContextValue):
    """One of Orca's values for the key (an empty string counts as unset, as Deck writes it)."""

    values: tuple[str, ...]
    ignore_case: bool = True
    form: str = "choice"

    def check(self, value: Any) -> None:
        if value == "":
            return
        if isinstance(value, str):
            found = value.lower() if self.ignore_case else value
            allowed = [v.lower() for v in self.values] if self.ignore_case else list(self.values)
            if found in allowed:
                return
        names = ", ".join(repr(v) for v in self.values)
        raise _problem("one_of", f"must be one of {names} or an expression, not {_shown(value)}")


@dataclass(frozen=True)
class Free(ContextValue):
    """Any JSON value (a payload, a patch body): only its place is declared."""

    form: str = "yaml"


def _structure_schema(source: Any, handler: GetCoreSchemaHandler, shape: type, kind: str, what: str) -> CoreSchema:
    """The annotated type's own schema, reached only by a `shape` value (None and expressions pass)."""
    inner = handler(source)

    def validate(value: Any, call: Callable[[Any], Any]) -> Any:
        if value is None or is_expression(value):
            return value
        if not isinstance(value, shape):
            raise _problem(kind, f"must be {what} or an expression, not {_shown(value)}")
        call(value)
        return value

    return core_schema.no_info_wrap_validator_function(validate, inner)


@dataclass(frozen=True)
class Object(ContextValue):
    """A JSON object, checked by the annotated model (or any object for `dict[str, Any]`).

    `form="fields"` shows the model's titled fields in the stage's form instead of one YAML box."""

    form: str = "yaml"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _structure_schema(source, handler, dict, "object", "an object")


@dataclass(frozen=True)
class Items(ContextValue):
    """A JSON list whose items the annotated item type checks."""

    form: str = "yaml"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _structure_schema(source, handler, list, "list", "a list")


T = TypeVar("T")

# Shorthands for the common field shapes.
WholeNumber = Annotated[int | None, Number(minimum=0, whole=True)]
FlagValue = Annotated[bool | None, Flag()]
TextValue = Annotated[str | None, Text()]
AnyValue = Annotated[Any, Free()]
MapValue = Annotated[dict[str, Any] | None, Object()]
ObjectOf = Annotated[T | None, Object()]
ListOf = Annotated[list[T] | None, Items()]

Loc = tuple[str | int, ...]


def present(data: dict[str, Any], *path: str) -> bool:
    """Whether the key at `path` has a value (an expression counts: it is checked when the stage runs)."""
    value: Any = data
    for key in path:
        if not isinstance(value, dict):
            return is_expression(value)
        value = value.get(key)
    return value not in (None, "", [], {})


class ContextModel(BaseModel):
    """A part of a stage context: unknown keys are kept; `rules` adds checks spanning several keys."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    @classmethod
    def rules(cls, data: dict[str, Any]) -> list[tuple[Loc, str]]:
        """Problems no single field shows, as (location, message); e.g. a key required by another's value."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _apply_rules(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        found = cls.rules(data) if isinstance(data, dict) else []
        if not found:
            return handler(data)
        details: list[InitErrorDetails] = []
        try:
            handler(data)
        except ValidationError as error:
            details += [
                InitErrorDetails(type=_problem(e["type"], e["msg"]), loc=tuple(e["loc"]), input=e["input"])
                for e in error.errors()
            ]
        details += [InitErrorDetails(type=_problem("rule", message), loc=loc, input=data) for loc, message in found]
        raise ValidationError.from_exception_data(cls.__name__, details)


class StageEnabled(ContextModel):
    type: Annotated[str | None, OneOf(("expression",))] = None
    expression: TextValue = Field(None, description="Written without ${}; the stage is skipped unless true")


class TimeRange(ContextModel):
    startHour: Annotated[int | None, Number(0, 23, whole=True)] = None
    startMin: Annotated[int | None, Number(0, 59, whole=True)] = None
    endHour: Annotated[int | None, Number(0, 23, whole=True)] = None
    endMin: Annotated[int | None, Number(0, 59, whole=True)] = None


class Jitter(ContextModel):
    enabled: FlagValue = False
    minDelay: Annotated[float | None, Number(minimum=0)] = Field(None, description="Seconds")
    maxDelay: Annotated[float | None, Number(minimum=0)] = Field(None, description="Seconds")
    skipManual: FlagValue = False


class ExecutionWindow(ContextModel):
    whitelist: ListOf[ObjectOf[TimeRange]] = None
    days: ListOf[Annotated[int | None, Number(1, 7, whole=True)]] = Field(None, description="1 = Sunday … 7")
    jitter: ObjectOf[Jitter] = None


class Notification(ContextModel):
    type: TextValue = None
    address: TextValue = None
    level: TextValue = None
    when: ListOf[TextValue] = None
    message: MapValue = None


class Artifact(ContextModel):
    type: TextValue = None
    name: TextValue = None
    version: TextValue = None
    location: TextValue = None
    reference: TextValue = None
    artifactAccount: TextValue = None
    metadata: MapValue = None
    customKind: FlagValue = None


class ExpectedArtifact(ContextModel):
    id: TextValue = None
    displayName: TextValue = None
    matchArtifact: ObjectOf[Artifact] = None
    defaultArtifact: ObjectOf[Artifact] = None
    useDefaultArtifact: FlagValue = False
    usePriorArtifact: FlagValue = False
    boundArtifact: ObjectOf[Artifact] = None


# A stage may run for at most this long; longer timeouts are mistakes.
STAGE_TIMEOUT_MS = 30 * 24 * 3600 * 1000


class StageContext(ContextModel):
    """Keys every stage may carry (orca.md §1.2). `type`, `name`, `refId` and `requisiteStageRefIds` are
    checked with the pipeline; stage types extend this class with their own keys (orca.md §3)."""

    stageEnabled: ObjectOf[StageEnabled] = None
    failPipeline: FlagValue = True
    continuePipeline: FlagValue = False
    completeOtherBranchesThenFail: FlagValue = False
    failOnFailedExpressions: FlagValue = False
    restrictExecutionDuringTimeWindow: FlagValue = False
    restrictedExecutionWindow: ObjectOf[ExecutionWindow] = None
    skipWindowText: TextValue = None
    stageTimeoutMs: Annotated[float | None, Number(0, STAGE_TIMEOUT_MS)] = None
    backoffPeriodMs: Annotated[float | None, Number(minimum=0)] = None
    markSuccessfulOnTimeout: FlagValue = False
    sendNotifications: FlagValue = False
    notifications: ListOf[ObjectOf[Notification]] = None
    comments: Annotated[str | None, Text(form="text")] = None
    expectedArtifacts: ListOf[ObjectOf[ExpectedArtifact]] = None
    alias: TextValue = None
    group: TextValue = None
    isNew: FlagValue = None
