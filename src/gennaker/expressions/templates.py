"""`${…}` templates inside any value: typing of results, failures and the evaluation summary (orca.md §4.2).

A string that is exactly one `${…}` yields the typed value; text mixed with expressions yields a string in
which null parts are put back as `${…}`. A failure keeps the whole original string and records an entry in
`expressionEvaluationSummary` under the expression's text. Map keys are evaluated like values. To write a
literal `${` in a template, put it in a string literal: `${'${'}`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gennaker.expressions.compiler import Deadline, FunctionTable, Scope, compile_expression
from gennaker.expressions.javalike import SCALARS, ExpressionError, ensure_text, to_text, weigh
from gennaker.expressions.limits import TIME_LIMIT_S

Summary = dict[str, list[dict[str, Any]]]


@dataclass
class Part:
    text: str
    expression: bool


def split_template(text: str) -> list[Part]:
    """Literal and expression parts; an expression ends at the `}` that closes its `${`, quotes respected."""
    parts: list[Part] = []
    position = 0
    while True:
        start = text.find("${", position)
        if start < 0:
            break
        end = _closing_brace(text, start + 2)
        if end < 0:
            raise ExpressionError(
                f"No ending suffix '}}' for expression starting at character {start}: {text[start:]}",
                "SpelParseException",
            )
        if start > position:
            parts.append(Part(text[position:start], False))
        parts.append(Part(text[start + 2 : end], True))
        position = end + 1
    if position < len(text):
        parts.append(Part(text[position:], False))
    return parts


def _closing_brace(text: str, index: int) -> int:
    depth, quote = 0, ""
    while index < len(text):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    return -1


@dataclass
class Processed:
    value: Any
    summary: Summary = field(default_factory=dict)


class TemplateProcessor:
    def __init__(self, functions: FunctionTable, time_limit_s: float = TIME_LIMIT_S):
        self.functions = functions
        self.time_limit_s = time_limit_s

    def deadline(self) -> Deadline:
        """The clock of one evaluation call: every expression the call evaluates shares it."""
        return Deadline(self.time_limit_s)

    def evaluate(
        self,
        expression: str,
        root: Any,
        *,
        allow_unknown_keys: bool = True,
        variables: dict[str, Any] | None = None,
        deadline: Deadline | None = None,
    ) -> Any:
        """One expression, without `${}`. Its result is weighed: it is copied and rendered afterwards."""
        scope = Scope(root, self.functions, allow_unknown_keys, variables, deadline or self.deadline())
        try:
            result = compile_expression(expression)(scope)
            if type(result) not in SCALARS:
                weigh(result)
            return result
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError("expression nests too deeply") from None
        except MemoryError:
            raise ExpressionError("expression ran out of memory") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, ZeroDivisionError) as exc:
            raise ExpressionError(f"{type(exc).__name__}: {exc}") from None

    def process(
        self, value: Any, root: Any, *, allow_unknown_keys: bool = True, variables: dict[str, Any] | None = None
    ) -> Processed:
        """Evaluate every string (and map key) in `value`; the input is never changed."""
        summary: Summary = {}
        result = self.walk(value, root, allow_unknown_keys, variables or {}, summary, [], self.deadline())
        return Processed(result, summary)

    def walk(
        self,
        value: Any,
        root: Any,
        unknown: bool,
        variables: dict[str, Any],
        summary: Summary,
        keys: list[str],
        deadline: Deadline,
    ) -> Any:
        if isinstance(value, str):
            return self.template(value, root, unknown, variables, summary, keys, deadline) if "${" in value else value
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                new_key = (
                    self.walk(key, root, unknown, variables, summary, keys, deadline) if isinstance(key, str) else key
                )
                out[to_text(new_key) if not isinstance(new_key, str) else new_key] = self.walk(
                    item, root, unknown, variables, summary, [*keys, str(key)], deadline
                )
            return out
        if isinstance(value, list):
            return [self.walk(item, root, unknown, variables, summary, keys, deadline) for item in value]
        return value

    def template(
        self,
        text: str,
        root: Any,
        unknown: bool = True,
        variables: dict[str, Any] | None = None,
        summary: Summary | None = None,
        keys: list[str] | None = None,
        deadline: Deadline | None = None,
    ) -> Any:
        """One template string; failures and unresolved parts are recorded in `summary`."""
        summary = {} if summary is None else summary
        deadline = deadline or self.deadline()
        where = f"[{keys[-1]}]" if keys else "[]"
        try:
            parts = split_template(text)
        except ExpressionError as exc:
            _record(summary, text.strip(), where, exc, "ERROR")
            return text
        expressions = [p for p in parts if p.expression]
        values = []
        for part in parts:
            if not part.expression:
                values.append(part.text)
                continue
            try:
                values.append(
                    self.evaluate(part.text, root, allow_unknown_keys=unknown, variables=variables, deadline=deadline)
                )
            except ExpressionError as exc:
                _record(summary, part.text.strip(), where, exc, "ERROR")
                return text
        if len(parts) == 1 and expressions:
            if values[0] is None:
                _record(summary, expressions[0].text.strip(), where, None, "INFO")
                return text
            return values[0]
        try:
            return _joined(parts, values, summary, where)
        except ExpressionError as exc:
            _record(summary, text.strip(), where, exc, "ERROR")
            return text


def _joined(parts: list[Part], values: list[Any], summary: Summary, where: str) -> str:
    """Text mixed with expressions. What the expressions add is checked against MAX_TEXT piece by piece: one
    template may hold many expressions, each rendering up to the limit."""
    out, added = [], 0
    for part, value in zip(parts, values, strict=True):
        if not part.expression:
            out.append(part.text)
        elif value is None:
            _record(summary, part.text.strip(), where, None, "INFO")
            out.append("${" + part.text + "}")
        else:
            piece = to_text(value)
            added += len(piece)
            ensure_text(added)
            out.append(piece)
    return "".join(out)


def _record(summary: Summary, expression: str, where: str, error: ExpressionError | None, level: str) -> None:
    if error is None:
        description = f"Failed to evaluate {where} {expression} not found"
        exception_type = "SpelEvaluationException"
    else:
        description = f"Failed to evaluate {where} {error}"
        exception_type = error.exception_type
    summary.setdefault(expression, []).append(
        {
            "description": description.replace("$", ""),
            "exceptionType": exception_type,
            "timestamp": int(time.time() * 1000),
            "level": level,
        }
    )


def has_errors(summary: Summary) -> bool:
    return any(entry.get("level") == "ERROR" for entries in summary.values() for entry in entries)


def merge(into: Summary, new: Summary) -> Summary:
    """Entries of `new` added to `into`; an expression that now resolved drops its older entries."""
    for expression, entries in new.items():
        into.setdefault(expression, []).extend(entries)
    return into
