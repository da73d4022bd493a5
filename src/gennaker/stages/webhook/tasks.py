"""The webhook stage's tasks (orca.md §3.4): call the webhook, wait, poll its status, and cancel it.

Every task that makes a request is `external`: HTTP happens outside the database transaction. The call is
not idempotent in general, so a worker that crashes between the call and recording its answer makes it
again when the task is retried (at-least-once, as in Orca).

Outputs follow Orca's shape, in the stage context: `webhook {statusCode, statusCodeValue, headers, body,
error, statusEndpoint, monitor {…, pastStatusCodes, percentComplete, progressMessage, resolvedValue}}`, read
downstream as `${#stage('Call CI')['context']['webhook']['body']['id']}`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from gennaker.engine.contracts import EngineServices, StageFailure, Task, TaskContext, TaskResult, exception_details
from gennaker.engine.evaluation import has_template_for
from gennaker.model.execution import Execution, Stage
from gennaker.model.stage_context import as_number
from gennaker.model.status import Status
from gennaker.stages.webhook.client import Refused, RequestFailed, Response, Unresolved, WebhookClient
from gennaker.stages.webhook.config import Preconfigured, WebhookSettings
from gennaker.stages.webhook.jsonpath import BadPath, PathNotFound, read_path
from gennaker.stages.webhook.schema import truthy

log = logging.getLogger(__name__)

CREATE_TIMEOUT_MS = 5 * 60 * 1000
MONITOR_TIMEOUT_MS = 3600 * 1000
SLOW_POLL_AFTER_MS = 60 * 1000
SLOW_POLL_MS = 15 * 1000
DEFAULT_FAIL_FAST = (504,)
CANCEL_FIELDS = ("cancelEndpoint", "cancelMethod", "cancelPayload", "customHeaders")
# Evaluated when the cancel call is made: they usually read the webhook's own answer (`${webhook.body.id}`),
# which does not exist when the stage starts.
DEFERRED_FIELDS = ("cancelEndpoint", "cancelPayload")
SUMMARY_KEY = "expressionEvaluationSummary"


def text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def status_codes(value: Any) -> set[int]:
    if not isinstance(value, list):
        return set()
    found = set()
    for item in value:
        number = as_number(item)
        if number is not None and number.is_integer():
            found.add(int(number))
    return found


def response_output(response: Response) -> dict[str, Any]:
    """Orca's `WebhookResponseStageData` of one response."""
    output: dict[str, Any] = {"statusCode": response.status_name, "statusCodeValue": response.status}
    if response.headers:
        output["headers"] = response.headers
    if response.body is not None:
        output["body"] = response.body
    return output


def current_summary(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The expression failures of this run's evaluation, without those only the cancel fields hold.

    Tasks that run outside the transaction do not store their evaluation, so without this the summary of the
    stage's start would stay, listing `${webhook…}` in the cancel fields as failed for good."""
    summary = ctx.get(SUMMARY_KEY)
    if not isinstance(summary, Mapping):
        return {}
    deferred = {k: ctx.get(k) for k in DEFERRED_FIELDS}
    rest = {k: v for k, v in ctx.items() if k not in DEFERRED_FIELDS and k != SUMMARY_KEY}
    return {
        expression: entries
        for expression, entries in summary.items()
        if not (has_template_for(expression, deferred) and not has_template_for(expression, rest))
    }


def failed(error: str, **context: Any) -> TaskResult:
    """TERMINAL with `error` as the stage's reason (Deck shows `exception`) as well as in the webhook output."""
    return TaskResult(Status.TERMINAL, {**context, "exception": exception_details(error)})


@dataclass
class Webhooks:
    """What the webhook tasks share: the settings, the HTTP client, and a pool for cancel calls made from
    inside a transaction (the engine's cancel hook), so the database never waits on a remote server."""

    settings: WebhookSettings
    client: WebhookClient
    # Threads start on the first cancel call only.
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook-cancel")
    )

    def preset(self, stage: Stage) -> Preconfigured | None:
        return self.settings.preset(stage.type)

    def authorize(self, tc: TaskContext) -> None:
        """A preconfigured webhook that restricts WRITE runs only for users holding one of those roles."""
        preset = self.preset(tc.stage)
        roles = preset.permissions.get("WRITE") if preset else None
        allows = tc.services.resource_allows
        if preset is None or not roles or allows is None:
            return
        user = tc.execution.authentication.get("user")
        if not allows(user, {"WRITE": list(roles)}, "WRITE"):
            raise StageFailure(f"{user or 'anonymous'} may not run the preconfigured webhook '{preset.type}'")

    def effective(self, tc: TaskContext) -> dict[str, Any]:
        """The stage context with a preconfigured webhook's fields laid over it, evaluated now: users cannot
        change them, not even by editing the running stage's context."""
        return self.overlay(tc.execution, tc.stage, dict(tc.ctx), tc.services)

    def overlay(
        self, execution: Execution, stage: Stage, context: dict[str, Any], services: EngineServices
    ) -> dict[str, Any]:
        preset = self.preset(stage)
        if preset is None:
            return context
        fixed, _ = services.expressions.evaluate_value(execution, stage, copy.deepcopy(dict(preset.fields)))
        return {**context, **fixed}

    # -- cancellation ----------------------------------------------------------------------------------
    def cancel_request(
        self, execution: Execution, stage: Stage, services: EngineServices
    ) -> tuple[str, str, Any, Any] | None:
        """(method, url, headers, payload) of the stage's cancel call, or None when there is none to make."""
        if not wants_cancel(stage.context):
            return None
        fields = {k: stage.context.get(k) for k in CANCEL_FIELDS}
        evaluated, _ = services.expressions.evaluate_value(execution, stage, fields)
        return cancel_call(self.overlay(execution, stage, dict(evaluated), services))

    def cancel_now(self, request: tuple[str, str, Any, Any]) -> dict[str, Any]:
        """Make the cancel call (best effort): what happened, for the stage context."""
        method, url, headers, payload = request
        record: dict[str, Any] = {"endpoint": url, "method": method}
        try:
            response = self.client.send(method, url, headers, payload)
        except (Refused, Unresolved, RequestFailed) as error:
            log.warning("webhook cancellation %s %s failed: %s", method, url, error)
            record["error"] = str(error)
            return record
        record.update(response_output(response))
        if response.status >= 400:
            log.warning("webhook cancellation %s %s answered HTTP %s", method, url, response.status)
        return record

    def cancel_in_background(self, tc: TaskContext) -> None:
        """The engine's cancel hook runs inside its transaction: note the call in the stage, make it later."""
        request = self.cancel_request(tc.execution, tc.stage, tc.services)
        if request is None:
            return
        webhook = tc.stage.context.setdefault("webhook", {})
        if isinstance(webhook, dict):
            webhook["cancellation"] = {"endpoint": request[1], "method": request[0], "requestedAt": tc.now}
        self.pool.submit(self.cancel_now, request)


def cancel_call(fields: Mapping[str, Any]) -> tuple[str, str, Any, Any]:
    """(method, url, headers, payload) of a cancel call from evaluated stage fields."""
    method = text(fields.get("cancelMethod")).upper() or "POST"
    return method, text(fields.get("cancelEndpoint")), fields.get("customHeaders"), fields.get("cancelPayload")


def wants_cancel(context: Mapping[str, Any]) -> bool:
    """Whether a cancel call is due: a cancel endpoint is set, the webhook was reached (a call answered or a
    status poll ran, so a refused or unauthorized stage never calls it), and it was not called already."""
    webhook = context.get("webhook")
    if not text(context.get("cancelEndpoint")) or not isinstance(webhook, Mapping):
        return False
    reached = webhook.get("statusCodeValue") is not None or isinstance(webhook.get("monitor"), Mapping)
    return reached and "cancellation" not in webhook


class WebhookTask(Task):
    """What the webhook tasks have in common: the shared parts and how much time a task has left."""

    def __init__(self, hooks: Webhooks):
        self.hooks = hooks

    def execute(self, tc: TaskContext) -> TaskResult:
        result = self.run(tc)
        result.context.setdefault(SUMMARY_KEY, current_summary(tc.ctx))
        return result

    def run(self, tc: TaskContext) -> TaskResult:
        raise NotImplementedError

    def running_task_start(self, tc: TaskContext) -> int | None:
        task = next((t for t in tc.stage.tasks if t.name == self.name and t.status is Status.RUNNING), None)
        return task.start_time if task else None

    def time_left_ms(self, tc: TaskContext) -> int | None:
        """Time until the task's or the stage's time limit (orca.md §2.5), or None without one."""
        left: list[int] = []
        stage_limit = as_number(tc.ctx.get("stageTimeoutMs"))
        if stage_limit is not None and tc.stage.start_time is not None:
            left.append(int(stage_limit) - (tc.now - tc.stage.start_time - tc.stage.paused_ms))
        task_limit = int(stage_limit) if (self.timeout_overridable and stage_limit is not None) else self.timeout_ms
        started = self.running_task_start(tc)
        if task_limit is not None and started is not None:
            left.append(task_limit - (tc.now - started - tc.stage.paused_ms))
        return min(left) if left else None

    def retry(self, tc: TaskContext, error: str, **context: Any) -> TaskResult:
        """Poll again, or fail now with `error` when the next try would start less than one backoff before the
        time limit (too late to be answered in time), so the stage says why it failed, not only that it timed
        out; with `markSuccessfulOnTimeout` the engine's timeout decides."""
        left = self.time_left_ms(tc)
        engine_decides = truthy(tc.ctx.get("markSuccessfulOnTimeout"))
        if left is not None and left < 2 * self.dynamic_backoff_ms(tc) and not engine_decides:
            return failed(f"{error}; no time is left to retry", **context)
        return TaskResult(Status.RUNNING, context)

    def first_in_stage(self, tc: TaskContext) -> bool:
        return bool(tc.stage.tasks) and tc.stage.tasks[0].name == self.name


class CreateWebhookTask(WebhookTask):
    """Call the webhook; retry server errors and configured codes, resolve the status URL (Orca's
    CreateWebhookTask and WebhookResponseProcessor)."""

    name = "createWebhook"
    external = True
    backoff_ms = 10_000
    timeout_ms = CREATE_TIMEOUT_MS

    def dynamic_backoff_ms(self, tc: TaskContext) -> int:
        return self.hooks.settings.retry_backoff_ms

    def run(self, tc: TaskContext) -> TaskResult:
        self.hooks.authorize(tc)
        ctx = self.hooks.effective(tc)
        url = text(ctx.get("url"))
        if not url:
            raise StageFailure("the webhook stage needs 'url'")
        method = text(ctx.get("method")).upper() or "POST"
        execution_id = tc.execution.id
        try:
            response = self.hooks.client.send(method, url, ctx.get("customHeaders"), ctx.get("payload"))
        except Refused as refusal:
            return failed(str(refusal), webhook={"error": str(refusal)})
        except Unresolved:
            problem = f"Remote host resolution failure in webhook for pipeline {execution_id} to {url}"
            return self.retry(tc, problem, webhook={"error": f"{problem}, will retry."})
        except RequestFailed as failure:
            if failure.timeout and method == "GET":
                problem = f"Socket timeout in webhook on GET request for pipeline {execution_id} to {url}"
                return self.retry(tc, problem, webhook={"error": f"{problem}, will retry."})
            problem = f"An exception occurred for pipeline {execution_id} performing a request to {url}. {failure}"
            return failed(problem, webhook={"error": problem})
        output = response_output(response)
        if response.status >= 400:
            return self.failure_status(tc, ctx, url, response.status, output)
        if not 200 <= response.status < 400:
            output["error"] = "The webhook request failed"
            return failed(f"The webhook request to {url} failed with status code {response.status}", webhook=output)
        context: dict[str, Any] = {"webhook": output}
        if truthy(ctx.get("waitForCompletion")):
            unresolved = self.resolve_status_url(ctx, url, response, output)
            if unresolved:
                output["error"] = unresolved
                return failed(unresolved, webhook=output)
            context["statusEndpoint"] = output["statusEndpoint"]
        outputs: dict[str, Any] = {}
        if ctx.get("expectedArtifacts"):
            artifacts = produced_artifacts(response.body)
            if artifacts is None:
                output["error"] = "Expected artifacts in webhook response couldn't be parsed: no 'artifacts' list"
                return failed(output["error"], webhook=output)
            outputs["artifacts"] = artifacts
        return TaskResult(Status.SUCCEEDED, context, outputs)

    def failure_status(
        self, tc: TaskContext, ctx: Mapping[str, Any], url: str, status: int, output: dict[str, Any]
    ) -> TaskResult:
        """An error status: fail fast, retry, or fail (Orca's processReceivedFailureStatusCode)."""
        execution_id = tc.execution.id
        fail_fast = status_codes(ctx["failFastStatusCodes"]) if ctx.get("failFastStatusCodes") is not None else None
        retryable = self.hooks.settings.default_retry_status_codes | status_codes(ctx.get("webhookRetryStatusCodes"))
        if status in (DEFAULT_FAIL_FAST if fail_fast is None else fail_fast):
            output["error"] = (
                f"Received status code {status}, which is configured to fail fast, terminating stage for "
                f"pipeline {execution_id} to {url}"
            )
            return failed(output["error"], webhook=output)
        error = f"Error submitting webhook for pipeline {execution_id} to {url} with status code {status}"
        if status >= 500 or status in retryable:
            output["error"] = f"{error}, will retry."
            return self.retry(tc, error, webhook=output)
        output["error"] = f"{error}."
        return failed(output["error"], webhook=output)

    @staticmethod
    def resolve_status_url(ctx: Mapping[str, Any], url: str, response: Response, output: dict[str, Any]) -> str | None:
        """Work out where to poll (WebhookStatusCheckUrlRetriever); a problem, or None once it is in `output`."""
        how = text(ctx.get("statusUrlResolution")) or "getMethod"
        found: Any
        if how == "getMethod":
            found = url
        elif how == "locationHeader":
            found = response.header("Location")
        elif how == "webhookResponse":
            try:
                found = read_path(response.body, text(ctx.get("statusUrlJsonPath")) or "$")
            except (PathNotFound, BadPath) as error:
                return f"Exception while resolving status check URL: {error}"
        else:
            return f"Exception while resolving status check URL: unknown statusUrlResolution '{how}'"
        if not isinstance(found, str) or not found.strip():
            return "The status URL couldn't be resolved, but 'Wait for completion' is configured"
        status_url = same_scheme(url, urljoin(url, found.strip()))
        if "${" in status_url:  # it would be evaluated as an expression on the next poll
            return f"The status URL {status_url} holds '${{', which a URL never does; refusing to poll it"
        output["statusEndpoint"] = status_url
        return None


def same_scheme(webhook_url: str, status_url: str) -> str:
    """A status URL on the webhook's own host keeps the webhook's scheme, as Orca does."""
    called, status = urlsplit(webhook_url), urlsplit(status_url)
    if status_url == webhook_url or not status.hostname or called.hostname != status.hostname:
        return status_url
    if called.scheme.lower() == status.scheme.lower():
        return status_url
    return urlunsplit((called.scheme, *status[1:]))


def produced_artifacts(body: Any) -> list[Any] | None:
    artifacts = body.get("artifacts") if isinstance(body, Mapping) else None
    return artifacts if isinstance(artifacts, list) else None


class WaitBeforeMonitorTask(WebhookTask):
    """`waitBeforeMonitor` seconds between the call and the first status poll, counted from this task's start."""

    name = "waitBeforeMonitorWebhook"
    external = True  # keeps the response in the context out of in-transaction expression evaluation

    def run(self, tc: TaskContext) -> TaskResult:
        seconds = as_number(tc.ctx.get("waitBeforeMonitor")) or 0
        started = self.running_task_start(tc) or tc.now
        remaining = started + int(seconds * 1000) - tc.now
        return TaskResult.succeeded() if remaining <= 0 else TaskResult.running(backoff_ms=remaining)

    def on_cancel(self, tc: TaskContext) -> None:
        self.hooks.cancel_in_background(tc)


class MonitorWebhookTask(WebhookTask):
    """Poll the status endpoint until the status is final (Orca's MonitorWebhookTask)."""

    name = "monitorWebhook"
    external = True
    backoff_ms = 1000
    timeout_ms = MONITOR_TIMEOUT_MS
    timeout_overridable = True

    def dynamic_backoff_ms(self, tc: TaskContext) -> int:
        base = self.hooks.settings.monitor_backoff_ms
        started = self.running_task_start(tc)
        if started is not None and tc.now - started > SLOW_POLL_AFTER_MS:
            return max(base, SLOW_POLL_MS)
        return base

    def on_cancel(self, tc: TaskContext) -> None:
        self.hooks.cancel_in_background(tc)

    def run(self, tc: TaskContext) -> TaskResult:
        if self.first_in_stage(tc):
            self.hooks.authorize(tc)
        ctx = self.hooks.effective(tc)
        endpoint = text(ctx.get("statusEndpoint"))
        monitor_only = truthy(ctx.get("monitorOnly"))
        if not endpoint and not monitor_only:
            raise StageFailure("Missing required parameter: statusEndpoint")
        endpoint = endpoint or text(ctx.get("url"))
        if not endpoint:
            raise StageFailure("Missing required parameter. Either webhook url or statusEndpoint are required")
        webhook = dict(ctx.get("webhook") or {})
        previous = webhook.get("monitor") if isinstance(webhook.get("monitor"), Mapping) else {}
        past = [int(c) for c in (previous or {}).get("pastStatusCodes") or [] if isinstance(c, int)]
        monitor: dict[str, Any] = {"pastStatusCodes": past} if past else {}
        webhook["monitor"] = monitor
        try:
            response = self.hooks.client.send("GET", endpoint, ctx.get("customHeaders"))
        except Refused as error:
            monitor["error"] = str(error)
            return failed(str(error), webhook=webhook)
        except Unresolved:
            return self.retry(tc, f"name resolution failure in webhook monitor to {endpoint}", webhook=webhook)
        except RequestFailed as failure:
            if failure.timeout:
                return self.retry(tc, f"Socket timeout when polling {endpoint}", webhook=webhook)
            monitor["error"] = f"an exception occurred in webhook monitor to {endpoint}: {failure}"
            return failed(monitor["error"], webhook=webhook)
        if response.status >= 400:
            return self.error_status(tc, ctx, endpoint, response, webhook, monitor, past)
        monitor.update(response_output(response))
        return self.judge(tc, ctx, endpoint, response, webhook, monitor)

    def error_status(
        self,
        tc: TaskContext,
        ctx: Mapping[str, Any],
        endpoint: str,
        response: Response,
        webhook: dict[str, Any],
        monitor: dict[str, Any],
        past: list[int],
    ) -> TaskResult:
        code = response.status
        if self.should_retry(code, ctx, past):
            monitor["pastStatusCodes"] = [*past, code]
            error = f"Failed to get webhook status from {endpoint} with status code {code}"
            return self.retry(tc, error, webhook=webhook)
        monitor["error"] = f"an exception occurred in webhook monitor to {endpoint}: status code {code}"
        if response.headers:
            monitor["headers"] = response.headers
        return failed(monitor["error"], webhook=webhook)

    def should_retry(self, code: int, ctx: Mapping[str, Any], past: list[int]) -> bool:
        """A `retries[code].maxAttempts` limit decides alone; otherwise 5xx and the retry codes are retried."""
        retries = ctx.get("retries")
        if isinstance(retries, Mapping):
            limit = next((v for k, v in retries.items() if str(k).strip() == str(code)), None)
            if isinstance(limit, Mapping):
                attempts = as_number(limit.get("maxAttempts")) or 0
                return past.count(code) < attempts
        retryable = self.hooks.settings.default_retry_status_codes | status_codes(ctx.get("retryStatusCodes"))
        return code >= 500 or code in retryable

    def judge(
        self,
        tc: TaskContext,
        ctx: Mapping[str, Any],
        endpoint: str,
        response: Response,
        webhook: dict[str, Any],
        monitor: dict[str, Any],
    ) -> TaskResult:
        """The stage's status from the response (`statusJsonPath`, `progressJsonPath`, the status lists)."""
        status_path = text(ctx.get("statusJsonPath"))
        if not status_path:
            return self.succeeded(ctx, response, webhook)
        try:
            value = read_path(response.body, status_path)
        except (PathNotFound, BadPath):
            monitor["error"] = f"Unable to parse status: JSON property '{status_path}' not found in response body"
            return failed(monitor["error"], webhook=webhook)
        if value is None or not isinstance(value, str | int | float | bool):
            monitor["error"] = f"The json path '{status_path}' did not resolve to a single value"
            monitor["resolvedValue"] = value
            return failed(monitor["error"], webhook=webhook)
        progress_path = text(ctx.get("progressJsonPath"))
        if progress_path:
            try:
                progress = read_path(response.body, progress_path)
            except (PathNotFound, BadPath):
                monitor["error"] = (
                    f"Unable to parse progress: JSON property '{progress_path}' not found in response body"
                )
                return failed(monitor["error"], webhook=webhook)
            if not isinstance(progress, str):
                monitor["error"] = f"The json path '{progress_path}' did not resolve to a String value"
                monitor["resolvedValue"] = progress
                return failed(monitor["error"], webhook=webhook)
            monitor["progressMessage"] = progress
        if isinstance(value, int | float) and not isinstance(value, bool):
            monitor["percentComplete"] = value
            if value == 100:
                return self.succeeded(ctx, response, webhook)
            return TaskResult(Status.RUNNING, {"webhook": webhook})
        status = status_map(ctx).get(str(value).upper(), Status.RUNNING)
        if status is Status.SUCCEEDED:
            return self.succeeded(ctx, response, webhook)
        if status is Status.CANCELED:
            if wants_cancel({**ctx, "webhook": webhook}):  # ctx is evaluated already
                webhook["cancellation"] = self.hooks.cancel_now(cancel_call(ctx))
            return TaskResult(Status.CANCELED, {"webhook": webhook})
        if status is Status.TERMINAL:
            return failed(f"The webhook status at {endpoint} is {value}, one of terminalStatuses", webhook=webhook)
        return TaskResult(Status.RUNNING, {"webhook": webhook})

    @staticmethod
    def succeeded(ctx: Mapping[str, Any], response: Response, webhook: dict[str, Any]) -> TaskResult:
        """Done; a final answer with an `artifacts` list also produces them when the stage expects artifacts."""
        artifacts = produced_artifacts(response.body) if ctx.get("expectedArtifacts") else None
        return TaskResult(Status.SUCCEEDED, {"webhook": webhook}, {"artifacts": artifacts} if artifacts else {})


def status_map(ctx: Mapping[str, Any]) -> dict[str, Status]:
    """Upper-cased status words to stage statuses; terminal words win over canceled, canceled over success."""
    found: dict[str, Status] = {}
    for key, status in (
        ("successStatuses", Status.SUCCEEDED),
        ("canceledStatuses", Status.CANCELED),
        ("terminalStatuses", Status.TERMINAL),
    ):
        for word in text(ctx.get(key)).split(","):
            if word.strip():
                found[word.strip().upper()] = status
    return found


class CancelWebhookTask(WebhookTask):
    """The task of the synthetic stage a failed webhook stage adds: call its cancel endpoint (best effort, so
    this always succeeds; what happened is in this stage's `webhook`)."""

    name = "cancelWebhook"
    external = True

    def run(self, tc: TaskContext) -> TaskResult:
        parent = tc.execution.stage(tc.stage.parent_stage_id or "")
        if parent is None:
            return TaskResult.succeeded()
        request = self.hooks.cancel_request(tc.execution, parent, tc.services)
        if request is None:
            return TaskResult.succeeded()
        return TaskResult.succeeded(context={"webhook": self.hooks.cancel_now(request)})
