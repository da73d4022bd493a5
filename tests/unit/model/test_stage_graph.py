"""Graph lookups over an execution's stages keep the stage list's order, whatever order requisites are named
in: artifact lookups take the first upstream stage that bound one, so the order must be the same in every
process (not a set's, which changes with the hash seed)."""

from __future__ import annotations

from gennaker.model.execution import Execution, Stage


def test_upstream_stages_come_in_the_order_of_the_stage_list() -> None:
    refs = [f"deploy-{name}" for name in ("eu", "us", "ap", "sa", "af", "me", "au", "ca")]
    stages = [Stage(id=f"s{index}", ref_id=ref, type="wait", name=ref) for index, ref in enumerate(refs)]
    join = Stage(id="join", ref_id="join", type="wait", name="join", requisite_stage_ref_ids=list(reversed(refs)))
    execution = Execution(id="e", application="demo", name="p", stages=[*stages, join])
    assert [s.ref_id for s in execution.upstream(join)] == refs
    assert [s.ref_id for s in execution.downstream(stages[0])] == ["join"]
