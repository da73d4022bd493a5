"""`validate_canary_config` answers problems, never an exception, for any JSON a client can send: the service
checks the top-level types first, but the core must not depend on it (a crash would be a 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gennaker.canary.config import validate_canary_config

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "x", "prometheus", "PromQL:up", "increase", "remove", "cles", "${scope}"])
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
)
# The keys the validator reads, each holding any JSON, so the search reaches every branch.
KEYS = [
    "name", "scopeName", "query", "type", "serviceType", "metricName", "customInlineTemplate",
    "customFilterTemplate", "customFilter", "resourceType", "analysisConfigurations", "canary", "direction",
    "effectSize", "outliers", "critical", "mustHaveData", "groups",
]  # fmt: skip


def shaped(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaf, lambda inner: st.dictionaries(st.sampled_from(KEYS), inner, max_size=5), max_leaves=12)


CONFIGS = st.fixed_dictionaries(
    {},
    optional={
        "name": JSON,
        "templates": JSON,
        "metrics": st.lists(shaped(JSON), max_size=3) | JSON,
        "classifier": st.fixed_dictionaries({}, optional={"scoreThresholds": JSON, "groupWeights": JSON}) | JSON,
    },
)


@settings(max_examples=400, deadline=None)
@given(CONFIGS)
def test_any_json_gets_problems_not_an_exception(config: dict[str, Any]) -> None:
    problems = validate_canary_config(config)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)


def test_wrongly_typed_fields_are_named() -> None:
    problems = validate_canary_config(
        {
            "name": "c",
            "metrics": [
                {
                    "name": "m",
                    "scopeName": "default",
                    "query": {"type": "prometheus", "customInlineTemplate": "PromQL:up"},
                    "analysisConfigurations": {"canary": {"effectSize": "big"}},
                }
            ],
            "classifier": {"scoreThresholds": ["pass", 75]},
        }
    )
    assert problems == [
        "metric 'm': effectSize must be an object, not 'big'",
        "classifier.scoreThresholds must be an object with pass and marginal",
    ]
