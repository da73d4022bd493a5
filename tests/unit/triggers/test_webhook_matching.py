"""Echo's webhook matching (gate.md §3.3, §3.5)."""

from __future__ import annotations

import pytest

from gennaker.triggers.constraints import constraints_hold
from gennaker.triggers.webhook import match_webhook

PAYLOAD = {
    "branch": "not-main",
    "count": 3,
    "flag": True,
    "repository": {"name": "shop", "tags": ["v1", "v2"]},
    "commits": [{"author": "ana"}, {"author": "bo"}],
    "parameters": {"env": "prod"},
    "artifacts": [{"type": "docker/image", "name": "shop"}],
}


@pytest.mark.parametrize(
    ("constraints", "holds"),
    [
        ({"branch": "main"}, True),  # find, not full match
        ({"branch": "^main$"}, False),
        ({"branch": "b.*p"}, False),
        ({"count": "^3$"}, True),
        ({"flag": "true"}, True),
        ({"repository.name": "^shop$"}, True),  # JsonPath fallback
        ({"$.repository.tags": "v2"}, True),  # a list of strings: any element
        ({"commits[*].author": "^bo$"}, True),
        ({"repository.missing": ".*"}, False),
        ({"branch": "("}, False),  # an invalid regex never matches
        ({"branch": None}, True),  # null pattern: the key must exist
        ({"nothere": None}, False),
        ({"branch": "main", "count": "4"}, False),  # all must hold
        ({}, True),
    ],
)
def test_constraints(constraints: dict, holds: bool) -> None:
    assert constraints_hold(constraints, PAYLOAD) is holds


def test_find_semantics_of_the_spec_example() -> None:
    assert constraints_hold({"value": "b.*p"}, {"value": "boooop"})


def test_match_enriches_the_trigger_and_skips_disabled() -> None:
    configs = [
        {"name": "a", "triggers": [{"type": "webhook", "source": "ci", "payloadConstraints": {"branch": "main"}}]},
        {"name": "b", "triggers": [{"type": "webhook", "source": "other"}]},
        {"name": "c", "disabled": True, "triggers": [{"type": "webhook", "source": "ci"}]},
        {"name": "d", "triggers": [{"type": "webhook", "source": "ci", "enabled": False}]},
        {"name": "e", "triggers": [{"type": "webhook", "source": "ci", "payloadConstraints": {"branch": "^x"}}]},
    ]
    matches = list(match_webhook(configs, "ci", PAYLOAD))
    assert [m.config["name"] for m in matches] == ["a"]
    trigger = matches[0].trigger
    assert trigger["parameters"] == {"env": "prod"} and trigger["payload"] is PAYLOAD
    assert trigger["artifacts"] == PAYLOAD["artifacts"] and trigger["eventId"]
