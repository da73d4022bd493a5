"""A build's property file (`propertyFile`) as key/values: YAML (`.yml`, `.yaml`), JSON (`.json`) or Java
properties (anything else), by the file name's suffix as Igor decides (echo-igor.md §2.4.3).

Igor turns a file it cannot parse into `{}`, which Orca then reports as "missing, empty or contained invalid
syntax". Here the problem is named instead: which line is not `key=value`, or that the file holds no mapping.
Java properties: `key=value` or `key: value` (spaces around the separator ignored), `#`/`!` comments, a
trailing backslash continues the line, and `\\t \\n \\r \\f \\uXXXX` escapes. Values stay strings.
"""

from __future__ import annotations

import json
from typing import Any

import yaml


class PropertyFileError(ValueError):
    """The file is empty or not key/values; the message says where."""


def parse_property_file(name: str, content: bytes) -> dict[str, Any]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("latin-1")  # Java's historical encoding of .properties files
    if not text.strip():
        raise PropertyFileError(f"{name} is empty")
    lowered = name.lower()
    if lowered.endswith((".yml", ".yaml")):
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PropertyFileError(f"{name} is not valid YAML: {exc}") from None
        return _mapping(name, loaded, "YAML")
    if lowered.endswith(".json"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise PropertyFileError(f"{name} is not valid JSON: {exc}") from None
        return _mapping(name, loaded, "JSON")
    return parse_java_properties(name, text)


def parse_java_properties(name: str, text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in _logical_lines(text):
        stripped = line.lstrip()
        if not stripped or stripped[0] in "#!":
            continue
        index = _separator(stripped)
        if index is None:
            raise PropertyFileError(f"line {number} of {name} is not key=value: {stripped[:80]!r}")
        key = _unescape(stripped[:index].rstrip())
        if not key:
            raise PropertyFileError(f"line {number} of {name} has no key before {stripped[index]!r}")
        found[key] = _unescape(stripped[index + 1 :].lstrip())
    if not found:
        raise PropertyFileError(f"{name} holds no key=value lines")
    return found


def _mapping(name: str, loaded: Any, kind: str) -> dict[str, Any]:
    if not isinstance(loaded, dict) or not loaded:
        raise PropertyFileError(f"{name} must hold a non-empty {kind} mapping of keys to values")
    return {str(k): v for k, v in loaded.items()}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, joined line): a line ending in an odd number of backslashes continues."""
    lines: list[tuple[int, str]] = []
    pending: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        part = raw if pending is None else raw.lstrip()
        if pending is None:
            start = number
            if part.lstrip()[:1] in ("#", "!"):
                lines.append((number, part))
                continue
        trailing = len(part) - len(part.rstrip("\\"))
        if trailing % 2 == 1:
            pending = (pending or "") + part[:-1]
            continue
        lines.append((start, (pending or "") + part))
        pending = None
    if pending is not None:
        lines.append((start, pending))
    return lines


def _separator(line: str) -> int | None:
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "=:":
            return index
    return None


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(value: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char != "\\" or index + 1 >= len(value):
            out.append(char)
            index += 1
            continue
        following = value[index + 1]
        if following == "u" and len(value) >= index + 6:
            try:
                out.append(chr(int(value[index + 2 : index + 6], 16)))
                index += 6
                continue
            except ValueError:
                pass
        out.append(_ESCAPES.get(following, following))
        index += 2
    return "".join(out)
