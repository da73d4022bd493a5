"""Executions through the service: READ to see one (else "not found"), EXECUTE to act on one, the engine's
refusals as conflicts, and lists that leave out what the caller may not read."""

from __future__ import annotations

import pytest

from gennaker.runtime import Runtime
from gennaker.service import executions
from gennaker.service.errors import Conflict, Forbidden, Invalid, NotFound
from gennaker.service.wiring import Services
from tests.support import wait_for, wait_status


@pytest.fixture
def waiting(rt: Runtime, service: Services) -> str:
    """An execution of `shop/release` waiting at its manual judgment."""
    rt.start_workers(1)
    execution_id = service.pipelines.start("shop", "release", {}, "dev")
    wait_for(lambda: service.executions.get(execution_id, "dev")["stages"][0]["status"] == "RUNNING")
    return execution_id


def test_reading_needs_read(service: Services, waiting: str) -> None:
    assert service.executions.get(waiting, "viewer")["id"] == waiting
    with pytest.raises(NotFound, match="application 'shop' not found"):
        service.executions.get(waiting, "outsider")
    with pytest.raises(NotFound, match="execution nope not found"):
        service.executions.get("nope", "admin")
    assert [e["id"] for e in service.executions.by_ids("viewer", execution_ids=[waiting])] == [waiting]
    assert service.executions.by_ids("outsider", execution_ids=[waiting]) == []


def test_acting_needs_execute_and_a_state_that_allows_it(rt: Runtime, service: Services, waiting: str) -> None:
    with pytest.raises(Forbidden, match="viewer lacks EXECUTE"):
        service.executions.cancel(waiting, "viewer")
    with pytest.raises(Conflict, match="only a PAUSED execution can be resumed"):
        service.executions.resume(waiting, "dev")
    with pytest.raises(Invalid) as invalid:
        service.executions.patch_stage(waiting, "1", {"judgmentStatus": "maybe"}, "dev")
    assert invalid.value.details() == [{"field": "judgmentStatus", "problem": "must be 'continue' or 'stop'"}]
    with pytest.raises(NotFound):
        service.executions.restart_stage(waiting, "no-such-stage", "dev")
    service.executions.judge(waiting, "Approve", "continue", "ship", "dev")
    done = wait_status(rt, waiting, "SUCCEEDED")
    assert done["stages"][0]["context"]["lastModifiedBy"] == "dev"
    with pytest.raises(Conflict, match="already SUCCEEDED"):
        service.executions.cancel(waiting, "dev")


def test_judgments_waiting_and_the_application_page(service: Services, waiting: str) -> None:
    assert service.executions.waiting_judgments(["shop"], "dev") == {"shop": 1}
    assert service.executions.waiting_judgments(["shop"], "outsider") == {}
    [(config, executions)] = service.executions.recent_by_pipeline("shop", "viewer", 10)
    assert config["name"] == "release" and [e["id"] for e in executions] == [waiting]
    detail = service.executions.detail(waiting, "viewer")
    assert detail.execution["id"] == waiting and not detail.can_execute
    assert service.executions.detail(waiting, "dev").can_execute


def test_expressions_are_evaluated_against_a_readable_execution(service: Services, waiting: str) -> None:
    assert service.executions.evaluate(waiting, None, "trigger.user", "viewer")["result"] == "dev"
    with pytest.raises(NotFound):
        service.executions.evaluate(waiting, None, "trigger.user", "outsider")
    with pytest.raises(NotFound):
        service.executions.evaluate(waiting, "no-such-stage", "1", "viewer")


def test_an_application_stream_reads_only_that_applications_executions(service: Services, waiting: str) -> None:
    service.pipelines.save({"application": "other", "name": "p", "stages": []}, "admin")
    other = service.pipelines.start("other", "p", {}, "admin")
    assert [e["id"] for e in service.executions.of_application([waiting, other, "gone"], "shop", "viewer")] == [waiting]
    with pytest.raises(NotFound):
        service.executions.of_application([waiting], "shop", "outsider")


def test_listings_by_ids_are_bounded(service: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most MAX_LISTED_IDS ids of each kind, and MAX_LISTED executions in all however many configs."""
    config_id = service.pipelines.config("shop", "release", "admin")["id"]
    started = [service.pipelines.start("shop", "release", {}, "dev") for _ in range(3)]
    monkeypatch.setattr(executions, "MAX_LISTED", 2)
    listed = service.executions.by_ids("viewer", config_ids=[config_id, config_id], limit=10)
    assert len(listed) == 2 and {e["id"] for e in listed} <= set(started)
    with pytest.raises(Invalid, match=f"executionIds: at most {executions.MAX_LISTED_IDS} ids"):
        service.executions.by_ids("viewer", execution_ids=[str(n) for n in range(executions.MAX_LISTED_IDS + 1)])
