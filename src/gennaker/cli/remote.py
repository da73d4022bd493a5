"""`RemoteBackend`: CLI commands on a Gennaker server, through its Gate-compatible HTTP API (after
`gennaker login`). Kept apart from the protocol so that local commands never import the HTTP client."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx

from gennaker.cli.backend import BackendError, Watcher, stops_waiting


class RemoteBackend:
    """Commands on a Gennaker server, through its Gate-compatible HTTP API."""

    def __init__(self, url: str, token: str, transport: httpx.BaseTransport | None = None):
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30, transport=transport
        )

    def _call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> httpx.Response | None:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach {self.http.base_url}: {exc}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            raise BackendError(_error_text(response))
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        return response.json() if response is not None else None

    def _task(self, job: dict[str, Any]) -> None:
        ref = self._json("POST", "/tasks", json={"job": [job]})["ref"]
        task = self._json("GET", ref)
        if task["status"] != "SUCCEEDED":
            failed = next((s for s in task["stages"] if s["status"] == "TERMINAL"), None)
            details = ((failed or {}).get("context", {}).get("exception") or {}).get("details") or {}
            raise BackendError(details.get("error") or f"task {task['id']} ended {task['status']}")

    def whoami(self) -> dict[str, Any]:
        user: dict[str, Any] = self._json("GET", "/auth/user")
        return user

    def save_application(self, name: str, email: str | None) -> dict[str, Any]:
        kind = "updateApplication" if self.application(name) is not None else "createApplication"
        self._task({"type": kind, "application": {"name": name, **({"email": email} if email else {})}})
        saved = self.application(name)
        assert saved is not None
        return saved

    def applications(self) -> list[dict[str, Any]]:
        apps: list[dict[str, Any]] = self._json("GET", "/applications")
        return apps

    def accounts(self) -> list[dict[str, Any]]:
        accounts: list[dict[str, Any]] = self._json("GET", "/credentials")
        masters = self._call("GET", "/v3/builds", missing_ok=True)  # Jenkins masters too (issue 13)
        return accounts + [{"name": name, "type": "jenkins"} for name in (masters.json() if masters else [])]

    def server_groups(self, application: str) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self._json("GET", f"/applications/{application}/serverGroups")
        return groups

    def run_task(self, application: str, description: str, job: dict[str, Any]) -> str:
        body = {"application": application, "description": description, "job": [job]}
        task_id: str = self._json("POST", "/tasks", json=body)["id"]
        return task_id

    def application(self, name: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/applications/{name}", missing_ok=True)
        return response.json()["attributes"] if response is not None else None

    def delete_application(self, name: str) -> bool:
        if self.application(name) is None:
            return False
        self._task({"type": "deleteApplication", "application": {"name": name}})
        return True

    def save_pipeline(self, config: dict[str, Any], allow_unknown: bool = False) -> dict[str, Any]:
        saved: dict[str, Any] = self._json(
            "POST", "/pipelines", json=config, params={"allowUnknown": "true"} if allow_unknown else None
        )
        return saved

    def pipelines(self, application: str) -> list[dict[str, Any]]:
        configs: list[dict[str, Any]] = self._json("GET", f"/applications/{application}/pipelineConfigs")
        return configs

    def pipeline(self, application: str, name: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/applications/{application}/pipelineConfigs/{name}", missing_ok=True)
        return response.json() if response is not None else None

    def delete_pipeline(self, application: str, name: str) -> bool:
        if self.pipeline(application, name) is None:
            return False
        self._call("DELETE", f"/pipelines/{application}/{name}")
        return True

    def history(self, pipeline_id: str) -> list[dict[str, Any]]:
        versions = self._json("GET", f"/pipelineConfigs/{pipeline_id}/history", params={"limit": 1000})
        meta = ("version", "createdAt", "createdBy")
        return [{**{k: v[k] for k in meta}, "config": {k: x for k, x in v.items() if k not in meta}} for v in versions]

    def trigger_history(self, pipeline_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self._json("GET", f"/pipelineConfigs/{pipeline_id}/triggers/history")
        return events

    def restore(self, pipeline_id: str, version: int) -> bool:
        path = f"/pipelineConfigs/{pipeline_id}/history/{version}/restore"
        return self._call("POST", path, missing_ok=True) is not None

    def execute(self, application: str, name: str, trigger: dict[str, Any]) -> str:
        ref: str = self._json("POST", f"/pipelines/{application}/{name}", json=trigger)["ref"]
        return ref.rsplit("/", 1)[-1]

    def execution(self, execution_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/pipelines/{execution_id}", missing_ok=True)
        return response.json() if response is not None else None

    def executions(self, application: str, statuses: list[str], limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if statuses:
            params["statuses"] = ",".join(statuses)
        found: list[dict[str, Any]] = self._json("GET", f"/applications/{application}/pipelines", params=params)
        return found[:limit]

    def cancel(self, execution_id: str, reason: str | None) -> None:
        self._call("PUT", f"/pipelines/{execution_id}/cancel", params={"reason": reason} if reason else None)

    def pause(self, execution_id: str) -> None:
        self._call("PUT", f"/pipelines/{execution_id}/pause")

    def resume(self, execution_id: str) -> None:
        self._call("PUT", f"/pipelines/{execution_id}/resume")

    def restart(self, execution_id: str, stage: str) -> None:
        self._call("PUT", f"/pipelines/{execution_id}/stages/{stage}/restart")

    def judge(self, execution_id: str, stage: str, judgment: str, judgment_input: str | None) -> None:
        body: dict[str, Any] = {"judgmentStatus": judgment.lower()}
        if judgment_input is not None:
            body["judgmentInput"] = judgment_input
        self._call("PATCH", f"/pipelines/{execution_id}/stages/{stage}", json=body)

    def watch(self, execution_id: str, on_update: Watcher) -> dict[str, Any]:
        """Follow the server's event stream for the execution."""
        last: dict[str, Any] | None = None
        with self.http.stream("GET", f"/pipelines/{execution_id}/events", timeout=None) as stream:
            if stream.status_code >= 400:
                stream.read()
                raise BackendError(_error_text(stream))
            for line in stream.iter_lines():
                if not line.startswith("data: "):
                    continue
                last = json.loads(line.removeprefix("data: "))
                on_update(last)
                if stops_waiting(last):
                    return last
        if last is None:
            raise BackendError(f"the server closed the stream of {execution_id}")
        return last

    def close(self) -> None:
        self.http.close()

    # -- pipeline templates (v2) -------------------------------------------------------------------
    def save_template(self, template: dict[str, Any], tag: str | None) -> dict[str, Any]:
        """Gate's update when the server has the template (that tag of it), else its create (as spin does)."""
        template_id = template.get("id")
        if not isinstance(template_id, str) or not template_id:
            raise BackendError("the pipeline template has no id")
        params = {"tag": tag} if tag else None
        path = f"/v2/pipelineTemplates/{quote(template_id, safe='')}"
        if self._call("GET", path, missing_ok=True, params=params) is not None:
            path = f"/v2/pipelineTemplates/update/{quote(template_id, safe='')}"
        else:
            path = "/v2/pipelineTemplates/create"
        saved: dict[str, Any] = self._json("POST", path, json=template, params=params)
        return saved

    def template(self, template_id: str, tag: str | None, digest: str | None) -> dict[str, Any] | None:
        params = {k: v for k, v in (("tag", tag), ("digest", digest)) if v}
        response = self._call(
            "GET", f"/v2/pipelineTemplates/{quote(template_id, safe='')}", missing_ok=True, params=params
        )
        return response.json() if response is not None else None

    def templates(self, scopes: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._json("GET", "/v2/pipelineTemplates", params={"scopes": scopes})
        return found

    def delete_template(self, template_id: str, tag: str | None, digest: str | None) -> bool:
        params = {k: v for k, v in (("tag", tag), ("digest", digest)) if v}
        path = f"/v2/pipelineTemplates/{quote(template_id, safe='')}"
        return self._call("DELETE", path, missing_ok=True, params=params) is not None

    def plan_pipeline(self, config: dict[str, Any]) -> dict[str, Any]:
        planned: dict[str, Any] = self._json("POST", "/v2/pipelineTemplates/plan", json=config)
        return planned

    # -- canary configs (Gate's Kayenta routes) -----------------------------------------------------------
    def save_canary_config(self, config: dict[str, Any]) -> str:
        """PUT when the server has the config's id, else POST (as `spin canary canary-config save`)."""
        config_id = config.get("id")
        if isinstance(config_id, str) and config_id and self.canary_config(config_id) is not None:
            answer = self._json("PUT", f"/v2/canaryConfig/{quote(config_id, safe='')}", json=config)
        else:
            answer = self._json("POST", "/v2/canaryConfig", json=config)
        return str(answer["canaryConfigId"])

    def canary_config(self, config_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/v2/canaryConfig/{quote(config_id, safe='')}", missing_ok=True)
        return response.json() if response is not None else None

    def canary_configs(self, application: str | None) -> list[dict[str, Any]]:
        params = {"application": application} if application else None
        found: list[dict[str, Any]] = self._json("GET", "/v2/canaryConfig", params=params)
        return found

    def delete_canary_config(self, config_id: str) -> bool:
        path = f"/v2/canaryConfig/{quote(config_id, safe='')}"
        return self._call("DELETE", path, missing_ok=True) is not None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    details = "; ".join(f"{d['field']}: {d['problem']}" for d in body.get("details") or [])
    message = str(body.get("message") or f"HTTP {response.status_code}")
    return f"{message} ({details})" if details and details not in message else message
