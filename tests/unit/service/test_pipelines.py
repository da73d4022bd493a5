"""Pipeline configs through the service: saving needs WRITE on an existing application and is validated with
field-level problems; starting needs EXECUTE; history and restore name what is missing."""

from __future__ import annotations

import pytest

from gennaker.service.errors import Forbidden, Invalid, NotFound
from gennaker.service.wiring import Services
from tests.unit.service.conftest import RELEASE


def test_saving_needs_write_and_a_valid_config(service: Services) -> None:
    changed = {**RELEASE, "stages": [{"refId": "1", "type": "wait", "waitTime": 5}]}
    with pytest.raises(Forbidden):
        service.pipelines.save(changed, "viewer")
    assert service.pipelines.config("shop", "release", "viewer")["stages"][0]["type"] == "manualJudgment"
    with pytest.raises(Invalid) as invalid:
        service.pipelines.save({**RELEASE, "stages": [{"refId": "1", "type": "nope"}]}, "dev")
    assert str(invalid.value).startswith("invalid pipeline: ")
    assert invalid.value.details()[0]["field"] == "stages[0].type"
    saved = service.pipelines.save(changed, "dev")
    assert saved["lastModifiedBy"] == "dev"


def test_a_config_of_a_new_application_creates_it(service: Services) -> None:
    service.pipelines.save({**RELEASE, "application": "newapp"}, "outsider")
    assert service.applications.get("newapp", "admin")["name"] == "newapp"


def test_starting_needs_execute_and_valid_parameters(service: Services) -> None:
    with pytest.raises(Forbidden, match="viewer lacks EXECUTE"):
        service.pipelines.start("shop", "release", {}, "viewer")
    with pytest.raises(Invalid) as invalid:
        service.pipelines.start("shop", "release", {"parameters": {"env": "moon"}}, "dev")
    assert invalid.value.details()[0]["field"] == "parameters.env"
    with pytest.raises(NotFound, match="pipeline 'nope' not found in application 'shop'"):
        service.pipelines.start("shop", "nope", {}, "dev")
    execution_id = service.pipelines.start("shop", "release", {"parameters": {"env": "prod"}}, "dev")
    execution = service.executions.get(execution_id, "viewer")
    assert execution["trigger"]["user"] == "dev" and execution["trigger"]["parameters"] == {"env": "prod"}


def test_history_and_restore(service: Services) -> None:
    config = service.pipelines.config("shop", "release", "dev")
    service.pipelines.save({**config, "stages": [{"refId": "1", "type": "wait", "waitTime": 5}]}, "dev")
    assert [v["version"] for v in service.pipelines.history(config["id"], "viewer")] == [2, 1]
    with pytest.raises(NotFound):
        service.pipelines.history(config["id"], "outsider")
    with pytest.raises(NotFound, match="has no version 9"):
        service.pipelines.restore(config["id"], 9, "dev")
    with pytest.raises(Forbidden):
        service.pipelines.restore(config["id"], 1, "viewer")
    restored = service.pipelines.restore(config["id"], 1, "dev")
    assert restored["stages"][0]["type"] == "manualJudgment"
    assert service.pipelines.delete("shop", "release", "dev")
    assert not service.pipelines.delete("shop", "release", "dev")
