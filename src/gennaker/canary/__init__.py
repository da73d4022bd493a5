"""Automated canary analysis compatible with Kayenta (spec/kayenta.md): the NetflixACAJudge-v1.0 judge, the
Prometheus query builder and response conversion, the pairing of metric sets, and the kayentaCanary stage's
interval plan and score rules. These modules are pure (no I/O); `accounts`, `prometheus_client` and
`metrics_source` read the metrics accounts and fetch from them, and the stages live in `gennaker.stages.canary`.

Modules: `mannwhitney` (R-equivalent confidence interval and estimate), `stats` (percentiles, summaries, effect
sizes), `transforms` (NaN handling, outlier detectors), `classifier` (per-metric labels), `scoring` (group weights,
summary score), `judge` (the whole judgement), `metric_sets` (pairing), `prometheus_query`, `prometheus_response`,
`intervals` (stage plan, interval gate, final verdict), `config` (checks on save).
"""

from gennaker.canary.classifier import CanaryConfigError, Classification, MetricAnalysis
from gennaker.canary.config import validate_canary_config
from gennaker.canary.intervals import aggregate_final_score, interval_status, plan_intervals
from gennaker.canary.judge import JUDGE_NAME, judge
from gennaker.canary.metric_sets import MetricSet, MetricSetPair, mix_metric_sets
from gennaker.canary.prometheus_query import PrometheusQueryConfig, PrometheusScope, build_query
from gennaker.canary.prometheus_response import convert_range_result

__all__ = [
    "JUDGE_NAME",
    "CanaryConfigError",
    "Classification",
    "MetricAnalysis",
    "MetricSet",
    "MetricSetPair",
    "PrometheusQueryConfig",
    "PrometheusScope",
    "aggregate_final_score",
    "build_query",
    "convert_range_result",
    "interval_status",
    "judge",
    "mix_metric_sets",
    "plan_intervals",
    "validate_canary_config",
]
