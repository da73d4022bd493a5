"""Property-based API checks with schemathesis: no input produces a 5xx or a response outside the schema.

Streams (`…/events`) are left out: they stay open by design. The check that every schema-valid request
is accepted is left out too: pipeline configs are also checked for rules a JSON schema cannot state
(known stage types, existing requisite refIds, no cycles), and refusing those with a 400 is intended.
The app is built when the module is imported because schemathesis parametrizes from its schema.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gennaker.api.app import create_app
from gennaker.api.deps import Security
from gennaker.runtime import Runtime
from tests.api_support import as_user, by_header, by_role
from tests.support import make_runtime

ADMIN = as_user("admin")


def seeded_runtime() -> Runtime:
    """A runtime on a new database holding one application and pipeline."""
    fresh = make_runtime(Path(tempfile.mkdtemp(prefix="gennaker-schemathesis-")))
    fresh.save_pipeline({"application": "shop", "name": "release", "stages": [{"refId": "1", "type": "wait"}]}, "t")
    return fresh


runtime = seeded_runtime()
app = create_app(runtime, Security(authenticate=by_header, application_allows=by_role))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=r"/events$")


@pytest.fixture(scope="module", autouse=True)
def _close_runtime() -> Iterator[None]:
    yield
    runtime.close()


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=ADMIN, excluded_checks=[positive_data_acceptance])


class LinkedCalls(schema.as_state_machine()):  # type: ignore[misc]
    """Stateful runs: follow the OpenAPI links (trigger → get/cancel/pause/resume, task → get).

    Every run starts from the same seeded database: links are inferred from responses, and what an earlier
    run left behind would change which calls can follow which (Hypothesis then reports a flaky strategy).
    """

    def setup(self) -> None:
        self.runtime = seeded_runtime()
        app.state.runtime = self.runtime

    def teardown(self) -> None:
        app.state.runtime = runtime
        self.runtime.close()

    def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
        return {"headers": ADMIN}

    def validate_response(self, response: object, case: schemathesis.Case, **kwargs: object) -> None:
        case.validate_response(response, excluded_checks=[positive_data_acceptance])


TestLinkedCalls = LinkedCalls.TestCase
TestLinkedCalls.settings = settings(
    max_examples=30, deadline=None, stateful_step_count=6, suppress_health_check=list(HealthCheck)
)
TestLinkedCalls = pytest.mark.slow(TestLinkedCalls)
