"""Ad-hoc tasks through the service: application changes recorded as a finished task (through the one
start path), infrastructure jobs refused without WRITE on the application and on each account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gennaker.runtime import Runtime
from gennaker.service.errors import Forbidden, Invalid, NotFound
from gennaker.service.tasks import ApplicationChange, Tasks
from gennaker.service.wiring import Services

ACCOUNTS = {"prod": {"READ": ["dev"], "WRITE": ["ops"]}, "dev-cluster": {}}


def account_permissions(name: str) -> Mapping[str, Any] | None:
    if name not in ACCOUNTS:
        raise LookupError(name)
    return ACCOUNTS[name]


def test_application_changes_stop_at_the_first_refusal_and_are_recorded(service: Services) -> None:
    changes = [
        ApplicationChange("createApplication", "cart", {"email": "cart@example.com"}),
        ApplicationChange("updateApplication", "shop", {"email": "x@example.com"}),  # viewer lacks WRITE
        ApplicationChange("deleteApplication", "cart", {}),
    ]
    task_id = service.tasks.change_applications(None, "", changes, "viewer")
    task = service.executions.task(task_id, "viewer")
    assert task["type"] == "ORCHESTRATION" and task["status"] == "TERMINAL" and task["application"] == "cart"
    assert task["name"] == "createApplication" and task["authentication"]["user"] == "viewer"
    assert [s["status"] for s in task["stages"]] == ["SUCCEEDED", "TERMINAL"]
    assert "viewer lacks WRITE permission" in task["stages"][1]["context"]["exception"]["details"]["error"]
    assert service.applications.get("cart", "admin")["email"] == "cart@example.com"
    with pytest.raises(NotFound):  # the task is its starter's, and READ on its application for others
        service.executions.task(task_id, "outsider")


def test_infrastructure_jobs_need_write_on_the_application_and_the_accounts(rt: Runtime, service: Services) -> None:
    tasks = Tasks(rt.db, service.access, service.applications, lambda: rt.starts, account_permissions)
    job = {"type": "scaleManifest", "account": "prod", "replicas": 1}
    with pytest.raises(Forbidden, match="viewer lacks WRITE permission on application 'shop'"):
        tasks.start_infrastructure("shop", "scale", [job], "viewer")
    with pytest.raises(Forbidden, match="dev lacks WRITE permission on account 'prod'"):
        tasks.start_infrastructure("shop", "scale", [job], "dev")
    with pytest.raises(NotFound, match="account 'nope' not found"):
        tasks.start_infrastructure("shop", "scale", [{**job, "account": "nope"}], "dev")
    with pytest.raises(Invalid, match="application is required"):
        tasks.start_infrastructure("", "scale", [job], "dev")
    task_id = tasks.start_infrastructure("shop", "", [{**job, "account": "dev-cluster"}], "dev")
    task = service.executions.task(task_id, "dev")
    assert task["name"] == "scaleManifest" and task["stages"][0]["type"] == "scaleManifest"
