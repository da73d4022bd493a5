"""A scripted metrics source and a canary config for the canary stage tests (the real Prometheus is in
tests/prometheus_support.py): each run answers from a script of (run number, side, metric) to values."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from gennaker.canary.metric_sets import MetricSet
from gennaker.canary.metrics_source import MetricsSourceError

# (run number, side, metric) -> the metric's values; raising MetricsSourceError simulates a failing source.
Script = Callable[[int, str, str], list[float]]


def healthy(run: int, side: str, metric: str) -> list[float]:
    rng = random.Random(f"{run}{side}{metric}")
    return [rng.gauss(100, 5) for _ in range(60)]


def degraded_from(bad_run: int, metrics: tuple[str, ...] = ("latency", "errors")) -> Script:
    def values(run: int, side: str, metric: str) -> list[float]:
        shift = 60 if side == "experiment" and run >= bad_run and metric in metrics else 0
        return [v + shift for v in healthy(run, side, metric)]

    return values


class ScriptedSource:
    """Answers each run from a script; the run number comes from the run's experiment window end (minutes)."""

    def __init__(self, script: Script, permissions: Mapping[str, Any] | None = None):
        self.script = script
        self.permissions = permissions or {}
        self.fetched: list[Mapping[str, Any]] = []

    def account_permissions(self, name: str | None) -> tuple[str, Mapping[str, Any]]:
        if name not in (None, "prometheus"):
            raise MetricsSourceError(f"metrics account '{name}' is not configured (canary accounts: prometheus)", False)
        return "prometheus", self.permissions

    def fetch_run(
        self, account: str | None, config: Mapping[str, Any], scopes: Mapping[str, Any]
    ) -> tuple[list[MetricSet], list[MetricSet]]:
        self.fetched.append(scopes)
        run = len(self.fetched)
        sides = []
        for side in ("control", "experiment"):
            sides.append([self._metric_set(m["name"], self.script(run, side, m["name"])) for m in config["metrics"]])
        return sides[0], sides[1]

    @staticmethod
    def _metric_set(name: str, values: list[float]) -> MetricSet:
        return MetricSet(name, {}, 0, len(values) * 60_000, 60_000, tuple(values), {})


CONFIG = {
    "name": "checkout",
    "applications": ["demo"],
    "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
    "metrics": [
        {
            "name": "latency",
            "groups": ["latency"],
            "scopeName": "default",
            "query": {"type": "prometheus", "customInlineTemplate": 'PromQL:latency{pod=~"${scope}-.*"}'},
            "analysisConfigurations": {"canary": {"direction": "increase"}},
        },
        {
            "name": "errors",
            "groups": ["errors"],
            "scopeName": "default",
            "query": {"type": "prometheus", "customInlineTemplate": 'PromQL:errors{pod=~"${scope}-.*"}'},
            "analysisConfigurations": {"canary": {"direction": "increase", "mustHaveData": True}},
        },
    ],
    "classifier": {"groupWeights": {"latency": 50, "errors": 50}},
}
