"""JSON and YAML read by expressions (`#readJson`, `#readYaml`, `#readAllYaml`, `#jsonFromUrl`, `#yamlFromUrl`).

YAML aliases let a few hundred bytes stand for a structure of billions of nodes ("billion laughs"). PyYAML
builds such a document cheaply out of shared references, but anything that renders or copies it walks every
node, and merge keys (`<<: *a`) copy while the document is still being built. So a document is capped in
length, composed with the evaluation's clock checked and its depth bounded at every node, and measured with
every alias expanded before any Python value is built from it. Only the pure-Python loader is used: libyaml
crashes the process on deeply nested input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from gennaker.expressions.compiler import Deadline
from gennaker.expressions.javalike import ExpressionError, Measure, weigh
from gennaker.expressions.limits import MAX_DEPTH, MAX_TEXT


def read_json(text: str, source: str) -> Any:
    _fits(text, source)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"{source} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ExpressionError(f"{source} nests deeper than {MAX_DEPTH} levels") from None
    weigh(parsed, f"{source} (JSON)")
    return parsed


def read_yaml(text: str, source: str, deadline: Deadline) -> list[Any]:
    """Every document of a YAML stream, as plain data (the safe loader: no tags, no objects)."""
    _fits(text, source)
    loader = _BoundedLoader(text, deadline, source)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    except yaml.YAMLError as exc:
        raise ExpressionError(
            f"{source} is not valid YAML (only plain data is allowed): {str(exc).splitlines()[0]}"
        ) from None
    finally:
        loader.dispose()


def _fits(text: str, source: str) -> None:
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"{source} is longer than {MAX_TEXT} characters")


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded in time and depth while composing and in expanded size before building."""

    def __init__(self, text: str, deadline: Deadline, source: str):
        super().__init__(text)
        self.deadline, self.source, self.depth = deadline, source, 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.deadline.check()
        if self.depth >= MAX_DEPTH:  # composing recurses: fail before Python's stack does
            raise ExpressionError(f"{self.source} nests deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_document(self, node: Node) -> Any:
        Measure(_node_parts, _node_size, f"{self.source} (YAML, aliases expanded)").size(node)
        return super().construct_document(node)


def _node_parts(node: Node) -> Iterable[Node] | None:
    if isinstance(node, SequenceNode):
        return iter(node.value)
    if isinstance(node, MappingNode):
        return (part for pair in node.value for part in pair)
    return None


def _node_size(node: Node) -> int:
    return len(node.value)
