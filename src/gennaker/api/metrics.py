"""Prometheus metrics: executions by status, stage durations, queue depth and age, handler latency.

Gauges are read from the database when scraped (so every process reports the shared truth); the handler
latency histogram is fed by this process's workers.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gennaker.runtime import Runtime


class EngineCollector(Collector):
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self.runtime.service.system.engine_figures()
        executions = GaugeMetricFamily("gennaker_executions", "Stored executions by status", labels=["status"])
        for status, count in sorted(figures.executions_by_status.items()):
            executions.add_metric([status], count)
        yield executions
        yield GaugeMetricFamily("gennaker_queue_depth", "Messages in the engine queue", value=figures.queue_depth)
        yield GaugeMetricFamily("gennaker_queue_due", "Messages due now", value=figures.queue_due)
        yield GaugeMetricFamily(
            "gennaker_queue_oldest_due_age_seconds",
            "Age of the oldest due message",
            value=figures.oldest_due_age_ms / 1000,
        )


class Metrics:
    def __init__(self, runtime: Runtime):
        self.registry = CollectorRegistry()
        self.registry.register(EngineCollector(runtime))
        self.handler_seconds = Histogram(
            "gennaker_handler_batch_seconds", "Time to handle one batch of engine messages", registry=self.registry
        )
        self.stage_seconds = Histogram(
            "gennaker_stage_duration_seconds",
            "Durations of completed stages",
            ["type", "status"],
            registry=self.registry,
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600),
        )
        runtime.on_batch_handled = self.handler_seconds.observe
        runtime.on_stage_complete = lambda kind, status, seconds: self.stage_seconds.labels(kind, status).observe(
            seconds
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
