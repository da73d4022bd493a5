"""Matching executions for Gate's execution search (gate.md §1.5, `/applications/{app}/executions/search`).

A partial trigger matches an execution's trigger when every value in it matches: strings equal the
execution's (ignoring case) or match it as a whole regular expression; maps match as subsets; lists need,
for each element asked for, a distinct element that matches it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import re2


def trigger_matches(wanted: Any, actual: Any) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and trigger_matches(value, actual[key]) for key, value in wanted.items()
        )
    if isinstance(wanted, Sequence) and not isinstance(wanted, str):
        if not isinstance(actual, Sequence) or isinstance(actual, str):
            return False
        return _distinct_matches(list(wanted), list(actual))
    if isinstance(wanted, str):
        return isinstance(actual, str) and (wanted.lower() == actual.lower() or _full_match(wanted, actual))
    return bool(wanted == actual)


def _full_match(pattern: str, text: str) -> bool:
    try:
        return re2.fullmatch(pattern, text) is not None
    except re2.error:
        return False


def _distinct_matches(wanted: list[Any], actual: list[Any]) -> bool:
    """Each wanted element matched by a different actual element (a small bipartite matching)."""
    assigned: dict[int, int] = {}

    def place(index: int, seen: set[int]) -> bool:
        for candidate, value in enumerate(actual):
            if candidate in seen or not trigger_matches(wanted[index], value):
                continue
            seen.add(candidate)
            if candidate not in assigned or place(assigned[candidate], seen):
                assigned[candidate] = index
                return True
        return False

    return all(place(index, set()) for index in range(len(wanted)))
