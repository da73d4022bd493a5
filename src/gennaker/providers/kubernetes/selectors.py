"""Spinnaker's label selectors (`{selectors: [{key, kind, values}]}`, kinds EQUALS, NOT_EQUALS, CONTAINS,
NOT_CONTAINS, EXISTS, NOT_EXISTS): as a query for listing objects, and matched against a manifest's labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import operators


class SelectorError(ValueError):
    pass


def label_query(label_selectors: Mapping[str, Any]) -> dict[str, Any]:
    """The selectors in lightkube's form (`{key: value | operator}`), for listing objects by label."""
    query: dict[str, Any] = {}
    for selector in label_selectors.get("selectors") or []:
        key, kind, values = selector.get("key"), selector.get("kind"), [str(v) for v in selector.get("values") or []]
        if not key:
            raise SelectorError("labelSelectors: every selector needs a key")
        if kind in ("EQUALS", "NOT_EQUALS") and len(values) != 1:
            raise SelectorError(f"labelSelectors: {kind} on '{key}' needs exactly one value")
        query[str(key)] = _operator(str(key), str(kind), values)
    if not query:
        raise SelectorError("labelSelectors: at least one selector is required")
    return query


def _operator(key: str, kind: str, values: list[str]) -> Any:
    if kind == "EQUALS":
        return values[0]
    if kind == "NOT_EQUALS":
        return operators.not_equal(values[0])
    if kind == "CONTAINS":
        return operators.in_(values)
    if kind == "NOT_CONTAINS":
        return operators.not_in(values)
    if kind == "EXISTS":
        return operators.exists()
    if kind == "NOT_EXISTS":
        return operators.not_exists()
    raise SelectorError(f"labelSelectors: unsupported selector kind '{kind}' on '{key}'")


def matches(label_selectors: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether labels satisfy every selector (what `kubectl apply -l` keeps)."""
    for selector in label_selectors.get("selectors") or []:
        key, kind, values = selector.get("key"), selector.get("kind"), [str(v) for v in selector.get("values") or []]
        value = labels.get(str(key))
        satisfied = {
            "EQUALS": value is not None and value in values[:1],
            "NOT_EQUALS": value not in values[:1],
            "CONTAINS": value in values,
            "NOT_CONTAINS": value not in values,
            "EXISTS": value is not None,
            "NOT_EXISTS": value is None,
        }.get(str(kind))
        if satisfied is None:
            raise SelectorError(f"labelSelectors: unsupported selector kind '{kind}'")
        if not satisfied:
            return False
    return True
