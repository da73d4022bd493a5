"""The layered layout: columns by depth, as Deck draws pipelines."""

from gennaker.ui.graph import COLUMN_GAP, MARGIN, NODE_WIDTH, depths, layout

STAGES = [
    {"refId": "1", "type": "wait", "name": "Start"},
    {"refId": "2", "type": "wait", "requisiteStageRefIds": ["1"]},
    {"refId": "3", "type": "wait", "requisiteStageRefIds": ["1"]},
    {"refId": "4", "type": "wait", "requisiteStageRefIds": ["3"]},
    {"refId": "5", "type": "wait", "name": "Join", "requisiteStageRefIds": ["2", "4"]},
    {"refId": "1<1", "type": "wait", "parentStageId": "x"},
]


def test_depth_is_the_longest_path_so_a_join_follows_its_longest_branch() -> None:
    assert depths(STAGES[:5]) == {"1": 0, "2": 1, "3": 1, "4": 2, "5": 3}


def test_columns_rows_edges_and_size() -> None:
    graph = layout(STAGES)
    by_ref = {n.ref_id: n for n in graph.nodes}
    assert set(by_ref) == {"1", "2", "3", "4", "5"}  # synthetic stages are not drawn
    assert by_ref["5"].x == MARGIN + 3 * (NODE_WIDTH + COLUMN_GAP)
    assert by_ref["2"].x == by_ref["3"].x and by_ref["2"].y < by_ref["3"].y
    assert len(graph.edges) == 5
    assert all(e.x1 < e.x2 for e in graph.edges)
    assert graph.width == 2 * MARGIN + 4 * NODE_WIDTH + 3 * COLUMN_GAP


def test_cycles_and_dangling_requisites_do_not_hang() -> None:
    looped = [
        {"refId": "a", "type": "wait", "requisiteStageRefIds": ["b"]},
        {"refId": "b", "type": "wait", "requisiteStageRefIds": ["a", "gone"]},
    ]
    assert {n.ref_id for n in layout(looped).nodes} == {"a", "b"}
