"""The Jenkins emulator answers as Jenkins' JSON API does for what the stage and the routes do not exercise."""

from __future__ import annotations

import math
import time

import httpx

from tests.emulators.jenkins import BuildPlan, JenkinsEmulator


def test_queue_builds_aliases_folders_auth_and_crumbs() -> None:
    with JenkinsEmulator(username="u", password="p", csrf=True) as jenkins:
        jenkins.add_job("team/job/app", plan=BuildPlan(duration_s=60))
        with httpx.Client(base_url=jenkins.url) as anonymous:
            assert anonymous.get("/api/json").status_code == 401
        with httpx.Client(base_url=jenkins.url, auth=("u", "p")) as client:
            assert client.post("/job/team/job/app/build").status_code == 403  # no crumb
            crumb = client.get("/crumbIssuer/api/json").json()
            headers = {crumb["crumbRequestField"]: crumb["crumb"]}
            started = client.post("/job/team/job/app/build", headers=headers)
            assert started.status_code == 201
            item = started.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
            left = client.get(f"/queue/item/{item}/api/json").json()
            assert left["executable"]["number"] == 1 and left["cancelled"] is False
            assert client.get("/job/team/job/app/lastBuild/api/json").json()["building"] is True
            assert client.get("/job/team/job/app/lastCompletedBuild/api/json").status_code == 404
            assert client.post("/job/team/job/app/1/stop", headers=headers).status_code == 302
            done = client.get("/job/team/job/app/lastCompletedBuild/api/json").json()
            assert done["result"] == "ABORTED" and done["building"] is False
            folder = client.get("/job/team/api/json").json()
            assert [j["name"] for j in folder["jobs"]] == ["app"]
            assert client.get("/api/json").json()["jobs"][0]["jobs"][0]["name"] == "app"

            jenkins.jobs["team/job/app"].next_plans.append(BuildPlan(queue_s=math.inf))
            queued = client.post("/job/team/job/app/build", headers=headers).headers["Location"]
            waiting_id = queued.rstrip("/").rsplit("/", 1)[-1]
            waiting = client.get(f"/queue/item/{waiting_id}/api/json").json()
            assert "executable" not in waiting and waiting["why"].startswith("Waiting")
            cancel = client.post("/queue/cancelItem", params={"id": waiting_id}, headers=headers)
            assert cancel.status_code == 204
            assert client.get(f"/queue/item/{waiting_id}/api/json").json()["cancelled"] is True
            assert client.get("/queue/item/999/api/json").status_code == 404
        assert jenkins.stops == [("team/job/app", 1)] and jenkins.cancelled_items == [int(waiting_id)]
        assert jenkins.build("team/job/app", 1).finished_wall <= time.time()
