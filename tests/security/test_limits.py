"""Budgets on what one request or one pipeline may cost, and workers that survive a failure."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.engine.wakeup import Wakeup
from gennaker.model.pipeline import MAX_STAGES
from tests.api_support import as_user, header_security
from tests.security.conftest import Server
from tests.support import make_runtime, pipeline, wait_status


def test_request_bodies_over_the_limit_get_413(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, config={"server": {"maxRequestBytes": 4096}})
    try:
        with TestClient(create_app(rt, header_security())) as client:
            big = {"application": "demo", "name": "p", "description": "x" * 5000, "stages": []}
            answer = client.post("/pipelines", json=big, headers=as_user("admin"))
            assert answer.status_code == 413 and "larger than 4096 bytes" in answer.json()["message"]

            def chunks() -> Any:  # no Content-Length: the limit counts what arrives
                yield b'{"application": "demo", "name": "p", "description": "'
                for _ in range(10):
                    yield b"y" * 1000
                yield b'"}'

            streamed = client.post(
                "/pipelines", content=chunks(), headers={**as_user("admin"), "Content-Type": "application/json"}
            )
            assert streamed.status_code == 413
            small = {"application": "demo", "name": "p", "stages": []}
            assert client.post("/pipelines", json=small, headers=as_user("admin")).status_code == 200
        with rt.db.read() as conn:
            assert "description" not in (rt.pipelines.get_by_name(conn, "demo", "p") or {})
    finally:
        rt.close()


def test_a_bad_body_limit_setting_is_refused(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, config={"server": {"maxRequestBytes": "lots"}})
    try:
        with pytest.raises(ValueError, match=r"server\.maxRequestBytes must be a whole number"):
            create_app(rt, header_security())
    finally:
        rt.close()


def test_pipelines_have_a_stage_limit(server: Server) -> None:
    stages = [{"refId": str(i), "type": "wait", "waitTime": 0} for i in range(MAX_STAGES + 1)]
    answer = server.client.post(
        "/pipelines", json=pipeline("huge", stages, app="mine"), headers=server.headers("alice")
    )
    assert answer.status_code == 400
    assert answer.json()["details"][0] == {
        "field": "stages",
        "problem": f"a pipeline may have at most {MAX_STAGES} stages, not {MAX_STAGES + 1}",
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10**30, "must be from 0 to"),
        (-1, "must be from 0 to"),
        ("soon", "must be a number from 0 to"),
        (float("inf"), "must be a number from 0 to"),
    ],
)
def test_numeric_stage_fields_are_checked_at_save(server: Server, value: Any, problem: str) -> None:
    config = pipeline("waits", [{"refId": "1", "type": "wait", "waitTime": value}], app="mine")
    # `content=`: httpx's `json=` refuses infinity, which Python's json (and Jackson) can write.
    headers = {**server.headers("alice"), "Content-Type": "application/json"}
    answer = server.client.post("/pipelines", content=json.dumps(config), headers=headers)
    assert answer.status_code == 400
    detail = answer.json()["details"][0]
    assert detail["field"] == "stages[0].waitTime" and problem in detail["problem"]


def test_a_numeric_field_from_an_expression_is_checked_when_the_stage_runs(server: Server) -> None:
    stages = [{"refId": "1", "type": "wait", "waitTime": "${parameters.seconds}"}]
    config = pipeline("later", stages, app="mine", parameterConfig=[{"name": "seconds", "default": "1e30"}])
    assert server.client.post("/pipelines", json=config, headers=server.headers("alice")).status_code == 200
    started = server.client.post("/pipelines/mine/later", json={}, headers=server.headers("alice")).json()
    failed = wait_status(server.rt, started["id"], "TERMINAL")
    assert "waitTime must be from 0 to" in str(failed["stages"][0]["context"]["exception"])


def test_a_crashing_worker_loop_is_restarted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rt = make_runtime(tmp_path)
    worker = rt.new_worker()
    original = worker.run_once
    crashes = []

    def crash_once() -> int:
        if not crashes:
            crashes.append(1)
            raise OSError("Address already in use")
        return original()

    worker.run_once = crash_once  # type: ignore[method-assign]
    worker_thread = threading.Thread(target=worker.run_supervised, daemon=True)
    try:
        with caplog.at_level(logging.ERROR, logger="gennaker.engine.worker"):
            worker_thread.start()
            rt.save_pipeline(pipeline("p", [{"refId": "1", "type": "wait", "waitTime": 0}]), "tester")
            execution_id = rt.start_pipeline("demo", "p", {"type": "manual"}, "tester")
            assert wait_status(rt, execution_id, "SUCCEEDED")["status"] == "SUCCEEDED"
        assert "worker loop crashed; restarting" in caplog.text and "Address already in use" in caplog.text
    finally:
        worker.stop()
        worker_thread.join(timeout=10)
        rt.close()


def test_worker_threads_share_one_wake_up_socket(tmp_path: Path) -> None:
    """Several worker threads starting together used to bind the same socket; one died at start."""
    wakeup = Wakeup(tmp_path / "wakeup")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def listen() -> None:
        barrier.wait()
        try:
            wakeup.listen()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=listen) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sockets = list((tmp_path / "wakeup").glob("*.sock"))
    wakeup.close()
    assert errors == []
    assert len(sockets) == 1
