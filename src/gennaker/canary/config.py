"""Checking a canary config when it is saved (kayenta.md §7.6): Kayenta finds most of these only at run time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gennaker.canary.classifier import CanaryConfigError, MetricAnalysis
from gennaker.canary.prometheus_query import (
    PROMQL_PREFIX,
    PrometheusQueryConfig,
    PrometheusQueryError,
    PrometheusScope,
    expand_custom_filter,
    unescape_template,
)

__all__ = ["validate_canary_config"]


def validate_canary_config(config: Mapping[str, Any]) -> list[str]:
    """Problems found in a canary config, as messages; empty when it is fine.

    Checks: a name and at least one metric; each metric has a unique name, a scopeName and a readable
    `analysisConfigurations.canary`; Prometheus queries name defined templates, have a resource type or a filter,
    a metricName unless a `PromQL:` template gives the whole query, and no `customFilter`; the classifier's score
    thresholds, when both are given, have pass ≥ marginal.
    """
    problems: list[str] = []
    if not config.get("name"):
        problems.append("the canary config needs a name")
    templates = config.get("templates") or {}
    if not isinstance(templates, Mapping):
        problems.append("templates must be an object of name to template")
        templates = {}
    metrics = config.get("metrics") or []
    if not isinstance(metrics, list) or not metrics:
        problems.append("the canary config needs at least one metric")
        metrics = []
    seen: set[str] = set()
    for index, metric in enumerate(metrics):
        if not isinstance(metric, Mapping):
            problems.append(f"metric #{index + 1} is not an object")
            continue
        name = str(metric.get("name") or "")
        label = repr(name) if name else f"#{index + 1}"
        if not name:
            problems.append(f"metric {label} needs a name")
        elif name in seen:
            problems.append(f"metric {label} appears more than once")
        seen.add(name)
        if not metric.get("scopeName"):
            problems.append(f"metric {label} needs a scopeName")
        try:
            MetricAnalysis.from_metric(metric)
        except CanaryConfigError as error:
            problems.append(str(error))
        query = metric.get("query") or {}
        if isinstance(query, Mapping) and "prometheus" in (query.get("type"), query.get("serviceType")):
            problems.extend(f"metric {label}: {p}" for p in _prometheus_problems(query, templates))
    classifier = config.get("classifier") or {}
    if not isinstance(classifier, Mapping):
        problems.append("classifier must be an object")
        classifier = {}
    thresholds = classifier.get("scoreThresholds") or {}
    if not isinstance(thresholds, Mapping):
        problems.append("classifier.scoreThresholds must be an object with pass and marginal")
        thresholds = {}
    passing, marginal = thresholds.get("pass"), thresholds.get("marginal")
    if isinstance(passing, int | float) and isinstance(marginal, int | float) and passing < marginal:
        problems.append("scoreThresholds.pass must not be below scoreThresholds.marginal")
    return problems


def _prometheus_problems(query: Mapping[str, Any], templates: Mapping[str, str]) -> list[str]:
    config = PrometheusQueryConfig.from_json(query)
    if config.custom_filter:
        return ["customFilter is no longer supported; use customInlineTemplate or customFilterTemplate"]
    template: str | None = None
    if config.custom_inline_template:
        template = config.custom_inline_template
    elif config.custom_filter_template:
        if config.custom_filter_template not in templates:
            return [f"template {config.custom_filter_template!r} is not defined in the config's templates"]
        template = str(templates[config.custom_filter_template])
    if template is None:
        if not config.resource_type:
            return ["either a resource type or a custom filter template is required"]
        if config.resource_type not in ("gce_instance", "aws_ec2_instance"):
            return [f"There is no explicit support for resourceType '{config.resource_type}'"]
    elif not unescape_template(template).startswith(PROMQL_PREFIX):
        try:
            # Variables may come from extendedScopeParams at run time: only a malformed template is reported.
            expand_custom_filter(config, PrometheusScope(), templates)
        except PrometheusQueryError as error:
            if "Cannot resolve variable" not in str(error):
                return [str(error)]
    if (template is None or not unescape_template(template).startswith(PROMQL_PREFIX)) and not config.metric_name:
        return ["metricName is required unless a PromQL: template gives the whole query"]
    return []
