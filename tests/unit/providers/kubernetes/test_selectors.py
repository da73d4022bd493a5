"""Spinnaker's label selector objects, matched against labels and turned into list queries."""

from __future__ import annotations

import pytest

from gennaker.providers.kubernetes.selectors import SelectorError, label_query, matches


def selectors(*items: tuple[str, str, list[str]]) -> dict[str, list[dict[str, object]]]:
    return {"selectors": [{"key": k, "kind": kind, "values": v} for k, kind, v in items]}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (selectors(("tier", "EQUALS", ["web"])), True),
        (selectors(("tier", "NOT_EQUALS", ["web"])), False),
        (selectors(("tier", "CONTAINS", ["db", "web"])), True),
        (selectors(("tier", "NOT_CONTAINS", ["db"])), True),
        (selectors(("tier", "EXISTS", [])), True),
        (selectors(("legacy", "NOT_EXISTS", [])), True),
        (selectors(("tier", "EQUALS", ["web"]), ("legacy", "EXISTS", [])), False),
    ],
)
def test_matching(selector: dict[str, list[dict[str, object]]], expected: bool) -> None:
    assert matches(selector, {"tier": "web", "app": "shop"}) is expected


def test_queries_and_errors_name_the_problem() -> None:
    query = label_query(selectors(("tier", "EQUALS", ["web"]), ("legacy", "NOT_EXISTS", [])))
    assert query["tier"] == "web" and "legacy" in query
    with pytest.raises(SelectorError, match="EQUALS on 'tier' needs exactly one value"):
        label_query(selectors(("tier", "EQUALS", ["a", "b"])))
    with pytest.raises(SelectorError, match="unsupported selector kind 'LIKE'"):
        label_query(selectors(("tier", "LIKE", ["a"])))
    with pytest.raises(SelectorError, match="at least one selector"):
        label_query({"selectors": []})
