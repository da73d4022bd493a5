"""Fixtures for the canary tests against a real Prometheus: a healthy baseline and a degraded canary of a
"checkout" service, each scraped every second with its own `pod` and `zone` labels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.prometheus_support import MetricsService, Prometheus, available

BASELINE_POD = "checkout-baseline-abcd"
CANARY_POD = "checkout-canary-wxyz"
ZONE = "https://www.googleapis.com/compute/v1/projects/demo/zones/us-central1-b"  # as GCE instance metrics carry it
WARM_UP_SCRAPES = 8  # enough points for windows of a few seconds at a 1 s step

StartPrometheus = Callable[[int], Prometheus]


@pytest.fixture(scope="module")
def baseline_service() -> Iterator[MetricsService]:
    if not available():
        pytest.skip("the prometheus binary is not installed (make system-packages)")
    with MetricsService("healthy", seed=1) as service:
        yield service


@pytest.fixture(scope="module")
def canary_service() -> Iterator[MetricsService]:
    with MetricsService("degraded", seed=2) as service:
        yield service


@pytest.fixture(scope="module")
def start_prometheus(
    tmp_path_factory: pytest.TempPathFactory, baseline_service: MetricsService, canary_service: MetricsService
) -> Iterator[StartPrometheus]:
    """Starts Prometheus instances scraping the two services; every one started is stopped at the end."""
    started: list[Prometheus] = []

    def start(scrapes: int) -> Prometheus:
        """A Prometheus that has scraped both services `scrapes` times."""
        directory: Path = tmp_path_factory.mktemp("prometheus")
        targets = {
            "baseline": ({"pod": BASELINE_POD, "zone": ZONE}, baseline_service),
            "canary": ({"pod": CANARY_POD, "zone": ZONE}, canary_service),
        }
        prometheus = Prometheus(directory, targets)
        started.append(prometheus)
        prometheus.start()
        prometheus.wait_for_samples(scrapes)
        return prometheus

    yield start
    for prometheus in started:
        prometheus.stop()


@pytest.fixture(scope="module")
def prometheus(start_prometheus: StartPrometheus) -> Prometheus:
    """One Prometheus shared by the module's tests (which must not stop it)."""
    return start_prometheus(WARM_UP_SCRAPES)
