"""Building the PromQL of a canary metric exactly as Kayenta's Prometheus source does (kayenta.md §4.1-§4.3).

Two modes: a custom template (inline, or named in the config's `templates`) whose expansion starts with `PromQL:`
is the whole query; otherwise `avg(metric{filters}) [by (fields)]`, the filters being the expanded custom filter's
comma-separated terms, then the label bindings, then (without a custom filter) scope and location terms for the
`gce_instance` and `aws_ec2_instance` resource types.

Templates use `${name}` substitution (commons-text StringSubstitutor rules: `$${x}` is a literal `${x}`,
`${x:-default}` gives a default, values are expanded in turn, an undefined name is an error). Stored templates may
be escaped as `$\\{` so the pipeline expression language leaves them alone; that is undone first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DEFAULT_SCOPE_LABEL",
    "PROMQL_PREFIX",
    "PrometheusQueryConfig",
    "PrometheusQueryError",
    "PrometheusScope",
    "TemplateError",
    "build_query",
    "escape_template",
    "expand_custom_filter",
    "substitute",
    "unescape_template",
]

PROMQL_PREFIX = "PromQL:"
DEFAULT_SCOPE_LABEL = "instance"
MAX_EXPANSIONS = 10_000  # variables one substitution may expand, nested ones included
MAX_NESTING = 50  # variables within variables
MAX_EXPANDED_LENGTH = 1_000_000  # characters of any expanded text


class PrometheusQueryError(ValueError):
    """A metric whose query cannot be built."""


class TemplateError(PrometheusQueryError):
    """A custom filter template that does not expand."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


@dataclass(frozen=True)
class PrometheusQueryConfig:
    """A metric's `query` object of type prometheus."""

    metric_name: str = ""
    label_bindings: tuple[str, ...] = ()
    group_by_fields: tuple[str, ...] = ()
    resource_type: str = ""
    custom_inline_template: str = ""
    custom_filter_template: str = ""
    custom_filter: str = ""

    @classmethod
    def from_json(cls, query: Mapping[str, Any]) -> PrometheusQueryConfig:
        return cls(
            metric_name=_text(query.get("metricName")),
            label_bindings=_strings(query.get("labelBindings")),
            group_by_fields=_strings(query.get("groupByFields")),
            resource_type=_text(query.get("resourceType")),
            custom_inline_template=_text(query.get("customInlineTemplate")),
            custom_filter_template=_text(query.get("customFilterTemplate")),
            custom_filter=_text(query.get("customFilter")),
        )


@dataclass(frozen=True)
class PrometheusScope:
    """One side's scope: server group (`scope`), region (`location`), window, step and extra parameters.

    `project` and `resource_type` are lifted from `extendedScopeParams` as Kayenta's scope factory does.
    """

    scope: str = ""
    location: str = ""
    start: datetime | None = None
    end: datetime | None = None
    step_seconds: int = 60
    extended_scope_params: Mapping[str, str] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.extended_scope_params.get("project", "")

    @property
    def resource_type(self) -> str:
        return self.extended_scope_params.get("resourceType", "")


def unescape_template(template: str) -> str:
    """`$\\{` back to `${` (stored templates are escaped so that pipeline expressions leave them alone)."""
    return template.replace("$\\{", "${")


def escape_template(template: str) -> str:
    """`${` to `$\\{`, the stored form."""
    return template.replace("${", "$\\{")


def substitute(template: str, bindings: Mapping[str, str]) -> str:
    """Replace each `${name}` by its binding (StringSubstitutor rules, see the module docstring).

    Bindings come from the pipeline (`extendedScopeParams`) and may name each other, so an expansion is bounded:
    at most MAX_EXPANSIONS variables, MAX_NESTING levels and MAX_EXPANDED_LENGTH characters of text, checked as
    it grows (a few bindings that each repeat the next one would otherwise expand to gigabytes)."""
    return _Expansion(bindings).expand(template, ())


class _Expansion:
    def __init__(self, bindings: Mapping[str, str]):
        self.bindings = bindings
        self.expansions = 0

    def expand(self, template: str, resolving: tuple[str, ...]) -> str:
        out: list[str] = []
        size = 0
        index = 0
        length = len(template)
        while index < length:
            dollar = template.find("$", index)
            if dollar < 0:
                out.append(template[index:])
                size += length - index
                break
            out.append(template[index:dollar])
            size += dollar - index
            index = dollar
            if template.startswith("$${", index):
                piece = "${"
                index += 3
            elif template.startswith("${", index):
                close = template.find("}", index + 2)
                if close < 0:
                    out.append(template[index:])
                    size += length - index
                    break
                piece = self._variable(template, template[index + 2 : close], resolving)
                index = close + 1
            else:
                piece = "$"
                index += 1
            out.append(piece)
            size += len(piece)
            if size > MAX_EXPANDED_LENGTH:
                raise _too_long(template)
        if size > MAX_EXPANDED_LENGTH:
            raise _too_long(template)
        return "".join(out)

    def _variable(self, template: str, name: str, resolving: tuple[str, ...]) -> str:
        default: str | None = None
        if ":-" in name:
            name, default = name.split(":-", 1)
        if name in resolving:
            raise TemplateError(f"Infinite loop in property interpolation of {template}: {name}")
        if name in self.bindings:
            value = self.bindings[name]
        elif default is not None:
            value = default
        else:
            raise TemplateError(f"Cannot resolve variable '{name}'")
        self.expansions += 1
        if self.expansions > MAX_EXPANSIONS or len(resolving) >= MAX_NESTING:
            raise TemplateError(
                f"the template expands more than {MAX_EXPANSIONS} variables or nests them deeper than {MAX_NESTING}"
            )
        return self.expand(value, (*resolving, name))


def _too_long(template: str) -> TemplateError:
    return TemplateError(f"the expansion of {template[:100]!r} is longer than {MAX_EXPANDED_LENGTH} characters")


def _bindings(query: PrometheusQueryConfig, scope: PrometheusScope) -> dict[str, str]:
    bindings: dict[str, str] = {}
    candidates = {
        "project": scope.project,
        "resourceType": query.resource_type or scope.resource_type,
        "scope": scope.scope,
        "location": scope.location,
    }
    for key, value in candidates.items():
        if value:
            bindings[key] = value
    bindings.update({str(k): _text(v) for k, v in scope.extended_scope_params.items()})
    return bindings


def expand_custom_filter(
    query: PrometheusQueryConfig, scope: PrometheusScope, templates: Mapping[str, str] | None
) -> str | None:
    """The expanded custom filter (inline template first, else the named template), or None without one."""
    if query.custom_filter:
        raise PrometheusQueryError(
            "customFilter is no longer supported; use customInlineTemplate or customFilterTemplate"
        )
    if query.custom_inline_template:
        template = query.custom_inline_template
    elif query.custom_filter_template:
        if not templates:
            raise PrometheusQueryError(
                f"Custom filter template {query.custom_filter_template} was specified but no templates were provided"
            )
        if query.custom_filter_template not in templates:
            raise PrometheusQueryError(
                f"Custom filter template {query.custom_filter_template} was not found in the canary config templates"
            )
        template = templates[query.custom_filter_template]
    else:
        return None
    try:
        return substitute(unescape_template(template), _bindings(query, scope))
    except TemplateError as error:
        raise TemplateError(f"Problem evaluating custom filter template: {error}") from error


def _scope_filters(query: PrometheusQueryConfig, scope: PrometheusScope, scope_label: str) -> list[str]:
    resource_type = query.resource_type.strip() or scope.resource_type.strip()
    if resource_type == "gce_instance":
        filters = []
        if scope.scope:
            filters.append(f'{scope_label}=~"{scope.scope}-.{{4}}"')
        if not scope.location:
            raise PrometheusQueryError("A location is required for resourceType gce_instance")
        project_part = f"projects/{scope.project}/" if scope.project else ""
        filters.append(f'zone=~".+/{project_part}zones/{scope.location}-.{{1}}"')
        return filters
    if resource_type == "aws_ec2_instance":
        filters = []
        if scope.scope:
            filters.append(f'asg_groupName="{scope.scope}"')
        if not scope.location:
            raise PrometheusQueryError("A location is required for resourceType aws_ec2_instance")
        filters.append(f'zone=~"{scope.location}.{{1}}"')
        return filters
    if resource_type:
        raise PrometheusQueryError(f"There is no explicit support for resourceType '{resource_type}'")
    raise PrometheusQueryError("Either a resource type or a custom filter is required.")


def build_query(
    query: PrometheusQueryConfig,
    scope: PrometheusScope,
    templates: Mapping[str, str] | None = None,
    *,
    scope_label: str = DEFAULT_SCOPE_LABEL,
) -> str:
    """The PromQL Kayenta would send for this metric and scope."""
    custom_filter = expand_custom_filter(query, scope, templates)
    if custom_filter is not None and custom_filter.startswith(PROMQL_PREFIX):
        return custom_filter[len(PROMQL_PREFIX) :]
    if not query.metric_name:
        raise PrometheusQueryError("metricName is required unless a PromQL: template gives the whole query")
    filters: list[str] = []
    if custom_filter:
        filters.extend(custom_filter.split(","))
    filters.extend(query.label_bindings)
    if not custom_filter:
        filters.extend(_scope_filters(query, scope, scope_label))
    selector = f"{query.metric_name}{{{','.join(filters)}}}" if filters else query.metric_name
    promql = f"avg({selector})"
    if query.group_by_fields:
        promql += f" by ({','.join(query.group_by_fields)})"
    return promql
