"""What the canary stages reach outside the engine: stored canary configs and judgments, and metrics.

The `runCanary` task runs outside the engine's transaction (it waits on Prometheus), so it reads the config and
stores its judgment through the database itself; everything else it needs comes through `MetricsSource`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gennaker.canary.metric_sets import MetricSet
from gennaker.store.canary import CanaryStore
from gennaker.store.database import Database

# Whether a user passes a configured resource's READ/WRITE permissions (None: permissions are not enforced).
AccountCheck = Callable[[str | None, Mapping[str, Any], str], bool]


class MetricsSource(Protocol):
    """The metrics accounts a canary run may use and how a run's series are fetched."""

    def account_permissions(self, name: str | None) -> tuple[str, Mapping[str, Any]]:
        """The account's name (the default one for None) and its permissions; MetricsSourceError if unknown."""
        ...

    def fetch_run(
        self, account: str | None, config: Mapping[str, Any], scopes: Mapping[str, Any]
    ) -> tuple[list[MetricSet], list[MetricSet]]:
        """Every metric of the config over the run's scopes, as (control, experiment) metric sets; a failure is a
        MetricsSourceError that says whether trying again later may help."""
        ...


@dataclass(slots=True)
class CanaryAccess:
    db: Database
    store: CanaryStore
    metrics: MetricsSource
    account_check: AccountCheck | None = None
    # How long a run keeps retrying a metrics source that is down before the interval fails, and how often.
    retry_limit_ms: int = 5 * 60 * 1000
    retry_backoff_ms: int = 5_000

    def config(self, config_id: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return self.store.get_config(conn, config_id)

    def save_judgment(self, judgment: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            self.store.save_judgment(conn, judgment)

    def allows(self, user: str | None, permissions: Mapping[str, Any], permission: str) -> bool:
        return self.account_check is None or self.account_check(user, permissions, permission)
