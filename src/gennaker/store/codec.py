"""JSON encoding for stored documents: compact, and tolerant of values the standard encoder refuses."""

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def loads(text: str) -> Any:
    return json.loads(text)
