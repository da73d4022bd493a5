"""A limit on request bodies, enforced before a route reads them.

Without it one request can make the server hold, parse and store any amount of data (a 50 MB description
was saved and then copied into every pipeline version). A declared `Content-Length` over the limit is
refused at once; a chunked body is counted as it arrives and reading it fails when it passes the limit,
which the error handlers answer with the same 413.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gennaker.api.errors import error_body

DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024


def max_request_bytes(config: dict[str, object]) -> int:
    """`server.maxRequestBytes` from the configuration file, checked."""
    server = config.get("server") or {}
    value = server.get("maxRequestBytes", DEFAULT_MAX_REQUEST_BYTES) if isinstance(server, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
        raise ValueError("GENNAKER_CONFIG: server.maxRequestBytes must be a whole number of bytes, at least 1024")
    return value


class BodyTooLarge(HTTPException):
    def __init__(self, max_bytes: int):
        super().__init__(413, f"the request body is larger than {max_bytes} bytes (server.maxRequestBytes)")


class RequestBodyLimit:
    """ASGI middleware: bodies over `max_bytes` get 413 with a message."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = error_body(413, str(BodyTooLarge(self.max_bytes).detail))
        encoded = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(encoded)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})
