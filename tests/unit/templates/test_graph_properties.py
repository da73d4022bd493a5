"""Whatever stages a template and a config hold, the rendered graph is a valid pipeline or a TemplateError."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gennaker.model.pipeline_templates import TemplateError, stage_graph

REF_IDS = st.sampled_from(list("abcdefg"))
RULES = st.one_of(
    st.none(),
    st.fixed_dictionaries({"first": st.booleans()}),
    st.fixed_dictionaries({"last": st.booleans()}),
    st.fixed_dictionaries({"before": st.lists(REF_IDS, max_size=3)}),
    st.fixed_dictionaries({"after": st.lists(REF_IDS, max_size=3)}),
    st.fixed_dictionaries({"after": st.lists(REF_IDS, max_size=2), "before": st.lists(REF_IDS, max_size=2)}),
)
STAGES = st.builds(
    lambda ref_id, requisites, rule: {
        "refId": ref_id,
        "type": "wait",
        "requisiteStageRefIds": requisites,
        **({"inject": rule} if rule else {}),
    },
    REF_IDS,
    st.lists(REF_IDS, max_size=2),
    RULES,
)


@settings(max_examples=500, deadline=None)
@given(st.lists(STAGES, max_size=6, unique_by=lambda s: s["refId"]), st.lists(STAGES, max_size=3))
def test_rendered_graphs_are_valid_and_in_dependency_order(
    template_stages: list[dict[str, Any]], config_stages: list[dict[str, Any]]
) -> None:
    try:
        rendered = stage_graph(template_stages, config_stages)
    except TemplateError:
        return
    ref_ids = [s["refId"] for s in rendered]
    assert len(ref_ids) == len(set(ref_ids))
    placed: set[str] = set()
    for stage in rendered:  # every requisite exists and comes earlier: no cycles, nothing dangling
        assert set(stage["requisiteStageRefIds"]) <= placed
        assert "inject" not in stage
        placed.add(stage["refId"])
