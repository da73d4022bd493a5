"""The `webhook` stage against a local HTTP server on 127.0.0.1 (orca.md §3.4, echo-igor.md §4).

Every request goes to 127.0.0.1: the server's address is let through by `webhook.allowedRequests` (or by
`outbound.allowNetworks`), and every other host name is answered by an injected resolver, so no test ever
looks a name up in DNS or sends a packet elsewhere. Refusals are shown to happen before any connection: the
transport that would carry the request records that it was never used.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gennaker.artifacts.fetchers import OutboundPolicy
from gennaker.auth.service import AuthService
from gennaker.runtime import Runtime
from gennaker.stages.webhook import add_webhook_stages
from gennaker.stages.webhook.config import HTTP_METHODS
from gennaker.stages.webhook.jsonpath import BadPath, read_path
from tests.support import make_runtime, pipeline, wait_for, wait_status

FINAL = ("SUCCEEDED", "TERMINAL", "CANCELED", "STOPPED")


# -- a scriptable HTTP server on 127.0.0.1 ------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, list[str]]  # lower-cased names
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class HookServer:
    """Answers each (method, path) with its scripted replies in order, repeating the last one."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers: dict[str, list[str]] = {}
                for name, value in self.headers.items():
                    headers.setdefault(name.lower(), []).append(value)
                reply = server.record(Seen(self.command, self.path, headers, body, time.monotonic()))
                payload = b""
                content_type = None
                if isinstance(reply.body, dict | list):
                    payload, content_type = json.dumps(reply.body).encode(), "application/json"
                elif isinstance(reply.body, str):
                    payload, content_type = reply.body.encode(), "text/plain"
                self.send_response(reply.status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def record(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            replies = self.routes.get((seen.method, seen.path))
            if not replies:
                return Reply(404, {"error": "no route"})
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if (method is None or s.method == method) and (path is None or s.path == path)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[HookServer]:
    hooks = HookServer()
    yield hooks
    hooks.close()


# -- runtimes ---------------------------------------------------------------------------------------------


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"a test looked up {host} in DNS")


def allow_server(server: HookServer, **extra: Any) -> dict[str, Any]:
    """The `webhook` section that lets the test server through (any method) and retries quickly."""
    return {
        "allowedRequests": [{"httpMethods": list(HTTP_METHODS), "urlPrefix": server.url("/")}],
        "retryBackoffMs": 100,
        "monitorBackoffMs": 100,
        **extra,
    }


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def runtime_with(tmp_path: Path) -> Iterator[RuntimeFactory]:
    made: list[Runtime] = []

    def make(
        webhook: dict[str, Any],
        *,
        outbound: dict[str, Any] | None = None,
        resolver: Callable[[str], list[str]] = no_dns,
        transport: httpx.BaseTransport | None = None,
        enforce_permissions: bool = False,
    ) -> Runtime:
        config: dict[str, Any] = {"webhook": webhook, **({"outbound": outbound} if outbound else {})}
        rt = make_runtime(tmp_path / str(len(made)), config=config, enforce_permissions=enforce_permissions)
        made.append(rt)
        policy = OutboundPolicy.from_config(outbound)
        add_webhook_stages(rt.registry, webhook, policy, resolver=resolver, transport=transport)
        rt.start_workers(1)
        return rt

    yield make
    for rt in made:
        rt.close()


def run(
    rt: Runtime,
    stages: list[dict[str, Any]],
    *,
    user: str = "tester",
    trigger: dict[str, Any] | None = None,
    timeout: float = 20.0,
) -> dict[str, Any]:
    rt.save_pipeline(pipeline("hooks", stages), user)
    execution_id = rt.start_pipeline("demo", "hooks", trigger or {"type": "manual"}, user)
    return wait_status(rt, execution_id, *FINAL, timeout=timeout)


def stage(execution: dict[str, Any], ref_id: str) -> dict[str, Any]:
    return next(s for s in execution["stages"] if s["refId"] == ref_id)


def error_of(found: dict[str, Any]) -> str:
    return str(found["context"]["exception"]["details"]["error"])


def webhook_stage(ref_id: str = "1", **context: Any) -> dict[str, Any]:
    return {"refId": ref_id, "type": "webhook", "name": f"Call {ref_id}", **context}


# -- calling the webhook ----------------------------------------------------------------------------------


def test_a_call_sends_method_payload_and_headers_and_its_answer_is_readable_downstream(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/hooks", Reply(201, {"id": 42, "state": "queued"}, {"X-Job": "j-42"}))
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/hooks"),
                method="post",
                payload={"sha": "${trigger.parameters.sha}", "app": "${execution.application}"},
                customHeaders={"X-Token": "t1", "X-Spinnaker-User": "admin", "X-Multi": ["a", "b"]},
            ),
            {
                "refId": "2",
                "requisiteStageRefIds": ["1"],
                "type": "evaluateVariables",
                "name": "Read",
                "variables": [
                    {"key": "jobId", "value": "${#stage('Call 1')['context']['webhook']['body']['id']}"},
                    {"key": "job", "value": "${#stage('Call 1')['context']['webhook']['headers']['X-Job']}"},
                ],
            },
        ],
        trigger={"type": "manual", "parameters": {"sha": "abc123"}},
    )
    assert done["status"] == "SUCCEEDED"
    [call] = server.requests("POST", "/hooks")
    assert call.json() == {"sha": "abc123", "app": "demo"}
    assert call.header("Content-Type") == "application/json"
    assert call.header("X-Token") == "t1"
    assert call.header("X-Spinnaker-User") is None  # Orca's deny list
    assert call.headers["x-multi"] == ["a", "b"]
    webhook = stage(done, "1")["context"]["webhook"]
    assert webhook["statusCode"] == "CREATED" and webhook["statusCodeValue"] == 201
    assert webhook["body"] == {"id": 42, "state": "queued"}
    assert stage(done, "2")["outputs"]["jobId"] == 42
    assert stage(done, "2")["outputs"]["job"] == "j-42"


def test_a_server_error_is_retried_until_time_runs_out_and_the_failure_names_url_and_status(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/broken", Reply(500, {"message": "boom"}))
    rt = runtime_with(allow_server(server, retryBackoffMs=150))
    done = run(rt, [webhook_stage(url=server.url("/broken"), stageTimeoutMs=1500)])
    assert done["status"] == "TERMINAL"
    failed = stage(done, "1")
    error = error_of(failed)
    assert server.url("/broken") in error and "status code 500" in error and "no time is left to retry" in error
    assert len(server.requests("POST", "/broken")) >= 3
    assert failed["context"]["webhook"]["body"] == {"message": "boom"}


def test_retryable_status_codes_are_retried_until_the_call_succeeds(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/flaky", Reply(503), Reply(429), Reply(418, "teapot"), Reply(200, {"ok": True}))
    rt = runtime_with(allow_server(server))
    done = run(rt, [webhook_stage(url=server.url("/flaky"), webhookRetryStatusCodes=[418])])
    assert done["status"] == "SUCCEEDED"
    assert len(server.requests("POST", "/flaky")) == 4
    assert stage(done, "1")["context"]["webhook"]["body"] == {"ok": True}


@pytest.mark.parametrize(
    ("status", "context", "words"),
    [
        (504, {}, "configured to fail fast"),
        (409, {"failFastStatusCodes": [409]}, "configured to fail fast"),
        (404, {}, "with status code 404."),
    ],
)
def test_fail_fast_codes_and_client_errors_fail_at_once(
    server: HookServer, runtime_with: RuntimeFactory, status: int, context: dict[str, Any], words: str
) -> None:
    server.route("PUT", "/once", Reply(status, {"error": "no"}))
    rt = runtime_with(allow_server(server))
    done = run(rt, [webhook_stage(url=server.url("/once"), method="PUT", **context)])
    assert done["status"] == "TERMINAL"
    assert words in error_of(stage(done, "1"))
    assert len(server.requests("PUT", "/once")) == 1


# -- waiting for completion --------------------------------------------------------------------------------


def test_get_method_polls_the_url_with_progress_until_a_success_status(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/jobs", Reply(200, {"queued": True}))
    server.route(
        "GET",
        "/jobs",
        Reply(200, {"state": "running", "message": "compiling"}),
        Reply(200, {"state": "Running", "message": "testing"}),
        Reply(200, {"state": "done", "message": "all green"}),
    )
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/jobs"),
                waitForCompletion=True,
                statusUrlResolution="getMethod",
                statusJsonPath="$.state",
                progressJsonPath="message",
                successStatuses="DONE, FINISHED",
                customHeaders={"Authorization": "Bearer x"},
            )
        ],
    )
    assert done["status"] == "SUCCEEDED"
    polls = server.requests("GET", "/jobs")
    assert len(polls) == 3 and all(p.header("Authorization") == "Bearer x" for p in polls)
    webhook = stage(done, "1")["context"]["webhook"]
    assert webhook["statusEndpoint"] == server.url("/jobs")
    assert webhook["monitor"]["progressMessage"] == "all green"
    assert webhook["monitor"]["body"] == {"state": "done", "message": "all green"}
    assert [t["name"] for t in stage(done, "1")["tasks"]] == ["createWebhook", "monitorWebhook"]


def test_location_header_gives_the_status_url_and_a_number_is_percent_complete(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/builds", Reply(202, None, {"Location": "/builds/7/status"}))
    server.route("GET", "/builds/7/status", Reply(200, {"progress": 40}), Reply(200, {"progress": 100}))
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/builds"),
                waitForCompletion=True,
                statusUrlResolution="locationHeader",
                statusJsonPath="$.progress",
            )
        ],
    )
    assert done["status"] == "SUCCEEDED"
    context = stage(done, "1")["context"]
    assert context["statusEndpoint"] == server.url("/builds/7/status")
    assert context["webhook"]["monitor"]["percentComplete"] == 100
    assert len(server.requests("GET", "/builds/7/status")) == 2


def test_webhook_response_gives_the_status_url_and_a_terminal_status_fails_the_stage(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/deploys", Reply(200, {"links": {"status": server.url("/deploys/9")}}))
    pending, failed = Reply(200, {"status": {"phase": "Pending"}}), Reply(200, {"status": {"phase": "Failed"}})
    server.route("GET", "/deploys/9", pending, failed)
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/deploys"),
                waitForCompletion=True,
                statusUrlResolution="webhookResponse",
                statusUrlJsonPath="$.links.status",
                statusJsonPath="$.status.phase",
                successStatuses="SUCCEEDED",
                terminalStatuses="FAILED,ERROR",
            )
        ],
    )
    assert done["status"] == "TERMINAL"
    error = error_of(stage(done, "1"))
    assert server.url("/deploys/9") in error and "Failed" in error
    assert len(server.requests("GET", "/deploys/9")) == 2


def test_a_status_path_that_is_missing_fails_the_stage(server: HookServer, runtime_with: RuntimeFactory) -> None:
    server.route("POST", "/odd", Reply(200, {}))
    server.route("GET", "/odd", Reply(200, {"something": "else"}))
    rt = runtime_with(allow_server(server))
    done = run(rt, [webhook_stage(url=server.url("/odd"), waitForCompletion=True, statusJsonPath="$.state")])
    assert done["status"] == "TERMINAL"
    assert "JSON property '$.state' not found" in error_of(stage(done, "1"))


def test_monitor_only_polls_without_calling_after_waiting_before_monitor(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("GET", "/existing", Reply(200, {"state": "SUCCESS"}))
    rt = runtime_with(allow_server(server))
    started = time.monotonic()
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/existing"),
                monitorOnly=True,
                waitForCompletion=True,
                waitBeforeMonitor=1,
                statusJsonPath="$.state",
                successStatuses="SUCCESS",
            )
        ],
    )
    assert done["status"] == "SUCCEEDED"
    assert server.requests("POST") == []
    [poll] = server.requests("GET", "/existing")
    assert poll.at - started >= 1.0
    assert [t["name"] for t in stage(done, "1")["tasks"]] == ["waitBeforeMonitorWebhook", "monitorWebhook"]


def test_monitor_retries_a_status_code_only_as_often_as_retries_allows(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/job", Reply(200, {}))
    server.route("GET", "/job", Reply(503, "busy"))
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [webhook_stage(url=server.url("/job"), waitForCompletion=True, retries={"503": {"maxAttempts": 2}})],
    )
    assert done["status"] == "TERMINAL"
    assert len(server.requests("GET", "/job")) == 3
    monitor = stage(done, "1")["context"]["webhook"]["monitor"]
    assert monitor["pastStatusCodes"] == [503, 503]
    assert "status code 503" in error_of(stage(done, "1"))


def test_a_webhook_that_never_finishes_times_out_and_its_cancel_endpoint_is_called(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/forever", Reply(200, {"id": "run-5"}))
    server.route("GET", "/forever", Reply(200, {"state": "RUNNING"}))
    server.route("POST", "/cancel/run-5", Reply(204))
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/forever"),
                waitForCompletion=True,
                statusJsonPath="$.state",
                successStatuses="DONE",
                stageTimeoutMs=1500,
                cancelEndpoint=server.url("/cancel/${webhook.body.id}"),
                cancelPayload={"reason": "timed out in ${execution.application}"},
            )
        ],
    )
    assert done["status"] == "TERMINAL"
    assert "timed out" in error_of(stage(done, "1"))
    # `${webhook.body.id}` could not be evaluated when the stage started; it is, when the cancel call is made.
    assert stage(done, "1")["context"]["exception"]["details"]["errors"] == [error_of(stage(done, "1"))]
    [cancel] = server.requests("POST", "/cancel/run-5")
    assert cancel.json() == {"reason": "timed out in demo"}
    [cancellation] = [s for s in done["stages"] if s.get("parentStageId") == stage(done, "1")["id"]]
    assert cancellation["type"] == "webhookCancellation" and cancellation["status"] == "SUCCEEDED"
    assert cancellation["context"]["webhook"]["statusCodeValue"] == 204


def test_a_canceled_status_calls_the_cancel_endpoint_once_and_cancels_the_stage(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/task", Reply(200, {}))
    server.route("GET", "/task", Reply(200, {"state": "aborted"}))
    server.route("DELETE", "/task", Reply(200, {"deleted": True}))
    rt = runtime_with(allow_server(server))
    done = run(
        rt,
        [
            webhook_stage(
                url=server.url("/task"),
                waitForCompletion=True,
                statusJsonPath="$.state",
                canceledStatuses="ABORTED",
                cancelEndpoint=server.url("/task"),
                cancelMethod="delete",
            )
        ],
    )
    assert done["status"] == "CANCELED" and stage(done, "1")["status"] == "CANCELED"
    assert len(server.requests("DELETE", "/task")) == 1
    assert stage(done, "1")["context"]["webhook"]["cancellation"]["statusCodeValue"] == 200


def test_cancelling_the_execution_calls_the_cancel_endpoint(server: HookServer, runtime_with: RuntimeFactory) -> None:
    server.route("POST", "/long", Reply(201, {"id": 77}))
    server.route("GET", "/long", Reply(200, {"state": "RUNNING"}))
    server.route("PUT", "/long/77/stop", Reply(202))
    rt = runtime_with(allow_server(server))
    rt.save_pipeline(
        pipeline(
            "hooks",
            [
                webhook_stage(
                    url=server.url("/long"),
                    waitForCompletion=True,
                    statusJsonPath="$.state",
                    successStatuses="DONE",
                    cancelEndpoint=server.url("/long/${webhook.body.id}/stop"),
                    cancelMethod="PUT",
                    cancelPayload={"by": "${execution.authentication.user}"},
                )
            ],
        ),
        "tester",
    )
    execution_id = rt.start_pipeline("demo", "hooks", {"type": "manual"}, "tester")
    wait_for(lambda: len(server.requests("GET", "/long")) >= 2, what="the monitor to poll")
    assert server.requests("PUT") == []
    rt.operations.cancel(execution_id, "tester", "no longer needed")
    done = wait_status(rt, execution_id, "CANCELED")
    [stop] = wait_for(lambda: server.requests("PUT", "/long/77/stop"), what="the cancel call")
    assert stop.json() == {"by": "tester"}
    assert stage(done, "1")["context"]["webhook"]["cancellation"]["endpoint"] == server.url("/long/77/stop")


def test_produced_artifacts_are_bound_to_expected_artifacts(server: HookServer, runtime_with: RuntimeFactory) -> None:
    image = {"type": "docker/image", "name": "gcr.io/shop/web", "version": "1.2", "reference": "gcr.io/shop/web:1.2"}
    server.route("POST", "/build", Reply(200, {"artifacts": [image]}))
    rt = runtime_with(allow_server(server))
    expected = {"id": "web", "matchArtifact": {"type": "docker/image", "name": "gcr.io/shop/web"}}
    done = run(rt, [webhook_stage(url=server.url("/build"), expectedArtifacts=[expected])])
    assert done["status"] == "SUCCEEDED"
    assert stage(done, "1")["outputs"]["artifacts"] == [image]


# -- preconfigured webhooks -------------------------------------------------------------------------------


def release_hook(server: HookServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "notifyRelease",
        "label": "Notify release",
        "description": "Posts a release record",
        "url": server.url("/release/${parameterValues['env']}"),
        "method": "PUT",
        "customHeaders": {"Authorization": ["Bearer s3cret"]},
        "payload": '{"app": "${execution.application}", "note": "${parameterValues[\'note\']}"}',
        "parameters": [
            {"name": "env", "label": "Environment", "type": "string", "defaultValue": "prod"},
            {"name": "note", "label": "Note", "defaultValue": "none"},
        ],
        **extra,
    }


def test_a_preconfigured_webhook_uses_its_own_fields_and_the_stage_parameter_values(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("PUT", "/release/staging", Reply(200, {"recorded": True}))
    server.route("PUT", "/release/prod", Reply(200, {"recorded": True}))
    rt = runtime_with(allow_server(server, preconfigured=[release_hook(server)]))
    done = run(
        rt,
        [
            {
                "refId": "1",
                "type": "notifyRelease",
                "name": "Tell",
                "url": "https://elsewhere.example.com/steal",  # the preconfigured url wins
                "method": "GET",
                "parameterValues": {"env": "staging", "note": "hotfix"},
            },
            {"refId": "2", "requisiteStageRefIds": ["1"], "type": "notifyRelease", "name": "Defaults"},
        ],
    )
    assert done["status"] == "SUCCEEDED"
    [staging] = server.requests("PUT", "/release/staging")
    assert staging.json() == {"app": "demo", "note": "hotfix"}
    assert staging.header("Authorization") == "Bearer s3cret"
    assert staging.header("Content-Type") == "application/json"
    [prod] = server.requests("PUT", "/release/prod")
    assert prod.json() == {"app": "demo", "note": "none"}
    assert stage(done, "1")["context"]["url"] == server.url("/release/${parameterValues['env']}")
    assert stage(done, "2")["context"]["parameterValues"] == {"env": "prod", "note": "none"}


def test_only_users_with_the_preconfigured_webhooks_write_role_may_run_it(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("PUT", "/release/prod", Reply(200, {}))
    hook = release_hook(server, permissions={"READ": ["dev", "release-team"], "WRITE": ["release-team"]})
    rt = runtime_with(allow_server(server, preconfigured=[hook]), enforce_permissions=True)
    auth = AuthService(rt.db)
    auth.add_user("alice", None, ["release-team"])
    auth.add_user("bob", None, ["dev"])
    refused = run(rt, [{"refId": "1", "type": "notifyRelease", "name": "Tell"}], user="bob")
    assert refused["status"] == "TERMINAL"
    assert "bob may not run the preconfigured webhook 'notifyRelease'" in error_of(stage(refused, "1"))
    assert server.requests() == []
    allowed = run(rt, [{"refId": "1", "type": "notifyRelease", "name": "Tell"}], user="alice")
    assert allowed["status"] == "SUCCEEDED"
    assert len(server.requests("PUT", "/release/prod")) == 1


# -- where requests may go --------------------------------------------------------------------------------


class NeverUsed(httpx.BaseTransport):
    """A transport that records any use: a refused request must never reach it."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.used.append(str(request.url))
        return httpx.Response(599)


class Names:
    """An injected resolver: test names map to fixed addresses; every lookup is recorded."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise AssertionError(f"a test looked up {host} in DNS")
        return self.table[host]


@pytest.mark.parametrize(
    ("url", "looked_up", "words"),
    [
        ("http://hooks.corp.example.com/run", "hooks.corp.example.com", "non-public address 10.1.2.3"),
        ("http://mixed.example.com/run", "mixed.example.com", "non-public address 192.168.7.7"),
        ("http://169.254.169.254/latest/meta-data/", None, "non-public address 169.254.169.254"),
        ("http://[::1]:8080/run", None, "non-public address ::1"),
        ("http://127.0.0.1:9/run", None, "non-public address 127.0.0.1"),
        ("http://metadata.google.internal/x", None, "internal host name"),
        ("http://localhost:8080/x", None, "internal host name"),
        ("file:///etc/passwd", None, "only http and https"),
    ],
)
def test_webhooks_to_non_public_addresses_are_refused_before_any_connection(
    runtime_with: RuntimeFactory, url: str, looked_up: str | None, words: str
) -> None:
    names = Names({"hooks.corp.example.com": ["10.1.2.3"], "mixed.example.com": ["93.184.216.34", "192.168.7.7"]})
    transport = NeverUsed()
    rt = runtime_with({"retryBackoffMs": 100}, resolver=names, transport=transport)
    done = run(rt, [webhook_stage(url=url)])
    assert done["status"] == "TERMINAL"
    assert words in error_of(stage(done, "1"))
    assert transport.used == []
    assert names.asked == ([looked_up] if looked_up else [])


def test_the_allow_list_lets_listed_requests_through_and_refuses_the_rest(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/allowed/run", Reply(200, {"ok": True}))
    server.route("GET", "/allowed/run", Reply(200, {"ok": True}))
    server.route("POST", "/other", Reply(200, {"ok": True}))
    names = Names({"api.public.example.com": ["93.184.216.34"]})
    webhook = {
        "allowedRequestsEnabled": True,
        "allowedRequests": [
            {"httpMethods": ["POST"], "urlPrefix": server.url("/allowed/")},
            {"httpMethods": ["GET"], "urlPattern": r"http://127\.0\.0\.1:[0-9]+/status/[0-9]+"},
        ],
    }
    rt = runtime_with(webhook, resolver=names)
    refused = [
        {"method": "GET", "url": server.url("/allowed/run")},
        {"url": server.url("/other")},
        {"url": "https://api.public.example.com/hook"},
        {"url": f"http://127.0.0.1:{server.port}@10.9.9.9/allowed/run"},
    ]
    done = run(
        rt,
        [
            webhook_stage("1", url=server.url("/allowed/run")),
            *(
                webhook_stage(str(index), requisiteStageRefIds=[str(index - 1)], continuePipeline=True, **context)
                for index, context in enumerate(refused, start=2)
            ),
        ],
    )
    assert done["status"] == "SUCCEEDED"
    assert stage(done, "1")["status"] == "SUCCEEDED"
    for ref_id in ("2", "3", "4", "5"):
        assert stage(done, ref_id)["status"] == "FAILED_CONTINUE"
        assert "no webhook.allowedRequests entry lets it through" in error_of(stage(done, ref_id))
    assert [(s.method, s.path) for s in server.requests()] == [("POST", "/allowed/run")]
    assert names.asked == []  # refused on the URL alone, before any lookup


def test_outbound_networks_let_a_name_through_and_the_request_goes_to_the_checked_address(
    server: HookServer, runtime_with: RuntimeFactory
) -> None:
    server.route("POST", "/hook", Reply(200, {"ok": True}))
    names = Names({"hooks.example.com": ["127.0.0.1"]})
    rt = runtime_with({"retryBackoffMs": 100}, outbound={"allowNetworks": ["127.0.0.0/8"]}, resolver=names)
    done = run(rt, [webhook_stage(url=f"http://hooks.example.com:{server.port}/hook")])
    assert done["status"] == "SUCCEEDED"
    [call] = server.requests("POST", "/hook")
    assert call.header("Host") == f"hooks.example.com:{server.port}"
    assert names.asked == ["hooks.example.com"]


def test_an_unresolvable_host_is_retried_as_orca_does(runtime_with: RuntimeFactory) -> None:
    def unresolvable(host: str) -> list[str]:
        return []

    transport = NeverUsed()
    rt = runtime_with({"retryBackoffMs": 100}, resolver=unresolvable, transport=transport)
    done = run(rt, [webhook_stage(url="https://gone.example.com/hook", stageTimeoutMs=800)])
    assert done["status"] == "TERMINAL"
    error = error_of(stage(done, "1"))
    assert "Remote host resolution failure" in error and "https://gone.example.com/hook" in error
    assert transport.used == []


def test_a_status_path_filter_regex_runs_on_re2() -> None:
    body = {"jobs": [{"name": "a" * 40 + "!", "state": "slow"}, {"name": "deploy-7", "state": "done"}]}
    assert read_path(body, '$.jobs[?(@.name =~ "deploy-[0-9]+")].state') == ["done"]
    started = time.monotonic()
    assert read_path(body, '$.jobs[?(@.name =~ "(a+)+$")].state') == []  # backtracks for minutes on `re`
    assert time.monotonic() - started < 1
    with pytest.raises(BadPath, match="RE2"):
        read_path(body, '$.jobs[?(@.name =~ "(?=deploy)")].state')
