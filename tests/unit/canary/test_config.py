"""Checking a canary config on save (kayenta.md §7.6)."""

from __future__ import annotations

import copy
from typing import Any

from gennaker.canary.config import validate_canary_config

GOOD: dict[str, Any] = {
    "name": "checkout",
    "templates": {"by-pod": 'namespace="${namespace}",pod=~"${scope}-.*"'},
    "metrics": [
        {
            "name": "error rate",
            "groups": ["errors"],
            "scopeName": "default",
            "query": {
                "type": "prometheus",
                "customInlineTemplate": 'PromQL:sum(rate(http_requests_total{code=~"5..",pod=~"${scope}-.*"}[1m]))',
            },
            "analysisConfigurations": {"canary": {"direction": "increase", "critical": True}},
        },
        {
            "name": "cpu",
            "groups": ["system"],
            "scopeName": "default",
            "query": {
                "type": "prometheus",
                "metricName": "process_cpu_seconds_total",
                "customFilterTemplate": "by-pod",
            },
        },
        {
            "name": "memory",
            "scopeName": "default",
            "query": {"type": "prometheus", "metricName": "mem", "resourceType": "aws_ec2_instance"},
        },
    ],
    "classifier": {"groupWeights": {"errors": 60, "system": 40}, "scoreThresholds": {"pass": 95, "marginal": 75}},
}


def broken(change: Any) -> list[str]:
    config = copy.deepcopy(GOOD)
    change(config)
    return validate_canary_config(config)


def test_a_good_config_has_no_problems() -> None:
    assert validate_canary_config(GOOD) == []


def test_each_problem_is_reported() -> None:
    assert broken(lambda c: c.pop("name")) == ["the canary config needs a name"]
    assert broken(lambda c: c["metrics"][0].pop("scopeName")) == ["metric 'error rate' needs a scopeName"]
    assert broken(lambda c: c["metrics"][1]["query"].update(customFilterTemplate="nope")) == [
        "metric 'cpu': template 'nope' is not defined in the config's templates"
    ]
    assert broken(lambda c: c["metrics"][2]["query"].pop("resourceType")) == [
        "metric 'memory': either a resource type or a custom filter template is required"
    ]
    assert broken(lambda c: c["metrics"][2]["query"].update(customFilter="a=b")) == [
        "metric 'memory': customFilter is no longer supported; use customInlineTemplate or customFilterTemplate"
    ]
    assert broken(lambda c: c["metrics"][1]["query"].pop("metricName")) == [
        "metric 'cpu': metricName is required unless a PromQL: template gives the whole query"
    ]
    assert broken(lambda c: c["classifier"]["scoreThresholds"].update(marginal=96)) == [
        "scoreThresholds.pass must not be below scoreThresholds.marginal"
    ]
    assert broken(lambda c: c["metrics"][0]["analysisConfigurations"]["canary"].update(critical="yes")) == [
        "metric 'error rate': critical must be a JSON boolean, not 'yes'"
    ]
    assert broken(lambda c: c["metrics"].append(copy.deepcopy(c["metrics"][2]))) == [
        "metric 'memory' appears more than once"
    ]
    assert broken(lambda c: c.update(metrics=[])) == ["the canary config needs at least one metric"]


def test_template_variables_may_come_from_extended_scope_params() -> None:
    # ${namespace} is not a built-in binding; it is left for run time, not reported.
    assert validate_canary_config(GOOD) == []
    assert "namespace" not in str(validate_canary_config(GOOD))
