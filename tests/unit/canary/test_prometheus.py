"""PromQL building, response conversion and metric set pairing beyond the vectors (kayenta.md §4)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from gennaker.canary.metric_sets import MetricSet, MetricSetMixError, MetricSetPair, mix_metric_sets, parse_value
from gennaker.canary.prometheus_query import (
    PrometheusQueryConfig,
    PrometheusQueryError,
    PrometheusScope,
    TemplateError,
    build_query,
    escape_template,
    substitute,
    unescape_template,
)
from gennaker.canary.prometheus_response import (
    PrometheusResponseError,
    convert_range_result,
    metric_sets_for_response,
)

SCOPE = PrometheusScope(scope="web-canary", location="us-east-1", extended_scope_params={"namespace": "prod"})


def query(**fields: object) -> PrometheusQueryConfig:
    return PrometheusQueryConfig.from_json({"type": "prometheus", **fields})


def test_default_mode_wraps_in_avg_and_groups_by() -> None:
    q = query(metricName="http_requests", resourceType="aws_ec2_instance", groupByFields=["code", "pod"])
    assert build_query(q, SCOPE) == (
        'avg(http_requests{asg_groupName="web-canary",zone=~"us-east-1.{1}"}) by (code,pod)'
    )


def test_gce_zones_name_the_project_when_there_is_one() -> None:
    scope = PrometheusScope(scope="sg", location="europe-west1", extended_scope_params={"project": "acme"})
    q = query(metricName="cpu", resourceType="gce_instance")
    assert (
        build_query(q, scope, scope_label="pod")
        == 'avg(cpu{pod=~"sg-.{4}",zone=~".+/projects/acme/zones/europe-west1-.{1}"})'
    )


def test_the_scope_resource_type_is_used_when_the_query_has_none() -> None:
    scope = PrometheusScope(location="eu", extended_scope_params={"resourceType": "aws_ec2_instance"})
    assert build_query(query(metricName="cpu"), scope) == 'avg(cpu{zone=~"eu.{1}"})'


def test_a_template_that_expands_to_nothing_counts_as_no_custom_filter() -> None:
    q = query(metricName="up", customInlineTemplate="${filter}", resourceType="aws_ec2_instance")
    scope = PrometheusScope(scope="sg", location="eu", extended_scope_params={"filter": ""})
    assert build_query(q, scope) == 'avg(up{asg_groupName="sg",zone=~"eu.{1}"})'
    assert build_query(q, PrometheusScope(location="eu", extended_scope_params={"filter": "a=b"})) == "avg(up{a=b})"


def test_custom_filter_terms_come_before_the_label_bindings() -> None:
    templates = {"by-ns": 'namespace="${namespace}",pod=~"${scope}-.*"'}
    q = query(metricName="cpu", customFilterTemplate="by-ns", labelBindings=['container="app"'])
    assert build_query(q, SCOPE, templates) == 'avg(cpu{namespace="prod",pod=~"web-canary-.*",container="app"})'


def test_extended_scope_params_override_the_scope_bindings() -> None:
    scope = PrometheusScope(scope="a", location="l", extended_scope_params={"scope": "b"})
    assert build_query(query(customInlineTemplate="PromQL:up{x='${scope}'}"), scope) == "up{x='b'}"


def test_escaped_templates_are_unescaped_before_expansion() -> None:
    stored = escape_template('PromQL:sum(rate(errors{pod=~"${scope}-.*"}[1m]))')
    assert "${" not in stored and unescape_template(stored).startswith("PromQL:sum")
    assert build_query(query(customInlineTemplate=stored), SCOPE) == 'sum(rate(errors{pod=~"web-canary-.*"}[1m]))'


def test_substitution_rules() -> None:
    assert substitute("$${scope} is ${scope}", {"scope": "x"}) == "${scope} is x"
    assert substitute("${a}", {"a": "${b}", "b": "deep"}) == "deep"
    assert substitute("${missing:-fallback}", {}) == "fallback"
    assert substitute("no close ${x", {}) == "no close ${x"
    with pytest.raises(TemplateError, match="Cannot resolve variable 'nope'"):
        substitute("${nope}", {})
    with pytest.raises(TemplateError, match="Infinite loop"):
        substitute("${a}", {"a": "${a}"})


def test_substitution_is_bounded() -> None:
    doubling = {f"v{i}": f"${{v{i - 1}}}${{v{i - 1}}}" for i in range(1, 60)} | {"v0": "x" * 100}
    with pytest.raises(TemplateError, match=r"longer than|more than"):
        substitute("${v59}", doubling)
    empty = {f"v{i}": f"${{v{i - 1}}}${{v{i - 1}}}" for i in range(1, 60)} | {"v0": ""}
    with pytest.raises(TemplateError, match="more than 10000 variables"):
        substitute("${v59}", empty)
    chain = {f"v{i}": f"${{v{i - 1}}}" for i in range(1, 2000)} | {"v0": "x"}
    with pytest.raises(TemplateError, match="deeper than 50"):
        substitute("${v1999}", chain)
    with pytest.raises(TemplateError, match="longer than 1000000 characters"):
        substitute("${a}${a}", {"a": "x" * 600_000})


@pytest.mark.parametrize(
    ("fields", "templates", "message"),
    [
        ({"metricName": "m", "customFilter": "a=b"}, {}, "customFilter is no longer supported"),
        ({"metricName": "m", "customFilterTemplate": "t"}, {}, "no templates were provided"),
        ({"metricName": "m", "customFilterTemplate": "t"}, {"u": "x"}, "was not found"),
        ({"metricName": "m", "customInlineTemplate": "ns=${namespace2}"}, {}, "Problem evaluating custom filter"),
        ({"metricName": "m", "resourceType": "k8s_pod"}, {}, "no explicit support for resourceType 'k8s_pod'"),
        ({"metricName": "m"}, {}, "Either a resource type or a custom filter is required."),
        ({"resourceType": "aws_ec2_instance"}, {}, "metricName is required"),
    ],
)
def test_query_errors(fields: dict[str, object], templates: dict[str, str], message: str) -> None:
    with pytest.raises(PrometheusQueryError, match=message):
        build_query(query(**fields), SCOPE, templates)


def test_a_location_is_required_for_the_resource_types() -> None:
    for resource_type in ("gce_instance", "aws_ec2_instance"):
        with pytest.raises(PrometheusQueryError, match="location is required"):
            build_query(query(metricName="m", resourceType=resource_type), PrometheusScope(scope="sg"))


def test_response_values_map_the_special_strings_and_drop_the_name_label() -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "errors", "pod": "a"},
                    "values": [[100, "1"], [160, "NaN"], [220, "+Inf"], [280, "-Inf"]],
                },
                {"metric": {"pod": "b"}, "values": [[100, "7"]]},
            ],
        },
    }
    first, second = convert_range_result(body, "errors", "q") or []
    assert first.tags == {"pod": "a"}
    assert first.values[0] == 1.0 and math.isnan(first.values[1]) and first.values[2:] == (math.inf, -math.inf)
    assert (first.start_time_millis, first.step_millis, first.end_time_millis) == (100_000, 60_000, 340_000)
    assert (second.step_millis, second.end_time_millis) == (0, 100_000)


def test_an_error_response_is_refused() -> None:
    with pytest.raises(PrometheusResponseError):
        convert_range_result({"status": "error", "error": "bad query"}, "m")


def test_an_empty_response_becomes_one_empty_set_over_the_requested_window() -> None:
    start = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    end = datetime(2024, 1, 1, 0, 4, tzinfo=UTC)
    body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    (empty,) = metric_sets_for_response(body, "m", "q", start=start, end=end, step_seconds=60)
    assert empty.values == () and empty.expected_data_points == 4 and empty.attributes == {"query": "q"}
    assert [math.isnan(v) for v in empty.padded()] == [True] * 4


def test_parse_value() -> None:
    assert parse_value("3.5") == 3.5 and parse_value(2) == 2.0 and parse_value("Inf") == math.inf
    assert math.isnan(parse_value(None)) and math.isnan(parse_value("NaN"))
    with pytest.raises(ValueError):
        parse_value(True)


def series(tags: dict[str, str], values: list[float], name: str = "m") -> MetricSet:
    return MetricSet(name, tags, 0, len(values) * 60_000, 60_000, tuple(values))


def test_series_pair_by_tags_and_a_missing_side_becomes_nans() -> None:
    control = [series({"pod": "a"}, [1.0, 2.0]), series({"pod": "b"}, [3.0, 4.0])]
    experiment = [series({"pod": "b"}, [5.0, 6.0]), series({"pod": "c"}, [7.0])]
    pairs = mix_metric_sets(control, experiment, new_id=iter(["1", "2", "3"]).__next__)
    assert [(p.id, dict(p.tags)) for p in pairs] == [("1", {"pod": "a"}), ("2", {"pod": "b"}), ("3", {"pod": "c"})]
    assert all(math.isnan(v) for v in pairs[0].experiment) and len(pairs[0].experiment) == 2
    assert pairs[1].control == (3.0, 4.0) and pairs[1].experiment == (5.0, 6.0)
    assert all(math.isnan(v) for v in pairs[2].control)
    assert pairs[2].experiment == (7.0,)  # the short series' own window is one point


def test_an_untagged_empty_side_pairs_every_tagged_series_with_nans() -> None:
    empty = MetricSet("m", {}, 0, 180_000, 60_000, ())
    experiment = [series({"pod": "a"}, [1.0, 2.0, 3.0]), series({"pod": "b"}, [4.0, 5.0, 6.0])]
    pairs = mix_metric_sets([empty], experiment)
    assert [dict(p.tags) for p in pairs] == [{"pod": "a"}, {"pod": "b"}]
    assert all(len(p.control) == 3 and all(math.isnan(v) for v in p.control) for p in pairs)


def test_different_label_names_cannot_be_paired() -> None:
    with pytest.raises(MetricSetMixError):
        mix_metric_sets([series({"pod": "a"}, [1.0])], [series({"instance": "a"}, [1.0])])


def test_metrics_are_paired_per_name() -> None:
    pairs = mix_metric_sets(
        [series({}, [1.0], "cpu"), series({}, [2.0], "mem")], [series({}, [3.0], "mem"), series({}, [4.0], "cpu")]
    )
    assert [(p.name, p.control, p.experiment) for p in pairs] == [("cpu", (1.0,), (4.0,)), ("mem", (2.0,), (3.0,))]


def test_pair_json_round_trip() -> None:
    (pair,) = mix_metric_sets([series({"pod": "a"}, [1.0, math.nan])], [series({"pod": "a"}, [2.0, 3.0])])
    data = pair.to_json()
    assert data["values"] == {"control": [1.0, "NaN"], "experiment": [2.0, 3.0]}
    assert data["scopes"]["control"] == {
        "startTimeMillis": 0,
        "startTimeIso": "1970-01-01T00:00:00.000Z",
        "stepMillis": 60_000,
    }
    again = MetricSetPair.from_json(data)
    assert again.experiment == pair.experiment and math.isnan(again.control[1]) and again.id == pair.id
