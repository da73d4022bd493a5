"""Pipeline expressions: a sandboxed, Spinnaker-compatible `${…}` language (orca.md §4).

Works on plain JSON-shaped data only; nothing else of Gennaker is imported here. Typical use:

    expressions = Expressions(lookups)
    processed = expressions.process(stage_context, stage_root(execution_json, stage_json))
    processed.value, processed.summary
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.expressions.functions import Lookups, NoLookups, function_table
from gennaker.expressions.javalike import ExpressionError, to_plain, to_text
from gennaker.expressions.limits import TIME_LIMIT_S
from gennaker.expressions.roots import current_stage_of, execution_root, plain_root, stage_root
from gennaker.expressions.templates import Processed, Summary, TemplateProcessor, has_errors, merge
from gennaker.expressions.urls import UrlFetcher, UrlPolicy

__all__ = [
    "ExpressionError",
    "Expressions",
    "Lookups",
    "NoLookups",
    "Processed",
    "Summary",
    "UrlFetcher",
    "UrlPolicy",
    "execution_root",
    "has_errors",
    "merge",
    "plain_root",
    "stage_root",
    "to_plain",
    "to_text",
]


class Expressions:
    """The language with its helper functions wired to `lookups` and a URL fetcher. Each call (a whole value
    processed, one expression, one set of variables) may take `time_limit_s` of wall clock (see `limits.py`)."""

    def __init__(
        self, lookups: Lookups | None = None, urls: UrlFetcher | None = None, time_limit_s: float = TIME_LIMIT_S
    ):
        functions = function_table(lookups or NoLookups(), urls or UrlFetcher())
        self.processor = TemplateProcessor(functions, time_limit_s)

    def process(
        self, value: Any, root: Any, *, allow_unknown_keys: bool = True, variables: dict[str, Any] | None = None
    ) -> Processed:
        """Every string and map key of `value` evaluated; results as plain JSON-shaped data."""
        processed = self.processor.process(value, root, allow_unknown_keys=allow_unknown_keys, variables=variables)
        processed.value = to_plain(processed.value)
        return processed

    def evaluate(
        self, expression: str, root: Any, *, allow_unknown_keys: bool = True, variables: dict[str, Any] | None = None
    ) -> Any:
        """One expression written without `${}`; raises ExpressionError."""
        return to_plain(
            self.processor.evaluate(expression, root, allow_unknown_keys=allow_unknown_keys, variables=variables)
        )

    def condition(self, expression: Any, root: Any) -> Processed:
        """A condition (`stageEnabled`, an expression precondition) in any form Orca accepts, with the same result.

        Bare (`trigger.x == 'a'`) and templated (`${trigger.x == 'a'}`) text are evaluated; a value that is
        already a result (a boolean, the text `true` or `false`, any non-text value: the stage context was
        evaluated when the stage started) is returned as it is and never evaluated again. A failed or null
        evaluation gives the template text back with its summary entries, as `process` does."""
        if not isinstance(expression, str):
            return Processed(expression)
        text = expression.strip()
        if text.lower() in ("true", "false"):
            return Processed(text.lower() == "true")
        return self.process(text if "${" in text else "${" + text + "}", root)

    def stage_enabled(self, expression: Any, root: Any) -> bool:
        """`stageEnabled`: only a result whose text is `true` (any case) runs the stage; errors skip it (orca.md
        §1.2)."""
        return to_text(self.condition(expression, root).value).lower() == "true"

    def evaluate_variables(self, variables: list[Any], root: Mapping[str, Any]) -> tuple[list[Any], Summary]:
        """`evaluateVariables` under v4: in order, each value seeing the earlier ones (orca.md §3.11)."""
        summary: Summary = {}
        known: dict[str, Any] = {}
        evaluated = []
        deadline = self.processor.deadline()
        for variable in variables:
            if not isinstance(variable, Mapping):
                evaluated.append(variable)
                continue
            overlay = _Overlay(root, known)
            entry = dict(variable)
            raw = variable.get("value")
            if isinstance(raw, str):
                entry["sourceValue"] = raw.replace("${", "{")
            for field in ("value", "description"):
                if field in variable:
                    entry[field] = to_plain(
                        self.processor.walk(
                            variable[field], overlay, True, {}, summary, [str(variable.get("key"))], deadline
                        )
                    )
            if entry.get("key") not in (None, ""):
                known[str(entry["key"])] = entry.get("value")
            evaluated.append(entry)
        return evaluated, summary


class _Overlay(Mapping[str, Any]):
    """The root with the variables evaluated so far on top."""

    def __init__(self, root: Mapping[str, Any], known: dict[str, Any]):
        self.root, self.known = root, known

    def __getitem__(self, key: str) -> Any:
        return self.known[key] if key in self.known else self.root[key]

    def __contains__(self, key: object) -> bool:
        return key in self.known or key in self.root

    def __iter__(self) -> Any:
        return iter({**{k: None for k in self.root}, **self.known})

    @property
    def current_stage(self) -> Any:
        """The stage the underlying root was built for (`#currentStage()`)."""
        return current_stage_of(self.root)

    def __len__(self) -> int:
        return len(set(self.root) | set(self.known))
