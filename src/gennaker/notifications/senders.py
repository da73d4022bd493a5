"""Transports: e-mail over SMTP, Slack's chat.postMessage, Microsoft Teams and Google Chat incoming webhooks,
and CDEvents as CloudEvents posted to a broker.

A sender gets one outbox row and either returns (delivered) or raises `DeliveryError` with a message that
names the server and never carries a secret. Every HTTP request passes the outbound guard first, so a
pipeline author cannot make Gennaker post to private addresses unless `outbound` allows them.
"""

from __future__ import annotations

import html
import json
import re
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from gennaker.artifacts.fetchers import ConnectGuard
from gennaker.artifacts.fetchers.guard import FetchProblem
from gennaker.artifacts.fetchers.http_client import default_client_factory, redact_url
from gennaker.notifications.config import EmailSettings, NotificationSettings, SlackSettings
from gennaker.store.notifications import LeasedNotification

COLOURS = {"failed": "#B82525", "starting": "#2275B8", "complete": "#769D3E"}
# Long subjects stay on one line (RFC 5322 allows 998 characters) instead of being folded.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)
TEAMS_COLOURS = {"failed": "EB1A1A", "complete": "73DB69", "starting": "0076D7"}
# Budgets on what a pipeline author's address reaches: recipients (To and Cc) of one e-mail, and the bytes of
# an answer read from a webhook URL (only its start is shown, and Slack's is a small JSON document).
MAX_RECIPIENTS = 50
MAX_ANSWER_BYTES = 64 * 1024


class DeliveryError(Exception):
    """A notification could not be delivered this time; the message is stored on the row."""


class Sender(Protocol):
    def send(self, notification: LeasedNotification) -> None: ...


def body_text(payload: Mapping[str, Any]) -> str:
    """The plain text of a notification: custom body, or summary, message and the link."""
    if payload.get("customBody"):
        return str(payload["customBody"])
    parts = [str(payload.get("subject") or ""), str(payload.get("message") or "")]
    parts.append(f"To see more details, please visit:\n{payload.get('link')}")
    return "\n\n".join(p for p in parts if p)


def _title(payload: Mapping[str, Any]) -> str:
    kind = "Stage" if payload.get("stageId") else "Pipeline"
    return f"{kind} {payload.get('state')} for {str(payload.get('application') or '').upper()}"


class EmailSender:
    def __init__(self, settings: EmailSettings):
        self.settings = settings

    def send(self, notification: LeasedNotification) -> None:
        payload = notification.payload
        recipients = _split(notification.address)
        cc = _split(str(payload.get("cc") or ""))
        if len(recipients) + len(cc) > MAX_RECIPIENTS:
            raise DeliveryError(f"{len(recipients) + len(cc)} recipients; one e-mail goes to at most {MAX_RECIPIENTS}")
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = self.settings.sender
        message["To"] = ", ".join(recipients)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = str(payload.get("customSubject") or payload.get("subject") or "Gennaker notification")
        text = body_text(payload)
        message.set_content(text)
        message.add_alternative(_html(text, str(payload.get("link") or "")), subtype="html")
        server = f"{self.settings.host}:{self.settings.port}"
        try:
            with smtplib.SMTP(self.settings.host, self.settings.port, timeout=self.settings.timeout_s) as smtp:
                if self.settings.start_tls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.settings.username and self.settings.password:
                    smtp.login(self.settings.username, self.settings.password)
                refused = smtp.send_message(message, to_addrs=recipients + cc)
        except smtplib.SMTPResponseException as error:
            detail = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else ""
            raise DeliveryError(f"SMTP server {server} answered {error.smtp_code} {detail}".strip()) from None
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryError(f"SMTP server {server} refused every recipient: {sorted(error.recipients)}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryError(f"SMTP server {server}: {type(error).__name__}: {error}") from None
        if refused:
            raise DeliveryError(f"SMTP server {server} refused recipients: {sorted(refused)}")


def _split(addresses: str) -> list[str]:
    return [a for a in re.split(r"[\s,;]+", addresses) if a]


def _html(text: str, link: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p)
    anchor = f'<p><a href="{html.escape(link, quote=True)}">{html.escape(link)}</a></p>' if link else ""
    return f"<html><body>{paragraphs}{anchor}</body></html>"


class HttpSender:
    """Shared HTTP posting: guard, timeout, no redirects, errors that name the host only."""

    secret: str | None = None

    def __init__(self, guard: ConnectGuard, timeout_s: float):
        self.guard = guard
        self.timeout_s = timeout_s

    def post(self, url: str, body: Any, headers: Mapping[str, str] | None = None) -> str:
        """POST `body` as JSON; the start of the answer (up to `MAX_ANSWER_BYTES`, the rest is not read)."""
        if not url.startswith(("http://", "https://")):
            raise DeliveryError(f"{self._scrub(redact_url(url))!r} is not an http(s) URL")
        host = httpx.URL(url).host
        try:
            self.guard(url)
        except FetchProblem as problem:
            raise DeliveryError(self._scrub(str(problem)).replace("fetching", "posting to")) from None
        try:
            with (
                default_client_factory(self.timeout_s)() as client,
                client.stream("POST", url, json=body, headers=dict(headers or {})) as response,
            ):
                answer = _start_of(response).decode(response.encoding or "utf-8", errors="replace")
        except httpx.HTTPError as error:
            raise DeliveryError(f"{host}: {type(error).__name__}: {self._scrub(str(error))}") from None
        if response.status_code >= 300:
            raise DeliveryError(f"{host} answered HTTP {response.status_code}: {self._scrub(answer[:300])}")
        return answer

    def _scrub(self, text: str) -> str:
        return text.replace(self.secret, "***") if self.secret else text


def _start_of(response: httpx.Response) -> bytes:
    """The first `MAX_ANSWER_BYTES` of an answer; a longer one is left unread."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) >= MAX_ANSWER_BYTES:
            break
    return bytes(body[:MAX_ANSWER_BYTES])


class SlackSender(HttpSender):
    """`POST <baseUrl>/api/chat.postMessage` with the bot token; the address is the channel."""

    def __init__(self, settings: SlackSettings, guard: ConnectGuard, timeout_s: float):
        super().__init__(guard, timeout_s)
        self.settings = settings
        self.secret = settings.token

    def send(self, notification: LeasedNotification) -> None:
        payload = notification.payload
        text = str(payload.get("customMessage") or "") or _slack_text(payload)
        attachment = {
            "title": _title(payload),
            "text": text,
            "fallback": text,
            "color": COLOURS.get(str(payload.get("state")), "#2275B8"),
            "footer": "Gennaker",
            "mrkdwn_in": ["text"],
            "ts": int(datetime.now(UTC).timestamp()),
        }
        body = {"channel": notification.address, "text": text, "attachments": [attachment]}
        url = f"{self.settings.base_url}/api/chat.postMessage"
        text = self.post(url, body, {"Authorization": f"Bearer {self.settings.token}"})
        try:
            answer = json.loads(text)
        except ValueError:
            raise DeliveryError(f"{httpx.URL(url).host} answered with something other than JSON") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise DeliveryError(f"Slack refused the message: {error or 'no error given'}")


def _slack_text(payload: Mapping[str, Any]) -> str:
    summary = f"<{payload.get('link')}|{payload.get('subject')}>"
    message = str(payload.get("message") or "")
    return f"{summary}\n\n{message}" if message else summary


class TeamsSender(HttpSender):
    """A MessageCard posted to the incoming-webhook URL in the address."""

    def send(self, notification: LeasedNotification) -> None:
        payload = notification.payload
        facts = [
            {"name": "Application Name", "value": payload.get("application")},
            {"name": "Execution Name", "value": payload.get("pipelineName")},
        ]
        if payload.get("stageName"):
            facts.append({"name": "Stage Name", "value": payload.get("stageName")})
        if payload.get("message"):
            facts.append({"name": "Message", "value": payload.get("message")})
        facts += [
            {"name": "Status", "value": payload.get("state")},
            {"name": "Summary", "value": payload.get("subject")},
        ]
        card = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "title": "Gennaker Notification",
            "summary": payload.get("subject"),
            "themeColor": TEAMS_COLOURS.get(str(payload.get("state")), "0076D7"),
            "sections": [{"activityTitle": _title(payload), "facts": facts}],
            "potentialAction": [
                {
                    "@type": "OpenUri",
                    "name": "View Execution",
                    "targets": [{"os": "default", "uri": payload.get("link")}],
                }
            ],
        }
        self.post(notification.address, card)


class GoogleChatSender(HttpSender):
    """A text message and a card with a button to the execution, posted to the space's webhook URL."""

    def send(self, notification: LeasedNotification) -> None:
        payload = notification.payload
        link = str(payload.get("link") or "")
        text = str(payload.get("customMessage") or "") or f"<{link}|{payload.get('subject')}>"
        message = str(payload.get("message") or "")
        body = {
            "text": f"{text}\n\n{message}" if message else text,
            "cards": [
                {
                    "header": {"title": _title(payload)},
                    "sections": [
                        {
                            "widgets": [
                                {"textParagraph": {"text": html.escape(str(payload.get("subject") or ""))}},
                                {
                                    "buttons": [
                                        {
                                            "textButton": {
                                                "text": "From Gennaker",
                                                "onClick": {"openLink": {"url": link}},
                                            }
                                        }
                                    ]
                                },
                            ]
                        }
                    ],
                }
            ],
        }
        self.post(notification.address, body)


class CDEventsSender(HttpSender):
    """A CloudEvent (structured mode) posted to the broker URL in the address; its id is the row's key, so a
    broker can drop a redelivery."""

    def __init__(self, guard: ConnectGuard, timeout_s: float, source: str):
        super().__init__(guard, timeout_s)
        self.source = source

    def send(self, notification: LeasedNotification) -> None:
        payload = notification.payload
        event_type = str(payload.get("cdEventsType") or _cdevents_type(payload))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        subject_id = payload.get("stageId") or payload.get("executionId")
        event = {
            "specversion": "1.0",
            "id": notification.idempotency_key,
            "source": self.source,
            "type": event_type,
            "time": now,
            "subject": subject_id,
            "datacontenttype": "application/json",
            "data": {
                "context": {"version": "0.4.1", "id": notification.idempotency_key, "source": self.source,
                            "type": event_type, "timestamp": now},
                "subject": {
                    "id": subject_id,
                    "source": self.source,
                    "content": {
                        "pipelineName": payload.get("pipelineName"),
                        "url": payload.get("link"),
                        "outcome": _outcome(payload),
                        "errors": payload.get("message") if payload.get("state") == "failed" else None,
                    },
                },
                "customData": {"application": payload.get("application"), "when": payload.get("when")},
            },
        }  # fmt: skip
        self.post(notification.address, event, {"Content-Type": "application/cloudevents+json"})


def _cdevents_type(payload: Mapping[str, Any]) -> str:
    noun = "taskrun" if payload.get("stageId") else "pipelinerun"
    verb = "started" if payload.get("state") == "starting" else "finished"
    return f"dev.cdevents.{noun}.{verb}.0.1.1"


def _outcome(payload: Mapping[str, Any]) -> str | None:
    return {"complete": "success", "failed": "failure"}.get(str(payload.get("state")))


def senders_from_settings(settings: NotificationSettings, guard: ConnectGuard) -> dict[str, Sender]:
    """The enabled senders by notification type."""
    senders: dict[str, Sender] = {}
    timeout = settings.http_timeout_s
    if settings.email.enabled:
        senders["email"] = EmailSender(settings.email)
    if settings.slack.enabled:
        senders["slack"] = SlackSender(settings.slack, guard, timeout)
    if settings.microsoftteams:
        senders["microsoftteams"] = TeamsSender(guard, timeout)
    if settings.googlechat:
        senders["googlechat"] = GoogleChatSender(guard, timeout)
    if settings.cdevents:
        senders["cdevents"] = CDEventsSender(guard, timeout, settings.base_url)
    return senders
