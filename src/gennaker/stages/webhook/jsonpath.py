"""JsonPath reads as Orca makes them (Jayway JsonPath): a *definite* path (only names and single indexes)
gives its one value and fails when it is missing; any other path (wildcards, filters, slices, `..`, unions)
gives the list of what it matches, possibly empty. A path without `$` is read from the root.

Paths come from pipelines and are read on every status poll, so a compiled path is cached, and a filter's
`=~` regex runs on RE2 (as payload constraints do): no path can make a poll backtrack catastrophically."""

from __future__ import annotations

import functools
from typing import Any

import re2
from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse
from jsonpath_ng.ext.filter import Expression
from jsonpath_ng.jsonpath import Child, DatumInContext, Fields, Index, Root, This


class PathNotFound(LookupError):
    pass


class BadPath(ValueError):
    pass


class _Re2Match(Expression):
    """A filter's `=~` with a text regex, matched by RE2 instead of Python's backtracking `re`."""

    def find(self, datum: Any) -> list[DatumInContext]:
        found = self.target.find(DatumInContext.wrap(datum))
        return [d for d in found if isinstance(d.value, str) and re2.search(self.value, d.value) is not None]


def _use_re2(node: Any, path: str) -> None:
    """Turn every `=~` filter in the parsed path into `_Re2Match`; a regex RE2 refuses is a `BadPath`."""
    if isinstance(node, list):
        for item in node:
            _use_re2(item, path)
        return
    if not isinstance(node, JSONPath):
        return
    if isinstance(node, Expression) and node.op == "=~" and isinstance(node.value, str):
        try:
            re2.compile(node.value)
        except re2.error as error:
            raise BadPath(f"'{path}' holds a regular expression RE2 cannot run: {error}") from None
        node.__class__ = _Re2Match
    for child in vars(node).values():
        _use_re2(child, path)


@functools.lru_cache(maxsize=256)
def compile_path(path: str) -> JSONPath:
    text = path.strip()
    if not text.startswith(("$", "@")):
        text = "$" + text if text.startswith("[") else "$." + text
    try:
        compiled = parse(text)
    except Exception as error:  # jsonpath-ng raises several exception types for malformed paths
        raise BadPath(f"'{path}' is not a valid JsonPath: {error}") from None
    _use_re2(compiled, path)
    return compiled


def is_definite(node: JSONPath) -> bool:
    if isinstance(node, Root | This):
        return True
    if isinstance(node, Child):
        return is_definite(node.left) and is_definite(node.right)
    if isinstance(node, Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if isinstance(node, Index):
        return len(node.indices) == 1
    return False


def read_path(document: Any, path: str) -> Any:
    """The value at `path` in `document` (see the module doc); `PathNotFound` for a missing definite path."""
    compiled = compile_path(path)
    if isinstance(document, str | bytes):
        raise PathNotFound(f"'{path}': the response body is not JSON")
    matches = [m.value for m in compiled.find(document)]
    if is_definite(compiled):
        if not matches:
            raise PathNotFound(f"'{path}' not found")
        return matches[0]
    return matches
