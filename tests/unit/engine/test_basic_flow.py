from gennaker.runtime import Runtime
from tests.support import pipeline, stage_statuses, wait_status


def test_fan_out_and_join_run_every_stage_once(runtime: Runtime) -> None:
    stages = [{"refId": "1", "type": "wait", "waitTime": 0}]
    stages += [{"refId": f"b{i}", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["1"]} for i in range(3)]
    stages += [{"refId": "join", "type": "wait", "waitTime": 0, "requisiteStageRefIds": ["b0", "b1", "b2"]}]
    runtime.save_pipeline(pipeline("fan", stages), "tester")
    execution_id = runtime.start_pipeline("demo", "fan", {}, "tester")
    done = wait_status(runtime, execution_id, "SUCCEEDED", "TERMINAL")
    assert done["status"] == "SUCCEEDED"
    assert set(stage_statuses(runtime, execution_id).values()) == {"SUCCEEDED"}
    with runtime.db.read() as conn:
        events = runtime.executions.events(conn, execution_id)
    started = [e["stage_id"] for e in events if e["type"] == "StageStarted"]
    assert len(started) == len(set(started)) == 5
