"""JsonPath reads as Orca makes them (Jayway JsonPath): a *definite* path (only names and single indexes)
gives its one value and fails when it is missing; any other path (wildcards, filters, slices, `..`, unions)
gives the list of what it matches, possibly empty. A path without `$` is read from the root."""

from __future__ import annotations

from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.ext import parse
from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This


class PathNotFound(LookupError):
    pass


class BadPath(ValueError):
    pass


def compile_path(path: str) -> JSONPath:
    text = path.strip()
    if not text.startswith(("$", "@")):
        text = "$" + text if text.startswith("[") else "$." + text
    try:
        return parse(text)
    except Exception as error:  # jsonpath-ng raises several exception types for malformed paths
        raise BadPath(f"'{path}' is not a valid JsonPath: {error}") from None


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
