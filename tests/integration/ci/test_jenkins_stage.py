"""The `jenkins` stage against the Jenkins emulator: start, queue, monitor, property file, results as Orca maps
them, cancellation, CSRF crumbs and where credentials go (orca.md §3.5, echo-igor.md §3)."""

from __future__ import annotations

import base64
import math
import time
from typing import Any

from gennaker.runtime import Runtime
from tests.emulators.jenkins import BuildPlan, JenkinsEmulator, choice_param, string_param
from tests.integration.ci.conftest import SECRET, USER, RuntimeFor, closed_port, jenkins_config
from tests.support import execution, pipeline, wait_for, wait_status

PROPERTIES = b"# produced by the build\nIMAGE=registry.example/app:1.4.2\nCOMMIT: 9f2c1e\n"
BASIC = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()


def jenkins_stage(**context: Any) -> dict[str, Any]:
    return {"refId": "build", "type": "jenkins", "name": "Build", "master": "ci", "job": "app", **context}


def run(rt: Runtime, *stages: dict[str, Any], wanted: tuple[str, ...] = ("SUCCEEDED",), **extra: Any) -> dict[str, Any]:
    trigger = extra.pop("trigger", {"type": "manual", "user": "tester"})
    name = f"p{time.monotonic_ns()}"
    rt.save_pipeline(pipeline(name, list(stages), **extra), "tester")
    execution_id = rt.start_pipeline("demo", name, trigger, "tester")
    finished = wait_status(rt, execution_id, "SUCCEEDED", "TERMINAL", "CANCELED", timeout=30)
    assert finished["status"] in wanted, (finished["status"], [error(s) for s in finished["stages"]])
    return finished


def stage(found: dict[str, Any], ref: str = "build") -> dict[str, Any]:
    return next(s for s in found["stages"] if s["refId"] == ref)


def error(found: dict[str, Any]) -> str:
    return str(((found.get("context") or {}).get("exception") or {}).get("details", {}).get("error") or "")


def test_a_build_with_parameters_and_a_property_file_feeds_downstream_stages(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job(
        "app",
        parameters=[string_param("BRANCH", "main"), choice_param("ENV", ["dev", "prod"])],
        plan=BuildPlan(
            artifacts={"out/build.properties": PROPERTIES},
            tests=(0, 1, 12),
            git=("refs/remotes/origin/feature/x", "9f2c1e", "https://git.example/acme/app.git"),
        ),
    )
    rt = runtime_for(jenkins_config(jenkins.url))
    downstream = {
        "refId": "use",
        "type": "evaluateVariables",
        "requisiteStageRefIds": ["build"],
        "variables": [
            {"key": "deployed", "value": "${IMAGE}"},
            {"key": "branch", "value": "${#stage('Build')['context']['parameters']['BRANCH']}"},
            {"key": "buildUrl", "value": "${#stage('Build')['context']['buildInfo']['url']}"},
        ],
    }
    found = run(
        rt,
        jenkins_stage(
            parameters={"BRANCH": "${trigger.parameters.branch}", "ENV": "prod"}, propertyFile="build.properties"
        ),
        downstream,
        parameterConfig=[{"name": "branch", "default": "main"}],
        trigger={"type": "manual", "user": "tester", "parameters": {"branch": "release-1.4"}},
    )
    built = jenkins.build("app", 1)
    assert built.parameters == {"BRANCH": "release-1.4", "ENV": "prod"}
    build_stage = stage(found)
    context, outputs = build_stage["context"], build_stage["outputs"]
    assert context["queuedBuild"] and context["buildNumber"] == 1
    info = context["buildInfo"]
    assert info["url"] == f"{jenkins.url}/job/app/1/" and info["number"] == 1 and info["result"] == "SUCCESS"
    assert info["building"] is False and info["name"] == "app" and info["id"] == "app-1"
    assert info["artifacts"] == [
        {
            "fileName": "build.properties",
            "displayPath": "build.properties",
            "relativePath": "out/build.properties",
            "reference": "out/build.properties",
            "name": "app",
            "version": "1",
            "type": "jenkins/file",
            "decorated": False,
        }
    ]
    assert info["testResults"] == [{"failCount": 0, "skipCount": 1, "totalCount": 12, "urlName": "testReport"}]
    assert info["scm"][0]["branch"] == "x" and info["scm"][0]["sha1"] == "9f2c1e"
    assert outputs["buildInfo"] == info
    expected = {"IMAGE": "registry.example/app:1.4.2", "COMMIT": "9f2c1e"}
    assert outputs["propertyFileContents"] == expected and context["propertyFileContents"] == expected
    assert outputs["IMAGE"] == context["IMAGE"] == "registry.example/app:1.4.2"
    assert stage(found, "use")["outputs"] == {
        "deployed": "registry.example/app:1.4.2",
        "branch": "release-1.4",
        "buildUrl": f"{jenkins.url}/job/app/1/",
    }
    assert [t["name"] for t in build_stage["tasks"]] == [
        "startJenkinsJob",
        "waitForJenkinsJobStart",
        "monitorJenkinsJob",
        "getBuildProperties",
    ]
    assert jenkins.posts("/job/app/buildWithParameters")
    assert all(r.header("Authorization") == BASIC for r in jenkins.requests)


def test_a_job_in_a_folder_without_parameters_is_built_with_build(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("team/job/app")
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(job="team/job/app"))
    assert stage(found)["context"]["buildInfo"]["url"] == f"{jenkins.url}/job/team/job/app/1/"
    assert [r.path for r in jenkins.posts("/build")] == ["/job/team/job/app/build"]


def test_unstable_fails_unless_marked_successful(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    jenkins.add_job("app", plan=BuildPlan(result="UNSTABLE"))
    rt = runtime_for(jenkins_config(jenkins.url))
    failed = run(rt, jenkins_stage(), wanted=("TERMINAL",))
    assert stage(failed)["status"] == "TERMINAL"
    assert (
        error(stage(failed))
        == f"Build #1 of job 'app' on Jenkins master 'ci' is unstable (see {jenkins.url}/job/app/1/)"
    )
    assert stage(failed)["context"]["buildInfo"]["result"] == "UNSTABLE"
    passed = run(rt, jenkins_stage(markUnstableAsSuccessful=True))
    assert stage(passed)["status"] == "SUCCEEDED" and stage(passed)["outputs"]["buildInfo"]["result"] == "UNSTABLE"
    as_text = run(rt, jenkins_stage(markUnstableAsSuccessful="true"))  # Deck may save the flag as text
    assert stage(as_text)["status"] == "SUCCEEDED"


def test_a_failed_build_fails_the_stage_and_still_yields_its_property_file(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("app", plan=BuildPlan(result="FAILURE", artifacts={"build.properties": b"REASON=tests\n"}))
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(propertyFile="build.properties"), wanted=("TERMINAL",))
    failed = stage(found)
    assert failed["status"] == "TERMINAL"
    assert error(failed) == f"Build #1 of job 'app' on Jenkins master 'ci' failed (see {jenkins.url}/job/app/1/)"
    assert failed["outputs"]["REASON"] == "tests" and failed["context"]["buildInfo"]["result"] == "FAILURE"
    assert [t["status"] for t in failed["tasks"]] == ["SUCCEEDED", "SUCCEEDED", "TERMINAL", "NOT_STARTED"]


def test_an_aborted_build_cancels_the_stage(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    jenkins.add_job("app", plan=BuildPlan(result="ABORTED"))
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(), wanted=("CANCELED", "TERMINAL"))
    assert stage(found)["status"] == "CANCELED"
    assert "was aborted" in error(stage(found))


def test_a_build_that_never_leaves_the_queue_fails_after_the_queue_timeout_and_is_dequeued(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("app", plan=BuildPlan(queue_s=math.inf, why="Waiting for next available executor on linux"))
    rt = runtime_for(jenkins_config(jenkins.url, section={"queueTimeoutSeconds": 1}))
    started = time.monotonic()
    found = run(rt, jenkins_stage(), wanted=("TERMINAL",))
    assert time.monotonic() - started < 10
    queued = stage(found)["context"]["queuedBuild"]
    assert error(stage(found)) == (
        f"The build of job 'app' on Jenkins master 'ci' did not leave the queue within 1 s (queue item {queued}; "
        "Jenkins says: Waiting for next available executor on linux)"
    )
    wait_for(lambda: jenkins.cancelled_items == [int(queued)], what="the queue item to be cancelled")
    assert jenkins.jobs["app"].builds == []


def test_an_unreachable_master_is_retried_then_fails_naming_it(runtime_for: RuntimeFor) -> None:
    address = f"http://127.0.0.1:{closed_port()}"
    rt = runtime_for(jenkins_config(address, section={"startTimeoutSeconds": 1}))
    found = run(rt, jenkins_stage(), wanted=("TERMINAL",))
    message = error(stage(found))
    assert message.startswith(
        f"Could not start job 'app' on Jenkins master 'ci' within 1 s: Jenkins master 'ci' at {address} "
        "cannot be reached: "
    )
    assert "ConnectError" in message


def test_a_missing_job_fails_at_once(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(job="nope"), wanted=("TERMINAL",))
    assert error(stage(found)) == "Job 'nope' not found on Jenkins master 'ci'"
    assert jenkins.posts("build") == []


def test_an_unknown_master_names_the_configured_ones(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(master="other"), wanted=("TERMINAL",))
    assert error(stage(found)) == "Jenkins master 'other' is not configured (ci.jenkins.masters: ci)"


def test_a_missing_property_file_fails_naming_it(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    jenkins.add_job("app", plan=BuildPlan(artifacts={"out/app.jar": b"PK"}))
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(propertyFile="build.properties"), wanted=("TERMINAL",))
    assert error(stage(found)) == (
        "Expected properties file build.properties but build #1 of job 'app' on Jenkins master 'ci' did not "
        "archive it (archived: out/app.jar)"
    )


def test_a_property_file_that_is_not_key_values_fails_naming_it(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("app", plan=BuildPlan(artifacts={"build.properties": b"IMAGE=app:1\nthis is not a property\n"}))
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(propertyFile="build.properties"), wanted=("TERMINAL",))
    assert error(stage(found)) == (
        "Expected properties file build.properties of build #1 of job 'app' on Jenkins master 'ci' to hold "
        "key/values, but line 2 of build.properties is not key=value: 'this is not a property'"
    )
    jenkins.add_job("yaml", plan=BuildPlan(artifacts={"props.yml": b"- a list\n- not a map\n"}))
    found = run(rt, jenkins_stage(job="yaml", propertyFile="props.yml"), wanted=("TERMINAL",))
    assert error(stage(found)).endswith("but props.yml must hold a non-empty YAML mapping of keys to values")


def test_cancelling_the_execution_stops_the_build(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    jenkins.add_job("app", plan=BuildPlan(duration_s=60))
    rt = runtime_for(jenkins_config(jenkins.url))
    rt.save_pipeline(pipeline("long", [jenkins_stage()]), "tester")
    execution_id = rt.start_pipeline("demo", "long", {"type": "manual", "user": "tester"}, "tester")
    wait_for(
        lambda: (stage(execution(rt, execution_id)).get("context") or {}).get("buildInfo", {}).get("building"),
        what="the build to run",
    )
    rt.operations.cancel(execution_id, "tester", "changed my mind")
    wait_status(rt, execution_id, "CANCELED")
    wait_for(lambda: jenkins.stops == [("app", 1)], what="the build to be stopped")
    assert jenkins.build("app", 1).result(time.monotonic()) == "ABORTED"


def test_without_wait_for_completion_the_stage_ends_once_the_build_started(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("app", plan=BuildPlan(duration_s=60))
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(waitForCompletion=False))
    build_stage = stage(found)
    assert build_stage["context"]["buildNumber"] == 1
    assert build_stage["context"]["buildInfo"] == {"name": "app", "number": 1, "url": f"{jenkins.url}/job/app/1/"}
    assert [t["name"] for t in build_stage["tasks"]] == ["startJenkinsJob", "waitForJenkinsJobStart"]
    assert jenkins.build("app", 1).building(time.monotonic()) and jenkins.stops == []


def test_a_master_requiring_crumbs_needs_csrf_true(runtime_for: RuntimeFor) -> None:
    with JenkinsEmulator(username=USER, password=SECRET, csrf=True) as jenkins:
        jenkins.add_job("app")
        without = runtime_for(jenkins_config(jenkins.url))
        found = run(without, jenkins_stage(), wanted=("TERMINAL",))
        assert error(stage(found)) == (
            "Jenkins master 'ci' refused starting job 'app': it requires a CSRF crumb (set csrf: true for this master)"
        )
        with_csrf = runtime_for(jenkins_config(jenkins.url, csrf=True))
        run(with_csrf, jenkins_stage())
        post = jenkins.posts("/job/app/build")[-1]
        assert post.header("Jenkins-Crumb") and "JSESSIONID=" in (post.header("Cookie") or "")


def test_credentials_go_only_to_the_master(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    with JenkinsEmulator() as elsewhere:
        jenkins.add_job("app")
        jenkins.location_base = elsewhere.url  # a queue Location naming another origin is not followed
        rt = runtime_for(jenkins_config(jenkins.url))
        run(rt, jenkins_stage())
        jenkins.redirects["/job/app/api/json"] = f"{elsewhere.url}/job/app/api/json"
        found = run(rt, jenkins_stage(), wanted=("TERMINAL",))
        assert error(stage(found)) == (
            f"Jenkins master 'ci' redirected to {elsewhere.url}/job/app/api/json, outside its address {jenkins.url}; "
            "its credentials are only sent there (set address to Jenkins' root URL)"
        )
        assert elsewhere.requests == []
        assert jenkins.requests and all(r.header("Authorization") == BASIC for r in jenkins.requests)


def test_a_bearer_token_without_username(runtime_for: RuntimeFor) -> None:
    with JenkinsEmulator(bearer_token="oauth-token") as jenkins:
        jenkins.add_job("app")
        rt = runtime_for(jenkins_config(jenkins.url, username=None, password=None, token="oauth-token"))
        run(rt, jenkins_stage())
        assert {r.header("Authorization") for r in jenkins.requests} == {"Bearer oauth-token"}


def test_wrong_credentials_and_choices_fail_clearly(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    jenkins.add_job("app", parameters=[choice_param("ENV", ["dev", "prod"])])
    rt = runtime_for(jenkins_config(jenkins.url, password="wrong"))
    found = run(rt, jenkins_stage(), wanted=("TERMINAL",))
    assert error(stage(found)) == (
        "Jenkins master 'ci' refused job 'app': HTTP 401 (check its username and password or token)"
    )
    rt = runtime_for(jenkins_config(jenkins.url))
    found = run(rt, jenkins_stage(parameters={"ENV": "staging"}), wanted=("TERMINAL",))
    assert error(stage(found)) == "`staging` is not a valid choice for `ENV`. Valid choices are: dev, prod"
    jenkins.add_job("plain")
    found = run(rt, jenkins_stage(job="plain", parameters={"X": 1}), wanted=("TERMINAL",))
    assert error(stage(found)) == "Job 'plain' on Jenkins master 'ci' takes no parameters, but the stage sets X"
    assert jenkins.posts("build") == [] and jenkins.posts("buildWithParameters") == []


def test_starting_a_build_needs_write_permission_on_the_master(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("app")
    rt = runtime_for(jenkins_config(jenkins.url, permissions={"READ": ["dev"], "WRITE": ["ops"]}), True)
    found = run(rt, jenkins_stage(), wanted=("TERMINAL",))
    assert error(stage(found)) == "tester lacks WRITE permission on Jenkins master 'ci'"
    assert jenkins.requests == []


def test_a_master_outside_the_outbound_policy_is_refused(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    jenkins.add_job("app")
    config = jenkins_config(jenkins.url)
    del config["outbound"]
    rt = runtime_for(config)
    found = run(rt, jenkins_stage(), wanted=("TERMINAL",))
    assert error(stage(found)).startswith("Jenkins master 'ci' may not be contacted: fetching ")
    assert "outbound.allowNetworks" in error(stage(found))
    assert jenkins.requests == []


def test_a_restarted_stage_starts_a_new_build(jenkins: JenkinsEmulator, runtime_for: RuntimeFor) -> None:
    job = jenkins.add_job("app", plan=BuildPlan(artifacts={"build.properties": b"V=2\n"}))
    job.next_plans.append(BuildPlan(result="FAILURE"))
    rt = runtime_for(jenkins_config(jenkins.url))
    rt.save_pipeline(pipeline("again", [jenkins_stage(propertyFile="build.properties")]), "tester")
    execution_id = rt.start_pipeline("demo", "again", {"type": "manual", "user": "tester"}, "tester")
    wait_status(rt, execution_id, "TERMINAL")
    rt.operations.restart_stage(execution_id, "build", "tester")
    found = wait_status(rt, execution_id, "SUCCEEDED", timeout=30)
    assert stage(found)["context"]["buildNumber"] == 2 and stage(found)["outputs"]["V"] == "2"
    assert len(jenkins.jobs["app"].builds) == 2
