"""The `jenkins` trigger polled against the Jenkins emulator (echo-igor.md §2.4): the first poll is silent, each
successful build fires once with buildNumber/buildInfo/properties, other results never do, a restart with the
stored cursor neither refires nor misses, builds finishing out of order, property-file problems, failures
logged once per incident, and a build starting a pipeline end to end through the scheduler."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from gennaker.artifacts.fetchers.guard import OutboundPolicy, public_only_guard
from gennaker.ci.jenkins import JenkinsClient, JenkinsMaster, jenkins_masters
from gennaker.store.triggers import TriggerStore
from gennaker.triggers.incidents import IncidentLog
from gennaker.triggers.jenkins_poller import (
    MAX_ATTEMPTS,
    JenkinsPoller,
    build_artifacts,
    jenkins_pollers,
    jenkins_pollers_from_config,
)
from gennaker.triggers.scheduler import PolledEvent, Scheduler, SchedulerSettings
from tests.emulators.jenkins import BuildPlan, JenkinsEmulator
from tests.integration.ci.conftest import SECRET, USER, RuntimeFor, closed_port, jenkins_config
from tests.support import pipeline, wait_status

GUARD = public_only_guard(OutboundPolicy.from_config({"allowNetworks": ["127.0.0.0/8"]}))
PROPERTIES = b"# written by the build\nimageName=registry.local/shop/web\nversion: 3.1\n"
SHOP = BuildPlan(
    artifacts={"out/build.properties": PROPERTIES, "out/app.jar": b"PK"},
    tests=(0, 1, 12),
    git=("refs/remotes/origin/main", "9f2c1e", "https://git.example/acme/shop.git"),
)
RUNNING = BuildPlan(duration_s=3600)  # until `finish`


def make_master(address: str, **extra: Any) -> JenkinsMaster:
    return JenkinsMaster.model_validate(
        {"name": "ci", "address": address, "username": USER, "password": SECRET, **extra}
    )


def make_poller(
    address: str, job: str = "app", files: tuple[str, ...] = ("build.properties",), **extra: Any
) -> JenkinsPoller:
    return JenkinsPoller(JenkinsClient(make_master(address, **extra), GUARD), job, files, interval_s=0)


def build(jenkins: JenkinsEmulator, plan: BuildPlan | None = None, job: str = "app") -> int:
    """Start a build of `job` (completed at once unless the plan says otherwise); its number."""
    jenkins.jobs[job].next_plans.append(plan or SHOP)
    JenkinsClient(make_master(jenkins.url), GUARD).start(job, None, with_parameters=False)
    return len(jenkins.jobs[job].builds)


def finish(jenkins: JenkinsEmulator, number: int, result: str = "SUCCESS", job: str = "app") -> None:
    """A running build (`RUNNING`) ends now with `result`."""
    running = jenkins.build(job, number)
    running.plan = BuildPlan(result=result, artifacts=dict(SHOP.artifacts))


def jenkins_trigger(**keys: Any) -> dict[str, Any]:
    return {
        "type": "jenkins",
        "enabled": True,
        "master": "ci",
        "job": "app",
        "propertyFile": "build.properties",
        **keys,
    }


def numbers(events: list[PolledEvent]) -> list[int]:
    return [int(e.payload["buildNumber"]) for e in events]


# -- what fires ------------------------------------------------------------------------------------------
def test_the_first_poll_records_then_a_successful_build_fires_once(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("app")
    build(jenkins)
    poller = make_poller(jenkins.url)
    assert poller.key == "jenkins:ci/app" and poller.trigger_type == "jenkins"
    events, state = poller.poll(None)
    assert events == [] and state == {"cursor": 1, "done": [], "attempts": {}}

    assert build(jenkins) == 2
    [event], state = poller.poll(state)
    assert event.key == "jenkins:ci/app:2"
    payload = event.payload
    assert (payload["master"], payload["job"], payload["buildNumber"], payload["result"]) == ("ci", "app", 2, "SUCCESS")
    assert payload["properties"] == {"build.properties": {"imageName": "registry.local/shop/web", "version": "3.1"}}
    assert "propertyErrors" not in payload
    info = payload["buildInfo"]
    assert info["number"] == 2 and info["result"] == "SUCCESS" and info["building"] is False
    assert info["url"] == f"{jenkins.url}/job/app/2/" and info["name"] == "app" and info["id"] == "app-2"
    assert sorted(a["fileName"] for a in info["artifacts"]) == ["app.jar", "build.properties"]
    assert info["scm"] == [
        {
            "name": "refs/remotes/origin/main",
            "branch": "main",
            "sha1": "9f2c1e",
            "remoteUrl": "https://git.example/acme/shop.git",
        }
    ]
    assert info["testResults"] == [{"failCount": 0, "skipCount": 1, "totalCount": 12, "urlName": "testReport"}]

    trigger = jenkins_trigger(runAsUser="robot", expectedArtifactIds=["image"])
    assert poller.matches(trigger, event)
    runtime = poller.runtime_trigger(trigger, event)
    assert runtime["buildNumber"] == 2 and runtime["buildInfo"] == info and runtime["link"] == info["url"]
    assert runtime["properties"] == {"imageName": "registry.local/shop/web", "version": "3.1"}
    assert runtime["runAsUser"] == "robot" and runtime["expectedArtifactIds"] == ["image"]
    assert runtime["eventId"] and runtime["type"] == "jenkins"
    assert {"type": "jenkins/file", "reference": "out/build.properties", "name": "app", "version": "2"}.items() <= (
        next(a for a in runtime["artifacts"] if a["reference"] == "out/build.properties").items()
    )

    again, state = poller.poll(state)
    assert again == [] and state == {"cursor": 2, "done": [], "attempts": {}}


def test_only_successful_builds_fire_and_others_are_not_even_read(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("app")
    poller = make_poller(jenkins.url)
    _, state = poller.poll(None)
    assert state["cursor"] == 0
    build(jenkins, BuildPlan(result="FAILURE"))
    build(jenkins, BuildPlan(result="UNSTABLE"))  # Echo never fires on UNSTABLE
    aborted = build(jenkins, RUNNING)
    JenkinsClient(make_master(jenkins.url), GUARD).stop("app", aborted)
    build(jenkins, BuildPlan(result="NOT_BUILT"))
    succeeded = build(jenkins)
    events, state = poller.poll(state)
    assert numbers(events) == [succeeded] == [5]
    assert state == {"cursor": 5, "done": [], "attempts": {}}
    read = {r.path for r in jenkins.requests if r.method == "GET"}
    assert "/job/app/5/api/json" in read
    assert not {f"/job/app/{n}/api/json" for n in (1, 2, 3, 4)} & read


def test_a_restart_with_the_stored_state_neither_refires_nor_misses(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("app")
    _, state = make_poller(jenkins.url).poll(None)
    build(jenkins)
    [first], stored = make_poller(jenkins.url).poll(state)
    assert first.key == "jenkins:ci/app:1"
    # down for a while: three builds happen
    build(jenkins)
    build(jenkins, BuildPlan(result="FAILURE"))
    build(jenkins)
    restarted = make_poller(jenkins.url)
    events, after = restarted.poll(stored)
    assert [e.key for e in events] == ["jenkins:ci/app:2", "jenkins:ci/app:4"]  # oldest first, the failure skipped
    assert make_poller(jenkins.url).poll(after)[0] == []
    # a crash before the state was saved polls the same state again: the same events under the same keys,
    # which the scheduler has already recorded, so nothing starts twice
    assert [e.key for e in make_poller(jenkins.url).poll(stored)[0]] == [e.key for e in events]


def test_builds_that_finish_out_of_order_each_fire_once(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("app")
    poller = make_poller(jenkins.url)
    _, state = poller.poll(None)
    slow = build(jenkins, RUNNING)
    fast = build(jenkins)
    events, state = poller.poll(state)
    assert numbers(events) == [fast]
    assert state == {"cursor": 0, "done": [fast], "attempts": {}}
    assert make_poller(jenkins.url).poll(state)[0] == []  # a restart does not fire the fast one again
    finish(jenkins, slow)
    events, state = make_poller(jenkins.url).poll(state)
    assert numbers(events) == [slow]
    assert state == {"cursor": fast, "done": [], "attempts": {}}


def test_a_build_running_at_the_first_poll_fires_when_it_completes(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("app")
    build(jenkins)
    running = build(jenkins, RUNNING)
    done_meanwhile = build(jenkins)
    poller = make_poller(jenkins.url)
    events, state = poller.poll(None)
    assert events == [] and state == {"cursor": 1, "done": [done_meanwhile], "attempts": {}}
    assert poller.poll(state)[0] == []
    finish(jenkins, running)
    events, state = poller.poll(state)
    assert numbers(events) == [running] and state["cursor"] == done_meanwhile


def test_jobs_in_folders_are_polled(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("team/job/shop")
    poller = make_poller(jenkins.url, job="team/job/shop")
    _, state = poller.poll(None)
    number = build(jenkins, job="team/job/shop")
    [event], _ = poller.poll(state)
    assert event.key == "jenkins:ci/team/job/shop:1" and number == 1
    assert event.payload["buildInfo"]["url"] == f"{jenkins.url}/job/team/job/shop/1/"
    assert event.payload["properties"]["build.properties"]["imageName"] == "registry.local/shop/web"
    assert poller.matches(jenkins_trigger(job="team/job/shop"), event)
    assert not poller.matches(jenkins_trigger(job="shop"), event)


# -- matching and properties ----------------------------------------------------------------------------
def test_matching_compares_master_and_job_exactly_and_constraints_find_in_the_properties(
    jenkins: JenkinsEmulator,
) -> None:
    jenkins.add_job("app")
    poller = make_poller(jenkins.url)
    _, state = poller.poll(None)
    build(jenkins)
    [event], _ = poller.poll(state)
    assert poller.matches(jenkins_trigger(), event)
    assert not poller.matches(jenkins_trigger(master="other"), event)
    assert not poller.matches(jenkins_trigger(job="App"), event)
    assert not poller.matches(jenkins_trigger(job="ap"), event)
    assert poller.matches(jenkins_trigger(payloadConstraints={"imageName": "shop/web$"}), event)
    assert poller.matches(jenkins_trigger(payloadConstraints={"imageName": "shop", "version": r"^3\."}), event)
    assert not poller.matches(jenkins_trigger(payloadConstraints={"imageName": "^shop"}), event)
    assert not poller.matches(jenkins_trigger(payloadConstraints={"absent": ".*"}), event)
    assert not poller.matches(jenkins_trigger(payloadConstraints={"imageName": "("}), event)  # invalid: no match
    # constraints need the trigger's property file
    assert not poller.matches(jenkins_trigger(propertyFile="", payloadConstraints={"imageName": "."}), event)
    # a trigger without a property file fires with empty properties
    assert poller.runtime_trigger(jenkins_trigger(propertyFile=""), event)["properties"] == {}


def test_a_missing_or_bad_property_file_still_fires_without_properties(
    jenkins: JenkinsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    jenkins.add_job("app", plan=BuildPlan(artifacts={"out/build.properties": b"this line is not key value\n"}))
    poller = make_poller(jenkins.url, files=("build.properties", "missing.properties"))
    _, state = poller.poll(None)
    build(jenkins, jenkins.jobs["app"].plan)
    with caplog.at_level(logging.WARNING, logger="gennaker.triggers.jenkins"):
        [event], state = poller.poll(state)
    errors = event.payload["propertyErrors"]
    assert "line 1 of build.properties is not key=value" in errors["build.properties"]
    assert (
        "archived no file named missing.properties (it archived: out/build.properties)"
        in (errors["missing.properties"])
    )
    assert event.payload["properties"] == {}
    assert poller.matches(jenkins_trigger(), event)
    assert poller.runtime_trigger(jenkins_trigger(), event)["properties"] == {}
    assert not poller.matches(jenkins_trigger(payloadConstraints={"imageName": "."}), event)
    assert sum("without the properties of" in r.getMessage() for r in caplog.records) == 2
    assert state["cursor"] == 1  # recorded: it does not fire again


def test_a_passing_failure_holds_the_build_then_fires_it_with_what_could_be_read(jenkins: JenkinsEmulator) -> None:
    jenkins.add_job("app")
    poller = make_poller(jenkins.url)
    _, state = poller.poll(None)
    build(jenkins)
    build(jenkins)
    # the property file of build 1 cannot be read (a redirect elsewhere: no answer from the master itself)
    jenkins.redirects["/job/app/1/artifact/out/build.properties"] = "http://elsewhere.example/build.properties"
    events, state = poller.poll(state)
    assert events == [] and state == {"cursor": 0, "done": [], "attempts": {"1": 1}}  # 2 waits behind 1
    del jenkins.redirects["/job/app/1/artifact/out/build.properties"]
    events, state = poller.poll(state)
    assert numbers(events) == [1, 2] and state == {"cursor": 2, "done": [], "attempts": {}}
    assert all(e.payload["properties"]["build.properties"]["imageName"] for e in events)

    build(jenkins)
    jenkins.redirects["/job/app/3/artifact/out/build.properties"] = "http://elsewhere.example/build.properties"
    for attempt in range(1, MAX_ATTEMPTS):
        events, state = poller.poll(state)
        assert events == [] and state["attempts"] == {"3": attempt}
    [event], state = poller.poll(state)
    assert event.payload["buildNumber"] == 3 and event.payload["properties"] == {}
    assert "outside its address" in event.payload["propertyErrors"]["build.properties"]
    assert state == {"cursor": 3, "done": [], "attempts": {}}


def test_properties_with_a_message_format_describe_an_artifact(jenkins: JenkinsEmulator) -> None:
    docker = b"messageFormat=DOCKER\nimage=registry.local:5000/shop/web:3.1\n"
    jenkins.add_job("app", plan=BuildPlan(artifacts={"build.properties": docker}))
    poller = make_poller(jenkins.url)
    _, state = poller.poll(None)
    build(jenkins, jenkins.jobs["app"].plan)
    [event], _ = poller.poll(state)
    artifacts = poller.runtime_trigger(jenkins_trigger(), event)["artifacts"]
    assert [(a["type"], a["reference"]) for a in artifacts] == [
        ("jenkins/file", "build.properties"),
        ("docker/image", "registry.local:5000/shop/web:3.1"),
    ]
    assert (artifacts[1]["name"], artifacts[1]["version"]) == ("registry.local:5000/shop/web", "3.1")
    jar = {"messageFormat": "JAR", "group": "com.acme", "artifact": "shop", "version": "3.1", "repotype": "maven"}
    assert build_artifacts({}, {**jar, "classifier": "all"}) == [
        {"type": "maven/file", "name": "shop-3.1", "version": "3.1", "reference": "com.acme:shop:3.1:all"}
    ]
    assert build_artifacts({}, {"messageFormat": "DOCKER", "image": "registry.local:5000/shop/web"}) == []  # no tag
    assert build_artifacts({}, {**jar, "customFormat": "true"}) == []
    assert build_artifacts({}, {"imageName": "registry.local/shop/web"}) == []


# -- failures ----------------------------------------------------------------------------------------------
class FailingJenkins:
    """Answers every request with `status` (a master in trouble)."""

    def __init__(self, status: int):
        self.status = status
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                body = b"Internal Server Error"
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FailingJenkins:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing() -> Iterator[FailingJenkins]:
    with FailingJenkins(500) as server:
        yield server


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failing_master_is_logged_once_per_incident_and_keeps_the_state(
    jenkins: JenkinsEmulator, failing: FailingJenkins, caplog: pytest.LogCaptureFixture
) -> None:
    jenkins.add_job("app")
    stored = {"cursor": 7, "done": [9], "attempts": {}}
    caplog.set_level(logging.DEBUG, logger="gennaker.triggers.jenkins")
    cases = [
        (make_poller(jenkins.url, password="wrong"), "HTTP 401 (check its username and password or token)"),
        (make_poller(jenkins.url, job="gone"), "Job 'gone' not found on Jenkins master 'ci'"),
        (make_poller(failing.url), "answered HTTP 500 for job 'app'"),
        (make_poller(f"http://127.0.0.1:{closed_port()}"), "cannot be reached"),
    ]
    for poller, message in cases:
        caplog.clear()
        for _ in range(3):
            assert poller.poll(stored) == ([], stored)
        [warning] = warnings_of(caplog)
        assert message in warning and "logged once" in warning
    assert failing.requests == 3


def test_recovery_is_one_line_and_what_was_missed_meanwhile_fires(
    jenkins: JenkinsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    poller = make_poller(jenkins.url)
    caplog.set_level(logging.INFO, logger="gennaker.triggers.jenkins")
    assert poller.poll(None) == ([], {})  # no such job yet: nothing recorded
    jenkins.add_job("app")
    build(jenkins)
    _, state = poller.poll(None)  # the first successful poll records build 1
    assert state["cursor"] == 1
    job = jenkins.jobs.pop("app")  # gone for a while (a folder renamed, a permission changed)
    for _ in range(3):
        assert poller.poll(state) == ([], state)
    jenkins.jobs["app"] = job
    missed = build(jenkins)
    events, state = poller.poll(state)
    assert numbers(events) == [missed] == [2]
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert [m for m in messages if "not found" in m] == [
        "Jenkins trigger ci/app: Job 'app' not found on Jenkins master 'ci' (logged once until it changes or recovers)"
    ] * 2  # two incidents: before the job existed, and while it was gone
    assert len([m for m in messages if "recovered" in m]) == 2


def test_pollers_of_an_unreachable_master_share_one_incident(caplog: pytest.LogCaptureFixture) -> None:
    config = jenkins_config(f"http://127.0.0.1:{closed_port()}")
    pipelines = [
        pipeline("a", [], triggers=[jenkins_trigger(job="one")]),
        pipeline("b", [], triggers=[jenkins_trigger(job="two")]),
    ]
    incidents: dict[str, IncidentLog] = {}
    pollers = jenkins_pollers_from_config(config, pipelines, incidents)
    caplog.set_level(logging.INFO, logger="gennaker.triggers.jenkins")
    for _ in range(3):
        for each in pollers:
            assert each.poll({"cursor": 3, "done": [], "attempts": {}})[0] == []
    [warning] = warnings_of(caplog)
    assert warning.startswith("Jenkins triggers of master ci: Jenkins master 'ci' at http://127.0.0.1:")
    assert "cannot be reached" in warning
    assert incidents["ci"].failing and incidents["ci"].repeats == 5
    # rebuilt with the same incidents (pipelines changed): still one incident
    for each in jenkins_pollers_from_config(config, pipelines, incidents):
        each.poll({"cursor": 3, "done": [], "attempts": {}})
    assert len(warnings_of(caplog)) == 1


# -- building the pollers ------------------------------------------------------------------------------------
def test_one_poller_per_master_and_job_named_by_enabled_triggers(
    jenkins: JenkinsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    config = jenkins_config(jenkins.url)
    config["scheduler"] = {"jenkins": {"intervalSeconds": 15}}
    pipelines = [
        pipeline("a", [], triggers=[jenkins_trigger(), jenkins_trigger(propertyFile="extra.yml"), {"type": "cron"}]),
        pipeline("b", [], triggers=[jenkins_trigger(propertyFile=""), jenkins_trigger(job="team/job/lib")]),
        pipeline("c", [], triggers=[jenkins_trigger(job="off", enabled=False)]),
        pipeline("d", [], triggers=[jenkins_trigger(job="paused")], disabled=True),
        pipeline("e", [], triggers=[jenkins_trigger(master="nowhere", job="x"), jenkins_trigger(job="../up")]),
    ]
    with caplog.at_level(logging.WARNING, logger="gennaker.triggers.jenkins"):
        pollers = jenkins_pollers_from_config(config, pipelines)
    by_key = {p.key: p for p in pollers}
    assert sorted(by_key) == ["jenkins:ci/app", "jenkins:ci/team/job/lib"]
    app = by_key["jenkins:ci/app"]
    assert isinstance(app, JenkinsPoller)
    assert app.property_files == ["build.properties", "extra.yml"] and app.interval_s == 15.0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "master 'nowhere' are not polled" in messages and "job '../up' are not polled" in messages
    masters = jenkins_masters(config)
    assert [p.key for p in jenkins_pollers(masters, pipelines[:1], guard=GUARD)] == ["jenkins:ci/app"]
    config["scheduler"] = {"jenkins": {"intervalSeconds": 0}}
    with pytest.raises(ValueError, match=r"scheduler\.jenkins\.intervalSeconds"):
        jenkins_pollers_from_config(config, pipelines)


def test_the_default_guard_refuses_a_loopback_master(
    jenkins: JenkinsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    jenkins.add_job("app")
    config = jenkins_config(jenkins.url)
    [poller] = jenkins_pollers(jenkins_masters(config), [pipeline("a", [], triggers=[jenkins_trigger()])])
    with caplog.at_level(logging.WARNING, logger="gennaker.triggers.jenkins"):
        assert poller.poll(None) == ([], {})
    assert "may not be contacted" in " ".join(warnings_of(caplog))
    assert jenkins.requests == []


# -- end to end ------------------------------------------------------------------------------------------------
def test_a_successful_build_starts_the_pipeline_once_with_its_properties(
    jenkins: JenkinsEmulator, runtime_for: RuntimeFor
) -> None:
    jenkins.add_job("app")
    build(jenkins)  # before the scheduler's first poll: never fires
    config = jenkins_config(jenkins.url)
    rt = runtime_for(config)
    use = {
        "refId": "use",
        "type": "evaluateVariables",
        "variables": [
            {"key": "image", "value": "${trigger.properties.imageName}:${trigger.properties.version}"},
            {"key": "number", "value": "${trigger.buildNumber}"},
            {"key": "commit", "value": "${trigger.buildInfo.scm[0].sha1}"},
        ],
    }
    release = rt.save_pipeline(pipeline("release", [use], triggers=[jenkins_trigger(id="t1")]), "tester")
    picky = rt.save_pipeline(
        pipeline("picky", [use], triggers=[jenkins_trigger(id="t2", payloadConstraints={"imageName": "^other/"})]),
        "tester",
    )

    def fire(conn: Connection, saved: Mapping[str, Any], trigger: dict[str, Any]) -> str:
        return rt.launcher.start(conn, dict(saved), trigger, "scheduler")

    now = [time.time()]

    def scheduler() -> Scheduler:
        pollers = jenkins_pollers(jenkins_masters(config), [release, picky], guard=GUARD, interval_s=0)
        return Scheduler(rt.db, fire, SchedulerSettings(reload_s=0), lambda: now[0], pollers=pollers)

    def tick(each: Scheduler) -> list[str]:
        started = each.tick()
        rt.wakeup.notify()  # what the scheduler's loop does after a tick that started executions
        return started

    one = scheduler()
    assert tick(one) == []
    built = build(jenkins)
    build(jenkins, BuildPlan(result="FAILURE"))
    [started] = tick(one)
    assert tick(one) == []
    finished = wait_status(rt, started, "SUCCEEDED", "TERMINAL", timeout=30)
    assert finished["status"] == "SUCCEEDED"
    assert finished["name"] == "release"
    assert finished["stages"][0]["outputs"] == {
        "image": "registry.local/shop/web:3.1",
        "number": built,
        "commit": "9f2c1e",
    }
    trigger = finished["trigger"]
    assert trigger["type"] == "jenkins" and trigger["buildNumber"] == built == 2
    assert trigger["buildInfo"]["url"] == f"{jenkins.url}/job/app/2/"
    assert trigger["properties"] == {"imageName": "registry.local/shop/web", "version": "3.1"}

    now[0] += 120  # a restart: the old process's lease on the job has expired; new pollers, the stored cursor
    restarted = scheduler()
    assert tick(restarted) == []
    later = build(jenkins)
    [again] = tick(restarted)
    assert wait_status(rt, again, "SUCCEEDED", "TERMINAL", timeout=30)["trigger"]["buildNumber"] == later == 4

    with rt.db.read() as conn:
        history = TriggerStore().history(conn, str(release["id"]))
        assert TriggerStore().history(conn, str(picky["id"])) == []
    assert [h["eventKey"] for h in history] == [
        f"jenkins:ci/app:4:{release['id']}:t1",
        f"jenkins:ci/app:2:{release['id']}:t1",
    ]
    assert [h["executionId"] for h in history] == [again, started]
    assert history[1]["details"]["buildNumber"] == 2
