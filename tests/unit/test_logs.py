"""Quiet, useful logs: one line per request served with method, path, status, duration and a request id;
HTTP clients held to WARNING; text or JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from gennaker import logs
from tests.api_support import as_user


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured as `up` configures it, writing JSON into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in logs.QUIET_LIBRARIES})
    logs.configure("json")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:], level, quiet = saved
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_is_one_line_with_its_id(api: TestClient, captured: io.StringIO) -> None:
    api.get("/applications", headers=as_user("dev"))
    answer = api.get("/applications?token=secret", headers={**as_user("dev"), "X-Request-Id": "abc-123"})
    assert answer.headers["x-request-id"] == "abc-123"
    requests = [line for line in lines(captured) if line["logger"] == "gennaker.http"]
    assert len(requests) == 2
    first, second = requests
    assert (second["method"], second["path"], second["status"], second["request_id"]) == (
        "GET",
        "/applications",
        200,
        "abc-123",
    )
    assert isinstance(second["duration_ms"], float) and len(str(first["request_id"])) == 16
    assert "secret" not in captured.getvalue()


def test_an_unusable_request_id_is_replaced(api: TestClient, captured: io.StringIO) -> None:
    answer = api.get("/health", headers={"X-Request-Id": "x" * 65})
    assert answer.headers["x-request-id"] != "x" * 65 and len(answer.headers["x-request-id"]) == 16


def test_http_clients_log_nothing_at_info(captured: io.StringIO) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=transport) as client:
        client.get("http://127.0.0.1/watch")
    assert lines(captured) == []
    logging.getLogger("gennaker.engine").warning("lease lost", extra={"execution": "e1"})
    [line] = lines(captured)
    assert (line["level"], line["message"], line["execution"]) == ("WARNING", "lease lost", "e1")


def test_text_lines_and_a_refused_format() -> None:
    formatter = logging.Formatter(logs.TEXT_FORMAT)
    record = logging.LogRecord("gennaker", logging.INFO, "", 0, "started %s", ("ok",), None)
    assert formatter.format(record).endswith("INFO gennaker: started ok")
    with pytest.raises(ValueError, match="--log-format must be one of text, json"):
        logs.configure("xml")
