"""Notifications end to end: a real engine writes the outbox, the outbox sends to a local SMTP server (aiosmtpd)
and a local HTTP server standing in for Slack, Teams, Google Chat and a CDEvents broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gennaker.api.app import create_app
from gennaker.model.execution import Execution, Stage
from gennaker.model.status import Status
from gennaker.notifications.config import NotificationConfigError, NotificationSettings
from gennaker.notifications.outbox import Outbox, OutboxRecorder
from gennaker.notifications.selection import MAX_ENTRIES, MAX_TEXT_CHARS
from gennaker.notifications.senders import MAX_RECIPIENTS, EmailSender
from gennaker.runtime import Runtime
from gennaker.store.notifications import NewNotification, NotificationStore
from tests.api_support import as_user, header_security
from tests.integration.notifications.servers import HttpSink, MailHandler, SmtpServer, body_of
from tests.support import execution, make_runtime, pipeline, wait_for, wait_status

BASE = "http://gennaker.example:8084"
SLACK_TOKEN = "xoxb-not-a-real-token-1234"


def config(smtp_port: int, http: str | None = None, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "baseUrl": BASE,
        "backoffSeconds": 1,
        "email": {"enabled": True, "from": "gennaker@example.com", "host": "127.0.0.1", "port": smtp_port},
        **extra,
    }
    if http is not None:
        section["slack"] = {"enabled": True, "token": SLACK_TOKEN, "baseUrl": http}
        section["microsoftteams"] = {"enabled": True}
        section["googlechat"] = {"enabled": True}
        section["cdevents"] = {"enabled": True}
    return {"notifications": section, "outbound": {"allowNetworks": ["127.0.0.0/8"]}}


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    with SmtpServer(MailHandler()) as server:
        yield server


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as running:
        yield running


def runtime_for(tmp_path: Path, cfg: dict[str, Any]) -> Runtime:
    rt = make_runtime(tmp_path, config=cfg)
    rt.start_workers(1)
    return rt


def rows(rt: Runtime, execution_id: str) -> list[dict[str, Any]]:
    with rt.db.read() as conn:
        return NotificationStore().for_execution(conn, execution_id)


def drain(outbox: Outbox, rt: Runtime, execution_id: str, count: int) -> list[dict[str, Any]]:
    """Run the outbox until the execution has `count` rows and none is pending."""

    def settled() -> list[dict[str, Any]] | None:
        outbox.deliver_due()
        found = rows(rt, execution_id)
        return found if len(found) == count and all(r["status"] != "pending" for r in found) else None

    result: list[dict[str, Any]] = wait_for(settled, what=f"{count} notifications settled")
    return result


def test_a_failing_pipeline_sends_one_email_with_the_execution_link_and_every_webhook_type(
    tmp_path: Path, mail: SmtpServer, sink: HttpSink
) -> None:
    rt = runtime_for(tmp_path, config(mail.port, sink.url))
    try:
        hook = f"{sink.url}/hooks"
        rt.save_pipeline(
            pipeline(
                "breaks",
                [{"refId": "1", "type": "testFail", "name": "Explode", "reason": "boom"}],
                notifications=[
                    {
                        "type": "email",
                        "address": "team@example.com, lead@example.com",
                        "level": "pipeline",
                        "when": ["pipeline.failed"],
                        "message": {"pipeline.failed": {"text": "Look at the logs"}},
                    },
                    {"type": "email", "address": "nobody@example.com", "when": ["pipeline.complete"]},
                    {"type": "slack", "address": "#deploys", "when": ["pipeline.failed"]},
                    {"type": "microsoftteams", "address": f"{hook}/teams", "when": ["pipeline.failed"]},
                    {"type": "googlechat", "address": f"{hook}/chat", "when": ["pipeline.failed"]},
                    {"type": "cdevents", "address": f"{hook}/cdevents", "when": ["pipeline.failed"]},
                    {"type": "sms", "address": "+15550100", "when": ["pipeline.failed"]},
                ],
            ),
            "alice",
        )
        execution_id = rt.start_pipeline("demo", "breaks", {"type": "manual", "user": "alice"}, "alice")
        assert wait_status(rt, execution_id, "TERMINAL")["status"] == "TERMINAL"
        outbox = rt.new_outbox()
        settled = drain(outbox, rt, execution_id, 5)
        assert {r["type"]: r["status"] for r in settled} == {
            "email": "sent",
            "slack": "sent",
            "microsoftteams": "sent",
            "googlechat": "sent",
            "cdevents": "sent",
        }
        link = f"{BASE}/ui/executions/{execution_id}"
        assert len(mail.handler.messages) == 1
        envelope, message = mail.handler.messages[0]
        assert sorted(envelope.rcpt_tos) == ["lead@example.com", "team@example.com"]
        assert message["Subject"] == "demo's breaks pipeline has failed"
        assert "Look at the logs" in body_of(message) and link in body_of(message)

        by_path = {path: (headers, body) for path, headers, body in sink.requests}
        slack_headers, slack = by_path["/api/chat.postMessage"]
        assert slack_headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
        assert slack["channel"] == "#deploys" and link in slack["text"]
        assert by_path["/hooks/teams"][1]["potentialAction"][0]["targets"][0]["uri"] == link
        assert link in by_path["/hooks/chat"][1]["text"]
        cloud_headers, cloud = by_path["/hooks/cdevents"]
        assert cloud_headers["Content-Type"] == "application/cloudevents+json"
        assert cloud["type"] == "dev.cdevents.pipelinerun.finished.0.1.1"
        assert cloud["data"]["subject"]["content"]["outcome"] == "failure"
        assert len(sink.requests) == 4
        # Nothing about notifications leaks into the execution.
        with rt.db.read() as conn:
            assert all(SLACK_TOKEN not in str(NotificationStore().payload(conn, r["id"])) for r in settled)
        with rt.db.read() as conn:
            assert SLACK_TOKEN not in str(rt.executions.get_json(conn, execution_id))
    finally:
        rt.close()


def test_stage_notifications_need_send_notifications(tmp_path: Path, mail: SmtpServer) -> None:
    rt = runtime_for(tmp_path, config(mail.port))
    try:
        stage_note = [{"type": "email", "address": "ops@example.com", "level": "stage", "when": ["stage.complete"]}]
        rt.save_pipeline(
            pipeline(
                "stages",
                [
                    {"refId": "1", "type": "wait", "name": "Quiet", "waitTime": 0, "notifications": stage_note},
                    {
                        "refId": "2",
                        "requisiteStageRefIds": ["1"],
                        "type": "wait",
                        "name": "Loud",
                        "waitTime": 0,
                        "sendNotifications": True,
                        "notifications": stage_note,
                    },
                ],
            ),
            "alice",
        )
        execution_id = rt.start_pipeline("demo", "stages", {"type": "manual", "user": "alice"}, "alice")
        wait_status(rt, execution_id, "SUCCEEDED")
        drain(rt.new_outbox(), rt, execution_id, 1)
        assert [m["Subject"] for _, m in mail.handler.messages] == [
            "Stage Loud for demo's stages pipeline has completed successfully"
        ]
    finally:
        rt.close()


def test_manual_judgment_notifications_link_to_the_judgment(tmp_path: Path, mail: SmtpServer) -> None:
    rt = runtime_for(tmp_path, config(mail.port))
    try:
        rt.save_pipeline(
            pipeline(
                "gated",
                [
                    {
                        "refId": "7",
                        "type": "manualJudgment",
                        "name": "Approve prod",
                        "instructions": "Check the canary first",
                        "judgmentInputs": [{"value": "ship"}],
                        "sendNotifications": True,
                        "notifications": [
                            {
                                "type": "email",
                                "address": "approvers@example.com",
                                "level": "stage",
                                "when": ["manualJudgment", "manualJudgmentContinue"],
                                "message": {"manualJudgmentContinue": {"text": "Shipping now"}},
                            }
                        ],
                    }
                ],
            ),
            "alice",
        )
        execution_id = rt.start_pipeline("demo", "gated", {"type": "manual", "user": "alice"}, "alice")
        outbox = rt.new_outbox()
        drain(outbox, rt, execution_id, 1)
        link = f"{BASE}/ui/executions/{execution_id}#stage-7"
        _, awaiting = mail.handler.messages[0]
        assert awaiting["Subject"] == "Stage Approve prod for demo's gated pipeline is awaiting manual judgment"
        assert link in body_of(awaiting) and "Check the canary first" in body_of(awaiting)

        rt.operations.judge(execution_id, "7", "continue", "ship", "bob")
        wait_status(rt, execution_id, "SUCCEEDED")
        drain(outbox, rt, execution_id, 2)
        _, judged = mail.handler.messages[1]
        assert judged["Subject"] == "Stage Approve prod for demo's gated pipeline was judged to continue by bob"
        assert "Shipping now" in body_of(judged) and "Judgment 'ship' was selected." in body_of(judged)
        assert link in body_of(judged)
        assert len(mail.handler.messages) == 2
    finally:
        rt.close()


def test_the_same_event_handled_twice_sends_once(tmp_path: Path, mail: SmtpServer) -> None:
    rt = runtime_for(tmp_path, config(mail.port))
    try:
        notes = [{"type": "email", "address": "team@example.com", "when": ["pipeline.complete"]}]
        rt.save_pipeline(pipeline("once", [{"refId": "1", "type": "wait", "waitTime": 0}], notifications=notes), "a")
        execution_id = rt.start_pipeline("demo", "once", {"type": "manual", "user": "a"}, "a")
        wait_status(rt, execution_id, "SUCCEEDED")
        hook = rt.services.on_events
        assert hook is not None
        # A redelivered ExecutionComplete: the engine hook runs again for the same event, in a new transaction.
        for _ in range(2):
            with rt.db.transaction() as conn:
                loaded = rt.executions.load(conn, execution_id)
                assert loaded is not None
                hook(conn, loaded.execution, [("ExecutionComplete", Status.SUCCEEDED, None)])
        drain(rt.new_outbox(), rt, execution_id, 1)
        assert len(mail.handler.messages) == 1
    finally:
        rt.close()


def test_an_event_whose_transaction_rolls_back_queues_nothing(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path, config=config(1))
    try:
        hook = rt.services.on_events
        assert hook is not None
        execution = Execution(id="01ROLLEDBACK", application="demo", name="p", status=Status.TERMINAL)
        execution.notifications = [{"type": "email", "address": "a@example.com", "when": ["pipeline.failed"]}]
        with pytest.raises(RuntimeError), rt.db.transaction() as conn:
            hook(conn, execution, [("ExecutionComplete", Status.TERMINAL, None)])
            assert len(NotificationStore().for_execution(conn, execution.id)) == 1
            raise RuntimeError("the engine's transaction failed")
        assert rows(rt, execution.id) == []
    finally:
        rt.close()


def add_rows(rt: Runtime, execution_id: str, count: int) -> None:
    with rt.db.transaction() as conn:
        NotificationStore().add(
            conn,
            [
                NewNotification(
                    f"{execution_id}:-:pipeline.failed:{i}:email:t@example.com",
                    execution_id,
                    "email",
                    "t@example.com",
                    {"subject": f"message {i}", "link": f"{BASE}/ui/executions/{execution_id}", "state": "failed"},
                )
                for i in range(count)
            ],
            int(time.time() * 1000),
        )


def test_a_refusing_server_is_retried_with_backoff_then_delivered(tmp_path: Path) -> None:
    with SmtpServer(MailHandler(refuse_first=2)) as server:
        rt = make_runtime(tmp_path, config=config(server.port))
        try:
            add_rows(rt, "01RETRY", 1)
            clock = [time.time()]
            outbox = Outbox(
                rt.db,
                {"email": EmailSender(NotificationSettings.from_config(config(server.port)["notifications"]).email)},
                clock=lambda: clock[0],
                settings=NotificationSettings(backoff_s=10, max_attempts=5),
            )
            assert outbox.deliver_due() == 1
            [row] = rows(rt, "01RETRY")
            assert row["status"] == "pending" and row["attempts"] == 1 and "451" in row["lastError"]
            assert row["nextAttemptAt"] >= int(clock[0] * 1000) + 10_000 - 5
            assert outbox.deliver_due() == 0  # not due yet
            clock[0] += 10
            assert outbox.deliver_due() == 1
            [row] = rows(rt, "01RETRY")
            assert row["attempts"] == 2 and row["nextAttemptAt"] >= int(clock[0] * 1000) + 20_000 - 5  # doubled
            clock[0] += 20
            outbox.deliver_due()
            [row] = rows(rt, "01RETRY")
            assert row["status"] == "sent" and row["attempts"] == 3 and row["lastError"] is None
            assert server.handler.attempts == 3 and len(server.handler.messages) == 1
        finally:
            rt.close()


def test_a_server_that_always_refuses_ends_failed_and_the_execution_is_unaffected(tmp_path: Path) -> None:
    with SmtpServer(MailHandler(refuse_always=True, code="554 5.7.1 relay denied")) as server:
        cfg = config(server.port, maxAttempts=3, backoffSeconds=0.01)
        rt = runtime_for(tmp_path, cfg)
        try:
            notes = [{"type": "email", "address": "team@example.com", "when": ["pipeline.complete"]}]
            rt.save_pipeline(
                pipeline("fine", [{"refId": "1", "type": "wait", "waitTime": 0}], notifications=notes), "a"
            )
            execution_id = rt.start_pipeline("demo", "fine", {"type": "manual", "user": "a"}, "a")
            wait_status(rt, execution_id, "SUCCEEDED")
            [row] = drain(rt.new_outbox(), rt, execution_id, 1)
            assert row["status"] == "failed" and row["attempts"] == 3
            assert f"127.0.0.1:{server.port}" in row["lastError"] and "554" in row["lastError"]
            assert wait_status(rt, execution_id, "SUCCEEDED")["status"] == "SUCCEEDED"
            with TestClient(create_app(rt, header_security())) as client:  # the failure shows on the execution
                listed = client.get(f"/pipelines/{execution_id}/notifications", headers=as_user("admin")).json()
                assert [(n["type"], n["status"]) for n in listed] == [("email", "failed")]
                page = client.get(f"/ui/executions/{execution_id}", headers=as_user("admin")).text
                assert "1 failed" in page and "relay denied" in page
        finally:
            rt.close()


def test_slack_errors_never_carry_the_token(tmp_path: Path, sink: HttpSink) -> None:
    sink.status, sink.answer = 500, {"error": f"bad token {SLACK_TOKEN}"}
    rt = make_runtime(tmp_path, config=config(1, sink.url, maxAttempts=1))
    try:
        with rt.db.transaction() as conn:
            NotificationStore().add(
                conn, [NewNotification("k", "01SLACK", "slack", "#x", {"subject": "s", "link": BASE})], 0
            )
        rt.new_outbox().deliver_due()
        [row] = rows(rt, "01SLACK")
        assert row["status"] == "failed" and "HTTP 500" in row["lastError"]
        assert SLACK_TOKEN not in row["lastError"] and "***" in row["lastError"]
    finally:
        rt.close()


def test_webhooks_to_private_addresses_are_refused_without_outbound_allowance(tmp_path: Path, sink: HttpSink) -> None:
    cfg = config(1, sink.url, maxAttempts=1)
    del cfg["outbound"]
    rt = make_runtime(tmp_path, config=cfg)
    try:
        with rt.db.transaction() as conn:
            NotificationStore().add(
                conn, [NewNotification("k", "01GUARD", "microsoftteams", f"{sink.url}/t", {"subject": "s"})], 0
            )
        rt.new_outbox().deliver_due()
        [row] = rows(rt, "01GUARD")
        assert row["status"] == "failed" and "not allowed" in row["lastError"]
        assert sink.requests == []
    finally:
        rt.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_outbox_loops_never_send_a_row_twice(
    tmp_path: Path, mail: SmtpServer, database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    rt = make_runtime(tmp_path, url, config=config(mail.port))
    try:
        add_rows(rt, "01TWO", 120)
        settings = NotificationSettings.from_config({**config(mail.port)["notifications"], "batchSize": 5})
        email = EmailSender(settings.email)
        loops = [Outbox(rt.db, {"email": email}, settings=settings) for _ in range(2)]
        sent_by: dict[str, int] = {}
        lock = threading.Lock()
        original = email.send

        def counting(notification: Any) -> None:
            original(notification)
            with lock:
                sent_by[threading.current_thread().name] = sent_by.get(threading.current_thread().name, 0) + 1

        email.send = counting  # type: ignore[method-assign]
        threads = [threading.Thread(target=lambda o=o: [o.deliver_due() for _ in range(40)], name=f"l{i}")
                   for i, o in enumerate(loops)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wait_for(lambda: all(r["status"] == "sent" for r in rows(rt, "01TWO")), what="all sent")
        subjects = [m["Subject"] for _, m in mail.handler.messages]
        assert len(subjects) == 120 and len(set(subjects)) == 120
        assert sum(sent_by.values()) == 120
    finally:
        rt.close()


def test_the_loop_thread_delivers_and_stops(tmp_path: Path, mail: SmtpServer) -> None:
    rt = make_runtime(tmp_path, config=config(mail.port, pollSeconds=0.05))
    try:
        outbox = rt.new_outbox()
        outbox.start()
        add_rows(rt, "01LOOP", 3)
        wait_for(lambda: len(mail.handler.messages) == 3, what="three messages")
        outbox.stop()
        assert all(r["status"] == "sent" for r in rows(rt, "01LOOP"))
    finally:
        rt.close()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"email": {"enabled": True}}, "notifications.email.from: required"),
        ({"email": {"enabled": True, "from": "a@b", "port": "x"}}, "notifications.email.port"),
        ({"slack": {"enabled": True}}, "notifications.slack.token"),
        ({"slack": {"enabled": True, "tokenEnv": "GENNAKER_NO_SUCH_VAR"}}, "notifications.slack.tokenEnv"),
        ({"teams": {}}, "notifications.teams: unknown key"),
        ({"baseUrl": "ftp://x"}, "notifications.baseUrl"),
        ({"maxAttempts": 0}, "notifications.maxAttempts"),
    ],
)
def test_configuration_errors_name_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(NotificationConfigError, match=message.replace(".", r"\.")):
        NotificationSettings.from_config(section, environ={})


def test_secrets_come_from_files_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("smtp-pass\n")
    settings = NotificationSettings.from_config(
        {
            "email": {"enabled": True, "from": "a@b", "username": "u", "passwordFile": str(tmp_path / "pw")},
            "slack": {"enabled": True, "tokenEnv": "SLACK_T"},
        },
        environ={"SLACK_T": "xoxb-env"},
    )
    assert settings.email.password == "smtp-pass" and settings.slack.token == "xoxb-env"
    assert "smtp-pass" not in repr(settings) and "xoxb-env" not in repr(settings)


def test_judgment_reminders_repeat_every_notify_every_ms_until_judged(tmp_path: Path, mail: SmtpServer) -> None:
    rt = runtime_for(tmp_path, config(mail.port))
    hour_ms = 3_600_000
    try:
        note = {
            "type": "email",
            "address": "approvers@example.com",
            "when": ["manualJudgment"],
            "notifyEveryMs": hour_ms,
        }
        stage = {"refId": "1", "type": "manualJudgment", "name": "Approve", "notifications": [note]}
        rt.save_pipeline(pipeline("slow-approvers", [stage]), "alice")
        execution_id = rt.start_pipeline("demo", "slow-approvers", {"type": "manual", "user": "alice"}, "alice")
        wait_for(lambda: rows(rt, execution_id), what="the judgment notification")
        now = [time.time() + 1]
        outbox = rt.new_outbox()
        outbox.clock = lambda: now[0]
        outbox.deliver_due()
        assert [r["status"] for r in rows(rt, execution_id)] == ["sent", "pending"]  # the first reminder waits
        outbox.deliver_due()
        assert len(mail.handler.messages) == 1  # not before an hour
        now[0] += hour_ms / 1000
        outbox.deliver_due()
        assert [m["Subject"] for _, m in mail.handler.messages][1].startswith("Reminder: Stage Approve")
        stage_id = execution(rt, execution_id)["stages"][0]["id"]
        rt.operations.judge(execution_id, stage_id, "continue", None, "bob")
        wait_status(rt, execution_id, "SUCCEEDED")
        now[0] += hour_ms / 1000
        outbox.deliver_due()
        assert [r["status"] for r in rows(rt, execution_id)] == ["sent", "sent", "dropped"]
        assert len(mail.handler.messages) == 2
    finally:
        rt.close()


def test_what_pipeline_authors_write_is_budgeted(tmp_path: Path, mail: SmtpServer) -> None:
    rt = make_runtime(tmp_path, config=config(mail.port, maxAttempts=1))
    try:
        hook = rt.services.on_events
        assert hook is not None
        many = " ".join(f"r{i}@example.com" for i in range(MAX_RECIPIENTS + 1))
        execution = Execution(id="01BUDGET", application="demo", name="p", status=Status.TERMINAL)
        execution.notifications = [
            {"type": "email", "address": many, "when": ["pipeline.failed"]},
            {
                "type": "email",
                "address": "a@example.com",
                "when": ["pipeline.failed"],
                "message": {"pipeline.failed": {"text": "x" * (MAX_TEXT_CHARS * 3)}},
                "customSubject": "s" * (MAX_TEXT_CHARS * 3),
            },
            {"type": "email", "address": "b" * 2000 + "@example.com", "when": ["pipeline.failed"]},
        ] + [{"type": "email", "address": f"n{i}@example.com", "when": ["pipeline.failed"]} for i in range(100)]
        with rt.db.transaction() as conn:
            hook(conn, execution, [("ExecutionComplete", Status.TERMINAL, None)])
        queued = rows(rt, execution.id)
        assert len(queued) == MAX_ENTRIES  # the long address is queued too: its key holds a hash of it
        with rt.db.read() as conn:
            payload = NotificationStore().payload(conn, queued[1]["id"])
        assert len(payload["message"]) <= MAX_TEXT_CHARS + 1 and len(payload["customSubject"]) <= MAX_TEXT_CHARS + 1
        drain(rt.new_outbox(), rt, execution.id, MAX_ENTRIES)
        first = rows(rt, execution.id)[0]
        assert first["status"] == "failed" and f"at most {MAX_RECIPIENTS}" in first["lastError"]
        assert all(not envelope.rcpt_tos[0].startswith("r") for envelope, _ in mail.handler.messages)
    finally:
        rt.close()


def test_the_engine_hook_writes_nothing_for_executions_without_notifications(tmp_path: Path) -> None:
    class Refusing(NotificationStore):
        def add(self, *_: Any, **__: Any) -> int:
            raise AssertionError("no notification was asked for")

    recorder = OutboxRecorder(NotificationSettings(), store=Refusing())
    execution = Execution(id="01QUIET", application="demo", name="p", status=Status.SUCCEEDED)
    stage = Stage(id="s1", ref_id="1", type="wait", name="w", status=Status.SUCCEEDED, context={})
    rt = make_runtime(tmp_path)
    try:
        with rt.db.transaction() as conn:
            recorder(conn, execution, [("ExecutionComplete", Status.SUCCEEDED, None)])
            recorder(conn, execution, [("StageComplete", Status.SUCCEEDED, stage)])
    finally:
        rt.close()
