"""Local servers for the notification tests and benchmark: SMTP (aiosmtpd) and HTTP, on 127.0.0.1 only."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailHandler:
    """Keeps every accepted message; refuses the first `refuse_first` (or all, with `refuse_always`)."""

    def __init__(self, refuse_first: int = 0, refuse_always: bool = False, code: str = "451 4.3.0 try later"):
        self.refuse_first = refuse_first
        self.refuse_always = refuse_always
        self.code = code
        self.attempts = 0
        self.messages: list[tuple[Envelope, Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.attempts += 1
            if self.refuse_always or self.attempts <= self.refuse_first:
                return self.code
            raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
            self.messages.append((envelope, message_from_bytes(raw, policy=policy.default)))
        return "250 OK"


class SmtpServer:
    def __init__(self, handler: MailHandler):
        self.handler = handler
        self.port = free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()


class HttpSink:
    """Records every POST (path, headers, JSON body); answers `{"ok": true}` or `status` when set."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200
        self.answer: Any = {"ok": True}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.requests.append((self.path, dict(self.headers.items()), json.loads(body or b"null")))
                data = json.dumps(sink.answer).encode()
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpSink:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def body_of(message: Message) -> str:
    """The text/plain part of a message."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    return ""
