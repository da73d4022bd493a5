"""Pipeline graphs laid out in layers, as Deck draws them: one column per depth, stages stacked in it.

Depth is the longest path from an initial stage, so a join sits right of every branch that feeds it.
The result is plain geometry the template turns into SVG.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NODE_WIDTH = 150
NODE_HEIGHT = 44
COLUMN_GAP = 60
ROW_GAP = 18
MARGIN = 12


@dataclass(frozen=True)
class Node:
    ref_id: str
    name: str
    type: str
    status: str
    stage_id: str | None
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def path(self) -> str:
        """A horizontal S-curve from the right edge of one node to the left edge of the next."""
        middle = (self.x1 + self.x2) // 2
        return f"M{self.x1},{self.y1} C{middle},{self.y1} {middle},{self.y2} {self.x2},{self.y2}"


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def depths(stages: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Longest distance from an initial stage for each refId (a cycle never loops: it is cut)."""
    requisites = {str(s["refId"]): [str(r) for r in s.get("requisiteStageRefIds") or []] for s in stages}
    memo: dict[str, int] = {}

    def depth(ref: str, visiting: frozenset[str]) -> int:
        if ref in memo:
            return memo[ref]
        parents = [p for p in requisites.get(ref, []) if p in requisites and p not in visiting]
        memo[ref] = 1 + max((depth(p, visiting | {ref}) for p in parents), default=-1)
        return memo[ref]

    return {ref: depth(ref, frozenset()) for ref in requisites}


def layout(stages: list[dict[str, Any]]) -> Graph:
    """Lay out top-level stages (config or execution stages; synthetic ones are left out)."""
    top = [s for s in stages if not s.get("parentStageId")]
    depth_of = depths(top)
    by_depth: dict[int, list[dict[str, Any]]] = {}
    for stage in top:
        by_depth.setdefault(depth_of[str(stage["refId"])], []).append(stage)
    nodes: dict[str, Node] = {}
    for column, members in sorted(by_depth.items()):
        for row, stage in enumerate(members):
            nodes[str(stage["refId"])] = Node(
                ref_id=str(stage["refId"]),
                name=str(stage.get("name") or stage["type"]),
                type=str(stage["type"]),
                status=str(stage.get("status") or "NOT_STARTED"),
                stage_id=stage.get("id"),
                x=MARGIN + column * (NODE_WIDTH + COLUMN_GAP),
                y=MARGIN + row * (NODE_HEIGHT + ROW_GAP),
            )
    edges = [
        Edge(
            nodes[parent].x + NODE_WIDTH,
            nodes[parent].y + NODE_HEIGHT // 2,
            node.x,
            node.y + NODE_HEIGHT // 2,
        )
        for stage in top
        for node in [nodes[str(stage["refId"])]]
        for parent in (str(r) for r in stage.get("requisiteStageRefIds") or [])
        if parent in nodes
    ]
    columns = max(by_depth, default=-1) + 1
    rows = max((len(m) for m in by_depth.values()), default=0)
    width = 2 * MARGIN + columns * NODE_WIDTH + max(0, columns - 1) * COLUMN_GAP
    height = 2 * MARGIN + rows * NODE_HEIGHT + max(0, rows - 1) * ROW_GAP
    return Graph(list(nodes.values()), edges, width, height)
