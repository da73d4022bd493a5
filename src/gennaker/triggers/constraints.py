"""Payload constraints (gate.md §3.5): every key must match its regex somewhere in the payload.

A key is a top-level payload key or, failing that, a JsonPath. Matching is "find" (unanchored), as Java's
`Pattern.asPredicate()`. Regexes run on RE2, so no constraint can backtrack catastrophically; an invalid
regex never matches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import re2
from jsonpath_ng.ext import parse as parse_jsonpath

log = logging.getLogger(__name__)


def _finds(pattern: str, value: Any) -> bool:
    try:
        return re2.search(pattern, value if isinstance(value, str) else _java_text(value)) is not None
    except re2.error:
        log.info("invalid payload constraint regex %r never matches", pattern)
        return False


def _java_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _jsonpath_values(path: str, payload: Mapping[str, Any]) -> list[Any] | None:
    expression = path if path.startswith("$") else f"$.{path}"
    try:
        found = [m.value for m in parse_jsonpath(expression).find(payload)]
    except Exception:  # jsonpath-ng raises several exception types for malformed paths
        return None
    if len(found) == 1 and isinstance(found[0], list):
        return found[0]
    return found or None


def constraint_holds(key: str, pattern: Any, payload: Mapping[str, Any]) -> bool:
    if key in payload and payload[key] is not None:
        return pattern is None or _finds(str(pattern), payload[key])
    if pattern is None:
        return False
    values = _jsonpath_values(key, payload)
    if not values:
        return False
    return any(isinstance(v, str) and _finds(str(pattern), v) for v in values)


def constraints_hold(constraints: Mapping[str, Any] | None, payload: Mapping[str, Any]) -> bool:
    return all(constraint_holds(key, pattern, payload) for key, pattern in (constraints or {}).items())
